// Host side of shaders/mse.wgsl: mean squared error (PyTorch F.mse_loss, reduction='mean').
//
//   K = rows · cols,   rowLoss[r] = Σ_c (p − t)² / K,   dPred = 2 (p − t) / K
//
// One dispatch. rowLoss holds each row's share of the mean, so reduce_sum over rowLoss is the
// loss. `rows`/`cols` only shape the work (any factorisation of K gives the same loss): a row is
// reduced by one workgroup segment of min(256, nextPow2(cols)) threads; prefer cols ≥ 32 for
// big K given as one row (a single row is reduced by a single workgroup).
import type { Gpu } from '../gpu/device.js';
import type { Dispatch } from '../gpu/dispatch.js';
import { ArgumentError, ShapeError } from '../util/errors.js';
import { TENSOR_USAGE } from '../gpu/flags.js';
import { Tensor, expectRank, expectShape } from '../gpu/tensor.js';
import { grid2d } from './grid.js';
import { reduceSumDispatches } from './reduceSum.js';
import { defineShader } from '../gpu/kernel.js';
import { reductionWidth } from '../gpu/tuning.js';
import mseWgsl from '../../shaders/mse.wgsl?raw';
import { checkView, type View } from './view.js';

const MSE_SHADER = /*#__PURE__*/ defineShader('mse.wgsl', mseWgsl);

const WG = 256;

/** Raw arguments of {@link mseDispatch}; sizes and offsets in elements. */
export interface MseArgs {
  /** Rows (a row's squared errors are summed by one workgroup segment). */
  rows: number;
  /** Elements per row; rows · cols = K, the count the mean divides by. */
  cols: number;
  /** [rows, cols] predictions. */
  pred: View;
  /** [rows, cols] targets. */
  target: View;
  /** [rows] output: each row's share of the mean loss. */
  rowLoss: View;
  /** [rows, cols] output: d(mean loss)/d pred. Absent: only the loss is computed. */
  dPred?: View;
  /** Names the dispatch in errors and profiles. Default `'mse'`. */
  label?: string;
}

/**
 * Prepares the MSE dispatch. Its uniform (and a 16-byte stand-in for an absent dPred) is `transient`.
 * @param gpu - The device.
 * @param args - Sizes and views (see {@link MseArgs}).
 * @throws ShapeError for non-positive sizes, a missing or too small buffer, a bad offset, or an
 *   output that aliases an input.
 */
export function mseDispatch(gpu: Gpu, args: MseArgs): Dispatch {
  const label = args.label ?? 'mse';
  const { rows, cols } = args;
  if (!Number.isInteger(rows) || rows <= 0 || !Number.isInteger(cols) || cols <= 0) {
    throw new ShapeError(`${label}: rows and cols must be positive integers, got ${rows}×${cols}`);
  }
  checkView(label, 'pred', args.pred, rows * cols);
  checkView(label, 'target', args.target, rows * cols);
  checkView(label, 'rowLoss', args.rowLoss, rows);
  if (args.dPred) checkView(label, 'dPred', args.dPred, rows * cols);
  for (const [name, b] of [
    ['rowLoss', args.rowLoss.buffer],
    ['dPred', args.dPred?.buffer],
  ] as const) {
    if (b && (b === args.pred.buffer || b === args.target.buffer))
      throw new ArgumentError(`${label}: output '${name}' must not share a buffer with 'pred' or 'target'`);
  }
  const transient: GPUBuffer[] = [];
  let dPred = args.dPred;
  if (!dPred) {
    dPred = { buffer: gpu.pool.acquire(16, TENSOR_USAGE, `${label}.noGrad`) };
    transient.push(dPred.buffer);
  }
  const wg = reductionWidth(gpu, WG);
  const tpr = Math.min(wg, 2 ** Math.ceil(Math.log2(cols)));
  const { gridX, workgroups } = grid2d(gpu, Math.ceil((rows * tpr) / wg), label);
  const params = gpu.uniform(MSE_SHADER, 'params', {
    rows,
    cols,
    offsetPred: args.pred.offset ?? 0,
    offsetTarget: args.target.offset ?? 0,
    offsetLoss: args.rowLoss.offset ?? 0,
    offsetGrad: dPred.offset ?? 0,
    gridX,
    invK: 1 / (rows * cols),
  });
  transient.push(params);
  return {
    label,
    pipeline: gpu.pipeline(MSE_SHADER, { WG: wg, TPR: tpr, WRITE_GRAD: !!args.dPred }),
    bindGroup: gpu.bindGroup(MSE_SHADER, {
      pred: args.pred.buffer,
      targetValues: args.target.buffer,
      rowLoss: args.rowLoss.buffer,
      dPred: dPred.buffer,
      params,
    }),
    workgroups,
    transient,
  };
}

/**
 * Mean squared error of `pred` against `target` (same shape). Runs now (one submit, 2–3 dispatches).
 * @param gpu - The device the tensors live on.
 * @param pred - Predictions, any shape of rank 1 to 6.
 * @param target - Targets, the shape of `pred`.
 * @returns `loss` [1] = mean((pred − target)²) and `dPred` = 2·(pred − target)/K (the shape of
 *   `pred`).
 * @throws ShapeError when `target`'s shape differs from `pred`'s.
 */
export function mse(gpu: Gpu, pred: Tensor, target: Tensor): { loss: Tensor; dPred: Tensor } {
  expectRank('mse', 'pred', pred, [1, 2, 3, 4, 5, 6], gpu);
  expectShape('mse', 'target', target, pred.shape, "must match 'pred'", gpu);
  const cols = pred.shape[pred.shape.length - 1];
  const rows = pred.size / cols;
  const rowLoss = gpu.pool.acquire(rows * 4, TENSOR_USAGE, 'mse.rowLoss');
  const loss = Tensor.empty(gpu, [1], 'mse.loss');
  const dPred = Tensor.empty(gpu, pred.shape, 'mse.dPred');
  const d = mseDispatch(gpu, {
    rows,
    cols,
    pred: { buffer: pred.buffer },
    target: { buffer: target.buffer },
    rowLoss: { buffer: rowLoss },
    dPred: { buffer: dPred.buffer },
  });
  const sum = reduceSumDispatches(gpu, { x: rowLoss, n: rows, out: { buffer: loss.buffer }, label: 'mse.sum' });
  const last = sum.length - 1;
  sum[last] = { ...sum[last], transient: [...(sum[last].transient ?? []), rowLoss] };
  gpu.run([d, ...sum]);
  return { loss, dPred };
}
