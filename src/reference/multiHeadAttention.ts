/**
 * Float64 reference of torch.nn.MultiheadAttention(embed_dim E, num_heads H, bias=True,
 * batch_first=True), kdim = vdim = E, no dropout (the spec of src/nn/multiHeadAttention.ts).
 * Layouts are row-major: query [B, Tq, E], key and value [B, Tk, E], output [B, Tq, E];
 * parameters in PyTorch's layout: inProjWeight [3E, E] (rows W_q; W_k; W_v), inProjBias [3E],
 * outProjWeight [E, E], outProjBias [E].
 *
 *   q = query·W_qᵀ + b_q,   k = key·W_kᵀ + b_k,   v = value·W_vᵀ + b_v        [B, T, E]
 *   head h = columns h·d … h·d + d − 1 of q, k, v (d = E / H)
 *   o_h = softmax(q_h·k_hᵀ / √d + mask)·v_h        (src/reference/attention.ts)
 *   o = [o_0 … o_{H−1}] (heads side by side),   output = o·W_outᵀ + b_out
 *
 * Masks: keyMask [B, Tk] (1 keep, 0 padding: the INVERSE of PyTorch's boolean key_padding_mask,
 * where True means "ignore"); causal masks key j > query i. A query row whose keys are all masked
 * gives o = 0 here (PyTorch gives NaN).
 *
 * The backward chains nn.Linear's and attention's backwards:
 *   do = dOutput·W_out,  dW_out = dOutputᵀ·o,  db_out = Σ_rows dOutput
 *   (dq, dk, dv) = attention backward of do, per head
 *   dquery = dq·W_q,  dW_q = dqᵀ·query,  db_q = Σ_rows dq   (and so on for k, v)
 * When one tensor plays several roles (self-attention) its gradient is the sum of the roles'.
 */
import { attentionRef, attentionBackwardRef } from './attention.js';
import { linearRef, linearBackwardRef } from './linear.js';

export interface MultiHeadAttentionParams {
  inProjWeight: ArrayLike<number>;
  inProjBias: ArrayLike<number>;
  outProjWeight: ArrayLike<number>;
  outProjBias: ArrayLike<number>;
}

export interface MultiHeadAttentionDims {
  batch: number;
  seqLenQ: number;
  seqLenK: number;
  embedDim: number;
  numHeads: number;
}

export interface MultiHeadAttentionRefOptions {
  keyMask?: ArrayLike<number>;
  causal?: boolean;
}

/** Rows [start, start + count) of a row-major matrix with `cols` columns. */
function rowsOf(m: ArrayLike<number>, start: number, count: number, cols: number): Float64Array {
  return Float64Array.from({ length: count * cols }, (_, i) => m[start * cols + i]);
}

/** [B, T, H·d] → [B, H, T, d]. */
function splitHeads(x: ArrayLike<number>, B: number, T: number, H: number, d: number): Float64Array {
  const out = new Float64Array(B * H * T * d);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++)
      for (let h = 0; h < H; h++)
        for (let i = 0; i < d; i++) out[((b * H + h) * T + t) * d + i] = x[(b * T + t) * H * d + h * d + i];
  return out;
}

/** [B, H, T, d] → [B, T, H·d]. */
function mergeHeads(x: ArrayLike<number>, B: number, T: number, H: number, d: number): Float64Array {
  const out = new Float64Array(B * T * H * d);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++)
      for (let h = 0; h < H; h++)
        for (let i = 0; i < d; i++) out[(b * T + t) * H * d + h * d + i] = x[((b * H + h) * T + t) * d + i];
  return out;
}

function check(dims: MultiHeadAttentionDims, p: MultiHeadAttentionParams): { E: number; H: number; d: number } {
  const { embedDim: E, numHeads: H } = dims;
  if (E % H !== 0) throw new Error(`multiHeadAttentionRef: embedDim ${E} is not a multiple of numHeads ${H}`);
  const want = { inProjWeight: 3 * E * E, inProjBias: 3 * E, outProjWeight: E * E, outProjBias: E };
  for (const [k, n] of Object.entries(want)) {
    if (p[k as keyof MultiHeadAttentionParams].length !== n)
      throw new Error(
        `multiHeadAttentionRef: ${k} has ${p[k as keyof MultiHeadAttentionParams].length} values, expected ${n}`,
      );
  }
  return { E, H, d: E / H };
}

/** Everything the forward computes: projections, the attention output o, and the output. */
function forwardAll(
  query: ArrayLike<number>,
  key: ArrayLike<number>,
  value: ArrayLike<number>,
  p: MultiHeadAttentionParams,
  dims: MultiHeadAttentionDims,
  opts: MultiHeadAttentionRefOptions,
) {
  const { E, H, d } = check(dims, p);
  const { batch: B, seqLenQ: Tq, seqLenK: Tk } = dims;
  const lin = { inFeatures: E, outFeatures: E };
  const W = [0, 1, 2].map((r) => rowsOf(p.inProjWeight, r * E, E, E));
  const b = [0, 1, 2].map((r) => rowsOf(p.inProjBias, r * E, E, 1));
  const q = linearRef(query, W[0], b[0], lin);
  const k = linearRef(key, W[1], b[1], lin);
  const v = linearRef(value, W[2], b[2], lin);
  const heads = { batch: B, heads: H, seqLenQ: Tq, seqLenK: Tk, headDim: d };
  const qh = splitHeads(q, B, Tq, H, d);
  const kh = splitHeads(k, B, Tk, H, d);
  const vh = splitHeads(v, B, Tk, H, d);
  const attn = { causal: opts.causal, keyMask: opts.keyMask };
  const o = mergeHeads(attentionRef(qh, kh, vh, heads, attn).output, B, Tq, H, d);
  const output = linearRef(o, p.outProjWeight, p.outProjBias, lin);
  return { E, H, d, W, qh, kh, vh, o, output, heads, attn, lin };
}

/** output [B, Tq, E] of multi-head attention. */
export function multiHeadAttentionRef(
  query: ArrayLike<number>,
  key: ArrayLike<number>,
  value: ArrayLike<number>,
  params: MultiHeadAttentionParams,
  dims: MultiHeadAttentionDims,
  opts: MultiHeadAttentionRefOptions = {},
): Float64Array {
  return forwardAll(query, key, value, params, dims, opts).output;
}

export interface MultiHeadAttentionGrads {
  output: Float64Array;
  /** Gradients of each input as its own tensor (sum them when one tensor plays several roles). */
  dQuery: Float64Array;
  dKey: Float64Array;
  dValue: Float64Array;
  /** PyTorch names: in_proj_weight, in_proj_bias, out_proj.weight, out_proj.bias. */
  dInProjWeight: Float64Array;
  dInProjBias: Float64Array;
  dOutProjWeight: Float64Array;
  dOutProjBias: Float64Array;
}

/** Forward and backward for dL/doutput = dOutput [B, Tq, E]. */
export function multiHeadAttentionBackwardRef(
  query: ArrayLike<number>,
  key: ArrayLike<number>,
  value: ArrayLike<number>,
  params: MultiHeadAttentionParams,
  dOutput: ArrayLike<number>,
  dims: MultiHeadAttentionDims,
  opts: MultiHeadAttentionRefOptions = {},
): MultiHeadAttentionGrads {
  const f = forwardAll(query, key, value, params, dims, opts);
  const { E, H, d, W, lin } = f;
  const { batch: B, seqLenQ: Tq, seqLenK: Tk } = dims;
  const out = linearBackwardRef(f.o, params.outProjWeight, dOutput, lin);
  const dh = attentionBackwardRef(f.qh, f.kh, f.vh, splitHeads(out.dX, B, Tq, H, d), f.heads, f.attn);
  const dq = mergeHeads(dh.dq, B, Tq, H, d);
  const dk = mergeHeads(dh.dk, B, Tk, H, d);
  const dv = mergeHeads(dh.dv, B, Tk, H, d);
  const roles = [
    linearBackwardRef(query, W[0], dq, lin),
    linearBackwardRef(key, W[1], dk, lin),
    linearBackwardRef(value, W[2], dv, lin),
  ];
  const dInProjWeight = new Float64Array(3 * E * E);
  const dInProjBias = new Float64Array(3 * E);
  roles.forEach((g, r) => {
    dInProjWeight.set(g.dWeight, r * E * E);
    dInProjBias.set(g.dBias, r * E);
  });
  return {
    output: f.output,
    dQuery: roles[0].dX,
    dKey: roles[1].dX,
    dValue: roles[2].dX,
    dInProjWeight,
    dInProjBias,
    dOutProjWeight: out.dWeight,
    dOutProjBias: out.dBias,
  };
}
