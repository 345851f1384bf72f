import { PendingPipeline } from './pendingPipeline.js';

/**
 * One compute dispatch, ready to encode: everything it needs was created beforehand, so
 * encoding a list of them allocates nothing. `transient` buffers (uniforms of an eager call)
 * go back to the pool once the dispatch has been submitted; a Plan keeps them instead.
 */
export interface Dispatch {
  /** Names the dispatch in profiles ({@link GpuTimings}) and GPU error messages. */
  label: string;
  /** The compute pipeline (from `gpu.pipeline(shader, constants)`). */
  pipeline: GPUComputePipeline;
  /** Its resources, bound at group 0 (from `gpu.bindGroup(shader, buffers)`). */
  bindGroup: GPUBindGroup;
  /** Workgroup counts in x, y, z; each at most the device's `maxComputeWorkgroupsPerDimension`. */
  workgroups: readonly [number, number, number];
  /**
   * Pool buffers (uniforms) released after the eager call that submits it; a plan that keeps the dispatch takes them
   * over.
   */
  transient?: GPUBuffer[];
}

/** Encodes dispatches into one compute pass (no allocation beyond the pass itself). */
export function encodeDispatches(pass: GPUComputePassEncoder, dispatches: readonly Dispatch[]): void {
  for (const d of dispatches) {
    // A pipeline whose compile was deferred (gpu.deferPipelines) is swapped for the compiled one once.
    if ((d.pipeline as unknown) instanceof PendingPipeline)
      d.pipeline = (d.pipeline as unknown as PendingPipeline).resolve();
    pass.setPipeline(d.pipeline);
    pass.setBindGroup(0, d.bindGroup);
    pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
  }
}
