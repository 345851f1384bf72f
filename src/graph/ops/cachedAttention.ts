// Self-attention of one decoding step over a KV cache (inference only; batch 1):
//   P = [q | k | v]  the step's packed input projection [1, 1, 3E] (in_proj, as the training graph's)
//   kCache[p] = k, vCache[p] = v, keep[p] = 1                 (shaders/kv_cache_write.wgsl)
//   O = softmax(q·Kᵀ/√d + mask(keep)) · V  over the cache rows, per head   (shaders/attention.wgsl)
// where p is the step's position, read on the GPU. Rows not yet written have keep 0 and are masked,
// so step p attends to positions 0 … p: the causal attention of the full sequence at row p, with
// none of the prefix recomputed. Two dispatches per layer and step.
import { attentionDispatch } from '../../kernels/attention.js';
import { kvCacheWriteDispatch } from '../../kernels/kvCacheWrite.js';
import { ArgumentError, ShapeError, fmtShape } from '../../util/errors.js';
import type { Value } from '../graph.js';
import { record } from '../record.js';

/** One layer's cache as graph values living in buffers of their own (the decoder owns them). */
export interface KvCacheValues {
  /** Keys [maxLen, E]. */
  k: Value;
  /** Values [maxLen, E]. */
  v: Value;
  /** f32 [maxLen]: 1 for the positions written so far (zeroed before a new sequence). */
  keep: Value;
  /** i32 [1]: the step's position. */
  position: Value;
}

/**
 * Records the step's cache append and its attention over the cache.
 * @param packed - The step's in_proj output [1, 1, 3E] (q, k, v side by side).
 * @param cache - The layer's cache and the step's position.
 * @param numHeads - Heads (E divisible by it).
 * @param op - Names the node and its dispatches.
 * @returns O [1, 1, E], the heads side by side (feed it to out_proj).
 * @throws ShapeError for shapes that do not fit together.
 */
export function cachedSelfAttentionValue(packed: Value, cache: KvCacheValues, numHeads: number, op: string): Value {
  const threeE = packed.shape[packed.shape.length - 1];
  const E = threeE / 3;
  const [maxLen] = cache.k.shape;
  const D = E / numHeads;
  if (packed.size !== threeE || !Number.isInteger(D) || packed.dtype !== 'f32')
    throw new ShapeError(
      `${op}: the step's projection has shape ${fmtShape(packed.shape)}, expected f32 [1, 1, 3·E] with E divisible ` +
        `by ${numHeads} heads`,
    );
  if (fmtShape(cache.k.shape) !== fmtShape([maxLen, E]) || fmtShape(cache.v.shape) !== fmtShape([maxLen, E]))
    throw new ShapeError(`${op}: the caches must be [maxLen, ${E}], got ${fmtShape(cache.k.shape)}`);
  if (cache.keep.size !== maxLen || cache.position.dtype !== 'i32' || cache.position.size !== 1)
    throw new ShapeError(`${op}: keep must be [${maxLen}] and position one i32`);
  const [out] = record({
    op,
    inputs: [packed, cache.k, cache.v, cache.keep, cache.position],
    outputs: [{ shape: [1, 1, E] }, { shape: [numHeads] }],
    build: ([pv, kv, vv, keepv, posv], [ov, lse], ctx) => {
      if (keepv.offset !== 0 || lse.offset !== 0)
        throw new ArgumentError(`${op}: the key mask and the row statistics must start their buffers`);
      const view = (ref: { buffer: GPUBuffer; offset: number }, offset: number, row: number) => ({
        buffer: ref.buffer,
        offset: ref.offset + offset,
        strides: [row * maxLen, D, row] as const,
      });
      return [
        kvCacheWriteDispatch(ctx.gpu, {
          cols: E,
          maxLen,
          srcK: { buffer: pv.buffer, offset: pv.offset + E },
          srcV: { buffer: pv.buffer, offset: pv.offset + 2 * E },
          position: posv,
          kCache: kv,
          vCache: vv,
          keep: keepv,
          label: `${op}.write`,
        }),
        attentionDispatch(ctx.gpu, {
          batch: 1,
          heads: numHeads,
          seqLenQ: 1,
          seqLenK: maxLen,
          headDim: D,
          q: { buffer: pv.buffer, offset: pv.offset, strides: [threeE, D, threeE] },
          k: view(kv, 0, E),
          v: view(vv, 0, E),
          o: { buffer: ov.buffer, offset: ov.offset, strides: [E, D, E] },
          lse: lse.buffer,
          keyMask: keepv.buffer,
          label: `${op}.attention`,
        }),
      ];
    },
  });
  return out;
}
