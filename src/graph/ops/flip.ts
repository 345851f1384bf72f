// flip(x, dim): x reversed along one dimension (torch.flip(x, [dim])), for Keras's go_backwards.
//   y[…, i, …] = x[…, n−1−i, …]                dx = flip(dy, dim)
// One strided copy (shaders/strided_copy.wgsl) over [outer, n, inner] whose x stride along `dim`
// is −inner: one dispatch, recorded once in the plan, no allocation per replay.
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
    build: ([xv], [yv], ctx) => [
      stridedCopyDispatch(ctx.gpu, {
        shape: [outer, n, inner],
        x: { ...xv, offset: xv.offset + (n - 1) * inner, strides: [n * inner, -inner, 1] },
        y: { ...yv, strides: [n * inner, inner, 1] },
        label: op,
      }),
    ],
    backward: ([dy], needs) => [needs[0] && dy ? flipValue(dy, d, `${op}.backward`) : null],
  })[0];
}
