// The package's browser entry (package.json "exports": "browser" and "default" →
// dist/index.browser.js): the whole API of src/index.ts, with a requestGpu that uses
// navigator.gpu only. Nothing here names Dawn's `webgpu` package, so Vite's dev server and
// build, webpack and esbuild resolve the package for the browser without it.
import { openGpu, type Gpu, type RequestGpuOptions } from './gpu/device.js';
import { navigatorGpu, noWebGpuError } from './gpu/platform.js';

export * from './index.js';

async function browserGpu(opts: RequestGpuOptions): Promise<GPU> {
  const gpu = opts.gpu ?? navigatorGpu();
  if (!gpu) throw noWebGpuError();
  return gpu;
}

/**
 * Opens a WebGPU device in the browser (`navigator.gpu`), with the optional features seqgpu
 * can use when the adapter has them.
 * @param options - Where to find WebGPU, which limits and optional features to request.
 * @returns A {@link Gpu} wrapping the new device.
 * @throws GpuError saying which flag to pass when there is no WebGPU (no `navigator.gpu`) or no
 *   adapter.
 */
export function requestGpu(options: RequestGpuOptions = {}): Promise<Gpu> {
  return openGpu(browserGpu, options);
}
