// Traced multi-head attention (src/graph/ops/attention.ts: an in_proj node and an attention node)
// in standard ONNX ops, as torch.onnx.export writes nn.MultiheadAttention:
//   in_proj     per role r (query, key, value): x_r·W_rᵀ + b_r, W_r = rows [r·E, (r+1)·E) of
//               in_proj_weight (or q/k/v_proj_weight), b_r the same slice of in_proj_bias
//   attention   each role to heads [B, H, L, hd] (Reshape, Transpose), scores = Q·Kᵀ·(1/√hd)
//               (+ a causal mask: −∞ where key j > query i, built from Range at run time; or the
//               caller's additive f32 mask), Softmax over keys, ·V, back to the query's layout
//               ([B, T, E] batch-first, [T, B, E], or [T, E] unbatched) for out_proj.
//   mask        i32 masks (nonzero = masked) as −∞ / 0 (Where), key padding [B, S] → [B, 1, 1, S],
//               per-head [B·H, T, S] → [B, H, T, S], two masks added
//   weights     the probabilities, averaged over heads (ReduceMean) or per head
// A query whose keys are all masked gets zeros in seqgpu and NaN in ONNX (as in PyTorch).
import type { Node, Value } from '../graph/graph.js';
import type { AttentionGroup } from '../graph/ops/attention.js';
import { attr, linearOnnx, reduceMean, type EmitContext } from './onnxOps.js';

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
  if (maskKind === 'keep')
    ctx.fail(`its 1 = attend / 0 = ignore key mask has no ONNX form; pass an additive keyPaddingMask`);
  if (maskKind) {
    const m = ctx.name(maskValue);
    const additive =
      maskKind === 'merged'
        ? m
        : additiveMask(ctx, m, maskValue, maskKind === 'keyPadding', maskKind === 'attnMaskPerHead', H, batched);
    scores = b.node('Add', [scores, additive]);
  }
  const p = b.node('Softmax', [scores], { axis: { int: -1 } });
  ctx.packed.set(P, [...roles.slice(0, 3), p]);
  const o = b.node('Transpose', [b.node('MatMul', [p, v])], { perm: { ints: back } });
  ctx.set(node.outputs[0], b.node('Reshape', [o, b.ints(batched ? [0, 0, -1] : [0, -1])]));
}

/**
 * A mask as an additive f32 tensor that broadcasts over the scores [B, H, T, S] ([H, T, S]
 * unbatched): an i32 mask's nonzero entries become −∞; a key padding mask [B, S] is [B, 1, 1, S]; a
 * per-head attnMask [B·H, T, S] is [B, H, T, S].
 */
function additiveMask(
  ctx: EmitContext,
  m: string,
  v: Value,
  keyPadding: boolean,
  perHead: boolean,
  H: number,
  batched: boolean,
): string {
  const b = ctx.b;
  let a = m;
  if (v.dtype === 'i32') a = b.node('Where', [b.node('Cast', [m], { to: { int: 9 } }), b.float(-Infinity), b.float(0)]);
  if (keyPadding && batched) return b.node('Unsqueeze', [a, b.ints([1, 2])]);
  if (perHead && batched) {
    const ts = b.node('Slice', [b.node('Shape', [a]), b.ints([1]), b.ints([3]), b.ints([0])]);
    return b.node('Reshape', [a, b.node('Concat', [b.ints([-1, H]), ts], { axis: { int: 0 } })]);
  }
  return a;
}

/** The attention node's mask node (i32 masks, or two masks): their sum as one additive mask. */
export function onnxAttentionMask(node: Node, ctx: EmitContext): void {
  const H = attr<number>(node, 'numHeads');
  const batched = attr<boolean>(node, 'batched');
  const parts: string[] = [];
  let i = 0;
  if (attr<boolean>(node, 'attnMask')) {
    const v = node.inputs[i++];
    parts.push(additiveMask(ctx, ctx.name(v), v, false, attr<boolean>(node, 'perHead'), H, batched));
  }
  if (attr<boolean>(node, 'keyPaddingMask')) {
    const v = node.inputs[i++];
    parts.push(additiveMask(ctx, ctx.name(v), v, true, false, H, batched));
  }
  ctx.set(node.outputs[0], parts.length === 1 ? parts[0] : ctx.b.node('Add', parts));
}

/** The attention weights (needWeights): the softmax probabilities, averaged over heads or per head. */
export function onnxAttentionWeights(node: Node, ctx: EmitContext): void {
  const p = ctx.packed.get(node.inputs[0])?.[3];
  if (!p) return ctx.fail(`its attention probabilities were not written (the attention node comes first)`);
  // Averaged: [B, T, S] from [B, H, T, S] (heads on axis 1), unbatched [T, S] from [H, T, S].
  const axis = node.outputs[0].shape.length === 3 ? 1 : 0;
  ctx.set(node.outputs[0], attr<boolean>(node, 'average') ? reduceMean(ctx, p, axis, false) : p);
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
