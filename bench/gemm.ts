// General matmul rows: C = op(A)·op(B) (+ bias) at any M, N, K, batch and transposes, seqgpu's
// tiled GEMM vs TensorFlow.js WebGPU (tf.matMul, or tf.fused.matMul with the bias), same page,
// same adapter, same run. Timed like bench/matmul.ts (square N×N×N, the suite's rows): issue the
// product, then read the result back (seqgpu into a reused array, `out.read(into)`; tfjs `data()`);
// seqgpu's GPU time from timestamp queries, tfjs's kernelMs from tf.time(). tfjs's result is
// compared with seqgpu's on the same inputs.
import { type Gpu, Tensor, matmul, gemmDispatches } from '../src/index.js';
import { median, timeRuns, type BenchRow, type Measurement } from './stats.js';
import type { Tf } from './tf.js';

export interface GemmCase {
  M: number;
  N: number;
  K: number;
  /** Independent products in one call (A, B and C are [batch, ·, ·]). Default 1. */
  batch?: number;
  /** A is stored [K, M]. */
  transposeA?: boolean;
  /** B is stored [N, K]. */
  transposeB?: boolean;
  /** A bias [N] added to every row. */
  bias?: boolean;
}

export interface GemmBenchOptions {
  reps: number;
  peerReps: number;
}

/** `matmul 512×512×512` (the suite's square rows), `matmul 33×17×65 B4 Aᵀ Bᵀ +bias`. */
export function gemmWorkload(c: GemmCase): string {
  const batch = c.batch ?? 1;
  return (
    `matmul ${c.M}×${c.N}×${c.K}${batch > 1 ? ` B${batch}` : ''}` +
    `${c.transposeA ? ' Aᵀ' : ''}${c.transposeB ? ' Bᵀ' : ''}` +
    `${c.bias ? ' +bias' : ''}`
  );
}

/** 2·batch·M·N·K (+ batch·M·N additions for the bias). */
export function gemmFlops(c: GemmCase): number {
  const batch = c.batch ?? 1;
  return 2 * batch * c.M * c.N * c.K + (c.bias ? batch * c.M * c.N : 0);
}

/** Stored shapes of A, B (with the transposes) and C. */
export function gemmShapes(c: GemmCase): { a: number[]; b: number[]; c: number[] } {
  const batch = c.batch ?? 1;
  const lead = batch > 1 ? [batch] : [];
  return {
    a: [...lead, ...(c.transposeA ? [c.K, c.M] : [c.M, c.K])],
    b: [...lead, ...(c.transposeB ? [c.N, c.K] : [c.K, c.N])],
    c: [...lead, c.M, c.N],
  };
}

function randomData(n: number): Float32Array {
  return Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
}

const size = (shape: number[]) => shape.reduce((x, y) => x * y, 1);

/** Outputs further than this from seqgpu's (relative to its largest |value|) are reported as wrong. */
const WRONG_OUTPUT = 1e-3;

async function measureTf(
  tf: Tf,
  data: { a: Float32Array; b: Float32Array; bias?: Float32Array },
  want: Float32Array,
  c: GemmCase,
  o: GemmBenchOptions,
): Promise<Measurement | { error: string }> {
  try {
    const shapes = gemmShapes(c);
    const ta = tf.tensor(data.a, shapes.a);
    const tb = tf.tensor(data.b, shapes.b);
    const tbias = data.bias ? tf.tensor1d(data.bias) : null;
    const product = () =>
      tbias
        ? tf.fused.matMul({ a: ta, b: tb, transposeA: !!c.transposeA, transposeB: !!c.transposeB, bias: tbias })
        : tf.matMul(ta, tb, !!c.transposeA, !!c.transposeB);
    const first = product();
    const got = (await first.data()) as Float32Array;
    first.dispose();
    const wall = await timeRuns(async () => {
      const tc = product();
      await tc.data();
      tc.dispose();
    }, o.peerReps);
    const kernel: number[] = [];
    for (let i = 0; i < o.peerReps; i++) {
      const info = await tf.time(() => product().dispose());
      if (typeof info.kernelMs === 'number') kernel.push(info.kernelMs);
    }
    for (const t of [ta, tb, tbias]) t?.dispose();
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < want.length; i++) {
      diff = Math.max(diff, Math.abs(got[i] - want[i]));
      scale = Math.max(scale, Math.abs(want[i]));
    }
    const rel = diff / (scale || 1);
    return {
      wallMs: median(wall),
      gpuMs: kernel.length ? median(kernel) : undefined,
      wallRuns: wall,
      gpuRuns: kernel.length ? kernel : undefined,
      reps: o.peerReps,
      note:
        `${tbias ? 'tf.fused.matMul with bias' : 'tf.matMul'}; max |tfjs − seqgpu| ÷ ` +
        `max |seqgpu| = ${rel.toExponential(1)}`,
      wrong: rel > WRONG_OUTPUT ? `max |tfjs − seqgpu| ÷ max |seqgpu| = ${rel.toFixed(3)}` : undefined,
    };
  } catch (e) {
    return { error: `tfjs: ${(e as Error).message}` };
  }
}

export async function gemmRows(
  gpu: Gpu,
  tf: Tf | { error: string },
  cases: GemmCase[],
  o: GemmBenchOptions,
  log: (s: string) => void = () => {},
): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const c of cases) {
    const workload = gemmWorkload(c);
    log(`running ${workload}`);
    const batch = c.batch ?? 1;
    const shapes = gemmShapes(c);
    const data = {
      a: randomData(size(shapes.a)),
      b: randomData(size(shapes.b)),
      bias: c.bias ? randomData(c.N) : undefined,
    };
    const a = Tensor.from(gpu, data.a, shapes.a);
    const b = Tensor.from(gpu, data.b, shapes.b);
    const bias = data.bias ? Tensor.from(gpu, data.bias, [c.N]) : undefined;
    const out = Tensor.empty(gpu, shapes.c);
    const opts = { transposeA: c.transposeA, transposeB: c.transposeB, bias, out };
    matmul(gpu, a, b, opts);
    const want = await out.read();
    const into = new Float32Array(size(shapes.c)); // reused, as bench/matmul.ts's eager rows
    const wall = await timeRuns(async () => {
      matmul(gpu, a, b, opts);
      await out.read(into);
    }, o.reps);
    // The same product as raw dispatches, to bracket with timestamp queries.
    const args = {
      M: c.M,
      N: c.N,
      K: c.K,
      batch,
      transposeA: c.transposeA,
      transposeB: c.transposeB,
      a: { buffer: a.buffer, ld: c.transposeA ? c.M : c.K, batchStride: batch > 1 ? c.M * c.K : 0 },
      b: { buffer: b.buffer, ld: c.transposeB ? c.K : c.N, batchStride: batch > 1 ? c.K * c.N : 0 },
      c: { buffer: out.buffer, ld: c.N, batchStride: batch > 1 ? c.M * c.N : 0 },
      bias: bias && { buffer: bias.buffer },
    };
    let dispatches = 0;
    let gpuMs: number | undefined;
    let gpuRuns: number[] | undefined;
    const profiler = gpu.createProfiler();
    if (profiler) {
      const times: number[] = [];
      for (let i = 0; i < o.reps; i++) {
        const list = gemmDispatches(gpu, args);
        dispatches = list.length;
        gpu.run(list, profiler);
        times.push((await profiler.read()).kernels.reduce((s, k) => s + k.ms, 0));
      }
      gpuMs = median(times);
      gpuRuns = times;
      profiler.destroy();
    } else {
      const list = gemmDispatches(gpu, args);
      dispatches = list.length;
      for (const d of list) for (const u of d.transient ?? []) gpu.pool.release(u);
    }
    for (const t of [a, b, bias, out]) t?.destroy();
    const row: BenchRow = {
      group: 'matmul',
      workload,
      flops: gemmFlops(c),
      seqgpu: { wallMs: median(wall), gpuMs, wallRuns: wall, gpuRuns, reps: o.reps, dispatches },
      peers: {},
      extra: {
        FLOPs:
          `2·${batch > 1 ? 'batch·' : ''}M·N·K${c.bias ? ' + the bias additions' : ''} ` +
          `= ${(gemmFlops(c) / 1e9).toFixed(4)} GFLOP`,
      },
    };
    row.peers['tfjs-webgpu'] = 'error' in tf ? tf : await measureTf(tf, data, want, c, o);
    rows.push(row);
  }
  return rows;
}
