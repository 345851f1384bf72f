// Validation of requestGpu's options, before any platform object, adapter or device is touched.
import type { RequestGpuOptions } from './device.js';
import { ShapeError } from './errors.js';

const FEATURES = ['timestamp-query', 'subgroups', 'shader-f16'];

/**
 * Throws a ShapeError naming the option when `opts` is not a {@link RequestGpuOptions}: `limits`
 * 'adapter' | 'default', `powerPreference` 'low-power' | 'high-performance', `disableFeatures`
 * an array of the optional features, `nodeFlags` an array of strings, `gpu` an object.
 */
export function checkRequestGpuOptions(opts: RequestGpuOptions): void {
  if (opts === null || typeof opts !== 'object') throw new ShapeError(`requestGpu: options must be an object, got ${String(opts)}`);
  const { limits, powerPreference, disableFeatures, nodeFlags, gpu } = opts;
  if (limits !== undefined && limits !== 'adapter' && limits !== 'default') throw new ShapeError(`requestGpu: limits must be 'adapter' or 'default', got ${String(limits)}`);
  if (powerPreference !== undefined && powerPreference !== 'low-power' && powerPreference !== 'high-performance') {
    throw new ShapeError(`requestGpu: powerPreference must be 'low-power' or 'high-performance', got ${String(powerPreference)}`);
  }
  if (disableFeatures !== undefined && (!Array.isArray(disableFeatures) || !disableFeatures.every((f) => FEATURES.includes(f)))) {
    throw new ShapeError(`requestGpu: disableFeatures must be an array of ${FEATURES.map((f) => `'${f}'`).join(', ')}, got ${String(disableFeatures)}`);
  }
  if (nodeFlags !== undefined && (!Array.isArray(nodeFlags) || !nodeFlags.every((f) => typeof f === 'string'))) {
    throw new ShapeError(`requestGpu: nodeFlags must be an array of strings, got ${String(nodeFlags)}`);
  }
  if (gpu !== undefined && (gpu === null || typeof gpu !== 'object' || typeof gpu.requestAdapter !== 'function')) {
    throw new ShapeError(`requestGpu: gpu must be a navigator.gpu-like object with requestAdapter(), got ${String(gpu)}`);
  }
}
