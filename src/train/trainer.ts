// Trainer: any Module trained in ONE submit per step. The first step for a key (input and target
// shapes, dtypes, option values, train/eval) traces model.forward, appends the fused loss and the
// backward (src/graph/autodiff.ts), plans buffers and builds every dispatch; later steps with the
// same key copy the batch in, update the per-step uniforms (step, lr, dropout counters) and
// replay: [copies] → one compute pass {forward, loss, backward, grad norm, guard, optimizer,
// W_hh repacks} → submit.
import { ArgumentError, DestroyedError } from '../util/errors.js';
import { checkCounters, loadCheckpoint, saveCheckpoint, type CheckpointHost } from '../nn/checkpoint.js';
import type { StateDict } from '../io/stateDict.js';
import {
  checkRecoverSource,
  copyBytes,
  dryRun,
  readParameters,
  type ModelSnapshot,
  type RecoverSource,
} from '../nn/recovery.js';
import type { Graph, Value } from '../graph/graph.js';
import { lossValue } from '../graph/ops/loss.js';
import type { GraphPlan } from '../graph/plan.js';
import { recordStep } from '../graph/recordStep.js';
import {
  argumentHostData,
  argumentTensors,
  callKey,
  collectOutputs,
  gatherParameters,
  mapInputs,
  type Module,
} from '../nn/module.js';
import type { ParameterStore } from '../io/parameters.js';
import type { NanGuard } from './nanGuard.js';
import { createGuardedOptimizer, type GuardedOptimizer } from './guardedOptimizer.js';
import { Optimizer, checkLr, type OptimizerOptions } from '../kernels/optimizer.js';
import type { LRSchedule } from './schedules.js';
import { TENSOR_USAGE } from '../gpu/flags.js';
import { Tensor } from '../gpu/tensor.js';
import { CallQueue } from '../util/callQueue.js';
import { checkOptions } from '../util/options.js';
import { PlanCache } from '../util/planCache.js';
import { warmupPipelines, type WarmupOptions, type WarmupResult } from '../gpu/pipelineWarmup.js';

/** Options of a {@link Trainer}. */
export interface TrainerOptions {
  /**
   * `'crossEntropy'` (logits [..., C], i32 targets [...]), `'mse'` (targets like the output), or a
   * function `(prediction, targets) => loss` built from `F` ops inside the trace, returning a
   * one-element tensor (its backward starts from 1).
   */
  loss: 'crossEntropy' | 'mse' | ((prediction: Tensor, targets: Tensor) => Tensor);
  /** Today's optimizer options (`{kind: 'adam', lr, weightDecay, …}`). */
  optimizer: OptimizerOptions;
  /** Learning-rate schedule: lr of step t from the base lr. */
  schedule?: LRSchedule;
  /** clip_grad_norm_ over every parameter (PyTorch's max_norm). */
  clipGradNorm?: number;
  /** Check loss, gradient norm and update for NaN/Inf and skip a bad update. Default true. */
  nanGuard?: boolean;
  /** crossEntropy: target value of positions that do not count. Default −100. */
  ignoreIndex?: number;
}

/** One training batch: forward's arguments and the targets. */
export interface TrainerBatch {
  /** A tensor, or the array of forward's arguments (tensors and option objects). */
  inputs: Tensor | unknown[];
  /** i32 class ids (crossEntropy) or f32 values shaped like the output (mse). */
  targets: Tensor;
}

/** Counts of the last step or evaluation: deterministic per key. */
export interface TrainerRunStats {
  /** Dispatches of the submit. */
  dispatches: number;
  /** Submits (1 per step). */
  submits: number;
  /** Nodes of the traced graph (forward, loss, backward). */
  nodes: number;
  /** Pool buffers for intermediates after reuse by lifetime, and how many values they hold. */
  buffers: number;
  /** Intermediate values planned into those buffers. */
  planned: number;
}

const SCHEMA = {
  loss: { type: 'any', required: true },
  optimizer: { type: 'object', required: true },
  schedule: { type: 'function' },
  clipGradNorm: { type: 'number', min: 0 },
  nanGuard: { type: 'boolean' },
  ignoreIndex: { type: 'int' },
} as const;

/** A recorded step (or evaluation) for one key. */
class StepPlan {
  constructor(
    readonly plan: GraphPlan,
    readonly loss: Value,
    readonly targets: Value,
  ) {}
  destroy(): void {
    this.plan.destroy();
  }
}

/**
 * Trains a {@link Module}: fused loss, backward, clipping, optimizer and NaN guard recorded into
 * one command buffer per step.
 * @example
 * ```ts
 * const trainer = new Trainer(model, { loss: 'crossEntropy', optimizer: { kind: 'adam', lr: 1e-3 } });
 * for (let i = 0; i < 100; i++) await trainer.step({ inputs: tokens, targets });
 * console.log(await trainer.step({ inputs: tokens, targets }, { readLoss: true }));
 * ```
 */
export class Trainer {
  /** The options with defaults filled in. */
  readonly options: Readonly<TrainerOptions & { nanGuard: boolean; ignoreIndex: number }>;
  /** Counts of the last step / evaluate. */
  lastRun: TrainerRunStats | null = null;
  /** Every parameter of the model, in one buffer (and the gradients in a second). */
  readonly store: ParameterStore;
  private optimizer: Optimizer;
  private guard: NanGuard | null;
  private readonly steps = new PlanCache<StepPlan>();
  private readonly evals = new PlanCache<StepPlan>();
  private readonly queue = new CallQueue();
  private stepCount = 0;
  private destroyed = false;
  private ones: GPUBuffer | null = null;

  /**
   * The optimizer of the steps (as SequenceModel's `optimizerState`), e.g. for `gradNorm()`, its
   * `lr` or `readState()`. It is replaced when the Trainer recovers from a device loss.
   */
  get optimizerState(): Optimizer {
    return this.optimizer;
  }

  /**
   * Gathers the model's parameters into one buffer (its layers keep working on them) and builds
   * the optimizer.
   * @param model - Any Module with parameters.
   * @param options - Loss, optimizer and the rest (see {@link TrainerOptions}).
   * @throws ArgumentError naming the option that is unknown, missing or of the wrong type.
   */
  constructor(
    readonly model: Module,
    options: TrainerOptions,
  ) {
    const o = checkOptions<TrainerOptions>('Trainer', 'options', options, SCHEMA as never);
    if (o.loss !== 'crossEntropy' && o.loss !== 'mse' && typeof o.loss !== 'function') {
      throw new ArgumentError(
        `Trainer: options.loss must be 'crossEntropy', 'mse' or a function (prediction, ` +
          `targets) => loss, ` +
          `got ${typeof o.loss === 'string' ? `'${o.loss}'` : typeof o.loss}`,
      );
    }
    if (!model || typeof (model as Module).namedParameters !== 'function')
      throw new ArgumentError(`Trainer: 'model' must be a Module, got ${model === null ? 'null' : typeof model}`);
    Optimizer.checkOptions(
      { ...o.optimizer!, ...(o.clipGradNorm !== undefined ? { clipNorm: o.clipGradNorm } : {}) },
      1,
      'Trainer',
    );
    this.options = Object.freeze({
      ...o,
      nanGuard: o.nanGuard ?? true,
      ignoreIndex: o.ignoreIndex ?? -100,
    }) as Trainer['options'];
    const gpu = model.gpu;
    this.store = gatherParameters(model);
    const opt = { ...o.optimizer!, ...(o.clipGradNorm !== undefined ? { clipNorm: o.clipGradNorm } : {}) };
    ({ optimizer: this.optimizer, guard: this.guard } = this.guarded(opt));
  }

  /** Steps taken. */
  get stepsTaken(): number {
    return this.stepCount;
  }

  /** The learning rate of the last step. */
  get lr(): number {
    return this.optimizer.lr;
  }

  /**
   * One training step in one submit. Calls run in call order.
   * @param batch - `inputs` (forward's argument(s)) and `targets`.
   * @param opts - `readLoss`: resolve to the mean loss (waits for the GPU).
   * @returns The loss with `readLoss`, else undefined.
   * @throws ArgumentError / ShapeError naming the argument; NonFiniteError from the guard.
   */
  step(batch: TrainerBatch, opts: { readLoss?: boolean } = {}): Promise<number | undefined> {
    const where = 'Trainer.step';
    return this.queue.run(async () => {
      const { readLoss = false } = checkOptions<{ readLoss: boolean }>(where, 'opts', opts, {
        readLoss: { type: 'boolean' },
      });
      const { args, targets, tensors } = this.checkBatch(where, batch);
      const lr: unknown = this.options.schedule
        ? this.options.schedule(this.optimizer.options.lr, this.stepCount)
        : this.optimizer.options.lr;
      checkLr(where, lr, ` (the schedule's value for step ${this.stepCount})`);
      const step = this.planFor(this.steps, true, args, targets, where);
      const host = argumentHostData(args);
      step.plan.checkHost(host);
      this.guard?.check();
      const gpu = this.model.gpu;
      this.optimizer.beforeStep(lr, where);
      step.plan.beforeReplay({ step: this.stepCount, training: true });
      step.plan.writeHost(host);
      this.stepCount++;
      const encoder = gpu.device.createCommandEncoder({ label: where });
      this.copyIn(encoder, step, tensors, targets);
      encoder.clearBuffer(this.store.grads);
      const update = this.guard ? this.guard.arrange(this.lossBuffer(step)) : this.optimizer.dispatches();
      const n = step.plan.encode(encoder, [...update, ...step.plan.afterUpdate]);
      this.guard?.beforeSubmit();
      gpu.submit(encoder, n);
      this.guard?.afterSubmit();
      this.lastRun = { dispatches: n, submits: 1, ...this.planStats(step) };
      if (!readLoss) return undefined;
      if (this.guard) return (await this.guard.readNow()).loss;
      return this.readLoss(step);
    });
  }

  /**
   * Compiles the pipelines of a training step for batches shaped like `batch` (forward, loss,
   * backward, clipping, optimizer, NaN guard; with `evaluate` also those of `evaluate`) with
   * createComputePipelineAsync, reporting progress after each pipeline. The step is recorded and
   * cached; nothing runs, `batch`'s values are not read. The first step of that shape compiles
   * nothing. Calls run in call order.
   * @param batch - A batch of the shapes to come (as {@link Trainer.step}).
   * @param opts - `evaluate`, `onProgress({ done, total, label })`.
   * @returns How many pipelines were compiled and how long it took.
   * @throws ArgumentError / ShapeError naming the argument (nothing is recorded then).
   */
  warmup(batch: TrainerBatch, opts: WarmupOptions & { evaluate?: boolean } = {}): Promise<WarmupResult> {
    const where = 'Trainer.warmup';
    return this.queue.run(async () => {
      const o = checkOptions<WarmupOptions & { evaluate: boolean }>(where, 'opts', opts, {
        evaluate: { type: 'boolean' },
        onProgress: { type: 'function' },
      });
      const { args, targets } = this.checkBatch(where, batch);
      return warmupPipelines(
        this.model.gpu,
        where,
        () => {
          const step = this.planFor(this.steps, true, args, targets, where);
          if (this.guard) this.guard.arrange(this.lossBuffer(step));
          else this.optimizer.dispatches();
          if (o.evaluate) this.planFor(this.evals, false, args, targets, 'Trainer.evaluate');
        },
        o.onProgress,
      );
    });
  }

  /**
   * The mean loss of a batch without training (dropout off, no gradients): one submit, one readback.
   * @param batch - As {@link Trainer.step}.
   */
  evaluate(batch: TrainerBatch): Promise<number> {
    const where = 'Trainer.evaluate';
    return this.queue.run(async () => {
      const { args, targets, tensors } = this.checkBatch(where, batch);
      const step = this.planFor(this.evals, false, args, targets, where);
      const host = argumentHostData(args);
      step.plan.checkHost(host);
      step.plan.writeHost(host);
      const gpu = this.model.gpu;
      step.plan.beforeReplay({ step: this.stepCount, training: false });
      const encoder = gpu.device.createCommandEncoder({ label: where });
      this.copyIn(encoder, step, tensors, targets);
      const n = step.plan.encode(encoder);
      gpu.submit(encoder, n);
      this.lastRun = { dispatches: n, submits: 1, ...this.planStats(step) };
      return this.readLoss(step);
    });
  }

  /**
   * The parameters, the optimizer's state and the step count read back to the CPU (one readback
   * each), after the calls made before.
   */
  snapshot(): Promise<ModelSnapshot> {
    return this.queue.run(async () => {
      this.checkAlive('Trainer.snapshot');
      const step = this.stepCount;
      return {
        parameters: await readParameters(this.store),
        optimizer: await this.optimizer.readState(),
        step,
        generation: this.model.gpu.generation,
      };
    });
  }

  /**
   * Restores a {@link Trainer.snapshot} (parameters, optimizer state, step), a state dict
   * (parameters only; the optimizer keeps its state) or {@link Trainer.saveCheckpoint} bytes, in
   * place. Everything is checked before anything changes.
   * @param from - A snapshot, a state dict or checkpoint bytes.
   */
  recover(from: RecoverSource): Promise<void> {
    const where = 'Trainer.recover';
    return this.queue.run(async () => {
      this.checkAlive(where);
      if (from instanceof Uint8Array || from instanceof ArrayBuffer) {
        const bytes = copyBytes(where, from);
        loadCheckpoint(dryRun(this.checkpointHost()), bytes);
        loadCheckpoint(this.checkpointHost(), bytes);
        return;
      }
      const checked = checkRecoverSource(where, from, this.store, this.optimizer.options, []);
      this.writeParameters(checked.parameters);
      if (checked.optimizer) {
        this.optimizer.loadState(checked.optimizer);
        this.stepCount = checked.step;
      }
    });
  }

  /**
   * The model and the optimizer state as one checkpoint (safetensors bytes: PyTorch names for the
   * parameters, torch.optim state names, CRC over every byte; src/nn/checkpoint.ts).
   */
  saveCheckpoint(): Promise<Uint8Array> {
    return this.queue.run(async () => {
      this.checkAlive('Trainer.saveCheckpoint');
      return saveCheckpoint(this.checkpointHost());
    });
  }

  /**
   * Loads a {@link Trainer.saveCheckpoint} file (or a PyTorch state_dict saved as safetensors:
   * parameters only). A bad, truncated or corrupt file throws and changes nothing.
   * @param file - The bytes of the `.safetensors` file.
   */
  loadCheckpoint(file: ArrayBuffer | Uint8Array): Promise<void> {
    return this.recover(file);
  }

  private checkAlive(where: string): void {
    if (this.destroyed) throw new DestroyedError(`${where}: this Trainer was destroyed`);
  }

  /** Writes checked parameters into the gathered store; layers rebuild what they derive from them. */
  private writeParameters(values: Map<string, Float32Array>): void {
    const dict: StateDict = {};
    for (const [name, data] of values) dict[name] = { shape: this.store.slot(name).shape, data };
    this.model.loadStateDict(dict);
  }

  private checkpointHost(): CheckpointHost {
    return {
      className: this.model.constructor.name,
      config: {},
      structural: [],
      store: this.store,
      names: this.store.names,
      loadStateDict: (dict) => this.model.loadStateDict(dict),
      training: {
        optimizer: this.optimizer,
        prepare: (counters, tensors, where) => {
          checkCounters(where, counters, []);
          const extra = Object.keys(tensors);
          if (extra.length)
            throw new ArgumentError(
              `${where}: unexpected tensor(s) ${extra.map((k) => `'${k}'`).join(', ')}; a Trainer saves none`,
            );
          return (options, state) => {
            this.replaceOptimizer(options);
            this.optimizer.loadState(state);
            this.stepCount = state.step;
          };
        },
      },
    };
  }

  /** A new optimizer (and guard) from a checkpoint's options. */
  private replaceOptimizer(options: OptimizerOptions): void {
    const next = this.guarded(options);
    this.guard?.destroy();
    this.optimizer.destroy();
    ({ optimizer: this.optimizer, guard: this.guard } = next);
  }

  /** The optimizer over the gathered store and its guard (when nanGuard is on). */
  private guarded(options: OptimizerOptions): GuardedOptimizer {
    return createGuardedOptimizer(
      this.model.gpu,
      this.store,
      options,
      this.options.nanGuard,
      { configure: 'Trainer.step', step: 'Trainer.step' },
      (skipped) => {
        this.stepCount = Math.max(0, this.stepCount - skipped);
      },
    );
  }

  /** Releases the optimizer, the guard and every recorded plan (not the model). */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.steps.clear();
    this.evals.clear();
    this.guard?.destroy();
    this.optimizer.destroy();
    if (this.ones) this.model.gpu.pool.release(this.ones);
    this.ones = null;
  }

  private planStats(step: StepPlan) {
    const s = step.plan.stats;
    return { nodes: s.nodes, buffers: s.buffers, planned: s.planned };
  }

  private lossBuffer(step: StepPlan): GPUBuffer {
    return step.plan.view(step.loss).buffer;
  }

  private async readLoss(step: StepPlan): Promise<number> {
    const r = step.plan.view(step.loss);
    return new Float32Array(await this.model.gpu.readBuffer(r.buffer, r.offset * 4, 4))[0];
  }

  private checkBatch(where: string, batch: TrainerBatch): { args: unknown[]; targets: Tensor; tensors: Tensor[] } {
    this.checkAlive(where);
    if (!batch || typeof batch !== 'object')
      throw new ArgumentError(
        `${where}: batch must be { inputs, targets }, got ${batch === null ? 'null' : typeof batch}`,
      );
    const extra = Object.keys(batch).filter((k) => k !== 'inputs' && k !== 'targets');
    if (extra.length)
      throw new ArgumentError(
        `${where}: unknown key(s) ${extra.map((k) => `'${k}'`).join(', ')} in batch; expected inputs, targets`,
      );
    const args = batch.inputs instanceof Tensor ? [batch.inputs] : Array.isArray(batch.inputs) ? batch.inputs : null;
    if (!args)
      throw new ArgumentError(
        `${where}: batch.inputs must be a Tensor or an array of forward's arguments, got ${typeof batch.inputs}`,
      );
    if (!(batch.targets instanceof Tensor))
      throw new ArgumentError(
        `${where}: batch.targets must be a Tensor, got ${batch.targets === null ? 'null' : typeof batch.targets}`,
      );
    if (batch.targets.gpu !== this.model.gpu)
      throw new ArgumentError(`${where}: batch.targets is a Tensor of another Gpu`);
    if (batch.targets.destroyed) throw new ArgumentError(`${where}: batch.targets was destroyed`);
    return { args, targets: batch.targets, tensors: argumentTensors(this.model.gpu, args, where) };
  }

  /** The recorded step for this key: traced, differentiated and planned on first use. */
  private planFor(
    cache: PlanCache<StepPlan>,
    training: boolean,
    args: unknown[],
    targets: Tensor,
    where: string,
  ): StepPlan {
    const key = callKey([...args, targets], training);
    return cache.get(key, () => {
      const model = this.model;
      const wasTraining = model.training;
      if (!training) model.eval();
      let target: Value;
      try {
        const { plan, loss } = recordStep(model.gpu, where, training, (graph) => {
          const mapped = mapInputs(graph, args, where);
          target = graph.input(targets.shape, targets.dtype, 'targets');
          const out = collectOutputs(graph, model.forward(...(mapped.args as never[])), where);
          if (out.length !== 1)
            throw new ArgumentError(
              `${where}: forward must return one tensor (the prediction) for the loss, got ${out.length}`,
            );
          return {
            loss: this.lossOf(graph, out[0], target, where),
            seed: training && typeof this.options.loss === 'function' ? this.onesValue(graph) : null,
          };
        });
        return new StepPlan(plan, loss, target!);
      } finally {
        if (!training) model.train(wasTraining);
      }
    });
  }

  /** The loss value: a fused loss node, or the user's function traced over the prediction. */
  private lossOf(graph: Graph, pred: Value, target: Value, where: string): Value {
    const loss = this.options.loss;
    if (typeof loss !== 'function') return lossValue(loss, pred, target, this.options.ignoreIndex);
    const out = loss(pred.tensor, target.tensor);
    const v = graph.of(where, "the loss function's result", out);
    if (v.size !== 1 || v.dtype !== 'f32')
      throw new ArgumentError(
        `${where}: the loss function returned shape [${v.shape.join(', ')}] ` +
          `(${v.dtype}); it must return one f32 element (e.g. F.mean of a flattened tensor)`,
      );
    v.pinned = true;
    return v;
  }

  /** A one-element value holding 1: dL/dL, the seed of a traced loss's backward. */
  private onesValue(graph: Graph): Value {
    if (!this.ones) {
      this.ones = this.model.gpu.pool.acquire(16, TENSOR_USAGE, 'trainer.ones');
      this.model.gpu.device.queue.writeBuffer(this.ones, 0, Float32Array.of(1, 0, 0, 0));
    }
    const buffer = this.ones;
    const v = graph.value([1], 'f32', 'dloss');
    v.fixed = () => ({ buffer, offset: 0 });
    return v;
  }

  /** Copies forward's tensor arguments and the targets into the plan's input buffers. */
  private copyIn(encoder: GPUCommandEncoder, step: StepPlan, tensors: Tensor[], targets: Tensor): void {
    const inputs = step.plan.graph.inputs;
    // The graph's inputs: forward's tensors in argument order, then the targets.
    [...tensors.slice(0, inputs.length - 1), targets].forEach((t, i) => {
      const v = inputs[i];
      const r = step.plan.view(v);
      encoder.copyBufferToBuffer(t.buffer, 0, r.buffer, r.offset * 4, v.size * 4);
    });
  }
}
