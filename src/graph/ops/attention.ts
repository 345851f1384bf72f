// Multi-head attention on the graph (PyTorch's F.multi_head_attention_forward without bias_k/v or
// zero_attn); the output projection is the caller's Linear (out_proj). Dropout on the attention
// probabilities runs inside the fused kernels (an AttentionDropout: counter-based hash, no mask
// buffer); its counter is set per replay (the step) and it is off outside training.
//
//   in_proj    ONE node: per group of roles fed by one tensor, ONE GEMM with the rows of
//              in_proj_weight of those roles, written side by side into the packed value P —
//              self-attention (query = key = value): P = x·Wᵀ + b, [tokens, 3E], one GEMM;
//              key = value: Q [tokensQ, E] and KV [tokensK, 2E], two GEMMs; else three.
//              With separate projection weights (PyTorch's q_proj_weight [E, E], k_proj_weight
//              [E, kdim], v_proj_weight [E, vdim] when kdim or vdim ≠ E) every role is its own
//              group: three GEMMs with K = E, kdim, vdim, written side by side as well.
//   mask       ONE node when needed (shaders/attention_mask.wgsl): keyPaddingMask and attnMask
//              merged into one additive f32 mask (i32 masks: nonzero = masked, as PyTorch's bool
//              True; f32 masks are added, −∞ = masked). A lone f32 mask is read in place instead.
//   attention  ONE node: the fused kernel (shaders/attention.wgsl) reads every head of Q, K, V
//              in P through strides (no transpose, no T×S buffer) and writes O in the query's
//              layout ([T, B, E], [B, T, E] or [T, E]) plus the row statistics [2, B, H, T]
//              (log-sum-exp; the backward writes Δ into the second half).
//   weights    optional node (shaders/attention_weights.wgsl): PyTorch's attn_output_weights
//              recomputed from the log-sum-exp (forward only: no gradient flows through them).
//
// Backward: attention (2 dispatches) writes dQ, dK, dV packed as P into one value dP; in_proj's
// backward runs per group dW_rows = dP_groupᵀ·x (GEMM), db_rows = Σ_rows dP_group (column sum)
// and dx = dP_group·W_rows (GEMM; accumulated when one tensor feeds two groups), so a tensor that
// is query, key and value gets the sum of the three contributions from one GEMM.
import type { Dispatch } from '../../gpu/dispatch.js';
import { ArgumentError, ShapeError, fmtShape } from '../../util/errors.js';
import {
  ATTENTION_MAX_HEAD_DIM,
  attentionBackwardDispatches,
  attentionDispatch,
  attentionMaskDispatch,
  attentionMaskShape,
  attentionWeightsDispatch,
  type AttentionDropout,
  type AttentionMaskView,
  type AttentionView,
} from '../../kernels/attention.js';
import { columnSumDispatch } from '../../kernels/columnSum.js';
import { gemmDispatches } from '../../kernels/matmul.js';
import type { BufferRef, Value } from '../graph.js';
import { record } from '../record.js';

/** Arguments of {@link multiheadAttentionValues}. */
export interface MultiheadAttentionArgs {
  /** [T, B, E] ([B, T, E] with batchFirst, [T, E] unbatched), f32. */
  query: Value;
  /** [S, B, kdim] ([B, S, kdim], [S, kdim]), f32 (kdim = E with inProjWeight); query for self-attention. */
  key: Value;
  /** key's shape with vdim features, f32. */
  value: Value;
  /** in_proj_weight [3E, E]; null with the separate `qProjWeight`, `kProjWeight`, `vProjWeight`. */
  inProjWeight: Value | null;
  /** q_proj_weight [E, E] (PyTorch's layout when kdim or vdim ≠ embedDim); with kProjWeight and vProjWeight. */
  qProjWeight?: Value | null;
  /** k_proj_weight [E, kdim]: key has kdim features. */
  kProjWeight?: Value | null;
  /** v_proj_weight [E, vdim]: value has vdim features. */
  vProjWeight?: Value | null;
  /** in_proj_bias [3E], or null. */
  inProjBias: Value | null;
  /** Heads (E divisible by it). */
  numHeads: number;
  /** Inputs and output are [batch, seq, feature]. */
  batchFirst: boolean;
  /** [B, S] ([S] unbatched), i32 (nonzero = ignored) or f32 (added; −∞ = ignored). */
  keyPaddingMask?: Value | null;
  /** [T, S] or [B·numHeads, T, S] ([numHeads, T, S] unbatched), i32 (nonzero = masked) or f32 (added). */
  attnMask?: Value | null;
  /** Mask key j > query i. */
  isCausal?: boolean;
  /**
   * [B, S] f32, **1 = attend, 0 = ignored**: the fused kernel's own key mask, read in place (the
   * deprecated MultiHeadAttention's convention); not together with keyPaddingMask or attnMask.
   */
  keepMask?: Value | null;
  /** Also return the attention weights (with dropout: the dropped-out weights, as PyTorch). */
  needWeights?: boolean;
  /**
   * Dropout on the attention probabilities: the kernel state (its counter is set to the step
   * before each replay, and it keeps everything outside training) and a u32 salt. Default none.
   */
  dropout?: { kernel: AttentionDropout; salt?: number } | null;
  /** Weights averaged over heads (default) or per head. */
  averageAttnWeights?: boolean;
  /** Names the nodes and dispatches, e.g. `'MultiheadAttention'`. */
  op: string;
  /** The public entry point in error messages. Default `op`. */
  where?: string;
}

/** A run of consecutive roles (0 query, 1 key, 2 value) fed by one input, packed in P. */
export interface AttentionGroup {
  /** Index into the distinct inputs. */
  input: number;
  /** First role. */
  role0: number;
  /** Number of roles (row length in P: roles·E). */
  roles: number;
  /** Index of its projection weight (0: in_proj_weight or q_proj_weight; 1, 2: k_ and v_proj_weight). */
  weight: number;
  /** Element offset of its rows in that weight. */
  weightOffset: number;
  /** Features of its input (the GEMM's K: E, kdim or vdim). */
  inDim: number;
  /** Element offset of the group's rows in P. */
  offset: number;
  /** Tokens (rows). */
  rows: number;
}

const ROLE = ['query', 'key', 'value'] as const;

/**
 * Records multi-head attention before the output projection (see the file comment): returns O in
 * the query's layout (feed it to out_proj) and, with `needWeights`, the attention weights.
 * @throws ShapeError naming the argument and the expected shape.
 */
export function multiheadAttentionValues(a: MultiheadAttentionArgs): {
  output: Value;
  weights: Value | null;
  /** P: the packed projections of every group (see the file comment). */
  packed: Value;
  groups: readonly AttentionGroup[];
} {
  const { op, query, key, value, numHeads: H, batchFirst } = a;
  const where = a.where ?? op;
  const separate = [a.qProjWeight, a.kProjWeight, a.vProjWeight];
  let projW: Value[];
  let E: number;
  let kdim: number;
  let vdim: number;
  if (a.inProjWeight) {
    if (separate.some((w) => w))
      throw new ArgumentError(
        `${where}: pass inProjWeight or qProjWeight / kProjWeight / vProjWeight (kdim, vdim ≠ embedDim), not both`,
      );
    const [threeE, e] = a.inProjWeight.shape;
    E = kdim = vdim = e;
    if (a.inProjWeight.shape.length !== 2 || threeE !== 3 * E)
      throw new ShapeError(
        `${where}: in_proj_weight has shape ${fmtShape(a.inProjWeight.shape)}, expected [3·embedDim, embedDim]`,
      );
    projW = [a.inProjWeight];
  } else {
    if (!separate.every((w) => w))
      throw new ArgumentError(`${where}: give inProjWeight, or all of qProjWeight, kProjWeight and vProjWeight`);
    projW = separate as Value[];
    E = projW[0].shape[0];
    [kdim, vdim] = [projW[1].shape[1], projW[2].shape[1]];
    ['q_proj_weight', 'k_proj_weight', 'v_proj_weight'].forEach((n, r) => {
      const w = projW[r];
      if (w.shape.length !== 2 || w.shape[0] !== E || (r === 0 && w.shape[1] !== E))
        throw new ShapeError(
          `${where}: ${n} has shape ${fmtShape(w.shape)}, expected [${E}, ${['embedDim', 'kdim', 'vdim'][r]}]` +
            ` (q_proj_weight [${E}, ${E}])`,
        );
    });
  }
  const hd = E / H;
  if (!Number.isInteger(hd) || hd > ATTENTION_MAX_HEAD_DIM)
    throw new ShapeError(
      `${where}: embedDim ${E} must be divisible by numHeads ${H} with headDim ≤ ${ATTENTION_MAX_HEAD_DIM}`,
    );
  // Shapes (PyTorch's names: L target length T, S source length, N batch B).
  const batched = query.shape.length === 3;
  if (
    query.dtype !== 'f32' ||
    (query.shape.length !== 3 && query.shape.length !== 2) ||
    query.shape[query.shape.length - 1] !== E
  ) {
    const layout = batchFirst
      ? `[batch, T, ${E}] (batch, seqLen, embedDim; batchFirst)`
      : `[T, batch, ${E}] (seqLen, batch, embedDim)`;
    throw new ShapeError(
      `${where}: argument 'query' has shape ${fmtShape(query.shape)} ` +
        `(${query.dtype}), expected f32 ${layout} or unbatched [T, ${E}]`,
    );
  }
  const B = batched ? query.shape[batchFirst ? 0 : 1] : 1;
  const T = batched ? query.shape[batchFirst ? 1 : 0] : query.shape[0];
  const kvWant = (L: string, F: number) =>
    !batched ? `[${L}, ${F}]` : batchFirst ? `[${B}, ${L}, ${F}]` : `[${L}, ${B}, ${F}]`;
  if (
    key.dtype !== 'f32' ||
    key.shape.length !== query.shape.length ||
    key.shape[key.shape.length - 1] !== kdim ||
    (batched && key.shape[batchFirst ? 0 : 1] !== B)
  ) {
    throw new ShapeError(
      `${where}: argument 'key' has shape ${fmtShape(key.shape)} (${key.dtype}), ` +
        `expected f32 ${kvWant('S', kdim)} (batch of query ${fmtShape(query.shape)}, ` +
        `${kdim === E ? 'embedDim' : 'kdim'} ${kdim} features)`,
    );
  }
  const S = batched ? key.shape[batchFirst ? 1 : 0] : key.shape[0];
  const rank = key.shape.length;
  if (
    value.dtype !== 'f32' ||
    value.shape.length !== rank ||
    value.shape.some((d, i) => d !== (i === rank - 1 ? vdim : key.shape[i]))
  ) {
    throw new ShapeError(
      `${where}: argument 'value' has shape ${fmtShape(value.shape)} ` +
        `(${value.dtype}), expected f32 ${fmtShape([...key.shape.slice(0, -1), vdim])} (key's shape` +
        `${vdim === kdim ? '' : ` with vdim ${vdim} features`})`,
    );
  }
  const kpm = a.keyPaddingMask ?? null;
  const am = a.attnMask ?? null;
  if (kpm) {
    const want = batched ? [B, S] : [S];
    if (kpm.shape.length !== want.length || kpm.shape.some((d, i) => d !== want[i])) {
      throw new ShapeError(
        `${where}: argument 'keyPaddingMask' has shape ${fmtShape(kpm.shape)} ` +
          `(${kpm.dtype}), expected ${fmtShape(want)} ` +
          `(${batched ? 'batch, ' : ''}seqLenK), i32 (nonzero = ignored) or f32 (added, ` +
          `−Infinity = ignored)`,
      );
    }
  }
  let perHead = false;
  if (am) {
    const two = [T, S];
    const three = [batched ? B * H : H, T, S];
    const is = (want: number[]) => am.shape.length === want.length && am.shape.every((d, i) => d === want[i]);
    perHead = is(three);
    if (!is(two) && !perHead) {
      throw new ShapeError(
        `${where}: argument 'attnMask' has shape ${fmtShape(am.shape)} (${am.dtype}), ` +
          `expected ${fmtShape(two)} (seqLenQ, seqLenK) or ${fmtShape(three)} ` +
          `(${batched ? 'batch·numHeads' : 'numHeads'}, seqLenQ, seqLenK), i32 (nonzero = ` +
          `masked) or f32 (added, −Infinity = masked)`,
      );
    }
  }
  const keep = a.keepMask ?? null;
  if (keep) {
    if (kpm || am) throw new ArgumentError(`${where}: keepMask is used alone (not with keyPaddingMask or attnMask)`);
    if (keep.dtype !== 'f32' || keep.shape.length !== 2 || keep.shape[0] !== B || keep.shape[1] !== S)
      throw new ShapeError(
        `${where}: keyMask has shape ${fmtShape(keep.shape)} (${keep.dtype}), expected f32 [${B}, ${S}] ` +
          `(batch, seqLenK; 1 = attend, 0 = ignored)`,
      );
  }
  const dims = { batch: B, heads: H, seqLenQ: T, seqLenK: S, headDim: hd };
  // Token (b, t) of an input with L rows per batch and row length R: strides of b and t.
  const tokenStrides = (L: number, R: number): [number, number] => (batchFirst ? [L * R, R] : [R, B * R]);

  // Distinct inputs and the groups of roles they feed (with separate weights, a group per role).
  const xs: Value[] = [];
  const roleInput = [query, key, value].map((v) => {
    const i = xs.indexOf(v);
    return i >= 0 ? i : xs.push(v) - 1;
  });
  const inDims = [E, kdim, vdim];
  const groups: AttentionGroup[] = [];
  let packed = 0;
  for (let r = 0; r < 3; r++) {
    const last = groups[groups.length - 1];
    if (last && last.input === roleInput[r] && projW.length === 1) last.roles++;
    else
      groups.push({
        input: roleInput[r],
        role0: r,
        roles: 1,
        offset: 0,
        rows: xs[roleInput[r]].size / inDims[r],
        weight: projW.length === 1 ? 0 : r,
        weightOffset: projW.length === 1 ? r * E * E : 0,
        inDim: inDims[r],
      });
  }
  for (const g of groups) {
    g.offset = packed;
    packed += g.rows * g.roles * E;
  }
  const groupOf = (r: number) => groups.find((g) => r >= g.role0 && r < g.role0 + g.roles)!;
  /** The attention view of role r (0 q, 1 k, 2 v) inside P (or dP) at `base`. */
  const roleView = (base: BufferRef, r: number): AttentionView => {
    const g = groupOf(r);
    const R = g.roles * E;
    const [sB, sT] = tokenStrides(r === 0 ? T : S, R);
    return { buffer: base.buffer, offset: base.offset + g.offset + (r - g.role0) * E, strides: [sB, hd, sT] };
  };
  const outView = (base: BufferRef): AttentionView => {
    const [sB, sT] = tokenStrides(T, E);
    return { buffer: base.buffer, offset: base.offset, strides: [sB, hd, sT] };
  };

  const P = inProjection(op, xs, groups, projW, a.inProjBias, E, packed);

  // The additive mask: a lone f32 mask read in place, else built.
  let mask: Value | null = null;
  let maskStrides: [number, number, number] = [0, 0, 0];
  if (am && !kpm && am.dtype === 'f32') {
    mask = am;
    maskStrides = perHead ? [H * T * S, T * S, S] : [0, 0, S];
  } else if (kpm && !am && kpm.dtype === 'f32') {
    mask = kpm;
    maskStrides = [S, 0, 0];
  } else if (am || kpm) {
    const shapeArgs = { ...dims, attnMask: am ? { perHead } : undefined, keyPaddingMask: kpm ?? undefined };
    const { shape, strides } = attentionMaskShape(shapeArgs);
    maskStrides = strides;
    const sources = [am, kpm].filter((v): v is Value => v !== null);
    mask = record({
      op: `${op}.mask`,
      attrs: { kind: 'attentionMask', attnMask: !!am, keyPaddingMask: !!kpm, perHead, numHeads: H, batched },
      inputs: sources,
      outputs: [{ shape }],
      build: (ins, [mv], ctx) => {
        const src = (v: Value | null) =>
          v
            ? { buffer: ins[sources.indexOf(v)].buffer, offset: ins[sources.indexOf(v)].offset, dtype: v.dtype }
            : undefined;
        return [
          attentionMaskDispatch(ctx.gpu, {
            ...dims,
            attnMask: am ? { ...src(am)!, perHead } : undefined,
            keyPaddingMask: src(kpm),
            out: mv,
            label: `${op}.mask`,
          }),
        ];
      },
      backward: () => {
        throw new ArgumentError(
          `${where}: masks take no gradient; pass attnMask / keyPaddingMask that do not depend on parameters`,
        );
      },
    })[0];
  }
  if (keep) mask = keep;
  /** The mask binding of the kernels: the keep mask in place, or the additive mask's view. */
  const maskArgs = (ref: BufferRef | undefined): { keyMask?: GPUBuffer; additiveMask?: AttentionMaskView } => {
    if (!ref) return {};
    if (!keep) return { additiveMask: { buffer: ref.buffer, offset: ref.offset, strides: maskStrides } };
    if (ref.offset !== 0) throw new ArgumentError(`${where}: keyMask must start its buffer`);
    return { keyMask: ref.buffer };
  };
  const causal = !!a.isCausal;
  const drop = a.dropout ?? null;
  const dropArgs = drop ? { dropout: drop.kernel, dropoutSalt: drop.salt ?? 0 } : {};
  const hooks = drop
    ? {
        beforeReplay: (info: { step: number; training: boolean }) => {
          drop.kernel.setTraining(info.training);
          drop.kernel.setStep(info.step % 2 ** 32);
        },
      }
    : undefined;

  const attnInputs = mask ? [P, mask] : [P];
  const [O, stats] = record({
    op: `${op}.attention`,
    attrs: {
      kind: 'attention',
      numHeads: H,
      batchFirst,
      batched,
      causal,
      mask: !mask
        ? null
        : keep
          ? 'keep'
          : mask === am
            ? perHead
              ? 'attnMaskPerHead'
              : 'attnMask'
            : mask === kpm
              ? 'keyPadding'
              : 'merged',
    },
    inputs: attnInputs,
    outputs: [{ shape: query.shape }, { shape: [2, B, H, T] }],
    build: ([pv, mv], [ov, sv], ctx) => {
      if (sv.offset !== 0) throw new ArgumentError(`${where}: the row statistics must start their buffer`);
      return [
        attentionDispatch(ctx.gpu, {
          ...dims,
          q: roleView(pv, 0),
          k: roleView(pv, 1),
          v: roleView(pv, 2),
          o: outView(ov),
          lse: sv.buffer,
          causal,
          ...maskArgs(mv),
          ...dropArgs,
          label: `${op}.attention`,
        }),
      ];
    },
    hooks,
    backward: ([dO], needs, [o, st]) => {
      if (needs[1])
        throw new ArgumentError(
          `${where}: masks take no gradient; pass an attnMask / keyPaddingMask that does not depend on parameters`,
        );
      if (!dO || !needs[0]) return attnInputs.map(() => null);
      const dP = record({
        op: `${op}.attention.backward`,
        inputs: [dO, P, o, st, ...(mask ? [mask] : [])],
        outputs: [{ shape: P.shape }],
        build: ([gv, pv, ov, sv, mv], [dv], ctx) =>
          attentionBackwardDispatches(ctx.gpu, {
            ...dims,
            q: roleView(pv, 0),
            k: roleView(pv, 1),
            v: roleView(pv, 2),
            o: outView(ov),
            dO: outView(gv),
            rowStats: sv.buffer,
            dq: roleView(dv, 0),
            dk: roleView(dv, 1),
            dv: roleView(dv, 2),
            causal,
            ...maskArgs(mv),
            ...dropArgs,
            label: `${op}.attention.backward`,
          }),
      })[0];
      return mask ? [dP, null] : [dP];
    },
  });

  let weights: Value | null = null;
  if (a.needWeights) {
    const average = a.averageAttnWeights ?? true;
    const shape = average ? (batched ? [B, T, S] : [T, S]) : batched ? [B, H, T, S] : [H, T, S];
    weights = record({
      op: `${op}.weights`,
      attrs: { kind: 'attentionWeights', average },
      inputs: mask ? [P, stats, mask] : [P, stats],
      outputs: [{ shape }],
      build: ([pv, sv, mv], [wv], ctx) => [
        attentionWeightsDispatch(ctx.gpu, {
          ...dims,
          q: roleView(pv, 0),
          k: roleView(pv, 1),
          lse: sv,
          causal,
          ...maskArgs(mv),
          ...dropArgs,
          average,
          w: wv,
          label: `${op}.weights`,
        }),
      ],
      backward: () => {
        throw new ArgumentError(
          `${where}: the attention weights (needWeights) are computed without a gradient; ` +
            `a loss must not depend on them (use the output)`,
        );
      },
    })[0];
  }
  return { output: O, weights, packed: P, groups };
}

/** The in_proj node: P = the packed projections of every group (see the file comment). */
function inProjection(
  op: string,
  xs: readonly Value[],
  groups: readonly AttentionGroup[],
  Ws: readonly Value[],
  b: Value | null,
  E: number,
  packed: number,
): Value {
  const inputs = b ? [...xs, ...Ws, b] : [...xs, ...Ws];
  const nx = xs.length;
  const nw = Ws.length;
  return record({
    op: `${op}.in_proj`,
    attrs: { kind: 'attentionInProj', groups, embedDim: E, numInputs: nx, numWeights: nw, bias: !!b },
    inputs,
    outputs: [{ shape: [packed] }],
    build: (ins, [pv], ctx) => {
      const bv = b ? ins[nx + nw] : undefined;
      const out: Dispatch[] = [];
      for (const g of groups) {
        const R = g.roles * E;
        const wv = ins[nx + g.weight];
        out.push(
          ...gemmDispatches(ctx.gpu, {
            M: g.rows,
            N: R,
            K: g.inDim,
            transposeB: true,
            a: { buffer: ins[g.input].buffer, offset: ins[g.input].offset, ld: g.inDim },
            b: { buffer: wv.buffer, offset: wv.offset + g.weightOffset, ld: g.inDim },
            c: { buffer: pv.buffer, offset: pv.offset + g.offset, ld: R },
            bias: bv ? { buffer: bv.buffer, offset: bv.offset + g.role0 * E } : undefined,
            label: `${op}.in_proj.${groupName(g)}`,
          }),
        );
      }
      return out;
    },
    backward: ([dP], needs) => {
      if (!dP) return inputs.map(() => null);
      return inProjectionBackward(op, dP, xs, groups, Ws, b, E, needs);
    },
  })[0];
}

/** `query`, `key_value`, `query_key_value`, … of a group, for labels. */
function groupName(g: AttentionGroup): string {
  return ROLE.slice(g.role0, g.role0 + g.roles).join('_');
}

/** dx per input, dW and db from dP, as ONE node (see the file comment). */
function inProjectionBackward(
  op: string,
  dP: Value,
  xs: readonly Value[],
  groups: readonly AttentionGroup[],
  Ws: readonly Value[],
  b: Value | null,
  E: number,
  needs: readonly boolean[],
): (Value | null)[] {
  const nx = xs.length;
  const nw = Ws.length;
  const needX = xs.map((_, i) => needs[i]);
  const needB = !!b && needs[nx + nw];
  const outputs: Array<{ shape: readonly number[] }> = [];
  const slot: (number | null)[] = [];
  for (let i = 0; i < nx; i++) slot.push(needX[i] ? outputs.push({ shape: xs[i].shape }) - 1 : null);
  const wSlots = Ws.map((W, i) => (needs[nx + i] ? outputs.push({ shape: W.shape }) - 1 : null));
  const bSlot = needB ? outputs.push({ shape: b!.shape }) - 1 : null;
  if (outputs.length === 0) return [...xs.map(() => null), ...Ws.map(() => null), ...(b ? [null] : [])];
  const outs = record({
    op: `${op}.in_proj.backward`,
    inputs: [dP, ...xs, ...Ws],
    outputs,
    build: ([gv, ...rest], ov, ctx) => {
      const xv = rest.slice(0, nx);
      const out: Dispatch[] = [];
      const written = new Set<number>();
      for (const g of groups) {
        const R = g.roles * E;
        const wv = rest[nx + g.weight];
        const K = g.inDim;
        const dPg = { buffer: gv.buffer, offset: gv.offset + g.offset, ld: R };
        const name = `${op}.in_proj.${groupName(g)}`;
        const wSlot = wSlots[g.weight];
        if (wSlot !== null) {
          const dw = ov[wSlot];
          out.push(
            ...gemmDispatches(ctx.gpu, {
              M: R,
              N: K,
              K: g.rows,
              transposeA: true,
              a: dPg,
              b: { buffer: xv[g.input].buffer, offset: xv[g.input].offset, ld: K },
              c: { buffer: dw.buffer, offset: dw.offset + g.weightOffset, ld: K },
              label: `${name}.dW`,
            }),
          );
        }
        if (bSlot !== null) {
          const db = ov[bSlot];
          out.push(
            columnSumDispatch(ctx.gpu, {
              rows: g.rows,
              cols: R,
              x: dPg,
              y: { buffer: db.buffer, offset: db.offset + g.role0 * E },
              label: `${name}.db`,
            }),
          );
        }
        const s = slot[g.input];
        if (s !== null) {
          const dx = ov[s];
          const first = !written.has(g.input);
          written.add(g.input);
          out.push(
            ...gemmDispatches(ctx.gpu, {
              M: g.rows,
              N: K,
              K: R,
              a: dPg,
              b: { buffer: wv.buffer, offset: wv.offset + g.weightOffset, ld: K },
              c: { buffer: dx.buffer, offset: dx.offset, ld: K },
              beta: first ? undefined : 1,
              label: `${name}.dx`,
            }),
          );
        }
      }
      return out;
    },
  });
  const at = (s: number | null) => (s === null ? null : outs[s]);
  return [...slot.map(at), ...wSlots.map(at), ...(b ? [at(bSlot)] : [])];
}
