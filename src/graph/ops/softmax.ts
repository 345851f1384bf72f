// Softmax over the last dimension (shaders/softmax.wgsl) and its gradient
// (shaders/softmax_backward.wgsl), one workgroup per row:
//   y = exp(x − max) / Σ exp(x − max)        dx = y ⊙ (dy − Σ dy·y)
import { ShapeError, fmtShape } from '../../util/errors.js';
import { softmaxDispatch } from '../../kernels/softmax.js';
import { softmaxBackwardDispatch } from '../../kernels/softmaxBackward.js';
import type { Tensor } from '../../gpu/tensor.js';
import type { Value } from '../graph.js';
import { graphFor, record } from '../record.js';

/** Records y = softmax(x) over the last dimension. */
export function softmaxValue(x: Value, op = 'softmax'): Value {
  if (x.dtype !== 'f32' || x.shape.length < 1)
    throw new ShapeError(`${op}: argument 'x' has shape ${fmtShape(x.shape)} (${x.dtype}); expected f32 of rank ≥ 1`);
  const cols = x.shape[x.shape.length - 1];
  const rows = x.size / cols;
  return record({
    op,
    attrs: { kind: 'softmax' },
    inputs: [x],
    outputs: [{ shape: x.shape }],
    build: ([xv], [yv], ctx) => [softmaxDispatch(ctx.gpu, { rows, cols, x: xv, y: yv, label: op })],
    backward: ([dy], needs, [y]) => [
      needs[0] && dy
        ? record({
            op: `${op}.backward`,
            inputs: [y, dy],
            outputs: [{ shape: x.shape }],
            build: ([yv, gv], [dxv], ctx) => [
              softmaxBackwardDispatch(ctx.gpu, { rows, cols, y: yv, dy: gv, dx: dxv, label: `${op}.backward` }),
            ],
          })[0]
        : null,
    ],
  })[0];
}

/**
 * Softmax over the last dimension (`torch.softmax(x, dim=-1)`), inside a traced forward, with its
 * gradient. Only the last dimension is supported: transpose the dimension there first.
 * @param x - f32 of any shape (rank ≥ 1).
 * @param dim - −1 (default) or rank − 1.
 * @returns Same shape; every row along the last dimension sums to 1.
 * @throws ShapeError when `dim` is not the last dimension.
 */
export function softmax(x: Tensor, dim = -1): Tensor {
  const v = graphFor('softmax').of('softmax', 'x', x);
  const rank = v.shape.length;
  if (!Number.isInteger(dim) || (dim !== -1 && dim !== rank - 1)) {
    throw new ShapeError(
      `softmax: dim ${dim} of argument 'x' ${fmtShape(v.shape)} is not the last ` +
        `dimension; only dim −1 (${rank - 1}) is supported (F.transpose the dimension to ` +
        `the end first)`,
    );
  }
  return softmaxValue(v).tensor;
}
