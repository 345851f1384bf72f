// A one-time timed probe of the recurrent kernels on this adapter (issue 19's "choose per
// adapter"): for a (cell, hiddenSize, batch[, numLayers]) it times a forward with the step kernels,
// the persistent kernel and, for a stack of ≥ 2 layers, the wavefront, and records the fastest in
// gpu.tuning.recurrentMeasured, which gpu.tuning.recurrentKernel 'auto' then follows for layers
// of that shape (src/kernels/recurrentPersistent.ts persistentChoice, src/kernels/
// recurrentWavefront.ts wavefrontChoice). Results are cached per Gpu (one device, one adapter): a
// second call for the same shape measures nothing.
import type { Gpu } from '../gpu/device.js';
import { recurrentChoiceKey, type MeasuredRecurrentKernel } from '../gpu/tuning.js';
import { Tensor } from '../gpu/tensor.js';
import { ArgumentError, ShapeError } from '../util/errors.js';
import type { CellKind } from '../kernels/recurrentConfig.js';
import { GRU, LSTM, RNN } from './recurrent.js';

/** What {@link calibrateRecurrent} measured (or had measured before) for one shape. */
export interface RecurrentCalibration {
  /** The key in gpu.tuning.recurrentMeasured, e.g. `'lstm H256 B32'` (`'lstm H256 B32 L3'`: a 3-layer stack). */
  key: string;
  /** Median wall time of a forward (upload, dispatches, readback) with the step kernels, ms. */
  stepMs: number;
  /** The same with the persistent kernel; `Infinity` where it cannot run (h past workgroup memory). */
  persistentMs: number;
  /**
   * The same with the wavefront (a stack of ≥ 2 layers); `Infinity` for one layer (not timed: its
   * waves are the step kernels' dispatches) or where it cannot run.
   */
  wavefrontMs: number;
  /** The fastest kernel, now followed by `'auto'` (ties go to the step kernels, then the persistent one). */
  choice: MeasuredRecurrentKernel;
  /** True when this call measured nothing (the shape was calibrated before on this Gpu). */
  cached: boolean;
}

/** Options of {@link calibrateRecurrent}. */
export interface CalibrateOptions {
  /** The cell: `'rnn'`, `'lstm'` or `'gru'`. */
  cell: CellKind;
  /** H. */
  hiddenSize: number;
  /** Batch rows. */
  batch: number;
  /** Layers of the stack (default 1); with ≥ 2 the wavefront is timed too and the result has its own key. */
  numLayers?: number;
  /** Input features of the probe layer (default hiddenSize). */
  inputSize?: number;
  /** Timesteps of the probe forward (default 32). */
  seqLen?: number;
  /** Timed forwards per kernel after one untimed (compiling) call; the median counts (default 3). */
  reps?: number;
  /** Measure again even when this shape was calibrated before. */
  force?: boolean;
}

const results = new WeakMap<Gpu, Map<string, RecurrentCalibration>>();

const LAYERS = { rnn: RNN, lstm: LSTM, gru: GRU } as const;

/** Throws unless `value` is an integer in [min, max], naming `name`. */
function checkInt(name: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
    throw new ArgumentError(`calibrateRecurrent: ${name} must be an integer in [${min}, ${max}], got ${String(value)}`);
  return value;
}

/**
 * Times a forward of a `cell` layer (or stack of `numLayers`) of `hiddenSize` at `batch` rows with
 * the step kernels, the persistent kernel and, for a stack, the wavefront on this adapter, and
 * records the fastest in `gpu.tuning.recurrentMeasured` (followed by `gpu.tuning.recurrentKernel =
 * 'auto'` for layers of that cell, size and batch — and depth, for a stack).
 * Validates every option before any GPU work; restores gpu.tuning.recurrentKernel afterwards. Run
 * it before other work on this Gpu (at start-up): while it times, recurrentKernel is forced.
 * @param gpu - The device.
 * @param opts - The shape to probe and how long (see {@link CalibrateOptions}).
 * @returns The timings and the choice; `cached` when the shape was measured before on this Gpu.
 * @throws ArgumentError naming an invalid option.
 */
export function calibrateRecurrent(gpu: Gpu, opts: CalibrateOptions): Promise<RecurrentCalibration> {
  const checked = checkOptions(opts);
  // One calibration at a time per Gpu (each sets gpu.tuning.recurrentKernel while it times):
  // Promise.all of two calls equals awaiting them one after the other.
  const run = (queue.get(gpu) ?? Promise.resolve()).then(() => measure(gpu, checked, !!opts.force));
  queue.set(
    gpu,
    run.catch(() => undefined),
  );
  return run;
}

const queue = new WeakMap<Gpu, Promise<unknown>>();

type Checked = { cell: CellKind; H: number; B: number; L: number; I: number; T: number; reps: number };

/** Most layers a calibration stack may have. */
const MAX_LAYERS = 16;

function checkOptions(opts: CalibrateOptions): Checked {
  if (!opts || typeof opts !== 'object') throw new ArgumentError(`calibrateRecurrent: options must be an object`);
  if (!Object.hasOwn(LAYERS, opts.cell))
    throw new ArgumentError(`calibrateRecurrent: cell must be 'rnn', 'lstm' or 'gru', got ${String(opts.cell)}`);
  const H = checkInt('hiddenSize', opts.hiddenSize, 1);
  const B = checkInt('batch', opts.batch, 1);
  const L = checkInt('numLayers', opts.numLayers ?? 1, 1, MAX_LAYERS);
  const I = checkInt('inputSize', opts.inputSize ?? H, 1);
  const T = checkInt('seqLen', opts.seqLen ?? 32, 1);
  const reps = checkInt('reps', opts.reps ?? 3, 1, 1000);
  return { cell: opts.cell, H, B, L, I, T, reps };
}

async function measure(gpu: Gpu, opts: Checked, force: boolean): Promise<RecurrentCalibration> {
  const { H, B, L, I, T, reps } = opts;
  const key = recurrentChoiceKey(opts.cell, H, B, L);
  let cache = results.get(gpu);
  if (!cache) results.set(gpu, (cache = new Map()));
  const known = cache.get(key);
  if (known && !force && gpu.tuning.recurrentMeasured[key] === known.choice) return { ...known, cached: true };

  const saved = gpu.tuning.recurrentKernel;
  const layer = new LAYERS[opts.cell](gpu, { inputSize: I, hiddenSize: H, numLayers: L, seed: 1 });
  const data = Float32Array.from({ length: T * B * I }, (_, i) => Math.sin(i * 0.618));
  const x = Tensor.from(gpu, data, [T, B, I], 'calibrate.x');
  // Median wall ms of `reps` forwards after an untimed one (it compiles); Infinity where the
  // persistent kernel or the wavefront cannot run this shape (a ShapeError before any GPU work;
  // the step kernels' ShapeError, a shape past the device's limits, reaches the caller).
  const time = async (kernel: MeasuredRecurrentKernel): Promise<number> => {
    gpu.tuning.recurrentKernel = kernel;
    const runs: number[] = [];
    for (let r = 0; r <= reps; r++) {
      const t0 = performance.now();
      let out;
      try {
        out = layer.forward(x);
      } catch (e) {
        if (e instanceof ShapeError && kernel !== 'step') return Infinity;
        throw e;
      }
      await out.output.read();
      for (const t of [out.output, out.hN, out.cN]) t?.destroy();
      if (r > 0) runs.push(performance.now() - t0);
    }
    runs.sort((a, b) => a - b);
    return runs[Math.floor(runs.length / 2)];
  };
  try {
    const stepMs = await time('step');
    const persistentMs = await time('persistent');
    const wavefrontMs = L > 1 ? await time('wavefront') : Infinity;
    const fastest = Math.min(stepMs, persistentMs, wavefrontMs);
    const choice = stepMs === fastest ? 'step' : persistentMs === fastest ? 'persistent' : 'wavefront';
    const result: RecurrentCalibration = { key, stepMs, persistentMs, wavefrontMs, choice, cached: false };
    cache.set(key, result);
    gpu.tuning.recurrentMeasured[key] = choice;
    return result;
  } finally {
    gpu.tuning.recurrentKernel = saved;
    x.destroy();
    layer.destroy();
  }
}
