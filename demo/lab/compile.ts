// Compile time per pipeline: which pipelines a run used (every `gpu.pipeline` call during it, its
// shader and override constants, seqgpu's cache key) and how long each takes to create with
// `createComputePipelineAsync`. The run itself compiles on first use (synchronously, where Chrome
// defers the work to the first submit, so that call's time says nothing); the lab therefore
// compiles each pipeline the run used again, one at a time, on a second device of the same
// adapter whose seqgpu caches are empty, and times the promise (the first pipeline of a shader
// includes its shader module). Measured once per pipeline and page; the browser's own shader cache
// may make a compile it has seen before faster.
import { requestGpu, type Gpu } from '../../src/index.js';

type ShaderArg = Parameters<Gpu['pipeline']>[0];
type Constants = NonNullable<Parameters<Gpu['pipeline']>[1]>;

/** One pipeline a run used. */
export interface PipelineCompile {
  /** seqgpu's cache key: `shader|constants`. */
  pipeline: string;
  /** createComputePipelineAsync on a fresh device, ms. */
  ms: number;
  /** Created by this run on the lab's device (not in its cache before). */
  newInRun: boolean;
}

const shaderName = (s: ShaderArg) => (typeof s === 'string' ? s : s.name);
const keyOf = (s: ShaderArg, c: Constants) =>
  `${shaderName(s)}|${Object.keys(c)
    .sort()
    .map((k) => `${k}=${c[k]}`)
    .join(',')}`;

export class CompileTimer {
  private probe: Promise<Gpu> | null = null;
  private readonly times = new Map<string, number>();

  constructor(private readonly gpu: Gpu) {}

  /**
   * Runs `fn`, recording every pipeline it asks the lab's device for, then times each one's
   * compile on the probe device (those not timed before).
   * @param fn - The run.
   * @param say - Progress line.
   * @returns fn's result and the pipelines, in first-use order.
   */
  async track<T>(fn: () => Promise<T>, say: (m: string) => void): Promise<{ result: T; pipelines: PipelineCompile[] }> {
    const used = new Map<string, { shader: ShaderArg; constants: Constants; newInRun: boolean }>();
    const gpu = this.gpu;
    const original = gpu.pipeline;
    gpu.pipeline = function (this: Gpu, shader: ShaderArg, constants: Constants = {}) {
      const before = gpu.stats.pipelinesCreated;
      const p = original.call(gpu, shader, constants);
      const key = keyOf(shader, constants);
      const seen = used.get(key);
      const created = gpu.stats.pipelinesCreated > before;
      if (!seen) used.set(key, { shader, constants: { ...constants }, newInRun: created });
      else if (created) seen.newInRun = true;
      return p;
    };
    let result: T;
    try {
      result = await fn();
    } finally {
      delete (gpu as { pipeline?: unknown }).pipeline; // the prototype's method again
      if (gpu.pipeline !== original) gpu.pipeline = original;
    }
    const todo = [...used].filter(([key]) => !this.times.has(key));
    if (todo.length) {
      const probe = await (this.probe ??= requestGpu());
      let i = 0;
      for (const [key, u] of todo) {
        say(`compile time: pipeline ${++i} of ${todo.length} (${key})`);
        const t0 = performance.now();
        await probe.pipelineAsync(u.shader, u.constants);
        this.times.set(key, performance.now() - t0);
      }
    }
    return {
      result,
      pipelines: [...used].map(([key, u]) => ({ pipeline: key, ms: this.times.get(key)!, newInRun: u.newInRun })),
    };
  }
}
