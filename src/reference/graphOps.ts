/** Float64 references for shaders/strided_copy.wgsl, reduce_axis.wgsl and softmax_backward.wgsl. */

/**
 * Strided copy: for every multi-index i of `shape`, y[yOffset + Σ iₖ·yStrides[k]] =
 * alpha · x[xOffset + Σ iₖ·xStrides[k]] (+ the old y value with `accumulate`). Returns a copy of
 * `y` (as float64) with those elements written; the others keep their values.
 */
export function stridedCopyRef(
  shape: readonly number[],
  x: { data: ArrayLike<number>; offset?: number; strides: readonly number[] },
  y: { data: ArrayLike<number>; offset?: number; strides: readonly number[] },
  opts: { alpha?: number; accumulate?: boolean } = {},
): Float64Array {
  const out = Float64Array.from(y.data as ArrayLike<number>);
  const alpha = opts.alpha ?? 1;
  const n = shape.reduce((a, b) => a * b, 1);
  const idx = new Array<number>(shape.length).fill(0);
  for (let flat = 0; flat < n; flat++) {
    // Multi-index of `flat`, last dimension fastest.
    let r = flat;
    for (let k = shape.length - 1; k >= 0; k--) {
      idx[k] = r % shape[k];
      r = Math.floor(r / shape[k]);
    }
    let xi = x.offset ?? 0;
    let yi = y.offset ?? 0;
    for (let k = 0; k < shape.length; k++) {
      xi += idx[k] * x.strides[k];
      yi += idx[k] * y.strides[k];
    }
    out[yi] = alpha * x.data[xi] + (opts.accumulate ? out[yi] : 0);
  }
  return out;
}

/** y[o, i] = alpha · Σ_k x[o, k, i] over a contiguous [outer, n, inner] x; y is [outer, inner]. */
export function reduceAxisRef(x: ArrayLike<number>, outer: number, n: number, inner: number, alpha = 1): Float64Array {
  const y = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += x[(o * n + k) * inner + i];
      y[o * inner + i] = alpha * s;
    }
  }
  return y;
}

/** Row-softmax backward from its output y: dx[r, c] = y[r, c]·(dy[r, c] − Σ_c' dy[r, c']·y[r, c']). */
export function softmaxBackwardRef(y: ArrayLike<number>, dy: ArrayLike<number>, cols: number): Float64Array {
  const rows = y.length / cols;
  const dx = new Float64Array(y.length);
  for (let r = 0; r < rows; r++) {
    let dot = 0;
    for (let c = 0; c < cols; c++) dot += dy[r * cols + c] * y[r * cols + c];
    for (let c = 0; c < cols; c++) dx[r * cols + c] = y[r * cols + c] * (dy[r * cols + c] - dot);
  }
  return dx;
}
