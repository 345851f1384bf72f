// The benchmark suite, independent of where it runs: the page (bench/main.ts, headless Chromium)
// and Node on Dawn (bench/node.ts, for a machine with a real GPU and no browser) both call
// runSuite with the same options and get the same rows.
import type { Gpu } from '../src/index.js';
import { matmulRows } from './matmul.js';
import { recurrentRows, recurrentWorkload, type RecurrentCase } from './recurrent.js';
import { trainingRows, trainingWorkload, type TrainingCase } from './training.js';
import { attentionRows, attentionWorkload, type AttentionCase } from './attention.js';
import { transformerRows, transformerWorkload, type TransformerCase } from './transformer.js';
import { GpuMemoryTracker } from './gpuMemory.js';
import { measurePeak } from './peakProbe.js';
import { bootstrapRatioCI, type BenchRow } from './stats.js';
import type { Tf } from './tf.js';
import type { Ort } from './ort.js';

export interface BenchOptions {
  filter: string;
  reps: number;
  peerReps: number;
  full: boolean;
  /** Also time the recurrent rows at several step-kernel tiles (threads × batch rows per thread). */
  tiles: boolean;
  matmulSizes: number[];
  recurrent: {
    seqLen: number;
    inputSize: number;
    hidden: number[];
    batch: number[];
    /** The recurrent kernels to run each shape with (gpu.tuning.recurrentKernel). */
    kernels: Array<'auto' | 'step' | 'persistent' | 'wavefront'>;
    /** Stacked layers of each shape (the wavefront kernel runs stacks; one layer is the default). */
    layers: number[];
    /** Padded and / or packed (per-row lengths) rows; packed rows only where batch > 1. */
    packed: boolean[];
    /** Runs timed with GPU timestamps per row. */
    gpuReps: number;
    /** Recurrent dispatches per pair of GPU timestamps (Infinity: all of a forward's). */
    stepsPerPair: number;
  };
  attention: { seqLen: number[]; batch: number; heads: number; headDim: number };
  /** Transformer rows (bench/transformer.ts): encoder and LM sizes; `smoke` shrinks them for tests. */
  transformer: {
    seqLen: number[];
    batch: number;
    dModel: number;
    nhead: number;
    dimFeedforward: number;
    numLayers: number;
    vocabSize: number;
    smoke: boolean;
  };
}

/**
 * Options from `?filter=&reps=&peerReps=&full=1&smoke=1&transformerT=128,512` (page) or `--filter=
 * --reps= ...` (Node). `smoke` runs the Transformer rows at test sizes (T 16, dModel 32, batch 2).
 * Recurrent rows: `kernels=step,persistent,wavefront` (default step,persistent), `layers=1,3` (default 1),
 * `packed=both|0|1`, `gpuReps=N`
 * (default reps), `stepsPerPair=N` (default all), `seqLen`, `inputSize`, `hidden`, `batch`
 * (comma lists, for smoke runs). `reps` (default 20) is seqgpu's timed runs per row.
 */
export function benchOptions(get: (key: string) => string | null): BenchOptions {
  const full = get('full') === '1';
  const smoke = get('smoke') === '1';
  const transformerT = get('transformerT');
  return {
    filter: get('filter') ?? '',
    reps: positive('reps', get('reps') ?? '20'),
    // Peers are slow on a software adapter (seconds per recurrent call): 3 timed runs by default.
    peerReps: Math.max(1, Number(get('peerReps') ?? 3)),
    full,
    tiles: get('tiles') === '1',
    matmulSizes: full ? [128, 256, 512, 1024, 2048] : [128, 256, 512, 1024],
    recurrent: {
      seqLen: positive('seqLen', get('seqLen') ?? '100'),
      inputSize: positive('inputSize', get('inputSize') ?? '128'),
      hidden: list('hidden', get('hidden') ?? (full ? '128,256,512' : '256')),
      batch: list('batch', get('batch') ?? '1,32'),
      kernels: kernelList(get('kernels') ?? 'step,persistent'),
      layers: list('layers', get('layers') ?? '1'),
      packed:
        { both: [false, true], '0': [false], '1': [true] }[get('packed') ?? 'both'] ?? fail('packed', get('packed')),
      gpuReps: Number(get('gpuReps') ?? get('reps') ?? 20),
      stepsPerPair: positive('stepsPerPair', get('stepsPerPair') ?? 'Infinity'),
    },
    attention: { seqLen: [128, 512, 1024], batch: 4, heads: 8, headDim: 64 },
    transformer: {
      seqLen: transformerT ? transformerT.split(',').map(Number) : smoke ? [16] : [128, 512, 1024],
      ...(smoke
        ? { batch: 2, dModel: 32, nhead: 4, dimFeedforward: 64, numLayers: 2, vocabSize: 32 }
        : { batch: 8, dModel: 256, nhead: 4, dimFeedforward: 1024, numLayers: 2, vocabSize: 256 }),
      smoke,
    },
  };
}

function fail(key: string, value: unknown): never {
  throw new RangeError(`bench option ${key}: ${JSON.stringify(value)} is not allowed`);
}

function positive(key: string, value: string): number {
  const n = Number(value);
  return n >= 1 && (Number.isInteger(n) || n === Infinity) ? n : fail(key, value);
}

function list(key: string, value: string): number[] {
  return value.split(',').map((v) => positive(key, v));
}

function kernelList(value: string): Array<'auto' | 'step' | 'persistent' | 'wavefront'> {
  const kernels = value.split(',');
  for (const k of kernels) if (!['auto', 'step', 'persistent', 'wavefront'].includes(k)) fail('kernels', value);
  return kernels as Array<'auto' | 'step' | 'persistent' | 'wavefront'>;
}

/** Every peer with its own runs gets a bootstrap 95 % CI of its median wall ÷ seqgpu's. */
function attachRatioCIs(rows: BenchRow[]): void {
  for (const row of rows) {
    const own = row.seqgpu.wallRuns;
    if (!own?.length) continue;
    for (const m of Object.values(row.peers))
      if (!('error' in m) && m.wallRuns?.length && !m.wrong) m.ratioCI = bootstrapRatioCI(m.wallRuns, own);
  }
}

export interface Peers {
  tf: () => Promise<Tf | { error: string }>;
  ort: () => Promise<Ort | { error: string }>;
}

export async function runSuite(
  gpu: Gpu,
  options: BenchOptions,
  peers: Peers,
  say: (m: string) => void,
): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const filter = new RegExp(options.filter || '.', 'i');
  // Attention rows: forward and forward + backward, causal and not, with each implementation's
  // peak GPU memory. Seconds per call on a software adapter: they run with --full or when the
  // filter names them (e.g. --filter=attention, --filter="attention fwd T128").
  const ao = { ...options.attention, reps: options.reps, peerReps: options.peerReps };
  const attentionCases: AttentionCase[] = [false, true].flatMap((backward) =>
    options.attention.seqLen.flatMap((seqLen) => [false, true].map((causal) => ({ seqLen, causal, backward }))),
  );
  const attentionSelected =
    options.full || /attention/i.test(options.filter)
      ? attentionCases.filter((c) => filter.test(attentionWorkload(c, ao)))
      : [];
  // Transformer rows (encoder and LM, forward and training step): with --full or a filter naming
  // them (e.g. --filter=transformer, --filter="transformer encoder fwd", --filter="transformer.*T1024").
  // At least 10 timed runs per implementation (min / median / max), fewer only in smoke mode.
  const tro = {
    ...options.transformer,
    reps: options.transformer.smoke ? options.reps : Math.max(10, options.reps),
    peerReps: options.transformer.smoke ? options.peerReps : Math.max(10, options.peerReps),
  };
  const transformerCases: TransformerCase[] = (['encoder', 'lm'] as const).flatMap((model) =>
    [false, true].flatMap((train) => options.transformer.seqLen.map((seqLen) => ({ model, train, seqLen }))),
  );
  const transformerSelected =
    options.full || /transformer/i.test(options.filter)
      ? transformerCases.filter((c) => filter.test(transformerWorkload(c, tro)))
      : [];
  // Installed before the peers open their devices, so every buffer they create is counted.
  const memory =
    attentionSelected.length || transformerSelected.length
      ? GpuMemoryTracker.install(Object.getPrototypeOf(gpu.device))
      : null;
  const tf = await peers.tf();
  let ortLoaded: ReturnType<Peers['ort']> | undefined;
  const ort = () => (ortLoaded ??= peers.ort());
  const sizes = options.matmulSizes.filter((n) => filter.test(`matmul ${n}×${n}×${n}`));
  say(`matmul ${sizes.join(', ')}`);
  // matmul: ≥ 5 runs for peers too
  rows.push(...(await matmulRows(gpu, tf, sizes, options.reps, Math.max(5, options.peerReps))));

  const r = options.recurrent;
  const ro = {
    seqLen: r.seqLen,
    inputSize: r.inputSize,
    reps: options.reps,
    peerReps: options.peerReps,
    gpuReps: r.gpuReps,
    stepsPerPair: r.stepsPerPair,
    tiles: options.tiles,
  };
  const cases: RecurrentCase[] = (['lstm', 'gru'] as const).flatMap((cell) =>
    r.batch.flatMap((batch) =>
      r.hidden.flatMap((hidden) =>
        r.packed
          .filter((packed) => !packed || batch > 1)
          .flatMap((packed) =>
            r.layers.flatMap((layers) =>
              r.kernels
                // The wavefront runs stacks only ('wavefront' on one layer is the step kernels' work).
                .filter((kernel) => kernel !== 'wavefront' || layers > 1)
                .map((kernel) => ({ cell, batch, hidden, kernel, packed, layers })),
            ),
          ),
      ),
    ),
  );
  const selected = cases.filter((c) => filter.test(recurrentWorkload(c, ro)));
  if (selected.length) {
    // The adapter's peak FP32 rate, measured once per run by the FMA probe (bench/peakProbe.ts).
    say('peak probe');
    const peak = await measurePeak(gpu);
    const probeFlops = peak.workgroups * 256 * peak.iters * 64;
    const probeMs = probeFlops / peak.gflops / 1e6;
    rows.push({
      group: 'probe',
      workload: `peak FP32: FMA probe ${peak.workgroups}×256×${peak.iters}`,
      flops: probeFlops,
      // The fastest run's time, in both columns when it is a GPU time.
      seqgpu: { wallMs: probeMs, gpuMs: peak.timer === 'gpu' ? probeMs : undefined, reps: peak.runs.n },
      peers: {},
      extra: {
        measures: peak.description,
        'GFLOP/s of the runs': [peak.runs.min, peak.runs.median, peak.runs.max].map((g) => g.toFixed(2)).join(' / '),
      },
    });
    // Second reference: seqgpu's best large-matmul GFLOP/s on the same adapter.
    let best = Math.max(
      0,
      ...rows
        .filter((x) => x.group === 'matmul' && x.flops >= 2 * 512 ** 3)
        .map((x) => x.flops / (x.seqgpu.gpuMs ?? x.seqgpu.wallMs) / 1e6),
    );
    if (!best) {
      const [m] = await matmulRows(gpu, { error: 'not run' }, [512], 5, 0);
      best = m.flops / (m.seqgpu.gpuMs ?? m.seqgpu.wallMs) / 1e6;
    }
    const rec = await recurrentRows(gpu, { tf, ort: await ort() }, selected, { ...ro, peakGflops: peak.gflops }, say);
    for (const row of rec) {
      const gflops = row.flops / (row.seqgpu.gpuMs ?? row.seqgpu.wallMs) / 1e6;
      const timer = row.seqgpu.gpuMs === undefined ? 'wall' : 'GPU';
      row.extra = {
        ...row.extra,
        efficiency:
          `${gflops.toFixed(2)} GFLOP/s (${timer}) = ${(gflops / peak.gflops).toFixed(3)} of the probe's peak ` +
          `${peak.gflops.toFixed(2)} GFLOP/s, ${(gflops / best).toFixed(2)} of the best matmul's ${best.toFixed(2)}`,
      };
    }
    rows.push(...rec);
  }

  // Training steps: LSTM and GRU, batch 32, hidden 256, seqLen 100, inputSize 128.
  const to = {
    seqLen: r.seqLen,
    inputSize: r.inputSize,
    outputSize: 32,
    reps: options.reps,
    peerReps: Math.min(options.peerReps, 3),
  };
  const trainCases: TrainingCase[] = (['lstm', 'gru'] as const).map((cell) => ({ cell, batch: 32, hidden: 256 }));
  // A training step takes tens of seconds on a software adapter (peers: minutes): these rows run
  // with --full or when the filter names them (e.g. --filter=train).
  const trainSelected =
    options.full || /train/i.test(options.filter) ? trainCases.filter((c) => filter.test(trainingWorkload(c, to))) : [];
  if (trainSelected.length) rows.push(...(await trainingRows(gpu, tf, trainSelected, to, say)));

  if (memory && attentionSelected.length)
    rows.push(...(await attentionRows(gpu, { tf, ort: await ort() }, memory, attentionSelected, ao, say)));
  if (memory && transformerSelected.length)
    rows.push(...(await transformerRows(gpu, { tf, ort: await ort() }, memory, transformerSelected, tro, say)));
  attachRatioCIs(rows);
  return rows;
}
