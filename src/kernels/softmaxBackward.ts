import type { Gpu } from '../gpu/device.js';
import type { Dispatch } from '../gpu/dispatch.js';
import { ArgumentError, ShapeError } from '../util/errors.js';
import { grid2d } from './grid.js';
import { defineShader } from '../gpu/kernel.js';
import softmaxBackwardWgsl from '../../shaders/softmax_backward.wgsl?raw';

const SOFTMAX_BACKWARD_SHADER = /*#__PURE__*/ defineShader('softmax_backward.wgsl', softmaxBackwardWgsl);

/** Arguments of {@link softmaxBackwardDispatch}: `rows` contiguous rows of `cols` elements per view. */
export interface SoftmaxBackwardArgs {
  /** Number of rows (one workgroup each). */
  rows: number;
  /** Elements per row (the softmax's axis). */
  cols: number;
  /** The softmax's output, from element `offset`. */
  y: { buffer: GPUBuffer; offset?: number };
  /** The gradient of the loss with respect to y, from element `offset` (may share y's buffer). */
  dy: { buffer: GPUBuffer; offset?: number };
  /**
   * Output: the gradient with respect to the softmax's input, from element `offset`; its buffer is neither y's nor
   * dy's.
   */
  dx: { buffer: GPUBuffer; offset?: number };
  /** Names the dispatch in errors and profiles. Default `'softmaxBackward'`. */
  label?: string;
}

/**
 * Prepares the row-softmax backward: `dx[r, c] = y[r, c] · (dy[r, c] − Σ_c' dy[r, c']·y[r, c'])`,
 * with y the softmax's output. One workgroup per row; the row's dot product is reduced in
 * workgroup memory.
 * @param gpu - The device.
 * @param args - Sizes, views `y`, `dy`, `dx` and `label`.
 * @returns One dispatch; its uniform is `transient`.
 * @throws ShapeError for non-positive sizes or a view past its buffer's end; ArgumentError for
 *   `dx` sharing a buffer with `y` or `dy`.
 */
export function softmaxBackwardDispatch(gpu: Gpu, args: SoftmaxBackwardArgs): Dispatch {
  const label = args.label ?? 'softmaxBackward';
  const { rows, cols } = args;
  if (!Number.isInteger(rows) || rows <= 0 || !Number.isInteger(cols) || cols <= 0) {
    throw new ShapeError(`${label}: rows and cols must be positive integers, got ${rows}×${cols}`);
  }
  for (const [name, v] of [
    ['y', args.y],
    ['dy', args.dy],
    ['dx', args.dx],
  ] as const) {
    const offset = v.offset ?? 0;
    if (!Number.isInteger(offset) || offset < 0)
      throw new ShapeError(`${label}: '${name}.offset' must be a non-negative integer, got ${offset}`);
    if ((offset + rows * cols) * 4 > v.buffer.size)
      throw new ShapeError(
        `${label}: buffer '${name}' (${v.buffer.size} bytes) is smaller ` +
          `than ${rows}×${cols} elements from offset ${offset}`,
      );
  }
  if (args.dx.buffer === args.y.buffer || args.dx.buffer === args.dy.buffer)
    throw new ArgumentError(`${label}: 'dx' must not share a buffer with 'y' or 'dy'`);
  const wg = cols <= 64 ? 64 : 256;
  const { gridX, workgroups } = grid2d(gpu, rows, label);
  const params = gpu.uniform(SOFTMAX_BACKWARD_SHADER, 'params', {
    rows,
    cols,
    offsetY: args.y.offset ?? 0,
    offsetDy: args.dy.offset ?? 0,
    offsetDx: args.dx.offset ?? 0,
    gridX,
  });
  return {
    label,
    pipeline: gpu.pipeline(SOFTMAX_BACKWARD_SHADER, { WG: wg }),
    bindGroup: gpu.bindGroup(SOFTMAX_BACKWARD_SHADER, {
      y: args.y.buffer,
      dy: args.dy.buffer,
      dx: args.dx.buffer,
      params,
    }),
    workgroups,
    transient: [params],
  };
}
