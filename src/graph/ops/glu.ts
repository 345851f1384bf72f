// GLU over the last dimension (shaders/glu.wgsl), one node each way:
//   x = [a | b] (halves of the last dimension): y = a ⊙ σ(b)
//   dx = [dy ⊙ σ(b) | dy ⊙ a ⊙ σ(b)(1 − σ(b))]    (from the saved input x and dy)
import { ArgumentError, ShapeError, fmtShape } from '../../util/errors.js';
import { gluDispatch } from '../../kernels/glu.js';
import type { Tensor } from '../../gpu/tensor.js';
import type { Value } from '../graph.js';
import { graphFor, record } from '../record.js';

/** Records y = glu(x) over the last dimension (x's last size even). */
export function gluValue(x: Value, op = 'glu'): Value {
  const cols = x.shape[x.shape.length - 1];
  if (x.dtype !== 'f32' || x.shape.length < 1 || cols % 2 !== 0) {
    throw new ShapeError(
      `${op}: argument 'x' has shape ${fmtShape(x.shape)} (${x.dtype}); expected f32 ` +
        `whose last dimension is even (it is split in halves a, b)`,
    );
  }
  const half = cols / 2;
  const rows = x.size / cols;
  const shape = [...x.shape.slice(0, -1), half];
  return record({
    op,
    inputs: [x],
    outputs: [{ shape }],
    build: ([xv], [yv], ctx) => [gluDispatch(ctx.gpu, { rows, half, x: xv, y: yv, label: op })],
    backward: ([dy], needs) => [
      needs[0] && dy
        ? record({
            op: `${op}.backward`,
            inputs: [x, dy],
            outputs: [{ shape: x.shape }],
            build: ([xv, gv], [dxv], ctx) => [
              gluDispatch(ctx.gpu, { rows, half, x: xv, dy: gv, y: dxv, backward: true, label: `${op}.backward` }),
            ],
          })[0]
        : null,
    ],
  })[0];
}

/**
 * Gated linear unit (`torch.nn.functional.glu(x, dim=-1)`) inside a traced forward, with its
 * gradient: x split in halves a, b along the last dimension, y = a ⊙ σ(b).
 * @param x - f32 whose last dimension is even.
 * @param dim - −1 (default) or rank − 1: only the last dimension is supported.
 * @returns x's shape with the last dimension halved.
 * @throws ArgumentError when `dim` is not the last dimension; ShapeError when the last dimension is odd.
 */
export function glu(x: Tensor, dim = -1): Tensor {
  const v = graphFor('glu').of('glu', 'x', x);
  const rank = v.shape.length;
  if (!Number.isInteger(dim) || (dim !== -1 && dim !== rank - 1)) {
    throw new ArgumentError(
      `glu: dim ${dim} of argument 'x' ${fmtShape(v.shape)} is not the last ` +
        `dimension; only dim −1 (${rank - 1}) is supported (F.transpose the dimension to ` +
        `the end first)`,
    );
  }
  return gluValue(v).tensor;
}
