/** Float64 reference row softmax: y[r, j] = exp(x[r, j] − max_r) / Σₖ exp(x[r, k] − max_r). */
export function softmaxRef(x: ArrayLike<number>, cols: number): Float64Array {
  const rows = x.length / cols;
  const y = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    let m = -Infinity;
    for (let j = 0; j < cols; j++) m = Math.max(m, x[r * cols + j]);
    let s = 0;
    for (let j = 0; j < cols; j++) s += Math.exp(x[r * cols + j] - m);
    for (let j = 0; j < cols; j++) y[r * cols + j] = Math.exp(x[r * cols + j] - m) / s;
  }
  return y;
}
