// Host side of shaders/attention.wgsl: fused scaled dot-product attention (forward).
import type { Gpu } from '../gpu/device.js';
import { encodeDispatches, type Dispatch } from '../gpu/dispatch.js';
import { TENSOR_USAGE } from '../gpu/flags.js';
import { ShapeError, fmtShape } from '../gpu/errors.js';
import { Tensor, expectRank } from '../tensor.js';

/** Raw arguments: buffers laid out [batch, heads, seqLen, headDim] (row-major, contiguous). */
export interface AttentionArgs {
  batch: number;
  heads: number;
  seqLenQ: number;
  seqLenK: number;
  headDim: number;
  q: GPUBuffer;
  k: GPUBuffer;
  v: GPUBuffer;
  o: GPUBuffer;
  /** [batch, heads, seqLenQ] log-sum-exp of each score row (for the backward). */
  lse: GPUBuffer;
  causal?: boolean;
  /** [batch, seqLenK] f32: 1 keep, 0 padding. */
  keyMask?: GPUBuffer;
  /** Default 1/√headDim. */
  scale?: number;
  label?: string;
}

export const ATTENTION_MAX_HEAD_DIM = 128;
const BR = 64;

/** Keys per tile: K and V tiles (2·BC·headDim floats, padded to 128) fit the workgroup storage limit. */
function keysPerTile(gpu: Gpu, maxD: number, extraBytesPerRow = 0): number {
  const bytes = gpu.limits.maxComputeWorkgroupStorageSize;
  return Math.max(1, Math.min(32, Math.floor(bytes / (2 * maxD * 4 + extraBytesPerRow))));
}

/** One dispatch. Its uniform is `transient`. */
export function attentionDispatch(gpu: Gpu, a: AttentionArgs): Dispatch {
  const label = a.label ?? 'attention';
  for (const [name, value] of Object.entries({ batch: a.batch, heads: a.heads, seqLenQ: a.seqLenQ, seqLenK: a.seqLenK, headDim: a.headDim })) {
    if (!Number.isInteger(value) || value <= 0) throw new ShapeError(`${label}: ${name} must be a positive integer, got ${value}`);
  }
  if (a.headDim > ATTENTION_MAX_HEAD_DIM) throw new ShapeError(`${label}: headDim ${a.headDim} exceeds ${ATTENTION_MAX_HEAD_DIM}`);
  const need = (name: string, b: GPUBuffer, n: number) => {
    if (b.size < n * 4) throw new ShapeError(`${label}: buffer '${name}' holds ${b.size / 4} elements, needs ${n}`);
  };
  const qn = a.batch * a.heads * a.seqLenQ * a.headDim;
  const kn = a.batch * a.heads * a.seqLenK * a.headDim;
  need('q', a.q, qn);
  need('k', a.k, kn);
  need('v', a.v, kn);
  need('o', a.o, qn);
  need('lse', a.lse, a.batch * a.heads * a.seqLenQ);
  if (a.keyMask) need('keyMask', a.keyMask, a.batch * a.seqLenK);
  const maxWg = gpu.limits.maxComputeWorkgroupsPerDimension;
  const gx = Math.ceil(a.seqLenQ / BR);
  if (gx > maxWg || a.heads > maxWg || a.batch > maxWg) throw new ShapeError(`${label}: grid ${gx}×${a.heads}×${a.batch} exceeds maxComputeWorkgroupsPerDimension (${maxWg})`);
  const maxD = a.headDim <= 64 ? 64 : ATTENTION_MAX_HEAD_DIM;
  const params = gpu.uniform('attention.wgsl', 'params', {
    seqLenQ: a.seqLenQ, seqLenK: a.seqLenK, headDim: a.headDim, heads: a.heads, scale: a.scale ?? 1 / Math.sqrt(a.headDim),
  });
  return {
    label,
    pipeline: gpu.pipeline('attention.wgsl', { BR, BC: keysPerTile(gpu, maxD), MAX_D: maxD, CAUSAL: !!a.causal, KEY_MASK: !!a.keyMask }),
    bindGroup: gpu.bindGroup('attention.wgsl', { q: a.q, k: a.k, v: a.v, o: a.o, lse: a.lse, keyMask: a.keyMask ?? gpu.dummyBuffer, params }),
    workgroups: [gx, a.heads, a.batch],
    transient: [params],
  };
}

/**
 * `softmax(Q·Kᵀ/√d + mask)·V` for q [batch, heads, seqLenQ, headDim], k and v
 * [batch, heads, seqLenK, headDim]; optional causal mask and key-padding mask [batch, seqLenK]
 * (1 keep, 0 pad). Returns the output and the log-sum-exp of every score row. One dispatch; no
 * seqLenQ × seqLenK buffer is allocated.
 */
export function scaledDotProductAttention(
  gpu: Gpu,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  opts: { causal?: boolean; keyPaddingMask?: Tensor; scale?: number } = {},
): { output: Tensor; lse: Tensor } {
  const op = 'scaledDotProductAttention';
  for (const [name, t] of [['q', q], ['k', k], ['v', v]] as const) expectRank(op, name, t, [4]);
  const [B, Hh, Tq, D] = q.shape;
  const [kb, kh, Tk, kd] = k.shape;
  if (kb !== B || kh !== Hh || kd !== D) throw new ShapeError(`${op}: argument 'k' has shape ${fmtShape(k.shape)}; expected [${B}, ${Hh}, seqLenK, ${D}] to match q ${fmtShape(q.shape)}`);
  if (v.shape.join() !== k.shape.join()) throw new ShapeError(`${op}: argument 'v' has shape ${fmtShape(v.shape)}; expected k's shape ${fmtShape(k.shape)}`);
  if (opts.keyPaddingMask && opts.keyPaddingMask.shape.join() !== [B, Tk].join()) {
    throw new ShapeError(`${op}: argument 'keyPaddingMask' has shape ${fmtShape(opts.keyPaddingMask.shape)}; expected [${B}, ${Tk}] (1 keep, 0 padding)`);
  }
  if (opts.causal && Tq > Tk) throw new ShapeError(`${op}: a causal mask needs seqLenQ ≤ seqLenK, got ${Tq} > ${Tk}`);
  const output = Tensor.empty(gpu, q.shape, 'attention.output');
  const lse = Tensor.empty(gpu, [B, Hh, Tq], 'attention.lse');
  gpu.run([attentionDispatch(gpu, { batch: B, heads: Hh, seqLenQ: Tq, seqLenK: Tk, headDim: D, q: q.buffer, k: k.buffer, v: v.buffer, o: output.buffer, lse: lse.buffer, causal: opts.causal, keyMask: opts.keyPaddingMask?.buffer, scale: opts.scale })]);
  return { output, lse };
}

/**
 * Backward of {@link scaledDotProductAttention}: dQ, dK, dV from dO, recomputing the
 * probabilities from the saved log-sum-exp (shaders/attention_backward.wgsl: PASS 0 per query
 * row → dQ and Δ, PASS 1 per key row → dK, dV). One submit, two dispatches; no Tq×Tk buffer.
 */
export function scaledDotProductAttentionBackward(
  gpu: Gpu,
  q: Tensor, k: Tensor, v: Tensor, output: Tensor, lse: Tensor, dOutput: Tensor,
  opts: { causal?: boolean; keyPaddingMask?: Tensor; scale?: number } = {},
): { dq: Tensor; dk: Tensor; dv: Tensor } {
  const op = 'scaledDotProductAttentionBackward';
  for (const [name, t] of [['q', q], ['k', k], ['v', v], ['output', output], ['dOutput', dOutput]] as const) expectRank(op, name, t, [4]);
  const [B, Hh, Tq, D] = q.shape;
  const Tk = k.shape[2];
  if (output.shape.join() !== q.shape.join() || dOutput.shape.join() !== q.shape.join()) throw new ShapeError(`${op}: 'output' ${fmtShape(output.shape)} and 'dOutput' ${fmtShape(dOutput.shape)} must have q's shape ${fmtShape(q.shape)}`);
  if (k.shape.join() !== [B, Hh, Tk, D].join() || v.shape.join() !== k.shape.join()) throw new ShapeError(`${op}: 'k' ${fmtShape(k.shape)} and 'v' ${fmtShape(v.shape)} must be [${B}, ${Hh}, seqLenK, ${D}]`);
  if (lse.shape.join() !== [B, Hh, Tq].join()) throw new ShapeError(`${op}: 'lse' has shape ${fmtShape(lse.shape)}, expected [${B}, ${Hh}, ${Tq}]`);
  if (D > ATTENTION_MAX_HEAD_DIM) throw new ShapeError(`${op}: headDim ${D} exceeds ${ATTENTION_MAX_HEAD_DIM}`);
  const n = B * Hh * Tq;
  const qn = q.size;
  const kn = k.size;
  const grads = gpu.pool.acquire((qn + 2 * kn) * 4, TENSOR_USAGE, 'attention.grads');
  const rowStats = gpu.pool.acquire(2 * n * 4, TENSOR_USAGE, 'attention.rowStats');
  const maxD = D <= 64 ? 64 : ATTENTION_MAX_HEAD_DIM;
  const BC = keysPerTile(gpu, maxD, 8); // + LSE and Δ of each row of the tile
  const params = gpu.uniform('attention_backward.wgsl', 'params', { seqLenQ: Tq, seqLenK: Tk, headDim: D, heads: Hh, scale: opts.scale ?? 1 / Math.sqrt(D), kOffset: qn, vOffset: qn + kn, deltaOffset: n });
  const bindGroup = gpu.bindGroup('attention_backward.wgsl', { q: q.buffer, k: k.buffer, v: v.buffer, o: output.buffer, dO: dOutput.buffer, rowStats, grads, keyMask: opts.keyPaddingMask?.buffer ?? gpu.dummyBuffer, params });
  const common = { BR, BC, MAX_D: maxD, CAUSAL: !!opts.causal, KEY_MASK: !!opts.keyPaddingMask };
  const dispatches: Dispatch[] = [
    { label: 'attention.dq', pipeline: gpu.pipeline('attention_backward.wgsl', { ...common, PASS: 0 }), bindGroup, workgroups: [Math.ceil(Tq / BR), Hh, B] },
    { label: 'attention.dkdv', pipeline: gpu.pipeline('attention_backward.wgsl', { ...common, PASS: 1 }), bindGroup, workgroups: [Math.ceil(Tk / BR), Hh, B] },
  ];
  const dq = Tensor.empty(gpu, q.shape, 'attention.dq');
  const dk = Tensor.empty(gpu, k.shape, 'attention.dk');
  const dv = Tensor.empty(gpu, v.shape, 'attention.dv');
  const encoder = gpu.device.createCommandEncoder({ label: op });
  encoder.copyBufferToBuffer(lse.buffer, 0, rowStats, 0, n * 4);
  const pass = encoder.beginComputePass({ label: op });
  encodeDispatches(pass, dispatches);
  pass.end();
  encoder.copyBufferToBuffer(grads, 0, dq.buffer, 0, qn * 4);
  encoder.copyBufferToBuffer(grads, qn * 4, dk.buffer, 0, kn * 4);
  encoder.copyBufferToBuffer(grads, (qn + kn) * 4, dv.buffer, 0, kn * 4);
  gpu.submit(encoder, dispatches.length);
  for (const b of [grads, rowStats, params]) gpu.pool.release(b);
  return { dq, dk, dv };
}
