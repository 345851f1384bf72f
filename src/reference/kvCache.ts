/**
 * Float64 reference of shaders/kv_cache_write.wgsl: one decoding step's key and value rows written
 * into row `position` of the caches and that key unmasked; a position outside [0, maxLen) writes
 * nothing. Returns new arrays (the inputs are not changed).
 * @param kCache - Keys [maxLen, cols].
 * @param vCache - Values [maxLen, cols].
 * @param keep - [maxLen]: 1 where a key was written.
 * @param k - The step's key row [cols].
 * @param v - The step's value row [cols].
 * @param position - The step's position.
 */
export function kvCacheWriteRef(
  kCache: ArrayLike<number>,
  vCache: ArrayLike<number>,
  keep: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  position: number,
): { kCache: Float64Array; vCache: Float64Array; keep: Float64Array } {
  const out = { kCache: Float64Array.from(kCache), vCache: Float64Array.from(vCache), keep: Float64Array.from(keep) };
  const cols = k.length;
  if (position < 0 || position >= keep.length) return out;
  for (let c = 0; c < cols; c++) {
    out.kCache[position * cols + c] = k[c];
    out.vCache[position * cols + c] = v[c];
  }
  out.keep[position] = 1;
  return out;
}
