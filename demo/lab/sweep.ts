// Tile sweeps: seqgpu's kernel at the run's shape with each workgroup shape forced, one result per
// tile, so a performance engineer sees what the adapter's default choice (src/kernels/matmulTile.ts,
// defaultStepTile in src/kernels/cellStep.ts) leaves on the table.
// - matmul: the GEMM kernel ('registers' / 'subgroups' / 'workgroup', GemmArgs.tile) × threads (wgX × wgY) ×
//   TILE_K; every tile's output checked against the float64 reference up to 2 GFLOP (a wrong tile
//   is marked).
// - LSTM / GRU (layer forward over seqLen steps; the step kernel: one step, T = 1): the step
//   kernel's tile (wg threads × bt batch rows per thread, stepTile), the persistent kernel and the
//   wavefront kernel (gpu.tuning.recurrentKernel 'persistent' / 'wavefront', restored afterwards;
//   for this one layer the wavefront is a dispatch per step reading W_ih·h and W_hh in PyTorch's
//   layout); every variant gets the first one's weights and its output is compared with the first one's.
// "default" marks the tile a call without one runs with (for the recurrent layers: the step
// kernel's tile; gpu.tuning.recurrentKernel 'auto' may pick the persistent kernel on a GPU).
// Each entry: wall time (issue, read back) min / median / max of `reps` runs and, with
// timestamp-query, the dispatches' GPU time; a tile the device refuses keeps its error.
import { GRU, LSTM, Tensor, gemmDispatches, gemmTile, type Gpu, type RecurrentLayer } from '../../src/index.js';
import { defaultStepTile, forwardQuad, stepUnitThreads } from '../../src/kernels/cellStep.js';
import { matmulRef } from '../../src/reference/matmul.js';
import { gemmShapes } from '../../bench/gemm.js';
import { TILE_SWEEP } from '../../bench/recurrent.js';
import { median, seededRandom, spread, timeRuns, type Spread } from '../../bench/stats.js';
import type { Params } from './kernels.js';
import { MAX_REFERENCE_FLOP, WRONG_OUTPUT, matmulCase } from './reference.js';

export interface SweepEntry {
  /** `registers 8×8`, `workgroup 16×16 K16`, `step 64×2`, `persistent`, `wavefront`. */
  tile: string;
  /** The default tile for this adapter and shape. */
  isDefault: boolean;
  wall?: Spread;
  wallRuns?: number[];
  gpuMs?: number;
  gpuRuns?: number[];
  /** max |out − reference| ÷ max |reference| (float64 for matmul, the first variant for recurrent). */
  maxRel?: number;
  wrong?: string;
  error?: string;
}

export interface Sweep {
  what: string;
  entries: SweepEntry[];
}

const n = (p: Params, k: string) => p[k] as number;
const size = (shape: number[]) => shape.reduce((x, y) => x * y, 1);

function random(length: number, seed: number): Float32Array {
  const r = seededRandom(seed);
  return Float32Array.from({ length }, () => r() * 2 - 1);
}

function relError(got: Float32Array, want: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return Number.isFinite(diff) ? diff / (scale || 1) : Infinity;
}

function judged(entry: SweepEntry, got: Float32Array, want: ArrayLike<number>, against: string): SweepEntry {
  entry.maxRel = relError(got, want);
  if (!(entry.maxRel <= WRONG_OUTPUT))
    entry.wrong = `max |out − ${against}| ÷ max |${against}| = ${entry.maxRel.toExponential(2)}`;
  return entry;
}

/** GPU time of `dispatches` (built fresh each run) from timestamp queries, `reps` runs; none without. */
async function gpuTimes(gpu: Gpu, build: () => Parameters<Gpu['run']>[0], reps: number): Promise<number[] | undefined> {
  const first = build();
  const profiler = gpu.createProfiler(first.length);
  if (!profiler) {
    for (const d of first) for (const b of d.transient ?? []) gpu.pool.release(b);
    return undefined;
  }
  const times: number[] = [];
  try {
    for (let i = 0; i < reps; i++) {
      gpu.run(i === 0 ? first : build(), profiler);
      times.push((await profiler.read()).kernels.reduce((s, k) => s + k.ms, 0));
    }
  } finally {
    profiler.destroy();
  }
  return times;
}

const GEMM_TILES = [
  { variant: 'registers', wgX: 8, wgY: 8 },
  { variant: 'registers', wgX: 4, wgY: 4 },
  { variant: 'registers', wgX: 16, wgY: 8 },
  { variant: 'registers', wgX: 16, wgY: 16 },
  { variant: 'subgroups', wgX: 8, wgY: 4 },
  { variant: 'subgroups', wgX: 4, wgY: 4 },
  { variant: 'subgroups', wgX: 16, wgY: 2 },
  { variant: 'workgroup', wgX: 16, wgY: 16, tileK: 16 },
  { variant: 'workgroup', wgX: 8, wgY: 8, tileK: 16 },
  { variant: 'workgroup', wgX: 16, wgY: 16, tileK: 32 },
  { variant: 'workgroup', wgX: 8, wgY: 8, tileK: 32 },
] as const;

async function matmulSweep(gpu: Gpu, p: Params, reps: number, say: (m: string) => void): Promise<Sweep> {
  const c = matmulCase(p);
  const s = gemmShapes(c);
  const a = random(size(s.a), 11);
  const b = random(size(s.b), 12);
  const bias = p.bias === true ? random(c.N, 13) : undefined;
  // Past MAX_REFERENCE_FLOP the CPU reference would stall the page: tiles are then not checked.
  const checked = 2 * c.batch * c.M * c.N * c.K <= MAX_REFERENCE_FLOP;
  const want = checked ? matmulRef(a, b, c, { transposeA: c.transposeA, transposeB: c.transposeB, bias }) : null;
  const ta = Tensor.from(gpu, a, s.a);
  const tb = Tensor.from(gpu, b, s.b);
  const tbias = bias ? Tensor.from(gpu, bias, [c.N]) : undefined;
  const out = Tensor.empty(gpu, s.c);
  const into = new Float32Array(size(s.c));
  const batched = c.batch > 1;
  const args = {
    M: c.M,
    N: c.N,
    K: c.K,
    batch: c.batch,
    transposeA: c.transposeA,
    transposeB: c.transposeB,
    a: { buffer: ta.buffer, ld: c.transposeA ? c.M : c.K, batchStride: batched ? c.M * c.K : 0 },
    b: { buffer: tb.buffer, ld: c.transposeB ? c.K : c.N, batchStride: batched ? c.K * c.N : 0 },
    c: { buffer: out.buffer, ld: c.N, batchStride: batched ? c.M * c.N : 0 },
    bias: tbias && { buffer: tbias.buffer },
  };
  // What a product without a forced tile runs with on this adapter (and gpu.tuning).
  const chosen = gemmTile(gpu, undefined, 'tile sweep', { M: c.M, N: c.N });
  const entries: SweepEntry[] = [];
  try {
    for (const tile of GEMM_TILES) {
      const name = `${tile.variant} ${tile.wgX}×${tile.wgY}${'tileK' in tile ? ` K${tile.tileK}` : ''}`;
      const isDefault =
        tile.variant === chosen.variant &&
        tile.wgX === chosen.wgX &&
        tile.wgY === chosen.wgY &&
        (tile.variant !== 'workgroup' || ('tileK' in tile && tile.tileK === chosen.tileK));
      const entry: SweepEntry = { tile: name, isDefault };
      entries.push(entry);
      say(`tile sweep: matmul ${name}`);
      try {
        const run = () => gpu.run(gemmDispatches(gpu, { ...args, tile }));
        run();
        const got = await out.read(into);
        if (want) judged(entry, got, want, 'float64');
        const wall = await timeRuns(async () => {
          run();
          await out.read(into);
        }, reps);
        entry.wall = spread(wall);
        entry.wallRuns = wall;
        entry.gpuRuns = await gpuTimes(gpu, () => gemmDispatches(gpu, { ...args, tile }), reps);
        entry.gpuMs = entry.gpuRuns && median(entry.gpuRuns);
      } catch (e) {
        entry.error = `${(e as Error).name}: ${(e as Error).message}`;
      }
    }
  } finally {
    for (const t of [ta, tb, tbias, out]) t?.destroy();
  }
  return {
    what:
      'GEMM kernel × threads (wgX × wgY) × TILE_K, GemmArgs.tile; ' +
      (want ? 'output vs float64' : `output not checked (over ${MAX_REFERENCE_FLOP / 1e9} GFLOP)`),
    entries,
  };
}

async function recurrentSweep(
  gpu: Gpu,
  p: Params,
  seqLen: number,
  reps: number,
  say: (m: string) => void,
): Promise<Sweep> {
  const [B, I, H] = [n(p, 'batch'), n(p, 'inputSize'), n(p, 'hidden')];
  const cell = p.cell as 'lstm' | 'gru';
  const data = random(seqLen * B * I, 21);
  const x = Tensor.from(gpu, data, [seqLen, B, I]);
  // The tile a layer without stepTile runs its steps with (src/nn/recurrent.ts), swept too where
  // the sweep's list lacks it.
  const quad = forwardQuad(gpu, { cell, hiddenSize: H }, 'tile sweep');
  const chosen = defaultStepTile(B, gpu.adapterInfo.isFallbackAdapter, stepUnitThreads(cell, H, quad));
  const tiles: readonly (readonly [number, number])[] = TILE_SWEEP.filter(([, bt]) => bt <= B);
  const listed = tiles.some(([wg, bt]) => wg === chosen.wg && bt === chosen.bt);
  const variants: Array<{ tile: string; stepTile?: { wg: number; bt: number }; isDefault: boolean }> = [
    ...[...tiles, ...(listed ? [] : [[chosen.wg, chosen.bt] as const])].map(([wg, bt]) => ({
      tile: `step ${wg}×${bt}`,
      stepTile: { wg, bt },
      isDefault: wg === chosen.wg && bt === chosen.bt,
    })),
    { tile: 'persistent', isDefault: false },
    { tile: 'wavefront', isDefault: false },
  ];
  const kernel = gpu.tuning.recurrentKernel;
  const entries: SweepEntry[] = [];
  let weights: Awaited<ReturnType<RecurrentLayer['stateDict']>> | null = null;
  let first: Float32Array | null = null;
  try {
    for (const v of variants) {
      const entry: SweepEntry = { tile: v.tile, isDefault: v.isDefault };
      entries.push(entry);
      say(`tile sweep: ${cell} ${v.tile}`);
      let layer: RecurrentLayer | null = null;
      gpu.tuning.recurrentKernel = v.stepTile ? 'step' : (v.tile as 'persistent' | 'wavefront');
      try {
        const opts = { inputSize: I, hiddenSize: H, ...(v.stepTile ? { stepTile: v.stepTile } : {}) };
        layer = cell === 'lstm' ? new LSTM(gpu, opts) : new GRU(gpu, opts);
        if (weights) layer.loadStateDict(weights);
        else weights = await layer.stateDict();
        const call = async () => {
          const { output, hN, cN } = layer!.forward(x);
          const y = await output.read();
          for (const t of [output, hN, cN]) t?.destroy();
          return y;
        };
        const y = await call();
        if (first) judged(entry, y, first, 'first variant');
        else first = y;
        const wall = await timeRuns(call, reps);
        entry.wall = spread(wall);
        entry.wallRuns = wall;
        const plan = layer.plan(seqLen, B);
        entry.gpuRuns = await gpuTimes(gpu, () => plan.dispatches, reps);
        entry.gpuMs = entry.gpuRuns && median(entry.gpuRuns);
      } catch (e) {
        entry.error = `${(e as Error).name}: ${(e as Error).message}`;
      } finally {
        layer?.destroy();
        gpu.tuning.recurrentKernel = kernel;
      }
    }
  } finally {
    x.destroy();
  }
  return {
    what:
      `${cell.toUpperCase()} forward over ${seqLen} step${seqLen > 1 ? 's' : ''}: step kernel tile ` +
      `(wg threads × bt batch rows per thread), the persistent and the wavefront kernel; output vs the first variant's`,
    entries,
  };
}

/** The kernels with a sweep. */
export const SWEEPS = ['matmul', 'step', 'forward'];

/**
 * The tile sweep of `kernel` at `params`, or null for a kernel without one.
 * @param gpu - The lab's device.
 * @param kernel - matmul, step (one step) or forward (seqLen steps).
 * @param params - The run's fields.
 * @param reps - Timed runs per tile.
 * @param say - Progress line.
 */
export async function tileSweep(
  gpu: Gpu,
  kernel: string,
  params: Params,
  reps: number,
  say: (m: string) => void,
): Promise<Sweep | null> {
  if (kernel === 'matmul') return matmulSweep(gpu, params, reps, say);
  if (kernel === 'step') return recurrentSweep(gpu, params, 1, reps, say);
  if (kernel === 'forward') return recurrentSweep(gpu, params, n(params, 'seqLen'), reps, say);
  return null;
}
