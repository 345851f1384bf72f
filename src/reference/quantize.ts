// Float64 reference of shaders/quantize_whh.wgsl: W_hh as the recurrent kernels read it with
// f16 or int8 weights, in PyTorch's layout [G·H, K] (the quantization is per W_hh row, so it does
// not depend on the kernels' repacking).
//   f16:  w → the nearest binary16 value (ties to even), as pack2x16float
//   int8: s = max_k |W[row, k]| (1 for a zero row), w → floor(0.5 + 127·clamp(w / s, −1, 1)) / 127 · s,
//         as pack4x8snorm / unpack4x8snorm
import { ArgumentError } from '../util/errors.js';

/**
 * `x` rounded to the nearest IEEE binary16 value (ties to even; ±Infinity past 65504 + half an ulp).
 * @param x - Any number.
 * @returns The binary16 value, as a number.
 */
export function roundToF16(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  // Spacing of binary16 values around a: 2^(e − 10) for normal a (e = ⌊log2 a⌋ ≥ −14), 2^−24 below.
  const e = Math.max(Math.floor(Math.log2(a)), -14);
  const ulp = 2 ** (e - 10);
  const q = a / ulp;
  let n = Math.floor(q);
  const rest = q - n;
  if (rest > 0.5 || (rest === 0.5 && n % 2 === 1)) n += 1;
  const r = n * ulp;
  return Math.sign(x) * (r > 65504 ? Infinity : r);
}

/**
 * W_hh [rows, inner] as the kernels read it with `weights` storage.
 * @param weights - `'f32'` (returned as given), `'f16'` or `'int8'`.
 * @param whh - PyTorch's `weight_hh` [rows, inner], row-major.
 * @param rows - G·H.
 * @param inner - K, the row length.
 * @returns The dequantized matrix, same layout.
 * @throws ArgumentError when `whh` does not hold rows·inner values.
 */
export function quantizeWhhRef(
  weights: 'f32' | 'f16' | 'int8',
  whh: ArrayLike<number>,
  rows: number,
  inner: number,
): Float64Array {
  if (whh.length !== rows * inner)
    throw new ArgumentError(`quantizeWhhRef: expected ${rows}×${inner} values, got ${whh.length}`);
  const out = Float64Array.from(whh);
  if (weights === 'f16') return out.map(roundToF16);
  if (weights !== 'int8') return out;
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let k = 0; k < inner; k++) s = Math.max(s, Math.abs(out[r * inner + k]));
    if (s === 0) s = 1;
    s = Math.fround(s);
    for (let k = 0; k < inner; k++) {
      const v = Math.min(1, Math.max(-1, Math.fround(out[r * inner + k] / s)));
      out[r * inner + k] = (Math.floor(0.5 + 127 * v) / 127) * s;
    }
  }
  return out;
}
