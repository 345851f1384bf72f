// Host side of the fused cell-step kernels: shaders/lstm_step.wgsl, shaders/gru_step.wgsl and
// shaders/rnn_step.wgsl (which share shaders/recurrent_matvec.wgsl and step_params.wgsl).
import type { Gpu } from '../gpu/device.js';
import type { GpuTuning } from '../gpu/tuning.js';
import type { Dispatch } from '../gpu/dispatch.js';
import { ArgumentError, ShapeError } from '../util/errors.js';

import { gateCount, type CellKind, type RecurrentActivation } from './recurrentConfig.js';
import { defineShader, type ShaderRef, type WgslShader } from '../gpu/kernel.js';
import rnnStepWgsl from '../../shaders/rnn_step.wgsl?raw';
import activationsWgsl from '../../shaders/activations.wgsl?raw';
import stepParamsWgsl from '../../shaders/step_params.wgsl?raw';
import recurrentMatvecWgsl from '../../shaders/recurrent_matvec.wgsl?raw';
import lstmStepWgsl from '../../shaders/lstm_step.wgsl?raw';
import gruStepWgsl from '../../shaders/gru_step.wgsl?raw';
import stepThreadWgsl from '../../shaders/step_thread.wgsl?raw';
import repackWhhWgsl from '../../shaders/repack_whh.wgsl?raw';
import projectWgsl from '../../shaders/recurrent_matvec_project.wgsl?raw';
import weightsWgsl from '../../shaders/recurrent_weights.wgsl?raw';
import weightsF16Wgsl from '../../shaders/recurrent_weights_f16.wgsl?raw';
import weightsInt8Wgsl from '../../shaders/recurrent_weights_int8.wgsl?raw';
import stepEnableWgsl from '../../shaders/step_enable.wgsl?raw';
import stepEnableSubgroupsWgsl from '../../shaders/step_enable_subgroups.wgsl?raw';
import stepRowsWgsl from '../../shaders/step_rows.wgsl?raw';
import stepRowsSubgroupsWgsl from '../../shaders/step_rows_subgroups.wgsl?raw';

/**
 * How an inference plan's recurrent kernels read W_hh: `'f32'` (the parameters), or a copy made
 * at the start of each forward (src/kernels/quantizeWhh.ts) as `'f16'` or `'int8'` (one scale per
 * W_hh row); the arithmetic stays f32.
 */
export type RecurrentWeights = 'f32' | 'f16' | 'int8';

/** recurrent_weights*.wgsl of each storage: what a recurrent forward kernel includes for W_hh. */
export const WEIGHT_INCLUDES: Record<RecurrentWeights, Record<string, string>> = {
  f32: { 'recurrent_weights.wgsl': weightsWgsl },
  f16: { 'recurrent_weights.wgsl': weightsF16Wgsl },
  int8: { 'recurrent_weights.wgsl': weightsInt8Wgsl },
};

/** What every cell-step shader includes (with the W_hh reader of `weights`). */
export const stepIncludes = (weights: RecurrentWeights) => ({
  'activations.wgsl': activationsWgsl,
  'step_params.wgsl': stepParamsWgsl,
  'recurrent_matvec.wgsl': recurrentMatvecWgsl,
  'step_rows.wgsl': stepRowsWgsl,
  ...WEIGHT_INCLUDES[weights],
});
/**
 * The LSTM / GRU step shaders' includes: stepIncludes and the thread's body (step_thread.wgsl);
 * `shared`: their quads share the loads of h_{t−1} ({@link forwardSharedRows}).
 */
const gateStepIncludes = (weights: RecurrentWeights, shared = false) => ({
  ...stepIncludes(weights),
  'step_thread.wgsl': stepThreadWgsl,
  'step_enable.wgsl': shared ? stepEnableSubgroupsWgsl : stepEnableWgsl,
  ...(shared ? { 'step_rows.wgsl': stepRowsSubgroupsWgsl } : {}),
});
/** A shader variant's name: the file, then `#f16` / `#int8` for a quantized W_hh. */
export const variantName = (file: string, weights: RecurrentWeights) =>
  weights === 'f32' ? file : `${file}#${weights}`;
const cellShaders = (weights: RecurrentWeights): Record<CellKind, WgslShader> => ({
  rnn: defineShader(variantName('rnn_step.wgsl', weights), rnnStepWgsl, stepIncludes(weights)),
  lstm: defineShader(variantName('lstm_step.wgsl', weights), lstmStepWgsl, gateStepIncludes(weights)),
  gru: defineShader(variantName('gru_step.wgsl', weights), gruStepWgsl, gateStepIncludes(weights)),
});
const CELL_SHADERS: Record<RecurrentWeights, Record<CellKind, WgslShader>> = /*#__PURE__*/ (() => ({
  f32: cellShaders('f32'),
  f16: cellShaders('f16'),
  int8: cellShaders('int8'),
}))();
/** The LSTM / GRU step shaders whose quads share the loads of h_{t−1}, `…#subgroups`. */
const sharedRowShaders = (weights: RecurrentWeights) => ({
  lstm: defineShader(
    `${variantName('lstm_step.wgsl', weights)}#subgroups`,
    lstmStepWgsl,
    gateStepIncludes(weights, true),
  ),
  gru: defineShader(`${variantName('gru_step.wgsl', weights)}#subgroups`, gruStepWgsl, gateStepIncludes(weights, true)),
});
const SHARED_ROW_SHADERS = /*#__PURE__*/ (() => ({
  f32: sharedRowShaders('f32'),
  f16: sharedRowShaders('f16'),
  int8: sharedRowShaders('int8'),
}))();
const LSTM_STEP_SHADER = CELL_SHADERS.f32.lstm;
const REPACK_WHH_SHADER = /*#__PURE__*/ defineShader('repack_whh.wgsl', repackWhhWgsl);
const PROJECT_SHADER = /*#__PURE__*/ defineShader('recurrent_matvec_project.wgsl', projectWgsl, {
  'step_params.wgsl': stepParamsWgsl,
});

export const CELL_SHADER: Record<CellKind, WgslShader> = CELL_SHADERS.f32;

/** vec4 columns of the repacked recurrent weight: one per unit (LSTM, GRU) or per 4 units (RNN). */
export function repackedCols(cell: CellKind, hidden: number): number {
  return cell === 'rnn' ? Math.ceil(hidden / 4) : hidden;
}

/** Where W_hh[row, k] (PyTorch layout [G·H, H]) lives in the repacked Wp ([H, cols] vec4). */
function repackIndex(cell: CellKind, hidden: number, row: number, k: number): number {
  const cols = repackedCols(cell, hidden);
  if (cell === 'rnn') return (k * cols + (row >> 2)) * 4 + (row & 3);
  const gate = Math.floor(row / hidden);
  const unit = row % hidden;
  return (k * cols + unit) * 4 + gate;
}

/**
 * PyTorch `weight_hh` [G·H, K] → the kernels' layout (see shaders/recurrent_matvec.wgsl). K is
 * H, or an LSTM's projection size P (W_hh [4H, P]). An LSTM's `weight_hr` [P, H] is repacked as
 * an RNN's W_hh with hidden = P, inner = H (shaders/recurrent_matvec_project.wgsl).
 * @param cell - `'rnn'`, `'lstm'` or `'gru'` (gate count 1, 4 or 3).
 * @param whh - PyTorch's `weight_hh_l*` [G·H, K], row-major.
 * @param hidden - H, the hidden size.
 * @param inner - K, the row length of `whh` (default H).
 * @returns The repacked matrix as [K, cols] vec4s (cols = H, or ⌈H/4⌉ for an RNN).
 * @throws ShapeError if `whh` does not hold G·H·K values.
 */
export function repackWhh(cell: CellKind, whh: ArrayLike<number>, hidden: number, inner = hidden): Float32Array {
  const rows = gateCount(cell) * hidden;
  if (whh.length !== rows * inner)
    throw new ShapeError(`repackWhh: expected ${rows}×${inner} values, got ${whh.length}`);
  const out = new Float32Array(inner * repackedCols(cell, hidden) * 4);
  for (let row = 0; row < rows; row++)
    for (let k = 0; k < inner; k++) out[repackIndex(cell, hidden, row, k)] = whh[row * inner + k];
  return out;
}

/**
 * The backward kernels' W_hh layout (recurrent_matvec_backward.wgsl): the vec4 transpose of
 * {@link repackWhh}'s [K, cols] matrix, i.e. Wb[col, k] = Wp[k, col].
 */
export function repackWhhBackward(
  cell: CellKind,
  whh: ArrayLike<number>,
  hidden: number,
  inner = hidden,
): Float32Array {
  const wp = repackWhh(cell, whh, hidden, inner);
  const cols = repackedCols(cell, hidden);
  const out = new Float32Array(wp.length);
  for (let k = 0; k < inner; k++)
    for (let col = 0; col < cols; col++)
      for (let c = 0; c < 4; c++) out[(col * inner + k) * 4 + c] = wp[(k * cols + col) * 4 + c];
  return out;
}

/**
 * Inverse of {@link repackWhh}: the kernels' layout → PyTorch `weight_hh` [G·H, K].
 * @param cell - `'rnn'`, `'lstm'` or `'gru'`.
 * @param wp - A matrix in {@link repackWhh}'s layout.
 * @param hidden - H, the hidden size.
 * @param inner - K, the row length of `weight_hh` (default H).
 * @returns `weight_hh` [G·H, K], row-major.
 */
export function unpackWhh(cell: CellKind, wp: ArrayLike<number>, hidden: number, inner = hidden): Float32Array {
  const rows = gateCount(cell) * hidden;
  const out = new Float32Array(rows * inner);
  for (let row = 0; row < rows; row++)
    for (let k = 0; k < inner; k++) out[row * inner + k] = wp[repackIndex(cell, hidden, row, k)];
  return out;
}

/** Bytes of one repacked matrix ({@link repackWhh}) of `cell` with `hidden` units and row length `inner`. */
export function repackedBytes(cell: CellKind, hidden: number, inner = hidden): number {
  return inner * repackedCols(cell, hidden) * 16;
}

/** Per-timestep values of the StepParams uniform (element offsets and strides). */
export interface StepParams {
  batch: number;
  hidden: number;
  cols: number;
  xOffset: number;
  xStrideB: number;
  hOffset: number;
  hStrideB: number;
  stateOffset: number;
  row0: number;
  rowStrideB: number;
  hprevBase: number;
  cprevBase: number;
  /** The timestep of this slot (read only with per-row lengths). */
  t: number;
  /** LSTM with per-row lengths: element offset in `c` of the i32 lengths [batch]; else 0. */
  lengthsBase: number;
}

/**
 * Bytes of one slot of kernel `shader`'s uniform `binding` when a plan stores one slot per
 * timestep in one buffer (bound with an offset): the struct size rounded to the device's
 * minUniformBufferOffsetAlignment.
 */
export function uniformSlotSize(gpu: Gpu, shader: ShaderRef, binding = 'params'): number {
  const size = gpu.kernel(shader).source.uniforms.get(binding)!.size;
  const align = gpu.device.limits.minUniformBufferOffsetAlignment;
  return Math.ceil(size / align) * align;
}

/** Writes `values` as kernel `shader`'s uniform struct `binding` into `target` at byte `offset`. */
export function packUniformSlot(
  gpu: Gpu,
  shader: ShaderRef,
  values: object,
  target: ArrayBuffer,
  offset: number,
  binding = 'params',
): void {
  const bytes = gpu.kernel(shader).source.packUniform(binding, values as Record<string, number>);
  new Uint8Array(target, offset, bytes.byteLength).set(new Uint8Array(bytes));
}

/** Bytes of one StepParams slot. */
export function stepSlotSize(gpu: Gpu): number {
  return uniformSlotSize(gpu, LSTM_STEP_SHADER);
}

/** Writes one StepParams slot into `target` at byte `offset`. */
export function packStepParams(
  gpu: Gpu,
  cell: CellKind,
  values: StepParams,
  target: ArrayBuffer,
  offset: number,
): void {
  packUniformSlot(gpu, CELL_SHADER[cell], values, target, offset);
}

/** Buffers of one layer-direction, bound by one cell-step dispatch. */
export interface CellStepBuffers {
  xproj: GPUBuffer;
  /** The repacked W_hh (or its quantized copy); with `rows`, W_hh in the parameters. */
  wp: GPUBuffer | GPUBufferBinding;
  bhh: GPUBuffer | GPUBufferBinding;
  /** h_{t−1}: h0 on the first step, else the buffer the previous step wrote as `hnext`. */
  hprev: GPUBuffer;
  hnext: GPUBuffer;
  hseq: GPUBuffer;
  /** LSTM cell state: c0 on entry, cN after the last step. */
  c?: GPUBuffer;
  /** This step's StepParams slot. */
  params: GPUBufferBinding;
  /** Training: where the step saves what the backward needs (see the step kernels). */
  saved?: GPUBuffer;
  /**
   * Per-row sequence lengths (i32 [batch]) when the step runs with `lengths`. GRU / RNN bind it;
   * the LSTM step (already at 8 storage buffers) reads it from `c` at StepParams.lengthsBase, so
   * for an LSTM this must be the region of `c` after the state.
   */
  lengths?: GPUBufferBinding;
}

/** Thread layout of a step: WG threads per workgroup along units, BT batch rows per thread. */
export interface StepTile {
  wg: number;
  bt: number;
}

/**
 * The step tile, picked per adapter from measurements (bench --tiles, bench/RESULTS.md):
 * - a real GPU is latency-bound at these sizes and wants many threads: one batch row per thread,
 *   128 threads per workgroup (NVIDIA H200, LSTM B32 H256 T100: 3.4 ms vs 9.4 ms with 8 rows);
 * - a software adapter (SwiftShader, `isFallbackAdapter`) wants few, long threads: up to 8 rows
 *   per thread reuse each W_hh load 8 times; and at least 4 workgroups per step where the threads
 *   allow it (64 threads per workgroup, halved down to 8): it runs one workgroup on one CPU core,
 *   so a step of one workgroup leaves the other cores idle (LSTM B1 T100 H256 with 4 units per
 *   thread: 64 threads; 155–157 ms at one workgroup of 64, 86–117 ms at 4 of 16 or 8 of 8). More
 *   than 4 did not pay at B32 (LSTM training step 2742 ms at 4 workgroups, 3109 at 8).
 * @param batch - Batch rows.
 * @param fallbackAdapter - The adapter is a software one.
 * @param unitThreads - Threads along the units of one step ({@link stepUnitThreads}); unknown: 64.
 */
export function defaultStepTile(batch: number, fallbackAdapter = false, unitThreads = 64): StepTile {
  if (!fallbackAdapter) return { wg: 128, bt: 1 };
  const bt = Math.min(8, batch);
  const rowGroups = Math.ceil(batch / bt);
  let wg = 64;
  while (wg > 8 && Math.ceil(unitThreads / wg) * rowGroups < 4) wg /= 2;
  return { wg, bt };
}

/**
 * Threads along the units of one step dispatch: one per vec4 column of the repacked W_hh (LSTM /
 * GRU: a unit's gates; RNN: 4 units), a quarter of the units with 4 units per thread (`quad`).
 */
export function stepUnitThreads(cell: CellKind, hidden: number, quad: boolean): number {
  return cell === 'rnn' || quad ? Math.ceil(hidden / 4) : hidden;
}

/** The sizes and variant of one cell-step dispatch (forward; the backward takes the same but `save`). */
export interface CellStepOptions {
  /** H: hidden units. */
  hidden: number;
  /** Batch rows. */
  batch: number;
  /** RNN: the activation. Default tanh. */
  nonlinearity?: 'tanh' | 'relu';
  /** LSTM, GRU: the gates' activation. Default `'sigmoid'`. */
  gate?: RecurrentActivation;
  /** Threads per workgroup and batch rows per thread. */
  tile: StepTile;
  /** Names the dispatch in errors and profiles. */
  label: string;
  /** Forward: save the gates for the backward. */
  save?: boolean;
  /** Per-row sequence lengths are bound. */
  lengths?: boolean;
  /** LSTM: the projection size P (0: none). */
  proj?: number;
  /** Inference: how W_hh is read (`buffers.wp` then holds that copy). Default `'f32'`. */
  weights?: RecurrentWeights;
  /** LSTM, GRU: 4 hidden units per thread (see {@link forwardQuad}). */
  quad?: boolean;
  /**
   * GRU with `quad` and f32 weights: `buffers.wp` is W_hh as PyTorch stores it ([3H, H], the
   * parameters), read by gate rows (`ROWS` in shaders/recurrent_matvec.wgsl; see {@link gruRows}).
   */
  rows?: boolean;
  /** With `quad` and 2 or more rows per thread: a quad shares its loads of h_{t−1} ({@link forwardSharedRows}). */
  sharedRows?: boolean;
}

/**
 * Whether a GRU forward step with 4 units per thread reads W_hh as PyTorch stores it (`ROWS` in
 * shaders/recurrent_matvec.wgsl: 12 vec4 loads per 4 of k for 4 units, where the repacked layout,
 * whose 4th component is a GRU's zero, takes 16): with f32 weights, where the kernel can bind the
 * parameters themselves; a quantized copy (f16 / int8) is made from the repacked layout.
 */
export function gruRows(cell: CellKind, quad: boolean, weights: RecurrentWeights): boolean {
  return cell === 'gru' && quad && weights === 'f32';
}

/** Why a layer's forward step kernels cannot run 4 units per thread, or null where they can. */
export function forwardQuadBlocker(cfg: {
  cell: CellKind;
  hiddenSize: number;
  projSize?: number;
  resetAfter?: boolean;
}): string | null {
  if (cfg.cell === 'rnn') return 'an RNN (its kernel computes 4 units per thread already)';
  if (cfg.hiddenSize % 4 !== 0) return `hiddenSize ${cfg.hiddenSize} (not a multiple of 4)`;
  if (cfg.projSize) return `an LSTM with projSize ${cfg.projSize}`;
  if (cfg.cell === 'gru' && cfg.resetAfter === false) return 'a GRU with resetAfter false';
  return null;
}

/**
 * Whether a layer's LSTM / GRU forward step kernels run 4 hidden units per thread (QUAD in
 * shaders/recurrent_matvec.wgsl: each load of h_{t−1} serves 4 units) — gpu.tuning.forwardUnits:
 * `'auto'` (4 on a software adapter where the layer allows it, 1 on a GPU: not timed there), `1`,
 * or `4` (a ShapeError where it cannot run: an RNN, whose kernel already computes 4 units per
 * thread, a hidden size not a multiple of 4, an LSTM projection, a GRU with resetAfter false).
 * @param gpu - Its tuning and whether the adapter is software.
 * @param cfg - The layer.
 * @param where - Names the caller in errors.
 * @throws ArgumentError for an unknown value; ShapeError when 4 is forced where it cannot run.
 */
export function forwardQuad(
  gpu: Pick<Gpu, 'software'> & { tuning: Pick<GpuTuning, 'forwardUnits'> },
  cfg: { cell: CellKind; hiddenSize: number; projSize?: number; resetAfter?: boolean },
  where: string,
): boolean {
  const mode = gpu.tuning.forwardUnits;
  if (mode !== 'auto' && mode !== 1 && mode !== 4)
    throw new ArgumentError(`${where}: gpu.tuning.forwardUnits must be 'auto', 1 or 4, got ${String(mode)}`);
  const blocker = forwardQuadBlocker(cfg);
  if (mode === 4 && blocker) throw new ShapeError(`${where}: gpu.tuning.forwardUnits 4 cannot run ${blocker}`);
  return !blocker && (mode === 4 || (mode === 'auto' && gpu.software));
}

/**
 * Why the 4 threads of a quad cannot share loads through quadBroadcast on this device (its
 * subgroups absent or narrower than 4), or null where they can.
 */
export function quadShareBlocker(gpu: Pick<Gpu, 'features' | 'adapterInfo'>): string | null {
  const { subgroupMinSize } = gpu.adapterInfo;
  if (!gpu.features.subgroups) return 'a device without subgroups';
  return subgroupMinSize < 4 ? `subgroups of ${subgroupMinSize} invocations (quads need 4)` : null;
}

/**
 * Whether a layer's forward steps with 4 units per thread ({@link forwardQuad}) and `bt` ≥ 2 batch
 * rows per thread share each k-block's loads of h_{t−1} across the 4 threads of a quad
 * (shaders/step_rows_subgroups.wgsl: 1 or 2 vec4 loads per thread and quad broadcasts, where each
 * thread loads bt) — gpu.tuning.forwardRows: `'auto'` (shared on a software adapter with subgroups
 * at least 4 wide, where a load is a lane-by-lane gather and a broadcast a register shuffle; not on
 * a GPU: not timed there), `'loads'` or `'subgroups'` (a ShapeError where it cannot run: an RNN,
 * 1 unit or 1 row per thread, no subgroups or subgroups narrower than 4).
 * @param gpu - Its tuning, subgroup support and whether the adapter is software.
 * @param cell - The layer's cell.
 * @param quad - Whether its steps run 4 units per thread ({@link forwardQuad}'s answer).
 * @param bt - Batch rows per thread of its step tile.
 * @param where - Names the caller in errors.
 * @throws ArgumentError for an unknown value; ShapeError when 'subgroups' is forced where it cannot run.
 */
export function forwardSharedRows(
  gpu: QuadShareGpu & { tuning: Pick<GpuTuning, 'forwardRows'> },
  cell: CellKind,
  quad: boolean,
  bt: number,
  where: string,
): boolean {
  const blocker =
    cell === 'rnn'
      ? 'an RNN (its kernel has no 4-unit quads)'
      : !quad
        ? 'steps with 1 unit per thread (gpu.tuning.forwardUnits)'
        : bt < 2
          ? '1 batch row per thread (nothing to share)'
          : null;
  return quadShareChoice(gpu, 'forwardRows', gpu.tuning.forwardRows, blocker, where);
}

/** The GPU as {@link quadShareChoice} reads it. */
export type QuadShareGpu = Pick<Gpu, 'software' | 'features' | 'adapterInfo'>;

/**
 * A quad-sharing tuning (`forwardRows`, `backwardGates`) resolved: `mode` checked, then shared
 * where forced or (`'auto'`) on a software adapter, unless the layer (`layerBlocker`) or the device
 * ({@link quadShareBlocker}) rules it out.
 * @throws ArgumentError for an unknown mode; ShapeError when `'subgroups'` is forced where it cannot run.
 */
export function quadShareChoice(
  gpu: QuadShareGpu,
  name: string,
  mode: unknown,
  layerBlocker: string | null,
  where: string,
): boolean {
  if (mode !== 'auto' && mode !== 'loads' && mode !== 'subgroups')
    throw new ArgumentError(`${where}: gpu.tuning.${name} must be 'auto', 'loads' or 'subgroups', got ${String(mode)}`);
  const blocker = layerBlocker ?? quadShareBlocker(gpu);
  if (mode === 'subgroups' && blocker)
    throw new ShapeError(`${where}: gpu.tuning.${name} 'subgroups' cannot run ${blocker}`);
  return !blocker && (mode === 'subgroups' || (mode === 'auto' && gpu.software));
}

/** The GATE_ACT code of the LSTM / GRU kernels (activations.wgsl): 1 σ, 6 the hard sigmoid. */
export function gateActCode(gate: RecurrentActivation | undefined): number {
  return gate === 'hard_sigmoid' ? 6 : 1;
}

/** The tile of a step, checked: batch rows per thread in 1…8. */
export function checkStepTile(opts: Pick<CellStepOptions, 'tile' | 'label'>): StepTile {
  const { bt } = opts.tile;
  if (bt < 1 || bt > 8 || !Number.isInteger(bt))
    throw new ShapeError(`${opts.label}: batch rows per thread must be 1…8, got ${bt}`);
  return opts.tile;
}

/**
 * One fused timestep of `cell` over all batch rows and hidden units.
 * @param gpu - The device.
 * @param cell - Which step kernel: `'rnn'`, `'lstm'` or `'gru'`.
 * @param opts - `hidden` and `batch` sizes; `nonlinearity` of an RNN; the thread `tile`
 *   (`defaultStepTile`); `label`; `save`: also write what the backward needs (training); `lengths`:
 *   honour per-row sequence lengths.
 * @param buffers - The layer-direction's buffers: input projection, repacked weights, `b_hh`,
 *   ping-pong state, output sequence, LSTM cell state, this step's StepParams slot.
 * @returns One dispatch: ⌈cols / tile.wg⌉ × ⌈batch / tile.bt⌉ workgroups.
 * @throws ShapeError for a tile with more than 8 rows per thread or a buffer the options need
 *   (saved activations, lengths, LSTM cell state) that is missing.
 */
export function cellStepDispatch(gpu: Gpu, cell: CellKind, opts: CellStepOptions, buffers: CellStepBuffers): Dispatch {
  const { wg, bt } = checkStepTile(opts);
  if (opts.sharedRows && (cell === 'rnn' || !opts.quad || bt < 2))
    throw new ArgumentError(
      `${opts.label}: shared row loads need an LSTM / GRU step with quad and 2 or more rows per thread`,
    );
  const shader =
    opts.sharedRows && cell !== 'rnn'
      ? SHARED_ROW_SHADERS[opts.weights ?? 'f32'][cell]
      : CELL_SHADERS[opts.weights ?? 'f32'][cell];
  const proj = opts.proj ?? 0;
  if (proj && (opts.weights ?? 'f32') !== 'f32')
    throw new ArgumentError(`${opts.label}: a projection (proj) runs with f32 weights only`);
  if (proj && cell !== 'lstm') throw new ArgumentError(`${opts.label}: a projection (proj) is only for an LSTM step`);
  const quad = !!opts.quad;
  if (quad && (cell === 'rnn' || proj || opts.hidden % 4 !== 0))
    throw new ArgumentError(`${opts.label}: 4 units per thread need an LSTM / GRU step, hidden % 4 = 0, no projection`);
  const constants: Record<string, number | boolean> = {
    WG: wg,
    BT: bt,
    VEC_H: (proj || opts.hidden) % 4 === 0,
    SAVE: !!opts.save,
    LENGTHS: !!opts.lengths,
  };
  if (quad) constants.QUAD = true;
  if (opts.rows) {
    if (!gruRows(cell, quad, opts.weights ?? 'f32'))
      throw new ArgumentError(
        `${opts.label}: W_hh by rows (rows) is for a GRU step with quad and f32 weights, ` +
          `got cell '${cell}', quad ${quad}, weights '${opts.weights ?? 'f32'}'`,
      );
    constants.ROWS = true;
  }
  if (proj) constants.PROJ = proj;
  if (opts.save && !buffers.saved)
    throw new ArgumentError(`${opts.label}: a training step needs the saved-activations buffer`);
  if (opts.lengths && !buffers.lengths)
    throw new ShapeError(`${opts.label}: a step with per-row lengths needs the lengths buffer`);
  if (cell === 'rnn') constants.ACT = opts.nonlinearity === 'relu' ? 3 : 2;
  else constants.GATE_ACT = gateActCode(opts.gate);
  const resources: Record<string, GPUBuffer | GPUBufferBinding> = {
    xproj: buffers.xproj,
    Wp: buffers.wp,
    bhh: buffers.bhh,
    hprev: buffers.hprev,
    hnext: buffers.hnext,
    hseq: buffers.hseq,
    params: buffers.params,
    saved: buffers.saved ?? gpu.dummyBuffer,
  };
  if (cell === 'lstm') {
    if (!buffers.c) throw new ArgumentError(`${opts.label}: an LSTM step needs the cell-state buffer`);
    if (opts.lengths && buffers.lengths!.buffer !== buffers.c) {
      throw new ShapeError(
        `${opts.label}: an LSTM step reads its lengths from the cell-state buffer 'c' ` +
          `(after the state, at StepParams.lengthsBase), not from a separate buffer`,
      );
    }
    resources.c = buffers.c;
  } else {
    // Unused without LENGTHS: bound to a buffer this dispatch already reads (the dummy may be
    // bound as the writable `saved` here, and one buffer may not be both in a dispatch).
    resources.lengths = opts.lengths ? buffers.lengths! : buffers.xproj;
  }
  const cols = repackedCols(cell, opts.hidden);
  return {
    label: opts.label,
    pipeline: gpu.pipeline(shader, constants),
    bindGroup: gpu.bindGroup(shader, resources),
    workgroups: [Math.ceil(cols / (quad ? 4 * wg : wg)), Math.ceil(opts.batch / bt), 1],
  };
}

/**
 * One dispatch that rewrites both repacked W_hh (forward Wp, backward Wb) from PyTorch's layout
 * (shaders/repack_whh.wgsl),
 * run after each optimizer update. Its uniform is `transient`: the caller owns it. `inner` is
 * the row length K of `whh` (default hidden; see {@link repackWhh}).
 */
export function repackWhhDispatch(
  gpu: Gpu,
  cell: CellKind,
  hidden: number,
  whh: GPUBufferBinding,
  wp: GPUBuffer,
  wb: GPUBuffer,
  label: string,
  inner = hidden,
): Dispatch {
  const cols = repackedCols(cell, hidden);
  const maxWg = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (inner > maxWg)
    throw new ShapeError(
      `${label}: ${inner === hidden ? `hiddenSize ${hidden}` : `a weight row of ${inner}`} ` +
        `exceeds maxComputeWorkgroupsPerDimension (${maxWg})`,
    );
  const params = gpu.uniform(REPACK_WHH_SHADER, 'params', { hidden, cols, gates: gateCount(cell), inner });
  return {
    label,
    pipeline: gpu.pipeline(REPACK_WHH_SHADER, { KIND: cell === 'rnn' ? 0 : 1 }),
    bindGroup: gpu.bindGroup(REPACK_WHH_SHADER, { Whh: whh, Wp: wp, Wb: wb, params }),
    workgroups: [Math.ceil(cols / 64), inner, 1],
    transient: [params],
  };
}

/** Buffers of one projection step (shaders/recurrent_matvec_project.wgsl). */
export interface ProjectionBuffers {
  /** m of every row [rows, H] (the cell step's `hseq` with a projection). */
  m: GPUBuffer;
  /** W_hr repacked: repackWhh('rnn', W_hr, P, H). */
  wr: GPUBuffer;
  /** h_{t−1} [L·D, B, P]. */
  hprev: GPUBuffer;
  /** h_t [L·D, B, P]. */
  hnext: GPUBuffer;
  /** The layer's output sequence [rows, D·P]. */
  hseq: GPUBuffer;
  /** The cell step's StepParams slot. */
  params: GPUBufferBinding;
  /** Per-row sequence lengths (i32 [batch]) with `lengths` (an LSTM's: the region of `c` after the state). */
  lengths?: GPUBufferBinding;
}

/**
 * The projection of an LSTM with projSize P after each cell step: h_t = W_hr·m_t into the h state
 * and the output sequence (shaders/recurrent_matvec_project.wgsl).
 * @returns One dispatch: ⌈⌈P/4⌉ / tile.wg⌉ × ⌈batch / tile.bt⌉ workgroups.
 */
export function projectionDispatch(
  gpu: Gpu,
  opts: { proj: number; batch: number; tile: StepTile; label: string; lengths?: boolean },
  buffers: ProjectionBuffers,
): Dispatch {
  const { wg, bt } = checkStepTile(opts);
  if (opts.lengths && !buffers.lengths)
    throw new ShapeError(`${opts.label}: a projection step with per-row lengths needs the lengths buffer`);
  return {
    label: opts.label,
    pipeline: gpu.pipeline(PROJECT_SHADER, { WG: wg, BT: bt, PROJ: opts.proj, LENGTHS: !!opts.lengths }),
    bindGroup: gpu.bindGroup(PROJECT_SHADER, {
      m: buffers.m,
      Wr: buffers.wr,
      hprev: buffers.hprev,
      hnext: buffers.hnext,
      hseq: buffers.hseq,
      params: buffers.params,
      lengths: opts.lengths ? buffers.lengths! : gpu.dummyBuffer,
    }),
    workgroups: [Math.ceil(Math.ceil(opts.proj / 4) / wg), Math.ceil(opts.batch / bt), 1],
  };
}
