// Fused losses (mean over rows): the forward also writes d(loss)/d(prediction), so the backward
// of a loss node is that buffer (the gradient seed of the whole backward).
//   crossEntropy: logits [..., C], targets [...] i32 (ignoreIndex rows skipped), PyTorch's mean
//   mse: pred [...], target [...] f32, mean over every element
import { ShapeError, fmtShape } from '../../util/errors.js';
import { crossEntropyDispatches } from '../../kernels/crossEntropy.js';
import { mseDispatch } from '../../kernels/mse.js';
import { reduceSumDispatches } from '../../kernels/reduceSum.js';
import type { Value } from '../graph.js';
import { record } from '../record.js';

/** Loss value [1] and its gradient seed d loss / d prediction. */
export interface LossValues {
  loss: Value;
  grad: Value;
}

/**
 * Records a fused loss. Returns the mean loss [1]; its node's backward hands out `grad`.
 * @param kind - `'crossEntropy'` or `'mse'`.
 * @param pred - Logits [..., C] (crossEntropy) or predictions (mse).
 * @param target - i32 class ids [...] (crossEntropy) or f32 of pred's shape (mse).
 * @param ignoreIndex - crossEntropy: target value of rows that do not count.
 */
export function lossValue(kind: 'crossEntropy' | 'mse', pred: Value, target: Value, ignoreIndex: number): Value {
  const C = pred.shape[pred.shape.length - 1];
  const ce = kind === 'crossEntropy';
  if (ce) {
    const rowsShape = pred.shape.slice(0, -1);
    const ok = target.dtype === 'i32' && target.size === pred.size / C;
    if (!ok)
      throw new ShapeError(
        `crossEntropy: targets have shape ${fmtShape(target.shape)} (${target.dtype}), ` +
          `expected i32 class ids of shape ${fmtShape(rowsShape.length ? rowsShape : [1])} ` +
          `for logits ${fmtShape(pred.shape)}`,
      );
  } else if (target.dtype !== 'f32' || target.size !== pred.size) {
    throw new ShapeError(
      `mse: targets have shape ${fmtShape(target.shape)} (${target.dtype}), expected ` +
        `f32 ${fmtShape(pred.shape)} like the prediction`,
    );
  }
  const rows = ce ? pred.size / C : pred.size / C;
  const [loss, grad, rowLoss] = record({
    op: kind,
    inputs: [pred, target],
    outputs: [{ shape: [1] }, { shape: pred.shape }, { shape: [rows] }],
    build: ([pv, tv], [lv, gv, rv], ctx) => [
      ...(ce
        ? crossEntropyDispatches(ctx.gpu, {
            rows,
            cols: C,
            logits: pv,
            targets: tv,
            rowLoss: rv,
            dLogits: gv,
            ignoreIndex,
            label: kind,
          })
        : [mseDispatch(ctx.gpu, { rows, cols: C, pred: pv, target: tv, rowLoss: rv, dPred: gv, label: kind })]),
      ...reduceSumDispatches(ctx.gpu, { x: rv.buffer, offset: rv.offset, n: rows, out: lv, label: `${kind}.sum` }),
    ],
    backward: (_grads, needs, outs) => [needs[0] ? outs[1] : null, null],
  });
  loss.pinned = true;
  void grad;
  void rowLoss;
  return loss;
}
