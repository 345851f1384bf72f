// Validation of requestGpu's options, before any platform object, adapter or device is touched.
import type { RequestGpuOptions } from './device.js';
import { ArgumentError } from './errors.js';
import { checkOptions, show } from '../util/options.js';

const FEATURES = ['timestamp-query', 'subgroups', 'shader-f16'];

/**
 * Checks `opts` with the options table (src/util/options.ts; null / undefined = defaults):
 * `limits` 'adapter' | 'default', `powerPreference` 'low-power' | 'high-performance',
 * `disableFeatures` an array of the optional features, `nodeFlags` an array of strings, `gpu` a
 * navigator.gpu-like object. Returns the options ({} for null / undefined).
 * @throws ArgumentError naming the option (an unknown one with the nearest valid name).
 */
export function checkRequestGpuOptions(opts: RequestGpuOptions | null | undefined): RequestGpuOptions {
  const o = checkOptions<RequestGpuOptions>('requestGpu', 'opts', opts, {
    limits: { type: 'enum', values: ['adapter', 'default'] },
    powerPreference: { type: 'enum', values: ['low-power', 'high-performance'] },
    disableFeatures: { type: 'array' },
    nodeFlags: { type: 'array' },
    gpu: { type: 'object' },
  });
  if (o.disableFeatures && !o.disableFeatures.every((f) => FEATURES.includes(f))) {
    throw new ArgumentError(`requestGpu: option 'disableFeatures' must be an array of ${FEATURES.map((f) => `'${f}'`).join(', ')}, got [${o.disableFeatures.map(show).join(', ')}]`);
  }
  if (o.nodeFlags && !o.nodeFlags.every((f) => typeof f === 'string')) throw new ArgumentError(`requestGpu: option 'nodeFlags' must be an array of strings, got [${o.nodeFlags.map(show).join(', ')}]`);
  if (o.gpu && typeof o.gpu.requestAdapter !== 'function') throw new ArgumentError('requestGpu: option \'gpu\' must be a navigator.gpu-like object with requestAdapter()');
  return o as RequestGpuOptions;
}
