// Row softmax rows: y = softmax(x) over the last dimension of x [rows, cols], seqgpu's kernel
// (one workgroup per row) vs TensorFlow.js WebGPU tf.softmax, same page, same adapter, same run.
// Timed like the matmul rows: issue the op, read the result back; seqgpu's GPU time from
// timestamp queries, tfjs's kernelMs from tf.time(). tfjs's result is compared with seqgpu's.
// A softmax is memory-bound: GB/s (x read + y written, 8·rows·cols bytes) says more than GFLOP/s.
import { type Gpu, Tensor, softmax, softmaxDispatch } from '../src/index.js';
import { median, timeRuns, type BenchRow, type Measurement } from './stats.js';
import type { Tf } from './tf.js';

export interface SoftmaxCase {
  rows: number;
  cols: number;
}

export interface SoftmaxBenchOptions {
  reps: number;
  peerReps: number;
}

export function softmaxWorkload(c: SoftmaxCase): string {
  return `softmax ${c.rows}×${c.cols}`;
}

/** Counted as 5 per element: the max, the subtraction, exp, the sum and the division. */
export function softmaxFlops(c: SoftmaxCase): number {
  return 5 * c.rows * c.cols;
}

function randomData(n: number): Float32Array {
  return Float32Array.from({ length: n }, () => (Math.random() * 2 - 1) * 10);
}

const WRONG_OUTPUT = 1e-4;

async function measureTf(
  tf: Tf,
  data: Float32Array,
  want: Float32Array,
  c: SoftmaxCase,
  o: SoftmaxBenchOptions,
): Promise<Measurement | { error: string }> {
  try {
    const x = tf.tensor2d(data, [c.rows, c.cols]);
    const first = tf.softmax(x);
    const got = (await first.data()) as Float32Array;
    first.dispose();
    const wall = await timeRuns(async () => {
      const y = tf.softmax(x);
      await y.data();
      y.dispose();
    }, o.peerReps);
    const kernel: number[] = [];
    for (let i = 0; i < o.peerReps; i++) {
      const info = await tf.time(() => tf.softmax(x).dispose());
      if (typeof info.kernelMs === 'number') kernel.push(info.kernelMs);
    }
    x.dispose();
    let diff = 0;
    for (let i = 0; i < want.length; i++) diff = Math.max(diff, Math.abs(got[i] - want[i]));
    return {
      wallMs: median(wall),
      gpuMs: kernel.length ? median(kernel) : undefined,
      wallRuns: wall,
      gpuRuns: kernel.length ? kernel : undefined,
      reps: o.peerReps,
      note: `tf.softmax; max |tfjs − seqgpu| = ${diff.toExponential(1)}`,
      wrong: diff > WRONG_OUTPUT ? `max |tfjs − seqgpu| = ${diff.toExponential(2)}` : undefined,
    };
  } catch (e) {
    return { error: `tfjs: ${(e as Error).message}` };
  }
}

export async function softmaxRows(
  gpu: Gpu,
  tf: Tf | { error: string },
  cases: SoftmaxCase[],
  o: SoftmaxBenchOptions,
  log: (s: string) => void = () => {},
): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const c of cases) {
    const workload = softmaxWorkload(c);
    log(`running ${workload}`);
    const data = randomData(c.rows * c.cols);
    const x = Tensor.from(gpu, data, [c.rows, c.cols]);
    const y = Tensor.empty(gpu, [c.rows, c.cols]);
    softmax(gpu, x, { out: y });
    const want = await y.read();
    const wall = await timeRuns(async () => {
      softmax(gpu, x, { out: y });
      await y.read();
    }, o.reps);
    let gpuMs: number | undefined;
    let gpuRuns: number[] | undefined;
    const profiler = gpu.createProfiler();
    if (profiler) {
      const times: number[] = [];
      for (let i = 0; i < o.reps; i++) {
        gpu.run(
          [softmaxDispatch(gpu, { rows: c.rows, cols: c.cols, x: { buffer: x.buffer }, y: { buffer: y.buffer } })],
          profiler,
        );
        times.push((await profiler.read()).kernels[0].ms);
      }
      gpuMs = median(times);
      gpuRuns = times;
      profiler.destroy();
    }
    x.destroy();
    y.destroy();
    const row: BenchRow = {
      group: 'softmax',
      workload,
      flops: softmaxFlops(c),
      seqgpu: { wallMs: median(wall), gpuMs, wallRuns: wall, gpuRuns, reps: o.reps, dispatches: 1 },
      peers: {},
      extra: { FLOPs: '5 per element (max, subtract, exp, sum, divide)' },
    };
    row.peers['tfjs-webgpu'] = 'error' in tf ? tf : await measureTf(tf, data, want, c, o);
    rows.push(row);
  }
  return rows;
}
