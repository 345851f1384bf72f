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
import { rng } from '../util/random.js';
import { ParameterStore, type ParameterSlot } from './parameters.js';
import { RNN, LSTM, GRU, type RecurrentLayer } from './recurrent.js';
import type { RecurrentPlan } from '../plan/recurrentPlan.js';
import type { CellKind } from './recurrentConfig.js';

export interface SequenceModelOptions {
  cell: CellKind;
  /** Token input: an Embedding(vocabSize, embeddingDim) in front of the recurrent stack. */
  vocabSize?: number;
  embeddingDim?: number;
  /** Embedding row that gets no gradient (PyTorch padding_idx). */
  paddingIdx?: number;
  /** Value input: features per timestep (no embedding). */
  inputSize?: number;
  hiddenSize: number;
  numLayers?: number;
  bidirectional?: boolean;
  nonlinearity?: 'tanh' | 'relu';
  /** Dropout between recurrent layers (PyTorch's `dropout`), in training steps only. Default 0. */
  dropout?: number;
  /** Classes (cross-entropy) or values (MSE) predicted per row. */
  outputSize: number;
  mode: 'manyToMany' | 'manyToOne';
  loss: 'crossEntropy' | 'mse';
  /** Cross-entropy targets equal to this are skipped (PyTorch ignore_index). Default −100. */
  ignoreIndex?: number;
  /** LSTM: added to the forget-gate bias at init (1 helps long memory). Default 0, as PyTorch. */
  forgetBias?: number;
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
  inputs: Int32Array | Float32Array | ArrayLike<number>;
  targets: Int32Array | Float32Array | ArrayLike<number>;
  seqLen: number;
  batch: number;
}

export interface TrainOptions {
  optimizer: OptimizerOptions;
  /** Learning rate per step (PyTorch's closed forms, src/optim/schedules.ts). Default: constant. */
  schedule?: LRSchedule;
  /**
   * Truncated BPTT: carry the final state of one batch into the next as its initial state
   * (without gradient through it), for consecutive windows of long sequences. Default false.
   */
  carryState?: boolean;
}

/** Counts of the last recorded call: deterministic per (seqLen, batch). */
export interface StepStats {
  dispatches: number;
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

export class SequenceModel {
  readonly options: Readonly<Resolved>;
  readonly store: ParameterStore;
  readonly rnn: RecurrentLayer;
  /** The embedding table's slot, or null for value inputs. */
  readonly embeddingSlot: ParameterSlot | null;
  lastRun: StepStats | null = null;
  private optimizer: Optimizer | null = null;
  private train: TrainOptions | null = null;
  private steps = new Map<string, TrainStep>();
  /** Truncated BPTT: the state carried between batches (one per batch size). */
  private carried = new Map<number, { h: GPUBuffer; c: GPUBuffer | null }>();
  private stepCount = 0;
  private generator: Generator | null = null;

  constructor(readonly gpu: Gpu, opts: SequenceModelOptions) {
    this.options = resolveOptions(opts);
    const o = this.options;
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

  /** PyTorch's default inits: Embedding N(0, 1); RNN U(±1/√H); Linear U(±1/√in). */
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
    const out: Record<string, NamedTensor> = {};
    for (const name of this.store.names) out[name] = { shape: this.store.slot(name).shape, data: await this.store.read(name) };
    return out;
  }

  /** Loads PyTorch-named parameters; every key is checked before anything is written. */
  loadStateDict(dict: StateDict, { strict = true }: { strict?: boolean } = {}): void {
    if (!dict || typeof dict !== 'object') throw new ShapeError('SequenceModel.loadStateDict: expected an object of named parameters');
    const values = new Map(this.store.names.map((name) => [name, readParameter(dict, name, this.store.slot(name).shape)]));
    if (strict) {
      const extra = Object.keys(dict).filter((k) => !values.has(k));
      if (extra.length) throw new ShapeError(`SequenceModel.loadStateDict: unexpected key(s) ${extra.map((k) => `'${k}'`).join(', ')}; expected ${this.store.names.join(', ')}`);
    }
    const rnnDict: StateDict = {};
    for (const [name, data] of values) {
      if (name.startsWith('rnn.')) rnnDict[name.slice(4)] = data;
      else this.store.write(name, data);
    }
    this.rnn.loadStateDict(rnnDict);
  }

  /** Gradients of the last training step, by parameter name. */
  async gradients(): Promise<Record<string, NamedTensor>> {
    const out: Record<string, NamedTensor> = {};
    for (const name of this.store.names) out[name] = { shape: this.store.slot(name).shape, data: await this.store.readGrad(name) };
    return out;
  }

  /** Sets up training: the optimizer over all parameters (one flat buffer) and the schedule. */
  configureTraining(train: TrainOptions): void {
    this.optimizer?.destroy();
    this.optimizer = new Optimizer(this.gpu, train.optimizer, this.store.params, this.store.grads, this.store.length);
    this.train = train;
    this.stepCount = 0;
  }

  get optimizerState(): Optimizer | null {
    return this.optimizer;
  }

  /**
   * One training step — forward, loss, backward, gradient clipping, optimizer update — recorded
   * into ONE command buffer and submitted once. Returns the loss only when `readLoss` is set
   * (that waits for the GPU); otherwise nothing is read back.
   */
  async trainStep(batch: Batch, { readLoss = false }: { readLoss?: boolean } = {}): Promise<number | undefined> {
    if (!this.optimizer || !this.train) throw new ShapeError('SequenceModel.trainStep: call configureTraining({ optimizer, ... }) first');
    const step = this.stepFor(batch);
    this.upload(step, batch);
    const lr = this.train.schedule ? this.train.schedule(this.optimizer.options.lr, this.stepCount) : this.optimizer.options.lr;
    this.optimizer.beforeStep(lr);
    this.rnn.dropout?.setTraining(true);
    this.rnn.dropout?.setStep(this.stepCount % 2 ** 32);
    this.stepCount++;
    const encoder = this.gpu.device.createCommandEncoder({ label: 'trainStep' });
    const carried = this.train.carryState ? this.carriedState(batch.batch) : null;
    const dispatches = [...step.forward, ...step.backward, ...this.optimizer.dispatches(), ...this.rnn.repackDispatches()];
    step.encode(encoder, dispatches, { h0: carried?.h ?? null, c0: carried?.c ?? null }, true);
    if (carried) this.encodeCarry(encoder, step, carried);
    this.gpu.submit(encoder, dispatches.length);
    this.lastRun = { dispatches: dispatches.length, submits: 1 };
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

  /** The mean loss of `batch` without training (one submit, one readback). */
  async evaluate(batch: Batch): Promise<number> {
    const step = this.stepFor(batch);
    this.upload(step, batch);
    this.rnn.dropout?.setTraining(false);
    const encoder = this.gpu.device.createCommandEncoder({ label: 'evaluate' });
    step.encode(encoder, step.forward, { h0: null, c0: null }, false);
    this.gpu.submit(encoder, step.forward.length);
    this.lastRun = { dispatches: step.forward.length, submits: 1 };
    return this.readLoss(step);
  }

  /** Logits (or predicted values) for `inputs`: [seqLen·batch, outputSize] or [batch, outputSize]. */
  async predict(inputs: Batch['inputs'], seqLen: number, batch: number): Promise<Float32Array> {
    const step = this.stepFor({ inputs, targets: new Int32Array(0), seqLen, batch });
    this.uploadInputs(step, inputs, seqLen, batch);
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
   */
  async generate(prompt: ArrayLike<number>, length: number, opts: GenerateOptions = {}): Promise<number[]> {
    const o = this.options;
    if (!this.embeddingSlot || o.mode !== 'manyToMany' || o.bidirectional) throw new ShapeError('SequenceModel.generate: needs a token model (vocabSize), mode manyToMany, unidirectional');
    if (!prompt || prompt.length === 0) throw new ShapeError('SequenceModel.generate: prompt needs at least one token id');
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

  destroy(): void {
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

  private uploadInputs(step: TrainStep, inputs: Batch['inputs'], T: number, B: number): void {
    const o = this.options;
    const q = this.gpu.device.queue;
    if (this.embeddingSlot) {
      if (inputs.length !== T * B) throw new ShapeError(`SequenceModel: 'inputs' has ${inputs.length} token ids, expected seqLen·batch = ${T}·${B} = ${T * B} (time-major [seqLen, batch])`);
      const ids = inputs instanceof Int32Array ? inputs : Int32Array.from(inputs as ArrayLike<number>);
      for (let i = 0; i < ids.length; i++) {
        if (!(ids[i] >= 0 && ids[i] < o.vocabSize!)) throw new ShapeError(`SequenceModel: inputs[${i}] = ${ids[i]} is not a token id in [0, ${o.vocabSize})`);
      }
      q.writeBuffer(step.inputs, 0, ids);
    } else {
      const n = T * B * o.inputSize;
      if (inputs.length !== n) throw new ShapeError(`SequenceModel: 'inputs' has ${inputs.length} values, expected ${fmtShape([T, B, o.inputSize])} = ${n} (time-major)`);
      const x = inputs instanceof Float32Array ? inputs : Float32Array.from(inputs as ArrayLike<number>);
      for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) throw new ShapeError(`SequenceModel: inputs[${i}] is ${x[i]}; inputs must be finite`);
      q.writeBuffer(step.inputs, 0, x);
    }
  }

  private upload(step: TrainStep, batch: Batch): void {
    const o = this.options;
    const { seqLen: T, batch: B, targets } = batch;
    this.uploadInputs(step, batch.inputs, T, B);
    const q = this.gpu.device.queue;
    const rowsWord = o.mode === 'manyToOne' ? `batch = ${B}` : `seqLen·batch = ${T * B}`;
    if (o.loss === 'crossEntropy') {
      if (targets.length !== step.logitRows) throw new ShapeError(`SequenceModel: 'targets' has ${targets.length} class ids, expected ${rowsWord} (${o.mode})`);
      const ids = targets instanceof Int32Array ? targets : Int32Array.from(targets as ArrayLike<number>);
      for (let i = 0; i < ids.length; i++) {
        if (ids[i] !== o.ignoreIndex && !(ids[i] >= 0 && ids[i] < o.outputSize)) throw new ShapeError(`SequenceModel: targets[${i}] = ${ids[i]} is neither a class in [0, ${o.outputSize}) nor ignoreIndex ${o.ignoreIndex}`);
      }
      q.writeBuffer(step.targets, 0, ids);
    } else {
      const n = step.logitRows * o.outputSize;
      if (targets.length !== n) throw new ShapeError(`SequenceModel: 'targets' has ${targets.length} values, expected ${rowsWord} × outputSize ${o.outputSize} = ${n}`);
      const y = targets instanceof Float32Array ? targets : Float32Array.from(targets as ArrayLike<number>);
      for (let i = 0; i < y.length; i++) if (!Number.isFinite(y[i])) throw new ShapeError(`SequenceModel: targets[${i}] is ${y[i]}; targets must be finite`);
      q.writeBuffer(step.targets, 0, y);
    }
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
