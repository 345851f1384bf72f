// Traced multi-head attention (src/graph/ops/attention.ts: an in_proj node and an attention node)
// in standard ONNX ops, as torch.onnx.export writes nn.MultiheadAttention:
//   in_proj     per role r (query, key, value): x_r·W_rᵀ + b_r, W_r = rows [r·E, (r+1)·E) of
//               in_proj_weight (or q/k/v_proj_weight), b_r the same slice of in_proj_bias
//   attention   each role to heads [B, H, L, hd] (Reshape, Transpose), scores = Q·Kᵀ·(1/√hd)
//               (+ a causal mask: −∞ where key j > query i, built from Range at run time; or the
//               caller's additive f32 mask), Softmax over keys, ·V, back to the query's layout
//               ([B, T, E] batch-first, [T, B, E], or [T, E] unbatched) for out_proj.
import type { Node, Value } from '../graph/graph.js';
import type { AttentionGroup } from '../graph/ops/attention.js';
import { attr, linearOnnx, type EmitContext } from './onnxOps.js';

/** The in_proj node: one projection per role, kept by the packed value for the attention node. */
export function onnxAttentionInProj(node: Node, ctx: EmitContext): void {
  const groups = attr<readonly AttentionGroup[]>(node, 'groups');
  const E = attr<number>(node, 'embedDim');
  const nx = attr<number>(node, 'numInputs');
  const nw = attr<number>(node, 'numWeights');
  const xs = node.inputs.slice(0, nx);
  const ws = node.inputs.slice(nx, nx + nw);
  const bias = attr<boolean>(node, 'bias') ? ctx.name(node.inputs[nx + nw]) : null;
  const b = ctx.b;
  const rowsOf = (t: string, from: number, n: number) =>
    b.node('Slice', [t, b.ints([from]), b.ints([from + n]), b.ints([0])]);
  const roles: string[] = [];
  for (const g of groups) {
    const x: Value = xs[g.input];
    const w = ctx.name(ws[g.weight]);
    const first = g.weightOffset / g.inDim;
    for (let r = g.role0; r < g.role0 + g.roles; r++) {
      const wr = nw === 1 ? rowsOf(w, first + (r - g.role0) * E, E) : w;
      const br = bias ? rowsOf(bias, r * E, E) : null;
      roles[r] = linearOnnx(ctx, ctx.name(x), x.shape.length, wr, br);
    }
  }
  ctx.packed.set(node.outputs[0], roles);
}

/** The attention node: softmax(Q·Kᵀ/√hd + mask)·V per head, in the query's layout. */
export function onnxAttention(node: Node, ctx: EmitContext): void {
  const H = attr<number>(node, 'numHeads');
  const batchFirst = attr<boolean>(node, 'batchFirst');
  const batched = attr<boolean>(node, 'batched');
  const maskKind = attr<string | null>(node, 'mask');
  const [P, maskValue] = node.inputs;
  const roles = ctx.packed.get(P);
  if (!roles) return ctx.fail(`its projections come from an op other than the attention's in_proj`);
  const E = node.outputs[0].shape[node.outputs[0].shape.length - 1];
  const hd = E / H;
  const b = ctx.b;
  // Role layout → [B, H, L, hd] (toHeads), Kᵀ as [B, H, hd, L]; and back from [B, H, T, hd].
  const [toHeads, toKT, back] = !batched
    ? [
        [1, 0, 2],
        [1, 2, 0],
        [1, 0, 2],
      ]
    : batchFirst
      ? [
          [0, 2, 1, 3],
          [0, 2, 3, 1],
          [0, 2, 1, 3],
        ]
      : [
          [1, 2, 0, 3],
          [1, 2, 3, 0],
          [2, 0, 1, 3],
        ];
  const split = (t: string, perm: number[]) =>
    b.node('Transpose', [b.node('Reshape', [t, b.ints(batched ? [0, 0, H, hd] : [0, H, hd])])], {
      perm: { ints: perm },
    });
  const q = split(roles[0], toHeads);
  const kT = split(roles[1], toKT);
  const v = split(roles[2], toHeads);
  let scores = b.node('Mul', [b.node('MatMul', [q, kT]), b.float(1 / Math.sqrt(hd))]);
  if (attr<boolean>(node, 'causal')) scores = b.node('Add', [scores, causalMask(ctx, scores)]);
  if (maskKind) {
    const m = ctx.name(maskValue);
    if (maskKind === 'attnMask') scores = b.node('Add', [scores, m]);
    else if (maskKind === 'keyPadding' && batched)
      scores = b.node('Add', [scores, b.node('Unsqueeze', [m, b.ints([1, 2])])]);
    else
      ctx.fail(
        `its mask (${maskKind}) has no ONNX form here; pass one additive f32 attnMask [T, S] or ` +
          `keyPaddingMask [B, S] (−Infinity = masked), or isCausal`,
      );
  }
  const p = b.node('Softmax', [scores], { axis: { int: -1 } });
  const o = b.node('Transpose', [b.node('MatMul', [p, v])], { perm: { ints: back } });
  ctx.set(node.outputs[0], b.node('Reshape', [o, b.ints(batched ? [0, 0, -1] : [0, -1])]));
}

/** −∞ where key j > query i, 0 elsewhere: [T, S] from the scores' last two dims at run time. */
function causalMask(ctx: EmitContext, scores: string): string {
  const b = ctx.b;
  const shape = b.node('Shape', [scores]);
  const size = (axis: number) => b.node('Gather', [shape, b.ints([axis], true)], { axis: { int: 0 } });
  const range = (n: string) => b.node('Range', [b.ints([0], true), n, b.ints([1], true)]);
  const rows = b.node('Unsqueeze', [range(size(-2)), b.ints([1])]);
  const above = b.node('Greater', [range(size(-1)), rows]);
  return b.node('Where', [above, b.float(-Infinity), b.float(0)]);
}
