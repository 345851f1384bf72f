// Cold start: compile the pipelines a piece of work will need before it runs. `record` builds
// what the work would build (a model's recorded plan, its optimizer's dispatch list) with the
// pipeline compiles deferred (gpu.deferPipelines); the misses are then compiled with
// createComputePipelineAsync, all started at once, reporting { done, total, label } after each.
// A first call afterwards finds every pipeline in the cache (gpu.stats.pipelinesCreated stays flat).
import type { Gpu, PipelineProgress } from './device.js';
import { ArgumentError } from '../util/errors.js';

/** Progress of a warmup: after each pipeline compiled, `{ done, total, label }`. */
export type WarmupProgress = PipelineProgress;

/** Options every `warmup` takes. */
export interface WarmupOptions {
  /** Called after each pipeline compiled (once with done = total = 0 when all were compiled before). */
  onProgress?: (progress: WarmupProgress) => void;
}

/** What a warmup did. */
export interface WarmupResult {
  /** Pipelines it compiled (0 when every one was in the cache already). */
  pipelines: number;
  /** Wall-clock milliseconds it took (recording and compiling). */
  ms: number;
}

/**
 * Runs `record` with pipeline compiles deferred, then compiles what it asked for asynchronously.
 * @param gpu - The device.
 * @param where - The public entry point, for messages.
 * @param record - Builds (synchronously) what the work to warm up would build.
 * @param onProgress - Called after each pipeline compiled.
 * @returns How many pipelines were compiled and how long it took.
 * @throws ArgumentError when `onProgress` is not a function; GpuError when a compile fails.
 */
export async function warmupPipelines(
  gpu: Gpu,
  where: string,
  record: () => void,
  onProgress?: (progress: WarmupProgress) => void,
): Promise<WarmupResult> {
  if (onProgress !== undefined && typeof onProgress !== 'function')
    throw new ArgumentError(`${where}: 'onProgress' must be a function, got ${typeof onProgress}`);
  const t0 = performance.now();
  const { requests } = gpu.deferPipelines(record);
  const pipelines = await gpu.compilePipelines(requests, onProgress);
  return { pipelines, ms: performance.now() - t0 };
}
