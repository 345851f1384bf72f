// What SequenceModel and Seq2Seq share around their recorded steps (one copy, not two):
//   - the parameters (one ParameterStore) with state dicts and gradients under PyTorch's names;
//   - training setup: the optimizer over every parameter with its NaN/Inf guard, the schedule,
//     the step count (rewound when the guard skips steps);
//   - snapshot / recover after a device loss, checkpoints (src/nn/checkpoint.ts);
//   - call order, destroy and device checks (src/nn/lifecycle.ts).
// A model adds its layers (how a state dict is written, how buffers are rebuilt), its own
// counters (Seq2Seq's teacher-forcing coin) and its own checkpoint tensors (SequenceModel's
// carried state) through the protected hooks below.
import type { Gpu } from '../gpu/device.js';
import { ArgumentError } from '../util/errors.js';
import { checkOptions, type OptionSchema } from '../util/options.js';
import { Optimizer, type OptimizerOptions, type OptimizerState } from '../kernels/optimizer.js';
import type { NamedTensor, StateDict } from '../io/stateDict.js';
import { ParameterStore, checkLoadStateDict } from '../io/parameters.js';
import { saveCheckpoint, loadCheckpoint, type CheckpointHost, type LoadCheckpointOptions } from '../nn/checkpoint.js';
import { Lifecycle } from '../nn/lifecycle.js';
import {
  checkRecoverSource,
  copyBytes,
  dryRun,
  readParameters,
  type ModelSnapshot,
  type RecoverSource,
} from '../nn/recovery.js';
import type { LRSchedule } from '../train/schedules.js';
import type { NanGuard } from '../train/nanGuard.js';
import { createGuardedOptimizer } from '../train/guardedOptimizer.js';

/** The training options every model takes; each model adds its own. */
export interface ModelTrainOptions {
  /** Algorithm and hyperparameters, over every parameter. */
  optimizer: OptimizerOptions;
  /** Learning rate per step (PyTorch's closed forms, src/train/schedules.ts). Default: constant. */
  schedule?: LRSchedule;
  /** The NaN/Inf guard inside each step (default true; see SequenceModel's TrainOptions). */
  nanGuard?: boolean;
}

/**
 * The base of {@link SequenceModel} and {@link Seq2Seq}: parameters, state dicts, the optimizer
 * and its NaN/Inf guard, snapshots, recovery after a device loss, checkpoints, call order and
 * destroy. Calls on one model run in call order; a rejected call changes nothing.
 */
export abstract class TrainedModel<Train extends ModelTrainOptions> {
  /**
   * Every parameter in one flat buffer (and their gradients in a second), under PyTorch's names;
   * layers hold views into it.
   */
  readonly store: ParameterStore;
  /** The optimizer of configureTraining (null before). */
  protected optimizer: Optimizer | null = null;
  /** The training options of configureTraining (null before). */
  protected train: Train | null = null;
  /** Training steps taken (rewound when the guard skips steps). */
  protected stepCount = 0;
  /** The NaN/Inf guard of the optimizer (null when off or before configureTraining). */
  protected guard: NanGuard | null = null;
  /** Call order, destroy, device checks. */
  protected readonly life: Lifecycle;
  /** What recover() restores when given nothing. */
  protected lastSnapshot: ModelSnapshot | null = null;

  /**
   * @param gpu - The device the model's buffers live on.
   * @param className - The model's class, for messages (`'SequenceModel'`).
   * @param store - The parameters, when the model's layers gathered them already; else an empty
   *   store the model registers its parameters in.
   */
  protected constructor(
    readonly gpu: Gpu,
    protected readonly className: string,
    store?: ParameterStore,
  ) {
    this.life = new Lifecycle(gpu, className);
    this.store = store ?? new ParameterStore(gpu);
  }

  /** Writes checked parameter values (every name is one of the store's). */
  protected abstract writeStateDict(values: Map<string, Float32Array>): void;
  /** PyTorch's default initialisation from `seed` (also after a device loss). */
  protected abstract writeInitialParameters(seed: number): void;
  /** The layers forget their buffers (the device is new) and rebuild them on first use. */
  protected abstract resetLayers(): void;
  /** Releases the layers' own buffers (destroy). */
  protected abstract destroyLayers(): void;
  /** The options schema of this model's training options (`train` is what the caller passed). */
  protected abstract trainSchema(train: unknown): OptionSchema;
  /** The checkpoint contents of this model; `onRestore` runs when its training state is restored. */
  protected abstract checkpointHost(train?: Omit<Train, 'optimizer'>, onRestore?: () => void): CheckpointHost;

  /** The model's own counters for a snapshot (none by default). */
  protected snapshotCounters(): Record<string, number> | undefined {
    return undefined;
  }

  /** The names of {@link snapshotCounters} a snapshot may hold. */
  protected get counterNames(): readonly string[] {
    return [];
  }

  /** Restores a snapshot's counters (checked by name). */
  protected restoreCounters(_counters: Record<string, number>): void {}

  /** After configureTraining's options were applied (the step count is 0). */
  protected trainingApplied(_train: Train): void {}

  /** After the guard skipped bad steps (the step count is rewound). */
  protected stepsSkipped(): void {}

  /** After a checkpoint was loaded: `restored` says whether it had training state. */
  protected checkpointLoaded(_restored: boolean): void {}

  /** Every parameter under its PyTorch name (read back from the GPU). */
  stateDict(): Promise<Record<string, NamedTensor>> {
    return this.life.call(`${this.className}.stateDict`, () => this.store.readAll());
  }

  /**
   * Loads PyTorch-named parameters; every key is checked before anything is written.
   * @param dict - Parameters by name (see stateDict for the names).
   * @param opts - `strict` (default true): reject keys that are not parameters of this model.
   * @throws ShapeError naming the key when one is missing, has the wrong shape or a non-finite
   *   value, or is unexpected (with `strict`); the model is unchanged then.
   */
  loadStateDict(dict: StateDict, opts: { strict?: boolean } = {}): void {
    const where = `${this.className}.loadStateDict`;
    this.life.assertLive(where);
    const values = checkLoadStateDict(where, dict, opts, this.store.shapes());
    this.life.defer(() => this.writeStateDict(values));
  }

  /** Gradients of the last training step, by parameter name. */
  gradients(): Promise<Record<string, NamedTensor>> {
    return this.life.call(`${this.className}.gradients`, () => this.store.readAll(true));
  }

  /**
   * Sets up training: the optimizer over all parameters (one flat buffer), the schedule and the
   * model's own options; the step count starts at 0.
   * @param train - Optimizer, schedule, the NaN/Inf guard and the model's own training options.
   * @throws ArgumentError naming the option when one is invalid (the current training setup is kept).
   */
  configureTraining(train: Train): void {
    const where = `${this.className}.configureTraining`;
    this.life.assertLive(where);
    const checked = this.checkTrainOptions(where, train, true) as Train;
    // a bad option leaves the current optimizer in place
    Optimizer.checkOptions(checked.optimizer, this.store.length, where);
    this.life.defer(() => this.applyTraining(checked));
  }

  /** Training options checked by the model's schema (`optimizer` required unless `withOptimizer` is false). */
  protected checkTrainOptions(where: string, train: unknown, withOptimizer: boolean): Train | Omit<Train, 'optimizer'> {
    const arg = withOptimizer ? 'train' : 'opts.train';
    if (!withOptimizer && train && typeof train === 'object' && 'optimizer' in train)
      throw new ArgumentError(`${where}: '${arg}' takes no optimizer (the file's optimizer is restored)`);
    const schema = this.trainSchema(train);
    const full = withOptimizer ? schema : { ...schema, optimizer: { type: 'object' as const } };
    return { ...checkOptions<Train>(where, arg, train, full) } as Train;
  }

  /** Replaces the optimizer and the training options; the step count starts at 0. */
  protected applyTraining(train: Train): void {
    this.optimizer?.destroy();
    this.makeOptimizer(train);
    this.train = train;
    this.stepCount = 0;
    this.trainingApplied(train);
  }

  /** The optimizer of `train` (and its NaN/Inf guard) over the current store. */
  protected makeOptimizer(train: Train): void {
    this.guard?.destroy();
    this.guard = null;
    ({ optimizer: this.optimizer, guard: this.guard } = createGuardedOptimizer(
      this.gpu,
      this.store,
      train.optimizer,
      train.nanGuard ?? true,
      { configure: `${this.className}.configureTraining`, step: `${this.className}.trainStep` },
      (skipped) => {
        this.stepCount = Math.max(0, this.stepCount - skipped);
        this.stepsSkipped();
      },
    ));
  }

  /**
   * Restores a checkpoint's training state: the training options (the current ones overridden by
   * `train`, the file's optimizer), the optimizer's state and the step count.
   */
  protected restoreTraining(
    train: Omit<Train, 'optimizer'> | undefined,
    optimizer: OptimizerOptions,
    state: OptimizerState,
  ): void {
    this.applyTraining({ ...this.train, ...train, optimizer } as Train);
    this.optimizer!.loadState(state);
    this.stepCount = state.step;
  }

  /**
   * Reads the parameters, the optimizer state, the step count and the model's counters back to
   * the CPU and keeps them as the state {@link recover} restores after a device loss; returns
   * them. Call it every few hundred steps: it waits for the GPU.
   */
  snapshot(): Promise<ModelSnapshot> {
    return this.life.call(`${this.className}.snapshot`, async () => {
      const step = this.stepCount;
      const counters = this.snapshotCounters();
      const parameters = await readParameters(this.store);
      const optimizer = this.optimizer ? await this.optimizer.readState() : null;
      this.lastSnapshot = {
        parameters,
        optimizer,
        step,
        generation: this.gpu.generation,
        ...(counters ? { counters } : {}),
      };
      return this.lastSnapshot;
    });
  }

  /**
   * After a device loss (`gpu.lost`, or a {@link GpuLostError} from any call): opens a new device
   * if that was not done yet (`gpu.recover()`), rebuilds every buffer, plan and pipeline on it and
   * restores `from` — a {@link snapshot}, a state dict (parameters only; the optimizer starts
   * afresh) or checkpoint bytes (saveCheckpoint) — or else the last snapshot: parameters and
   * optimizer state bit for bit, the step count, the model's counters (Seq2Seq's teacher-forcing
   * coin), the training options. SequenceModel's truncated-BPTT state starts from zero. Without a
   * device loss it restores `from` in place. All of `from` is checked before anything changes.
   * @param from - A snapshot, a state dict or checkpoint bytes; the last snapshot when absent.
   * @throws ArgumentError / ShapeError when there is nothing to restore or `from` does not fit the model.
   */
  recover(from?: RecoverSource): Promise<void> {
    const where = `${this.className}.recover`;
    return this.life.call(
      where,
      async () => {
        const source = from ?? this.lastSnapshot;
        if (!source)
          throw new ArgumentError(
            `${where}: nothing to restore: call model.snapshot() while the device works ` +
              `(e.g. every few hundred steps), or pass a snapshot, a state dict or checkpoint bytes`,
          );
        // Everything is checked before anything changes: a source that does not fit changes nothing.
        const bytes = source instanceof ArrayBuffer || source instanceof Uint8Array ? source : null;
        const snap = bytes
          ? null
          : checkRecoverSource(where, source, this.store, this.train?.optimizer ?? null, this.counterNames);
        if (bytes) this.loadCheckpointChecked(bytes, {});
        await this.gpu.recover();
        // Forget the old buffers (releasing them is a no-op once the pool moved to the new device).
        this.releaseBuffers();
        this.resetLayers();
        this.store.allocate();
        this.life.generation = this.gpu.generation;
        this.writeInitialParameters(this.seed);
        this.stepCount = 0;
        if (this.train) this.makeOptimizer(this.train);
        if (bytes) {
          this.loadCheckpointChecked(bytes, {})();
          return;
        }
        this.writeStateDict(snap!.parameters);
        this.stepCount = snap!.step;
        if (this.train) {
          if (snap!.optimizer) this.optimizer!.loadState(snap!.optimizer);
          this.restoreCounters(snap!.counters);
        }
      },
      { deviceCheck: false },
    );
  }

  /** The seed of the model's initialisation (its options' seed). */
  protected abstract get seed(): number;

  /**
   * The optimizer set up by configureTraining (null before), e.g. for `gradNorm()` or
   * `readState()`.
   */
  get optimizerState(): Optimizer | null {
    return this.optimizer;
  }

  /**
   * The model as a checkpoint (safetensors bytes): every parameter under its PyTorch name and,
   * once training is configured, the optimizer's moments under torch.optim's names with its step
   * and hyperparameters in the metadata, and the model's own training state (SequenceModel: the
   * state carried between batches; Seq2Seq: the teacher-forcing coin) (layout:
   * src/nn/checkpoint.ts). Reads back from the GPU.
   */
  saveCheckpoint(): Promise<Uint8Array> {
    return this.life.call(`${this.className}.saveCheckpoint`, () => saveCheckpoint(this.checkpointHost()));
  }

  /**
   * Restores a {@link saveCheckpoint} file (or a PyTorch state_dict saved as safetensors). All of
   * it is checked first — a bad, truncated or corrupt file throws a ShapeError naming the problem
   * and changes nothing — then the optimizer (saved hyperparameters, step, moments), the model's
   * own training state and the parameters are restored, so training continues exactly as it
   * would have. The schedule and the model's other training options come from `opts.train`, else
   * from the current training options. SequenceModel: loading parameters only (`optimizer:
   * false`, or a file without optimizer state) resets the carried state.
   * @param file - The bytes of a `.safetensors` checkpoint.
   * @param opts - Load options, and `train`: the training options to continue with (no optimizer).
   */
  loadCheckpoint(
    file: ArrayBuffer | Uint8Array,
    opts: LoadCheckpointOptions & { train?: Omit<Train, 'optimizer'> } = {},
  ): void {
    const where = `${this.className}.loadCheckpoint`;
    this.life.assertLive(where);
    const o = checkOptions<LoadCheckpointOptions & { train: Omit<Train, 'optimizer'> }>(where, 'opts', opts, {
      optimizer: { type: 'boolean' },
      train: { type: 'object' },
    });
    const train =
      o.train === undefined ? undefined : (this.checkTrainOptions(where, o.train, false) as Omit<Train, 'optimizer'>);
    // A copy: the caller may reuse its buffer before a deferred load runs.
    this.life.defer(this.loadCheckpointChecked(copyBytes(where, file), { ...o, train }));
  }

  /** Checks a checkpoint completely (a dry run that changes nothing); returns the function that loads it. */
  protected loadCheckpointChecked(
    file: ArrayBuffer | Uint8Array,
    opts: LoadCheckpointOptions & { train?: Omit<Train, 'optimizer'> },
  ): () => void {
    loadCheckpoint(dryRun(this.checkpointHost()), file, opts);
    return () => {
      let restored = false;
      loadCheckpoint(
        this.checkpointHost(opts.train, () => (restored = true)),
        file,
        opts,
      );
      this.checkpointLoaded(restored);
    };
  }

  /**
   * Releases every GPU buffer of the model (parameters, optimizer, plans) once the calls made
   * before it have finished; any later call throws a {@link DestroyedError}. Idempotent.
   */
  destroy(): void {
    this.life.destroy(() => {
      this.releaseBuffers();
      this.destroyLayers();
    });
  }

  /** Every buffer but the layers' own: a model releases its plans first, then calls this. */
  protected releaseBuffers(): void {
    this.guard?.destroy();
    this.guard = null;
    this.optimizer?.destroy();
    this.optimizer = null;
    this.store.destroy();
  }
}
