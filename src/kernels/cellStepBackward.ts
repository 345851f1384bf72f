// Host side of the cell-step backward kernels: shaders/lstm_step_backward.wgsl,
// gru_step_backward.wgsl and rnn_step_backward.wgsl (sharing recurrent_matvec_backward.wgsl and
// backward_params.wgsl). One dispatch per timestep per (layer, direction).
import type { Gpu } from '../gpu/device.js';
import type { GpuTuning } from '../gpu/tuning.js';
import type { Dispatch } from '../gpu/dispatch.js';
import { ArgumentError, ShapeError } from '../util/errors.js';
import type { CellKind } from './recurrentConfig.js';
import {
  checkStepTile,
  gateActCode,
  quadShareChoice,
  type QuadShareGpu,
  packUniformSlot,
  uniformSlotSize,
  type CellStepOptions,
  type StepTile,
} from './cellStep.js';
import { defineShader, type WgslShader } from '../gpu/kernel.js';
import rnnStepBackwardWgsl from '../../shaders/rnn_step_backward.wgsl?raw';
import backwardParamsWgsl from '../../shaders/backward_params.wgsl?raw';
import recurrentMatvecBackwardWgsl from '../../shaders/recurrent_matvec_backward.wgsl?raw';
import lstmStepBackwardWgsl from '../../shaders/lstm_step_backward.wgsl?raw';
import activationsWgsl from '../../shaders/activations.wgsl?raw';
import gruStepBackwardWgsl from '../../shaders/gru_step_backward.wgsl?raw';
import projectBackwardWgsl from '../../shaders/recurrent_matvec_project_backward.wgsl?raw';
import backwardStepsWgsl from '../../shaders/backward_steps.wgsl?raw';
import backwardEnableWgsl from '../../shaders/backward_enable.wgsl?raw';
import backwardEnableSubgroupsWgsl from '../../shaders/backward_enable_subgroups.wgsl?raw';
import backwardGatesWgsl from '../../shaders/backward_gates.wgsl?raw';
import backwardGatesSubgroupsWgsl from '../../shaders/backward_gates_subgroups.wgsl?raw';

/** What every backward cell-step shader includes (the LSTM's and GRU's also activations.wgsl). */
const BACKWARD_INCLUDES = {
  'backward_params.wgsl': backwardParamsWgsl,
  'recurrent_matvec_backward.wgsl': recurrentMatvecBackwardWgsl,
  'backward_steps.wgsl': backwardStepsWgsl,
  'backward_enable.wgsl': backwardEnableWgsl,
  'backward_gates.wgsl': backwardGatesWgsl,
};
/** The LSTM / GRU kernels whose quads share their gate loads (shaders/backward_gates_subgroups.wgsl). */
const SHARED_GATES_INCLUDES = {
  ...BACKWARD_INCLUDES,
  'activations.wgsl': activationsWgsl,
  'backward_enable.wgsl': backwardEnableSubgroupsWgsl,
  'backward_gates.wgsl': backwardGatesSubgroupsWgsl,
};
const RNN_STEP_BACKWARD_SHADER = /*#__PURE__*/ defineShader(
  'rnn_step_backward.wgsl',
  rnnStepBackwardWgsl,
  BACKWARD_INCLUDES,
);
const LSTM_STEP_BACKWARD_SHADER = /*#__PURE__*/ defineShader('lstm_step_backward.wgsl', lstmStepBackwardWgsl, {
  'activations.wgsl': activationsWgsl,
  ...BACKWARD_INCLUDES,
});
const GRU_STEP_BACKWARD_SHADER = /*#__PURE__*/ defineShader('gru_step_backward.wgsl', gruStepBackwardWgsl, {
  'activations.wgsl': activationsWgsl,
  ...BACKWARD_INCLUDES,
});
const PROJECT_BACKWARD_SHADER = /*#__PURE__*/ defineShader(
  'recurrent_matvec_project_backward.wgsl',
  projectBackwardWgsl,
  BACKWARD_INCLUDES,
);

export const CELL_BACKWARD_SHADER: Record<CellKind, WgslShader> = {
  rnn: RNN_STEP_BACKWARD_SHADER,
  lstm: LSTM_STEP_BACKWARD_SHADER,
  gru: GRU_STEP_BACKWARD_SHADER,
};
/** The LSTM and GRU backward kernels with quad-shared gate loads ({@link backwardSharedGates}). */
const SHARED_GATES_SHADER = {
  lstm: /*#__PURE__*/ defineShader('lstm_step_backward.wgsl#subgroups', lstmStepBackwardWgsl, SHARED_GATES_INCLUDES),
  gru: /*#__PURE__*/ defineShader('gru_step_backward.wgsl#subgroups', gruStepBackwardWgsl, SHARED_GATES_INCLUDES),
};

/** Columns per row of the dgates buffer: LSTM i,f,g,o; GRU r,z,n (input side), n ⊙ r (hidden side); RNN 1. */
export function dgatesWidth(cell: CellKind, hidden: number): number {
  return cell === 'rnn' ? hidden : 4 * hidden;
}

/** Per-timestep values of the BackwardParams uniform (element offsets). */
export interface BackwardParams {
  batch: number;
  hidden: number;
  row0: number;
  rowStrideB: number;
  nextRow0: number;
  first: number;
  doutOffset: number;
  doutStrideB: number;
  stateOffset: number;
  hprevBase: number;
  cprevBase: number;
  /** The timestep of this slot (read only with per-row lengths). */
  t: number;
  /** 1 for the reverse direction (read only with per-row lengths). */
  reverse: number;
  /**
   * With per-row lengths, reverse direction: the dgates row where row b's first forward step is copied, at firstRow0 +
   * b.
   */
  firstRow0: number;
}

/** Bytes of one BackwardParams slot. */
export function backwardSlotSize(gpu: Gpu): number {
  return uniformSlotSize(gpu, LSTM_STEP_BACKWARD_SHADER, 'slot');
}

/**
 * Bytes of one BackwardParams entry of a persistent chunk's `steps` array: its storage stride, the
 * end of the last 4-byte member (a uniform's reflected size is rounded up to 16, a storage array's
 * stride of 4-byte members is not).
 */
export function backwardParamsSize(gpu: Gpu): number {
  const fields = gpu.kernel(LSTM_STEP_BACKWARD_SHADER).source.uniforms.get('slot')!.fields;
  return Math.max(...[...fields.values()].map((f) => f.offset)) + 4;
}

export function packBackwardParams(
  gpu: Gpu,
  cell: CellKind,
  values: BackwardParams,
  target: ArrayBuffer,
  offset: number,
): void {
  packUniformSlot(gpu, CELL_BACKWARD_SHADER[cell], values, target, offset, 'slot');
}

export interface CellStepBackwardBuffers {
  dgates: GPUBuffer;
  /**
   * W_hh repacked for the backward (repackWhhBackward); with `proj`, W_hr's (repackWhhBackward('rnn', W_hr, P, H));
   * with `quad`, W_hh itself as PyTorch stores it ([G·H, H], a binding at a storage-aligned offset).
   */
  wb: GPUBuffer | GPUBufferBinding;
  saved: GPUBuffer;
  /** Gradient of the layer's output sequence; with `proj`, the whole dh_t [rows, P] of projectionBackwardDispatch. */
  dout: GPUBuffer;
  dhN: GPUBuffer;
  /** LSTM dc, GRU z ⊙ dh: carried from step to step (absent for RNN). */
  carry?: GPUBuffer;
  params: GPUBufferBinding;
  /** Per-row sequence lengths (i32 [batch]), with `lengths`: the forward's (RecurrentPlan.lengths). */
  lengths?: GPUBufferBinding;
  /**
   * `persistent`: the chunk's BackwardParams, one per step in the order processed. Per step: any
   * storage buffer of at least one entry ({@link backwardParamsSize} bytes) no other binding writes (unread).
   */
  steps: GPUBufferBinding;
}

/**
 * Whether a layer's BPTT steps run 4 units per thread (`QUAD` in shaders/recurrent_matvec_backward.wgsl,
 * reading W_hh as PyTorch stores it) — gpu.tuning.backwardUnits: `'auto'` (4 on a software adapter,
 * where it measured faster, 1 on a GPU: not timed there), `1`, or `4` (a ShapeError where it cannot
 * run: a hidden size not a multiple of 4, or an LSTM projection).
 * @param gpu - Its tuning and whether the adapter is software.
 * @param cfg - The layer's hidden size and projection.
 * @param where - Names the caller in errors.
 * @throws ArgumentError for an unknown value; ShapeError when 4 is forced where it cannot run.
 */
export function backwardQuad(
  gpu: Pick<Gpu, 'software'> & { tuning: Pick<GpuTuning, 'backwardUnits'> },
  cfg: { hiddenSize: number; projSize?: number },
  where: string,
): boolean {
  const mode = gpu.tuning.backwardUnits;
  if (mode !== 'auto' && mode !== 1 && mode !== 4)
    throw new ArgumentError(`${where}: gpu.tuning.backwardUnits must be 'auto', 1 or 4, got ${String(mode)}`);
  const blocker =
    cfg.hiddenSize % 4 !== 0
      ? `hiddenSize ${cfg.hiddenSize} (not a multiple of 4)`
      : cfg.projSize
        ? `an LSTM with projSize ${cfg.projSize}`
        : null;
  if (mode === 4 && blocker) throw new ShapeError(`${where}: gpu.tuning.backwardUnits 4 cannot run ${blocker}`);
  return !blocker && (mode === 4 || (mode === 'auto' && gpu.software));
}

/**
 * Whether a layer's BPTT steps with 4 units per thread ({@link backwardQuad}) share each row's gate
 * gradient loads across the 4 threads of a quad (shaders/backward_gates_subgroups.wgsl: one vec4
 * load per thread and quad broadcasts, where each thread loads 3 or 4) — gpu.tuning.backwardGates:
 * `'auto'` (shared on a software adapter with subgroups at least 4 wide, where a load is a lane-by-
 * lane gather and a broadcast a register shuffle; not on a GPU: not timed there), `'loads'` or
 * `'subgroups'` (a ShapeError where it cannot run: an RNN, steps with 1 unit per thread, no
 * subgroups or subgroups narrower than 4).
 * @param gpu - Its tuning, subgroup support and whether the adapter is software.
 * @param cell - The layer's cell.
 * @param quad - Whether its BPTT steps run 4 units per thread ({@link backwardQuad}'s answer).
 * @param where - Names the caller in errors.
 * @throws ArgumentError for an unknown value; ShapeError when 'subgroups' is forced where it cannot run.
 */
export function backwardSharedGates(
  gpu: QuadShareGpu & { tuning: Pick<GpuTuning, 'backwardGates'> },
  cell: CellKind,
  quad: boolean,
  where: string,
): boolean {
  const blocker =
    cell === 'rnn'
      ? 'an RNN (one gate: nothing to share)'
      : !quad
        ? 'BPTT steps with 1 unit per thread (gpu.tuning.backwardUnits)'
        : null;
  return quadShareChoice(gpu, 'backwardGates', gpu.tuning.backwardGates, blocker, where);
}

/**
 * One timestep of backpropagation through time of `cell`, over all batch rows and hidden units;
 * with `persistent`, a chunk of steps (`buffers.steps`) in one dispatch of ⌈batch / tile.bt⌉
 * workgroups, each looping over the steps and every unit of its rows (no projection). With `quad`
 * (see {@link backwardQuad}) a thread takes 4 units and `buffers.wb` is W_hh in PyTorch's layout;
 * with `sharedGates` too ({@link backwardSharedGates}) its quad shares each row's gate loads.
 */
export function cellStepBackwardDispatch(
  gpu: Gpu,
  cell: CellKind,
  opts: Omit<CellStepOptions, 'save'> & { persistent?: boolean; quad?: boolean; sharedGates?: boolean },
  buffers: CellStepBackwardBuffers,
): Dispatch {
  const { wg, bt } = checkStepTile(opts);
  const quad = !!opts.quad;
  if (opts.sharedGates && (cell === 'rnn' || !quad))
    throw new ArgumentError(`${opts.label}: shared gate loads need an LSTM or GRU step with 4 units per thread`);
  const shader = opts.sharedGates && cell !== 'rnn' ? SHARED_GATES_SHADER[cell] : CELL_BACKWARD_SHADER[cell];
  const constants: Record<string, number | boolean> = {
    WG: wg,
    BT: bt,
    VEC_H: opts.hidden % 4 === 0,
    LENGTHS: !!opts.lengths,
    PERSISTENT: !!opts.persistent,
    QUAD: quad,
  };
  if (opts.persistent && opts.proj)
    throw new ArgumentError(`${opts.label}: a persistent backward chunk runs no projection`);
  if (quad && (opts.proj || opts.hidden % 4 !== 0))
    throw new ArgumentError(`${opts.label}: 4 units per thread need hidden % 4 = 0 and no projection`);
  if (opts.proj) {
    if (cell !== 'lstm') throw new ArgumentError(`${opts.label}: a projection (proj) is only for an LSTM step`);
    constants.PROJ = opts.proj;
  }
  if (cell === 'rnn') constants.ACT = opts.nonlinearity === 'relu' ? 3 : 2;
  else constants.GATE_ACT = gateActCode(opts.gate);
  if (opts.lengths && !buffers.lengths)
    throw new ShapeError(`${opts.label}: a backward step with per-row lengths needs the lengths buffer`);
  const resources: Record<string, GPUBuffer | GPUBufferBinding> = {
    dgates: buffers.dgates,
    Wb: buffers.wb,
    saved: buffers.saved,
    dout: buffers.dout,
    dhN: buffers.dhN,
    slot: buffers.params,
    steps: buffers.steps,
    lengths: opts.lengths ? buffers.lengths! : gpu.dummyBuffer,
  };
  if (cell !== 'rnn') {
    if (!buffers.carry)
      throw new ArgumentError(`${opts.label}: an ${cell.toUpperCase()} backward step needs the carry buffer`);
    resources.carry = buffers.carry;
  }
  return {
    label: opts.label,
    pipeline: gpu.pipeline(shader, constants),
    bindGroup: gpu.bindGroup(shader, resources),
    workgroups: [opts.persistent ? 1 : Math.ceil(opts.hidden / (quad ? 4 * wg : wg)), Math.ceil(opts.batch / bt), 1],
  };
}

/** Buffers of one projection backward step (shaders/recurrent_matvec_project_backward.wgsl). */
export interface ProjectionBackwardBuffers {
  /** The gate gradients [rows, 4H] (row t' read). */
  dgates: GPUBuffer;
  /** W_hh [4H, P] repacked for the backward (repackWhhBackward('lstm', W_hh, H, P)). */
  wb: GPUBuffer;
  /** Gradient of the layer's output sequence [rows, D·P]. */
  dout: GPUBuffer;
  /** Gradient of the final hidden state [L·D, B, P]. */
  dhN: GPUBuffer;
  /** Where dh_t goes: [rows, P]. */
  dh: GPUBuffer;
  /** The step's BackwardParams slot (shared with its cell backward step). */
  params: GPUBufferBinding;
  lengths?: GPUBufferBinding;
}

/**
 * BPTT of an LSTM with projSize P: dh_t [B, P] (dout + dgates_{t'}·W_hh, or dhN) before the cell's
 * backward step, which reads it (shaders/recurrent_matvec_project_backward.wgsl).
 * @returns One dispatch: ⌈P / tile.wg⌉ × ⌈batch / tile.bt⌉ workgroups.
 */
export function projectionBackwardDispatch(
  gpu: Gpu,
  opts: { hidden: number; proj: number; batch: number; tile: StepTile; label: string; lengths?: boolean },
  buffers: ProjectionBackwardBuffers,
): Dispatch {
  const { wg, bt } = checkStepTile(opts);
  if (opts.lengths && !buffers.lengths)
    throw new ShapeError(`${opts.label}: a backward step with per-row lengths needs the lengths buffer`);
  return {
    label: opts.label,
    pipeline: gpu.pipeline(PROJECT_BACKWARD_SHADER, {
      WG: wg,
      BT: bt,
      VEC_H: opts.hidden % 4 === 0,
      PROJ: opts.proj,
      LENGTHS: !!opts.lengths,
    }),
    bindGroup: gpu.bindGroup(PROJECT_BACKWARD_SHADER, {
      dgates: buffers.dgates,
      Wb: buffers.wb,
      dout: buffers.dout,
      dhN: buffers.dhN,
      dh: buffers.dh,
      params: buffers.params,
      lengths: opts.lengths ? buffers.lengths! : gpu.dummyBuffer,
    }),
    workgroups: [Math.ceil(opts.proj / wg), Math.ceil(opts.batch / bt), 1],
  };
}
