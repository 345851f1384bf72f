// Host side of shaders/column_sum.wgsl: y[c] = Σ_r x[r, c] (bias gradients over all rows).
import type { Gpu } from '../gpu/device.js';
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
}

/** One dispatch, 32 columns × 8 row slices per workgroup. Its uniform is `transient`: a plan takes it over. */
export function columnSumDispatch(gpu: Gpu, args: ColumnSumArgs): Dispatch {
  const label = args.label ?? 'columnSum';
  const { rows, cols } = args;
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
    pipeline: gpu.pipeline(COLUMN_SUM_SHADER),
    bindGroup: gpu.bindGroup(COLUMN_SUM_SHADER, { x: args.x.buffer, y: args.y.buffer, params }),
    workgroups: [groups, 1, 1],
    transient: [params],
  };
}
