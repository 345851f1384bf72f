// flip(x, dim): x reversed along one dimension (torch.flip(x, [dim])), for Keras's go_backwards.
//   y[…, i, …] = x[…, n−1−i, …]                dx = flip(dy, dim)
// The strided-copy kernel takes non-negative strides only, so the op is n copies of one slice
// each (shaders/strided_copy.wgsl, [outer, 1, inner] per dispatch): n dispatches, fixed per shape
// and recorded once in the plan, no allocation per replay.
import { ShapeError, fmtShape } from '../../util/errors.js';
import { stridedCopyDispatch } from '../../kernels/stridedCopy.js';
import type { Value } from '../graph.js';
import { record } from '../record.js';

/**
 * `x` reversed along `dim` (a copy).
 * @param x - Any value of the active trace.
 * @param dim - The dimension (negative counts from the end).
 * @param op - Label of the node.
 * @returns A new value of x's shape.
 */
export function flipValue(x: Value, dim: number, op = 'flip'): Value {
  const d = dim < 0 ? x.shape.length + dim : dim;
  if (!Number.isInteger(dim) || d < 0 || d >= x.shape.length)
    throw new ShapeError(`${op}: dim ${dim} is out of range for shape ${fmtShape(x.shape)} (rank ${x.shape.length})`);
  const n = x.shape[d];
  const outer = x.shape.slice(0, d).reduce((a, b) => a * b, 1);
  const inner = x.shape.slice(d + 1).reduce((a, b) => a * b, 1);
  return record({
    op,
    attrs: { kind: 'flip', dim: d },
    inputs: [x],
    outputs: [{ shape: x.shape }],
    build: ([xv], [yv], ctx) =>
      Array.from({ length: n }, (_, i) =>
        stridedCopyDispatch(ctx.gpu, {
          shape: [outer, inner],
          x: { ...xv, offset: xv.offset + (n - 1 - i) * inner, strides: [n * inner, 1] },
          y: { ...yv, offset: yv.offset + i * inner, strides: [n * inner, 1] },
          label: op,
        }),
      ),
    backward: ([dy], needs) => [needs[0] && dy ? flipValue(dy, d, `${op}.backward`) : null],
  })[0];
}
