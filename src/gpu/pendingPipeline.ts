// A pipeline handed out before it is compiled. While `gpu.deferPipelines(record)` runs, a cache
// miss of `gpu.pipeline(shader, constants)` returns one of these in place of a GPUComputePipeline
// and records the request; `gpu.compilePipelines` then compiles them all with
// createComputePipelineAsync. Dispatches built meanwhile (recorded plans, cached repack lists) keep
// it: encoding swaps in the real pipeline from the cache the first time (encodeDispatches), so a
// pending pipeline that is used before its compile finished is compiled then, synchronously.

/** A stand-in for a compute pipeline whose compile was deferred; see {@link Gpu.deferPipelines}. */
export class PendingPipeline {
  /**
   * @param label - The pipeline's cache key (`shader|constants`).
   * @param create - Returns the compiled pipeline (from the cache, or compiling it now).
   */
  constructor(
    readonly label: string,
    private readonly create: () => GPUComputePipeline,
  ) {}

  /** The compiled pipeline (compiled now, synchronously, if no compile has finished yet). */
  resolve(): GPUComputePipeline {
    return this.create();
  }
}
