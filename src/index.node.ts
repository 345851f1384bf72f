// The package's Node entry (package.json "exports": "node" → dist/index.js): the whole API of
// src/index.ts, with a requestGpu that opens Dawn from the `webgpu` package (an optional peer
// dependency, imported on the first call, by its literal name so that Node-targeted bundlers see
// it) when there is no navigator.gpu.
import { openGpu, type Gpu, type RequestGpuOptions } from './gpu/device.js';
import { dawnGpu, navigatorGpu } from './gpu/platform.js';

export * from './index.js';

async function nodeGpu(opts: RequestGpuOptions): Promise<GPU> {
  return opts.gpu ?? navigatorGpu() ?? dawnGpu(() => import('webgpu'), opts.nodeFlags ?? []);
}

/**
 * Opens a WebGPU device in Node with Dawn's `webgpu` package (or `navigator.gpu` where the
 * runtime has one), with the optional features seqgpu can use when the adapter has them.
 * @param options - Where to find WebGPU, which limits and optional features to request.
 * @returns A {@link Gpu} wrapping the new device.
 * @throws GpuError saying what to install when the `webgpu` package is missing or there is no
 *   adapter.
 */
export function requestGpu(options: RequestGpuOptions = {}): Promise<Gpu> {
  return openGpu(nodeGpu, options);
}
