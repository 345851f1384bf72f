// Timing helpers shared by every benchmark row.

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Runs `fn` untimed `warmup` times and for at least `warmupMs` (a real GPU idles at low clocks
 * and ramps up under load), then `reps` times; returns the wall times in ms.
 */
export async function timeRuns(
  fn: () => Promise<unknown>,
  reps: number,
  warmup = 1,
  warmupMs = 300,
): Promise<number[]> {
  const start = performance.now();
  for (let i = 0; i < warmup || performance.now() - start < warmupMs; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return times;
}

/** One measured implementation in a row: medians in ms, and what they mean. */
export interface Measurement {
  /** Median wall time of one call, including the wait for its result. */
  wallMs: number;
  /** Fastest and slowest timed call (rows that report the spread). */
  wallMinMs?: number;
  wallMaxMs?: number;
  /** Median GPU time from timestamp queries, when the adapter has them. */
  gpuMs?: number;
  reps: number;
  dispatches?: number;
  /** Peak live GPU buffer bytes on the implementation's device during its timed runs (bench/gpuMemory.ts). */
  peakBytes?: number;
  /** Set when the result disagrees with seqgpu's on the same inputs: the ratio is not a fair one. */
  wrong?: string;
  note?: string;
}

export interface BenchRow {
  group: string;
  workload: string;
  /** Floating-point operations of one call, for GFLOP/s. */
  flops: number;
  seqgpu: Measurement;
  peers: Record<string, Measurement | { error: string }>;
  /** Notes printed under the table (per-kernel GPU split, latencies, efficiency). */
  extra?: Record<string, string>;
}

export interface BenchReport {
  date: string;
  /** 'chromium' (the page) or 'node-dawn' (bench/node.ts). */
  runtime?: string;
  userAgent: string;
  adapter: unknown;
  features: unknown;
  options: unknown;
  rows: BenchRow[];
  error?: string;
}
