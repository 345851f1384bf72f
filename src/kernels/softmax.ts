import type { Gpu } from '../gpu/device.js';
import type { Dispatch } from '../gpu/dispatch.js';
import { ArgumentError, ShapeError } from '../util/errors.js';
import { Tensor, expectRank, expectShape } from '../gpu/tensor.js';
import { grid2d } from './grid.js';
import { defineShader } from '../gpu/kernel.js';
import softmaxWgsl from '../../shaders/softmax.wgsl?raw';

const SOFTMAX_SHADER = /*#__PURE__*/ defineShader('softmax.wgsl', softmaxWgsl);

/** Raw arguments: `rows` rows of `cols` elements, contiguous, from element offsets. */
export interface SoftmaxArgs {
  /** Number of rows (one workgroup each). */
  rows: number;
  /** Elements per row: the softmax runs over these. */
  cols: number;
  /** Input rows, from element `offset`. */
  x: { buffer: GPUBuffer; offset?: number };
  /** Output rows, from element `offset`; must not share a buffer with `x`. */
  y: { buffer: GPUBuffer; offset?: number };
  /** Threads per row, a power of two (default 256, or 64 for rows of ≤ 64). */
  workgroupSize?: number;
  /** Names the dispatch in errors and profiles. Default `'softmax'`. */
  label?: string;
}

/**
 * Prepares the row-softmax dispatch (one workgroup per row).
 * `y[r, c] = exp(x[r, c] − max_r) / Σ_c' exp(x[r, c'] − max_r)`.
 * @param gpu - The device.
 * @param args - Sizes and buffers.
 * @returns One dispatch; its uniform is `transient`.
 * @throws ShapeError for non-positive sizes, a bad workgroup size, a buffer too small or `y`
 *   aliasing `x`.
 */
export function softmaxDispatch(gpu: Gpu, args: SoftmaxArgs): Dispatch {
  const label = args.label ?? 'softmax';
  const { rows, cols } = args;
  if (!Number.isInteger(rows) || rows <= 0 || !Number.isInteger(cols) || cols <= 0) {
    throw new ShapeError(`${label}: rows and cols must be positive integers, got ${rows}×${cols}`);
  }
  const wg = args.workgroupSize ?? (cols <= 64 ? 64 : 256);
  if ((wg & (wg - 1)) !== 0 || wg > gpu.limits.maxComputeInvocationsPerWorkgroup) {
    throw new ShapeError(
      `${label}: workgroupSize must be a power of two ≤ ${gpu.limits.maxComputeInvocationsPerWorkgroup}, got ${wg}`,
    );
  }
  for (const [name, v] of [
    ['x', args.x],
    ['y', args.y],
  ] as const) {
    if (((v.offset ?? 0) + rows * cols) * 4 > v.buffer.size)
      throw new ShapeError(`${label}: buffer '${name}' is smaller than ${rows}×${cols} from its offset`);
  }
  if (args.x.buffer === args.y.buffer) throw new ArgumentError(`${label}: 'y' must not share a buffer with 'x'`);
  const { gridX, workgroups } = grid2d(gpu, rows, label);
  const params = gpu.uniform(SOFTMAX_SHADER, 'params', {
    rows,
    cols,
    offsetX: args.x.offset ?? 0,
    offsetY: args.y.offset ?? 0,
    gridX,
  });
  return {
    label,
    pipeline: gpu.pipeline(SOFTMAX_SHADER, { WG: wg }),
    bindGroup: gpu.bindGroup(SOFTMAX_SHADER, { x: args.x.buffer, y: args.y.buffer, params }),
    workgroups,
    transient: [params],
  };
}

/**
 * Softmax over the last dimension of `x` (any rank ≥ 1). Runs now and returns y.
 * @param gpu - The device `x` lives on.
 * @param x - Any shape of rank 1 to 6; each row along the last dimension sums to 1 in the result.
 * @param opts - `out`: a tensor of `x`'s shape to write into (not `x` itself).
 * @returns A tensor of `x`'s shape.
 * @throws ShapeError when `x` is not a live tensor or `out` has another shape or is `x`.
 */
export function softmax(gpu: Gpu, x: Tensor, opts: { out?: Tensor } = {}): Tensor {
  expectRank('softmax', 'x', x, [1, 2, 3, 4, 5, 6], gpu);
  const cols = x.shape[x.shape.length - 1];
  if (opts.out) {
    expectShape('softmax', 'out', opts.out, x.shape, '', gpu);
    if (opts.out === x) throw new ArgumentError("softmax: 'out' must not be 'x'");
  }
  const y = opts.out ?? Tensor.empty(gpu, x.shape, 'softmax.out');
  gpu.run([softmaxDispatch(gpu, { rows: x.size / cols, cols, x: { buffer: x.buffer }, y: { buffer: y.buffer } })]);
  return y;
}
