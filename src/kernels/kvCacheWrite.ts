// Host builder of shaders/kv_cache_write.wgsl: one decoding step's key and value rows appended to a
// KV cache at the step's position (read on the GPU), and that key unmasked.
//   kCache[p, :] = src[k part],  vCache[p, :] = src[v part],  keep[p] = 1
import type { Gpu } from '../gpu/device.js';
import type { Dispatch } from '../gpu/dispatch.js';
import { defineShader } from '../gpu/kernel.js';
import { ArgumentError, ShapeError } from '../util/errors.js';
import { checkView, type View } from './view.js';
import kvCacheWriteWgsl from '../../shaders/kv_cache_write.wgsl?raw';

const KV_CACHE_WRITE_SHADER = /*#__PURE__*/ defineShader('kv_cache_write.wgsl', kvCacheWriteWgsl);

const WG = 64;

/** Arguments of {@link kvCacheWriteDispatch}. */
export interface KvCacheWriteArgs {
  /** Features per row (keys and values alike). */
  cols: number;
  /** Rows of each cache (positions ≥ maxLen are not written). */
  maxLen: number;
  /** The step's key row (cols f32). */
  srcK: View;
  /** The step's value row (cols f32), in srcK's buffer. */
  srcV: View;
  /** One i32: the step's position. */
  position: View;
  /** Keys [maxLen, cols]. */
  kCache: View;
  /** Values [maxLen, cols]. */
  vCache: View;
  /** f32 [maxLen]: 1 where a key was written (the attention kernel's keyMask). */
  keep: View;
  /** Names the dispatch in errors and profiles. Default `'kvCacheWrite'`. */
  label?: string;
}

/**
 * Prepares the append of one step's key and value rows to a KV cache.
 * @param gpu - The device.
 * @param a - Sizes and views (see {@link KvCacheWriteArgs}).
 * @returns One dispatch; its uniform is `transient`.
 * @throws ShapeError for sizes that are not positive integers or a view too small; ArgumentError
 *   for srcV outside srcK's buffer or caches sharing a buffer with the source.
 */
export function kvCacheWriteDispatch(gpu: Gpu, a: KvCacheWriteArgs): Dispatch {
  const label = a.label ?? 'kvCacheWrite';
  for (const [name, n] of [
    ['cols', a.cols],
    ['maxLen', a.maxLen],
  ] as const)
    if (!Number.isInteger(n) || n < 1) throw new ShapeError(`${label}: '${name}' must be a positive integer, got ${n}`);
  const offsetSrcK = checkView(label, 'srcK', a.srcK, a.cols);
  const offsetSrcV = checkView(label, 'srcV', a.srcV, a.cols);
  const offsetPos = checkView(label, 'position', a.position, 1);
  const offsetK = checkView(label, 'kCache', a.kCache, a.maxLen * a.cols);
  const offsetV = checkView(label, 'vCache', a.vCache, a.maxLen * a.cols);
  const offsetKeep = checkView(label, 'keep', a.keep, a.maxLen);
  if (a.srcV.buffer !== a.srcK.buffer) throw new ArgumentError(`${label}: 'srcV' must be in the buffer of 'srcK'`);
  const outs = [a.kCache.buffer, a.vCache.buffer, a.keep.buffer];
  if (new Set(outs).size !== 3 || outs.some((b) => b === a.srcK.buffer || b === a.position.buffer))
    throw new ArgumentError(`${label}: kCache, vCache and keep need buffers of their own`);
  const params = gpu.uniform(KV_CACHE_WRITE_SHADER, 'params', {
    cols: a.cols,
    maxLen: a.maxLen,
    offsetSrcK,
    offsetSrcV,
    offsetPos,
    offsetK,
    offsetV,
    offsetKeep,
  });
  return {
    label,
    pipeline: gpu.pipeline(KV_CACHE_WRITE_SHADER, { WG }),
    bindGroup: gpu.bindGroup(KV_CACHE_WRITE_SHADER, {
      src: a.srcK.buffer,
      position: a.position.buffer,
      kCache: a.kCache.buffer,
      vCache: a.vCache.buffer,
      keep: a.keep.buffer,
      params,
    }),
    workgroups: [Math.ceil(a.cols / WG), 1, 1],
    transient: [params],
  };
}
