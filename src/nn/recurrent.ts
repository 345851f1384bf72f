// RNN, LSTM and GRU layers with PyTorch's constructor options, forward() signature, state
// shapes and state_dict names, running on the fused cell-step kernels via RecurrentPlan.
import type { Gpu } from '../gpu/device.js';
import { persistentChoice } from '../kernels/recurrentPersistent.js';
import { wavefrontChoice } from '../kernels/recurrentWavefront.js';
import { backwardQuad, backwardSharedGates } from '../kernels/cellStepBackward.js';
import { measuredRecurrentKernel } from '../gpu/tuning.js';
import { ArgumentError, ShapeError, fmtShape } from '../util/errors.js';
import { TENSOR_USAGE } from '../gpu/flags.js';
import {
  repackWhh,
  repackWhhBackward,
  repackWhhDispatch,
  repackedBytes,
  defaultStepTile,
  stepUnitThreads,
  forwardQuad,
  forwardSharedRows,
  type StepTile,
} from '../kernels/cellStep.js';
import { encodeDispatches, type Dispatch } from '../gpu/dispatch.js';
import { RecurrentBackward } from '../graph/recurrentBackward.js';
import { checkRecurrentLayerLimits } from '../graph/recurrentLimits.js';
import { Dropout } from '../kernels/dropout.js';
import {
  RecurrentPlan,
  checkLengths,
  type DirectionParams,
  type RunStats,
  type PlanOutputs,
} from '../graph/recurrentPlan.js';
import type { NamedTensor, StateDict } from '../io/stateDict.js';
import { saveCheckpoint, loadCheckpoint, type CheckpointHost } from './checkpoint.js';
import { Tensor, expectRank, expectShape } from '../gpu/tensor.js';
import { rng } from '../util/random.js';
import {
  gateCount,
  parameterShapes,
  realHiddenSize,
  type CellKind,
  type RecurrentConfig,
} from '../kernels/recurrentConfig.js';
import { ParameterStore, checkLoadStateDict, checkParameters, type BufferView } from '../io/parameters.js';
import {
  assertSameDevice,
  dryRun,
  isSnapshot,
  readParameters,
  type ModelSnapshot,
  type RecoverSource,
} from './recovery.js';
import { Lifecycle } from './lifecycle.js';
import { checkOptions, type OptionSchema } from '../util/options.js';
import { pushAll } from '../util/arrays.js';
import { PlanCache } from '../util/planCache.js';
import { Module, type LocalParameters } from './module.js';
import { activeGraph } from '../graph/graph.js';
import { recurrentValue } from '../graph/ops/recurrent.js';

/** Constructor options, named as PyTorch's `nn.RNN/LSTM/GRU` arguments (camelCase). */
export interface RecurrentOptions {
  /** Features per timestep of the input (PyTorch `input_size`). */
  inputSize: number;
  /** H, features of the hidden state (PyTorch `hidden_size`). */
  hiddenSize: number;
  /** Stacked layers. Default 1. */
  numLayers?: number;
  /** Whether `bias_ih` / `bias_hh` exist. Default true. */
  bias?: boolean;
  /** Input and output are [batch, seqLen, …] instead of [seqLen, batch, …] (states keep their shape). Default false. */
  batchFirst?: boolean;
  /** Adds a reversed direction per layer (D = 2; outputs concatenated). Default false. */
  bidirectional?: boolean;
  /**
   * PyTorch's `dropout`: probability of zeroing each output of every layer but the last, in
   * training (forwardBackward, SequenceModel.trainStep) only; the mask comes from an on-GPU hash
   * and is regenerated, not stored, for the backward. Default 0.
   */
  dropout?: number;
  /**
   * LSTM only, PyTorch's `proj_size`: P in [1, hiddenSize) projects each step's output,
   * h_t = W_hr·(o_t ⊙ tanh(c_t)), so h0 / hN are [numLayers·D, batch, P], the output has D·P
   * features and layer l > 0 reads D·P; c0 / cN keep hiddenSize. Adds `weight_hr_l{k}` [P, H]
   * (and `_reverse`) after each direction's biases; W_hh is [4H, P]. Default 0: no projection.
   * An RNN or GRU given this option throws an ArgumentError.
   */
  projSize?: number;
  /**
   * LSTM and GRU: the gates' activation, Keras' `recurrent_activation`: `'sigmoid'` (default,
   * PyTorch's) or `'hard_sigmoid'` = clip(0.2·x + 0.5, 0, 1) (TensorFlow.js's default), in the
   * forward and the backward (whose derivative is 0.2 inside (0, 1), 0 where it clips). An RNN
   * given this option throws an ArgumentError.
   */
  recurrentActivation?: 'sigmoid' | 'hard_sigmoid';
  /** Seed of the initial weights, drawn like PyTorch's: U(−1/√hiddenSize, 1/√hiddenSize). */
  seed?: number;
  /** Thread layout of the cell-step kernels (default: 64 units × min(4, batch) rows per thread). */
  stepTile?: Partial<StepTile>;
  /**
   * @internal A model's shared parameter store: the layer registers its parameters there under
   * `prefix` (e.g. `'rnn.'`), and the model allocates the store and calls `resetParameters()`.
   */
  store?: ParameterStore;
  /** @internal Name prefix of the layer's parameters in `store`, e.g. `'rnn.'`. */
  prefix?: string;
}

/**
 * Initial state: h0 (and c0 for LSTM), each [numLayers·numDirections, batch, hiddenSize]; and
 * optional per-row sequence lengths. (An LSTM with projSize P: h0 is [numLayers·D, batch, P].)
 */
export interface RecurrentState {
  /** Initial hidden state [numLayers·D, batch, hiddenSize] (projSize with a projection). Zeros when absent. */
  h0?: Tensor;
  /** Initial cell state of an LSTM, [numLayers·D, batch, hiddenSize]. Zeros when absent. */
  c0?: Tensor;
  /**
   * Per-row sequence lengths, one integer in [1, seqLen] per batch row (a host array): PyTorch's
   * `pack_padded_sequence(input, lengths, enforce_sorted=False)` semantics, without sorting. Row
   * b's timesteps t ≥ lengths[b] are padding: its state passes through them unchanged, so `hN`
   * (`cN`) is the state after step lengths[b]−1 and the reverse direction of a bidirectional
   * layer starts at t = lengths[b]−1 from h0; `output` is 0 there. In `forwardBackward` the
   * gradients see only the real steps (`dOutput` at padded positions is ignored, `dInput` there is
   * 0). A row then gives the same result alone as inside a padded batch. Absent: every row runs
   * all seqLen steps (and the plan has no length check at all).
   */
  lengths?: ArrayLike<number>;
}

/**
 * What a forward returns, as new tensors the caller destroys: `output` [seqLen, batch,
 * D·hiddenSize]
 * ([batch, seqLen, D·hiddenSize] with batchFirst), `hN` [numLayers·D, batch, hiddenSize] and, for
 * an
 * LSTM, `cN` of the same shape. With an LSTM's projSize P, `output` has D·P features, `hN` is
 * [numLayers·D, batch, P] and `cN` keeps hiddenSize.
 */
export type RecurrentOutputs = PlanOutputs;

/** Gradients flowing into a layer's outputs, for {@link RecurrentLayer.forwardBackward}. */
export interface RecurrentUpstream {
  /** dL/d output, the output's shape. Zero when absent. */
  dOutput?: Tensor;
  /** dL/d hN, [numLayers·D, batch, hiddenSize] (projSize with a projection). Zero when absent. */
  dhN?: Tensor;
  /** dL/d cN (LSTM), [numLayers·D, batch, hiddenSize]. Zero when absent. */
  dcN?: Tensor;
}

/** A training plan: the forward that saves activations, its backward, and their dispatches. */
export interface TrainingPlan {
  forward: RecurrentPlan;
  backward: RecurrentBackward;
  /** Releases both halves. */
  destroy(): void;
}

/** The options of RNN / LSTM / GRU (src/util/options.ts); RNN adds `nonlinearity`. */
const LAYER_SCHEMA: OptionSchema = {
  inputSize: { type: 'int', min: 1, required: true },
  hiddenSize: { type: 'int', min: 1, required: true },
  numLayers: { type: 'int', min: 1 },
  bias: { type: 'boolean' },
  batchFirst: { type: 'boolean' },
  bidirectional: { type: 'boolean' },
  dropout: { type: 'number', min: 0 },
  seed: { type: 'number' },
  stepTile: { type: 'object' },
  store: { type: 'object' },
  prefix: { type: 'string' },
};

function positiveInt(what: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0)
    throw new ShapeError(`${what} must be a positive integer, got ${String(v)}`);
  return v;
}

/** `_l{layer}` or `_l{layer}_reverse` for (layer, direction) index i = layer·D + direction. */
function directionSuffix(i: number, numDirections: number): string {
  return `_l${Math.floor(i / numDirections)}${i % numDirections === 1 ? '_reverse' : ''}`;
}

/** Shared implementation of {@link RNN}, {@link LSTM} and {@link GRU}. */
export class RecurrentLayer extends Module {
  /** The layer's configuration, with defaults filled in (frozen). */
  readonly config: Readonly<RecurrentConfig>;
  /** Counts of the last forward (dispatches, submits): deterministic per (seqLen, batch). */
  lastRun: RunStats | null = null;
  /** Where the parameters live (PyTorch layout), shared with a model or owned by the layer. */
  readonly store: ParameterStore;
  /** Name prefix of this layer's parameters in {@link store}. */
  readonly prefix: string;
  private readonly localParams: LocalParameters;
  private readonly ownsStore: boolean;
  private params: DirectionParams[] = [];
  /** forward() plans per (seqLen, batch, lengths), LRU (src/util/planCache.ts). */
  private plans = new PlanCache<RecurrentPlan>();
  /** forwardBackward() plans per (seqLen, batch, inputGrad, initialStateGrad, lengths), LRU. */
  private trainPlans = new PlanCache<TrainingPlan>();
  private repack: Dispatch[] | null = null;
  private readonly repackOwned: GPUBuffer[] = [];
  private readonly tile: Partial<StepTile>;
  private readonly seed: number;
  /** Between-layer dropout of training plans (null when dropout is 0 or there is one layer). */
  readonly dropout: Dropout | null;
  /** Call order, destroy, device checks (src/nn/lifecycle.ts). */
  private readonly life: Lifecycle;
  private lastSnapshot: ModelSnapshot | null = null;

  /**
   * Use {@link RNN}, {@link LSTM} or {@link GRU}.
   * @param gpu - The device the layer's buffers live on.
   * @param cell - The cell kind.
   * @param opts - PyTorch's options.
   * @param nonlinearity - RNN only.
   */
  protected constructor(gpu: Gpu, cell: CellKind, opts: RecurrentOptions, nonlinearity?: 'tanh' | 'relu') {
    super(gpu);
    const name = cell.toUpperCase();
    if (opts === undefined || opts === null)
      throw new ArgumentError(`${name}: options { inputSize, hiddenSize, ... } are required`);
    if (cell !== 'lstm' && typeof opts === 'object' && opts.projSize !== undefined) {
      throw new ArgumentError(
        `${name}: option 'projSize' is only supported for LSTM, not RNN or GRU ` +
          `(PyTorch's proj_size), got ${String(opts.projSize)}`,
      );
    }
    opts = checkOptions<RecurrentOptions>(name, 'options', opts, {
      ...LAYER_SCHEMA,
      ...(cell === 'rnn' ? { nonlinearity: { type: 'enum', values: ['tanh', 'relu'] } } : {}),
      ...(cell === 'lstm' ? { projSize: { type: 'int', min: 0 } } : {}),
      ...(cell !== 'rnn' ? { recurrentActivation: { type: 'enum', values: ['sigmoid', 'hard_sigmoid'] } } : {}),
      ...(cell === 'gru' ? { resetAfter: { type: 'boolean' } } : {}),
    }) as RecurrentOptions & { resetAfter?: boolean };
    const projSize = opts.projSize ?? 0;
    if (projSize >= opts.hiddenSize) {
      throw new ArgumentError(
        `${name}: option 'projSize' must be smaller than hiddenSize ` +
          `(${opts.hiddenSize}), got ${projSize} (PyTorch's proj_size; 0 disables the ` +
          `projection)`,
      );
    }
    this.config = Object.freeze({
      cell,
      inputSize: opts.inputSize,
      hiddenSize: opts.hiddenSize,
      numLayers: opts.numLayers ?? 1,
      bias: opts.bias ?? true,
      batchFirst: opts.batchFirst ?? false,
      bidirectional: opts.bidirectional ?? false,
      nonlinearity,
      dropout: opts.dropout ?? 0,
      // Only present with a projection (a hard sigmoid, a reset before the matmul): a config
      // without one is unchanged (checkpoints, plans).
      ...(projSize > 0 ? { projSize } : {}),
      ...(opts.recurrentActivation === 'hard_sigmoid' ? { recurrentActivation: 'hard_sigmoid' as const } : {}),
      ...((opts as { resetAfter?: boolean }).resetAfter === false ? { resetAfter: false } : {}),
    });
    if (typeof this.config.dropout !== 'number' || !(this.config.dropout >= 0 && this.config.dropout < 1)) {
      throw new ArgumentError(`${name}: dropout must be a probability in [0, 1), got ${String(opts.dropout)}`);
    }
    checkRecurrentLayerLimits(gpu, name, this.config, opts.stepTile);
    this.dropout =
      this.config.dropout > 0 && this.config.numLayers > 1
        ? new Dropout(gpu, { p: this.config.dropout, seed: (opts.seed ?? 0) + 0x5eed })
        : null;
    this.tile = opts.stepTile ?? {};
    this.seed = opts.seed ?? 0;
    this.life = new Lifecycle(gpu, name);
    this.ownsStore = !opts.store;
    this.store = opts.store ?? new ParameterStore(gpu);
    this.prefix = opts.prefix ?? '';
    for (const { name: key, shape } of parameterShapes(this.config)) this.store.add(this.prefix + key, shape);
    this.localParams = { store: this.store, prefix: this.prefix, names: parameterShapes(this.config) };
    if (this.ownsStore) {
      this.store.allocate();
      this.resetParameters();
    }
  }

  /**
   * PyTorch's init: every parameter U(−k, k), k = 1/√hiddenSize, from the layer's seed.
   * `forgetBias` (LSTM) is then added to the forget-gate block of every `bias_ih` (Gers et al.
   * 2000; Jozefowicz et al. 2015): 1 helps an LSTM learn long dependencies. Default 0 = PyTorch.
   * @param seed - Seed of the draw (the layer's `seed` option by default): the same seed gives the
   *   same weights.
   * @param opts - `forgetBias` (LSTM; default 0).
   */
  resetParameters(seed = this.seed, opts: { forgetBias?: number } = {}): void {
    const where = `${this.config.cell.toUpperCase()}.resetParameters`;
    this.assertAlive(where);
    if (typeof seed !== 'number' || !Number.isFinite(seed))
      throw new ArgumentError(`${where}: 'seed' must be a finite number, got ${String(seed)}`);
    const { forgetBias = 0 } = checkOptions<{ forgetBias: number }>(where, 'opts', opts, {
      forgetBias: { type: 'number' },
    });
    const rand = rng(seed);
    const H = this.config.hiddenSize;
    const k = 1 / Math.sqrt(H);
    const init: StateDict = {};
    for (const { name: key, shape } of parameterShapes(this.config)) {
      const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (2 * rand() - 1) * k);
      if (forgetBias && this.config.cell === 'lstm' && key.startsWith('bias_ih'))
        for (let j = H; j < 2 * H; j++) data[j] += forgetBias;
      init[key] = { shape, data };
    }
    const values = checkParameters(where, init, this.parameterShapes(), true);
    this.life.defer(() => this.writeParameters(values));
  }

  /** D: 2 when bidirectional, else 1. */
  get numDirections(): number {
    return this.config.bidirectional ? 2 : 1;
  }

  /** PyTorch state_dict keys and shapes of this layer, in PyTorch's order. */
  parameterShapes(): Array<{ name: string; shape: number[] }> {
    return parameterShapes(this.config);
  }

  /**
   * Loads PyTorch-named parameters (`weight_ih_l0`, `weight_hh_l0_reverse`, `bias_ih_l1`, …).
   * Every key is checked (present, shape, finite values) before anything is uploaded, so a bad
   * dict leaves the layer unchanged. Unknown keys are an error unless `strict` is false.
   * @param dict - Parameters by PyTorch name: tensors, `{ shape, data }` records or nested arrays
   *   (a `state_dict` exported as JSON or read with {@link parseSafetensors}).
   * @param opts - `strict` (default true): reject keys that are not parameters of this model.
   * @throws ShapeError naming the key when one is missing, has the wrong shape or a non-finite
   *   value, or is unknown (with `strict`).
   */
  override loadStateDict(dict: StateDict, opts: { strict?: boolean } = {}): void {
    const where = `${this.config.cell.toUpperCase()}.loadStateDict`;
    this.assertAlive(where);
    const values = checkLoadStateDict(where, dict, opts, this.parameterShapes());
    this.life.defer(() => this.writeParameters(values));
  }

  /** Uploads checked parameters and the repacked W_hh. */
  private writeParameters(values: Map<string, Float32Array>): void {
    if (this.params.length === 0) this.params = this.createDirectionParams();
    const { cell, hiddenSize: H } = this.config;
    const P = realHiddenSize(this.config);
    for (const [key, data] of values) this.store.write(this.prefix + key, data);
    for (const [i, p] of this.params.entries()) {
      const sfx = directionSuffix(i, this.numDirections);
      const whh = values.get(`weight_hh${sfx}`)!;
      this.gpu.device.queue.writeBuffer(p.wp, 0, repackWhh(cell, whh, H, P));
      this.gpu.device.queue.writeBuffer(p.wb, 0, repackWhhBackward(cell, whh, H, P));
      if (p.proj) {
        // W_hr [P, H] is packed like an RNN's W_hh with P units over rows of H.
        const whr = values.get(`weight_hr${sfx}`)!;
        this.gpu.device.queue.writeBuffer(p.proj.wrp, 0, repackWhh('rnn', whr, P, H));
        this.gpu.device.queue.writeBuffer(p.proj.wrb, 0, repackWhhBackward('rnn', whr, P, H));
      }
    }
  }

  /** Buffers of each (layer, direction): views into the store, plus the repacked W_hh (W_hr) it owns. */
  private createDirectionParams(): DirectionParams[] {
    const { cell, hiddenSize: H } = this.config;
    const P = realHiddenSize(this.config);
    const G = gateCount(cell);
    return this.createViews().map(({ whr, ...v }, i) => {
      const sfx = directionSuffix(i, this.numDirections);
      return {
        ...v,
        bhh: v.bhh ?? { buffer: this.zeroBuffer(G * H, `zero bias_hh${sfx}`) },
        wp: this.gpu.pool.acquire(repackedBytes(cell, H, P), TENSOR_USAGE, `weight_hh${sfx}.packed`),
        wb: this.gpu.pool.acquire(repackedBytes(cell, H, P), TENSOR_USAGE, `weight_hh${sfx}.packedBackward`),
        proj: whr
          ? {
              ...whr,
              wrp: this.gpu.pool.acquire(repackedBytes('rnn', P, H), TENSOR_USAGE, `weight_hr${sfx}.packed`),
              wrb: this.gpu.pool.acquire(repackedBytes('rnn', P, H), TENSOR_USAGE, `weight_hr${sfx}.packedBackward`),
            }
          : undefined,
      };
    });
  }

  /**
   * Views of each (layer, direction)'s parameters in the store (b_hh null when bias=False; whr null without a
   * projection).
   */
  private createViews(): Array<
    Omit<DirectionParams, 'wp' | 'wb' | 'bhh' | 'proj'> & {
      bhh: GPUBufferBinding | null;
      whr: { name: string; whr: BufferView } | null;
    }
  > {
    const out = [];
    for (let i = 0; i < this.config.numLayers * this.numDirections; i++) {
      const sfx = directionSuffix(i, this.numDirections);
      const name = (k: string) => `${this.prefix}${k}${sfx}`;
      const bias = this.config.bias;
      out.push({
        names: {
          wih: name('weight_ih'),
          whh: name('weight_hh'),
          bih: bias ? name('bias_ih') : null,
          bhh: bias ? name('bias_hh') : null,
        },
        wih: this.store.view(name('weight_ih')),
        whh: this.store.view(name('weight_hh')),
        bih: bias ? this.store.view(name('bias_ih')) : null,
        bhh: bias ? this.store.binding(name('bias_hh')) : null,
        whr: this.config.projSize ? { name: name('weight_hr'), whr: this.store.view(name('weight_hr')) } : null,
      });
    }
    return out;
  }

  private zeroBuffer(elements: number, label: string): GPUBuffer {
    const b = this.gpu.pool.acquire(elements * 4, TENSOR_USAGE, label);
    this.gpu.device.queue.writeBuffer(b, 0, new Float32Array(elements));
    return b;
  }

  /**
   * The parameters as a checkpoint: safetensors bytes under PyTorch's names, with the layer's
   * class and config in the metadata (layout: src/nn/checkpoint.ts). Reads back from the GPU.
   */
  saveCheckpoint(): Promise<Uint8Array> {
    return this.life.call(`${this.config.cell.toUpperCase()}.saveCheckpoint`, () =>
      saveCheckpoint(this.checkpointHost()),
    );
  }

  /**
   * Loads a {@link saveCheckpoint} file of the same cell and sizes (or a PyTorch state_dict saved
   * as safetensors); a bad, truncated or corrupt file throws a ShapeError and changes nothing.
   * @param file - The bytes of a `.safetensors` file.
   */
  loadCheckpoint(file: ArrayBuffer | Uint8Array): void {
    this.assertAlive(`${this.config.cell.toUpperCase()}.loadCheckpoint`);
    loadCheckpoint(dryRun(this.checkpointHost()), file);
    this.life.defer(() => loadCheckpoint(this.checkpointHost(), file));
  }

  private checkpointHost(): CheckpointHost {
    return {
      className: this.config.cell.toUpperCase(),
      config: { ...this.config },
      structural: [
        'cell',
        'inputSize',
        'hiddenSize',
        'numLayers',
        'bias',
        'bidirectional',
        'nonlinearity',
        'projSize',
        'recurrentActivation',
        'resetAfter',
      ],
      store: this.store,
      prefix: this.prefix,
      names: this.parameterShapes().map((p) => p.name),
      loadStateDict: (dict) =>
        this.writeParameters(
          checkParameters(`${this.config.cell.toUpperCase()}.loadCheckpoint`, dict, this.parameterShapes(), true),
        ),
    };
  }

  /** The parameters under PyTorch's names and shapes (read back from the GPU). */
  override stateDict(): Promise<Record<string, NamedTensor>> {
    return this.life.call(`${this.config.cell.toUpperCase()}.stateDict`, () => readParameters(this.store, this.prefix));
  }

  /**
   * Runs the whole stack over `input` ([seqLen, batch, inputSize], or [batch, seqLen, inputSize]
   * with batchFirst) as one recorded command buffer. Returns new tensors: `output`
   * [seqLen, batch, D·hiddenSize] (batch first when batchFirst), `hN` (and `cN` for LSTM)
   * [numLayers·D, batch, hiddenSize]. `state.lengths` (one per batch row, in [1, seqLen]) runs
   * variable-length rows like PyTorch's packed sequences: see {@link RecurrentState.lengths}.
   * @param input - [seqLen, batch, inputSize] ([batch, seqLen, inputSize] with batchFirst).
   * @param state - `h0`, `c0` (LSTM) and per-row `lengths`; all optional.
   * @throws ShapeError naming the argument when `input`, `h0`, `c0` or `lengths` has the wrong
   *   shape or values; GpuLostError after a device loss until {@link RecurrentLayer.recover}.
   * @example
   * ```ts
   * const lstm = new LSTM(gpu, { inputSize: 8, hiddenSize: 16, numLayers: 2 });
   * const x = Tensor.from(gpu, new Float32Array(5 * 3 * 8), [5, 3, 8]); // [seqLen, batch, in]
   * const { output, hN, cN } = lstm.forward(x, { lengths: [5, 2, 4] });
   * console.log(output.shape, hN.shape);                               // [5, 3, 16] [2, 3, 16]
   * ```
   */
  forward(input: Tensor, state: RecurrentState = {}): RecurrentOutputs {
    const op = `${this.config.cell.toUpperCase()}.forward`;
    this.assertAlive(op);
    if (activeGraph()) return this.tracedForward(op, input, state);
    const { T, B, outputShape, stateShape, cellShape, lengths } = this.checkForward(op, input, state);
    const plan = this.plan(T, B, !!lengths);
    if (lengths) plan.writeLengths(lengths, op);
    const { stats, ...outputs } = plan.run(
      input.buffer,
      state.h0?.buffer ?? null,
      state.c0?.buffer ?? null,
      outputShape,
      stateShape,
      cellShape,
    );
    this.lastRun = stats;
    return outputs;
  }

  /**
   * Validates a forward's input and state; returns (seqLen, batch), the output shapes and the lengths (i32) if given.
   */
  private checkForward(
    op: string,
    input: Tensor,
    state: RecurrentState,
  ): {
    T: number;
    B: number;
    outputShape: number[];
    stateShape: number[];
    cellShape: number[];
    lengths: Int32Array | null;
  } {
    const { inputSize, hiddenSize: H, numLayers: L, batchFirst } = this.config;
    const P = realHiddenSize(this.config);
    expectRank(op, 'input', input, [3], this.gpu);
    const [d0, d1, features] = input.shape;
    const [T, B] = batchFirst ? [d1, d0] : [d0, d1];
    if (features !== inputSize) {
      throw new ShapeError(
        `${op}: argument 'input' has shape ${fmtShape(input.shape)}: its last dimension ` +
          `must be inputSize=${inputSize} ` +
          `(layout ${batchFirst ? '[batch, seqLen, inputSize]' : '[seqLen, batch, inputSize]'})`,
      );
    }
    const stateShape = [L * this.numDirections, B, P];
    const cellShape = [L * this.numDirections, B, H];
    if (state.h0) expectShape(op, 'h0', state.h0, stateShape, this.hLayout, this.gpu);
    if (state.c0) {
      if (this.config.cell !== 'lstm') throw new ArgumentError(`${op}: 'c0' is only for LSTM`);
      expectShape(op, 'c0', state.c0, cellShape, '[numLayers·numDirections, batch, hiddenSize]', this.gpu);
    }
    const outputShape = batchFirst ? [B, T, this.numDirections * P] : [T, B, this.numDirections * P];
    const lengths = state.lengths === undefined ? null : checkLengths(op, state.lengths, T, B);
    return { T, B, outputShape, stateShape, cellShape, lengths };
  }

  /** The layout of h0 / hN / dhN in messages. */
  private get hLayout(): string {
    return this.config.projSize
      ? '[numLayers·numDirections, batch, projSize]'
      : '[numLayers·numDirections, batch, hiddenSize]';
  }

  /**
   * Step-wise inference for generation: a stepper keeps h (and c) on the GPU and runs one
   * timestep per call (one submit). Unidirectional layers only.
   * @param batch - Rows fed per step.
   * @throws ShapeError for a bidirectional layer or a batch that is not a positive integer.
   */
  createStepper(batch: number): RecurrentStepper {
    this.assertAlive(`${this.config.cell.toUpperCase()}.createStepper`);
    if (this.config.bidirectional)
      throw new ArgumentError('createStepper: a bidirectional layer needs the whole sequence; use forward()');
    return new RecurrentStepper(this, positiveInt('createStepper: batch', batch));
  }

  /** Inside a trace: the whole stack as one graph node (fused forward, fused BPTT). */
  private tracedForward(op: string, input: Tensor, state: RecurrentState): RecurrentOutputs {
    if (state === null || typeof state !== 'object')
      throw new ArgumentError(
        `${op}: 'state' must be an object { h0, c0 }, got ${state === null ? 'null' : typeof state}`,
      );
    const extra = Object.keys(state).filter((k) => k !== 'h0' && k !== 'c0' && k !== 'lengths');
    if (extra.length)
      throw new ArgumentError(
        `${op}: unknown key(s) ${extra.map((k) => `'${k}'`).join(', ')} in state; expected h0, c0, lengths`,
      );
    const lengths = state.lengths ?? null;
    if (
      lengths !== null &&
      (typeof lengths !== 'object' || typeof (lengths as ArrayLike<number>).length !== 'number')
    ) {
      throw new ArgumentError(
        `${op}: 'lengths' must be an Int32Array (its values are handed in at every ` +
          `replay) or an array of integers (part of the trace's key), ` +
          `got ${typeof lengths}`,
      );
    }
    const names = this.parameterShapes().map((p) => p.name);
    const params = names.map((n) => this.param(n));
    const x = this.input('input', input);
    const h0 = state.h0 !== undefined ? this.input('h0', state.h0) : null;
    const c0 = state.c0 !== undefined ? this.input('c0', state.c0) : null;
    const { output, hN, cN } = recurrentValue(this, this.config.cell.toUpperCase(), x, params, h0, c0, lengths);
    return { output: output.tensor, hN: hN.tensor, cN: cN?.tensor };
  }

  /** @internal Outside a trace the layer runs its own recorded plans (see {@link forward}). */
  protected override get runsEagerly(): boolean {
    return true;
  }

  /** @internal */
  override localParameters(): LocalParameters {
    return this.localParams;
  }

  /** @internal The store moved (a Trainer gathered the parameters): views and plans are rebuilt. */
  override parametersMoved(): void {
    super.parametersMoved();
    this.dropPlans();
    const fresh = this.createViews();
    this.params = this.params.map((p, i) => {
      const { whr, ...v } = fresh[i];
      return { ...v, wp: p.wp, wb: p.wb, bhh: v.bhh ?? p.bhh, proj: p.proj && whr ? { ...p.proj, ...whr } : undefined };
    });
  }

  /** @internal New values were written to the store: rebuild the repacked W_hh on the GPU. */
  override parametersWritten(): void {
    if (this.params.length === 0) return;
    this.gpu.run(this.repackDispatches());
  }

  /** @internal */
  protected override destroyOwn(): void {
    super.destroyOwn();
    this.destroy();
  }

  /** The gpu.tuning choices a plan is built with: in the plan caches' keys, so a change applies to the next call. */
  private tuningKey(batch: number): string {
    const t = this.gpu.tuning;
    const measured = measuredRecurrentKernel(t, this.config, batch) ?? '';
    return (
      `|${t.recurrentKernel}|${t.persistentSteps}|${t.recurrentWeights}|${measured}` +
      `|${t.persistentSplit}|${t.persistentSplitReduce}|${t.persistentDirections}|${t.persistentBackward}` +
      `|${t.backwardUnits}|${t.backwardGates}|${t.forwardUnits}|${t.forwardRows}`
    );
  }

  /** The adapter's step tile for this layer at `batch` rows (the layer's `stepTile` overrides it). */
  private defaultTile(batch: number, quad: boolean): StepTile {
    const threads = stepUnitThreads(this.config.cell, this.config.hiddenSize, quad);
    return defaultStepTile(batch, this.gpu.adapterInfo.isFallbackAdapter, threads);
  }

  /** @internal The cached plan for (seqLen, batch), with per-row lengths or without. */
  plan(
    seqLen: number,
    batch: number,
    lengths = false,
    where = `${this.config.cell.toUpperCase()}.forward`,
  ): RecurrentPlan {
    return this.plans.get(`${seqLen}x${batch}${lengths ? 'L' : ''}${this.tuningKey(batch)}`, () =>
      this.createPlan(where, seqLen, batch, lengths),
    );
  }

  /**
   * @internal A new forward plan for (seqLen, batch), owned by the caller (which destroys it);
   * `where` names the public entry point in limit errors.
   */
  createPlan(where: string, seqLen: number, batch: number, lengths = false): RecurrentPlan {
    const quad = forwardQuad(this.gpu, this.config, where);
    const tile = { ...this.defaultTile(batch, quad), ...this.tile };
    const sharedRows = forwardSharedRows(this.gpu, this.config.cell, quad, tile.bt, where);
    const { recurrentWeights } = this.gpu.tuning;
    if (!['f32', 'f16', 'int8'].includes(recurrentWeights))
      throw new ArgumentError(
        `${where}: gpu.tuning.recurrentWeights must be 'f32', 'f16' or 'int8', got ${recurrentWeights}`,
      );
    const weights = this.config.projSize ? 'f32' : recurrentWeights;
    const persistent = persistentChoice(this.gpu, this.config, batch, where, weights) ?? undefined;
    const wavefront = wavefrontChoice(this.gpu, this.config, batch, this.params, weights, false, !!persistent, where);
    return new RecurrentPlan(this.gpu, this.config, this.params, seqLen, batch, tile, false, null, false, {
      lengths,
      where,
      persistent,
      wavefront,
      quad,
      sharedRows,
      // A projection's kernels read f32 weights only.
      weights,
    });
  }

  /** @internal Views of every (layer, direction)'s parameters, index layer·D + direction. */
  get directionParams(): readonly DirectionParams[] {
    return this.params;
  }

  /** @internal The cached training plan (forward saving activations + backward) for (seqLen, batch). */
  trainingPlan(
    seqLen: number,
    batch: number,
    inputGrad = false,
    initialStateGrad = false,
    lengths = false,
  ): TrainingPlan {
    const key =
      `${seqLen}x${batch}x${inputGrad ? 1 : 0}${initialStateGrad ? 1 : 0}${lengths ? 'L' : ''}` + this.tuningKey(batch);
    return this.trainPlans.get(key, () =>
      this.createTrainingPlan(`${this.config.cell.toUpperCase()}.forwardBackward`, seqLen, batch, {
        inputGrad,
        initialStateGrad,
        lengths,
      }),
    );
  }

  /**
   * @internal A new training plan (forward saving activations + backward) owned by the caller;
   * nothing stays allocated if building it throws.
   */
  createTrainingPlan(
    where: string,
    seqLen: number,
    batch: number,
    { inputGrad = false, initialStateGrad = false, lengths = false } = {},
  ): TrainingPlan {
    // Checked before anything is allocated (RecurrentBackward asks again; it cannot throw then).
    backwardSharedGates(this.gpu, this.config.cell, backwardQuad(this.gpu, this.config, where), where);
    const quad = forwardQuad(this.gpu, this.config, where);
    const tile = { ...this.defaultTile(batch, quad), ...this.tile };
    const sharedRows = forwardSharedRows(this.gpu, this.config.cell, quad, tile.bt, where);
    const forward = new RecurrentPlan(
      this.gpu,
      this.config,
      this.params,
      seqLen,
      batch,
      tile,
      true,
      this.dropout,
      false,
      {
        lengths,
        where,
        persistent: persistentChoice(this.gpu, this.config, batch, where, 'f32', true) ?? undefined,
        quad,
        sharedRows,
      },
    );
    try {
      const backward = new RecurrentBackward(this.gpu, this.config, this.params, this.store, forward, {
        inputGrad,
        initialStateGrad,
        dropout: this.dropout,
      });
      return {
        forward,
        backward,
        destroy: () => {
          forward.destroy();
          backward.destroy();
        },
      };
    } catch (e) {
      forward.destroy();
      throw e;
    }
  }

  /**
   * @internal Dispatches that rebuild the forward kernels' repacked W_hh from the parameters
   * (one per layer-direction); an optimizer step that changed W_hh must be followed by them.
   */
  repackDispatches(): Dispatch[] {
    if (!this.repack) {
      this.repack = [];
      const { cell, hiddenSize: H } = this.config;
      const P = realHiddenSize(this.config);
      for (const [i, p] of this.params.entries()) {
        const sfx = directionSuffix(i, this.numDirections);
        const ds = [
          repackWhhDispatch(this.gpu, cell, H, this.store.binding(p.names.whh), p.wp, p.wb, `repack${sfx}`, P),
        ];
        // A projection's W_hr [P, H]: packed like an RNN's W_hh with P units over rows of H.
        if (p.proj)
          ds.push(
            repackWhhDispatch(
              this.gpu,
              'rnn',
              P,
              this.store.binding(p.proj.name),
              p.proj.wrp,
              p.proj.wrb,
              `repack_hr${sfx}`,
              H,
            ),
          );
        for (const d of ds) {
          pushAll(this.repackOwned, d.transient ?? []);
          this.repack.push({ ...d, transient: undefined });
        }
      }
    }
    return this.repack;
  }

  /**
   * Forward and backpropagation through time in ONE command buffer and one submit. Returns the
   * forward's outputs (and dL/dinput with `inputGrad`, dL/dh0 and dL/dc0 with `initialStateGrad`);
   * the parameter gradients are left in the store's gradient buffer (read them with
   * {@link gradients}). `lastRun` counts the dispatches. `state.lengths` runs variable-length
   * rows (see {@link RecurrentState.lengths}): padded steps get no gradient, `dOutput` there is
   * ignored, and dhN / dcN reach row b's step lengths[b]−1.
   * @param input - As {@link RecurrentLayer.forward}.
   * @param state - As {@link RecurrentLayer.forward}.
   * @param upstream - dL/d output, dL/d hN, dL/d cN (each optional: zero when absent).
   * @throws ShapeError naming the argument when a tensor has the wrong shape.
   */
  forwardBackward(
    input: Tensor,
    state: RecurrentState,
    upstream: RecurrentUpstream,
    { inputGrad = false, initialStateGrad = false }: { inputGrad?: boolean; initialStateGrad?: boolean } = {},
  ): RecurrentOutputs & { dInput?: Tensor; dh0?: Tensor; dc0?: Tensor } {
    const op = `${this.config.cell.toUpperCase()}.forwardBackward`;
    this.assertAlive(op);
    const { T, B, outputShape, stateShape, cellShape, lengths } = this.checkForward(op, input, state);
    const features = this.config.projSize ? 'D·projSize' : 'D·hiddenSize';
    if (upstream.dOutput)
      expectShape(
        op,
        'dOutput',
        upstream.dOutput,
        outputShape,
        this.config.batchFirst ? `[batch, seqLen, ${features}]` : `[seqLen, batch, ${features}]`,
        this.gpu,
      );
    if (upstream.dhN) expectShape(op, 'dhN', upstream.dhN, stateShape, this.hLayout, this.gpu);
    if (upstream.dcN) {
      if (this.config.cell !== 'lstm') throw new ArgumentError(`${op}: 'dcN' is only for LSTM`);
      expectShape(op, 'dcN', upstream.dcN, cellShape, '[numLayers·numDirections, batch, hiddenSize]', this.gpu);
    }
    const { forward, backward } = this.trainingPlan(T, B, inputGrad, initialStateGrad, !!lengths);
    if (lengths) forward.writeLengths(lengths, op);
    // Between-layer dropout is on here (training); its mask is drawn with `dropout.counter`.
    this.dropout?.setTraining(true);
    const gpu = this.gpu;
    const output = Tensor.empty(gpu, outputShape, 'rnn.output');
    const hN = Tensor.empty(gpu, stateShape, 'rnn.hN');
    const cN = forward.c ? Tensor.empty(gpu, cellShape, 'rnn.cN') : undefined;
    const dInput = inputGrad ? Tensor.empty(gpu, input.shape, 'rnn.dInput') : undefined;
    const dh0 = initialStateGrad ? Tensor.empty(gpu, stateShape, 'rnn.dh0') : undefined;
    const dc0 = initialStateGrad && forward.c ? Tensor.empty(gpu, cellShape, 'rnn.dc0') : undefined;
    const encoder = gpu.device.createCommandEncoder({ label: 'rnn.forwardBackward' });
    encoder.copyBufferToBuffer(input.buffer, 0, forward.input, 0, input.size * 4);
    forward.encodeInitialState(encoder, state.h0?.buffer ?? null, state.c0?.buffer ?? null);
    if (upstream.dOutput) encoder.copyBufferToBuffer(upstream.dOutput.buffer, 0, backward.dout, 0, output.size * 4);
    else encoder.clearBuffer(backward.dout);
    backward.encodeInit(encoder, { dhN: upstream.dhN?.buffer, dcN: upstream.dcN?.buffer });
    const pass = encoder.beginComputePass({ label: 'rnn.forwardBackward' });
    encodeDispatches(pass, forward.dispatches);
    encodeDispatches(pass, backward.dispatches);
    pass.end();
    encoder.copyBufferToBuffer(forward.output, 0, output.buffer, 0, output.size * 4);
    encoder.copyBufferToBuffer(forward.hN, 0, hN.buffer, 0, forward.stateBytes);
    if (cN && forward.c) encoder.copyBufferToBuffer(forward.c, 0, cN.buffer, 0, forward.cStateBytes);
    if (dInput && backward.dinput) encoder.copyBufferToBuffer(backward.dinput, 0, dInput.buffer, 0, dInput.size * 4);
    if (dh0 && backward.dh0) encoder.copyBufferToBuffer(backward.dh0, 0, dh0.buffer, 0, forward.stateBytes);
    if (dc0 && backward.carry) encoder.copyBufferToBuffer(backward.carry, 0, dc0.buffer, 0, forward.cStateBytes);
    const dispatches = forward.dispatches.length + backward.dispatches.length;
    gpu.submit(encoder, dispatches);
    this.lastRun = { seqLen: T, batch: B, dispatches, submits: 1 };
    return { output, hN, cN, dInput, dh0, dc0 };
  }

  /** The gradients left by the last {@link forwardBackward} (or training step), by PyTorch name. */
  gradients(): Promise<Record<string, NamedTensor>> {
    return this.life.call(`${this.config.cell.toUpperCase()}.gradients`, () =>
      readParameters(this.store, this.prefix, true),
    );
  }

  /**
   * Reads the parameters back to the CPU (one readback) and keeps them as the state
   * {@link recover} restores after a device loss. Returns them ({@link ModelSnapshot}, `optimizer`
   * null: a bare layer has none).
   */
  snapshot(): Promise<ModelSnapshot> {
    return this.life.call(`${this.config.cell.toUpperCase()}.snapshot`, async () => {
      const s: ModelSnapshot = {
        parameters: await readParameters(this.store, this.prefix),
        optimizer: null,
        step: 0,
        generation: this.gpu.generation,
      };
      this.lastSnapshot = s;
      return s;
    });
  }

  /**
   * After a device loss: opens a new device if that was not done yet (`gpu.recover()`), rebuilds
   * the layer's buffers on it and uploads `from` — a {@link snapshot}, or a state dict — or else
   * the last snapshot, bit for bit. Plans are rebuilt at the next call; steppers and tensors of
   * the old device cannot be used any more. Without a device loss it restores `from` in place. A
   * layer inside a model is recovered by the model's `recover()`.
   * @param from - What to upload: a snapshot or a state dict; the last
   *   {@link RecurrentLayer.snapshot} when absent.
   */
  recover(from?: ModelSnapshot | StateDict): Promise<void> {
    const where = `${this.config.cell.toUpperCase()}.recover`;
    return this.life.call(
      where,
      async () => {
        if (!this.ownsStore || this.store.isShared)
          throw new ArgumentError(`${where}: this layer belongs to a model; call the model's recover()`);
        const source = from ?? this.lastSnapshot;
        if (!source)
          throw new ArgumentError(
            `${where}: nothing to restore: call snapshot() while the device works, or pass a snapshot or a state dict`,
          );
        const dict: StateDict = isSnapshot(source) ? source.parameters : (source as RecoverSource as StateDict);
        // all checked before anything changes
        const values = checkParameters(where, dict, this.parameterShapes(), true);
        await this.gpu.recover();
        this.resetBuffers();
        this.writeParameters(values);
      },
      { deviceCheck: false },
    );
  }

  /**
   * @internal Forgets every GPU buffer of the layer (plans, repacked weights, dropout uniforms;
   * its own parameter store is reallocated, zeroed) and adopts the Gpu's current device: the
   * parameters must then be loaded again (a model reallocates its shared store first).
   */
  resetBuffers(): void {
    this.dropPlans();
    this.releaseParams();
    this.life.generation = this.gpu.generation;
    this.dropout?.rebuild();
    if (this.ownsStore) this.store.allocate();
  }

  /** @internal Host-side counters and caches (see SequenceModel.debugState). */
  debugState(): Record<string, unknown> {
    return {
      plans: this.plans.keys(),
      trainPlans: this.trainPlans.keys(),
      lastRun: this.lastRun,
      repacked: !!this.repack,
      dropout: this.dropout?.counter ?? null,
    };
  }

  /** Releases every GPU buffer of the layer (parameters and plans). */
  override destroy(): void {
    this.life.destroy(() => {
      this.dropPlans();
      this.releaseParams();
      this.dropout?.destroy();
    });
  }

  private assertAlive(where = this.config.cell.toUpperCase()): void {
    this.life.assertLive(where);
  }

  private dropPlans(): void {
    this.plans.clear();
    this.trainPlans.clear();
    for (const b of this.repackOwned.splice(0)) this.gpu.pool.release(b);
    this.repack = null;
  }

  private releaseParams(): void {
    for (const p of this.params) {
      this.gpu.pool.release(p.wp);
      this.gpu.pool.release(p.wb);
      if (p.proj) {
        this.gpu.pool.release(p.proj.wrp);
        this.gpu.pool.release(p.proj.wrb);
      }
      if (!p.names.bhh) this.gpu.pool.release(p.bhh.buffer);
    }
    this.params = [];
    if (this.ownsStore) this.store.destroy();
  }
}

/** One-timestep-at-a-time inference with the state kept on the GPU (see {@link RecurrentLayer.createStepper}). */
export class RecurrentStepper {
  private h: Tensor;
  private c: Tensor | null;

  private readonly generation: number;

  /**
   * Use {@link RecurrentLayer.createStepper}. The state starts at zeros.
   * @param layer - A unidirectional layer.
   * @param batch - Rows fed per step.
   */
  constructor(
    private readonly layer: RecurrentLayer,
    readonly batch: number,
  ) {
    this.generation = layer.gpu.generation;
    this.h = Tensor.zeros(layer.gpu, [layer.config.numLayers, batch, realHiddenSize(layer.config)], 'stepper.h');
    this.c =
      layer.config.cell === 'lstm'
        ? Tensor.zeros(layer.gpu, [layer.config.numLayers, batch, layer.config.hiddenSize], 'stepper.c')
        : null;
  }

  /**
   * Feeds x_t ([batch, inputSize]); returns the top layer's h_t ([batch, hiddenSize], or
   * [batch, projSize] with a projection).
   * @param x - This timestep's input [batch, inputSize].
   * @returns A new tensor [batch, hiddenSize] the caller destroys.
   * @throws ShapeError when `x` has another shape; GpuLostError (or ShapeError) after the layer
   *   recovered on a new device.
   */
  step(x: Tensor): Tensor {
    const { inputSize } = this.layer.config;
    const hiddenSize = realHiddenSize(this.layer.config);
    assertSameDevice(
      this.layer.gpu,
      this.generation,
      'RecurrentStepper.step',
      'create a new stepper (layer.createStepper) after the layer recovered',
    );
    expectShape('RecurrentStepper.step', 'x', x, [this.batch, inputSize], '[batch, inputSize]', this.layer.gpu);
    const plan = this.layer.plan(1, this.batch);
    const { output, hN, cN } = plan.run(
      x.buffer,
      this.h.buffer,
      this.c?.buffer ?? null,
      [this.batch, hiddenSize],
      this.h.shape as number[],
      this.c?.shape as number[] | undefined,
    );
    this.layer.lastRun = { seqLen: 1, batch: this.batch, dispatches: plan.dispatches.length, submits: 1 };
    this.h.destroy();
    this.h = hN;
    if (this.c) {
      this.c.destroy();
      this.c = cN!;
    }
    return output;
  }

  /** The current state (owned by the stepper; valid until the next step). */
  get state(): { h: Tensor; c?: Tensor } {
    return { h: this.h, c: this.c ?? undefined };
  }

  /** Resets the state to zeros. */
  reset(): void {
    this.h.write(new Float32Array(this.h.size));
    this.c?.write(new Float32Array(this.c.size));
  }

  /** Releases the state tensors. */
  destroy(): void {
    this.h.destroy();
    this.c?.destroy();
  }
}

/** Elman RNN, `h_t = act(x_t·W_ihᵀ + b_ih + h_{t−1}·W_hhᵀ + b_hh)`, like `torch.nn.RNN`. */
export class RNN extends RecurrentLayer {
  /**
   * Creates the layer with PyTorch's initialisation (from `opts.seed`).
   * @param gpu - The device the layer's buffers live on.
   * @param opts - PyTorch's `nn.RNN` options; `nonlinearity` `'tanh'` (default) or `'relu'`.
   * @throws ShapeError for a size that is not a positive integer, a dropout outside [0, 1) or an
   *   unknown nonlinearity.
   */
  constructor(gpu: Gpu, opts: RecurrentOptions & { nonlinearity?: 'tanh' | 'relu' }) {
    const nl = opts?.nonlinearity ?? 'tanh';
    if (nl !== 'tanh' && nl !== 'relu')
      throw new ArgumentError(`RNN: nonlinearity must be 'tanh' or 'relu', got '${String(nl)}'`);
    super(gpu, 'rnn', opts, nl);
  }
}

/**
 * LSTM with PyTorch's gate order (i, f, g, o) and weight layout, like `torch.nn.LSTM`.
 * @example
 * ```ts
 * const lstm = new LSTM(gpu, { inputSize: 128, hiddenSize: 256, numLayers: 2, bidirectional: true });
 * lstm.loadStateDict(parseSafetensors(bytes));                // a PyTorch nn.LSTM's state_dict
 * const { output, hN, cN } = lstm.forward(x);                 // x [seqLen, batch, 128]: one submit
 * const stepper = new LSTM(gpu, { inputSize: 128, hiddenSize: 256 }).createStepper(1);
 * const h1 = stepper.step(x1);                                // x1 [1, 128] → h1 [1, 256]
 * ```
 */
export class LSTM extends RecurrentLayer {
  /**
   * Creates the layer with PyTorch's initialisation (from `opts.seed`).
   * @param gpu - The device the layer's buffers live on.
   * @param opts - PyTorch's `nn.LSTM` options.
   * @throws ShapeError for a size that is not a positive integer or a dropout outside [0, 1).
   */
  constructor(gpu: Gpu, opts: RecurrentOptions) {
    super(gpu, 'lstm', opts);
  }
}

/**
 * GRU with PyTorch's semantics (reset gate applied after the recurrent matmul), like `torch.nn.GRU`;
 * `resetAfter: false` applies it before (Keras' `reset_after=False`, TensorFlow.js's GRU).
 */
export class GRU extends RecurrentLayer {
  /**
   * Creates the layer with PyTorch's initialisation (from `opts.seed`).
   * @param gpu - The device the layer's buffers live on.
   * @param opts - PyTorch's `nn.GRU` options, and `resetAfter`: true (default, PyTorch's and
   *   Keras 2's) n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)); false (Keras' reset_after=False)
   *   n = tanh(W_in x + b_in + W_hn (r ⊙ h) + b_hn), which runs two dispatches per step with the
   *   step kernels, for inference only (training it throws an ArgumentError).
   * @throws ShapeError for a size that is not a positive integer or a dropout outside [0, 1).
   */
  constructor(gpu: Gpu, opts: RecurrentOptions & { resetAfter?: boolean }) {
    super(gpu, 'gru', opts);
  }
}
