// Broadcast add over the leading dimensions (a position table added to every batch row):
//   x [..., ...p.shape] viewed as [rows, cols] with cols = p.size:   y[r, c] = x[r, c] + p[c]
//   backward: dx = dy,  dp = Σ_r dy[r, :]  (a column sum, reshaped to p's shape)
// One dispatch (shaders/bias_act.wgsl with the identity activation) each way.
import { biasActDispatch } from '../../kernels/biasAct.js';
import { ShapeError, fmtShape } from '../../util/errors.js';
import type { Value } from '../graph.js';
import { record } from '../record.js';
import { columnSum } from './linear.js';
import { reshapeValue } from './shape.js';

/**
 * Records y = x + p with p broadcast over x's leading dimensions.
 * @param x - f32 [..., ...p.shape].
 * @param p - f32; its shape must end x's shape.
 * @param op - Names the node and its dispatches.
 * @throws ShapeError when p's shape is not a suffix of x's.
 */
export function addBroadcastValue(x: Value, p: Value, op = 'addBroadcast'): Value {
  const k = p.shape.length;
  const suffix = x.shape.slice(x.shape.length - k);
  if (x.dtype !== 'f32' || p.dtype !== 'f32' || k > x.shape.length || suffix.some((d, i) => d !== p.shape[i]))
    throw new ShapeError(
      `${op}: cannot add ${fmtShape(p.shape)} (${p.dtype}) to every row of ${fmtShape(x.shape)} (${x.dtype}); ` +
        `both f32 and the first shape must end the second`,
    );
  const cols = p.size;
  const rows = x.size / cols;
  return record({
    op,
    attrs: { kind: 'addBroadcast' },
    inputs: [x, p],
    outputs: [{ shape: x.shape }],
    build: ([xv, pv], [yv], ctx) => [
      biasActDispatch(ctx.gpu, {
        rows,
        cols,
        act: 'identity',
        x: xv.buffer,
        b: pv.buffer,
        y: yv.buffer,
        offsets: { x: xv.offset, b: pv.offset, y: yv.offset },
        label: op,
      }),
    ],
    backward: ([dy], needs) => [
      needs[0] ? dy : null,
      needs[1] && dy ? reshapeValue(columnSum(dy, cols, `${op}.dp`), p.shape) : null,
    ],
  })[0];
}
