// What the training loop needs from a task (char LM, time series, seq2seq), and the pieces they
// share: the optimizer options and learning-rate schedule read from the panel's parameters.
import {
  constantLR,
  cosineLR,
  exponentialLR,
  stepLR,
  type Dispatch,
  type Gpu,
  type NamedTensor,
  type Optimizer,
  type OptimizerOptions,
  type OptimizerState,
  type StateDict,
  type WarmupProgress,
} from '../../src/index.js';
import type { Params, TaskName } from '../params.js';

export interface StepResult {
  loss: number;
  gradNorm: number;
}

/** What a task's preview produced, for the status line and the test hook. */
export interface TaskOutputs {
  /** Char LM: generated samples, newest last. */
  samples: string[];
  /** Time series: MSE (normalised units) of the last autoregressive forecast vs the truth. */
  forecastMse: number | null;
  /** Seq2seq: exact-match accuracy of greedy decoding on the held-out pairs. */
  accuracy: number | null;
  /** Char LM Transformer: the attention weights drawn as heat maps (the last preview). */
  attention?: AttentionOutput | null;
  /**
   * Time series: the last forecast (the horizon it was made for, its values in the plotted units,
   * and how many of its steps have a truth to compare with).
   */
  forecast?: { horizon: number; values: number[]; truthSteps: number } | null;
  /** Char LM: the last text made with the Generate button. */
  generated?: GeneratedText | null;
}

/** What the char LM's Generate button made. */
export interface GeneratedText {
  /** The prompt used (characters outside the text's vocabulary dropped). */
  prompt: string;
  /** The generated characters (after the prompt). */
  text: string;
  /** Characters asked for. */
  length: number;
  temperature: number;
  topK: number;
  /** Milliseconds it took. */
  ms: number;
  /** Prompt characters dropped because the text never uses them. */
  dropped: string;
}

/** The self-attention weights of one window of text, per layer and head. */
export interface AttentionOutput {
  /** The window's characters (queries = rows, keys = columns). */
  chars: string[];
  nhead: number;
  numLayers: number;
  /** The layer the heat maps show. */
  layer: number;
  /** Per layer: [nhead, T, T] row-major, as plain arrays. */
  weights: number[][];
  /** Training step of the preview. */
  step: number;
}

export interface Task {
  readonly name: TaskName;
  /** One line: the model, its parameter count and the data. */
  readonly summary: string;
  readonly outputs: TaskOutputs;
  /** The model's optimizer (for its current lr and state). */
  readonly optimizer: Optimizer | null;
  /** Tokens (char LM, seq2seq: target tokens) or values (time series) of the last step. */
  tokensPerStep(): number;
  /**
   * Records and submits one training step and the readbacks of its loss and gradient norm. Every
   * GPU command is enqueued before this returns, so the caller may start the next step before
   * awaiting the result (the queue keeps them in order).
   */
  step(): Promise<StepResult>;
  /** Held-out loss (same loss as training, no update). */
  validate(): Promise<number>;
  /** Samples / forecast / attention heat map, drawn into the task's view. */
  preview(): Promise<void>;
  /**
   * The dispatches of one training step to time with timestamp queries, except the optimizer update (it would change
   * the weights).
   */
  profileDispatches(): { dispatches: readonly Dispatch[]; skipped: string[] } | null;
  /** (Re)creates the optimizer from the parameters; keeps its moments when the kind allows. */
  configureTraining(): Promise<void>;
  /**
   * Compiles the pipelines of a training step, validation and preview for the current parameters
   * before the first step (cold start), reporting each one; resolves to how many were compiled.
   */
  warmup(onProgress: (progress: WarmupProgress) => void): Promise<number>;
  /** New training data after a data parameter changed (same model). */
  refreshData(): void;
  stateDict(): Promise<Record<string, NamedTensor>>;
  loadStateDict(dict: StateDict): void;
  /** Writes NaN into one parameter (test hook: what a divergence looks like to the loop). */
  poison(): void;
  destroy(): void;
}

/** Everything a task is built from. */
export interface TaskContext {
  gpu: Gpu;
  params: Params;
  /** The page element the task draws its output into (emptied on build). */
  view: HTMLElement;
  /** The demo's global training step (schedules count it across optimizer rebuilds). */
  globalStep: () => number;
  /**
   * Runs `fn` on the trainer's serial chain (never during a training step); a failure is shown in
   * the page's error panel under `what` and the promise resolves to null.
   */
  run<T>(what: string, fn: () => Promise<T>): Promise<T | null>;
}

/** The optimizer options for the panel's choice; the gradient norm is always tracked (for the chart). */
export function optimizerOptions(p: Params): OptimizerOptions {
  const clip = p.clipNorm > 0 ? { clipNorm: p.clipNorm } : {};
  const wd = { weightDecay: p.weightDecay };
  switch (p.optimizer) {
    case 'sgd':
      return { kind: 'sgd', lr: p.lr, trackGradNorm: true, ...clip, ...wd };
    case 'momentum':
      return { kind: 'sgd', lr: p.lr, momentum: p.momentum, trackGradNorm: true, ...clip, ...wd };
    case 'adam':
      return { kind: 'adam', lr: p.lr, trackGradNorm: true, ...clip, ...wd };
    case 'adamw':
      return { kind: 'adamw', lr: p.lr, trackGradNorm: true, ...clip, ...wd };
  }
}

/**
 * The learning rate at the demo's global step, from the panel's lr and schedule as they are now:
 * a change of either takes effect at the next step without rebuilding anything.
 */
export function liveSchedule(p: Params, globalStep: () => number): (baseLr: number, step: number) => number {
  return () => scheduledLr(p, globalStep());
}

export function scheduledLr(p: Params, step: number): number {
  switch (p.schedule) {
    case 'constant':
      return constantLR()(p.lr, step);
    case 'step':
      return stepLR(Math.max(1, Math.round(p.stepSize)), p.gamma)(p.lr, step);
    case 'exponential':
      return exponentialLR(p.gamma)(p.lr, step);
    case 'cosine':
      return cosineLR(Math.max(1, Math.round(p.tMax)))(p.lr, step);
  }
}

/** Moment buffers an optimizer keeps: a new one can take the old one's state when they match. */
function momentLayout(o: Optimizer): string {
  return o.options.kind === 'sgd' ? (o.options.momentum !== 0 ? 'momentum' : 'none') : 'adam';
}

/**
 * Re-creates a model's optimizer with `configure` and carries the old one's step and moments
 * over when both keep the same moment buffers (e.g. only clipping or weight decay changed).
 */
export async function reconfigure(get: () => Optimizer | null, configure: () => void): Promise<boolean> {
  const old = get();
  const state: OptimizerState | null = old ? await old.readState() : null;
  const layout = old ? momentLayout(old) : null;
  configure();
  const now = get();
  if (state && now && layout === momentLayout(now)) {
    now.loadState(state);
    return true;
  }
  return false;
}

/** The optimizer update dispatches (they write the weights): left out of profiling runs. */
export function isUpdate(d: Dispatch): boolean {
  return /^optimizer\.(sgd|adam|adamw)/.test(d.label);
}

/** The number of parameters of a model's store, formatted ("12.3 k"). */
export function countParameters(store: { names: string[]; slot(name: string): { size: number } }): string {
  const n = store.names.reduce((a, name) => a + store.slot(name).size, 0);
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : String(n);
}

/** A fixed-size text element helper for task views. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  cls: string,
  parent?: HTMLElement,
  text?: string,
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  parent?.appendChild(e);
  return e;
}
