// Host side of shaders/attention.wgsl: fused scaled dot-product attention (forward).
import type { Gpu } from '../gpu/device.js';
import type { Dispatch } from '../gpu/dispatch.js';
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
function keysPerTile(gpu: Gpu, maxD: number): number {
  const bytes = gpu.limits.maxComputeWorkgroupStorageSize;
  return Math.max(1, Math.min(32, Math.floor(bytes / (2 * maxD * 4))));
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
