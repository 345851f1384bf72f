// What the lab shows for each implementation of a row: its time (GPU time from timestamp queries
// where it has one, else wall time, and which), min / median / max and every timed run (the raw
// samples), GFLOP/s and its share of the adapter's measured peak (bench/peakProbe.ts), GB/s and
// the ratio to seqgpu. GB/s = bytes moved ÷ that time, bytes moved = the call's inputs read once +
// its outputs written once (4 bytes an element; intermediates and re-reads not counted): a lower
// bound on traffic. Two things withhold a number rather than show a wrong one:
// - an output that differs from the reference (a peer's from seqgpu's on the same inputs, as the
//   bench compares; seqgpu's from the float64 reference, demo/lab/reference.ts) shows "wrong
//   output" and its error instead of a ratio;
// - a GPU time longer than the wall time of the whole call is flagged (timestamp quantisation:
//   Chrome rounds timestamps to 100 µs; or queue overlap: the pair brackets work queued before).
import { spread, type BenchRow, type Measurement, type Spread } from '../../bench/stats.js';
import type { Operand } from './kernels.js';

export interface ImplMetrics {
  name: string;
  error?: string;
  /** The time GFLOP/s and GB/s are computed from. */
  ms?: number;
  source?: 'GPU' | 'wall';
  wallMs?: number;
  gpuMs?: number;
  /** Min / median / max of the timed runs (n: how many). */
  wall?: Spread;
  gpu?: Spread;
  /** Every timed run in ms, in run order (absent where the row function kept none). */
  wallRuns?: number[];
  gpuRuns?: number[];
  gflops?: number;
  /** gflops ÷ the adapter's measured peak (when measured). */
  peakFraction?: number;
  gbps?: number;
  dispatches?: number;
  peakBytes?: number;
  /**
   * Peer wall ÷ seqgpu wall, as `npm run bench` reports it (> 1: seqgpu faster); absent when
   * either output is wrong.
   */
  ratio?: number;
  /** Peer GPU ÷ seqgpu GPU, when both have one (absent when either output is wrong). */
  gpuRatio?: number;
  /** Why no ratio is shown although both ran: the wrong output and its error. */
  noRatio?: string;
  /** The output differs from the reference: by how much. */
  wrong?: string;
  /** GPU time > wall time: the flag and its reason. */
  gpuOverWall?: string;
  note?: string;
}

export function bytesMoved(operands: Operand[]): number {
  return operands.reduce((sum, o) => sum + 4 * (o.elements ?? o.shape.reduce((a, b) => a * b, 1)), 0);
}

/** `A, B, bias read; C written` */
export function bytesMovedNote(operands: Operand[]): string {
  const names = (role: Operand['role']) =>
    operands
      .filter((o) => o.role === role)
      .map((o) => o.name)
      .join(', ');
  return `${names('read')} read once; ${names('written')} written once (4 B an element)`;
}

/** The reason shown beside a GPU time longer than the wall time. */
export const GPU_OVER_WALL =
  'GPU time > wall time: timestamp quantisation (Chrome rounds timestamps to 100 µs) or queue ' +
  'overlap (the timestamps bracket work queued before the call); read the wall time';

function runsSpread(runs: number[] | undefined, median: number, min?: number, max?: number, n = 0): Spread {
  return runs?.length ? spread(runs) : { min: min ?? median, median, max: max ?? median, n };
}

/** What the row's extras need from the lab around it. */
export interface MetricsContext {
  /** The adapter's peak GFLOP/s from the FMA probe, once measured. */
  peakGflops?: number;
  /** seqgpu's output differs from the float64 reference: by how much. */
  seqgpuWrong?: string;
}

function measured(
  name: string,
  m: Measurement | { error: string } | undefined,
  row: BenchRow,
  bytes: number,
  ctx: MetricsContext,
  base?: Measurement,
): ImplMetrics {
  if (!m) return { name, error: 'not measured' };
  if ('error' in m) return { name, error: m.error };
  const ms = m.gpuMs ?? m.wallMs;
  const gflops = row.flops / ms / 1e6;
  const wrong = base ? m.wrong : ctx.seqgpuWrong;
  const out: ImplMetrics = {
    name,
    ms,
    source: m.gpuMs === undefined ? 'wall' : 'GPU',
    wallMs: m.wallMs,
    gpuMs: m.gpuMs,
    wall: runsSpread(m.wallRuns, m.wallMs, m.wallMinMs, m.wallMaxMs, m.reps),
    gpu: m.gpuMs === undefined ? undefined : runsSpread(m.gpuRuns, m.gpuMs, m.gpuMinMs, m.gpuMaxMs, m.gpuRuns?.length),
    wallRuns: m.wallRuns,
    gpuRuns: m.gpuRuns,
    gflops,
    peakFraction: ctx.peakGflops ? gflops / ctx.peakGflops : undefined,
    gbps: bytes / ms / 1e6,
    dispatches: m.dispatches,
    peakBytes: m.peakBytes,
    wrong,
    note: m.note,
  };
  if (m.gpuMs !== undefined && m.gpuMs > m.wallMs) out.gpuOverWall = GPU_OVER_WALL;
  if (base) {
    if (wrong || ctx.seqgpuWrong) {
      out.noRatio = wrong ? `wrong output: ${wrong}` : `seqgpu's output is wrong: ${ctx.seqgpuWrong}`;
    } else {
      out.ratio = m.wallMs / base.wallMs;
      if (base.gpuMs !== undefined && m.gpuMs !== undefined) out.gpuRatio = m.gpuMs / base.gpuMs;
    }
  }
  return out;
}

/** seqgpu first, then every peer of the row. */
export function rowMetrics(row: BenchRow, bytes: number, ctx: MetricsContext = {}): ImplMetrics[] {
  return [
    measured('seqgpu', row.seqgpu, row, bytes, ctx),
    ...Object.entries(row.peers).map(([name, m]) => measured(name, m, row, bytes, ctx, row.seqgpu)),
  ];
}
