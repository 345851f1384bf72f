// Host side of shaders/column_sum.wgsl: y[c] = Σ_r x[r, c] (bias gradients over all rows).
//
// Threads per column per adapter: 8 on a GPU (32 × 8 threads, one barrier), 1 on a software
// adapter (32 threads, each running the 8 row slices in registers, no barrier): on SwiftShader
// the 8-thread kernel sums dgates 2048 × 256 in 16–24 ms, the 1-thread one in ~4 ms (Node, Dawn).
// Both add in the same order, so they give the same bits. A forced `gpu.tuning.reductionWidth`
// below 8 gives 1 thread; `slices` forces either for one dispatch.
import type { Gpu } from '../gpu/device.js';
import { reductionWidth } from '../gpu/tuning.js';
import type { Dispatch } from '../gpu/dispatch.js';
import { ArgumentError, ShapeError } from '../util/errors.js';
import { defineShader } from '../gpu/kernel.js';
import columnSumWgsl from '../../shaders/column_sum.wgsl?raw';

const COLUMN_SUM_SHADER = /*#__PURE__*/ defineShader('column_sum.wgsl', columnSumWgsl);

/** Raw arguments in elements: `rows × cols` of `x` (row stride `ld`) summed into `cols` of `y`. */
export interface ColumnSumArgs {
  rows: number;
  cols: number;
  x: { buffer: GPUBuffer; offset?: number; ld: number };
  y: { buffer: GPUBuffer; offset?: number };
  label?: string;
  /** Threads per column, 8 or 1 (same bits); default {@link columnSumSlices}. */
  slices?: number;
}

/**
 * Threads per column that a column sum uses on `gpu` by default: 8 on a GPU, 1 on a software
 * adapter (`gpu.tuning.reductionWidth` 'auto'); a forced reductionWidth below 8 gives 1.
 * @param gpu - Its `tuning` and whether the adapter is software.
 * @returns 8 or 1.
 */
export function columnSumSlices(gpu: Pick<Gpu, 'tuning' | 'software'>): number {
  if (gpu.tuning.reductionWidth === 'auto') return gpu.software ? 1 : 8;
  return reductionWidth(gpu, 8) === 8 ? 8 : 1;
}

/**
 * One dispatch, 32 columns × `slices` threads per workgroup.
 * @param gpu - The device.
 * @param args - The matrix, the output, and optionally the label and the slices.
 * @returns The dispatch; its uniform is `transient`: a plan takes it over.
 * @throws ShapeError when a size is not a positive integer, x or y overruns its buffer, x.ld < cols
 *   or the grid is too large; ArgumentError when y shares x's buffer or `slices` is not 1 or 8.
 */
export function columnSumDispatch(gpu: Gpu, args: ColumnSumArgs): Dispatch {
  const label = args.label ?? 'columnSum';
  const { rows, cols } = args;
  const slices = args.slices ?? columnSumSlices(gpu);
  if (slices !== 1 && slices !== 8) throw new ArgumentError(`${label}: slices must be 1 or 8, got ${String(slices)}`);
  for (const [k, v] of Object.entries({ rows, cols })) {
    if (!Number.isInteger(v) || v <= 0) throw new ShapeError(`${label}: ${k} must be a positive integer, got ${v}`);
  }
  const offX = args.x.offset ?? 0;
  const offY = args.y.offset ?? 0;
  if (args.x.ld < cols) throw new ShapeError(`${label}: x.ld (${args.x.ld}) is smaller than cols (${cols})`);
  if ((offX + (rows - 1) * args.x.ld + cols) * 4 > args.x.buffer.size)
    throw new ShapeError(
      `${label}: x (${rows}×${cols}, ld ${args.x.ld}, offset ${offX}) overruns its ` +
        `buffer of ${args.x.buffer.size / 4} elements`,
    );
  if ((offY + cols) * 4 > args.y.buffer.size)
    throw new ShapeError(
      `${label}: y needs ${cols} elements from offset ${offY}; its buffer holds ${args.y.buffer.size / 4}`,
    );
  if (args.x.buffer === args.y.buffer) throw new ArgumentError(`${label}: y must not share a buffer with x`);
  const groups = Math.ceil(cols / 32);
  if (groups > gpu.limits.maxComputeWorkgroupsPerDimension)
    throw new ShapeError(
      `${label}: ${cols} columns need ${groups} workgroups, more than ` +
        `maxComputeWorkgroupsPerDimension ` +
        `(${gpu.limits.maxComputeWorkgroupsPerDimension})`,
    );
  const params = gpu.uniform(COLUMN_SUM_SHADER, 'params', { rows, cols, ld: args.x.ld, offsetX: offX, offsetY: offY });
  return {
    label,
    pipeline: gpu.pipeline(COLUMN_SUM_SHADER, { SLICES: slices }),
    bindGroup: gpu.bindGroup(COLUMN_SUM_SHADER, { x: args.x.buffer, y: args.y.buffer, params }),
    workgroups: [groups, 1, 1],
    transient: [params],
  };
}
