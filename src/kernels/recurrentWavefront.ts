// Host side of shaders/recurrent_wavefront.wgsl: a unidirectional recurrent stack's forward as
// waves, layer l's step t running in the same dispatch as layer l + 1's step t − 1 (T + L − 1
// dispatches instead of T·L), every layer's weights read from the parameter buffer at its offsets.
import type { Gpu } from '../gpu/device.js';
import type { Dispatch } from '../gpu/dispatch.js';
import { ArgumentError, ShapeError } from '../util/errors.js';
import { recurrentChoiceKey } from '../gpu/tuning.js';
import { defineShader } from '../gpu/kernel.js';
import type { CellKind, RecurrentActivation } from './recurrentConfig.js';
import { checkStepTile, gateActCode, packUniformSlot, uniformSlotSize, type StepTile } from './cellStep.js';
import wavefrontWgsl from '../../shaders/recurrent_wavefront.wgsl?raw';
import activationsWgsl from '../../shaders/activations.wgsl?raw';

const WAVEFRONT_SHADER = /*#__PURE__*/ defineShader('recurrent_wavefront.wgsl', wavefrontWgsl, {
  'activations.wgsl': activationsWgsl,
});

const CELL_CODE: Record<CellKind, number> = { rnn: 0, lstm: 1, gru: 2 };

/** Where one layer's parameters start in the parameter buffer (elements). */
export interface WavefrontLayerOffsets {
  wih: number;
  whh: number;
  /** 0 without bias. */
  bih: number;
  bhh: number;
}

/** What the shader's WaveParams uniform holds for one wave. */
export interface WaveParams {
  batch: number;
  hidden: number;
  numLayers: number;
  wave: number;
  layerLo: number;
  rowStrideT: number;
  rowStrideB: number;
  seqSlot: number;
  lengthsBase: number;
  layersBase: number;
}

/** Bytes of one WaveParams slot (a plan keeps one per wave in one buffer). */
export function wavefrontSlotSize(gpu: Gpu): number {
  return uniformSlotSize(gpu, WAVEFRONT_SHADER);
}

/** Writes one WaveParams slot into `target` at byte `offset`. */
export function packWaveParams(gpu: Gpu, values: WaveParams, target: ArrayBuffer, offset: number): void {
  packUniformSlot(gpu, WAVEFRONT_SHADER, values, target, offset);
}

/** The per-layer weight offsets the kernel reads from `xproj` at WaveParams.layersBase. */
export function packWavefrontLayers(layers: readonly WavefrontLayerOffsets[]): Uint32Array {
  const out = new Uint32Array(4 * layers.length);
  layers.forEach((o, l) => out.set([o.wih, o.whh, o.bih, o.bhh], 4 * l));
  return out;
}

/** The buffers one wave binds (the same for every wave but `params`). */
export interface WavefrontBuffers {
  /** Layer 0's input projection [rows, G·H], then the per-layer offsets ({@link packWavefrontLayers}). */
  xproj: GPUBuffer;
  /** The parameter buffer holding every layer's weights and biases. */
  weights: GPUBuffer;
  h0: GPUBuffer;
  state0: GPUBuffer;
  state1: GPUBuffer;
  /** Outputs of the layers below the top, [min(2, L − 1), rows, H] (any buffer when L = 1). */
  seqs: GPUBuffer;
  output: GPUBuffer;
  /** LSTM: the cell state (+ lengths); GRU, RNN: the lengths, or an unused buffer. */
  c: GPUBuffer;
  /** This wave's WaveParams slot. */
  params: GPUBufferBinding;
}

/**
 * One wave: layers `layerLo` … `layerLo + layers − 1`, each at its step t = wave − l.
 * @returns ⌈H / tile.wg⌉ × ⌈batch / tile.bt⌉ × `layers` workgroups.
 */
export function wavefrontDispatch(
  gpu: Gpu,
  cell: CellKind,
  opts: {
    hidden: number;
    batch: number;
    /** Layers in this wave. */
    layers: number;
    tile: StepTile;
    label: string;
    bias: boolean;
    nonlinearity?: 'tanh' | 'relu';
    gate?: RecurrentActivation;
    lengths?: boolean;
  },
  buffers: WavefrontBuffers,
): Dispatch {
  const { wg, bt } = checkStepTile(opts);
  const constants = {
    WG: wg,
    BT: bt,
    CELL: CELL_CODE[cell],
    ACT: opts.nonlinearity === 'relu' ? 3 : 2,
    GATE_ACT: gateActCode(opts.gate),
    VEC: opts.hidden % 4 === 0,
    BIAS: opts.bias,
    LENGTHS: !!opts.lengths,
  };
  return {
    label: opts.label,
    pipeline: gpu.pipeline(WAVEFRONT_SHADER, constants),
    bindGroup: gpu.bindGroup(WAVEFRONT_SHADER, { ...buffers }),
    workgroups: [Math.ceil(opts.hidden / wg), Math.ceil(opts.batch / bt), opts.layers],
  };
}

/** What {@link wavefrontBlocker} reads of a layer-direction's parameters. */
export interface WavefrontParamViews {
  wih: { buffer: GPUBuffer; offset: number };
  whh: { buffer: GPUBuffer; offset: number };
  bih: { buffer: GPUBuffer; offset: number } | null;
  bhh: GPUBufferBinding;
}

/**
 * Why the wavefront cannot run this stack, or null where it can: it runs inference forwards of
 * unidirectional stacks with f32 weights, without
 * an LSTM projection or a GRU's reset before the matmul, whose parameters share one buffer that
 * fits one storage binding.
 */
export function wavefrontBlocker(
  gpu: Gpu,
  cfg: { cell: CellKind; numLayers: number; bidirectional?: boolean; projSize?: number; resetAfter?: boolean },
  params: readonly WavefrontParamViews[],
  weights: string,
  training: boolean,
): string | null {
  if (training) return 'a training forward (the backward reads what the step kernels save)';
  if (cfg.bidirectional) return 'a bidirectional stack (the reverse direction of layer l needs all of layer l − 1)';
  if (cfg.projSize) return `an LSTM with projSize ${cfg.projSize}`;
  if (cfg.cell === 'gru' && cfg.resetAfter === false) return 'a GRU with resetAfter false';
  if (weights !== 'f32') return `W_hh read as '${weights}' (it reads the f32 parameters)`;
  const buffer = params[0]?.whh.buffer;
  const bias = params[0]?.bih !== null;
  const shared = params.every(
    (p) =>
      p.wih.buffer === buffer &&
      p.whh.buffer === buffer &&
      (!bias || (p.bih?.buffer === buffer && p.bhh.buffer === buffer)),
  );
  if (!buffer || !shared) return "parameters that are not in one buffer (the layer's own store, or a Trainer's)";
  if (buffer.size > gpu.limits.maxStorageBufferBindingSize)
    return (
      `a parameter buffer of ${buffer.size} bytes (more than maxStorageBufferBindingSize, ` +
      `${gpu.limits.maxStorageBufferBindingSize})`
    );
  return null;
}

/**
 * Whether a forward runs as waves (gpu.tuning.recurrentKernel): `'wavefront'` forces it for every
 * inference forward (a ShapeError naming what stands in the way where it cannot run; training
 * forwards keep the step kernels). `'auto'`, for a stack of ≥ 2 layers where the persistent kernel
 * was not picked and the wavefront can run: what `calibrateRecurrent` measured for this stack
 * (cell, hidden, batch, layers) on this adapter, if it did; else on a GPU (it saves (T − 1)·(L − 1) dispatches
 * of the ≈ 25 µs per-dispatch floor; chosen by that reasoning, not yet timed: no GPU was lent when
 * it was written), never on a software adapter (measured 1.6–2.1× slower than the step kernels on
 * SwiftShader: one CPU runs the waves as it runs the steps, and the in-kernel input products cost
 * more than layer-wide GEMMs there).
 */
export function wavefrontChoice(
  gpu: Gpu,
  cfg: Parameters<typeof wavefrontBlocker>[1] & { hiddenSize: number },
  batch: number,
  params: readonly WavefrontParamViews[],
  weights: string,
  training: boolean,
  persistentPicked: boolean,
  where: string,
): boolean {
  const mode = gpu.tuning.recurrentKernel as string;
  if (!['auto', 'step', 'persistent', 'wavefront'].includes(mode))
    throw new ArgumentError(
      `${where}: gpu.tuning.recurrentKernel must be 'auto', 'step', 'persistent' or 'wavefront', got ${String(mode)}`,
    );
  if (mode === 'wavefront') {
    if (training) return false;
    const blocker = wavefrontBlocker(gpu, cfg, params, weights, training);
    if (blocker) throw new ShapeError(`${where}: gpu.tuning.recurrentKernel 'wavefront' cannot run ${blocker}`);
    return true;
  }
  if (mode !== 'auto' || persistentPicked || cfg.numLayers < 2) return false;
  const measured = gpu.tuning.recurrentMeasured[recurrentChoiceKey(cfg.cell, cfg.hiddenSize, batch, cfg.numLayers)];
  if (measured ? measured !== 'wavefront' : gpu.software) return false;
  return wavefrontBlocker(gpu, cfg, params, weights, training) === null;
}
