// A small sequence model: [Embedding] → RNN | LSTM | GRU stack → Linear head, trained on the GPU.
//   many-to-many: the head reads every timestep's output (next-token / next-value prediction);
//   many-to-one:  the head reads the top layer's final hidden state (both directions when
//                 bidirectional) — sequence classification or regression.
// Parameters use PyTorch's names with module prefixes (`embedding.weight`, `rnn.weight_ih_l0`,
// `head.weight`, `head.bias`), so a PyTorch module with attributes embedding/rnn/head loads as is.
// Inputs are time-major: tokens [seqLen, batch] or values [seqLen, batch, inputSize].
// Built on the lower layers: the layers are a Module (SequenceNet), each (seqLen, batch) step is
// that Module traced with the fused loss and its backward into one graph plan (SequenceStep, the
// same path as any Module under a Trainer), and the lifecycle — optimizer and NaN/Inf guard,
// snapshots, recovery, checkpoints — is TrainedModel's, shared with Seq2Seq.
import type { Gpu } from '../gpu/device.js';
import { ArgumentError, ShapeError, fmtShape } from '../util/errors.js';
import { PlanCache } from '../util/planCache.js';
import { checkOptions, show, type OptionSchema } from '../util/options.js';
import { TENSOR_USAGE } from '../gpu/flags.js';
import { checkLr, type OptimizerOptions } from '../kernels/optimizer.js';
import type { LRSchedule } from '../train/schedules.js';
import { SequenceGenerator, SequenceStep } from './sequenceStep.js';
import type { BufferRef } from '../graph/graph.js';
import { SequenceNet } from './sequenceNet.js';
import { gatherParameters } from '../nn/module.js';
import { TrainedModel, type ModelTrainOptions } from './trainedModel.js';
import type { SequenceModelConfig, SequenceModelOptions } from './sequenceModelOptions.js';
export type { SequenceModelOptions } from './sequenceModelOptions.js';
import type { Dispatch } from '../gpu/dispatch.js';
import type { NamedTensor, StateDict } from '../io/stateDict.js';
import { checkCounters, checkTensor, type CheckpointHost } from '../nn/checkpoint.js';
import { rng } from '../util/random.js';
import { checkBindingSizes } from '../gpu/limits.js';
import type { ParameterSlot, ParameterStore } from '../io/parameters.js';
import type { RecurrentLayer } from '../nn/recurrent.js';
import { warmupPipelines, type WarmupResult } from '../gpu/pipelineWarmup.js';
import type { SequenceModelWarmupOptions } from './warmupOptions.js';

type Resolved = SequenceModelConfig;

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
export interface TrainOptions extends ModelTrainOptions {
  /** Algorithm and hyperparameters, over every parameter. */
  optimizer: OptimizerOptions;
  /** Learning rate per step (PyTorch's closed forms, src/train/schedules.ts). Default: constant. */
  schedule?: LRSchedule;
  /**
   * Truncated BPTT: carry the final state of one batch into the next as its initial state
   * (without gradient through it), for consecutive windows of long sequences. Default false.
   */
  carryState?: boolean;
  /**
   * NaN/Inf guard (default TRUE: it costs 0.7–2.1 % of a step, measured by bench/nanGuardCost.mjs):
   * inside each step's command buffer, after the gradient norm, a check pass computes the update
   * without writing it and a one-thread kernel checks the loss, the norm and that check; if any is
   * NaN or ±Inf the optimizer update writes nothing — nor does any later step's until the host
   * has seen it — so the weights and optimizer state keep their bits (all elements or none). The
   * step itself rejects with a {@link NonFiniteError} (naming the step and the source: `loss`,
   * `gradNorm` or `update`) when it reads the loss; otherwise the first trainStep after the GPU
   * reported it. The step count is then rewound to the last good step and training can go on.
   * Cost: 2 dispatches per step with clipNorm / trackGradNorm, 3 without (the norm), and a
   * 32-byte readback in flight. `false` turns it off: a NaN loss then flows into the weights
   * (and Adam's moments) and every later loss is NaN.
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

/**
 * Recorded training steps kept per model, one per (seqLen, batch), least recently used evicted
 * (each holds its activations, gradients and bind groups; evaluate and predict share them).
 */
export const SEQUENCE_MODEL_STEP_CACHE = 8;

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
export class SequenceModel extends TrainedModel<TrainOptions> {
  /** The options with defaults filled in. */
  readonly options: Readonly<Resolved>;
  /** The recurrent stack (its parameters live in {@link SequenceModel.store} under `rnn.`). */
  readonly rnn: RecurrentLayer;
  /** The embedding table's slot, or null for value inputs. */
  readonly embeddingSlot: ParameterSlot | null;
  /** Counts of the last trainStep / evaluate call. */
  lastRun: StepStats | null = null;
  /** The layers as a Module (embedding, rnn, head): what each recorded step traces. */
  private readonly net: SequenceNet;
  private steps = new PlanCache<SequenceStep>(SEQUENCE_MODEL_STEP_CACHE);
  /** Truncated BPTT: the state carried between batches (one per batch size). */
  private carried = new Map<number, { h: GPUBuffer; c: GPUBuffer | null }>();
  private generator: SequenceGenerator | null = null;

  /**
   * Builds the model with PyTorch's initialisation from `opts.seed`.
   * @param gpu - The device the model's buffers live on.
   * @param opts - Architecture, loss and seed.
   * @throws ArgumentError naming the option (an unknown one with the nearest valid name) when one is missing or
   * invalid.
   */
  constructor(gpu: Gpu, opts: SequenceModelOptions) {
    const o = resolveOptions(opts);
    const { net, store } = buildNet(gpu, o);
    super(gpu, 'SequenceModel', store);
    this.options = o;
    this.net = net;
    this.rnn = net.rnn;
    this.embeddingSlot = o.vocabSize ? this.store.slot('embedding.weight') : null;
    this.writeInitialParameters(o.seed);
  }

  /**
   * PyTorch's default inits: Embedding N(0, 1); RNN U(±1/√H); Linear U(±1/√in).
   * @param seed - Seed of the draw (`options.seed` by default).
   */
  resetParameters(seed = this.options.seed): void {
    this.life.assertLive('SequenceModel.resetParameters');
    if (typeof seed !== 'number' || !Number.isFinite(seed))
      throw new ArgumentError(`SequenceModel.resetParameters: 'seed' must be a finite number, got ${show(seed)}`);
    this.life.defer(() => this.writeInitialParameters(seed));
  }

  protected writeInitialParameters(seed: number): void {
    const rand = rng(seed + 1);
    if (this.embeddingSlot) {
      const normal = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
      const w = Float32Array.from({ length: this.embeddingSlot.size }, normal);
      if (this.options.paddingIdx !== undefined)
        w.fill(0, this.paddingRow() * this.options.embeddingDim!, (this.paddingRow() + 1) * this.options.embeddingDim!);
      this.store.write('embedding.weight', w);
    }
    this.rnn.resetParameters(seed, { forgetBias: this.options.forgetBias });
    const fanIn = this.store.slot('head.weight').shape[1];
    const k = 1 / Math.sqrt(fanIn);
    for (const name of ['head.weight', 'head.bias']) {
      this.store.write(
        name,
        Float32Array.from({ length: this.store.slot(name).size }, () => (2 * rand() - 1) * k),
      );
    }
  }

  /** Writes checked values ({@link ParameterStore.checkStateDict}). */
  protected writeStateDict(values: Map<string, Float32Array>): void {
    const rnnDict: StateDict = {};
    for (const [name, data] of values) {
      if (name.startsWith('rnn.')) rnnDict[name.slice(4)] = data;
      else this.store.write(name, data);
    }
    this.rnn.loadStateDict(rnnDict);
  }

  protected get seed(): number {
    return this.options.seed;
  }

  protected trainSchema(): OptionSchema {
    return TRAIN_SCHEMA;
  }

  protected override stepsSkipped(): void {
    this.releaseCarried(); // the carried state of a bad step may be non-finite
  }

  protected override checkpointLoaded(restored: boolean): void {
    if (!restored) this.releaseCarried();
  }

  protected resetLayers(): void {
    this.rnn.resetBuffers();
  }

  protected destroyLayers(): void {
    this.net.destroy();
  }

  protected checkpointHost(train?: Omit<TrainOptions, 'optimizer'>, onRestore?: () => void): CheckpointHost {
    const o = this.options;
    const carriedShape = (B: number) => [o.numLayers * (o.bidirectional ? 2 : 1), B, o.hiddenSize];
    return {
      className: 'SequenceModel',
      config: { ...this.options },
      structural: [
        'cell',
        'vocabSize',
        'embeddingDim',
        'inputSize',
        'hiddenSize',
        'numLayers',
        'bidirectional',
        'nonlinearity',
        'outputSize',
        'mode',
        'loss',
      ],
      store: this.store,
      names: this.store.names,
      loadStateDict: (dict) =>
        this.writeStateDict(this.store.checkStateDict('SequenceModel.loadCheckpoint', dict, true)),
      training: {
        optimizer: this.optimizer,
        save: async () => {
          const tensors: Record<string, NamedTensor> = {};
          for (const [B, s] of [...this.carried].sort((x, y) => x[0] - y[0])) {
            const shape = carriedShape(B);
            const bytes = shape[0] * B * o.hiddenSize * 4;
            tensors[`seqgpu.carried.h.batch${B}`] = {
              shape,
              data: new Float32Array(await this.gpu.readBuffer(s.h, 0, bytes)),
            };
            if (s.c)
              tensors[`seqgpu.carried.c.batch${B}`] = {
                shape,
                data: new Float32Array(await this.gpu.readBuffer(s.c, 0, bytes)),
              };
          }
          return { tensors };
        },
        prepare: (counters, tensors, where) => {
          checkCounters(where, counters, []);
          const carried = new Map<number, { h?: Float32Array; c?: Float32Array }>();
          for (const [name, t] of Object.entries(tensors)) {
            const m = /^seqgpu\.carried\.([hc])\.batch([1-9]\d*)$/.exec(name);
            if (!m || (m[1] === 'c' && o.cell !== 'lstm'))
              throw new ArgumentError(
                `${where}: unexpected tensor '${name}' (a ${o.cell} SequenceModel saves ` +
                  `seqgpu.carried.h${o.cell === 'lstm' ? ' and .c' : ''}.batch<B>)`,
              );
            checkTensor(where, name, t, carriedShape(Number(m[2])));
            carried.set(Number(m[2]), { ...carried.get(Number(m[2])), [m[1]]: t.data });
          }
          for (const [B, s] of carried) {
            if (!s.h || (o.cell === 'lstm' && !s.c))
              throw new ArgumentError(`${where}: the state carried for batch ${B} lacks ${s.h ? 'c' : 'h'}`);
          }
          return (optimizer, state) => {
            this.restoreTraining(train, optimizer, state);
            this.releaseCarried();
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
   * @param opts - `readLoss` (default false): read the loss back (waits for the GPU). null = defaults.
   * @returns The step's mean loss with `readLoss`, else undefined.
   * @throws ShapeError before any GPU work when training is not configured or `batch` has the wrong
   *   sizes, out-of-range ids or non-finite values (the model is unchanged); {@link NonFiniteError}
   *   with the NaN/Inf guard when a step's loss or gradient norm was not finite (its update was
   *   skipped); {@link GpuLostError} after a device loss.
   */
  trainStep(batch: Batch, opts: { readLoss?: boolean } = {}): Promise<number | undefined> {
    const where = 'SequenceModel.trainStep';
    return this.life.call(where, async () => {
      const { readLoss = false } = checkOptions<{ readLoss: boolean }>(where, 'opts', opts, {
        readLoss: { type: 'boolean' },
      });
      if (!this.optimizer || !this.train)
        throw new ArgumentError(`${where}: call configureTraining({ optimizer, ... }) first`);
      const data = this.checkBatch(where, batch, true);
      const lr: unknown = this.train.schedule
        ? this.train.schedule(this.optimizer.options.lr, this.stepCount)
        : this.optimizer.options.lr;
      checkLr(where, lr, ` (the schedule's value for step ${this.stepCount})`);
      const step = this.stepFor(where, batch);
      // The previous step's NaN/Inf record (throws NonFiniteError once, after rewinding the counters).
      this.guard?.check();
      this.upload(step, data);
      this.optimizer.beforeStep(lr, where);
      step.plan.beforeReplay({ step: this.stepCount, training: true });
      this.stepCount++;
      const encoder = this.gpu.device.createCommandEncoder({ label: 'trainStep' });
      const carried = this.train.carryState ? this.carriedState(batch.batch) : null;
      this.encodeInitialState(encoder, step, carried);
      encoder.clearBuffer(this.store.grads);
      const update = this.guard ? this.guard.arrange(step.loss.buffer) : this.optimizer.dispatches();
      const n = step.plan.encode(encoder, [...update, ...step.plan.afterUpdate]);
      if (carried) this.encodeCarry(encoder, step, carried);
      this.guard?.beforeSubmit();
      this.gpu.submit(encoder, n);
      this.guard?.afterSubmit();
      this.lastRun = { dispatches: n, submits: 1 };
      if (readLoss && this.guard) return (await this.guard.readNow()).loss;
      return readLoss ? this.readLoss(step) : undefined;
    });
  }

  /**
   * @internal The dispatch lists of the recorded training step for (seqLen, batch): forward
   * (through the loss), backward (head, BPTT, embedding) and update (norm, optimizer, repack),
   * e.g. to time them apart with a Profiler. Needs configureTraining first.
   */
  stepDispatches(
    seqLen: number,
    batch: number,
  ): { forward: readonly Dispatch[]; backward: readonly Dispatch[]; update: readonly Dispatch[] } {
    if (!this.optimizer) throw new ArgumentError('SequenceModel.stepDispatches: call configureTraining first');
    const step = this.stepFor('SequenceModel.stepDispatches', { inputs: [], targets: [], seqLen, batch });
    const all = step.plan.dispatches;
    return {
      forward: all.slice(0, step.forwardDispatches),
      backward: all.slice(step.forwardDispatches),
      update: [...this.optimizer.dispatches(), ...step.plan.afterUpdate],
    };
  }

  /**
   * The mean loss of `batch` without training (one submit, one readback).
   * @param batch - Inputs and targets, time-major.
   * @returns The mean loss (dropout off).
   * @throws ShapeError when `batch` is invalid.
   */
  evaluate(batch: Batch): Promise<number> {
    const where = 'SequenceModel.evaluate';
    return this.life.call(where, async () => {
      const data = this.checkBatch(where, batch, true);
      const step = this.forwardOnly(where, batch, data, 'evaluate');
      this.lastRun = { dispatches: step.forwardDispatches, submits: 1 };
      return this.readLoss(step);
    });
  }

  /**
   * Logits (or predicted values) for `inputs`: [seqLen·batch, outputSize] or [batch, outputSize].
   * @param inputs - Token ids or values, time-major, as {@link Batch.inputs}.
   * @param seqLen - Timesteps.
   * @param batch - Sequences.
   * @throws ShapeError when `inputs` does not hold seqLen·batch entries (per input feature) or
   *   holds invalid ids / values.
   */
  predict(inputs: Batch['inputs'], seqLen: number, batch: number): Promise<Float32Array> {
    const where = 'SequenceModel.predict';
    return this.life.call(where, async () => {
      const shape = { inputs, targets: [], seqLen, batch };
      const step = this.forwardOnly(where, shape, this.checkBatch(where, shape, false), 'predict');
      const logits = step.logits;
      const bytes = step.logitRows * this.options.outputSize * 4;
      return new Float32Array(await this.gpu.readBuffer(logits.buffer, logits.offset * 4, bytes));
    });
  }

  /**
   * Compiles the pipelines of the recorded step for (seqLen, batch) — forward, loss, backward, and
   * the optimizer's update when training is configured; the one-token plan of `generate` with
   * `generate` — with createComputePipelineAsync, before the first call, reporting progress after
   * each pipeline. The step is recorded and cached, so the first trainStep / evaluate / predict of
   * that shape compiles nothing. Calls run in call order.
   * @param opts - `seqLen`, `batch`, `generate`, `onProgress({ done, total, label })`.
   * @returns How many pipelines were compiled and how long it took.
   * @throws ArgumentError / ShapeError for invalid options (nothing is recorded then).
   * @example
   * ```ts
   * await model.warmup({ seqLen: 64, batch: 16, onProgress: (p) => console.log(`${p.done}/${p.total}`) });
   * ```
   */
  warmup(opts: SequenceModelWarmupOptions): Promise<WarmupResult> {
    const where = 'SequenceModel.warmup';
    return this.life.call(where, async () => {
      const o = checkOptions<SequenceModelWarmupOptions>(where, 'opts', opts, {
        seqLen: { type: 'int', min: 1, required: true },
        batch: { type: 'int', min: 1, required: true },
        generate: { type: 'boolean' },
        onProgress: { type: 'function' },
      }) as SequenceModelWarmupOptions;
      const m = this.options;
      if (o.generate && (!this.embeddingSlot || m.mode !== 'manyToMany' || m.bidirectional))
        throw new ArgumentError(`${where}: generate needs a token model (vocabSize), mode manyToMany, unidirectional`);
      const shape = { inputs: [], targets: [], seqLen: o.seqLen, batch: o.batch };
      return warmupPipelines(
        this.gpu,
        where,
        () => {
          const step = this.stepFor(where, shape);
          if (this.guard) this.guard.arrange(step.loss.buffer);
          else this.optimizer?.dispatches();
          if (o.generate) this.generatorPlan();
        },
        o.onProgress,
      );
    });
  }

  /** Uploads a checked batch and runs the recorded forward (dropout off): one submit. */
  private forwardOnly(
    where: string,
    batch: Batch,
    data: { inputs: Int32Array | Float32Array; targets: Int32Array | Float32Array | null },
    label: string,
  ): SequenceStep {
    const step = this.stepFor(where, batch);
    this.upload(step, data);
    // predict: the loss kernels run on whatever targets the buffer holds; their output is unused.
    step.plan.beforeReplay({ step: this.stepCount, training: false });
    const encoder = this.gpu.device.createCommandEncoder({ label });
    this.encodeInitialState(encoder, step, null);
    const n = step.plan.encode(encoder, [], step.forwardDispatches);
    this.gpu.submit(encoder, n);
    return step;
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
  generate(prompt: ArrayLike<number>, length: number, opts: GenerateOptions = {}): Promise<number[]> {
    const where = 'SequenceModel.generate';
    return this.life.call(where, async () => {
      const o = this.options;
      if (!this.embeddingSlot || o.mode !== 'manyToMany' || o.bidirectional)
        throw new ArgumentError(`${where}: needs a token model (vocabSize), mode manyToMany, unidirectional`);
      const {
        temperature = 1,
        topK = 0,
        seed = 0,
      } = checkOptions<GenerateOptions>(where, 'opts', opts, {
        temperature: { type: 'number', min: 0 },
        topK: { type: 'int', min: 0 },
        seed: { type: 'number' },
      });
      if (!Number.isSafeInteger(length) || length < 0)
        throw new ArgumentError(`${where}: 'length' must be an integer ≥ 0, got ${show(length)}`);
      const ids = checkTokenIds(where, 'prompt', prompt, o.vocabSize!);
      if (ids.length === 0)
        throw new ArgumentError(`${where}: 'prompt' needs at least one token id, got an empty array`);
      const g = this.generatorPlan();
      const rand = rng(seed);
      const out: number[] = [];
      let token = ids[0];
      for (let i = 0; i < ids.length - 1 + length; i++) {
        const logits = await this.generatorStep(g, token, i === 0);
        token = i + 1 < ids.length ? ids[i + 1] : sample(logits, temperature, topK, rand);
        if (i + 1 >= ids.length) out.push(token);
      }
      return out;
    });
  }

  /** The step-wise generation plan, built on first use. */
  private generatorPlan(): SequenceGenerator {
    this.generator ??= new SequenceGenerator(this.gpu, this.net, this.options, 'SequenceModel.generate');
    return this.generator;
  }

  /** One timestep: token in, logits out (one submit, one readback); `fresh`: from the zero state. */
  private async generatorStep(g: SequenceGenerator, token: number, fresh: boolean): Promise<Float32Array> {
    this.gpu.device.queue.writeBuffer(g.token.buffer, g.token.offset * 4, Int32Array.of(token));
    const encoder = this.gpu.device.createCommandEncoder({ label: 'generate' });
    const n = g.encode(encoder, fresh);
    this.gpu.submit(encoder, n);
    this.lastRun = { dispatches: n, submits: 1 };
    const bytes = this.options.outputSize * 4;
    return new Float32Array(await this.gpu.readBuffer(g.logits.buffer, g.logits.offset * 4, bytes));
  }

  /**
   * @internal Every host-side counter and cache of the model, for tests that check a rejected
   * call changed nothing (weights and moments are compared separately, read back from the GPU).
   */
  debugState(): Record<string, unknown> {
    return {
      step: this.stepCount,
      optimizer: this.optimizer && { step: this.optimizer.step, lr: this.optimizer.lr },
      train: this.train && Object.keys(this.train),
      steps: this.steps.keys(),
      carried: [...this.carried.keys()],
      generator: !!this.generator,
      lastRun: this.lastRun,
      rnn: this.rnn.debugState(),
    };
  }

  /** Forgets the state carried between batches (truncated BPTT), after the calls in flight. */
  resetState(): void {
    this.life.assertLive('SequenceModel.resetState');
    this.life.defer(() => this.releaseCarried());
  }

  private releaseCarried(): void {
    for (const s of this.carried.values()) {
      this.gpu.pool.release(s.h);
      if (s.c) this.gpu.pool.release(s.c);
    }
    this.carried.clear();
  }

  /** Every buffer but the recurrent layer's own (plans, generator, carried state, optimizer, guard, parameters). */
  protected override releaseBuffers(): void {
    this.generator?.destroy();
    this.generator = null;
    this.steps.clear();
    this.releaseCarried();
    super.releaseBuffers();
  }

  private paddingRow(): number {
    const p = this.options.paddingIdx!;
    return p < 0 ? this.options.vocabSize! + p : p;
  }

  /** The recorded step for the batch's (seqLen, batch), from the LRU cache (built on a miss). */
  private stepFor(where: string, batch: Batch): SequenceStep {
    const { seqLen, batch: B } = batch;
    return this.steps.get(`${seqLen}x${B}`, () => new SequenceStep(this.gpu, this.net, this.options, seqLen, B, where));
  }

  /**
   * Checks a batch on the host before any GPU work — seqLen and batch, the number of inputs (and
   * targets), integer ids in range (typed or not: 1.5 or '1' is rejected, not truncated), finite
   * values — and returns what to upload: i32 ids or f32 values, and the targets when `withTargets`.
   */
  private checkBatch(
    where: string,
    batch: Batch,
    withTargets: boolean,
  ): { inputs: Int32Array | Float32Array; targets: Int32Array | Float32Array | null } {
    if (!batch || typeof batch !== 'object')
      throw new ArgumentError(`${where}: 'batch' must be { inputs, targets, seqLen, batch }, got ${show(batch)}`);
    const o = this.options;
    const { seqLen: T, batch: B, inputs, targets } = batch;
    for (const [k, v] of Object.entries({ seqLen: T, batch: B })) {
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0)
        throw new ShapeError(`${where}: batch.${k} must be a positive integer, got ${show(v)}`);
    }
    const size = (name: string, v: unknown, n: number, expected: string): ArrayLike<unknown> => {
      const a = arrayLike(where, name, v);
      if (a.length !== n) throw new ShapeError(`${where}: '${name}' has ${a.length} ${expected}`);
      return a;
    };
    const out = {
      inputs: this.embeddingSlot
        ? checkTokenIds(
            where,
            'inputs',
            size(
              'inputs',
              inputs,
              T * B,
              `token ids, expected seqLen·batch = ${T}·${B} = ${T * B} (time-major [seqLen, batch])`,
            ),
            o.vocabSize!,
          )
        : checkValues(
            where,
            'inputs',
            size(
              'inputs',
              inputs,
              T * B * o.inputSize,
              `values, expected ${fmtShape([T, B, o.inputSize])} = ${T * B * o.inputSize} (time-major)`,
            ),
          ),
      targets: null as Int32Array | Float32Array | null,
    };
    if (withTargets) {
      const rows = o.mode === 'manyToOne' ? B : T * B;
      const rowsWord = o.mode === 'manyToOne' ? `batch = ${B}` : `seqLen·batch = ${T * B}`;
      out.targets =
        o.loss === 'crossEntropy'
          ? checkTokenIds(
              where,
              'targets',
              size('targets', targets, rows, `class ids, expected ${rowsWord} (${o.mode})`),
              o.outputSize,
              o.ignoreIndex,
            )
          : checkValues(
              where,
              'targets',
              size(
                'targets',
                targets,
                rows * o.outputSize,
                `values, expected ${rowsWord} × outputSize ${o.outputSize} = ${rows * o.outputSize}`,
              ),
            );
    }
    return out;
  }

  /** Writes a checked batch ({@link checkBatch}) into the step's buffers. */
  private upload(
    step: SequenceStep,
    data: { inputs: Int32Array | Float32Array; targets: Int32Array | Float32Array | null },
  ): void {
    const q = this.gpu.device.queue;
    q.writeBuffer(step.inputs.buffer, step.inputs.offset * 4, data.inputs);
    if (data.targets) q.writeBuffer(step.targets.buffer, step.targets.offset * 4, data.targets);
  }

  private async readLoss(step: SequenceStep): Promise<number> {
    return new Float32Array(await this.gpu.readBuffer(step.loss.buffer, step.loss.offset * 4, 4))[0];
  }

  /** Before the pass: the initial state from the carried one (truncated BPTT), else zeros. */
  private encodeInitialState(
    encoder: GPUCommandEncoder,
    step: SequenceStep,
    carried: { h: GPUBuffer; c: GPUBuffer | null } | null,
  ): void {
    const states: Array<[BufferRef | null, GPUBuffer | null]> = [
      [step.h0, carried?.h ?? null],
      [step.c0, carried?.c ?? null],
    ];
    for (const [to, from] of states) {
      if (!to) continue;
      if (from) encoder.copyBufferToBuffer(from, 0, to.buffer, to.offset * 4, step.stateBytes);
      else encoder.clearBuffer(to.buffer, to.offset * 4, step.stateBytes);
    }
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
  private encodeCarry(
    encoder: GPUCommandEncoder,
    step: SequenceStep,
    carried: { h: GPUBuffer; c: GPUBuffer | null },
  ): void {
    const { hN, cN } = step;
    encoder.copyBufferToBuffer(hN.buffer, hN.offset * 4, carried.h, 0, step.stateBytes);
    if (carried.c && cN) encoder.copyBufferToBuffer(cN.buffer, cN.offset * 4, carried.c, 0, step.stateBytes);
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

const MODEL_SCHEMA: OptionSchema = {
  cell: { type: 'enum', values: ['rnn', 'lstm', 'gru'], required: true },
  vocabSize: { type: 'int', min: 1 },
  embeddingDim: { type: 'int', min: 1 },
  paddingIdx: { type: 'int' },
  inputSize: { type: 'int', min: 1 },
  hiddenSize: { type: 'int', min: 1, required: true },
  numLayers: { type: 'int', min: 1 },
  bidirectional: { type: 'boolean' },
  nonlinearity: { type: 'enum', values: ['tanh', 'relu'] },
  dropout: { type: 'number', min: 0 },
  outputSize: { type: 'int', min: 1, required: true },
  mode: { type: 'enum', values: ['manyToMany', 'manyToOne'], required: true },
  loss: { type: 'enum', values: ['crossEntropy', 'mse'], required: true },
  ignoreIndex: { type: 'int', min: -(2 ** 31), max: 2 ** 31 - 1 },
  forgetBias: { type: 'number' },
  seed: { type: 'number' },
};

function resolveOptions(opts: SequenceModelOptions): Resolved {
  if (opts === undefined || opts === null)
    throw new ArgumentError(
      'SequenceModel: options are required ({ cell, hiddenSize, outputSize, mode, ' +
        'loss, vocabSize + embeddingDim | inputSize, … })',
    );
  const o = checkOptions<SequenceModelOptions>('SequenceModel', 'options', opts, MODEL_SCHEMA) as SequenceModelOptions;
  const tokens = o.vocabSize !== undefined;
  if (tokens === (o.inputSize !== undefined))
    throw new ArgumentError(
      'SequenceModel: give either vocabSize (+ embeddingDim) for token inputs or inputSize for value inputs',
    );
  if (tokens) {
    if (o.embeddingDim === undefined)
      throw new ArgumentError("SequenceModel: option 'embeddingDim' is required with vocabSize (an integer ≥ 1)");
    if (o.paddingIdx !== undefined && !(o.paddingIdx >= -o.vocabSize! && o.paddingIdx < o.vocabSize!)) {
      throw new ArgumentError(`SequenceModel: paddingIdx ${o.paddingIdx} is not in [−${o.vocabSize}, ${o.vocabSize})`);
    }
  } else {
    for (const k of ['embeddingDim', 'paddingIdx'] as const)
      if (o[k] !== undefined)
        throw new ArgumentError(
          `SequenceModel: option '${k}' needs vocabSize (token inputs); a value model (inputSize) has no embedding`,
        );
  }
  if (o.nonlinearity !== undefined && o.cell !== 'rnn')
    throw new ArgumentError(`SequenceModel: option 'nonlinearity' is for cell 'rnn', not '${o.cell}'`);
  if (o.ignoreIndex !== undefined && o.loss !== 'crossEntropy')
    throw new ArgumentError("SequenceModel: option 'ignoreIndex' is for loss 'crossEntropy'");
  return {
    cell: o.cell,
    vocabSize: o.vocabSize,
    embeddingDim: o.embeddingDim,
    paddingIdx: o.paddingIdx,
    inputSize: tokens ? o.embeddingDim! : o.inputSize!,
    hiddenSize: o.hiddenSize,
    numLayers: o.numLayers ?? 1,
    bidirectional: !!o.bidirectional,
    nonlinearity: o.nonlinearity ?? 'tanh',
    dropout: o.dropout ?? 0,
    outputSize: o.outputSize,
    mode: o.mode,
    loss: o.loss,
    ignoreIndex: o.ignoreIndex ?? -100,
    forgetBias: o.forgetBias ?? 0,
    seed: o.seed ?? 0,
  };
}

/** `v` as an array-like (array or typed array), else an ArgumentError naming `name`. */
function arrayLike(where: string, name: string, v: unknown): ArrayLike<unknown> {
  if (v === null || typeof v !== 'object' || typeof (v as ArrayLike<unknown>).length !== 'number')
    throw new ArgumentError(`${where}: '${name}' must be an array or typed array, got ${show(v)}`);
  return v as ArrayLike<unknown>;
}

/**
 * Integer ids in [0, count) (or equal to `ignore`) as i32; 1.5, '1', null or 1n are rejected,
 * not truncated, with an ArgumentError naming the index and the value.
 */
export function checkTokenIds(where: string, name: string, v: unknown, count: number, ignore?: number): Int32Array {
  const a = arrayLike(where, name, v);
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    if (!(typeof x === 'number' && Number.isInteger(x) && ((x >= 0 && x < count) || x === ignore))) {
      throw new ArgumentError(
        `${where}: ${name}[${i}] = ${show(x)} ` +
          (ignore !== undefined
            ? `is neither a class in [0, ${count}) nor ignoreIndex ${ignore}`
            : `is not a token id in [0, ${count})`),
      );
    }
  }
  return a instanceof Int32Array ? a : Int32Array.from(a as ArrayLike<number>);
}

/** Finite numbers as f32 (NaN, ±Inf, strings, null are rejected with an ArgumentError naming the index). */
function checkValues(where: string, name: string, a: ArrayLike<unknown>): Float32Array {
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    if (typeof x !== 'number' || !Number.isFinite(x) || !Number.isFinite(Math.fround(x)))
      throw new ArgumentError(`${where}: ${name}[${i}] is ${show(x)}; ${name} must be finite f32 numbers`);
  }
  return a instanceof Float32Array ? a : Float32Array.from(a as ArrayLike<number>);
}

const TRAIN_SCHEMA: OptionSchema = {
  optimizer: { type: 'object', required: true },
  schedule: { type: 'function' },
  carryState: { type: 'boolean' },
  nanGuard: { type: 'boolean' },
};

/**
 * The model's layers as a Module and its parameters gathered into one store (PyTorch's names, in
 * the order embedding, rnn, head); the layers' buffers are released if that fails.
 */
function buildNet(gpu: Gpu, o: Readonly<Resolved>): { net: SequenceNet; store: ParameterStore } {
  // The largest parameters within one binding before anything is built (the store checks their sum).
  checkBindingSizes(gpu, 'SequenceModel', {
    [`embedding.weight [vocabSize ${o.vocabSize}, embeddingDim ${o.embeddingDim}]`]:
      (o.vocabSize ?? 0) * (o.embeddingDim ?? 0),
    [`head.weight [outputSize ${o.outputSize}, ${o.bidirectional ? 2 : 1}·hiddenSize ${o.hiddenSize}]`]:
      o.outputSize * (o.bidirectional ? 2 : 1) * o.hiddenSize,
  });
  const net = new SequenceNet(gpu, o);
  try {
    return { net, store: gatherParameters(net) };
  } catch (e) {
    net.destroy();
    throw e;
  }
}
