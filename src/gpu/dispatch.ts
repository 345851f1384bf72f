/**
 * One compute dispatch, ready to encode: everything it needs was created beforehand, so
 * encoding a list of them allocates nothing. `transient` buffers (uniforms of an eager call)
 * go back to the pool once the dispatch has been submitted; a Plan keeps them instead.
 */
export interface Dispatch {
  label: string;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  workgroups: readonly [number, number, number];
  transient?: GPUBuffer[];
}

/** Encodes dispatches into one compute pass (no allocation beyond the pass itself). */
export function encodeDispatches(pass: GPUComputePassEncoder, dispatches: readonly Dispatch[]): void {
  for (const d of dispatches) {
    pass.setPipeline(d.pipeline);
    pass.setBindGroup(0, d.bindGroup);
    pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
  }
}
