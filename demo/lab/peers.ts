// The peers of a lab run, loaded with the bench's own loaders the first time a run needs them
// (TensorFlow.js WebGPU: a few MB of script; onnxruntime-web WebGPU: a 26 MB wasm) and kept for
// the page's lifetime. A peer switched off in the panel, or one the kernel has none of, is
// reported as "n/a (...)", which the bench's report prints as it is.
import { loadTfWebgpu, type Tf } from '../../bench/tf.js';
import { loadOrtWebgpu, type Ort } from '../../bench/ort.js';
import type { KernelSpec, Peers } from './kernels.js';
import { perturbTf } from './perturb.js';

/**
 * Where onnxruntime-web's dist/ files are served: `VITE_ORT_DIST` (relative to the page) when the
 * demo's Vite config copies them beside the page (demo/vite.config.ts), else node_modules through
 * the project's dev server (as the bench page loads them).
 */
export function ortDist(): string {
  const dir = import.meta.env.VITE_ORT_DIST as string | undefined;
  return dir ? new URL(dir, document.baseURI).href : '/node_modules/onnxruntime-web/dist/';
}

export class PeerLoader {
  private tf: Promise<Tf | { error: string }> | null = null;
  private ort: Promise<Ort | { error: string }> | null = null;

  /** @param perturb - 'tfjs': hand out a perturbed TensorFlow.js (the test hook of perturb.ts). */
  constructor(private readonly perturb: 'tfjs' | null = null) {}

  /** The peers for `spec`, loading those it measures and the panel has on. */
  async load(spec: KernelSpec, on: { tfjs: boolean; ort: boolean }, say: (m: string) => void): Promise<Peers> {
    const off = (name: string) => ({ error: `n/a (${name} is off in the lab panel)` });
    const none = (name: string) => ({ error: `n/a (${spec.key} has no ${name} row)` });
    let tf: Peers['tf'] = spec.peers.includes('tfjs') ? off('tfjs') : none('tfjs');
    let ort: Peers['ort'] = spec.peers.includes('ort') ? off('onnxruntime-web') : none('onnxruntime-web');
    if (spec.peers.includes('tfjs') && on.tfjs) {
      if (!this.tf) say('loading TensorFlow.js (WebGPU backend)…');
      tf = await (this.tf ??= loadTfWebgpu().then((t) => ('error' in t || !this.perturb ? t : perturbTf(t))));
    }
    if (spec.peers.includes('ort') && on.ort) {
      if (!this.ort) say('loading onnxruntime-web (WebGPU EP)…');
      ort = await (this.ort ??= loadOrtWebgpu(ortDist()));
    }
    return { tf, ort };
  }
}
