// `window.__seqgpuDemo`: what the page is doing, as plain data, for the end-to-end test
// (test/browser/demo.test.ts) and for anyone poking at the page from the console. The test drives
// the page through the panel's DOM; the two functions here only simulate failures that cannot be
// produced on demand otherwise (a lost device, diverged weights).
import type { KernelTimes } from './profile.js';
import type { Params, TaskName } from './params.js';
import type { DemoState } from './states.js';
import type { AttentionOutput, GeneratedText, TaskOutputs } from './tasks/task.js';
import type { WarmupState } from './trainer.js';
import type { ParamWarning } from './warnings.js';

export interface DemoHook {
  state: DemoState;
  /** Title of the banner shown, if any (e.g. "The loss became NaN at step 12: training stopped"). */
  banner: string | null;
  task: TaskName;
  /** Training steps taken by the current model. */
  step: number;
  /** Training loss per step (steps in `lossSteps`). */
  losses: number[];
  lossSteps: number[];
  gradNorms: number[];
  /** Validation loss: [step, loss]. */
  valLosses: Array<[number, number]>;
  /** Char LM: generated samples, newest last. */
  samples: string[];
  /**
   * The runs the loss chart overlays (the current task's, oldest first; the last is the current
   * one): legend label, colour, steps trained and the mean of the last 10 losses.
   */
  runs: Array<{ id: number; label: string; color: string; steps: number; lastLoss: number | null }>;
  /** Names in the loss chart's legend, in drawing order. */
  lossLegend: string[];
  /** Char LM Transformer: the attention weights the heat maps show (read when the hook is read). */
  attention: AttentionOutput | null;
  forecastMse: number | null;
  accuracy: number | null;
  /** Training throughput over the last few seconds (time in previews / validation / profiling excluded). */
  stepsPerSec: number;
  tokensPerSec: number;
  /** Learning rate the optimizer used at the last step. */
  lr: number;
  /** One-line description of the model being trained. */
  model: string;
  /** Parameters as the page holds them (the panel binds to the same object). */
  params: Params;
  /** Models built so far (task switches, rebuilds, restarts). */
  builds: number;
  /** Messages shown in the log line ("rebuilt: hiddenSize 32 → 48", …). */
  log: string[];
  lastError: string | null;
  adapter: string;
  timestampQuery: boolean;
  kernelTimes: KernelTimes | null;
  /** Step of the last CPU copy of the weights (kept across a device loss). */
  snapshotStep: number | null;
  /** Bytes and step of the last weight file saved / loaded. */
  saved: { bytes: number; step: number; names: string[] } | null;
  loaded: { name: string; step: number | null } | null;
  /**
   * Cold start of the last model built: GPU pipelines compiled before its first step (its
   * `warmup`), the progress of the current compile call (`done` of `total`, the last pipeline's
   * label), all compiled so far, and the time once `finished`.
   */
  warmup: WarmupState | null;
  /** Char LM: the last text of the Generate button. */
  generated: GeneratedText | null;
  /** Time series: the last forecast (its horizon, values in plotted units, steps with a truth). */
  forecast: TaskOutputs['forecast'] | null;
  /** Hyperparameters outside their sane ranges, with the reason (shown next to each control). */
  warnings: ParamWarning[];
  /** Test hooks: destroy the GPU device (as a driver reset would), or write NaN into a parameter. */
  simulateDeviceLoss(): void;
  poisonWeights(): void;
}
