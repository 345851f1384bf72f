// Timing helpers shared by every benchmark row: medians, min / median / max summaries and a seeded
// bootstrap confidence interval on the ratio of two medians (the "A is r× B" of a bench row).

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Fastest, median and slowest of a set of timed runs, and how many there were. */
export interface Spread {
  min: number;
  median: number;
  max: number;
  n: number;
}

/** The min / median / max of `xs` (at least one value). */
export function spread(xs: readonly number[]): Spread {
  if (!xs.length) throw new RangeError('spread: no values');
  return { min: Math.min(...xs), median: median(xs), max: Math.max(...xs), n: xs.length };
}

/** mulberry32: a small seeded PRNG with uniform outputs in [0, 1), so a bootstrap is reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The q-quantile (0 ≤ q ≤ 1) of sorted values by the nearest-rank rule: the value at rank
 * ⌈q·n⌉ (1-based; rank 1 for q = 0). No interpolation, so a quantile is always an observed value.
 */
export function quantileSorted(sorted: readonly number[], q: number): number {
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1];
}

/** A ratio of medians and its bootstrap confidence interval. */
export interface RatioCI {
  /** median(numerator) / median(denominator) of the observed runs. */
  ratio: number;
  lo: number;
  hi: number;
  /** Coverage of [lo, hi], e.g. 0.95. */
  level: number;
  /** Runs on each side. */
  n: [number, number];
}

/**
 * Percentile bootstrap of median(num) / median(den): each of `iterations` resamples draws
 * num.length values from `num` and den.length from `den` with replacement (the two sides are
 * independent runs) and takes the ratio of their medians; [lo, hi] are the (1 − level)/2 and
 * (1 + level)/2 quantiles of those ratios. Seeded, so the same runs give the same interval.
 */
export function bootstrapRatioCI(
  num: readonly number[],
  den: readonly number[],
  { iterations = 2000, level = 0.95, seed = 19 } = {},
): RatioCI {
  if (!num.length || !den.length) throw new RangeError('bootstrapRatioCI: both sides need at least one run');
  const random = seededRandom(seed);
  const a = new Array<number>(num.length);
  const b = new Array<number>(den.length);
  const ratios = new Array<number>(iterations);
  for (let i = 0; i < iterations; i++) {
    for (let j = 0; j < a.length; j++) a[j] = num[Math.floor(random() * num.length)];
    for (let j = 0; j < b.length; j++) b[j] = den[Math.floor(random() * den.length)];
    ratios[i] = median(a) / median(b);
  }
  ratios.sort((x, y) => x - y);
  return {
    ratio: median(num) / median(den),
    lo: quantileSorted(ratios, (1 - level) / 2),
    hi: quantileSorted(ratios, (1 + level) / 2),
    level,
    n: [num.length, den.length],
  };
}

/** `1.23× [1.10, 1.41] (n 20/5)`: a ratio with its interval and the runs on each side. */
export function formatRatio(ci: RatioCI): string {
  const f = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
  return `${f(ci.ratio)}× [${f(ci.lo)}, ${f(ci.hi)}] (n ${ci.n[0]}/${ci.n[1]})`;
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
  gpuMinMs?: number;
  gpuMaxMs?: number;
  reps: number;
  /** Every timed run's wall (and GPU) time in ms, for confidence intervals on ratios. */
  wallRuns?: number[];
  gpuRuns?: number[];
  /** Bootstrap 95 % CI of this peer's median wall ÷ seqgpu's (a peer measurement, `formatRatio`). */
  ratioCI?: RatioCI;
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
