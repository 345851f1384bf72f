// The sizes a recurrent plan (src/graph/recurrentPlan.ts) and its backward
// (src/graph/recurrentBackward.ts) allocate for one (seqLen, batch), checked against the device's
// limits BEFORE anything is allocated: a plan that cannot be built is a ShapeError naming seqLen,
// batch and the limit, never a GPU validation error nor a half-built plan's buffers left behind.
import type { Gpu } from '../gpu/device.js';
import { ArgumentError, ShapeError } from '../util/errors.js';
import { checkWorkgroups } from '../gpu/limits.js';
import { stepSlotSize } from '../kernels/cellStep.js';
import { backwardSlotSize, dgatesWidth } from '../kernels/cellStepBackward.js';
import { gateCount, parameterShapes, realHiddenSize, type RecurrentConfig } from '../kernels/recurrentConfig.js';

/**
 * Cell-step dispatches one recorded plan holds at most (numLayers · directions · seqLen): a plan
 * is recorded once and replayed, and recording ~5·10⁵ dispatches already takes seconds and
 * hundreds of MB of bind groups. A longer sequence is split by the caller (truncated BPTT with
 * carryState) — the error names the largest seqLen that fits.
 */
export const MAX_RECORDED_STEPS = 2 ** 19;

/**
 * Why the (training when `training`) plan for (seqLen, batch) does not fit the device, or null:
 * every buffer within one storage binding (maxStorageBufferBindingSize), its per-step uniforms in
 * one buffer (maxBufferSize), at most {@link MAX_RECORDED_STEPS} cell steps.
 */
function planViolation(
  gpu: Gpu,
  cfg: RecurrentConfig,
  seqLen: number,
  batch: number,
  training: boolean,
): string | null {
  const { cell, hiddenSize: H, numLayers: L, inputSize } = cfg;
  const D = cfg.bidirectional ? 2 : 1;
  const G = gateCount(cell);
  const P = realHiddenSize(cfg); // features of h: an LSTM's projSize, else H
  const rows = seqLen * batch;
  const gatesWidth = cell === 'rnn' ? H : 4 * H;
  const align = Math.max(1, gpu.device.limits.minStorageBufferOffsetAlignment / 4);
  if (L * D * seqLen > MAX_RECORDED_STEPS)
    return (
      `${L * D * seqLen} recorded cell steps (numLayers ${L} × ${D} direction(s) × ` +
      `seqLen), more than seqgpu records in one plan (${MAX_RECORDED_STEPS}); split ` +
      `the sequence (truncated BPTT with carryState)`
    );
  const buffers: Array<[string, number]> = [
    ['the input [seqLen·batch, inputSize]', rows * inputSize],
    [`the input projection x·W_ihᵀ [seqLen·batch, ${G}·hiddenSize]`, rows * G * H],
    [
      cfg.projSize
        ? 'the output sequence [seqLen·batch, D·projSize]'
        : 'the output sequence [seqLen·batch, D·hiddenSize]',
      rows * D * P,
    ],
    // (an LSTM with lengths keeps them after its cell state, at the next aligned offset)
    ['the state [numLayers·D, batch, hiddenSize]', Math.ceil((L * D * batch * H) / align) * align + batch],
  ];
  if (training) {
    buffers.push([
      cfg.projSize
        ? 'the saved activations [seqLen·batch, 5·hiddenSize + projSize]'
        : `the saved activations [seqLen·batch, ${cell === 'lstm' ? 6 : cell === 'gru' ? 5 : 2}·hiddenSize]`,
      rows * (gatesWidth + P + (cell === 'lstm' ? H : 0)),
    ]);
    buffers.push([
      `the gate gradients [seqLen·batch + batch, ${dgatesWidth(cell, H) / H}·hiddenSize]`,
      (rows + batch) * dgatesWidth(cell, H),
    ]);
  }
  const limit = gpu.limits.maxStorageBufferBindingSize;
  for (const [what, elements] of buffers) {
    if (elements * 4 > limit)
      return `${what} of ${elements * 4} bytes, more than this device's maxStorageBufferBindingSize (${limit})`;
  }
  const slot = Math.max(stepSlotSize(gpu), training ? backwardSlotSize(gpu) : 0);
  if (seqLen * slot > gpu.limits.maxBufferSize)
    return (
      `${seqLen * slot} bytes of per-step uniforms (${slot} per step), more than this ` +
      `device's maxBufferSize (${gpu.limits.maxBufferSize})`
    );
  return null;
}

/**
 * Throws a ShapeError unless the (training when `training`) plan for (seqLen, batch) fits (see
 * planViolation) and a step's grid fits maxComputeWorkgroupsPerDimension with `batchPerThread`
 * rows per thread. The message names `op`, the limit and the largest seqLen that fits.
 */
export function checkRecurrentPlanLimits(
  gpu: Gpu,
  op: string,
  cfg: RecurrentConfig,
  seqLen: number,
  batch: number,
  training: boolean,
  batchPerThread = 1,
): void {
  checkWorkgroups(
    gpu,
    op,
    `batch ${batch} (${batchPerThread} rows per thread) in one step`,
    Math.ceil(batch / batchPerThread),
  );
  const why = planViolation(gpu, cfg, seqLen, batch, training);
  if (!why) return;
  // Every limit grows with seqLen: bisect for the largest that fits (O(log seqLen) checks).
  let [lo, hi] = [0, seqLen];
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (planViolation(gpu, cfg, mid, batch, training)) hi = mid;
    else lo = mid;
  }
  const fits =
    lo > 0
      ? `the largest seqLen that fits with batch ${batch} is ${lo}`
      : `no seqLen fits with batch ${batch}: use a smaller batch`;
  throw new ShapeError(`${op}: seqLen ${seqLen} × batch ${batch} needs ${why}; ${fits}`);
}

/**
 * Checks a layer's `stepTile` (wg threads per workgroup within the device's limits, bt batch rows
 * per thread in 1…8) and that its parameters and the repacked W_hh fit one storage binding each,
 * before the layer allocates anything.
 */
export function checkRecurrentLayerLimits(
  gpu: Gpu,
  op: string,
  cfg: RecurrentConfig,
  tile: { wg?: number; bt?: number } | undefined,
): void {
  if (tile !== undefined && (tile === null || typeof tile !== 'object'))
    throw new ArgumentError(`${op}: stepTile must be an object { wg?, bt? }, got ${String(tile)}`);
  const maxWg = Math.min(gpu.limits.maxComputeInvocationsPerWorkgroup, gpu.limits.maxComputeWorkgroupSizeX);
  if (tile?.wg !== undefined && !(Number.isInteger(tile.wg) && tile.wg >= 1 && tile.wg <= maxWg)) {
    throw new ShapeError(
      `${op}: stepTile.wg must be an integer in [1, ${maxWg}] (maxComputeInvocationsPerWorkgroup), got ${tile.wg}`,
    );
  }
  if (tile?.bt !== undefined && !(Number.isInteger(tile.bt) && tile.bt >= 1 && tile.bt <= 8)) {
    throw new ShapeError(`${op}: stepTile.bt (batch rows per thread) must be an integer in [1, 8], got ${tile.bt}`);
  }
  const { hiddenSize: H, inputSize } = cfg;
  const G = gateCount(cfg.cell);
  const D = cfg.bidirectional ? 2 : 1;
  const P = realHiddenSize(cfg);
  const limit = gpu.limits.maxStorageBufferBindingSize;
  const biggestInput = Math.max(inputSize, cfg.numLayers > 1 ? D * P : 0);
  // The layer's parameters share one buffer (each padded to the storage offset alignment).
  const align = Math.max(1, gpu.device.limits.minStorageBufferOffsetAlignment / 4);
  let total = 0;
  for (const { shape } of parameterShapes(cfg)) total += Math.ceil(shape.reduce((a, b) => a * b, 1) / align) * align;
  for (const [what, elements] of [
    [`weight_ih [${G}·hiddenSize, ${biggestInput}]`, G * H * biggestInput],
    [
      cfg.projSize
        ? `the repacked weight_hh [projSize, ${G}·hiddenSize]`
        : `the repacked weight_hh [hiddenSize, ${G}·hiddenSize]`,
      4 * H * P,
    ],
    ['all parameters of the layer', total],
  ] as const) {
    if (elements * 4 > limit) {
      throw new ShapeError(
        `${op}: inputSize ${inputSize}, hiddenSize ${H}, ` +
          `numLayers ${cfg.numLayers}: ${what} needs ${elements * 4} bytes, more than this ` +
          `device's maxStorageBufferBindingSize (${limit})`,
      );
    }
  }
}
