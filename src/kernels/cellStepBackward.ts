// Host side of the cell-step backward kernels: shaders/lstm_step_backward.wgsl,
// gru_step_backward.wgsl and rnn_step_backward.wgsl (sharing recurrent_matvec_backward.wgsl and
// backward_params.wgsl). One dispatch per timestep per (layer, direction).
import type { Gpu } from '../gpu/device.js';
import type { Dispatch } from '../gpu/dispatch.js';
import { ShapeError } from '../gpu/errors.js';
import type { CellKind } from '../nn/recurrentConfig.js';
import type { StepTile } from './cellStep.js';

export const CELL_BACKWARD_SHADER: Record<CellKind, string> = {
  rnn: 'rnn_step_backward.wgsl',
  lstm: 'lstm_step_backward.wgsl',
  gru: 'gru_step_backward.wgsl',
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
}

/** Bytes of one BackwardParams slot, rounded to the device's uniform offset alignment. */
export function backwardSlotSize(gpu: Gpu): number {
  const size = gpu.kernel('lstm_step_backward.wgsl').source.uniforms.get('params')!.size;
  const align = gpu.device.limits.minUniformBufferOffsetAlignment;
  return Math.ceil(size / align) * align;
}

export function packBackwardParams(gpu: Gpu, cell: CellKind, values: BackwardParams, target: ArrayBuffer, offset: number): void {
  const bytes = gpu.kernel(CELL_BACKWARD_SHADER[cell]).source.packUniform('params', values as unknown as Record<string, number>);
  new Uint8Array(target, offset, bytes.byteLength).set(new Uint8Array(bytes));
}

export interface CellStepBackwardBuffers {
  dgates: GPUBuffer;
  /** W_hh in PyTorch's layout [G·H, H]. */
  whh: GPUBufferBinding;
  saved: GPUBuffer;
  dout: GPUBuffer;
  dhN: GPUBuffer;
  /** LSTM dc, GRU z ⊙ dh: carried from step to step (absent for RNN). */
  carry?: GPUBuffer;
  params: GPUBufferBinding;
}

/** One timestep of backpropagation through time of `cell`, over all batch rows and hidden units. */
export function cellStepBackwardDispatch(
  gpu: Gpu,
  cell: CellKind,
  opts: { hidden: number; batch: number; nonlinearity?: 'tanh' | 'relu'; tile: StepTile; label: string },
  buffers: CellStepBackwardBuffers,
): Dispatch {
  const { wg, bt } = opts.tile;
  if (bt < 1 || bt > 8 || !Number.isInteger(bt)) throw new ShapeError(`${opts.label}: batch rows per thread must be 1…8, got ${bt}`);
  const shader = CELL_BACKWARD_SHADER[cell];
  const constants: Record<string, number> = { WG: wg, BT: bt };
  if (cell === 'rnn') constants.ACT = opts.nonlinearity === 'relu' ? 3 : 2;
  const resources: Record<string, GPUBuffer | GPUBufferBinding> = {
    dgates: buffers.dgates, Whh: buffers.whh, saved: buffers.saved, dout: buffers.dout, dhN: buffers.dhN, params: buffers.params,
  };
  if (cell !== 'rnn') {
    if (!buffers.carry) throw new ShapeError(`${opts.label}: an ${cell.toUpperCase()} backward step needs the carry buffer`);
    resources.carry = buffers.carry;
  }
  return {
    label: opts.label,
    pipeline: gpu.pipeline(shader, constants),
    bindGroup: gpu.bindGroup(shader, resources),
    workgroups: [Math.ceil(opts.hidden / wg), Math.ceil(opts.batch / bt), 1],
  };
}
