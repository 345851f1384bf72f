// Where requestGpu finds WebGPU. The package has one entry per platform (package.json
// "exports"): platform.browser.ts (navigator.gpu only: no reference to Dawn, so every bundler
// and Vite's dev server resolve it without the `webgpu` package) and platform.node.ts (Dawn's
// `webgpu` package, imported by its literal name). src/index.ts's own requestGpu, which the
// tests and the demo pages use from the sources, finds either at run time.
import type { RequestGpuOptions } from './requestOptions.js';
import { GpuError } from '../util/errors.js';

/** Finds the platform's `GPU` (navigator.gpu-like) object for requestGpu. */
export type PlatformGpu = (opts: RequestGpuOptions) => Promise<GPU>;

/** What seqgpu uses of Dawn's `webgpu` package. */
export interface WebgpuModule {
  /** Dawn's `GPU` object, with Dawn toggles. */
  create(flags: string[]): GPU;
  /** WebGPU's classes and constants (GPUBufferUsage, GPUMapMode, …) as a browser has them. */
  globals?: object;
}

/** True in Node (and runtimes that present themselves as Node). */
export function isNode(): boolean {
  return typeof process !== 'undefined' && !!process.versions?.node;
}

/** The page's (or runtime's) `navigator.gpu`, if it has one. */
export function navigatorGpu(): GPU | undefined {
  return (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu ?? undefined;
}

/** The error for a JavaScript environment without WebGPU (no navigator.gpu, not Node). */
export function noWebGpuError(): GpuError {
  return new GpuError(
    'seqgpu: WebGPU is not available here (navigator.gpu is undefined). Use a browser with WebGPU ' +
      '(Chrome/Edge 113+, Safari 26+, Firefox 141+) on https or localhost; headless Chromium needs ' +
      "--enable-unsafe-webgpu (and, without a GPU, a SwiftShader Vulkan driver, shipped with Debian's chromium).",
  );
}

/**
 * Dawn's `GPU` from the `webgpu` package, which `load` imports. WebGPU's globals that the runtime
 * lacks (GPUBufferUsage, GPUMapMode, …) are defined from the package, as a browser has them; ones
 * already defined are kept.
 * @throws GpuError saying to `npm install webgpu` when `load` fails.
 */
export async function dawnGpu(load: () => Promise<WebgpuModule>, flags: string[]): Promise<GPU> {
  let mod: WebgpuModule;
  try {
    mod = await load();
  } catch (e) {
    throw new GpuError(
      `seqgpu: Node has no WebGPU. Install Dawn's bindings: \`npm install webgpu\` (${(e as Error).message})`,
    );
  }
  const g = globalThis as Record<string, unknown>;
  for (const [k, v] of Object.entries(mod.globals ?? {})) if (!(k in g)) g[k] = v;
  return mod.create(flags);
}
