/** Float64 reference of shaders/column_sum.wgsl: y[c] = Σ_r x[offset + r·ld + c]. */
export function columnSumRef(x: ArrayLike<number>, rows: number, cols: number, ld: number, offset = 0): Float64Array {
  const y = new Float64Array(cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) y[c] += x[offset + r * ld + c];
  return y;
}
