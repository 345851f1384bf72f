// Float64 reference of PyTorch nn.LayerNorm over the last dimension (forward and backward),
// plain loops over a row-major [rows, cols] input.

/** Input of the references: plain numbers or a typed array, row-major. */
type Values = ArrayLike<number>;

/**
 * LayerNorm forward in float64: per row, mean, biased variance var = mean((x − mean)²),
 * rstd = 1/√(var + eps), and y = (x − mean)·rstd·weight + bias.
 * @param x - Input [rows, cols], row-major.
 * @param rows - Number of rows.
 * @param cols - Elements per row (the normalized dimension).
 * @param eps - Added to the variance under the square root.
 * @param weight - Scale [cols]; absent: 1.
 * @param bias - Shift [cols]; absent: 0.
 * @returns y [rows, cols], mean [rows] and rstd [rows].
 */
export function layerNormRef(
  x: Float64Array | Float32Array | number[],
  rows: number,
  cols: number,
  eps: number,
  weight?: Values,
  bias?: Values,
): { y: Float64Array; mean: Float64Array; rstd: Float64Array } {
  const y = new Float64Array(rows * cols);
  const mean = new Float64Array(rows);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += x[r * cols + c];
    const mu = sum / cols;
    let sq = 0;
    for (let c = 0; c < cols; c++) sq += (x[r * cols + c] - mu) ** 2;
    const rs = 1 / Math.sqrt(sq / cols + eps);
    mean[r] = mu;
    rstd[r] = rs;
    for (let c = 0; c < cols; c++) {
      const xhat = (x[r * cols + c] - mu) * rs;
      y[r * cols + c] = xhat * (weight ? weight[c] : 1) + (bias ? bias[c] : 0);
    }
  }
  return { y, mean, rstd };
}

/**
 * LayerNorm backward in float64, from the forward's inputs (the statistics are recomputed).
 * With x̂ = (x − mean)·rstd and g = dy·weight (dy without weight):
 * dx = rstd·(g − mean_c(g) − x̂·mean_c(g·x̂)), dWeight[c] = Σ_r dy·x̂, dBias[c] = Σ_r dy.
 * @param x - The forward's input [rows, cols], row-major.
 * @param dy - Gradient of the loss with respect to y [rows, cols].
 * @param rows - Number of rows.
 * @param cols - Elements per row.
 * @param eps - The forward's eps.
 * @param weight - The forward's weight [cols]; absent: 1.
 * @returns dx [rows, cols], dWeight [cols] and dBias [cols].
 */
export function layerNormBackwardRef(
  x: Float64Array | Float32Array | number[],
  dy: Values,
  rows: number,
  cols: number,
  eps: number,
  weight?: Values,
): { dx: Float64Array; dWeight: Float64Array; dBias: Float64Array } {
  const { mean, rstd } = layerNormRef(x, rows, cols, eps);
  const dx = new Float64Array(rows * cols);
  const dWeight = new Float64Array(cols);
  const dBias = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    let sumG = 0;
    let sumGX = 0;
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      const xhat = (x[i] - mean[r]) * rstd[r];
      const g = dy[i] * (weight ? weight[c] : 1);
      sumG += g;
      sumGX += g * xhat;
      dWeight[c] += dy[i] * xhat;
      dBias[c] += dy[i];
    }
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      const xhat = (x[i] - mean[r]) * rstd[r];
      const g = dy[i] * (weight ? weight[c] : 1);
      dx[i] = rstd[r] * (g - sumG / cols - xhat * (sumGX / cols));
    }
  }
  return { dx, dWeight, dBias };
}
