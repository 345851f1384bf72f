// A small sequence model: [Embedding] → RNN | LSTM | GRU stack → Linear head, trained on the GPU.
//   many-to-many: the head reads every timestep's output (next-token / next-value prediction);
//   many-to-one:  the head reads the top layer's final hidden state (both directions when
//                 bidirectional) — sequence classification or regression.
// Parameters use PyTorch's names with module prefixes (`embedding.weight`, `rnn.weight_ih_l0`,
// `head.weight`, `head.bias`), so a PyTorch module with attributes embedding/rnn/head loads as is.
// Inputs are time-major: tokens [seqLen, batch] or values [seqLen, batch, inputSize].
import type { Gpu } from '../gpu/device.js';
import { ShapeError, fmtShape } from '../gpu/errors.js';
import { TENSOR_USAGE } from '../gpu/flags.js';
import { Optimizer, type OptimizerOptions } from '../optim/optimizer.js';
import type { LRSchedule } from '../optim/schedules.js';
import { TrainStep } from '../plan/trainStep.js';
import { gemmDispatches } from '../kernels/matmul.js';
import { embeddingDispatch } from '../kernels/embedding.js';
import { encodeDispatches, type Dispatch } from '../gpu/dispatch.js';
import { readParameter, type NamedTensor, type StateDict } from '../io/stateDict.js';
import { saveCheckpoint, loadCheckpoint, checkCounters, checkTensor, type CheckpointHost, type LoadCheckpointOptions } from '../io/checkpoint.js';
import { rng } from '../util/random.js';
import { checkBindingSizes } from '../gpu/limits.js';
import { ParameterStore, type ParameterSlot } from './parameters.js';
import { RNN, LSTM, GRU, type RecurrentLayer } from './recurrent.js';
import { NanGuard } from '../optim/nanGuard.js';
import { assertSameDevice, isSnapshot, readParameters, type ModelSnapshot, type RecoverSource } from './recovery.js';
import type { RecurrentPlan } from '../plan/recurrentPlan.js';
import type { CellKind } from './recurrentConfig.js';

/**
 * Options of a {@link SequenceModel}. Give either `vocabSize` + `embeddingDim` (token inputs) or
 * `inputSize` (value inputs).
 */
export interface SequenceModelOptions {
  /** The recurrent cell. */
  cell: CellKind;
  /** Token input: an Embedding(vocabSize, embeddingDim) in front of the recurrent stack. */
  vocabSize?: number;
  /** Features of an embedding row (the recurrent stack's input size), with `vocabSize`. */
  embeddingDim?: number;
  /** Embedding row that gets no gradient (PyTorch padding_idx). */
  paddingIdx?: number;
  /** Value input: features per timestep (no embedding). */
  inputSize?: number;
  /** H of every recurrent layer. */
  hiddenSize: number;
  /** Stacked recurrent layers. Default 1. */
  numLayers?: number;
  /** Bidirectional layers (the head reads both directions). Default false. */
  bidirectional?: boolean;
  /** RNN cell only: `'tanh'` (default) or `'relu'`. */
  nonlinearity?: 'tanh' | 'relu';
  /** Dropout between recurrent layers (PyTorch's `dropout`), in training steps only. Default 0. */
  dropout?: number;
  /** Classes (cross-entropy) or values (MSE) predicted per row. */
  outputSize: number;
  /** `'manyToMany'`: the head at every timestep; `'manyToOne'`: on the top layer's final state. */
  mode: 'manyToMany' | 'manyToOne';
  /** Mean cross-entropy over classes, or mean squared error over values. */
  loss: 'crossEntropy' | 'mse';
  /** Cross-entropy targets equal to this are skipped (PyTorch ignore_index). Default −100. */
  ignoreIndex?: number;
  /** LSTM: added to the forget-gate bias at init (1 helps long memory). Default 0, as PyTorch. */
  forgetBias?: number;
  /** Seed of the initial weights (PyTorch's init distributions). Default 0. */
  seed?: number;
}

type Resolved = Required<Omit<SequenceModelOptions, 'vocabSize' | 'embeddingDim' | 'paddingIdx' | 'inputSize'>> &
  Pick<SequenceModelOptions, 'vocabSize' | 'embeddingDim' | 'paddingIdx'> & { inputSize: number };

/**
 * One batch, time-major. `inputs`: i32 tokens [seqLen·batch] or f32 values [seqLen·batch·inputSize].
 * `targets`: cross-entropy class ids (i32), one per logits row — [seqLen·batch] many-to-many,
 * [batch] many-to-one; MSE values (f32) [rows·outputSize].
 */
export interface Batch {
  /** Token ids [seqLen·batch] or values [seqLen·batch·inputSize], element (t, b) at t·batch + b. */
  inputs: Int32Array | Float32Array | ArrayLike<number>;
  /** Class ids (cross-entropy) or values (MSE), as above. */
  targets: Int32Array | Float32Array | ArrayLike<number>;
  /** Timesteps. */
  seqLen: number;
  /** Sequences. */
  batch: number;
}

/** What {@link SequenceModel.configureTraining} takes. */
export interface TrainOptions {
  /** Algorithm and hyperparameters, over every parameter. */
  optimizer: OptimizerOptions;
  /** Learning rate per step (PyTorch's closed forms, src/optim/schedules.ts). Default: constant. */
  schedule?: LRSchedule;
  /**
   * Truncated BPTT: carry the final state of one batch into the next as its initial state
   * (without gradient through it), for consecutive windows of long sequences. Default false.
   */
  carryState?: boolean;
  /**
   * NaN/Inf guard (default false): inside each step's command buffer, after the gradient norm, a
   * one-thread kernel checks the loss and the norm; if either is NaN or ±Inf the optimizer update
   * writes nothing — nor does any later step's until the host has seen it — so the weights and
   * optimizer state keep their bits. The step itself rejects with a {@link NonFiniteError}
   * (naming the step, the loss and the norm) when it reads the loss; otherwise the first
   * trainStep after the GPU reported it (a readback that is never waited for: usually the next
   * step or the one after). The step count is then rewound to the last good step and training
   * can go on. Cost: one dispatch per step (two without clipNorm / trackGradNorm: the norm) and
   * a 32-byte readback in flight. Without the guard a NaN loss flows into the weights (and
   * Adam's moments): every later loss is NaN.
   */
  nanGuard?: boolean;
}

/** Counts of the last recorded call: deterministic per (seqLen, batch). */
export interface StepStats {
  /** Compute dispatches of the call. */
  dispatches: number;
  /** Command buffers it submitted (1). */
  submits: number;
}

/** Sampling options of {@link SequenceModel.generate}. */
export interface GenerateOptions {
  /** Logits are divided by it before the softmax; 0 picks the most likely token. Default 1. */
  temperature?: number;
  /** Sample only among the k most likely tokens (0: all). Default 0. */
  topK?: number;
  /** Seed of the sampler. Default 0. */
  seed?: number;
}

/** Step-wise inference state for generation: one timestep per submit, state on the GPU. */
interface Generator {
  /** The layer's cached seqLen-1 plan these dispatches were built on. */
  plan: RecurrentPlan;
  dispatches: Dispatch[];
  token: GPUBuffer;
  logits: GPUBuffer;
  h: GPUBuffer;
  c: GPUBuffer | null;
  owned: GPUBuffer[];
}

const MAX_STEPS = 4;

/**
 * `[Embedding] → RNN | LSTM | GRU stack → Linear` trained on the GPU: many-to-many (the head at
 * every timestep, e.g. next-token prediction) or many-to-one (the head on the final state), with
 * cross-entropy or MSE. Parameters carry PyTorch's names (`embedding.weight`,
 * `rnn.weight_ih_l0`, `head.weight`, `head.bias`). Each {@link SequenceModel.trainStep} is one
 * recorded command buffer and one submit: forward, loss, BPTT, gradient norm and clipping,
 * optimizer update. Inputs are time-major.
 * @example
 * ```ts
 * const model = new SequenceModel(gpu, { cell: 'lstm', vocabSize: 65, embeddingDim: 32, hiddenSize: 256,
 *   outputSize: 65, mode: 'manyToMany', loss: 'crossEntropy' });
 * model.configureTraining({ optimizer: { kind: 'adamw', lr: 3e-3, clipNorm: 1 }, schedule: cosineLR(5000) });
 * const rand = rng(1);
 * for (let i = 0; i < 1000; i++) await model.trainStep(randomWindows(ids, 64, 32, rand));
 * console.log(await model.evaluate(randomWindows(heldOut, 64, 32, rand)));
 * const tokens = await model.generate(vocab.encode('Shall I '), 200, { temperature: 0.8, topK: 10 });
 * ```
 */
export class SequenceModel {
  /** The options with defaults filled in. */
  readonly options: Readonly<Resolved>;
  /**
   * Every parameter in one flat buffer (and their gradients in a second), under PyTorch's names.
   */
  readonly store: ParameterStore;
  /** The recurrent stack (its parameters live in {@link SequenceModel.store} under `rnn.`). */
  readonly rnn: RecurrentLayer;
  /** The embedding table's slot, or null for value inputs. */
  readonly embeddingSlot: ParameterSlot | null;
  /** Counts of the last trainStep / evaluate call. */
  lastRun: StepStats | null = null;
  private optimizer: Optimizer | null = null;
  private train: TrainOptions | null = null;
  private steps = new Map<string, TrainStep>();
  /** Truncated BPTT: the state carried between batches (one per batch size). */
  private carried = new Map<number, { h: GPUBuffer; c: GPUBuffer | null }>();
  private stepCount = 0;
  private generator: Generator | null = null;
  private guard: NanGuard | null = null;
  /** `gpu.generation` of the device this model's buffers are on (see {@link recover}). */
  private generation: number;
  private lastSnapshot: ModelSnapshot | null = null;

  /**
   * Builds the model with PyTorch's initialisation from `opts.seed`.
   * @param gpu - The device the model's buffers live on.
   * @param opts - Architecture, loss and seed.
   * @throws ShapeError naming the option when one is missing or invalid.
   */
  constructor(readonly gpu: Gpu, opts: SequenceModelOptions) {
    this.options = resolveOptions(opts);
    this.generation = gpu.generation;
    const o = this.options;
    // The largest parameters within one binding before anything is built (the store checks their sum).
    checkBindingSizes(gpu, 'SequenceModel', {
      [`embedding.weight [vocabSize ${o.vocabSize}, embeddingDim ${o.embeddingDim}]`]: (o.vocabSize ?? 0) * (o.embeddingDim ?? 0),
      [`head.weight [outputSize ${o.outputSize}, ${o.bidirectional ? 2 : 1}·hiddenSize ${o.hiddenSize}]`]: o.outputSize * (o.bidirectional ? 2 : 1) * o.hiddenSize,
    });
    this.store = new ParameterStore(gpu);
    this.embeddingSlot = o.vocabSize ? this.store.add('embedding.weight', [o.vocabSize, o.embeddingDim!]) : null;
    const layerOpts = {
      inputSize: o.inputSize, hiddenSize: o.hiddenSize, numLayers: o.numLayers, bidirectional: o.bidirectional,
      dropout: o.dropout, seed: o.seed, store: this.store, prefix: 'rnn.',
    };
    this.rnn = o.cell === 'lstm' ? new LSTM(gpu, layerOpts) : o.cell === 'gru' ? new GRU(gpu, layerOpts) : new RNN(gpu, { ...layerOpts, nonlinearity: o.nonlinearity });
    const D = o.bidirectional ? 2 : 1;
    this.store.add('head.weight', [o.outputSize, D * o.hiddenSize]);
    this.store.add('head.bias', [o.outputSize]);
    this.store.allocate();
    this.resetParameters(o.seed);
  }

  /**
   * PyTorch's default inits: Embedding N(0, 1); RNN U(±1/√H); Linear U(±1/√in).
   * @param seed - Seed of the draw (`options.seed` by default).
   */
  resetParameters(seed = this.options.seed): void {
    const rand = rng(seed + 1);
    if (this.embeddingSlot) {
      const normal = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
      const w = Float32Array.from({ length: this.embeddingSlot.size }, normal);
      if (this.options.paddingIdx !== undefined) w.fill(0, this.paddingRow() * this.options.embeddingDim!, (this.paddingRow() + 1) * this.options.embeddingDim!);
      this.store.write('embedding.weight', w);
    }
    this.rnn.resetParameters(seed, { forgetBias: this.options.forgetBias });
    const fanIn = this.store.slot('head.weight').shape[1];
    const k = 1 / Math.sqrt(fanIn);
    for (const name of ['head.weight', 'head.bias']) {
      this.store.write(name, Float32Array.from({ length: this.store.slot(name).size }, () => (2 * rand() - 1) * k));
    }
  }

  /** Every parameter under its PyTorch name (read back from the GPU). */
  async stateDict(): Promise<Record<string, NamedTensor>> {
    assertSameDevice(this.gpu, this.generation, 'SequenceModel.stateDict');
    return this.store.readAll();
  }

  /**
   * Loads PyTorch-named parameters; every key is checked before anything is written.
   * @param dict - Parameters by PyTorch name (`embedding.weight`, `rnn.weight_ih_l0`,
   *   `head.weight`, `head.bias`, …).
   * @throws ShapeError naming the key when one is missing, has the wrong shape or a non-finite
   *   value, or is unexpected (with `strict`); the model is unchanged then.
   */
  loadStateDict(dict: StateDict, { strict = true }: { strict?: boolean } = {}): void {
    assertSameDevice(this.gpu, this.generation, 'SequenceModel.loadStateDict');
    const values = this.store.checkStateDict('SequenceModel.loadStateDict', dict, strict);
    const rnnDict: StateDict = {};
    for (const [name, data] of values) {
      if (name.startsWith('rnn.')) rnnDict[name.slice(4)] = data;
      else this.store.write(name, data);
    }
    this.rnn.loadStateDict(rnnDict);
  }

  /** Gradients of the last training step, by parameter name. */
  async gradients(): Promise<Record<string, NamedTensor>> {
    assertSameDevice(this.gpu, this.generation, 'SequenceModel.gradients');
    return this.store.readAll(true);
  }

  /**
   * Sets up training: the optimizer over all parameters (one flat buffer) and the schedule.
   * @param train - Optimizer, schedule, truncated BPTT and the NaN/Inf guard.
   * @throws ShapeError naming the option when one is invalid.
   */
  configureTraining(train: TrainOptions): void {
    assertSameDevice(this.gpu, this.generation, 'SequenceModel.configureTraining');
    if (!train || typeof train !== 'object') throw new ShapeError('SequenceModel.configureTraining: expected { optimizer, schedule?, carryState?, nanGuard? }');
    Optimizer.checkOptions(train.optimizer, this.store.length); // a bad option leaves the current optimizer in place
    this.optimizer?.destroy();
    this.makeOptimizer(train);
    this.train = train;
    this.stepCount = 0;
  }

  /** The optimizer of `train` (and its NaN/Inf guard) over the current store. */
  private makeOptimizer(train: TrainOptions): void {
    this.guard?.destroy();
    this.guard = null;
    this.optimizer = new Optimizer(this.gpu, train.optimizer, this.store.params, this.store.grads, this.store.length, { guard: !!train.nanGuard });
    if (train.nanGuard) {
      this.guard = new NanGuard(this.gpu, this.optimizer, 'SequenceModel.trainStep', (skipped) => {
        this.stepCount = Math.max(0, this.stepCount - skipped);
        this.resetState(); // the carried state of a bad step may be non-finite
      });
    }
  }

  /**
   * Reads the parameters, the optimizer state and the step count back to the CPU (two
   * readbacks) and keeps them as the state {@link recover} restores after a device loss; returns
   * them. Call it every few hundred steps: it waits for the GPU.
   */
  async snapshot(): Promise<ModelSnapshot> {
    assertSameDevice(this.gpu, this.generation, 'SequenceModel.snapshot');
    const parameters = await readParameters(this.store);
    const optimizer = this.optimizer ? await this.optimizer.readState() : null;
    this.lastSnapshot = { parameters, optimizer, step: this.stepCount, generation: this.gpu.generation };
    return this.lastSnapshot;
  }

  /**
   * After a device loss (`gpu.lost`, or a {@link GpuLostError} from any call): opens a new device
   * if that was not done yet (`gpu.recover()`), rebuilds every buffer, plan and pipeline on it and
   * restores `from` — a {@link snapshot}, a state dict (parameters only; the optimizer starts
   * afresh) or checkpoint bytes (saveCheckpoint) — or else the last snapshot: parameters and
   * optimizer state bit for bit, the step count, the training options. The truncated-BPTT state
   * starts from zero. Without a device loss it restores `from` in place. A snapshot or state dict
   * is checked before anything changes.
   * @param from - A snapshot, a state dict or checkpoint bytes; the last
   *   {@link SequenceModel.snapshot} when absent.
   * @throws ShapeError when there is nothing to restore or `from` does not fit the model.
   */
  async recover(from?: RecoverSource): Promise<void> {
    const source = from ?? this.lastSnapshot;
    if (!source) throw new ShapeError('SequenceModel.recover: nothing to restore: call model.snapshot() while the device works (e.g. every few hundred steps), or pass a snapshot, a state dict or checkpoint bytes');
    const bytes = source instanceof ArrayBuffer || ArrayBuffer.isView(source) ? (source as ArrayBuffer | Uint8Array) : null;
    const snap: { parameters: StateDict; optimizer: ModelSnapshot['optimizer']; step: number } | null = bytes ? null : isSnapshot(source) ? source : { parameters: source as StateDict, optimizer: null, step: 0 };
    if (snap) for (const name of this.store.names) readParameter(snap.parameters, name, this.store.slot(name).shape);
    await this.gpu.recover();
    // Forget the old buffers (releasing them is a no-op once the pool moved to the new device).
    this.guard?.destroy();
    this.guard = null;
    this.optimizer?.destroy();
    this.optimizer = null;
    for (const b of this.generator?.owned ?? []) this.gpu.pool.release(b);
    this.generator = null;
    for (const st of this.steps.values()) st.destroy();
    this.steps.clear();
    this.resetState();
    this.rnn.resetBuffers();
    this.store.destroy();
    this.store.allocate();
    this.generation = this.gpu.generation;
    if (bytes) {
      this.resetParameters(); // a usable model if the checkpoint is rejected
      if (this.train) this.makeOptimizer(this.train);
      this.stepCount = 0;
      this.loadCheckpoint(bytes);
      return;
    }
    this.loadStateDict(snap!.parameters);
    this.stepCount = snap!.step;
    if (this.train) {
      this.makeOptimizer(this.train);
      if (snap!.optimizer) this.optimizer!.loadState(snap!.optimizer);
    }
  }

  /**
   * The optimizer set up by {@link SequenceModel.configureTraining} (null before), e.g. for
   * `gradNorm()` or `readState()`.
   */
  get optimizerState(): Optimizer | null {
    return this.optimizer;
  }

  /**
   * The model as a checkpoint (safetensors bytes): every parameter under its PyTorch name and,
   * once training is configured, the optimizer's moments under torch.optim's names with its step
   * and hyperparameters in the metadata, and the state carried between batches (carryState)
   * (layout: src/io/checkpoint.ts). Reads back from the GPU.
   */
  saveCheckpoint(): Promise<Uint8Array> {
    return saveCheckpoint(this.checkpointHost());
  }

  /**
   * Restores a {@link saveCheckpoint} file (or a PyTorch state_dict saved as safetensors). All of
   * it is checked first — a bad, truncated or corrupt file throws a ShapeError naming the problem
   * and changes nothing — then the optimizer (saved hyperparameters, step, moments), the state
   * carried between batches (carryState) and the parameters are restored, so training continues
   * exactly as it would have. A schedule and carryState come from `opts.train`, else from the
   * current training options. Loading parameters only (`optimizer: false`, or a file without
   * optimizer state) resets the carried state.
   * @param file - The bytes of a `.safetensors` checkpoint.
   * @param opts - Load options, and `train`: the schedule / carryState / nanGuard to continue with.
   */
  loadCheckpoint(file: ArrayBuffer | Uint8Array, opts: LoadCheckpointOptions & { train?: Omit<TrainOptions, 'optimizer'> } = {}): void {
    let restored = false;
    loadCheckpoint(this.checkpointHost(opts?.train, () => (restored = true)), file, opts);
    if (!restored) this.resetState();
  }

  private checkpointHost(train?: Omit<TrainOptions, 'optimizer'>, onRestore?: () => void): CheckpointHost {
    const o = this.options;
    const carriedShape = (B: number) => [o.numLayers * (o.bidirectional ? 2 : 1), B, o.hiddenSize];
    return {
      className: 'SequenceModel',
      config: { ...this.options },
      structural: ['cell', 'vocabSize', 'embeddingDim', 'inputSize', 'hiddenSize', 'numLayers', 'bidirectional', 'nonlinearity', 'outputSize', 'mode', 'loss'],
      store: this.store,
      names: this.store.names,
      loadStateDict: (dict) => this.loadStateDict(dict),
      training: {
        optimizer: this.optimizer,
        save: async () => {
          const tensors: Record<string, NamedTensor> = {};
          for (const [B, s] of [...this.carried].sort((x, y) => x[0] - y[0])) {
            const shape = carriedShape(B);
            const bytes = shape[0] * B * o.hiddenSize * 4;
            tensors[`seqgpu.carried.h.batch${B}`] = { shape, data: new Float32Array(await this.gpu.readBuffer(s.h, 0, bytes)) };
            if (s.c) tensors[`seqgpu.carried.c.batch${B}`] = { shape, data: new Float32Array(await this.gpu.readBuffer(s.c, 0, bytes)) };
          }
          return { tensors };
        },
        prepare: (counters, tensors, where) => {
          checkCounters(where, counters, []);
          const carried = new Map<number, { h?: Float32Array; c?: Float32Array }>();
          for (const [name, t] of Object.entries(tensors)) {
            const m = /^seqgpu\.carried\.([hc])\.batch([1-9]\d*)$/.exec(name);
            if (!m || (m[1] === 'c' && o.cell !== 'lstm')) throw new ShapeError(`${where}: unexpected tensor '${name}' (a ${o.cell} SequenceModel saves seqgpu.carried.h${o.cell === 'lstm' ? ' and .c' : ''}.batch<B>)`);
            checkTensor(where, name, t, carriedShape(Number(m[2])));
            carried.set(Number(m[2]), { ...carried.get(Number(m[2])), [m[1]]: t.data });
          }
          for (const [B, s] of carried) {
            if (!s.h || (o.cell === 'lstm' && !s.c)) throw new ShapeError(`${where}: the state carried for batch ${B} lacks ${s.h ? 'c' : 'h'}`);
          }
          return (optimizer, state) => {
            this.configureTraining({ ...this.train, ...train, optimizer });
            this.optimizer!.loadState(state);
            this.stepCount = state.step;
            this.resetState();
            for (const [B, s] of carried) {
              const buffers = this.carriedState(B);
              this.gpu.device.queue.writeBuffer(buffers.h, 0, s.h!);
              if (buffers.c) this.gpu.device.queue.writeBuffer(buffers.c, 0, s.c!);
            }
            onRestore?.();
          };
        },
      },
    };
  }

  /**
   * One training step — forward, loss, backward, gradient clipping, optimizer update — recorded
   * into ONE command buffer and submitted once. Returns the loss only when `readLoss` is set
   * (that waits for the GPU); otherwise nothing is read back.
   * @param batch - Inputs and targets, time-major.
   * @returns The step's mean loss with `readLoss`, else undefined.
   * @throws ShapeError before any GPU work when training is not configured or `batch` has the wrong
   *   sizes, out-of-range ids or non-finite values (the model is unchanged); {@link NonFiniteError}
   *   with the NaN/Inf guard when a step's loss or gradient norm was not finite (its update was
   *   skipped); {@link GpuLostError} after a device loss.
   */
  async trainStep(batch: Batch, { readLoss = false }: { readLoss?: boolean } = {}): Promise<number | undefined> {
    if (!this.optimizer || !this.train) throw new ShapeError('SequenceModel.trainStep: call configureTraining({ optimizer, ... }) first');
    assertSameDevice(this.gpu, this.generation, 'SequenceModel.trainStep');
    // The previous step's NaN/Inf record (throws NonFiniteError once). Synchronous: the step is
    // submitted before trainStep returns, so work queued after the call (a readback) follows it.
    this.guard?.check();
    const data = this.checkBatch(batch, true);
    const step = this.stepFor(batch);
    this.upload(step, data);
    const lr = this.train.schedule ? this.train.schedule(this.optimizer.options.lr, this.stepCount) : this.optimizer.options.lr;
    this.optimizer.beforeStep(lr);
    this.rnn.dropout?.setTraining(true);
    this.rnn.dropout?.setStep(this.stepCount % 2 ** 32);
    this.stepCount++;
    const encoder = this.gpu.device.createCommandEncoder({ label: 'trainStep' });
    const carried = this.train.carryState ? this.carriedState(batch.batch) : null;
    const update = this.guard ? this.guard.arrange(step.loss) : this.optimizer.dispatches();
    const dispatches = [...step.forward, ...step.backward, ...update, ...this.rnn.repackDispatches()];
    step.encode(encoder, dispatches, { h0: carried?.h ?? null, c0: carried?.c ?? null }, true);
    if (carried) this.encodeCarry(encoder, step, carried);
    this.guard?.beforeSubmit();
    this.gpu.submit(encoder, dispatches.length);
    this.guard?.afterSubmit();
    this.lastRun = { dispatches: dispatches.length, submits: 1 };
    if (readLoss && this.guard) return (await this.guard.readNow()).loss;
    return readLoss ? this.readLoss(step) : undefined;
  }

  /**
   * @internal The dispatch lists of the recorded training step for (seqLen, batch): forward
   * (through the loss), backward (head, BPTT, embedding) and update (norm, optimizer, repack),
   * e.g. to time them apart with a Profiler. Needs configureTraining first.
   */
  stepDispatches(seqLen: number, batch: number): { forward: readonly Dispatch[]; backward: readonly Dispatch[]; update: readonly Dispatch[] } {
    if (!this.optimizer) throw new ShapeError('SequenceModel.stepDispatches: call configureTraining first');
    const step = this.stepFor({ inputs: [], targets: [], seqLen, batch });
    return { forward: step.forward, backward: step.backward, update: [...this.optimizer.dispatches(), ...this.rnn.repackDispatches()] };
  }

  /**
   * The mean loss of `batch` without training (one submit, one readback).
   * @param batch - Inputs and targets, time-major.
   * @returns The mean loss (dropout off).
   * @throws ShapeError when `batch` is invalid.
   */
  async evaluate(batch: Batch): Promise<number> {
    const data = this.checkBatch(batch, true);
    const step = this.stepFor(batch);
    this.upload(step, data);
    this.rnn.dropout?.setTraining(false);
    const encoder = this.gpu.device.createCommandEncoder({ label: 'evaluate' });
    step.encode(encoder, step.forward, { h0: null, c0: null }, false);
    this.gpu.submit(encoder, step.forward.length);
    this.lastRun = { dispatches: step.forward.length, submits: 1 };
    return this.readLoss(step);
  }

  /**
   * Logits (or predicted values) for `inputs`: [seqLen·batch, outputSize] or [batch, outputSize].
   * @param inputs - Token ids or values, time-major, as {@link Batch.inputs}.
   * @param seqLen - Timesteps.
   * @param batch - Sequences.
   * @throws ShapeError when `inputs` does not hold seqLen·batch entries (per input feature) or
   *   holds invalid ids / values.
   */
  async predict(inputs: Batch['inputs'], seqLen: number, batch: number): Promise<Float32Array> {
    const data = this.checkBatch({ inputs, targets: [], seqLen, batch }, false);
    const step = this.stepFor({ inputs, targets: new Int32Array(0), seqLen, batch });
    this.upload(step, data);
    // The loss kernels run on whatever targets the buffer holds: harmless, their output is unused.
    this.rnn.dropout?.setTraining(false);
    const encoder = this.gpu.device.createCommandEncoder({ label: 'predict' });
    step.encode(encoder, step.forward, { h0: null, c0: null }, false);
    this.gpu.submit(encoder, step.forward.length);
    return new Float32Array(await this.gpu.readBuffer(step.logits, 0, step.logitRows * this.options.outputSize * 4));
  }

  /**
   * Generates `length` tokens after `prompt` (token models, many-to-many, unidirectional), one
   * timestep per submit with the recurrent state kept on the GPU (step-wise inference); only the
   * [vocab] logits of each step are read back, to sample on the CPU.
   * @param prompt - Token ids fed first (at least one).
   * @param length - Tokens to generate.
   * @param opts - `temperature` (0 = argmax), `topK` and the sampler's `seed`.
   * @returns The `length` generated token ids (without the prompt).
   * @throws ShapeError for a model that is not a unidirectional many-to-many token model, an empty
   *   prompt or an id out of range, or invalid options.
   */
  async generate(prompt: ArrayLike<number>, length: number, opts: GenerateOptions = {}): Promise<number[]> {
    const o = this.options;
    if (!this.embeddingSlot || o.mode !== 'manyToMany' || o.bidirectional) throw new ShapeError('SequenceModel.generate: needs a token model (vocabSize), mode manyToMany, unidirectional');
    if (!prompt || prompt.length === 0) throw new ShapeError('SequenceModel.generate: prompt needs at least one token id');
    assertSameDevice(this.gpu, this.generation, 'SequenceModel.generate');
    if (!Number.isInteger(length) || length < 0) throw new ShapeError(`SequenceModel.generate: length must be an integer ≥ 0, got ${length}`);
    const temperature = opts.temperature ?? 1;
    const topK = opts.topK ?? 0;
    if (!(temperature >= 0) || !Number.isFinite(temperature)) throw new ShapeError(`SequenceModel.generate: temperature must be ≥ 0, got ${temperature}`);
    if (!Number.isInteger(topK) || topK < 0) throw new ShapeError(`SequenceModel.generate: topK must be an integer ≥ 0, got ${topK}`);
    for (let i = 0; i < prompt.length; i++) {
      if (!(Number.isInteger(prompt[i]) && prompt[i] >= 0 && prompt[i] < o.vocabSize!)) throw new ShapeError(`SequenceModel.generate: prompt[${i}] = ${prompt[i]} is not a token id in [0, ${o.vocabSize})`);
    }
    const g = this.generatorPlan();
    const q = this.gpu.device.queue;
    q.writeBuffer(g.h, 0, new Float32Array(g.h.size / 4));
    if (g.c) q.writeBuffer(g.c, 0, new Float32Array(g.c.size / 4));
    const rand = rng(opts.seed ?? 0);
    const out: number[] = [];
    let token = prompt[0];
    for (let i = 0; i < prompt.length - 1 + length; i++) {
      const logits = await this.generatorStep(g, token);
      token = i + 1 < prompt.length ? prompt[i + 1] : sample(logits, temperature, topK, rand);
      if (i + 1 >= prompt.length) out.push(token);
    }
    return out;
  }

  private generatorPlan(): Generator {
    const plan = this.rnn.plan(1, 1);
    if (this.generator?.plan === plan) return this.generator;
    // First use, or the layer evicted its plan from its cache: rebuild on the current one.
    for (const b of this.generator?.owned.splice(0) ?? []) this.gpu.pool.release(b);
    const o = this.options;
    const gpu = this.gpu;
    const owned: GPUBuffer[] = [];
    const buffer = (elements: number, label: string) => {
      const b = gpu.pool.acquire(elements * 4, TENSOR_USAGE, label);
      owned.push(b);
      return b;
    };
    const token = buffer(1, 'generate.token');
    const logits = buffer(o.outputSize, 'generate.logits');
    const stateElements = o.numLayers * o.hiddenSize;
    const g: Generator = { plan, dispatches: [], token, logits, h: buffer(stateElements, 'generate.h'), c: o.cell === 'lstm' ? buffer(stateElements, 'generate.c') : null, owned };
    const take = (ds: Dispatch[]) => {
      for (const d of ds) {
        owned.push(...(d.transient ?? []));
        g.dispatches.push({ ...d, transient: undefined });
      }
    };
    take([embeddingDispatch(gpu, { tokens: 1, vocab: o.vocabSize!, dim: o.embeddingDim!, indices: { buffer: token }, weight: this.store.view('embedding.weight'), y: { buffer: plan.input }, label: 'generate.embedding' })]);
    g.dispatches.push(...plan.dispatches);
    const W = this.store.view('head.weight');
    const b = this.store.view('head.bias');
    take(gemmDispatches(gpu, { M: 1, N: o.outputSize, K: o.hiddenSize, transposeB: true, a: { buffer: plan.output, ld: o.hiddenSize }, b: { buffer: W.buffer, offset: W.offset, ld: o.hiddenSize }, c: { buffer: logits, ld: o.outputSize }, bias: { buffer: b.buffer, offset: b.offset }, label: 'generate.head' }));
    this.generator = g;
    return g;
  }

  /** One timestep: token in, logits out (one submit, one readback). */
  private async generatorStep(g: Generator, token: number): Promise<Float32Array> {
    const plan = g.plan;
    this.gpu.device.queue.writeBuffer(g.token, 0, Int32Array.of(token));
    const encoder = this.gpu.device.createCommandEncoder({ label: 'generate' });
    plan.encodeInitialState(encoder, g.h, g.c);
    const pass = encoder.beginComputePass({ label: 'generate' });
    encodeDispatches(pass, g.dispatches);
    pass.end();
    encoder.copyBufferToBuffer(plan.hN, 0, g.h, 0, plan.stateBytes);
    if (g.c && plan.c) encoder.copyBufferToBuffer(plan.c, 0, g.c, 0, plan.stateBytes);
    this.gpu.submit(encoder, g.dispatches.length);
    this.lastRun = { dispatches: g.dispatches.length, submits: 1 };
    return new Float32Array(await this.gpu.readBuffer(g.logits, 0, this.options.outputSize * 4));
  }

  /** Forgets the state carried between batches (truncated BPTT). */
  resetState(): void {
    for (const s of this.carried.values()) {
      this.gpu.pool.release(s.h);
      if (s.c) this.gpu.pool.release(s.c);
    }
    this.carried.clear();
  }

  /** Releases every GPU buffer of the model (parameters, optimizer, plans). */
  destroy(): void {
    this.guard?.destroy();
    this.guard = null;
    for (const b of this.generator?.owned ?? []) this.gpu.pool.release(b);
    this.generator = null;
    for (const s of this.steps.values()) s.destroy();
    this.steps.clear();
    this.resetState();
    this.optimizer?.destroy();
    this.rnn.destroy();
    this.store.destroy();
  }

  private paddingRow(): number {
    const p = this.options.paddingIdx!;
    return p < 0 ? this.options.vocabSize! + p : p;
  }

  private stepFor(batch: Batch): TrainStep {
    assertSameDevice(this.gpu, this.generation, 'SequenceModel');
    const { seqLen, batch: B } = batch;
    for (const [k, v] of Object.entries({ seqLen, batch: B })) {
      if (!Number.isInteger(v) || v <= 0) throw new ShapeError(`SequenceModel: ${k} must be a positive integer, got ${v}`);
    }
    const key = `${seqLen}x${B}`;
    let step = this.steps.get(key);
    if (!step) {
      step = new TrainStep(this.gpu, this, seqLen, B);
      if (this.steps.size >= MAX_STEPS) {
        const [oldKey, old] = this.steps.entries().next().value as [string, TrainStep];
        old.destroy();
        this.steps.delete(oldKey);
      }
      this.steps.set(key, step);
    }
    return step;
  }

  /**
   * Checks a batch on the host before any GPU work — seqLen and batch, the number of inputs (and
   * targets), integer ids in range (typed or not: 1.5 or '1' is rejected, not truncated), finite
   * values — and returns what to upload: i32 ids or f32 values, and the targets when `withTargets`.
   */
  private checkBatch(batch: Batch, withTargets: boolean): { inputs: Int32Array | Float32Array; targets: Int32Array | Float32Array | null } {
    if (!batch || typeof batch !== 'object') throw new ShapeError("SequenceModel: 'batch' must be { inputs, targets, seqLen, batch }");
    const o = this.options;
    const { seqLen: T, batch: B, inputs, targets } = batch;
    for (const [k, v] of Object.entries({ seqLen: T, batch: B })) {
      if (!Number.isInteger(v) || v <= 0) throw new ShapeError(`SequenceModel: ${k} must be a positive integer, got ${v}`);
    }
    const show = (v: unknown) => (typeof v === 'string' ? `'${v}'` : String(v));
    const arrayLike = (name: string, v: unknown): ArrayLike<unknown> => {
      if (v === null || typeof v !== 'object' || typeof (v as ArrayLike<unknown>).length !== 'number') throw new ShapeError(`SequenceModel: '${name}' must be an array or typed array, got ${show(v)}`);
      return v as ArrayLike<unknown>;
    };
    const ids = (name: string, v: unknown, n: number, expected: string, ok: (x: number) => boolean, range: string): Int32Array => {
      const a = arrayLike(name, v);
      if (a.length !== n) throw new ShapeError(`SequenceModel: '${name}' has ${a.length} ${name === 'inputs' ? 'token' : 'class'} ids, expected ${expected}`);
      for (let i = 0; i < n; i++) {
        const x = a[i];
        if (!(typeof x === 'number' && Number.isInteger(x) && ok(x))) throw new ShapeError(`SequenceModel: ${name}[${i}] = ${show(x)} is ${range}`);
      }
      return a instanceof Int32Array ? a : Int32Array.from(a as ArrayLike<number>);
    };
    const values = (name: string, v: unknown, n: number, expected: string): Float32Array => {
      const a = arrayLike(name, v);
      if (a.length !== n) throw new ShapeError(`SequenceModel: '${name}' has ${a.length} values, expected ${expected}`);
      const x = a instanceof Float32Array ? a : Float32Array.from(a as ArrayLike<number>);
      for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) throw new ShapeError(`SequenceModel: ${name}[${i}] is ${show(a[i])}; ${name} must be finite`);
      return x;
    };
    const out = {
      inputs: this.embeddingSlot
        ? ids('inputs', inputs, T * B, `seqLen·batch = ${T}·${B} = ${T * B} (time-major [seqLen, batch])`, (x) => x >= 0 && x < o.vocabSize!, `not a token id in [0, ${o.vocabSize})`)
        : values('inputs', inputs, T * B * o.inputSize, `${fmtShape([T, B, o.inputSize])} = ${T * B * o.inputSize} (time-major)`),
      targets: null as Int32Array | Float32Array | null,
    };
    if (withTargets) {
      const rows = o.mode === 'manyToOne' ? B : T * B;
      const rowsWord = o.mode === 'manyToOne' ? `batch = ${B}` : `seqLen·batch = ${T * B}`;
      out.targets = o.loss === 'crossEntropy'
        ? ids('targets', targets, rows, `${rowsWord} (${o.mode})`, (x) => x === o.ignoreIndex || (x >= 0 && x < o.outputSize), `neither a class in [0, ${o.outputSize}) nor ignoreIndex ${o.ignoreIndex}`)
        : values('targets', targets, rows * o.outputSize, `${rowsWord} × outputSize ${o.outputSize} = ${rows * o.outputSize}`);
    }
    return out;
  }

  /** Writes a checked batch ({@link checkBatch}) into the step's buffers. */
  private upload(step: TrainStep, data: { inputs: Int32Array | Float32Array; targets: Int32Array | Float32Array | null }): void {
    const q = this.gpu.device.queue;
    q.writeBuffer(step.inputs, 0, data.inputs);
    if (data.targets) q.writeBuffer(step.targets, 0, data.targets);
  }

  private async readLoss(step: TrainStep): Promise<number> {
    return new Float32Array(await this.gpu.readBuffer(step.loss, 0, 4))[0];
  }

  private carriedState(batch: number): { h: GPUBuffer; c: GPUBuffer | null } {
    let s = this.carried.get(batch);
    if (!s) {
      const o = this.options;
      const bytes = o.numLayers * (o.bidirectional ? 2 : 1) * batch * o.hiddenSize * 4;
      const zeroed = (label: string) => {
        const b = this.gpu.pool.acquire(bytes, TENSOR_USAGE, label);
        this.gpu.device.queue.writeBuffer(b, 0, new Float32Array(bytes / 4));
        return b;
      };
      s = { h: zeroed('carried.h'), c: o.cell === 'lstm' ? zeroed('carried.c') : null };
      this.carried.set(batch, s);
    }
    return s;
  }

  /** After the pass: the final state becomes the next batch's initial state (no gradient flows back). */
  private encodeCarry(encoder: GPUCommandEncoder, step: TrainStep, carried: { h: GPUBuffer; c: GPUBuffer | null }): void {
    const fwd = step.rnn.forward;
    encoder.copyBufferToBuffer(fwd.hN, 0, carried.h, 0, fwd.stateBytes);
    if (carried.c && fwd.c) encoder.copyBufferToBuffer(fwd.c, 0, carried.c, 0, fwd.stateBytes);
  }
}

/** Samples an index from softmax(logits / temperature) restricted to the top k (greedy at temperature 0). */
export function sample(logits: ArrayLike<number>, temperature: number, topK: number, rand: () => number): number {
  const order = Array.from({ length: logits.length }, (_, i) => i).sort((a, b) => logits[b] - logits[a]);
  if (temperature === 0) return order[0];
  const keep = topK > 0 ? order.slice(0, topK) : order;
  const max = logits[keep[0]];
  const weights = keep.map((i) => Math.exp((logits[i] - max) / temperature));
  let r = rand() * weights.reduce((a, b) => a + b, 0);
  for (let k = 0; k < keep.length; k++) {
    r -= weights[k];
    if (r <= 0) return keep[k];
  }
  return keep[keep.length - 1];
}

function resolveOptions(o: SequenceModelOptions): Resolved {
  if (!o || typeof o !== 'object') throw new ShapeError('SequenceModel: options are required');
  const posInt = (name: string, v: unknown) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new ShapeError(`SequenceModel: ${name} must be a positive integer, got ${String(v)}`);
    return v;
  };
  if (o.cell !== 'rnn' && o.cell !== 'lstm' && o.cell !== 'gru') throw new ShapeError(`SequenceModel: cell must be 'rnn', 'lstm' or 'gru', got ${String(o.cell)}`);
  if (o.mode !== 'manyToMany' && o.mode !== 'manyToOne') throw new ShapeError(`SequenceModel: mode must be 'manyToMany' or 'manyToOne', got ${String(o.mode)}`);
  if (o.loss !== 'crossEntropy' && o.loss !== 'mse') throw new ShapeError(`SequenceModel: loss must be 'crossEntropy' or 'mse', got ${String(o.loss)}`);
  const tokens = o.vocabSize !== undefined;
  if (tokens === (o.inputSize !== undefined)) throw new ShapeError('SequenceModel: give either vocabSize (+ embeddingDim) for token inputs or inputSize for value inputs');
  if (tokens) {
    posInt('vocabSize', o.vocabSize);
    posInt('embeddingDim', o.embeddingDim);
    if (o.paddingIdx !== undefined && !(Number.isInteger(o.paddingIdx) && o.paddingIdx >= -o.vocabSize! && o.paddingIdx < o.vocabSize!)) {
      throw new ShapeError(`SequenceModel: paddingIdx ${o.paddingIdx} is not in [−${o.vocabSize}, ${o.vocabSize})`);
    }
  } else posInt('inputSize', o.inputSize);
  for (const k of ['forgetBias', 'seed'] as const) {
    if (o[k] !== undefined && !(typeof o[k] === 'number' && Number.isFinite(o[k]))) throw new ShapeError(`SequenceModel: ${k} must be a finite number, got ${String(o[k])}`);
  }
  if (o.ignoreIndex !== undefined && !(Number.isInteger(o.ignoreIndex) && Math.abs(o.ignoreIndex) < 2 ** 31)) throw new ShapeError(`SequenceModel: ignoreIndex must be an i32, got ${String(o.ignoreIndex)}`);
  return {
    cell: o.cell,
    vocabSize: o.vocabSize,
    embeddingDim: o.embeddingDim,
    paddingIdx: o.paddingIdx,
    inputSize: tokens ? o.embeddingDim! : o.inputSize!,
    hiddenSize: posInt('hiddenSize', o.hiddenSize),
    numLayers: posInt('numLayers', o.numLayers ?? 1),
    bidirectional: !!o.bidirectional,
    nonlinearity: o.nonlinearity ?? 'tanh',
    dropout: o.dropout ?? 0,
    outputSize: posInt('outputSize', o.outputSize),
    mode: o.mode,
    loss: o.loss,
    ignoreIndex: o.ignoreIndex ?? -100,
    forgetBias: o.forgetBias ?? 0,
    seed: o.seed ?? 0,
  };
}
