// GPU time per kernel of one training step, from timestamp queries: the step's dispatches run
// once more, each in its own pass between two timestamps (Gpu.run with a Profiler), and the
// times are summed per kernel kind (labels without layer / direction / timestep).
import type { Dispatch, Gpu, Profiler } from '../src/index.js';

export interface KernelTimes {
  /** Kernel kinds, slowest first. */
  kinds: Array<{ kind: string; ms: number; count: number }>;
  totalMs: number;
  dispatches: number;
  /** Dispatches of the step not run (the optimizer update would change the weights). */
  skipped: string[];
}

/** `l0d1.step12` → `step`, `l1.dW_hh` → `dW_hh`, `head.dW` stays. */
export function kernelKind(label: string): string {
  return (
    label
      .replace(/^l\d+d\d+\./, '')
      .replace(/^l\d+\./, '')
      .replace(/^(enc|dec)\w*\.l\d+(d\d+)?\./, '$1.')
      .replace(/[._-]?\d+$/, '') || label
  );
}

export class StepProfiler {
  private profiler: Profiler | null;

  constructor(private readonly gpu: Gpu) {
    this.profiler = gpu.createProfiler(256);
  }

  get available(): boolean {
    return this.profiler !== null;
  }

  async run(list: { dispatches: readonly Dispatch[]; skipped: string[] }): Promise<KernelTimes | null> {
    if (!this.profiler) return null;
    this.gpu.run(list.dispatches, this.profiler);
    const t = await this.profiler.read();
    const byKind = new Map<string, { ms: number; count: number }>();
    for (const k of t.kernels) {
      const kind = kernelKind(k.label);
      const e = byKind.get(kind) ?? { ms: 0, count: 0 };
      e.ms += k.ms;
      e.count++;
      byKind.set(kind, e);
    }
    const kinds = [...byKind.entries()].map(([kind, e]) => ({ kind, ...e })).sort((a, b) => b.ms - a.ms);
    return {
      kinds,
      totalMs: kinds.reduce((a, k) => a + k.ms, 0),
      dispatches: list.dispatches.length,
      skipped: list.skipped,
    };
  }

  destroy(): void {
    this.profiler?.destroy();
    this.profiler = null;
  }
}
