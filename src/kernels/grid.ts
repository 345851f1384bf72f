import type { Gpu } from '../gpu/device.js';
import { ShapeError } from '../util/errors.js';

/**
 * Spreads `workgroups` over x and y so that neither exceeds the device's
 * maxComputeWorkgroupsPerDimension; kernels recover the flat index as x + y·gridX.
 */
export function grid2d(
  gpu: Gpu,
  workgroups: number,
  what: string,
): { gridX: number; workgroups: [number, number, number] } {
  const max = gpu.limits.maxComputeWorkgroupsPerDimension;
  const gridX = Math.max(1, Math.min(workgroups, max));
  const gridY = Math.ceil(workgroups / gridX);
  if (gridY > max) {
    throw new ShapeError(
      `${what}: needs ${workgroups} workgroups, more than maxComputeWorkgroupsPerDimension² (${max}²)`,
    );
  }
  return { gridX, workgroups: [gridX, gridY, 1] };
}
