// Host side of shaders/recurrent_persistent.wgsl: a recurrent layer-direction's whole sequence
// (or a chunk of its steps) in one dispatch, one workgroup per group of batch rows.
import type { Gpu } from '../gpu/device.js';
import type { Dispatch } from '../gpu/dispatch.js';
import { ArgumentError, ShapeError } from '../util/errors.js';
import { defineShader } from '../gpu/kernel.js';
import { measuredRecurrentKernel } from '../gpu/tuning.js';
import type { CellKind, RecurrentActivation } from './recurrentConfig.js';
import {
  forwardQuadBlocker,
  gateActCode,
  uniformSlotSize,
  variantName,
  WEIGHT_INCLUDES,
  type RecurrentWeights,
} from './cellStep.js';
import persistentWgsl from '../../shaders/recurrent_persistent.wgsl?raw';
import persistentBodyWgsl from '../../shaders/persistent_body.wgsl?raw';
import persistentBidirWgsl from '../../shaders/recurrent_persistent_bidir.wgsl?raw';
import activationsWgsl from '../../shaders/activations.wgsl?raw';
import enableWgsl from '../../shaders/persistent_enable.wgsl?raw';
import enableSubgroupsWgsl from '../../shaders/persistent_enable_subgroups.wgsl?raw';
import splitWgsl from '../../shaders/persistent_split.wgsl?raw';
import splitSubgroupsWgsl from '../../shaders/persistent_split_subgroups.wgsl?raw';

/** How the SPLIT lanes of a column are summed: workgroup memory, or subgroup shuffles. */
export type SplitReduce = 'workgroup' | 'subgroups';

const persistentShader = (weights: RecurrentWeights, reduce: SplitReduce) =>
  defineShader(
    variantName('recurrent_persistent.wgsl', weights) + (reduce === 'subgroups' ? '#subgroups' : ''),
    persistentWgsl,
    {
      'activations.wgsl': activationsWgsl,
      ...WEIGHT_INCLUDES[weights],
      'persistent_enable.wgsl': reduce === 'subgroups' ? enableSubgroupsWgsl : enableWgsl,
      'persistent_split.wgsl': reduce === 'subgroups' ? splitSubgroupsWgsl : splitWgsl,
      'persistent_body.wgsl': persistentBodyWgsl,
    },
  );
const PERSISTENT_SHADERS = /*#__PURE__*/ (() => {
  const out = {} as Record<`${RecurrentWeights}.${SplitReduce}`, ReturnType<typeof persistentShader>>;
  for (const w of ['f32', 'f16', 'int8'] as const)
    for (const r of ['workgroup', 'subgroups'] as const) out[`${w}.${r}`] = persistentShader(w, r);
  return out;
})();
const PERSISTENT_SHADER = PERSISTENT_SHADERS['f32.workgroup'];
const bidirShader = (reduce: SplitReduce) =>
  defineShader(`recurrent_persistent_bidir.wgsl${reduce === 'subgroups' ? '#subgroups' : ''}`, persistentBidirWgsl, {
    'activations.wgsl': activationsWgsl,
    'persistent_enable.wgsl': reduce === 'subgroups' ? enableSubgroupsWgsl : enableWgsl,
    'persistent_split.wgsl': reduce === 'subgroups' ? splitSubgroupsWgsl : splitWgsl,
    'persistent_body.wgsl': persistentBodyWgsl,
  });
const BIDIR_SHADERS = /*#__PURE__*/ (() => ({
  workgroup: bidirShader('workgroup'),
  subgroups: bidirShader('subgroups'),
}))();
/** On a software adapter 'auto' runs an inference forward of this many rows or more with the persistent kernel. */
const SOFTWARE_PERSISTENT_BATCH = 32;
/** … and of this hidden size or more (the measured shapes: H 256). */
const SOFTWARE_PERSISTENT_HIDDEN = 128;

/** Storage buffers of the two-direction kernel (recurrent_persistent_bidir.wgsl). */
const BIDIR_STORAGE_BUFFERS = 12;

const CELL_CODE: Record<CellKind, number> = { rnn: 0, lstm: 1, gru: 2 };

/** Thread layout of the persistent kernel: `wg` threads per workgroup, `bt` batch rows per workgroup. */
export interface PersistentTile {
  wg: number;
  bt: number;
  /** Lanes per W_hh column (split-K): a power of two dividing `wg`; default 1. */
  split?: number;
  /** How the split lanes are summed (with split > 1); default `'workgroup'`. */
  reduce?: SplitReduce;
}

/** Values of the PersistentParams uniform (element offsets and strides; see the shader). */
export interface PersistentParams {
  batch: number;
  hidden: number;
  cols: number;
  seqLen: number;
  stepBegin: number;
  steps: number;
  reverse: number;
  rowStrideT: number;
  rowStrideB: number;
  hWidth: number;
  hDirOffset: number;
  stateOffset: number;
  hprevBase: number;
  cprevBase: number;
  lengthsBase: number;
}

/**
 * Workgroup memory the persistent kernel needs: h of its rows, double-buffered (2·bt·⌈H/4⌉ vec4s),
 * and the split-K partial sums (one vec4 per thread with workgroup-memory sums).
 * @param hidden - H.
 * @param bt - Batch rows per workgroup.
 * @param splitSlots - vec4 slots of the split sums (wg with split > 1 summed in workgroup memory, else 0).
 * @returns Bytes.
 */
export function persistentWorkgroupBytes(hidden: number, bt: number, splitSlots = 0): number {
  return (2 * bt * Math.ceil(hidden / 4) + splitSlots) * 16;
}

/**
 * Whether the persistent kernel can run `cell` with this shape on `gpu`: no LSTM projection, and the
 * rows' double-buffered h within maxComputeWorkgroupStorageSize.
 * @param gpu - Its limits.
 * @param hidden - H.
 * @param bt - Batch rows per workgroup.
 * @param projSize - An LSTM's projSize (0: none); a projection runs only with the step kernels.
 */
export function persistentFits(gpu: Gpu, hidden: number, bt: number, projSize = 0): boolean {
  return !projSize && persistentWorkgroupBytes(hidden, bt) <= gpu.limits.maxComputeWorkgroupStorageSize;
}

/** Bytes of one PersistentParams slot (a plan keeps one per chunk in one buffer, bound with an offset). */
export function persistentSlotSize(gpu: Gpu): number {
  return uniformSlotSize(gpu, PERSISTENT_SHADER);
}

/**
 * Writes one PersistentParams slot into `target` at byte `offset`.
 * @param gpu - The device.
 * @param values - Every member of the struct.
 * @param target - The slots' bytes.
 * @param offset - Byte offset of this slot.
 */
export function packPersistentParams(gpu: Gpu, values: PersistentParams, target: ArrayBuffer, offset: number): void {
  const bytes = gpu.kernel(PERSISTENT_SHADER).source.packUniform('params', values as unknown as Record<string, number>);
  new Uint8Array(target, offset, bytes.byteLength).set(new Uint8Array(bytes));
}

/**
 * Checks a persistent tile on `gpu` (rows per workgroup, split lanes, their sums, workgroup memory)
 * before anything is allocated, and returns the vec4 slots of its workgroup-memory split sums.
 * @param gpu - Its features, adapter info and limits.
 * @param label - Names the caller in errors.
 * @param hidden - H.
 * @param tile - The tile.
 * @throws ShapeError naming what does not fit.
 */
export function checkPersistentTile(gpu: Gpu, label: string, hidden: number, tile: PersistentTile): number {
  const { wg, bt } = tile;
  const split = tile.split ?? 1;
  const reduce = tile.reduce ?? 'workgroup';
  if (!Number.isInteger(bt) || bt < 1 || bt > 8)
    throw new ShapeError(`${label}: batch rows per workgroup must be an integer in [1, 8], got ${bt}`);
  if (!Number.isInteger(split) || split < 1 || (split & (split - 1)) !== 0 || wg % split !== 0)
    throw new ShapeError(`${label}: split (lanes per column) must be a power of two dividing wg ${wg}, got ${split}`);
  const minSubgroup = gpu.adapterInfo.subgroupMinSize;
  if (split > 1 && reduce === 'subgroups' && (!gpu.features.subgroups || split > minSubgroup))
    throw new ShapeError(
      `${label}: subgroup split sums need the 'subgroups' feature and split ≤ the adapter's ` +
        `smallest subgroup (${gpu.features.subgroups ? minSubgroup : 'no subgroups'}), got split ${split}`,
    );
  const red = split > 1 && reduce === 'workgroup' ? wg : 0;
  const bytes = persistentWorkgroupBytes(hidden, bt, red);
  if (bytes > gpu.limits.maxComputeWorkgroupStorageSize)
    throw new ShapeError(
      `${label}: the persistent kernel needs ${bytes} bytes of ` +
        `workgroup memory for ${bt} rows of hidden ${hidden}, more than this device's ` +
        `maxComputeWorkgroupStorageSize (${gpu.limits.maxComputeWorkgroupStorageSize})`,
    );
  return red;
}

/** Buffers of one persistent dispatch. */
export interface PersistentBuffers {
  xproj: GPUBuffer;
  wp: GPUBuffer;
  bhh: GPUBuffer | GPUBufferBinding;
  /** h entering the chunk: h0, or the previous chunk's `hout`. */
  hin: GPUBuffer;
  /** h after the chunk (hN after the last). */
  hout: GPUBuffer;
  hseq: GPUBuffer;
  /**
   * LSTM: the cell state (with the lengths after it when `lengths`). GRU / RNN without lengths: any
   * small buffer no other binding of the dispatch uses (unread; WebGPU forbids aliasing writable bindings).
   */
  c?: GPUBuffer;
  /** Per-row lengths: for an LSTM the region of `c` after the state; GRU / RNN any i32 [batch] buffer. */
  lengths?: GPUBufferBinding;
  /** This chunk's PersistentParams slot. */
  params: GPUBufferBinding;
  /** Training: the saved activations (the step kernels' layout). */
  saved?: GPUBuffer;
  /**
   * A bidirectional layer's reverse direction in the same dispatch (recurrent_persistent_bidir.wgsl;
   * f32 weights): its input projection, W_hh, b_hh, PersistentParams slot, and its saved
   * activations (training) or, for inference, a small buffer no other binding uses.
   */
  reverse?: {
    xproj: GPUBuffer;
    wp: GPUBuffer;
    bhh: GPUBuffer | GPUBufferBinding;
    params: GPUBufferBinding;
    saved: GPUBuffer;
  };
}

/**
 * A chunk of steps of one layer-direction in one dispatch (shaders/recurrent_persistent.wgsl).
 * @param gpu - The device.
 * @param cell - `'rnn'`, `'lstm'` or `'gru'`.
 * @param opts - Sizes, the RNN's nonlinearity, the tile, a label; `save` (training) and `lengths`.
 * @param buffers - See {@link PersistentBuffers}.
 * @returns One dispatch of ⌈batch / tile.bt⌉ workgroups.
 * @throws ShapeError when the tile is out of range or the rows' state does not fit workgroup memory;
 *   ArgumentError when a buffer the options need is missing.
 */
export function persistentDispatch(
  gpu: Gpu,
  cell: CellKind,
  opts: {
    hidden: number;
    batch: number;
    nonlinearity?: 'tanh' | 'relu';
    /** LSTM, GRU: the gates' activation. Default `'sigmoid'`. */
    gate?: RecurrentActivation;
    tile: PersistentTile;
    label: string;
    save?: boolean;
    lengths?: boolean;
    /** Inference: how W_hh is read (`buffers.wp` then holds that copy). Default `'f32'`. */
    weights?: RecurrentWeights;
  },
  buffers: PersistentBuffers,
): Dispatch {
  const { wg, bt } = opts.tile;
  const split = opts.tile.split ?? 1;
  const reduce = opts.tile.reduce ?? 'workgroup';
  const rev = buffers.reverse;
  if (rev && (opts.weights ?? 'f32') !== 'f32')
    throw new ArgumentError(`${opts.label}: both directions in one dispatch read f32 weights only`);
  const sumBy = split > 1 ? reduce : 'workgroup';
  const shader = rev ? BIDIR_SHADERS[sumBy] : PERSISTENT_SHADERS[`${opts.weights ?? 'f32'}.${sumBy}`];
  const red = checkPersistentTile(gpu, opts.label, opts.hidden, opts.tile);
  if (opts.save && !buffers.saved)
    throw new ArgumentError(`${opts.label}: a training chunk needs the saved-activations buffer`);
  if (!buffers.c && (cell === 'lstm' || !opts.lengths))
    throw new ArgumentError(`${opts.label}: the chunk needs buffer 'c' (an LSTM's cell state, else an unused one)`);
  if (opts.lengths && !buffers.lengths)
    throw new ShapeError(`${opts.label}: a chunk with per-row lengths needs the lengths buffer`);
  if (opts.lengths && cell === 'lstm' && buffers.lengths!.buffer !== buffers.c)
    throw new ShapeError(`${opts.label}: an LSTM reads its lengths from the cell-state buffer 'c', after the state`);
  const constants = {
    CELL: CELL_CODE[cell],
    ACT: opts.nonlinearity === 'relu' ? 3 : 2,
    GATE_ACT: gateActCode(opts.gate),
    WG: wg,
    BT: bt,
    HBUF: 2 * bt * Math.ceil(opts.hidden / 4),
    SPLIT: split,
    RED: Math.max(red, 1),
    SAVE: !!opts.save,
    LENGTHS: !!opts.lengths,
  };
  // GRU / RNN keep no cell state: binding `c` carries only the lengths (offset 0), or nothing.
  const c: GPUBuffer | GPUBufferBinding = cell !== 'lstm' && opts.lengths ? buffers.lengths!.buffer : buffers.c!;
  const resources: Record<string, GPUBuffer | GPUBufferBinding> = {
    xproj: buffers.xproj,
    Wp: buffers.wp,
    bhh: buffers.bhh,
    hin: buffers.hin,
    hout: buffers.hout,
    hseq: buffers.hseq,
    c,
    [rev ? 'params0' : 'params']: buffers.params,
    saved: buffers.saved ?? gpu.dummyBuffer,
  };
  if (rev)
    Object.assign(resources, { xproj1: rev.xproj, Wp1: rev.wp, bhh1: rev.bhh, params1: rev.params, saved1: rev.saved });
  return {
    label: opts.label,
    pipeline: gpu.pipeline(shader, constants),
    bindGroup: gpu.bindGroup(shader, resources),
    workgroups: [Math.ceil(opts.batch / bt), rev ? 2 : 1, 1],
  };
}

/**
 * The persistent kernel's tile and chunk for a layer, or null for the step kernels — the cost model:
 * - `gpu.tuning.recurrentKernel` `'step'` or `'wavefront'` → null; `'persistent'` → the kernel, or a ShapeError
 *   where it cannot run (an LSTM projection, or h of one row past workgroup memory);
 * - `'auto'` → what `calibrateRecurrent` measured for (cell, hidden, batch) on this adapter, if it
 *   did (gpu.tuning.recurrentMeasured; a stack's own entry first, see measuredRecurrentKernel: a
 *   measured `'wavefront'` means no persistent kernel); else on a GPU the kernel wherever it fits (a GPU pays its
 *   ≈ 25 µs per-dispatch floor once per chunk instead of once per step; chosen by that reasoning,
 *   not yet timed: no GPU was lent when it was written): one row per workgroup (the most
 *   workgroups; each streams W_hh from cache every step) and one thread per column, up to 256.
 *   On a software adapter the step kernels (a dispatch costs little there; the persistent kernel
 *   runs one CPU thread per workgroup and switches its coroutines at every step's barrier), except
 *   for an inference forward of at least {@link SOFTWARE_PERSISTENT_BATCH} rows and hidden 128 or
 *   more whose step kernels run one unit per thread (an RNN, H % 4 ≠ 0, a projection, or
 *   gpu.tuning.forwardUnits 1), where the persistent kernel measured faster: SwiftShader, B32 T100
 *   I128 H256, step ÷ persistent wall 1.21× [1.15, 1.29] (LSTM) and 1.09× [0.96, 1.12] (GRU) on a
 *   quiet machine (bench/RESULTS.md). With 4 units per thread the step kernels win: LSTM 716 vs
 *   836 ms, GRU 721 vs 716 (a tie; 2026-12-07). Training keeps the step kernels:
 *   forward + BPTT at B32 H256 measured 0.80–0.88× (LSTM) and 1.04–1.11× (GRU) with it in Node.
 *   It takes up to 8 rows per workgroup there (each W_hh load reused 8 times) and 64 threads.
 * @param gpu - Its tuning and limits.
 * @param cfg - The layer: cell, hidden size, projection.
 * @param batch - Batch rows.
 * @param where - Names the caller in errors.
 * @param weights - How the forward reads W_hh (both directions share a dispatch with f32 only).
 * @param training - A training plan (forward + BPTT): on a software adapter 'auto' keeps the step kernels.
 * @returns `{ tile, steps, pairDirections }` (steps: most timesteps per dispatch), or null.
 * @throws ShapeError when the persistent kernel is forced where it cannot run.
 */
export function persistentChoice(
  gpu: Gpu,
  cfg: {
    cell: CellKind;
    hiddenSize: number;
    numLayers?: number;
    projSize?: number;
    resetAfter?: boolean;
    bidirectional?: boolean;
  },
  batch: number,
  where: string,
  weights: RecurrentWeights = 'f32',
  training = false,
): { tile: PersistentTile; steps: number; pairDirections: boolean; stepBackward: boolean } | null {
  const { recurrentKernel, persistentSteps, recurrentMeasured } = gpu.tuning;
  const measured = recurrentKernel === 'auto' ? measuredRecurrentKernel({ recurrentMeasured }, cfg, batch) : undefined;
  // On a software adapter the step kernels with 4 units per thread (forwardUnits, where the layer
  // allows them) beat the persistent kernel; without them it wins at B ≥ 32, H ≥ 128 (inference).
  const quadSteps = gpu.tuning.forwardUnits !== 1 && forwardQuadBlocker(cfg) === null;
  const softwareStep =
    gpu.software &&
    (training || quadSteps || batch < SOFTWARE_PERSISTENT_BATCH || cfg.hiddenSize < SOFTWARE_PERSISTENT_HIDDEN);
  // A measured wavefront (a stack's inference forward) leaves the persistent kernel out too.
  const stepKernels =
    recurrentKernel === 'step' ||
    recurrentKernel === 'wavefront' ||
    (measured !== undefined && measured !== 'persistent');
  if (stepKernels || (recurrentKernel === 'auto' && !measured && softwareStep)) return null;
  if (!Number.isInteger(persistentSteps) || persistentSteps < 1)
    throw new ArgumentError(`${where}: gpu.tuning.persistentSteps must be an integer ≥ 1, got ${persistentSteps}`);
  const H = cfg.hiddenSize;
  let bt = gpu.software ? Math.min(8, batch) : 1;
  while (bt > 1 && !persistentFits(gpu, H, bt)) bt--;
  const resetBefore = cfg.cell === 'gru' && cfg.resetAfter === false;
  if (cfg.projSize || resetBefore || !persistentFits(gpu, H, bt)) {
    if (recurrentKernel !== 'persistent') return null;
    throw new ShapeError(
      `${where}: gpu.tuning.recurrentKernel 'persistent' cannot run ` +
        (cfg.projSize
          ? `an LSTM with projSize ${cfg.projSize} (the projection runs with the step kernels only)`
          : resetBefore
            ? 'a GRU with resetAfter false (its two dispatches per step run with the step kernels only)'
            : `hiddenSize ${H}: one row's double-buffered h needs ${persistentWorkgroupBytes(H, 1)} bytes, more than ` +
              `maxComputeWorkgroupStorageSize (${gpu.limits.maxComputeWorkgroupStorageSize})`),
    );
  }
  const cols = cfg.cell === 'rnn' ? Math.ceil(H / 4) : H;
  // Split-K: where a workgroup has fewer columns than a GPU's 256 threads, up to 8 lanes share a
  // column's sum (all threads busy); forced by gpu.tuning.persistentSplit.
  const forced = gpu.tuning.persistentSplit;
  const split =
    forced !== 'auto' ? forced : gpu.software ? 1 : Math.min(8, 2 ** Math.floor(Math.log2(Math.max(1, 256 / cols))));
  const wg = gpu.software ? Math.max(64, split) : Math.min(256, Math.ceil((cols * split) / 32) * 32);
  const sg = gpu.features.subgroups && split <= gpu.adapterInfo.subgroupMinSize;
  const wantReduce = gpu.tuning.persistentSplitReduce;
  const reduce: SplitReduce = wantReduce === 'auto' ? (sg ? 'subgroups' : 'workgroup') : wantReduce;
  const tile = { wg, bt, split, reduce };
  checkPersistentTile(gpu, `${where}: gpu.tuning`, H, tile);
  const pairDirs = pairDirections(gpu, !!cfg.bidirectional, weights, where);
  return { tile, steps: persistentSteps, pairDirections: pairDirs, stepBackward: stepBackward(gpu, where) };
}

/** Whether the BPTT after a persistent training forward runs the step kernels (gpu.tuning.persistentBackward). */
function stepBackward(gpu: Gpu, where: string): boolean {
  const mode = gpu.tuning.persistentBackward;
  if (!['auto', 'persistent', 'step'].includes(mode))
    throw new ArgumentError(
      `${where}: gpu.tuning.persistentBackward must be 'auto', 'persistent' or 'step', got ${String(mode)}`,
    );
  return mode === 'step';
}

/**
 * Whether a bidirectional layer's persistent forward runs both directions in one dispatch
 * (gpu.tuning.persistentDirections; 'auto': where the device allows 12 storage buffers per stage
 * and W_hh is f32).
 * @throws ShapeError when `'together'` is forced where it cannot run; ArgumentError for an unknown value.
 */
function pairDirections(gpu: Gpu, bidirectional: boolean, weights: RecurrentWeights, where: string): boolean {
  const mode = gpu.tuning.persistentDirections;
  if (!['auto', 'together', 'separate'].includes(mode))
    throw new ArgumentError(
      `${where}: gpu.tuning.persistentDirections must be 'auto', 'together' or 'separate', got ${String(mode)}`,
    );
  if (!bidirectional || mode === 'separate') return false;
  const storage = gpu.limits.maxStorageBuffersPerShaderStage;
  const fits = storage >= BIDIR_STORAGE_BUFFERS && weights === 'f32';
  if (!fits && mode === 'together')
    throw new ShapeError(
      `${where}: gpu.tuning.persistentDirections 'together' cannot run here: ` +
        (weights !== 'f32'
          ? `it reads f32 weights, not '${weights}'`
          : `it binds ${BIDIR_STORAGE_BUFFERS} storage buffers, this device allows ${storage} per stage`),
    );
  return fits;
}
