/** Float64 references for shaders/glu.wgsl (PyTorch nn.GLU over the last dimension). */
import { sigmoidRef } from './elementwise.js';

/** y[r, j] = a[r, j]·σ(b[r, j]) for rows x[r] = [a | b] of length `cols` (even); y has cols/2 per row. */
export function gluRef(x: ArrayLike<number>, cols: number): Float64Array {
  const h = cols / 2;
  const rows = x.length / cols;
  const y = new Float64Array(rows * h);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < h; j++) y[r * h + j] = x[r * cols + j] * sigmoidRef(x[r * cols + h + j]);
  }
  return y;
}

/** Backward of {@link gluRef}: dx[r] = [dy ⊙ σ(b) | dy ⊙ a ⊙ σ(b)(1 − σ(b))], dy of cols/2 per row. */
export function gluBackwardRef(x: ArrayLike<number>, dy: ArrayLike<number>, cols: number): Float64Array {
  const h = cols / 2;
  const rows = x.length / cols;
  const dx = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < h; j++) {
      const a = x[r * cols + j];
      const s = sigmoidRef(x[r * cols + h + j]);
      const g = dy[r * h + j];
      dx[r * cols + j] = g * s;
      dx[r * cols + h + j] = g * a * s * (1 - s);
    }
  }
  return dx;
}
