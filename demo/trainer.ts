// The training loop of the demo page and the life of its model: build / rebuild on a parameter
// change, start / pause / reset, validation, previews and profiling between steps, a CPU copy of
// the weights for a lost device, NaN detection, saving and loading weights.
//
// Everything that touches the model runs as a job on one serial chain, so a rebuild or a save
// never overlaps a step. While running, the loop is a chain of "ticks": each submits steps for
// ~150 ms (the next step is recorded and submitted before the previous one's loss is awaited, so
// the GPU never waits for JavaScript), then yields to the page through a MessageChannel (not
// setTimeout, which background tabs throttle) and queues the next tick behind any pending job.
import { requestGpu, GpuError, NonFiniteError, type Gpu, type NamedTensor, type OptimizerState } from '../src/index.js';
import {
  EFFECTS,
  MODEL_KEYS,
  modelPreset,
  preset,
  toyPreset,
  type Params,
  type SizeClass,
  type TaskName,
} from './params.js';
import { StepProfiler, type KernelTimes } from './profile.js';
import type { DemoState } from './states.js';
import type { StepResult, Task, TaskContext } from './tasks/task.js';
import { CharLMTask } from './tasks/charLM.js';
import { TimeSeriesTask } from './tasks/timeSeries.js';
import { Seq2SeqTask } from './tasks/seq2seq.js';
import { decodeWeights, encodeWeights } from './weights.js';

const TICK_MS = 150;
/** Throughput is averaged over this much training time. */
const RATE_WINDOW_MS = 3000;
const SNAPSHOT_EVERY_MS = 5000;

export interface History {
  lossSteps: number[];
  losses: number[];
  gradNorms: number[];
  val: Array<[number, number]>;
  /** Per tick: step, steps/s, tokens/s (over the last RATE_WINDOW_MS of training time). */
  rateSteps: number[];
  stepsPerSec: number[];
  tokensPerSec: number[];
}

function emptyHistory(): History {
  return { lossSteps: [], losses: [], gradNorms: [], val: [], rateSteps: [], stepsPerSec: [], tokensPerSec: [] };
}

/**
 * One training run: a model built (fresh weights) and trained, with its hyperparameters. The loss
 * chart overlays the runs of the current task, a colour each; the last run is the current one.
 */
export interface Run {
  id: number;
  task: TaskName;
  /** The model and its training hyperparameters ("Transformer 2×64/4h · T32 B8 AdamW 3e-3"). */
  label: string;
  /** Hyperparameters changed while it trained ("lr→0.002"). */
  changes: string[];
  color: string;
  /** Lighter shade for the raw (unsmoothed) curve. */
  light: string;
  history: History;
}

/** Run colours; the first is the page's original training-loss blue. */
const RUN_COLORS: Array<[string, string]> = [
  ['#1f5fa8', '#9bbbe0'],
  ['#c0392b', '#e8aaa3'],
  ['#2a9d55', '#a3d9b8'],
  ['#7b4fb0', '#cbb6e3'],
  ['#b5892a', '#e3d0a3'],
  ['#178a9c', '#a0d5de'],
  ['#c2458f', '#e8b0d0'],
  ['#555555', '#bbbbbb'],
];
/** Runs kept for the overlay (the oldest are dropped). */
export const MAX_RUNS = 8;

const OPTIMIZER_NAMES = { sgd: 'SGD', momentum: 'SGD+m', adam: 'Adam', adamw: 'AdamW' } as const;
const short = (v: number) => (v >= 1e-2 ? String(Number(v.toPrecision(3))) : v.toExponential(0));

/** The legend text of a run: the model, then seqLen, batch, optimizer and lr. */
export function runLabel(p: Params): string {
  const model =
    p.task === 'charLM' && p.lmModel === 'transformer'
      ? `Transformer ${p.numLayers}×${p.dModel}/${p.nhead}h`
      : `${(p.task === 'charLM' ? p.lmModel : p.cell).toUpperCase()} ${p.numLayers}×${p.hiddenSize}`;
  return `${model} · T${p.seqLen} B${p.batch} ${OPTIMIZER_NAMES[p.optimizer]} ${short(p.lr)}`;
}

/** Training hyperparameters whose change during a run is noted in its label. */
const NOTED: ReadonlyArray<keyof Params> = [
  'seqLen',
  'batch',
  'optimizer',
  'lr',
  'momentum',
  'schedule',
  'clipNorm',
  'weightDecay',
  'stateful',
  'teacherForcing',
  'dropout',
];

export interface Snapshot {
  step: number;
  weights: Record<string, NamedTensor>;
  optimizer: OptimizerState | null;
}

/** Progress of a model's warmup (its pipelines compiled before the first step). */
export interface WarmupState {
  /** Pipelines compiled by the current warmup call, of `total`. */
  done: number;
  total: number;
  /** The pipeline compiled last (`shader|constants`). */
  label: string;
  /** Pipelines compiled so far by this model's warmup (every call). */
  compiled: number;
  /** Milliseconds the whole warmup took (when finished). */
  ms: number;
  finished: boolean;
}

/** What comes with a state change: the NaN step, why the device was lost, an error and its title. */
export interface StateDetail {
  nanStep?: number;
  reason?: string;
  error?: string;
  /** What failed ("Could not load weights", "Generate failed"). */
  title?: string;
}

/** What the page shows; the trainer calls these and never touches the DOM outside the task view. */
export interface TrainerEvents {
  state(state: DemoState, detail?: StateDetail): void;
  progress(): void;
  rebuilt(summary: string): void;
  profiled(times: KernelTimes | null): void;
  log(message: string): void;
  /** Parameters changed by the trainer (a task preset, a loaded file's model): refresh the panel. */
  paramsChanged(): void;
  /** The model's pipelines are being compiled before its first step (progress after each one). */
  warmup(state: WarmupState): void;
}

const yieldToPage = (() => {
  const ch = new MessageChannel();
  const waiting: Array<() => void> = [];
  ch.port1.onmessage = () => waiting.shift()?.();
  return () =>
    new Promise<void>((resolve) => {
      waiting.push(resolve);
      ch.port2.postMessage(null);
    });
})();

export class Trainer {
  gpu: Gpu | null = null;
  task: Task | null = null;
  state: DemoState = 'booting';
  step = 0;
  builds = 0;
  history: History = emptyHistory();
  /** Training runs, oldest first; the last is the current one (its history is `history`). */
  runs: Run[] = [];
  private nextRunId = 0;
  snapshot: Snapshot | null = null;
  kernelTimes: KernelTimes | null = null;
  stepsPerSec = 0;
  tokensPerSec = 0;
  lastError: string | null = null;
  saved: { bytes: number; step: number; names: string[] } | null = null;
  loaded: { name: string; step: number | null } | null = null;
  warmup: WarmupState | null = null;
  sizeClass: SizeClass = 'software';
  private chain: Promise<unknown> = Promise.resolve();
  private profiler: StepProfiler | null = null;
  private nextVal = 0;
  private nextPreview = 0;
  private nextProfile = 0;
  private lastSnapshotAt = 0;
  /** Training time and counts at each tick end, for the sliding throughput. */
  private rate: Array<{ ms: number; steps: number; tokens: number }> = [];
  private trainMs = 0;
  private tokens = 0;
  private lostHandled = false;

  constructor(
    readonly params: Params,
    private readonly view: HTMLElement,
    private readonly on: TrainerEvents,
  ) {}

  /** Runs `fn` after every job queued before it; a failure does not break the chain. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private setState(state: DemoState, detail?: StateDetail): void {
    this.state = state;
    this.on.state(state, detail);
  }

  /** Opens the GPU; `no-webgpu` when the browser has none (the banner says how to enable it). */
  async boot(): Promise<boolean> {
    try {
      await this.openGpu();
    } catch (e) {
      this.lastError = (e as Error).message;
      this.setState(e instanceof GpuError || !('gpu' in navigator) ? 'no-webgpu' : 'error', { error: this.lastError });
      return false;
    }
    return true;
  }

  private async openGpu(): Promise<void> {
    const gpu = await requestGpu();
    this.gpu = gpu;
    this.lostHandled = false;
    const info = gpu.adapterInfo;
    this.sizeClass =
      info.isFallbackAdapter ||
      /swiftshader|llvmpipe|software/i.test(`${info.vendor} ${info.architecture} ${info.description}`)
        ? 'software'
        : 'gpu';
    this.profiler = new StepProfiler(gpu);
    gpu.lost.then((lost) => {
      if (this.gpu !== gpu || this.lostHandled) return;
      this.lostHandled = true;
      this.setState('lost', {
        reason:
          `${lost.reason === 'destroyed' ? 'The device was destroyed' : 'The driver reset or removed the device'}` +
          `${lost.message ? `: ${lost.message}` : ''}.`,
      });
    });
  }

  adapterText(): string {
    const i = this.gpu?.adapterInfo;
    return i
      ? `${[i.vendor, i.architecture, i.description].filter(Boolean).join(' ')}` +
          `${this.sizeClass === 'software' ? ' (software rasterizer: sizes kept small)' : ''}`
      : 'no adapter';
  }

  /** Builds the model of the current parameters (after the queued jobs). */
  build(reason?: string): Promise<void> {
    return this.serial(() => this.buildNow(reason));
  }

  private async buildNow(reason?: string, keep?: Record<string, NamedTensor>): Promise<void> {
    if (!this.gpu) return;
    const resume = this.state === 'running';
    this.setState('building');
    this.task?.destroy();
    this.task = null;
    const ctx: TaskContext = {
      gpu: this.gpu,
      params: this.params,
      view: this.view,
      globalStep: () => this.step,
      run: (what, fn) => this.runJob(what, fn),
    };
    try {
      const p = this.params;
      this.task =
        p.task === 'charLM'
          ? new CharLMTask(ctx)
          : p.task === 'timeSeries'
            ? new TimeSeriesTask(ctx)
            : new Seq2SeqTask(ctx);
      await this.task.configureTraining();
      if (keep) this.task.loadStateDict(keep);
      await this.warmupNow(this.task);
      await this.gpu.sync();
    } catch (e) {
      this.task?.destroy();
      this.task = null;
      await this.fail(e, 'Could not build the model');
      return;
    }
    this.builds++;
    if (!keep) this.resetProgress();
    this.on.rebuilt(this.task.summary);
    if (reason) this.on.log(reason);
    this.setState(resume ? 'running' : this.step > 0 ? 'paused' : 'ready');
    if (resume) this.scheduleTick();
    this.on.progress();
  }

  /**
   * Compiles the new model's GPU pipelines (createComputePipelineAsync) before its first step, so
   * that step does not stall on them; `warmup` events show the progress.
   */
  private async warmupNow(task: Task): Promise<void> {
    const t0 = performance.now();
    const w: WarmupState = { done: 0, total: 0, label: '', compiled: 0, ms: 0, finished: false };
    this.warmup = w;
    this.on.warmup(w);
    const n = await task.warmup((p) => {
      Object.assign(w, p);
      if (p.total > 0) w.compiled++;
      this.on.warmup(w);
    });
    w.ms = performance.now() - t0;
    w.finished = true;
    this.on.warmup(w);
    this.on.log(`compiled ${n} GPU pipelines before the first step in ${(w.ms / 1000).toFixed(1)} s`);
  }

  /**
   * Runs a job of the page (Generate, a forecast) between training steps; a failure is shown in the
   * error panel as `what: message` and resolves to null (training goes on).
   */
  runJob<T>(what: string, fn: () => Promise<T>): Promise<T | null> {
    return this.serial(async () => {
      try {
        const r = await fn();
        this.on.progress();
        return r;
      } catch (e) {
        this.lastError = `${what}: ${(e as Error)?.message ?? String(e)}`;
        this.on.log(this.lastError);
        this.on.state(this.state, { error: this.lastError, title: what });
        return null;
      }
    });
  }

  /** The run being trained. */
  get currentRun(): Run | null {
    return this.runs[this.runs.length - 1] ?? null;
  }

  /** Starts a new run (a fresh model); a current run that never stepped is replaced. */
  private newRun(): void {
    const cur = this.currentRun;
    // An empty run is replaced, its id (and colour) reused.
    const id = cur && cur.history.lossSteps.length === 0 ? this.runs.pop()!.id : this.nextRunId++;
    const [color, light] = RUN_COLORS[id % RUN_COLORS.length];
    this.runs.push({
      id,
      task: this.params.task,
      label: runLabel(this.params),
      changes: [],
      color,
      light,
      history: this.history,
    });
    while (this.runs.length > MAX_RUNS) this.runs.shift();
  }

  /** Forgets every run but the current one. */
  clearRuns(): void {
    this.runs = this.runs.slice(-1);
    this.on.progress();
  }

  private resetProgress(): void {
    this.step = 0;
    this.history = emptyHistory();
    this.newRun();
    this.snapshot = null;
    this.kernelTimes = null;
    this.rate = [];
    this.trainMs = 0;
    this.tokens = 0;
    this.stepsPerSec = 0;
    this.tokensPerSec = 0;
    this.scheduleExtras();
    this.on.profiled(null);
  }

  private scheduleExtras(): void {
    const every = Math.max(1, Math.round(this.params.previewEvery));
    this.nextVal = this.step + Math.min(every, 10);
    this.nextPreview = this.step + Math.min(every, 10);
    this.nextProfile = this.step + 3;
  }

  start(): void {
    const resumable =
      this.state === 'ready' || this.state === 'paused' || (this.state === 'error' && this.task !== null);
    if (!resumable) return;
    this.setState('running');
    this.lastSnapshotAt = performance.now();
    this.scheduleTick();
  }

  pause(): Promise<void> {
    if (this.state === 'running') this.setState('paused');
    // Keep a CPU copy of the weights whenever training stops.
    return this.serial(async () => {
      if (this.state !== 'paused') return;
      await this.takeSnapshot();
      this.on.progress();
    });
  }

  /** Fresh weights (from the seed) and empty charts; stays paused. */
  reset(): Promise<void> {
    if (this.state === 'running') this.setState('paused');
    return this.serial(async () => {
      this.state = 'ready';
      await this.buildNow('reset: fresh weights from the seed');
    });
  }

  private scheduleTick(): void {
    void yieldToPage().then(() => this.serial(() => this.tick()));
  }

  private due(): boolean {
    return this.step >= this.nextVal || this.step >= this.nextPreview || this.step >= this.nextProfile;
  }

  private async tick(): Promise<void> {
    if (this.state !== 'running' || !this.task || !this.gpu) return;
    const task = this.task;
    try {
      await this.extras(task);
      if (this.state !== 'running') return;
      const t0 = performance.now();
      let pending: { result: Promise<StepResult>; step: number; tokens: number } | null = null;
      let ok = true;
      while (ok && this.state === 'running' && performance.now() - t0 < TICK_MS && !this.due()) {
        const result = task.step();
        // If an earlier step fails (a lost device), this one is never awaited: keep its rejection handled.
        result.catch(() => undefined);
        this.step++;
        const next = { result, step: this.step, tokens: task.tokensPerStep() };
        if (pending) ok = this.record(await pending.result, pending.step, pending.tokens);
        pending = next;
      }
      if (pending) ok = this.record(await pending.result, pending.step, pending.tokens) && ok;
      this.trainMs += performance.now() - t0;
      this.updateRate();
      if (!ok) {
        this.setState('nan', {
          nanStep: this.history.lossSteps.find((_, i) => !Number.isFinite(this.history.losses[i])) ?? this.step,
        });
      }
      if (this.state === 'running' && performance.now() - this.lastSnapshotAt > SNAPSHOT_EVERY_MS)
        await this.takeSnapshot();
    } catch (e) {
      if (e instanceof NonFiniteError) {
        // The NaN/Inf guard (on by default) skipped the update: the weights are those before the
        // bad step. Show it as a NaN loss: training stops, the banner says what to change.
        this.record({ loss: e.loss, gradNorm: e.gradNorm }, this.step, 0);
        this.setState('nan', { nanStep: this.step });
      } else {
        await this.fail(e, 'Training stopped');
      }
      this.on.progress();
      return;
    }
    this.on.progress();
    if (this.state === 'running') this.scheduleTick();
  }

  /** Stores a step's results; false when the loss is not finite. */
  private record(r: StepResult, step: number, tokens: number): boolean {
    const h = this.history;
    h.lossSteps.push(step);
    h.losses.push(r.loss);
    h.gradNorms.push(r.gradNorm);
    this.tokens += tokens;
    return Number.isFinite(r.loss);
  }

  private updateRate(): void {
    this.rate.push({ ms: this.trainMs, steps: this.step, tokens: this.tokens });
    while (this.rate.length > 2 && this.trainMs - this.rate[1].ms >= RATE_WINDOW_MS) this.rate.shift();
    const first = this.rate[0];
    const dt = (this.trainMs - first.ms) / 1000;
    if (this.rate.length < 2 || dt <= 0) return;
    this.stepsPerSec = (this.step - first.steps) / dt;
    this.tokensPerSec = (this.tokens - first.tokens) / dt;
    const h = this.history;
    h.rateSteps.push(this.step);
    h.stepsPerSec.push(this.stepsPerSec);
    h.tokensPerSec.push(this.tokensPerSec);
  }

  /** The task's preview outside training (a paused or new model); a failure shows in the error panel. */
  private async previewNow(what: string): Promise<void> {
    const task = this.task;
    if (!task) return;
    try {
      await task.preview();
      this.on.progress();
    } catch (e) {
      this.lastError = `${what} failed: ${(e as Error)?.message ?? String(e)}`;
      this.on.state(this.state, { error: this.lastError, title: `${what} failed` });
    }
  }

  /** Validation, preview and profiling when their step has come (between ticks, nothing in flight). */
  private async extras(task: Task): Promise<void> {
    const every = Math.max(1, Math.round(this.params.previewEvery));
    if (this.step >= this.nextVal) {
      this.nextVal = this.step + every;
      const v = await task.validate();
      this.history.val.push([this.step, v]);
    }
    if (this.step >= this.nextPreview) {
      this.nextPreview = this.step + every;
      await task.preview();
    }
    if (this.step >= this.nextProfile) {
      this.nextProfile = this.step + 10 * every;
      await this.profile(task);
    }
  }

  private async profile(task: Task): Promise<void> {
    if (!this.profiler?.available) {
      this.on.profiled(null);
      return;
    }
    const list = task.profileDispatches();
    this.kernelTimes = list ? await this.profiler.run(list) : null;
    this.on.profiled(this.kernelTimes);
  }

  /** Copies the weights and optimizer state to the CPU if they are all finite. */
  private async takeSnapshot(): Promise<void> {
    const task = this.task;
    if (!task || this.step === 0) return;
    this.lastSnapshotAt = performance.now();
    const weights = await task.stateDict();
    for (const t of Object.values(weights)) if (!t.data.every(Number.isFinite)) return;
    const optimizer = task.optimizer ? await task.optimizer.readState() : null;
    if (optimizer && !Object.values(optimizer.buffers).every((b) => b.every(Number.isFinite))) return;
    this.snapshot = { step: this.step, weights, optimizer };
  }

  /** Loads the snapshot into the current model (after a NaN); stays paused. */
  rollBack(): Promise<void> {
    return this.serial(async () => {
      const s = this.snapshot;
      if (!s || !this.task) return;
      this.restore(s);
      this.setState('paused');
      this.on.log(`rolled back to the weights of step ${s.step}`);
      this.on.progress();
    });
  }

  private restore(s: Snapshot): void {
    const task = this.task!;
    task.loadStateDict(s.weights);
    if (s.optimizer && task.optimizer) {
      try {
        task.optimizer.loadState(s.optimizer);
      } catch {
        // A different optimizer kind now: it starts from zero moments.
      }
    }
    this.step = s.step;
    const h = this.history;
    const keep = h.lossSteps.findIndex((st) => st > s.step);
    if (keep >= 0) {
      h.lossSteps.length = h.losses.length = h.gradNorms.length = keep;
    }
    h.val = h.val.filter(([st]) => st <= s.step);
    this.scheduleExtras();
  }

  /** After a device loss: a new device, the same model, the weights of the last snapshot; resumes training. */
  restart(): Promise<void> {
    return this.serial(async () => {
      try {
        this.task?.destroy();
      } catch {
        // Its buffers died with the device.
      }
      this.task = null;
      this.profiler?.destroy();
      this.gpu = null;
      this.setState('building');
      try {
        await this.openGpu();
      } catch (e) {
        await this.fail(e, 'Could not open a new GPU device');
        return;
      }
      const s = this.snapshot;
      const keepHistory = this.history;
      this.state = 'ready';
      await this.buildNow(undefined);
      if (!this.task) return;
      if (s) {
        // The same run goes on: drop the one the rebuild started.
        this.runs.pop();
        this.history = keepHistory;
        this.restore(s);
        this.snapshot = s;
      }
      this.on.log(
        `restarted on a new ` +
          `device${s ? ` with the weights of step ${s.step}` : ' (no weights were saved: fresh weights)'}`,
      );
      this.setState('running');
      this.lastSnapshotAt = performance.now();
      this.scheduleTick();
    });
  }

  /**
   * Applies a parameter change (after the queued jobs): rebuild, new optimizer, new data, or
   * nothing (read live). Logs what it did.
   */
  change(key: keyof Params, from: unknown): Promise<void> {
    const to = this.params[key];
    const what = `${key} ${fmtValue(from)} → ${fmtValue(to)}`;
    return this.serial(async () => {
      const effect = EFFECTS[key];
      if (!this.task && effect !== 'task' && effect !== 'rebuild' && effect !== 'model' && effect !== 'toy') return;
      this.noteChange(key);
      switch (effect) {
        case 'task':
          Object.assign(this.params, preset(this.params.task, this.sizeClass));
          this.on.paramsChanged();
          return this.buildNow(`task ${fmtValue(from)} → ${fmtValue(to)}: its preset loaded, new model`);
        case 'model': {
          const p = modelPreset(this.params.lmModel, this.sizeClass);
          Object.assign(this.params, p);
          this.on.paramsChanged();
          const set = Object.entries(p)
            .filter(([k]) => k !== 'cell')
            .map(([k, v]) => `${k} ${fmtValue(v)}`)
            .join(', ');
          return this.buildNow(`${what}: its preset loaded (${set}), new model (a new run)`);
        }
        case 'toy': {
          const p = toyPreset(this.params.toy, this.sizeClass);
          Object.assign(this.params, p);
          this.on.paramsChanged();
          const set = Object.entries(p)
            .map(([k, v]) => `${k} ${fmtValue(v)}`)
            .join(', ');
          return this.buildNow(`${what}: its preset loaded (${set}), new model (a new run)`);
        }
        case 'rebuild':
          return this.buildNow(`${what}: rebuilt the model (new weights, charts cleared)`);
        case 'rebuildKeep': {
          const weights = await this.task!.stateDict();
          return this.buildNow(`${what}: rebuilt the model, weights kept`, weights);
        }
        case 'optimizer':
          await this.task!.configureTraining();
          this.on.log(`${what}: new optimizer (weights kept)`);
          return;
        case 'data':
          this.task!.refreshData();
          this.scheduleExtras();
          this.on.log(`${what}: new data, same model`);
          return;
        case 'live':
          if (key === 'seqLen' || key === 'batch') this.nextProfile = this.step;
          if (key === 'previewEvery') this.scheduleExtras();
          this.on.log(`${what}: takes effect at once`);
          // A new forecast horizon: forecast again now (while running, at the next tick).
          if (key === 'horizon' && this.task?.name === 'timeSeries') {
            if (this.state === 'running') this.nextPreview = this.step;
            else {
              this.on.log(`${what}: forecasting ${fmtValue(to)} steps…`);
              await this.previewNow(`forecast of ${fmtValue(to)} steps`);
            }
          }
      }
    });
  }

  /** A run that has trained notes a training hyperparameter's change in its legend; before, its label follows. */
  private noteChange(key: keyof Params): void {
    const run = this.currentRun;
    if (!run || run.task !== this.params.task) return;
    if (run.history.lossSteps.length === 0) {
      run.label = runLabel(this.params);
      return;
    }
    if (!NOTED.includes(key)) return;
    const v = this.params[key];
    const text = `${key}→${typeof v === 'number' ? short(v) : String(v)}`;
    const i = run.changes.findIndex((c) => c.startsWith(`${key}→`));
    if (i >= 0) run.changes.splice(i, 1);
    run.changes.push(text);
  }

  /** The weights as a safetensors file (PyTorch names), with the model's parameters in its metadata. */
  saveWeights(): Promise<{ bytes: Uint8Array; step: number } | null> {
    return this.serial(async () => {
      if (!this.task) return null;
      const tensors = await this.task.stateDict();
      const bytes = encodeWeights(tensors, this.params, this.step);
      this.saved = { bytes: bytes.byteLength, step: this.step, names: Object.keys(tensors) };
      return { bytes, step: this.step };
    });
  }

  /** Loads a safetensors file: rebuilds the model it describes (if it says), then loads its weights. */
  loadWeights(name: string, file: ArrayBuffer): Promise<void> {
    return this.serial(async () => {
      try {
        const w = decodeWeights(file);
        const changed = w.config
          ? MODEL_KEYS.filter((k) => w.config![k] !== undefined && w.config![k] !== this.params[k])
          : [];
        if (changed.length || !this.task) {
          Object.assign(this.params, Object.fromEntries(changed.map((k) => [k, w.config![k]])));
          this.on.paramsChanged();
          await this.buildNow();
        }
        if (!this.task) return;
        this.task.loadStateDict(w.tensors);
        if (w.step !== null) this.step = w.step;
        this.scheduleExtras();
        this.loaded = { name, step: w.step };
        this.on.log(
          `loaded ${name}` +
            (changed.length ? ` (model: ${changed.map((k) => `${k} ${fmtValue(this.params[k])}`).join(', ')})` : '') +
            `${w.step !== null ? `, saved at step ${w.step}` : ''}`,
        );
        if (this.state === 'ready') this.setState('paused');
        this.on.progress();
      } catch (e) {
        this.lastError = `could not load ${name}: ${loadProblem(name, file, e)}`;
        this.on.log(this.lastError);
        this.on.state(this.state, { error: this.lastError, title: `Could not load weights from ${name}` });
      }
    });
  }

  /** Shows an error, unless the device was lost: then the lost banner says it (a failed readback may come first). */
  private async fail(e: unknown, title: string): Promise<void> {
    const gpu = this.gpu;
    if (gpu) {
      const lost = await Promise.race([
        gpu.lost.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), 200)),
      ]);
      if (lost) return;
    }
    this.lastError = `${title}: ${(e as Error)?.message ?? String(e)}`;
    console.error(e);
    this.setState('error', { error: this.lastError, title });
  }

  /** Test hooks. */
  simulateDeviceLoss(): void {
    this.gpu?.device.destroy();
  }

  poisonWeights(): void {
    this.task?.poison();
  }
}

/** What was wrong with a weight file, in words: its kind, then the parser's or loader's message. */
export function loadProblem(name: string, file: ArrayBuffer, e: unknown): string {
  const message = (e as Error)?.message ?? String(e);
  const head = new Uint8Array(file, 0, Math.min(8, file.byteLength));
  const len = head.length === 8 ? new DataView(file, 0, 8).getBigUint64(0, true) : 0n;
  const looksSafetensors = head.length === 8 && len > 1n && len + 8n <= BigInt(file.byteLength);
  const ext = /\.safetensors$/i.test(name) ? '' : ' (the page loads .safetensors files saved by it or by PyTorch)';
  if (!looksSafetensors) return `it is not a safetensors file${ext}: ${message}`;
  return `${message}${ext}`;
}

function fmtValue(v: unknown): string {
  return typeof v === 'number' ? String(Number(v.toPrecision(4))) : String(v);
}
