import type { Gpu } from '../gpu/device.js';
import type { Dispatch } from '../gpu/dispatch.js';
import { ArgumentError, ShapeError } from '../util/errors.js';
import { grid2d } from './grid.js';
import { defineShader } from '../gpu/kernel.js';
import reduceAxisWgsl from '../../shaders/reduce_axis.wgsl?raw';

const REDUCE_AXIS_SHADER = /*#__PURE__*/ defineShader('reduce_axis.wgsl', reduceAxisWgsl);

const WG = 256;

/** Arguments of {@link reduceAxisDispatch}: x is a contiguous [outer, n, inner] view, y [outer, inner]. */
export interface ReduceAxisArgs {
  /** Size of the dimensions before the reduced one, multiplied (1 when it is the first). */
  outer: number;
  /** Size of the reduced dimension. */
  n: number;
  /** Size of the dimensions after the reduced one, multiplied (1 when it is the last). */
  inner: number;
  /** Input, outer·n·inner contiguous elements from element `offset`. */
  x: { buffer: GPUBuffer; offset?: number };
  /** Output, outer·inner contiguous elements from element `offset`; not `x`'s buffer. */
  y: { buffer: GPUBuffer; offset?: number };
  /** Scale of the sum (1/n gives the mean). Default 1. */
  alpha?: number;
  /** Names the dispatch in errors and profiles. Default `'reduceAxis'`. */
  label?: string;
}

/**
 * Prepares `y[o, i] = alpha · Σ_k x[o, k, i]` over a contiguous [outer, n, inner] view of x: the
 * sum (or with alpha = 1/n the mean) over one axis. One thread per output element loops over k
 * with a compensated sum.
 * @param gpu - The device.
 * @param args - Sizes, views `x` and `y`, `alpha` and `label`.
 * @returns One dispatch; its uniform is `transient`.
 * @throws ShapeError for sizes that are not positive integers or a view past its buffer's end;
 *   ArgumentError for `y` sharing `x`'s buffer or a non-finite `alpha`.
 */
export function reduceAxisDispatch(gpu: Gpu, args: ReduceAxisArgs): Dispatch {
  const label = args.label ?? 'reduceAxis';
  const { outer, n, inner } = args;
  for (const [name, v] of [
    ['outer', outer],
    ['n', n],
    ['inner', inner],
  ] as const) {
    if (!Number.isInteger(v) || v <= 0)
      throw new ShapeError(`${label}: '${name}' must be a positive integer, got ${v}`);
  }
  const alpha = args.alpha ?? 1;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha))
    throw new ArgumentError(`${label}: 'alpha' must be a finite number, got ${alpha}`);
  for (const [name, v, count] of [
    ['x', args.x, outer * n * inner],
    ['y', args.y, outer * inner],
  ] as const) {
    const offset = v.offset ?? 0;
    if (!Number.isInteger(offset) || offset < 0)
      throw new ShapeError(`${label}: '${name}.offset' must be a non-negative integer, got ${offset}`);
    if ((offset + count) * 4 > v.buffer.size)
      throw new ShapeError(
        `${label}: buffer '${name}' (${v.buffer.size} bytes) is smaller than ${count} elements from offset ${offset}`,
      );
  }
  if (args.x.buffer === args.y.buffer) throw new ArgumentError(`${label}: 'y' must not share a buffer with 'x'`);
  const { gridX, workgroups } = grid2d(gpu, Math.ceil((outer * inner) / WG), label);
  const params = gpu.uniform(REDUCE_AXIS_SHADER, 'params', {
    outer,
    n,
    inner,
    offsetX: args.x.offset ?? 0,
    offsetY: args.y.offset ?? 0,
    gridX,
    alpha,
  });
  return {
    label,
    pipeline: gpu.pipeline(REDUCE_AXIS_SHADER, { WG }),
    bindGroup: gpu.bindGroup(REDUCE_AXIS_SHADER, { x: args.x.buffer, y: args.y.buffer, params }),
    workgroups,
    transient: [params],
  };
}
