// Validation of requestGpu's options, before any platform object, adapter or device is touched.
import { ArgumentError } from '../util/errors.js';
import { checkOptions, show } from '../util/options.js';

/** Options for {@link requestGpu}. */
export interface RequestGpuOptions {
  /** A `navigator.gpu`-like object to use instead of the platform's. */
  gpu?: GPU;
  /**
   * Passed to `requestAdapter` (and again by {@link Gpu.recover}): `'high-performance'` or
   * `'low-power'`.
   */
  powerPreference?: GPUPowerPreference;
  /**
   * `'adapter'` (default) requests the adapter's own limits for the ones seqgpu uses;
   * `'default'` keeps WebGPU's default limits (what the most modest device guarantees).
   */
  limits?: 'adapter' | 'default';
  /** Optional features are requested when the adapter has them unless turned off here. */
  disableFeatures?: Array<'timestamp-query' | 'subgroups' | 'shader-f16'>;
  /** Dawn toggles for Node, passed to `webgpu`'s `create()`, e.g. `'enable-dawn-features=...'`. */
  nodeFlags?: string[];
}

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
    throw new ArgumentError(
      `requestGpu: option 'disableFeatures' must be an array ` +
        `of ${FEATURES.map((f) => `'${f}'`).join(', ')}, got ` +
        `[${o.disableFeatures.map(show).join(', ')}]`,
    );
  }
  if (o.nodeFlags && !o.nodeFlags.every((f) => typeof f === 'string'))
    throw new ArgumentError(
      `requestGpu: option 'nodeFlags' must be an array of strings, got [${o.nodeFlags.map(show).join(', ')}]`,
    );
  if (o.gpu && typeof o.gpu.requestAdapter !== 'function')
    throw new ArgumentError("requestGpu: option 'gpu' must be a navigator.gpu-like object with requestAdapter()");
  return o as RequestGpuOptions;
}
