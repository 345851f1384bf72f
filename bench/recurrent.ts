// LSTM / GRU forward rows: seqgpu's recorded plan vs onnxruntime-web WebGPU (one ONNX LSTM/GRU
// node) and TensorFlow.js WebGPU layers, same page, same adapter, same run. Every implementation
// is timed for the whole call: upload the input, run, read the full output sequence back.
// seqgpu's rows come per recurrent kernel (gpu.tuning.recurrentKernel: the step kernels, one
// dispatch per timestep, or the persistent kernel, one dispatch per chunk of steps) and padded or
// packed (per-row lengths, PyTorch's pack_padded_sequence): µs per step (wall and GPU), dispatches
// per step, GPU time of the input GEMM and of the recurrence (N steps per timestamp pair,
// bench/spans.ts), every run kept for the bootstrap CIs of the ratios between rows.
import { type Gpu, LSTM, GRU, Tensor, type RecurrentLayer } from '../src/index.js';
import type { Dispatch } from '../src/gpu/dispatch.js';
import { bootstrapRatioCI, formatRatio, median, spread, timeRuns, type BenchRow, type Measurement } from './stats.js';
import { groupDispatches, SpanTimer } from './spans.js';
import { recurrentOnnxModel } from './onnx.js';
import { createWebgpuSession, type Ort } from './ort.js';
import { squareGemm } from './matmul.js';
import type { Tf } from './tf.js';

export interface RecurrentCase {
  cell: 'lstm' | 'gru';
  batch: number;
  hidden: number;
  /** gpu.tuning.recurrentKernel for seqgpu's plan (default 'auto': the cost model's choice). */
  kernel?: 'auto' | 'step' | 'persistent' | 'wavefront';
  /** Stacked layers (default 1); the ORT peer runs one layer only, so it sits out rows of more. */
  layers?: number;
  /** Per-row lengths (packedLengths) instead of every row running seqLen steps. */
  packed?: boolean;
}

export interface RecurrentBenchOptions {
  seqLen: number;
  inputSize: number;
  reps: number;
  peerReps: number;
  /** Runs timed with GPU timestamps (default: reps). */
  gpuReps?: number;
  /** Recurrent dispatches between one pair of timestamps (default: all of them). */
  stepsPerPair?: number;
  /** Also time a sweep of step-kernel tiles. */
  tiles?: boolean;
  /** The adapter's measured peak GFLOP/s (bench/peakProbe.ts), for the recurrence's efficiency. */
  peakGflops?: number;
  /**
   * Reps of the input GEMM timed next to a square product in the same submit (issue 19, item 8:
   * its GFLOP/s ÷ the square's, paired rep by rep; default 20; 0: none).
   */
  pairReps?: number;
  /** The square product's n (default 512, the best square GEMM on SwiftShader). */
  pairSquare?: number;
}

/** The step tiles (threads × batch rows per thread) a tile sweep times (also the lab's, demo/lab/sweep.ts). */
export const TILE_SWEEP = [
  [64, 1],
  [64, 2],
  [64, 4],
  [64, 8],
  [32, 8],
  [16, 8],
  [8, 8],
  [32, 1],
  [16, 1],
  [8, 1],
  [128, 1],
  [256, 1],
] as const;

/** Wall time of one forward (upload, run, read back) at each tile of the sweep. */
async function tileSweep(gpu: Gpu, data: Float32Array, c: RecurrentCase, o: RecurrentBenchOptions): Promise<string> {
  const parts: string[] = [];
  const x = Tensor.empty(gpu, [o.seqLen, c.batch, o.inputSize]);
  for (const [wg, bt] of TILE_SWEEP) {
    if (bt > c.batch) continue;
    const opts = { inputSize: o.inputSize, hiddenSize: c.hidden, stepTile: { wg, bt } };
    const layer = c.cell === 'lstm' ? new LSTM(gpu, opts) : new GRU(gpu, opts);
    const wall = await timeRuns(async () => {
      x.write(data);
      const { output, hN, cN } = layer.forward(x);
      await output.read();
      for (const t of [output, hN, cN]) t?.destroy();
    }, o.reps);
    parts.push(`${wg}×${bt}: ${median(wall).toFixed(2)}`);
    layer.destroy();
  }
  x.destroy();
  return parts.join(', ');
}

export function recurrentWorkload(c: RecurrentCase, o: Pick<RecurrentBenchOptions, 'seqLen' | 'inputSize'>): string {
  const kernel = c.kernel && c.kernel !== 'auto' ? ` ${c.kernel}` : '';
  const layers = (c.layers ?? 1) > 1 ? ` L${c.layers}` : '';
  const packed = c.packed ? ' packed' : '';
  return `${c.cell} fwd B${c.batch} T${o.seqLen} I${o.inputSize} H${c.hidden}${layers}${kernel}${packed}`;
}

/**
 * The packed rows' lengths: spread evenly from seqLen (row 0) down to about seqLen / 2 (mean ≈ ¾ of
 * seqLen), unsorted order not needed by seqgpu but kept descending so every run uses the same batch.
 */
export function packedLengths(seqLen: number, batch: number): Int32Array {
  return Int32Array.from({ length: batch }, (_, b) => seqLen - Math.floor((b * seqLen) / (2 * batch)));
}

/** Gates per unit: 4 (LSTM) or 3 (GRU). */
const gates = (cell: RecurrentCase['cell']) => (cell === 'lstm' ? 4 : 3);

/**
 * FLOP of a forward over `rowSteps` (Σ of the rows' steps: seqLen·batch padded, Σ lengths packed):
 * the input GEMM 2·G·H·I and the recurrent product 2·G·H·H per row-step (pointwise work not counted).
 */
export function recurrentFlops(
  cell: RecurrentCase['cell'],
  rowSteps: number,
  inputSize: number,
  hidden: number,
  layers = 1,
) {
  const G = gates(cell);
  // Layers above the first take the hidden state as input (their input products count as input).
  const input = 2 * rowSteps * G * hidden * (inputSize + (layers - 1) * hidden);
  return { input, recurrent: 2 * rowSteps * G * hidden * hidden * layers };
}

function randomData(n: number): Float32Array {
  return Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
}

/** What kind of work a forward-plan dispatch does, from its label (src/graph/recurrentPlan.ts). */
export function dispatchKind(d: Dispatch): 'input GEMM' | 'persistent' | 'step' | 'wavefront' | 'other' {
  if (/\.xproj\d*$/.test(d.label)) return 'input GEMM';
  if (/\.steps\d+$/.test(d.label)) return 'persistent';
  if (/\.(step|project)\d+$/.test(d.label)) return 'step';
  if (/^wave\d+$/.test(d.label)) return 'wavefront';
  return 'other';
}

/** The seqgpu side of a row: its measurement, per-step figures and the notes printed under the table. */
export interface RecurrentMeasurement {
  m: Measurement;
  extra: Record<string, string>;
  /** Median GPU ms of the recurrence alone (every dispatch but the input GEMM), when timed. */
  recurrentGpuMs?: number;
  /** Which kernel the plan used and its dispatch counts. */
  kernel: 'step' | 'persistent' | 'wavefront';
  dispatches: { total: number; gemm: number; recurrent: number };
}

const us = (ms: number) => (ms * 1000).toFixed(ms * 1000 >= 100 ? 0 : 1);

/**
 * Issue 19, item 8: the input GEMM's GFLOP/s ÷ an n³ square product's (`o.pairSquare`, default 512),
 * both timed in each of `reps` submits (the order alternating), so a change of machine load between
 * reps hits both; the median of the per-rep ratios with a bootstrap 95 % interval.
 */
async function pairedGemmRatio(
  gpu: Gpu,
  gemm: Dispatch[],
  flops: number,
  o: RecurrentBenchOptions,
  reps: number,
): Promise<string> {
  const n = o.pairSquare ?? 512;
  const square = squareGemm(gpu, n);
  const timer = new SpanTimer(gpu);
  const gemmMs: number[] = [];
  const squareMs: number[] = [];
  try {
    for (let i = 0; i < reps; i++) {
      const first = i % 2 === 0;
      const t = await timer.time(first ? [square.dispatches, gemm] : [gemm, square.dispatches]);
      squareMs.push(first ? t[0] : t[1]);
      gemmMs.push(first ? t[1] : t[0]);
    }
  } finally {
    timer.destroy();
    square.destroy();
  }
  return pairedRatioText({ flops, ms: gemmMs }, { flops: square.flops, ms: squareMs }, `${n}³`);
}

/**
 * `a`'s GFLOP/s ÷ `b`'s, rep by rep (their times from the same submits): the median ratio with its
 * bootstrap 95 % interval and both medians. A rep where either span timed 0 ms (a browser quantises
 * timestamps) is left out and counted.
 */
export function pairedRatioText(
  a: { flops: number; ms: readonly number[] },
  b: { flops: number; ms: readonly number[] },
  bName: string,
): string {
  const kept = a.ms.map((_, i) => i).filter((i) => a.ms[i] > 0 && b.ms[i] > 0);
  const left = a.ms.length - kept.length;
  const out = left ? `, ${left} left out: a span timed 0 ms` : '';
  if (!kept.length) return `n/a: every span of ${a.ms.length} submits timed 0 ms (timestamps too coarse)`;
  const rateA = kept.map((i) => a.flops / a.ms[i] / 1e6);
  const rateB = kept.map((i) => b.flops / b.ms[i] / 1e6);
  const { ratio, lo, hi } = bootstrapRatioCI(
    rateA.map((r, j) => r / rateB[j]),
    [1],
  );
  return (
    `${ratio.toFixed(2)} [${lo.toFixed(2)}, ${hi.toFixed(2)}] (GFLOP/s by GPU time, paired in ${kept.length} ` +
    `submits${out}; median ${median(rateA).toFixed(2)} vs ${bName} ${median(rateB).toFixed(2)} GFLOP/s)`
  );
}

async function measureSeqgpu(
  gpu: Gpu,
  layer: RecurrentLayer,
  data: Float32Array,
  c: RecurrentCase,
  o: RecurrentBenchOptions,
  lengths: Int32Array | null,
): Promise<RecurrentMeasurement> {
  const T = o.seqLen;
  const x = Tensor.empty(gpu, [T, c.batch, o.inputSize]);
  const state = lengths ? { lengths } : {};
  const call = async () => {
    x.write(data);
    const { output, hN, cN } = layer.forward(x, state);
    await output.read();
    for (const t of [output, hN, cN]) t?.destroy();
  };
  // The first call of this layer in this process: pipeline compiles (those not made by an earlier
  // row) + the run. A fresh process per case is bench/coldStart.mjs's job.
  const pipelinesBefore = gpu.stats.pipelinesCreated;
  const t0 = performance.now();
  await call();
  const firstMs = performance.now() - t0;
  const firstPipelines = gpu.stats.pipelinesCreated - pipelinesBefore;
  // Warm up for the rest of 300 ms (a GPU ramps its clocks); a first call that long is enough.
  const wall = await timeRuns(call, o.reps, 0, Math.max(0, 300 - firstMs));
  const plan = layer.plan(T, c.batch, !!lengths);
  const total = layer.lastRun!.dispatches;
  const gemm = plan.dispatches.filter((d) => dispatchKind(d) === 'input GEMM').length;
  const kernel = plan.kernel;
  const dispatches = { total, gemm, recurrent: total - gemm };
  const extra: Record<string, string> = {};
  const w = spread(wall);
  const m: Measurement = {
    wallMs: w.median,
    wallMinMs: w.min,
    wallMaxMs: w.max,
    wallRuns: wall,
    reps: o.reps,
    dispatches: total,
  };
  extra['first call'] =
    `${firstMs.toFixed(1)} ms wall, ${firstPipelines} pipeline${firstPipelines === 1 ? '' : 's'} created ` +
    `(first forward of this layer in this process)`;
  extra['dispatches'] =
    `${total} = ${gemm} input GEMM + ${dispatches.recurrent} ${kernel} ` +
    `(${(dispatches.recurrent / T).toFixed(2)} per step)`;
  let recurrentGpuMs: number | undefined;
  const gpuReps = o.gpuReps ?? o.reps;
  if (gpu.features.timestampQuery && gpuReps > 0) {
    // The plan's input buffer holds x from the last forward; h0 (and c0) are cleared before each run.
    const perPair = o.stepsPerPair ?? Infinity;
    const groups = groupDispatches(
      plan.dispatches,
      (d) => (dispatchKind(d) === 'input GEMM' ? 'gemm' : 'recurrent'),
      (k) => (k === 'recurrent' ? perPair : Infinity),
    );
    const timer = new SpanTimer(gpu);
    const totals: number[] = [];
    const gemms: number[] = [];
    const recurrent: number[] = [];
    for (let i = 0; i < gpuReps; i++) {
      const t = await timer.time(
        groups.map((g) => g.dispatches),
        (e) => plan.encodeInitialState(e, null, null),
      );
      const sum = (kind: string) => t.reduce((s, ms, j) => s + (groups[j].kind === kind ? ms : 0), 0);
      totals.push(t.reduce((s, ms) => s + ms, 0));
      gemms.push(sum('gemm'));
      recurrent.push(sum('recurrent'));
    }
    timer.destroy();
    const g = spread(totals);
    Object.assign(m, { gpuMs: g.median, gpuMinMs: g.min, gpuMaxMs: g.max, gpuRuns: totals });
    recurrentGpuMs = median(recurrent);
    const pairs = groups.filter((gr) => gr.kind === 'recurrent');
    const largest = Math.max(...pairs.map((gr) => gr.dispatches.length));
    extra['GPU split'] =
      `input GEMM ${median(gemms).toFixed(2)} ms + ${T} steps ${recurrentGpuMs.toFixed(2)} ms ` +
      `(${dispatches.recurrent} dispatches in ${pairs.length} timestamp pair${pairs.length > 1 ? 's' : ''}, ` +
      `≤ ${largest} per pair; median of ${gpuReps})`;
    const input = groups.filter((gr) => gr.kind === 'gemm');
    const pairReps = o.pairReps ?? 20;
    if (input.length === 1 && (c.layers ?? 1) === 1 && pairReps > 0) {
      const { input: flops } = recurrentFlops(c.cell, T * c.batch, o.inputSize, c.hidden);
      extra['input GEMM ÷ square GEMM'] = await pairedGemmRatio(gpu, input[0].dispatches, flops, o, pairReps);
    }
  }
  extra['µs per step'] =
    `wall ${us(w.median / T)} (min ${us(w.min / T)}, max ${us(w.max / T)}, n ${w.n})` +
    (m.gpuMs !== undefined
      ? `; GPU ${us(m.gpuMs / T)} (min ${us(m.gpuMinMs! / T)}, max ${us(m.gpuMaxMs! / T)}), ` +
        `recurrence alone ${us(recurrentGpuMs! / T)}`
      : '; no timestamp-query: no GPU time');
  if (c.batch === 1 && layer.config.bidirectional === false && !lengths) {
    const stepper = layer.createStepper(1);
    const xt = Tensor.empty(gpu, [1, o.inputSize]);
    const token = data.subarray(0, o.inputSize);
    const times = await timeRuns(
      async () => {
        xt.write(token);
        const h = stepper.step(xt);
        await h.read();
        h.destroy();
      },
      20,
      3,
    );
    extra['step-wise latency (B1)'] = `${median(times).toFixed(2)} ms/token`;
    xt.destroy();
    stepper.destroy();
  }
  x.destroy();
  return { m, extra, recurrentGpuMs, kernel, dispatches };
}

function peerMeasurement(wall: number[]): Measurement {
  const w = spread(wall);
  return { wallMs: w.median, wallMinMs: w.min, wallMaxMs: w.max, wallRuns: wall, reps: wall.length };
}

async function measureOrt(
  ort: Ort,
  data: Float32Array,
  c: RecurrentCase,
  o: RecurrentBenchOptions,
  proveePlacement: boolean,
): Promise<Measurement | { error: string }> {
  try {
    const model = recurrentOnnxModel(c.cell, o.seqLen, c.batch, o.inputSize, c.hidden);
    // Placement is proven on a separate verbose session: verbose logging must not slow the timed one.
    let placement: string[] = [];
    if (proveePlacement) {
      const verbose = await createWebgpuSession(ort, model, true);
      placement = verbose.placement;
      await verbose.session.release();
    }
    const { session } = await createWebgpuSession(ort, model, false);
    const call = async () => {
      const out = await session.run({ X: new ort.Tensor('float32', data, [o.seqLen, c.batch, o.inputSize]) });
      await out.Y.getData();
      for (const t of Object.values(out)) t.dispose();
    };
    const wall = await timeRuns(call, o.peerReps);
    await session.release();
    const placed = placement.find((l) => /All nodes placed on \[WebGpuExecutionProvider\]/.test(l));
    const note = proveePlacement
      ? placed
        ? 'All nodes placed on [WebGpuExecutionProvider]'
        : `placement NOT proven; log: ${placement.slice(0, 3).join(' | ') || 'none'}`
      : undefined;
    return { ...peerMeasurement(wall), note };
  } catch (e) {
    console.error(`[bench] ort failed: ${(e as Error).stack ?? e}`);
    return { error: `ort: ${(e as Error).message}` };
  }
}

async function measureTf(
  tf: Tf,
  data: Float32Array,
  c: RecurrentCase,
  o: RecurrentBenchOptions,
): Promise<Measurement | { error: string }> {
  try {
    const cellLayer = (l: number) => {
      const args = {
        units: c.hidden,
        returnSequences: true,
        recurrentActivation: 'sigmoid' as const,
        inputShape: [o.seqLen, l === 0 ? o.inputSize : c.hidden],
      };
      return c.cell === 'lstm' ? tf.layers.lstm(args) : tf.layers.gru(args);
    };
    const model = tf.sequential({ layers: Array.from({ length: c.layers ?? 1 }, (_, l) => cellLayer(l)) });
    const call = async () => {
      const x = tf.tensor3d(data, [c.batch, o.seqLen, o.inputSize]);
      const y = model.predict(x) as import('@tensorflow/tfjs').Tensor;
      await y.data();
      x.dispose();
      y.dispose();
    };
    const wall = await timeRuns(call, o.peerReps);
    model.dispose();
    return {
      ...peerMeasurement(wall),
      note: c.cell === 'gru' ? 'tfjs GRU is reset-before (PyTorch: reset-after)' : undefined,
    };
  } catch (e) {
    return { error: `tfjs: ${(e as Error).message}` };
  }
}

/** One seqgpu row of recurrentRows: the row, its case and what the ratios between rows need. */
interface SeqgpuRow {
  row: BenchRow;
  c: RecurrentCase;
  r: RecurrentMeasurement;
}

/** `a` ÷ `b` of two rows' runs (wall, or GPU when both have it) as a bootstrap 95 % CI. */
function rowRatio(num: Measurement, den: Measurement): string {
  const gpu = num.gpuRuns?.length && den.gpuRuns?.length;
  const wall = formatRatio(bootstrapRatioCI(num.wallRuns!, den.wallRuns!));
  return `wall ${wall}` + (gpu ? `, GPU ${formatRatio(bootstrapRatioCI(num.gpuRuns!, den.gpuRuns!))}` : '');
}

/**
 * The rows of `cases`: seqgpu per case; the peers once per (cell, batch, hidden), on its padded
 * rows (they have no per-row lengths), their runs shared by those rows. Rows of the same shape
 * get ratios with CIs: the persistent kernel's speedup over the step kernels, packed over padded.
 */
export async function recurrentRows(
  gpu: Gpu,
  peers: { tf: Tf | { error: string }; ort: Ort | { error: string } },
  cases: RecurrentCase[],
  o: RecurrentBenchOptions,
  log: (s: string) => void,
): Promise<BenchRow[]> {
  const done: SeqgpuRow[] = [];
  const peerRuns = new Map<string, BenchRow['peers']>();
  const shapeKey = (c: RecurrentCase) => `${c.cell} ${c.batch} ${c.hidden} ${c.layers ?? 1}`;
  let placementProven = false;
  const tuning = gpu.tuning.recurrentKernel;
  for (const c of cases) {
    const workload = recurrentWorkload(c, o);
    log(`running ${workload}`);
    const data = randomData(o.seqLen * c.batch * o.inputSize);
    const lengths = c.packed ? packedLengths(o.seqLen, c.batch) : null;
    const rowSteps = lengths ? lengths.reduce((s, l) => s + l, 0) : o.seqLen * c.batch;
    let r: RecurrentMeasurement;
    let extra: Record<string, string>;
    // The kernel is chosen when the layer builds its plan: set for this layer's lifetime only.
    gpu.tuning.recurrentKernel = c.kernel ?? 'auto';
    try {
      const opts = { inputSize: o.inputSize, hiddenSize: c.hidden, numLayers: c.layers ?? 1 };
      const layer = c.cell === 'lstm' ? new LSTM(gpu, opts) : new GRU(gpu, opts);
      try {
        r = await measureSeqgpu(gpu, layer, data, c, o, lengths);
      } finally {
        layer.destroy();
      }
      extra = r.extra;
      if (o.tiles && !c.packed && r.kernel === 'step')
        extra['tile sweep, wall ms (threads×rows)'] = await tileSweep(gpu, data, c, o);
    } finally {
      gpu.tuning.recurrentKernel = tuning;
    }
    const flops = recurrentFlops(c.cell, rowSteps, o.inputSize, c.hidden, c.layers ?? 1);
    if (lengths)
      extra['packed'] =
        `lengths ${lengths[0]}…${lengths[lengths.length - 1]} (Σ ${rowSteps} of ${o.seqLen * c.batch} ` +
        `row-steps); FLOP and GFLOP/s count the real row-steps only`;
    if (r.recurrentGpuMs !== undefined) {
      const gflops = flops.recurrent / r.recurrentGpuMs / 1e6;
      extra['recurrence alone'] =
        `${(flops.recurrent / 1e9).toFixed(3)} GFLOP in ${r.recurrentGpuMs.toFixed(2)} ms GPU = ` +
        `${gflops.toFixed(2)} GFLOP/s` +
        (o.peakGflops ? ` = ${(gflops / o.peakGflops).toFixed(3)} of peak` : '');
    }
    const row: BenchRow = {
      group: 'recurrent',
      workload,
      flops: flops.input + flops.recurrent,
      seqgpu: r.m,
      peers: {},
      extra,
    };
    if (!c.packed) {
      let measured = peerRuns.get(shapeKey(c));
      if (!measured) {
        measured = {};
        measured['ort-webgpu'] =
          (c.layers ?? 1) > 1
            ? { error: 'n/a: the ORT graph is one LSTM/GRU node (one layer)' }
            : 'error' in peers.ort
              ? peers.ort
              : await measureOrt(peers.ort, data, c, o, !placementProven);
        placementProven ||= !('error' in measured['ort-webgpu']);
        measured['tfjs-webgpu'] = 'error' in peers.tf ? peers.tf : await measureTf(peers.tf, data, c, o);
        peerRuns.set(shapeKey(c), measured);
      }
      for (const [name, m] of Object.entries(measured)) row.peers[name] = { ...m };
    } else {
      const na = { error: 'n/a: packed (per-row lengths); the peers run the padded batch' };
      row.peers = { 'ort-webgpu': na, 'tfjs-webgpu': na };
    }
    done.push({ row, c, r });
  }
  // Ratios between seqgpu's own rows of one shape (> 1: the second-named variant is faster).
  for (const { row, c } of done) {
    const twin = (kernel: RecurrentCase['kernel'], packed: boolean) =>
      done.find(
        (d) =>
          shapeKey(d.c) === shapeKey(c) && (d.c.kernel ?? 'auto') === (kernel ?? 'auto') && !!d.c.packed === packed,
      )?.row;
    if (c.kernel === 'persistent' || c.kernel === 'wavefront') {
      const step = twin('step', !!c.packed);
      if (step) row.extra![`${c.kernel} speedup (step ÷ ${c.kernel})`] = rowRatio(step.seqgpu, row.seqgpu);
    }
    if (c.packed) {
      const padded = twin(c.kernel, false);
      if (padded) row.extra!['packed speedup (padded ÷ packed)'] = rowRatio(padded.seqgpu, row.seqgpu);
    }
  }
  return done.map((d) => d.row);
}
