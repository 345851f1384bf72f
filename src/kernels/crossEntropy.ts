// Host side of shaders/cross_entropy.wgsl: fused softmax + cross-entropy (PyTorch
// F.cross_entropy, integer targets, ignore_index, reduction='mean'), loss rows and dLogits.
//
//   M = #counted rows (target ≠ ignoreIndex, in [0, C), rowMask ≠ 0 if given) — counted ON THE GPU
//   rowLoss[n] = (lse_n − x[n, t_n]) / M,   dLogits[n, c] = (softmax(x_n)_c − [c = t_n]) / M
//
// Two dispatches: PASS 0 (one workgroup) counts M into a 1-float `count` buffer, PASS 1 (rows
// spread over workgroups) writes rowLoss and dLogits. Because M is computed on the GPU from the
// targets buffer, nothing on the host needs updating when the targets change between steps.
// rowLoss holds each row's contribution to the mean, so reduce_sum over rowLoss IS the mean loss.
// M = 0 (every row ignored) gives loss 0 and zero gradients (PyTorch: NaN loss).
import type { Gpu } from '../gpu/device.js';
import type { Dispatch } from '../gpu/dispatch.js';
import { ArgumentError, ShapeError, fmtShape } from '../util/errors.js';
import { TENSOR_USAGE } from '../gpu/flags.js';
import { Tensor, expectRank } from '../gpu/tensor.js';
import { grid2d } from './grid.js';
import { reduceSumDispatches } from './reduceSum.js';
import { defineShader } from '../gpu/kernel.js';
import { reductionWidth } from '../gpu/tuning.js';
import crossEntropyWgsl from '../../shaders/cross_entropy.wgsl?raw';
import { checkView, type View } from './view.js';

const CROSS_ENTROPY_SHADER = /*#__PURE__*/ defineShader('cross_entropy.wgsl', crossEntropyWgsl);

const WG = 256;

/** Raw arguments of {@link crossEntropyDispatches}; sizes and offsets in elements. */
export interface CrossEntropyArgs {
  /** N rows (samples). */
  rows: number;
  /** C classes. */
  cols: number;
  /** [N, C] f32 logits. */
  logits: View;
  /** [N] i32 class indices (or ignoreIndex). */
  targets: View;
  /** [N] f32 output: each row's share of the mean loss. */
  rowLoss: View;
  /** [N, C] f32 output: d(mean loss)/d logits. Absent: only the loss is computed. */
  dLogits?: View;
  /** Optional [N] f32 row mask: rows with 0 are skipped like ignored rows. */
  rowMask?: View;
  /** 1 f32 where M is counted. Absent: a 16-byte pool buffer, listed in `transient`. */
  count?: View;
  /** Target value of rows to skip (PyTorch ignore_index). Default −100. */
  ignoreIndex?: number;
  /** Names the dispatches in errors and profiles. Default `'crossEntropy'`. */
  label?: string;
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/**
 * Prepares the two cross-entropy dispatches [count, rows]. Uniforms (and the count buffer when
 * not given) are `transient`: a plan that replays the dispatches takes them over.
 * @param gpu - The device.
 * @param args - Sizes and views (see {@link CrossEntropyArgs}).
 * @returns Two dispatches: count the rows that are not ignored, then each row's loss and dLogits.
 * @throws ShapeError for non-positive sizes, a missing or too small buffer, a bad offset, or an
 *   output that aliases an input.
 */
export function crossEntropyDispatches(gpu: Gpu, args: CrossEntropyArgs): Dispatch[] {
  const label = args.label ?? 'crossEntropy';
  const { rows, cols } = args;
  if (!Number.isInteger(rows) || rows <= 0 || !Number.isInteger(cols) || cols <= 0) {
    throw new ShapeError(`${label}: rows and cols must be positive integers, got logits ${rows}×${cols}`);
  }
  const ignoreIndex = args.ignoreIndex ?? -100;
  if (!Number.isInteger(ignoreIndex) || ignoreIndex < -0x80000000 || ignoreIndex > 0x7fffffff) {
    throw new ArgumentError(`${label}: ignoreIndex must be an i32, got ${ignoreIndex}`);
  }
  checkView(label, 'logits', args.logits, rows * cols);
  checkView(label, 'targets', args.targets, rows);
  checkView(label, 'rowLoss', args.rowLoss, rows);
  if (args.dLogits) checkView(label, 'dLogits', args.dLogits, rows * cols);
  if (args.rowMask) checkView(label, 'rowMask', args.rowMask, rows);
  if (args.count) checkView(label, 'count', args.count, 1);
  const inputs = [args.logits.buffer, args.targets.buffer, args.rowMask?.buffer];
  const outputs: Array<[string, GPUBuffer | undefined]> = [
    ['rowLoss', args.rowLoss.buffer],
    ['dLogits', args.dLogits?.buffer],
    ['count', args.count?.buffer],
  ];
  for (const [name, b] of outputs) {
    if (b && inputs.includes(b))
      throw new ArgumentError(
        `${label}: output '${name}' must not share a buffer with an input (logits, targets, rowMask)`,
      );
  }

  const transient: GPUBuffer[] = [];
  const scratch = (what: string) => {
    const b = gpu.pool.acquire(16, TENSOR_USAGE, `${label}.${what}`);
    transient.push(b);
    return b;
  };
  const count = args.count ?? { buffer: scratch('count'), offset: 0 };
  const dLogits = args.dLogits ?? { buffer: scratch('noGrad'), offset: 0 };
  const wg = reductionWidth(gpu, WG);
  const tpr = Math.min(wg, nextPow2(cols));
  const { gridX, workgroups } = grid2d(gpu, Math.ceil((rows * tpr) / wg), label);
  const params = gpu.uniform(CROSS_ENTROPY_SHADER, 'params', {
    rows,
    cols,
    offsetLogits: args.logits.offset ?? 0,
    offsetTargets: args.targets.offset ?? 0,
    offsetMask: args.rowMask?.offset ?? 0,
    offsetLoss: args.rowLoss.offset ?? 0,
    offsetGrad: dLogits.offset ?? 0,
    offsetCount: count.offset ?? 0,
    gridX,
    ignoreIndex,
  });
  transient.push(params);
  const bindGroup = gpu.bindGroup(CROSS_ENTROPY_SHADER, {
    logits: args.logits.buffer,
    targets: args.targets.buffer,
    rowMask: args.rowMask?.buffer ?? gpu.dummyBuffer,
    rowLoss: args.rowLoss.buffer,
    dLogits: dLogits.buffer,
    count: count.buffer,
    params,
  });
  const common = { WG: wg, HAS_MASK: !!args.rowMask, WRITE_GRAD: !!args.dLogits };
  return [
    {
      label: `${label}.count`,
      pipeline: gpu.pipeline(CROSS_ENTROPY_SHADER, { ...common, PASS: 0, TPR: wg }),
      bindGroup,
      workgroups: [1, 1, 1],
    },
    {
      label,
      pipeline: gpu.pipeline(CROSS_ENTROPY_SHADER, { ...common, PASS: 1, TPR: tpr }),
      bindGroup,
      workgroups,
      transient,
    },
  ];
}

/** Uploads class indices as i32 into a pool buffer (caller releases it). */
function uploadTargets(gpu: Gpu, what: string, targets: ArrayLike<number>, C: number, ignoreIndex: number): GPUBuffer {
  const data = Int32Array.from(targets as ArrayLike<number>);
  for (let n = 0; n < targets.length; n++) {
    const t = targets[n];
    if (t !== ignoreIndex && (!Number.isInteger(t) || t < 0 || t >= C)) {
      throw new ArgumentError(
        `${what}: targets[${n}] = ${t} is not a class in [0, ${C}) nor ignoreIndex (${ignoreIndex})`,
      );
    }
  }
  const b = gpu.pool.acquire(data.byteLength, TENSOR_USAGE, `${what}.targets`);
  gpu.device.queue.writeBuffer(b, 0, data);
  return b;
}

/**
 * Mean cross-entropy of `logits` ([…, C], the last dimension holds the classes) against integer
 * `targets` (one per row). Runs now (one submit, 3 or 4 dispatches) and returns the mean loss
 * as a 1-element tensor and dLogits (same shape as logits).
 * @param gpu - The device `logits` lives on.
 * @param logits - [N, C] (or any rank ≥ 2: rows are everything but the last dimension).
 * @param targets - N class indices in [0, C), or `ignoreIndex` for rows that do not count.
 * @param opts - `ignoreIndex` (default −100, as PyTorch).
 * @returns `loss` [1] (0 when every row is ignored) and `dLogits` (the shape of `logits`).
 * @throws ShapeError when `targets` has not N entries or holds a value that is neither in [0, C)
 *   nor `ignoreIndex`.
 */
export function crossEntropy(
  gpu: Gpu,
  logits: Tensor,
  targets: ArrayLike<number>,
  opts: { ignoreIndex?: number } = {},
): { loss: Tensor; dLogits: Tensor } {
  expectRank('crossEntropy', 'logits', logits, [2, 3, 4, 5, 6], gpu);
  const C = logits.shape[logits.shape.length - 1];
  const N = logits.size / C;
  if (!targets || targets.length !== N) {
    throw new ShapeError(
      `crossEntropy: argument 'targets' has ${targets?.length} elements, ` +
        `expected ${N} (one per row of logits ${fmtShape(logits.shape)})`,
    );
  }
  const ignoreIndex = opts.ignoreIndex ?? -100;
  if (!Number.isInteger(ignoreIndex) || ignoreIndex < -0x80000000 || ignoreIndex > 0x7fffffff) {
    throw new ArgumentError(`crossEntropy: ignoreIndex must be an i32, got ${ignoreIndex}`);
  }
  const tbuf = uploadTargets(gpu, 'crossEntropy', targets, C, ignoreIndex);
  const rowLoss = gpu.pool.acquire(N * 4, TENSOR_USAGE, 'crossEntropy.rowLoss');
  const loss = Tensor.empty(gpu, [1], 'crossEntropy.loss');
  const dLogits = Tensor.empty(gpu, logits.shape, 'crossEntropy.dLogits');
  const ce = crossEntropyDispatches(gpu, {
    rows: N,
    cols: C,
    logits: { buffer: logits.buffer },
    targets: { buffer: tbuf },
    rowLoss: { buffer: rowLoss },
    dLogits: { buffer: dLogits.buffer },
    ignoreIndex,
  });
  const sum = reduceSumDispatches(gpu, { x: rowLoss, n: N, out: { buffer: loss.buffer }, label: 'crossEntropy.sum' });
  sum[sum.length - 1] = {
    ...sum[sum.length - 1],
    transient: [...(sum[sum.length - 1].transient ?? []), tbuf, rowLoss],
  };
  gpu.run([...ce, ...sum]);
  return { loss, dLogits };
}
