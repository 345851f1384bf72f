import type { Gpu } from '../gpu/device.js';
import type { Dispatch } from '../gpu/dispatch.js';
import { ArgumentError, ShapeError } from '../util/errors.js';
import { grid2d } from './grid.js';
import { defineShader } from '../gpu/kernel.js';
import stridedCopyWgsl from '../../shaders/strided_copy.wgsl?raw';

const STRIDED_COPY_SHADER = /*#__PURE__*/ defineShader('strided_copy.wgsl', stridedCopyWgsl);

const WG = 256;

/** A strided operand of {@link stridedCopyDispatch}: a buffer, an element offset and one stride per dimension. */
export interface StridedView {
  /** The f32 buffer. */
  buffer: GPUBuffer;
  /** Element index of multi-index (0, …, 0). Default 0. */
  offset?: number;
  /**
   * Elements between neighbours along each dimension of the copy's `shape`: integers, non-negative
   * for `y`; `x` may step backwards (a negative stride reads that dimension reversed, as a flip).
   */
  strides: readonly number[];
}

/** Arguments of {@link stridedCopyDispatch}. */
export interface StridedCopyArgs {
  /** The index space: 1 to 4 positive integer sizes. */
  shape: readonly number[];
  /** Source; a stride may be 0 (the dimension is broadcast). */
  x: StridedView;
  /**
   * Destination, in a buffer other than `x`'s. Its layout must not map two indices to one element:
   * a dimension of size > 1 has a positive stride, and taking the dimensions by increasing stride,
   * each stride exceeds the span of the ones before it (every permuted or sliced dense layout does).
   */
  y: StridedView;
  /** Scale applied to x. Default 1. */
  alpha?: number;
  /** Add to y's old values instead of overwriting them. Default false. */
  accumulate?: boolean;
  /** Names the dispatch in errors and profiles. Default `'stridedCopy'`. */
  label?: string;
}

/**
 * Prepares a strided copy: for every multi-index i of `shape`,
 * `y[y.offset + Σₖ iₖ·y.strides[k]] = alpha · x[x.offset + Σₖ iₖ·x.strides[k]]`
 * (plus y's old value with `accumulate`). One kernel for permutes and transposes, slices,
 * concatenation into a sub-range, broadcasts (x stride 0) with a scale, and gradient accumulation.
 * @param gpu - The device.
 * @param args - Shape, strided views `x` and `y`, `alpha`, `accumulate` and `label`.
 * @returns One dispatch (one thread per element of `shape`); its uniform is `transient`.
 * @throws ShapeError for a shape of rank outside 1..4 or with a non-positive size, strides of another
 *   rank, not integers (or negative for `y`), an element outside its buffer, or a `y` layout that
 *   overlaps itself. ArgumentError for `y` sharing `x`'s buffer or a non-finite `alpha`.
 */
export function stridedCopyDispatch(gpu: Gpu, args: StridedCopyArgs): Dispatch {
  const label = args.label ?? 'stridedCopy';
  const shape = args.shape;
  if (!Array.isArray(shape) || shape.length < 1 || shape.length > 4) {
    throw new ShapeError(`${label}: 'shape' must have 1 to 4 dimensions, got [${String(shape)}]`);
  }
  if (!shape.every((d) => Number.isInteger(d) && d > 0))
    throw new ShapeError(`${label}: 'shape' sizes must be positive integers, got [${shape.join(', ')}]`);
  const rank = shape.length;
  const n = shape.reduce((a, b) => a * b, 1);
  const alpha = args.alpha ?? 1;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha))
    throw new ArgumentError(`${label}: 'alpha' must be a finite number, got ${alpha}`);
  if (args.x.buffer === args.y.buffer) throw new ArgumentError(`${label}: 'y' must not share a buffer with 'x'`);
  for (const [name, v] of [
    ['x', args.x],
    ['y', args.y],
  ] as const) {
    const offset = v.offset ?? 0;
    if (!Number.isInteger(offset) || offset < 0)
      throw new ShapeError(`${label}: '${name}.offset' must be a non-negative integer, got ${offset}`);
    if (!Array.isArray(v.strides) || v.strides.length !== rank) {
      throw new ShapeError(
        `${label}: '${name}.strides' must have ${rank} entries (one per dimension of ` +
          `shape [${shape.join(', ')}]), got [${String(v.strides)}]`,
      );
    }
    if (!v.strides.every((s) => Number.isInteger(s) && (s >= 0 || name === 'x')))
      throw new ShapeError(
        `${label}: '${name}.strides' must be ${name === 'y' ? 'non-negative ' : ''}integers, ` +
          `got [${v.strides.join(', ')}]`,
      );
    const first = offset + shape.reduce((a, d, k) => a + Math.min(0, (d - 1) * v.strides[k]), 0);
    const last = offset + shape.reduce((a, d, k) => a + Math.max(0, (d - 1) * v.strides[k]), 0);
    const elements = Math.floor(v.buffer.size / 4);
    if (first < 0)
      throw new ShapeError(
        `${label}: '${name}' reaches element ${first} (offset ${offset}, shape [${shape.join(', ')}], ` +
          `strides [${v.strides.join(', ')}]), before its buffer's first`,
      );
    if (last >= elements) {
      throw new ShapeError(
        `${label}: '${name}' reaches element ${last} (offset ${offset}, shape ` +
          `[${shape.join(', ')}], strides [${v.strides.join(', ')}]), but its buffer ` +
          `holds ${elements} elements`,
      );
    }
  }
  // y must not overlap itself: by increasing stride, each stride exceeds the span of the smaller ones.
  const dims = shape
    .map((d, k) => ({ d, s: args.y.strides[k] }))
    .filter((e) => e.d > 1)
    .sort((a, b) => a.s - b.s);
  let span = 0;
  for (const { d, s } of dims) {
    if (s <= span)
      throw new ShapeError(
        `${label}: 'y.strides' [${args.y.strides.join(', ')}] with shape ` +
          `[${shape.join(', ')}] write some elements twice; each output element must have one index`,
      );
    span += (d - 1) * s;
  }
  const pad = 4 - rank;
  const d = [...Array(pad).fill(1), ...shape];
  // A negative x stride goes in as its u32 two's complement: the kernel's wrapping u32 sums land
  // on the same (in-bounds, checked above) elements.
  const sx = [...Array(pad).fill(0), ...args.x.strides.map((s) => s >>> 0)];
  const sy = [...Array(pad).fill(0), ...args.y.strides];
  const { gridX, workgroups } = grid2d(gpu, Math.ceil(n / WG), label);
  const params = gpu.uniform(STRIDED_COPY_SHADER, 'params', {
    n,
    gridX,
    offsetX: args.x.offset ?? 0,
    offsetY: args.y.offset ?? 0,
    d1: d[1],
    d2: d[2],
    d3: d[3],
    sx0: sx[0],
    sx1: sx[1],
    sx2: sx[2],
    sx3: sx[3],
    sy0: sy[0],
    sy1: sy[1],
    sy2: sy[2],
    sy3: sy[3],
    accumulate: args.accumulate ? 1 : 0,
    alpha,
  });
  return {
    label,
    pipeline: gpu.pipeline(STRIDED_COPY_SHADER, { WG }),
    bindGroup: gpu.bindGroup(STRIDED_COPY_SHADER, { x: args.x.buffer, y: args.y.buffer, params }),
    workgroups,
    transient: [params],
  };
}
