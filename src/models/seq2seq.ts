// Encoder-decoder (sequence-to-sequence) model with Luong attention, trained with teacher forcing
// and decoded greedily or with beam search — all recorded by src/models/seq2seqPlan.ts into one
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
import { ArgumentError, ShapeError } from '../util/errors.js';
import { PlanCache } from '../util/planCache.js';
import { checkOptions, show, type OptionSchema } from '../util/options.js';
import type { StateDict } from '../io/stateDict.js';
import { GRU, LSTM, RNN, type RecurrentLayer } from '../nn/recurrent.js';
import { RnnAttentionPlan } from '../kernels/rnnAttention.js';
import { backtrackBeams, BEAM_SEARCH_MAX_WIDTH } from '../kernels/decode.js';
import { checkLr, type OptimizerOptions } from '../kernels/optimizer.js';
import type { Seq2SeqConfig, Seq2SeqOptions } from './seq2seqOptions.js';
export type { Seq2SeqOptions } from './seq2seqOptions.js';
import { Seq2SeqPlan, type Seq2SeqMode } from './seq2seqPlan.js';
import { checkCounters, type CheckpointHost } from '../nn/checkpoint.js';
import { rngAt } from '../util/random.js';
import { checkTokenIds } from './sequenceModel.js';
import { TrainedModel, type ModelTrainOptions } from './trainedModel.js';
import { warmupPipelines, type WarmupResult } from '../gpu/pipelineWarmup.js';
import type { Seq2SeqWarmupOptions } from './warmupOptions.js';

type Resolved = Seq2SeqConfig;

/** A batch of pairs: token ids without BOS/EOS (the model adds them); lengths may differ. */
export interface Seq2SeqBatch {
  /** Source token ids per example, ids in [0, srcVocab). */
  src: ArrayLike<number>[];
  /** Target token ids per example (same count as `src`), ids in [0, tgtVocab). */
  tgt: ArrayLike<number>[];
}

/** What {@link Seq2Seq.configureTraining} takes. */
export interface Seq2SeqTrainOptions extends ModelTrainOptions {
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
   * NaN/Inf guard (default true), as SequenceModel's `nanGuard`: a step whose loss, gradient
   * norm or update is NaN or ±Inf leaves the weights and optimizer state unchanged (the update is
   * skipped on the GPU, as are later ones until the host has seen it); the step rejects with a
   * NonFiniteError (step, source) when it reads the loss, else the first trainStep after the GPU
   * reported it. 2–3 dispatches per step and a 32-byte readback; `false` turns it off.
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

const IGNORE = -100;
/** Recorded plans kept per model, one per (mode, srcLen, tgtLen, batch, beamWidth), LRU. */
export const SEQ2SEQ_PLAN_CACHE = 8;
/** The teacher-forcing coin's counters (saved in snapshots and checkpoints). */
const COIN_COUNTERS = ['teacherForcingSeed', 'teacherForcingDraws'];

const SEQ2SEQ_SCHEMA: OptionSchema = {
  cell: { type: 'enum', values: ['rnn', 'lstm', 'gru'], required: true },
  srcVocab: { type: 'int', min: 1, required: true },
  tgtVocab: { type: 'int', min: 1, required: true },
  embeddingDim: { type: 'int', min: 1, required: true },
  hiddenSize: { type: 'int', min: 1, required: true },
  numLayers: { type: 'int', min: 1 },
  bidirectional: { type: 'boolean' },
  attention: { type: 'enum', values: ['none', 'dot', 'general', 'additive'] },
  attnDim: { type: 'int', min: 1 },
  bosToken: { type: 'int', required: true },
  eosToken: { type: 'int', required: true },
  padToken: { type: 'int' },
  seed: { type: 'number' },
};

const TRAIN_SCHEMA: OptionSchema = {
  optimizer: { type: 'object', required: true },
  schedule: { type: 'function' },
  teacherForcingRatio: { type: 'number', min: 0, max: 1 },
  seed: { type: 'number' },
  nanGuard: { type: 'boolean' },
};

/**
 * Encoder-decoder with attention (Luong dot / general, Bahdanau additive, or none) on RNN, LSTM
 * or GRU layers: the encoder's final state (directions summed) starts the decoder, each decoder
 * state attends over the encoder outputs with source padding masked. Training (teacher forcing
 * or scheduled sampling), greedy decoding and beam search each run as one command buffer and
 * one submit. BOS, EOS and padding are added by the model: batches hold plain token ids.
 * @example
 * ```ts
 * const model = new Seq2Seq(gpu, { cell: 'lstm', srcVocab: TOY_VOCAB, tgtVocab: TOY_VOCAB, embeddingDim: 16,
 *   hiddenSize: 64, bidirectional: true, attention: 'general',
 *   bosToken: TOY_BOS, eosToken: TOY_EOS, padToken: TOY_PAD });
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
export class Seq2Seq extends TrainedModel<Seq2SeqTrainOptions> {
  /** The options with defaults filled in. */
  readonly options: Readonly<Resolved>;
  /** The encoder stack (parameters under `encoder.rnn.`). */
  readonly encoder: RecurrentLayer;
  /** The decoder stack (parameters under `decoder.rnn.`). */
  readonly decoder: RecurrentLayer;
  /** Counts of the last call (deterministic for its shapes and mode). */
  lastRun: { dispatches: number; submits: number } | null = null;
  private coin: () => number = rngAt(0, 0);
  /** The coin's seed and draws so far (checkpoints restore it exactly). */
  private coinSeed = 0;
  private coinDraws = 0;
  private plans = new PlanCache<Seq2SeqPlan>(SEQ2SEQ_PLAN_CACHE);

  /**
   * Builds the model with PyTorch's initialisation from `opts.seed`.
   * @param gpu - The device the model's buffers live on.
   * @param opts - Architecture, special tokens and seed.
   * @throws ArgumentError naming the option (an unknown one with the nearest valid name) when one is missing or
   * invalid.
   */
  constructor(gpu: Gpu, opts: Seq2SeqOptions) {
    super(gpu, 'Seq2Seq');
    if (opts === undefined || opts === null)
      throw new ArgumentError(
        'Seq2Seq: options { cell, srcVocab, tgtVocab, embeddingDim, hiddenSize, bosToken, eosToken } are required',
      );
    opts = checkOptions<Seq2SeqOptions>('Seq2Seq', 'options', opts, SEQ2SEQ_SCHEMA) as Seq2SeqOptions;
    const attention = opts.attention ?? 'general';
    const o: Resolved = {
      cell: opts.cell,
      srcVocab: opts.srcVocab,
      tgtVocab: opts.tgtVocab,
      embeddingDim: opts.embeddingDim,
      hiddenSize: opts.hiddenSize,
      numLayers: opts.numLayers ?? 1,
      bidirectional: !!opts.bidirectional,
      attention,
      attnDim: opts.attnDim ?? opts.hiddenSize,
      bosToken: opts.bosToken,
      eosToken: opts.eosToken,
      padToken: opts.padToken ?? 0,
      seed: opts.seed ?? 0,
    };
    for (const k of ['bosToken', 'eosToken', 'padToken'] as const) {
      if (!Number.isInteger(o[k]) || o[k] < 0 || o[k] >= o.tgtVocab)
        throw new ArgumentError(`Seq2Seq: ${k} must be a token id in [0, tgtVocab=${o.tgtVocab}), got ${String(o[k])}`);
    }
    if (o.padToken >= o.srcVocab)
      throw new ArgumentError(
        `Seq2Seq: padToken ${o.padToken} must also be a source token id in [0, srcVocab=${o.srcVocab})`,
      );
    const D = o.bidirectional ? 2 : 1;
    if (attention === 'dot' && D !== 1)
      throw new ArgumentError(
        `Seq2Seq: 'dot' attention needs the decoder state (hiddenSize ${o.hiddenSize}) ` +
          `and the encoder outputs (2·hiddenSize, bidirectional) to have one size; use ` +
          `'general' or 'additive'`,
      );
    this.options = Object.freeze(o);
    const H = o.hiddenSize;
    this.store.add('encoder.embedding.weight', [o.srcVocab, o.embeddingDim]);
    const make = (prefix: string, bidirectional: boolean): RecurrentLayer => {
      const lo = {
        inputSize: o.embeddingDim,
        hiddenSize: H,
        numLayers: o.numLayers,
        bidirectional,
        seed: o.seed,
        store: this.store,
        prefix,
      };
      return o.cell === 'lstm' ? new LSTM(gpu, lo) : o.cell === 'gru' ? new GRU(gpu, lo) : new RNN(gpu, lo);
    };
    this.encoder = make('encoder.rnn.', o.bidirectional);
    this.store.add('decoder.embedding.weight', [o.tgtVocab, o.embeddingDim]);
    this.decoder = make('decoder.rnn.', false);
    if (attention !== 'none') {
      const shapes = new RnnAttentionPlan(gpu, {
        score: attention,
        batch: 1,
        seqLenQ: 1,
        seqLenS: 1,
        queryDim: H,
        keyDim: D * H,
        attnDim: o.attnDim,
      });
      for (const { name, shape } of shapes.parameterShapes) this.store.add(`attention.${name}`, shape);
      shapes.destroy();
      this.store.add('decoder.combine.weight', [H, D * H + H]);
      this.store.add('decoder.combine.bias', [H]);
    }
    this.store.add('decoder.out.weight', [o.tgtVocab, H]);
    this.store.add('decoder.out.bias', [o.tgtVocab]);
    this.store.allocate();
    this.writeInitialParameters(o.seed);
  }

  /**
   * PyTorch's default inits: Embedding N(0, 1) (padding row zero); RNN U(±1/√H); Linear
   * U(±1/√fan_in); attention weights U(±1/√fan_in) of their input size.
   * @param seed - Seed of the draw (`options.seed` by default).
   */
  resetParameters(seed = this.options.seed): void {
    this.life.assertLive('Seq2Seq.resetParameters');
    if (typeof seed !== 'number' || !Number.isFinite(seed))
      throw new ArgumentError(`Seq2Seq.resetParameters: 'seed' must be a finite number, got ${show(seed)}`);
    this.life.defer(() => this.writeInitialParameters(seed));
  }

  protected writeInitialParameters(seed: number): void {
    const rand = rngAt(seed + 1, 0);
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
      this.store.write(
        name,
        Float32Array.from({ length: this.store.slot(name).size }, () => (2 * rand() - 1) * k),
      );
    }
  }

  /** Writes checked values ({@link ParameterStore.checkStateDict}). */
  protected writeStateDict(values: Map<string, Float32Array>): void {
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

  protected get seed(): number {
    return this.options.seed;
  }

  protected trainSchema(train: unknown): OptionSchema {
    const ratio = train && typeof train === 'object' ? (train as Seq2SeqTrainOptions).teacherForcingRatio : undefined;
    return typeof ratio === 'function' ? { ...TRAIN_SCHEMA, teacherForcingRatio: { type: 'function' } } : TRAIN_SCHEMA;
  }

  protected override trainingApplied(train: Seq2SeqTrainOptions): void {
    this.setCoin(train.seed ?? this.options.seed + 99, 0);
  }

  protected override snapshotCounters(): Record<string, number> {
    return { teacherForcingSeed: this.coinSeed, teacherForcingDraws: this.coinDraws };
  }

  protected override get counterNames(): readonly string[] {
    return COIN_COUNTERS;
  }

  protected override restoreCounters(c: Record<string, number>): void {
    if (c.teacherForcingSeed !== undefined && c.teacherForcingDraws !== undefined)
      this.setCoin(c.teacherForcingSeed, c.teacherForcingDraws);
  }

  protected resetLayers(): void {
    this.encoder.resetBuffers();
    this.decoder.resetBuffers();
  }

  protected destroyLayers(): void {
    this.encoder.destroy();
    this.decoder.destroy();
  }

  /** @internal Every host-side counter and cache (see SequenceModel.debugState). */
  debugState(): Record<string, unknown> {
    return {
      step: this.stepCount,
      coin: [this.coinSeed, this.coinDraws],
      optimizer: this.optimizer && { step: this.optimizer.step, lr: this.optimizer.lr },
      train: this.train && Object.keys(this.train),
      plans: this.plans.keys(),
      lastRun: this.lastRun,
      encoder: this.encoder.debugState(),
      decoder: this.decoder.debugState(),
    };
  }

  protected checkpointHost(train?: Omit<Seq2SeqTrainOptions, 'optimizer'>): CheckpointHost {
    return {
      className: 'Seq2Seq',
      config: { ...this.options },
      structural: [
        'cell',
        'srcVocab',
        'tgtVocab',
        'embeddingDim',
        'hiddenSize',
        'numLayers',
        'bidirectional',
        'attention',
        'attnDim',
        'bosToken',
        'eosToken',
        'padToken',
      ],
      store: this.store,
      names: this.store.names,
      loadStateDict: (dict) => this.writeStateDict(this.store.checkStateDict('Seq2Seq.loadCheckpoint', dict, true)),
      training: {
        optimizer: this.optimizer,
        save: async () => ({ counters: { teacherForcingSeed: this.coinSeed, teacherForcingDraws: this.coinDraws } }),
        prepare: (counters, tensors, where) => {
          const { teacherForcingSeed: seed = this.options.seed + 99, teacherForcingDraws: draws = 0 } = checkCounters(
            where,
            counters,
            COIN_COUNTERS,
          );
          const extra = Object.keys(tensors);
          if (extra.length)
            throw new ArgumentError(
              `${where}: unexpected tensor '${extra[0]}' (a Seq2Seq checkpoint has no seqgpu.* tensors)`,
            );
          return (optimizer, state) => {
            this.restoreTraining(train, optimizer, state);
            this.setCoin(seed, draws);
          };
        },
      },
    };
  }

  /** A fresh coin from `seed`, advanced by `draws` in O(1) (mulberry32 repeats after 2³² draws). */
  private setCoin(seed: number, draws: number): void {
    const coin = rngAt(seed, draws);
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
    if (typeof v !== 'number' || !(v >= 0 && v <= 1))
      throw new ArgumentError(`Seq2Seq.trainStep: teacherForcingRatio(${this.stepCount}) = ${v} is not in [0, 1]`);
    return v;
  }

  /**
   * One training step — encoder, decoder with teacher forcing (ratio per token), loss, backward
   * through both, clipping and the optimizer — as ONE command buffer and one submit. Returns the
   * mean loss per target token only when `readLoss` is set.
   * @param batch - Source and target token ids (without BOS/EOS).
   * @param opts - `readLoss` (default false): read the loss back (waits for the GPU). null = defaults.
   * @returns The mean loss per target token with `readLoss`, else undefined.
   * @throws ShapeError before any GPU work when training is not configured or the batch is invalid
   *   (empty, mismatched counts, ids out of range); {@link NonFiniteError} with the NaN/Inf guard;
   *   {@link GpuLostError} after a device loss.
   */
  trainStep(batch: Seq2SeqBatch, opts: { readLoss?: boolean } = {}): Promise<number | undefined> {
    const where = 'Seq2Seq.trainStep';
    return this.life.call(where, async () => {
      const { readLoss = false } = checkOptions<{ readLoss: boolean }>(where, 'opts', opts, {
        readLoss: { type: 'boolean' },
      });
      if (!this.optimizer || !this.train)
        throw new ArgumentError(`${where}: call configureTraining({ optimizer, ... }) first`);
      const ratio = this.teacherForcingRatio;
      const lr: unknown = this.train.schedule
        ? this.train.schedule(this.optimizer.options.lr, this.stepCount)
        : this.optimizer.options.lr;
      checkLr(where, lr, ` (the schedule's value for step ${this.stepCount})`);
      const checked = this.checkBatch(where, batch, 'train');
      const plan = this.planFor(where, checked, 'train');
      // The previous step's NaN/Inf record (throws NonFiniteError once, after rewinding the counters).
      this.guard?.check();
      this.upload(plan, checked, ratio);
      this.optimizer.beforeStep(lr, where);
      this.stepCount++;
      const update = this.guard ? this.guard.arrange(plan.loss) : this.optimizer.dispatches();
      const encoder = this.gpu.device.createCommandEncoder({ label: 'seq2seq.trainStep' });
      encoder.clearBuffer(this.store.grads);
      const n = plan.encode(encoder, update, true);
      this.guard?.beforeSubmit();
      this.gpu.submit(encoder, n);
      this.guard?.afterSubmit();
      this.lastRun = { dispatches: n, submits: 1 };
      if (readLoss && this.guard) return (await this.guard.readNow()).loss;
      return readLoss ? new Float32Array(await this.gpu.readBuffer(plan.loss, 0, 4))[0] : undefined;
    });
  }

  /**
   * Mean loss per target token with full teacher forcing, without training (one submit).
   * @param batch - Source and target token ids.
   * @throws ShapeError when the batch is invalid.
   */
  evaluate(batch: Seq2SeqBatch): Promise<number> {
    const where = 'Seq2Seq.evaluate';
    return this.life.call(where, async () => {
      const checked = this.checkBatch(where, batch, 'train');
      const plan = this.planFor(where, checked, 'train');
      this.upload(plan, checked, 1);
      this.runForward(plan, 'seq2seq.evaluate');
      return new Float32Array(await this.gpu.readBuffer(plan.loss, 0, 4))[0];
    });
  }

  /**
   * Compiles the pipelines of the recorded plan for a mode and its sizes — `'train'` (trainStep and
   * evaluate; with the optimizer's update when training is configured), `'greedy'` or `'beam'` —
   * with createComputePipelineAsync, reporting progress after each pipeline. The plan is recorded
   * and cached, so the first call of that shape compiles nothing. Calls run in call order.
   * @param opts - `mode`, `srcLen`, `tgtLen` (train: the longest target without EOS; greedy / beam:
   *   `maxLen`), `batch`, `beamWidth`, `onProgress({ done, total, label })`.
   * @returns How many pipelines were compiled and how long it took.
   * @throws ArgumentError for invalid options (nothing is recorded then).
   */
  warmup(opts: Seq2SeqWarmupOptions): Promise<WarmupResult> {
    const where = 'Seq2Seq.warmup';
    return this.life.call(where, async () => {
      const o = checkOptions<Seq2SeqWarmupOptions>(where, 'opts', opts, {
        mode: { type: 'enum', values: ['train', 'greedy', 'beam'] },
        srcLen: { type: 'int', min: 1, required: true },
        tgtLen: { type: 'int', min: 1, required: true },
        batch: { type: 'int', min: 1, required: true },
        beamWidth: { type: 'int', min: 1, max: BEAM_SEARCH_MAX_WIDTH },
        onProgress: { type: 'function' },
      }) as Seq2SeqWarmupOptions;
      const mode = o.mode ?? 'train';
      const k = mode === 'beam' ? (o.beamWidth ?? 1) : 1;
      if (mode !== 'beam' && o.beamWidth !== undefined && o.beamWidth !== 1)
        throw new ArgumentError(`${where}: beamWidth ${o.beamWidth} needs mode 'beam', got mode '${mode}'`);
      const tgtLen = mode === 'train' ? o.tgtLen + 1 : o.tgtLen; // + EOS, as trainStep pads
      return warmupPipelines(
        this.gpu,
        where,
        () => {
          const plan = this.plan(mode, o.srcLen, tgtLen, o.batch * k, k, where);
          if (mode !== 'train') return;
          if (this.guard) this.guard.arrange(plan.loss);
          else this.optimizer?.dispatches();
        },
        o.onProgress,
      );
    });
  }

  /** Encodes and submits a plan's forward (one submit). */
  private runForward(plan: Seq2SeqPlan, label: string): void {
    const encoder = this.gpu.device.createCommandEncoder({ label });
    const n = plan.encode(encoder, [], false);
    this.gpu.submit(encoder, n);
    this.lastRun = { dispatches: n, submits: 1 };
  }

  /**
   * Greedy decoding of `maxLen` steps for every source (one submit, one readback of the tokens and
   * attention weights); each sequence is cut at its first EOS.
   * @param src - Source token ids per example (without BOS/EOS).
   * @param opts - `maxLen`: decoding steps (required, an integer ≥ 1).
   * @returns Tokens and, with attention, the attention weights of each decoded step.
   * @throws ShapeError when a source is empty or has an id out of range, or maxLen is not a
   *   positive integer.
   */
  greedyDecode(src: ArrayLike<number>[], opts: { maxLen: number }): Promise<DecodeResult> {
    const where = 'Seq2Seq.greedyDecode';
    return this.life.call(where, async () => {
      const { maxLen } = checkOptions<{ maxLen: number }>(where, 'opts', opts, {
        maxLen: { type: 'int', min: 1, required: true },
      }) as { maxLen: number };
      const checked = this.checkBatch(where, { src, tgt: [] }, 'greedy', maxLen);
      const plan = this.planFor(where, checked, 'greedy');
      this.upload(plan, checked, 0);
      this.runForward(plan, 'seq2seq.greedy');
      return this.readGreedy(plan, src, maxLen);
    });
  }

  private async readGreedy(plan: Seq2SeqPlan, src: ArrayLike<number>[], maxLen: number): Promise<DecodeResult> {
    const B = src.length;
    const pred = new Int32Array(await this.gpu.readBuffer(plan.pred, 0, maxLen * B * 4));
    const alpha = plan.alpha
      ? new Float32Array(await this.gpu.readBuffer(plan.alpha, 0, B * maxLen * plan.srcLen * 4))
      : null;
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
      attention.push(
        alpha
          ? Array.from({ length: Math.min(maxLen, seq.length + 1) }, (_, t) =>
              Array.from(
                alpha.subarray((b * maxLen + t) * plan.srcLen, (b * maxLen + t) * plan.srcLen + src[b].length),
              ),
            )
          : null,
      );
    }
    return { tokens, attention };
  }

  /**
   * Beam search of width `beamWidth` for `maxLen` steps, every step on the GPU in one command
   * buffer (one submit); the parents are followed back on the CPU after one readback.
   * `lengthPenalty` α divides the final scores by ((5 + length) / 6)^α (GNMT); default 0.
   * @param src - Source token ids per example.
   * @param opts - `beamWidth` (1…16) and `maxLen` (required), `lengthPenalty` (≥ 0, default 0).
   * @returns The best sequence per source and its score.
   * @throws ShapeError for invalid sources or options (beamWidth or maxLen not a positive integer,
   *   a beam wider than {@link BEAM_SEARCH_MAX_WIDTH}, a negative lengthPenalty).
   */
  beamSearch(
    src: ArrayLike<number>[],
    opts: { beamWidth: number; maxLen: number; lengthPenalty?: number },
  ): Promise<DecodeResult> {
    const where = 'Seq2Seq.beamSearch';
    return this.life.call(where, async () => {
      const {
        beamWidth,
        maxLen,
        lengthPenalty = 0,
      } = checkOptions<{ beamWidth: number; maxLen: number; lengthPenalty: number }>(where, 'opts', opts, {
        beamWidth: { type: 'int', min: 1, max: BEAM_SEARCH_MAX_WIDTH, required: true },
        maxLen: { type: 'int', min: 1, required: true },
        lengthPenalty: { type: 'number', min: 0 },
      }) as { beamWidth: number; maxLen: number; lengthPenalty?: number };
      // The sources are checked as given (errors name src[i]), then each is replicated per beam.
      const checked = this.checkBatch(where, { src, tgt: [] }, 'beam', maxLen, beamWidth);
      const plan = this.planFor(where, checked, 'beam');
      this.upload(plan, checked, 0);
      return this.runBeam(plan, src.length, beamWidth, maxLen, lengthPenalty);
    });
  }

  private async runBeam(
    plan: Seq2SeqPlan,
    B: number,
    beamWidth: number,
    maxLen: number,
    lengthPenalty: number,
  ): Promise<DecodeResult> {
    const beam = plan.beam!;
    const q = this.gpu.device.queue;
    const score = new Float32Array(B * beamWidth).fill(-Infinity);
    for (let b = 0; b < B; b++) score[b * beamWidth] = 0;
    q.writeBuffer(beam.score, 0, score);
    q.writeBuffer(beam.finished, 0, new Uint32Array(B * beamWidth));
    q.writeBuffer(beam.next, 0, new Int32Array(B * beamWidth).fill(this.options.bosToken));
    this.runForward(plan, 'seq2seq.beam');
    const R = B * beamWidth;
    const [parents, tokens, finalScore, finished] = await Promise.all([
      this.gpu.readBuffer(beam.parents, 0, maxLen * R * 4).then((b) => new Int32Array(b)),
      this.gpu.readBuffer(beam.tokens, 0, maxLen * R * 4).then((b) => new Int32Array(b)),
      this.gpu.readBuffer(beam.score, 0, R * 4).then((b) => new Float32Array(b)),
      this.gpu.readBuffer(beam.finished, 0, R * 4).then((b) => new Uint32Array(b)),
    ]);
    const r = backtrackBeams(parents, tokens, finalScore, finished, {
      steps: maxLen,
      batch: B,
      beamWidth,
      eosToken: this.options.eosToken,
      lengthPenalty,
    });
    return { tokens: r.sequences, scores: r.scores };
  }

  /** Every buffer but the recurrent layers' own (plans, guard, optimizer, parameters). */
  protected override releaseBuffers(): void {
    this.plans.clear();
    super.releaseBuffers();
  }

  /** @internal The cached plan for (mode, srcLen, tgtLen, batch, beamWidth). */
  plan(
    mode: Seq2SeqMode,
    srcLen: number,
    tgtLen: number,
    batch: number,
    beamWidth = 1,
    where = `Seq2Seq.${mode}`,
  ): Seq2SeqPlan {
    const key = `${mode}:${srcLen}x${tgtLen}x${batch}x${beamWidth}`;
    return this.plans.get(
      key,
      () =>
        new Seq2SeqPlan(
          this.gpu,
          this,
          srcLen,
          tgtLen,
          mode === 'beam' ? batch / beamWidth : batch,
          mode,
          beamWidth,
          where,
        ),
    );
  }

  private planFor(where: string, c: CheckedBatch, mode: Seq2SeqMode): Seq2SeqPlan {
    return this.plan(mode, c.srcLen, c.tgtLen, c.rows, c.beamWidth, where);
  }

  /**
   * Checks a batch completely (nothing changes): every sequence non-empty with ids in range,
   * one target per source in train mode. Returns the padded lengths.
   */
  private checkBatch(where: string, batch: Seq2SeqBatch, mode: Seq2SeqMode, maxLen = 0, beamWidth = 1): CheckedBatch {
    const o = this.options;
    if (!batch || !Array.isArray(batch.src) || batch.src.length === 0)
      throw new ArgumentError(
        `${where}: 'src' must be a non-empty array of token-id sequences, got ${show(batch?.src)}`,
      );
    const B = batch.src.length;
    const longest = (name: string, seqs: ArrayLike<number>[], vocab: number): number => {
      let max = 0;
      for (let i = 0; i < seqs.length; i++) {
        const s = seqs[i];
        if (!s || typeof s !== 'object' || typeof s.length !== 'number' || s.length === 0)
          throw new ShapeError(`${where}: ${name}[${i}] must be a non-empty sequence of token ids, got ${show(s)}`);
        checkTokenIds(where, `${name}[${i}]`, s, vocab);
        max = Math.max(max, s.length);
      }
      return max;
    };
    const srcLen = longest('src', batch.src, o.srcVocab);
    let tgtLen = maxLen;
    if (mode === 'train') {
      if (!Array.isArray(batch.tgt) || batch.tgt.length !== B)
        throw new ShapeError(
          `${where}: 'tgt' must hold one sequence per source (${B}), ` +
            `got ${Array.isArray(batch.tgt) ? batch.tgt.length : show(batch.tgt)}`,
        );
      tgtLen = longest('tgt', batch.tgt, o.tgtVocab) + 1; // + EOS
    }
    return { batch, srcLen, tgtLen, sources: B, rows: B * beamWidth, beamWidth };
  }

  /**
   * Writes a checked batch into its plan: the source tokens (each replicated per beam) and key
   * mask (padded to the longest source), and in train mode the decoder's teacher inputs, coin
   * flips and targets.
   */
  private upload(plan: Seq2SeqPlan, c: CheckedBatch, ratio: number): void {
    const o = this.options;
    const { srcLen: Ts, tgtLen: Tt, rows: B, beamWidth: k } = c;
    const srcOf = (row: number) => c.batch.src[Math.floor(row / k)];
    const q = this.gpu.device.queue;
    const src = new Int32Array(Ts * B).fill(o.padToken);
    const mask = new Float32Array(B * Ts);
    const lengths = new Array<number>(B);
    for (let b = 0; b < B; b++) {
      const s = srcOf(b);
      lengths[b] = s.length;
      for (let t = 0; t < s.length; t++) {
        src[t * B + b] = s[t];
        mask[b * Ts + t] = 1;
      }
    }
    q.writeBuffer(plan.srcTokens, 0, src);
    q.writeBuffer(plan.keyMask, 0, mask);
    plan.writeLengths(lengths);
    const decIn = new Int32Array((Tt + 1) * B).fill(o.padToken);
    decIn.fill(o.bosToken, 0, B);
    q.writeBuffer(plan.decIn, 0, decIn);
    if (plan.mode === 'train') {
      const teacher = new Int32Array((Tt + 1) * B).fill(o.padToken);
      const use = new Uint32Array((Tt + 1) * B);
      const targets = new Int32Array(Tt * B).fill(IGNORE);
      for (let b = 0; b < B; b++) {
        const y = c.batch.tgt[b];
        for (let t = 0; t <= y.length; t++) targets[t * B + b] = t < y.length ? y[t] : o.eosToken;
        for (let t = 1; t <= y.length; t++) teacher[t * B + b] = y[t - 1];
      }
      for (let i = B; i < use.length; i++) use[i] = ratio >= 1 || (ratio > 0 && this.coin() < ratio) ? 1 : 0;
      q.writeBuffer(plan.teacherIn, 0, teacher);
      q.writeBuffer(plan.useTeacher, 0, use);
      q.writeBuffer(plan.targets, 0, targets);
    }
  }
}

/** A batch checked by Seq2Seq's checkBatch: its padded lengths and plan rows. */
interface CheckedBatch {
  batch: Seq2SeqBatch;
  srcLen: number;
  tgtLen: number;
  /** Sources given. */
  sources: number;
  /** Rows of the plan: sources × beamWidth. */
  rows: number;
  beamWidth: number;
}
