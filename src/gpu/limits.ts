// Checks of sizes against the device's limits, made BEFORE any buffer is allocated or any
// dispatch is prepared, so that a size the device cannot handle is a ShapeError naming the
// argument and the limit (not a GPU validation error, nor buffers left behind by a half-built plan).
import type { Gpu } from './device.js';
import { ShapeError } from '../util/errors.js';

/**
 * Throws unless a storage buffer of `elements` 32-bit values fits one binding
 * (maxStorageBufferBindingSize). `what` names the buffer and what it holds, e.g.
 * `"the input projection [seqLen·batch, 4·hiddenSize]"`.
 */
export function checkBindingSize(gpu: Gpu, op: string, what: string, elements: number): void {
  const limit = gpu.limits.maxStorageBufferBindingSize;
  const bytes = elements * 4;
  if (!(bytes <= limit)) {
    throw new ShapeError(
      `${op}: ${what} needs ${bytes} bytes, more than this device's maxStorageBufferBindingSize (${limit})`,
    );
  }
}

/** {@link checkBindingSize} for several buffers at once: `{ what: elements }`. */
export function checkBindingSizes(gpu: Gpu, op: string, buffers: Record<string, number>): void {
  for (const [what, elements] of Object.entries(buffers)) checkBindingSize(gpu, op, what, elements);
}

/** Throws unless `count` workgroups fit one grid dimension (maxComputeWorkgroupsPerDimension). */
export function checkWorkgroups(gpu: Gpu, op: string, what: string, count: number): void {
  const max = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (!(count <= max)) {
    throw new ShapeError(
      `${op}: ${what} needs ${count} workgroups in one dimension, more than maxComputeWorkgroupsPerDimension (${max})`,
    );
  }
}
