// Host side of shaders/quantize_whh.wgsl: the f16 / int8 copy of a repacked W_hh that an
// inference plan's recurrent kernels read (recurrent_weights_f16.wgsl, recurrent_weights_int8.wgsl).
import type { Gpu } from '../gpu/device.js';
import type { Dispatch } from '../gpu/dispatch.js';
import { ArgumentError } from '../util/errors.js';
import { defineShader } from '../gpu/kernel.js';
import type { RecurrentWeights } from './cellStep.js';
import quantizeWgsl from '../../shaders/quantize_whh.wgsl?raw';

const QUANTIZE_SHADER = /*#__PURE__*/ defineShader('quantize_whh.wgsl', quantizeWgsl);

/**
 * Bytes of the copy of a repacked W_hh of `inner` rows and `cols` vec4 columns.
 * @param weights - `'f16'` (8 bytes per vec4) or `'int8'` (16 bytes of scales per column, then 4 per vec4).
 * @param inner - K, rows of the repacked matrix.
 * @param cols - Its vec4 columns.
 */
export function quantizedWhhBytes(weights: Exclude<RecurrentWeights, 'f32'>, inner: number, cols: number): number {
  return weights === 'f16' ? inner * cols * 8 : 16 * cols + 4 * inner * cols;
}

/**
 * One dispatch that writes the f16 or int8 copy `wq` of the repacked W_hh `wp` ([inner, cols] vec4).
 * Its uniform is `transient`: the caller owns it.
 * @param gpu - The device.
 * @param weights - `'f16'` or `'int8'`.
 * @param inner - K, rows of the repacked matrix.
 * @param cols - Its vec4 columns.
 * @param wp - The repacked W_hh (f32).
 * @param wq - The copy, {@link quantizedWhhBytes} bytes.
 * @param label - Names the dispatch.
 * @throws ArgumentError for `'f32'` (nothing to make).
 */
export function quantizeWhhDispatch(
  gpu: Gpu,
  weights: RecurrentWeights,
  inner: number,
  cols: number,
  wp: GPUBuffer,
  wq: GPUBuffer,
  label: string,
): Dispatch {
  if (weights === 'f32') throw new ArgumentError(`${label}: f32 weights need no quantized copy`);
  const params = gpu.uniform(QUANTIZE_SHADER, 'params', { K: inner, cols });
  return {
    label,
    pipeline: gpu.pipeline(QUANTIZE_SHADER, { MODE: weights === 'f16' ? 1 : 2 }),
    bindGroup: gpu.bindGroup(QUANTIZE_SHADER, { Wp: wp, Wq: wq, params }),
    workgroups: [Math.ceil(cols / 64), weights === 'f16' ? inner : 1, 1],
    transient: [params],
  };
}
