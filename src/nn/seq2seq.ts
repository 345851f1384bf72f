// Encoder-decoder (sequence-to-sequence) model with Luong attention, trained with teacher forcing
// and decoded greedily or with beam search — all recorded by src/plan/seq2seqPlan.ts into one
// command buffer per call.
//
//   encoder:   embedding(src) → RNN/LSTM/GRU (numLayers, optionally bidirectional) → h̄_s, hN
//   bridge:    decoder h0 (c0) of layer l = Σ_directions encoder hN (cN) of layer l
//   decoder:   h_t = cell(embedding(y_{t−1}), h_{t−1})       (y_{−1} = BOS)
//   attention: α_t = softmax_s(score(h_t, h̄_s)) over the source tokens (padding masked),
//              c_t = Σ_s α_ts h̄_s, h̃_t = tanh(W_c [c_t; h_t] + b_c)  (Luong et al. 2015)
//              score: dot h_tᵀh̄_s | general h_tᵀ W h̄_s | additive vᵀ tanh(W1 h_t + W2 h̄_s) (Bahdanau)
//   output:    logits_t = W_o h̃_t + b_o   (W_o h_t + b_o with attention 'none')
//
// Parameter names follow PyTorch modules of the same structure (encoder.embedding.weight,
// encoder.rnn.weight_ih_l0, …, attention.*, decoder.combine.*, decoder.out.*). Sources of a batch
// are packed (PyTorch's pack_padded_sequence): the encoder runs each over its own length and the
// attention masks the padding, so a source decodes the same alone or in a padded batch.
import type { Gpu } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { ParameterStore } from './parameters.js';
import { GRU, LSTM, RNN, type RecurrentLayer } from './recurrent.js';
import type { CellKind } from './recurrentConfig.js';
import { RnnAttentionPlan, type AttentionScore } from '../kernels/rnnAttention.js';
import { backtrackBeams, BEAM_SEARCH_MAX_WIDTH } from '../kernels/decode.js';
import { Optimizer, type OptimizerOptions } from '../optim/optimizer.js';
import { Seq2SeqPlan, type Seq2SeqMode } from '../plan/seq2seqPlan.js';
import { readParameter, type NamedTensor, type StateDict } from '../io/stateDict.js';
import { saveCheckpoint, loadCheckpoint, checkCounters, type CheckpointHost, type LoadCheckpointOptions } from '../io/checkpoint.js';
import { rng } from '../util/random.js';
import { NanGuard } from '../optim/nanGuard.js';
import { assertSameDevice, isSnapshot, readParameters, type ModelSnapshot, type RecoverSource } from './recovery.js';

/** Options of a {@link Seq2Seq} model. */
export interface Seq2SeqOptions {
  /** The recurrent cell of the encoder and the decoder. */
  cell: CellKind;
  /** Source vocabulary size. */
  srcVocab: number;
  /** Target vocabulary size (classes of the output layer). */
  tgtVocab: number;
  /** Features of the source and target embeddings. */
  embeddingDim: number;
  /** Encoder and decoder hidden size (the decoder has the encoder's numLayers). */
  hiddenSize: number;
  /** Stacked layers of the encoder and of the decoder. Default 1. */
  numLayers?: number;
  /** Bidirectional encoder: its outputs are 2·hiddenSize wide; the bridge sums the directions. */
  bidirectional?: boolean;
  /** Score function, or 'none' for a plain encoder-decoder. Default 'general'. */
  attention?: AttentionScore | 'none';
  /** Additive attention: size of W1·h_t + W2·h̄_s. Default hiddenSize. */
  attnDim?: number;
  /** Target-side special tokens (ids in tgtVocab). */
  bosToken: number;
  /** Ends a target sequence: added after each target in training; decoding stops at it. */
  eosToken: number;
  /** Padding id in both vocabularies (embedding row kept at zero, no gradient). Default 0. */
  padToken?: number;
  /** Seed of the initial weights (PyTorch's init distributions). Default 0. */
  seed?: number;
}

type Resolved = Required<Omit<Seq2SeqOptions, 'attention'>> & { attention: AttentionScore | 'none' };

/** A batch of pairs: token ids without BOS/EOS (the model adds them); lengths may differ. */
export interface Seq2SeqBatch {
  /** Source token ids per example, ids in [0, srcVocab). */
  src: ArrayLike<number>[];
  /** Target token ids per example (same count as `src`), ids in [0, tgtVocab). */
  tgt: ArrayLike<number>[];
}

/** What {@link Seq2Seq.configureTraining} takes. */
export interface Seq2SeqTrainOptions {
  /** Algorithm and hyperparameters, over every parameter. */
  optimizer: OptimizerOptions;
  /** Learning rate of step n (default: constant optimizer.lr). */
  schedule?: (baseLr: number, step: number) => number;
  /**
   * Probability of feeding the target token (teacher forcing) rather than the model's own argmax
   * as the next decoder input, drawn per token; a function of the step gives scheduled sampling
   * (Bengio et al. 2015). Default 1.
   */
  teacherForcingRatio?: number | ((step: number) => number);
  /** Seed of the teacher-forcing coin flips. */
  seed?: number;
  /**
   * NaN/Inf guard (default false), as SequenceModel's `nanGuard`: a step whose loss or gradient
   * norm is NaN or ±Inf leaves the weights and optimizer state unchanged (the update is skipped on
   * the GPU, as are later ones until the host has seen it); the step rejects with a
   * NonFiniteError when it reads the loss, else the first trainStep after the GPU reported it.
   * One more dispatch per step (two without clipNorm / trackGradNorm) and a 32-byte readback.
   */
  nanGuard?: boolean;
}

/** What {@link Seq2Seq.greedyDecode} and {@link Seq2Seq.beamSearch} return. */
export interface DecodeResult {
  /** Per source: the decoded tokens up to (without) EOS. */
  tokens: number[][];
  /** Greedy only: per source the attention weights [tgtLen][srcLen] of the steps decoded (null without attention). */
  attention?: (number[][] | null)[];
  /** Beam only: the final (length-penalised) log-probability of each sequence. */
  scores?: number[];
}

const MAX_PLANS = 8;
const IGNORE = -100;

function positiveInt(what: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new ShapeError(`Seq2Seq: ${what} must be a positive integer, got ${String(v)}`);
  return v;
}

/**
 * Encoder-decoder with attention (Luong dot / general, Bahdanau additive, or none) on RNN, LSTM
 * or GRU layers: the encoder's final state (directions summed) starts the decoder, each decoder
 * state attends over the encoder outputs with source padding masked. Training (teacher forcing
 * or scheduled sampling), greedy decoding and beam search each run as one command buffer and
 * one submit. BOS, EOS and padding are added by the model: batches hold plain token ids.
 * @example
 * ```ts
 * const model = new Seq2Seq(gpu, { cell: 'lstm', srcVocab: TOY_VOCAB, tgtVocab: TOY_VOCAB, embeddingDim: 16,
 *   hiddenSize: 64, bidirectional: true, attention: 'general', bosToken: TOY_BOS, eosToken: TOY_EOS, padToken: TOY_PAD });
 * model.configureTraining({ optimizer: { kind: 'adam', lr: 0.01, clipNorm: 1 } });
 * const rand = rng(1);
 * for (let i = 0; i < 2000; i++) {
 *   const pairs = Array.from({ length: 32 }, () => reversePair(rand, 3, 8));
 *   await model.trainStep({ src: pairs.map((p) => p.src), tgt: pairs.map((p) => p.tgt) });
 * }
 * const { tokens, attention } = await model.greedyDecode([[4, 5, 6]], { maxLen: 10 });
 * const beams = await model.beamSearch([[4, 5, 6]], { beamWidth: 4, maxLen: 10, lengthPenalty: 0.6 });
 * ```
 */
export class Seq2Seq {
  /** The options with defaults filled in. */
  readonly options: Readonly<Resolved>;
  /**
   * Every parameter in one flat buffer (and their gradients in a second), under PyTorch-style
   * names.
   */
  readonly store: ParameterStore;
  /** The encoder stack (parameters under `encoder.rnn.`). */
  readonly encoder: RecurrentLayer;
  /** The decoder stack (parameters under `decoder.rnn.`). */
  readonly decoder: RecurrentLayer;
  /** Counts of the last call (deterministic for its shapes and mode). */
  lastRun: { dispatches: number; submits: number } | null = null;
  private optimizer: Optimizer | null = null;
  private train: Seq2SeqTrainOptions | null = null;
  private stepCount = 0;
  private coin: () => number = rng(0);
  /** The coin's seed and draws so far (checkpoints restore it exactly). */
  private coinSeed = 0;
  private coinDraws = 0;
  private plans = new Map<string, Seq2SeqPlan>();
  private guard: NanGuard | null = null;
  /** `gpu.generation` of the device this model's buffers are on (see {@link recover}). */
  private generation: number;
  private lastSnapshot: ModelSnapshot | null = null;

  /**
   * Builds the model with PyTorch's initialisation from `opts.seed`.
   * @param gpu - The device the model's buffers live on.
   * @param opts - Architecture, special tokens and seed.
   * @throws ShapeError naming the option when one is missing or invalid.
   */
  constructor(readonly gpu: Gpu, opts: Seq2SeqOptions) {
    if (!opts || typeof opts !== 'object') throw new ShapeError('Seq2Seq: options { cell, srcVocab, tgtVocab, embeddingDim, hiddenSize, bosToken, eosToken } are required');
    if (!['rnn', 'lstm', 'gru'].includes(opts.cell)) throw new ShapeError(`Seq2Seq: cell must be 'rnn', 'lstm' or 'gru', got ${String(opts.cell)}`);
    const attention = opts.attention ?? 'general';
    if (!['none', 'dot', 'general', 'additive'].includes(attention)) throw new ShapeError(`Seq2Seq: attention must be 'none', 'dot', 'general' or 'additive', got ${String(attention)}`);
    const o: Resolved = {
      cell: opts.cell,
      srcVocab: positiveInt('srcVocab', opts.srcVocab),
      tgtVocab: positiveInt('tgtVocab', opts.tgtVocab),
      embeddingDim: positiveInt('embeddingDim', opts.embeddingDim),
      hiddenSize: positiveInt('hiddenSize', opts.hiddenSize),
      numLayers: positiveInt('numLayers', opts.numLayers ?? 1),
      bidirectional: !!opts.bidirectional,
      attention,
      attnDim: positiveInt('attnDim', opts.attnDim ?? opts.hiddenSize),
      bosToken: opts.bosToken,
      eosToken: opts.eosToken,
      padToken: opts.padToken ?? 0,
      seed: opts.seed ?? 0,
    };
    for (const k of ['bosToken', 'eosToken', 'padToken'] as const) {
      if (!Number.isInteger(o[k]) || o[k] < 0 || o[k] >= o.tgtVocab) throw new ShapeError(`Seq2Seq: ${k} must be a token id in [0, tgtVocab=${o.tgtVocab}), got ${String(o[k])}`);
    }
    if (o.padToken >= o.srcVocab) throw new ShapeError(`Seq2Seq: padToken ${o.padToken} must also be a source token id in [0, srcVocab=${o.srcVocab})`);
    const D = o.bidirectional ? 2 : 1;
    if (attention === 'dot' && D !== 1) throw new ShapeError(`Seq2Seq: 'dot' attention needs the decoder state (hiddenSize ${o.hiddenSize}) and the encoder outputs (2·hiddenSize, bidirectional) to have one size; use 'general' or 'additive'`);
    this.options = Object.freeze(o);
    this.generation = gpu.generation;
    this.store = new ParameterStore(gpu);
    const H = o.hiddenSize;
    this.store.add('encoder.embedding.weight', [o.srcVocab, o.embeddingDim]);
    const make = (prefix: string, bidirectional: boolean): RecurrentLayer => {
      const lo = { inputSize: o.embeddingDim, hiddenSize: H, numLayers: o.numLayers, bidirectional, seed: o.seed, store: this.store, prefix };
      return o.cell === 'lstm' ? new LSTM(gpu, lo) : o.cell === 'gru' ? new GRU(gpu, lo) : new RNN(gpu, lo);
    };
    this.encoder = make('encoder.rnn.', o.bidirectional);
    this.store.add('decoder.embedding.weight', [o.tgtVocab, o.embeddingDim]);
    this.decoder = make('decoder.rnn.', false);
    if (attention !== 'none') {
      const shapes = new RnnAttentionPlan(gpu, { score: attention, batch: 1, seqLenQ: 1, seqLenS: 1, queryDim: H, keyDim: D * H, attnDim: o.attnDim });
      for (const { name, shape } of shapes.parameterShapes) this.store.add(`attention.${name}`, shape);
      shapes.destroy();
      this.store.add('decoder.combine.weight', [H, D * H + H]);
      this.store.add('decoder.combine.bias', [H]);
    }
    this.store.add('decoder.out.weight', [o.tgtVocab, H]);
    this.store.add('decoder.out.bias', [o.tgtVocab]);
    this.store.allocate();
    this.resetParameters(o.seed);
  }

  /**
   * PyTorch's default inits: Embedding N(0, 1) (padding row zero); RNN U(±1/√H); Linear
   * U(±1/√fan_in); attention weights U(±1/√fan_in) of their input size.
   * @param seed - Seed of the draw (`options.seed` by default).
   */
  resetParameters(seed = this.options.seed): void {
    const rand = rng(seed + 1);
    const o = this.options;
    const normal = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
    for (const name of ['encoder.embedding.weight', 'decoder.embedding.weight']) {
      const w = Float32Array.from({ length: this.store.slot(name).size }, normal);
      w.fill(0, o.padToken * o.embeddingDim, (o.padToken + 1) * o.embeddingDim);
      this.store.write(name, w);
    }
    this.encoder.resetParameters(seed);
    this.decoder.resetParameters(seed + 7);
    for (const name of this.store.names) {
      if (name.includes('embedding') || name.includes('.rnn.')) continue;
      const shape = this.store.slot(name).shape;
      // Biases take their weight's fan-in; 'v' (additive) its own length.
      const weightShape = name.endsWith('.bias') ? this.store.slot(name.replace(/bias$/, 'weight')).shape : shape;
      const k = 1 / Math.sqrt(weightShape[weightShape.length - 1]);
      this.store.write(name, Float32Array.from({ length: this.store.slot(name).size }, () => (2 * rand() - 1) * k));
    }
  }

  /** Every parameter under its PyTorch-style name (read back from the GPU). */
  async stateDict(): Promise<Record<string, NamedTensor>> {
    assertSameDevice(this.gpu, this.generation, 'Seq2Seq.stateDict');
    return this.store.readAll();
  }

  /**
   * Loads named parameters; every key and shape is checked before anything is written.
   * @param dict - Parameters by name (see {@link Seq2Seq.stateDict} for the names).
   * @throws ShapeError naming the key when one is missing, has the wrong shape or a non-finite
   *   value, or is unexpected (with `strict`); the model is unchanged then.
   */
  loadStateDict(dict: StateDict, { strict = true }: { strict?: boolean } = {}): void {
    assertSameDevice(this.gpu, this.generation, 'Seq2Seq.loadStateDict');
    const values = this.store.checkStateDict('Seq2Seq.loadStateDict', dict, strict);
    const enc: StateDict = {};
    const dec: StateDict = {};
    for (const [name, data] of values) {
      if (name.startsWith('encoder.rnn.')) enc[name.slice('encoder.rnn.'.length)] = data;
      else if (name.startsWith('decoder.rnn.')) dec[name.slice('decoder.rnn.'.length)] = data;
      else this.store.write(name, data);
    }
    this.encoder.loadStateDict(enc);
    this.decoder.loadStateDict(dec);
  }

  /** Gradients of the last training step, by parameter name. */
  async gradients(): Promise<Record<string, NamedTensor>> {
    assertSameDevice(this.gpu, this.generation, 'Seq2Seq.gradients');
    return this.store.readAll(true);
  }

  /**
   * Sets up training: one optimizer over all parameters, the schedule and the teacher-forcing ratio.
   * @param train - Optimizer, schedule, teacher-forcing ratio, seed and the NaN/Inf guard.
   * @throws ShapeError naming the option when one is invalid.
   */
  configureTraining(train: Seq2SeqTrainOptions): void {
    if (!train || typeof train !== 'object') throw new ShapeError('Seq2Seq.configureTraining: expected { optimizer, schedule?, teacherForcingRatio?, seed? }');
    const r = train.teacherForcingRatio ?? 1;
    if (typeof r === 'number' && !(r >= 0 && r <= 1)) throw new ShapeError(`Seq2Seq.configureTraining: teacherForcingRatio must be in [0, 1], got ${r}`);
    if (typeof r !== 'number' && typeof r !== 'function') throw new ShapeError('Seq2Seq.configureTraining: teacherForcingRatio must be a number in [0, 1] or a function of the step');
    assertSameDevice(this.gpu, this.generation, 'Seq2Seq.configureTraining');
    Optimizer.checkOptions(train.optimizer, this.store.length); // a bad option leaves the current optimizer in place
    this.optimizer?.destroy();
    this.makeOptimizer(train);
    this.train = train;
    this.stepCount = 0;
    this.setCoin(train.seed ?? this.options.seed + 99, 0);
  }

  /** The optimizer of `train` (and its NaN/Inf guard) over the current store. */
  private makeOptimizer(train: Seq2SeqTrainOptions): void {
    this.guard?.destroy();
    this.guard = null;
    this.optimizer = new Optimizer(this.gpu, train.optimizer, this.store.params, this.store.grads, this.store.length, { guard: !!train.nanGuard });
    if (train.nanGuard) {
      this.guard = new NanGuard(this.gpu, this.optimizer, 'Seq2Seq.trainStep', (skipped) => {
        this.stepCount = Math.max(0, this.stepCount - skipped);
      });
    }
  }

  /**
   * Reads the parameters, the optimizer state and the training counters back to the CPU and
   * keeps them as the state {@link recover} restores after a device loss; returns them.
   */
  async snapshot(): Promise<ModelSnapshot> {
    assertSameDevice(this.gpu, this.generation, 'Seq2Seq.snapshot');
    const parameters = await readParameters(this.store);
    const optimizer = this.optimizer ? await this.optimizer.readState() : null;
    const counters = { teacherForcingSeed: this.coinSeed, teacherForcingDraws: this.coinDraws };
    this.lastSnapshot = { parameters, optimizer, step: this.stepCount, generation: this.gpu.generation, counters };
    return this.lastSnapshot;
  }

  /**
   * After a device loss: opens a new device if that was not done yet (`gpu.recover()`), rebuilds
   * every buffer, plan and pipeline and restores `from` — a {@link snapshot}, a state dict
   * (parameters only) or checkpoint bytes (saveCheckpoint) — or else the last snapshot, bit for
   * bit (parameters, optimizer state, step count, teacher-forcing coin). Without a device loss it
   * restores `from` in place. A snapshot or state dict is checked before anything changes.
   * @param from - A snapshot, a state dict or checkpoint bytes; the last {@link Seq2Seq.snapshot}
   *   when absent.
   * @throws ShapeError when there is nothing to restore or `from` does not fit the model.
   */
  async recover(from?: RecoverSource): Promise<void> {
    const source = from ?? this.lastSnapshot;
    if (!source) throw new ShapeError('Seq2Seq.recover: nothing to restore: call model.snapshot() while the device works, or pass a snapshot, a state dict or checkpoint bytes');
    const bytes = source instanceof ArrayBuffer || ArrayBuffer.isView(source) ? (source as ArrayBuffer | Uint8Array) : null;
    const snap: { parameters: StateDict; optimizer: ModelSnapshot['optimizer']; step: number; counters?: Record<string, number> } | null =
      bytes ? null : isSnapshot(source) ? source : { parameters: source as StateDict, optimizer: null, step: 0 };
    if (snap) for (const name of this.store.names) readParameter(snap.parameters, name, this.store.slot(name).shape);
    await this.gpu.recover();
    this.guard?.destroy();
    this.guard = null;
    this.optimizer?.destroy();
    this.optimizer = null;
    for (const p of this.plans.values()) p.destroy();
    this.plans.clear();
    this.encoder.resetBuffers();
    this.decoder.resetBuffers();
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
      const c = snap!.counters;
      if (c && Number.isSafeInteger(c.teacherForcingSeed) && Number.isSafeInteger(c.teacherForcingDraws)) this.setCoin(c.teacherForcingSeed, c.teacherForcingDraws);
    }
  }

  /** The optimizer set up by {@link Seq2Seq.configureTraining} (null before). */
  get optimizerState(): Optimizer | null {
    return this.optimizer;
  }

  /**
   * The model as a checkpoint (safetensors bytes): every parameter under its PyTorch-style name
   * and, once training is configured, the optimizer's moments under torch.optim's names, its step
   * and hyperparameters and the teacher-forcing coin's position in the metadata (layout:
   * src/io/checkpoint.ts). Reads back from the GPU.
   */
  saveCheckpoint(): Promise<Uint8Array> {
    return saveCheckpoint(this.checkpointHost());
  }

  /**
   * Restores a {@link saveCheckpoint} file. All of it is checked first — a bad, truncated or
   * corrupt file throws a ShapeError naming the problem and changes nothing — then the optimizer,
   * the coin and the parameters are restored, so training continues exactly as it would have. A
   * schedule and teacherForcingRatio come from `opts.train`, else from the current training options.
   * @param file - The bytes of a `.safetensors` checkpoint.
   * @param opts - Load options, and the training options to continue with.
   */
  loadCheckpoint(file: ArrayBuffer | Uint8Array, opts: LoadCheckpointOptions & { train?: Omit<Seq2SeqTrainOptions, 'optimizer'> } = {}): void {
    loadCheckpoint(this.checkpointHost(opts?.train), file, opts);
  }

  private checkpointHost(train?: Omit<Seq2SeqTrainOptions, 'optimizer'>): CheckpointHost {
    return {
      className: 'Seq2Seq',
      config: { ...this.options },
      structural: ['cell', 'srcVocab', 'tgtVocab', 'embeddingDim', 'hiddenSize', 'numLayers', 'bidirectional', 'attention', 'attnDim', 'bosToken', 'eosToken', 'padToken'],
      store: this.store,
      names: this.store.names,
      loadStateDict: (dict) => this.loadStateDict(dict),
      training: {
        optimizer: this.optimizer,
        save: async () => ({ counters: { teacherForcingSeed: this.coinSeed, teacherForcingDraws: this.coinDraws } }),
        prepare: (counters, tensors, where) => {
          const { teacherForcingSeed: seed = this.options.seed + 99, teacherForcingDraws: draws = 0 } = checkCounters(where, counters, ['teacherForcingSeed', 'teacherForcingDraws']);
          const extra = Object.keys(tensors);
          if (extra.length) throw new ShapeError(`${where}: unexpected tensor '${extra[0]}' (a Seq2Seq checkpoint has no seqgpu.* tensors)`);
          return (optimizer, state) => {
            this.configureTraining({ ...this.train, ...train, optimizer });
            this.optimizer!.loadState(state);
            this.stepCount = state.step;
            this.setCoin(seed, draws);
          };
        },
      },
    };
  }

  /** A fresh coin from `seed`, advanced by `draws` (mulberry32 repeats after 2³² draws). */
  private setCoin(seed: number, draws: number): void {
    const coin = rng(seed);
    for (let i = 0; i < draws % 2 ** 32; i++) coin();
    this.coinSeed = seed >>> 0;
    this.coinDraws = draws;
    this.coin = () => {
      this.coinDraws++;
      return coin();
    };
  }

  /** The teacher-forcing ratio of the next step. */
  get teacherForcingRatio(): number {
    const r = this.train?.teacherForcingRatio ?? 1;
    const v = typeof r === 'function' ? r(this.stepCount) : r;
    if (!(v >= 0 && v <= 1)) throw new ShapeError(`Seq2Seq: teacherForcingRatio(${this.stepCount}) = ${v} is not in [0, 1]`);
    return v;
  }

  /**
   * One training step — encoder, decoder with teacher forcing (ratio per token), loss, backward
   * through both, clipping and the optimizer — as ONE command buffer and one submit. Returns the
   * mean loss per target token only when `readLoss` is set.
   * @param batch - Source and target token ids (without BOS/EOS).
   * @returns The mean loss per target token with `readLoss`, else undefined.
   * @throws ShapeError before any GPU work when training is not configured or the batch is invalid
   *   (empty, mismatched counts, ids out of range); {@link NonFiniteError} with the NaN/Inf guard;
   *   {@link GpuLostError} after a device loss.
   */
  async trainStep(batch: Seq2SeqBatch, { readLoss = false }: { readLoss?: boolean } = {}): Promise<number | undefined> {
    if (!this.optimizer || !this.train) throw new ShapeError('Seq2Seq.trainStep: call configureTraining({ optimizer, ... }) first');
    assertSameDevice(this.gpu, this.generation, 'Seq2Seq.trainStep');
    // The previous step's NaN/Inf record (throws NonFiniteError once). Synchronous: the step is
    // submitted before trainStep returns, so work queued after the call (a readback) follows it.
    this.guard?.check();
    const ratio = this.teacherForcingRatio;
    const plan = this.upload('trainStep', batch, 'train', ratio);
    const lr = this.train.schedule ? this.train.schedule(this.optimizer.options.lr, this.stepCount) : this.optimizer.options.lr;
    this.optimizer.beforeStep(lr);
    this.stepCount++;
    const update = this.guard ? this.guard.arrange(plan.loss) : this.optimizer.dispatches();
    const dispatches = [...plan.forward, ...plan.backward, ...update, ...this.encoder.repackDispatches(), ...this.decoder.repackDispatches()];
    const encoder = this.gpu.device.createCommandEncoder({ label: 'seq2seq.trainStep' });
    plan.encode(encoder, dispatches, true);
    this.guard?.beforeSubmit();
    this.gpu.submit(encoder, dispatches.length);
    this.guard?.afterSubmit();
    this.lastRun = { dispatches: dispatches.length, submits: 1 };
    if (readLoss && this.guard) return (await this.guard.readNow()).loss;
    return readLoss ? new Float32Array(await this.gpu.readBuffer(plan.loss, 0, 4))[0] : undefined;
  }

  /**
   * Mean loss per target token with full teacher forcing, without training (one submit).
   * @param batch - Source and target token ids.
   * @throws ShapeError when the batch is invalid.
   */
  async evaluate(batch: Seq2SeqBatch): Promise<number> {
    const plan = this.upload('evaluate', batch, 'train', 1);
    const encoder = this.gpu.device.createCommandEncoder({ label: 'seq2seq.evaluate' });
    plan.encode(encoder, plan.forward, false);
    this.gpu.submit(encoder, plan.forward.length);
    this.lastRun = { dispatches: plan.forward.length, submits: 1 };
    return new Float32Array(await this.gpu.readBuffer(plan.loss, 0, 4))[0];
  }

  /**
   * Greedy decoding of `maxLen` steps for every source (one submit, one readback of the tokens and
   * attention weights); each sequence is cut at its first EOS.
   * @param src - Source token ids per example (without BOS/EOS); `maxLen`: decoding steps.
   * @returns Tokens and, with attention, the attention weights of each decoded step.
   * @throws ShapeError when a source is empty or has an id out of range, or maxLen is not a
   *   positive integer.
   */
  async greedyDecode(src: ArrayLike<number>[], { maxLen }: { maxLen: number }): Promise<DecodeResult> {
    positiveInt('greedyDecode: maxLen', maxLen);
    const plan = this.upload('greedyDecode', { src, tgt: [] }, 'greedy', 0, maxLen);
    const encoder = this.gpu.device.createCommandEncoder({ label: 'seq2seq.greedy' });
    plan.encode(encoder, plan.forward, false);
    this.gpu.submit(encoder, plan.forward.length);
    this.lastRun = { dispatches: plan.forward.length, submits: 1 };
    const B = src.length;
    const pred = new Int32Array(await this.gpu.readBuffer(plan.pred, 0, maxLen * B * 4));
    const alpha = plan.alpha ? new Float32Array(await this.gpu.readBuffer(plan.alpha, 0, B * maxLen * plan.srcLen * 4)) : null;
    const tokens: number[][] = [];
    const attention: (number[][] | null)[] = [];
    for (let b = 0; b < B; b++) {
      const seq: number[] = [];
      for (let t = 0; t < maxLen; t++) {
        const tok = pred[t * B + b];
        if (tok === this.options.eosToken) break;
        seq.push(tok);
      }
      tokens.push(seq);
      attention.push(alpha ? Array.from({ length: Math.min(maxLen, seq.length + 1) }, (_, t) => Array.from(alpha.subarray((b * maxLen + t) * plan.srcLen, (b * maxLen + t) * plan.srcLen + src[b].length))) : null);
    }
    return { tokens, attention };
  }

  /**
   * Beam search of width `beamWidth` for `maxLen` steps, every step on the GPU in one command
   * buffer (one submit); the parents are followed back on the CPU after one readback.
   * `lengthPenalty` α divides the final scores by ((5 + length) / 6)^α (GNMT); default 0.
   * @param src - Source token ids per example; options `beamWidth`, `maxLen`, `lengthPenalty`.
   * @returns The best sequence per source and its score.
   * @throws ShapeError for invalid sources or options (beamWidth or maxLen not a positive integer,
   *   a beam wider than {@link BEAM_SEARCH_MAX_WIDTH}, a negative lengthPenalty).
   */
  async beamSearch(src: ArrayLike<number>[], { beamWidth, maxLen, lengthPenalty = 0 }: { beamWidth: number; maxLen: number; lengthPenalty?: number }): Promise<DecodeResult> {
    positiveInt('beamSearch: beamWidth', beamWidth);
    positiveInt('beamSearch: maxLen', maxLen);
    if (beamWidth > BEAM_SEARCH_MAX_WIDTH) throw new ShapeError(`Seq2Seq.beamSearch: beamWidth must be an integer in [1, ${BEAM_SEARCH_MAX_WIDTH}], got ${beamWidth}`);
    if (!(lengthPenalty >= 0 && Number.isFinite(lengthPenalty))) throw new ShapeError(`Seq2Seq.beamSearch: lengthPenalty must be a finite number ≥ 0, got ${lengthPenalty}`);
    if (!Array.isArray(src)) throw new ShapeError("Seq2Seq.beamSearch: 'src' must be a non-empty array of token-id sequences");
    const B = src.length;
    const replicated = src.flatMap((s) => Array.from({ length: beamWidth }, () => s));
    const plan = this.upload('beamSearch', { src: replicated, tgt: [] }, 'beam', 0, maxLen, beamWidth);
    const beam = plan.beam!;
    const q = this.gpu.device.queue;
    const score = new Float32Array(B * beamWidth).fill(-Infinity);
    for (let b = 0; b < B; b++) score[b * beamWidth] = 0;
    q.writeBuffer(beam.score, 0, score);
    q.writeBuffer(beam.finished, 0, new Uint32Array(B * beamWidth));
    q.writeBuffer(beam.next, 0, new Int32Array(B * beamWidth).fill(this.options.bosToken));
    const encoder = this.gpu.device.createCommandEncoder({ label: 'seq2seq.beam' });
    plan.encode(encoder, plan.forward, false);
    this.gpu.submit(encoder, plan.forward.length);
    this.lastRun = { dispatches: plan.forward.length, submits: 1 };
    const R = B * beamWidth;
    const [parents, tokens, finalScore, finished] = await Promise.all([
      this.gpu.readBuffer(beam.parents, 0, maxLen * R * 4).then((b) => new Int32Array(b)),
      this.gpu.readBuffer(beam.tokens, 0, maxLen * R * 4).then((b) => new Int32Array(b)),
      this.gpu.readBuffer(beam.score, 0, R * 4).then((b) => new Float32Array(b)),
      this.gpu.readBuffer(beam.finished, 0, R * 4).then((b) => new Uint32Array(b)),
    ]);
    const r = backtrackBeams(parents, tokens, finalScore, finished, { steps: maxLen, batch: B, beamWidth, eosToken: this.options.eosToken, lengthPenalty });
    return { tokens: r.sequences, scores: r.scores };
  }

  /** Releases every GPU buffer (plans, optimizer, parameters). */
  destroy(): void {
    this.guard?.destroy();
    this.guard = null;
    for (const p of this.plans.values()) p.destroy();
    this.plans.clear();
    this.optimizer?.destroy();
    this.optimizer = null;
    this.encoder.destroy();
    this.decoder.destroy();
    this.store.destroy();
  }

  /** @internal The cached plan for (mode, srcLen, tgtLen, batch, beamWidth). */
  plan(mode: Seq2SeqMode, srcLen: number, tgtLen: number, batch: number, beamWidth = 1): Seq2SeqPlan {
    const key = `${mode}:${srcLen}x${tgtLen}x${batch}x${beamWidth}`;
    let plan = this.plans.get(key);
    if (!plan) {
      plan = new Seq2SeqPlan(this.gpu, this, srcLen, tgtLen, mode === 'beam' ? batch / beamWidth : batch, mode, beamWidth);
      if (this.plans.size >= MAX_PLANS) {
        const [oldKey, old] = this.plans.entries().next().value as [string, Seq2SeqPlan];
        old.destroy();
        this.plans.delete(oldKey);
      }
      this.plans.set(key, plan);
    }
    return plan;
  }

  /**
   * Checks a batch, picks its plan and writes the source tokens and key mask (padded to the longest
   * source), and in train mode the decoder's teacher inputs, coin flips and targets.
   */
  private upload(op: string, batch: Seq2SeqBatch, mode: Seq2SeqMode, ratio: number, maxLen = 0, beamWidth = 1): Seq2SeqPlan {
    const o = this.options;
    const where = `Seq2Seq.${op}`;
    assertSameDevice(this.gpu, this.generation, where);
    if (!batch || !Array.isArray(batch.src) || batch.src.length === 0) throw new ShapeError(`${where}: 'src' must be a non-empty array of token-id sequences`);
    const B = batch.src.length;
    const checkSeq = (name: string, seqs: ArrayLike<number>[], vocab: number) => {
      seqs.forEach((s, i) => {
        if (!s || typeof s.length !== 'number' || s.length === 0) throw new ShapeError(`${where}: ${name}[${i}] must be a non-empty sequence of token ids`);
        for (let j = 0; j < s.length; j++) {
          if (!(Number.isInteger(s[j]) && s[j] >= 0 && s[j] < vocab)) throw new ShapeError(`${where}: ${name}[${i}][${j}] = ${s[j]} is not a token id in [0, ${vocab})`);
        }
      });
    };
    checkSeq('src', batch.src, o.srcVocab);
    const Ts = Math.max(...batch.src.map((s) => s.length));
    let Tt = maxLen;
    if (mode === 'train') {
      if (!Array.isArray(batch.tgt) || batch.tgt.length !== B) throw new ShapeError(`${where}: 'tgt' must hold one sequence per source (${B}), got ${Array.isArray(batch.tgt) ? batch.tgt.length : typeof batch.tgt}`);
      checkSeq('tgt', batch.tgt, o.tgtVocab);
      Tt = Math.max(...batch.tgt.map((s) => s.length)) + 1; // + EOS
    }
    const plan = this.plan(mode, Ts, Tt, B, beamWidth);
    const q = this.gpu.device.queue;
    const src = new Int32Array(Ts * B).fill(o.padToken);
    const mask = new Float32Array(B * Ts);
    for (let b = 0; b < B; b++) {
      for (let s = 0; s < batch.src[b].length; s++) {
        src[s * B + b] = batch.src[b][s];
        mask[b * Ts + s] = 1;
      }
    }
    q.writeBuffer(plan.srcTokens, 0, src);
    q.writeBuffer(plan.keyMask, 0, mask);
    plan.encoderPlan.writeLengths(batch.src.map((s) => s.length), where);
    const decIn = new Int32Array((Tt + 1) * B).fill(o.padToken);
    decIn.fill(o.bosToken, 0, B);
    q.writeBuffer(plan.decIn, 0, decIn);
    if (mode === 'train') {
      const teacher = new Int32Array((Tt + 1) * B).fill(o.padToken);
      const use = new Uint32Array((Tt + 1) * B);
      const targets = new Int32Array(Tt * B).fill(IGNORE);
      for (let b = 0; b < B; b++) {
        const y = batch.tgt[b];
        for (let t = 0; t <= y.length; t++) targets[t * B + b] = t < y.length ? y[t] : o.eosToken;
        for (let t = 1; t <= y.length; t++) teacher[t * B + b] = y[t - 1];
      }
      for (let i = B; i < use.length; i++) use[i] = ratio >= 1 || (ratio > 0 && this.coin() < ratio) ? 1 : 0;
      q.writeBuffer(plan.teacherIn, 0, teacher);
      q.writeBuffer(plan.useTeacher, 0, use);
      q.writeBuffer(plan.targets, 0, targets);
    }
    return plan;
  }
}
