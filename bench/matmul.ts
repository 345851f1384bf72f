// Matmul rows: seqgpu's GEMM vs TensorFlow.js WebGPU tf.matMul on square N×N×N, in the same page,
// on the same adapter, in the same run. Both are timed the same way: issue the product, then read
// the result back (the wait for the GPU). seqgpu's eager call reads into an array reused from call
// to call (`c.read(into)`): allocating and page-faulting in a new N² array per call cost more than
// the copy (bench/RESULTS.md, 2026-12-06); the row's notes give the wall time with a new array per
// call (`c.read()`, tfjs's `data()` does the same) and its ratio too. seqgpu also reports GPU time
// from timestamp queries, tfjs its own kernelMs from tf.time().
import { type Gpu, Tensor, matmul, gemmDispatches } from '../src/index.js';
import type { Dispatch } from '../src/gpu/dispatch.js';
import { median, timeRuns, type BenchRow } from './stats.js';
import type { Tf } from './tf.js';

const ms = (x: number) => x.toFixed(3);

function randomData(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() * 2 - 1;
  return a;
}

/** An n×n×n product's dispatches on random operands (for timing next to other work) and their owner. */
export function squareGemm(gpu: Gpu, n: number): { dispatches: Dispatch[]; flops: number; destroy(): void } {
  const a = Tensor.from(gpu, randomData(n * n), [n, n]);
  const b = Tensor.from(gpu, randomData(n * n), [n, n]);
  const c = Tensor.empty(gpu, [n, n]);
  const view = (t: Tensor) => ({ buffer: t.buffer, ld: n });
  const list = gemmDispatches(gpu, { M: n, N: n, K: n, a: view(a), b: view(b), c: view(c) });
  // Run many times: the uniforms are this product's, destroyed with it (not handed back after a run).
  const owned = list.flatMap((d) => d.transient ?? []);
  const destroy = () => {
    for (const t of [a, b, c]) t.destroy();
    for (const u of owned) u.destroy();
  };
  return { dispatches: list.map((d) => ({ ...d, transient: undefined })), flops: 2 * n ** 3, destroy };
}

export async function matmulRows(
  gpu: Gpu,
  tf: Tf | { error: string },
  sizes: number[],
  reps: number,
  peerReps: number,
): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const n of sizes) {
    const a = Tensor.from(gpu, randomData(n * n), [n, n]);
    const b = Tensor.from(gpu, randomData(n * n), [n, n]);
    const c = Tensor.empty(gpu, [n, n]);
    const into = new Float32Array(n * n);
    const wall = await timeRuns(async () => {
      matmul(gpu, a, b, { out: c });
      await c.read(into);
    }, reps);
    const wallNew = await timeRuns(async () => {
      matmul(gpu, a, b, { out: c });
      await c.read();
    }, reps);
    let gpuMs: number | undefined;
    let gpuRuns: number[] | undefined;
    const profiler = gpu.createProfiler();
    if (profiler) {
      const times: number[] = [];
      for (let i = 0; i < reps; i++) {
        gpu.run(
          gemmDispatches(gpu, {
            M: n,
            N: n,
            K: n,
            a: { buffer: a.buffer, ld: n },
            b: { buffer: b.buffer, ld: n },
            c: { buffer: c.buffer, ld: n },
          }),
          profiler,
        );
        times.push((await profiler.read()).totalMs);
      }
      gpuMs = median(times);
      gpuRuns = times;
      profiler.destroy();
    }
    const row: BenchRow = {
      group: 'matmul',
      workload: `matmul ${n}×${n}×${n}`,
      flops: 2 * n * n * n,
      seqgpu: {
        wallMs: median(wall),
        wallMinMs: Math.min(...wall),
        wallMaxMs: Math.max(...wall),
        gpuMs,
        wallRuns: wall,
        gpuRuns,
        reps,
        dispatches: 1,
        note: 'read into a reused array',
      },
      peers: {},
      extra: {
        'with read() (a new array per call)': `${ms(median(wallNew))} ms (min ${ms(Math.min(...wallNew))})`,
      },
    };
    for (const t of [a, b, c]) t.destroy();

    if ('error' in tf) {
      row.peers['tfjs-webgpu'] = tf;
    } else {
      const ta = tf.tensor2d(randomData(n * n), [n, n]);
      const tb = tf.tensor2d(randomData(n * n), [n, n]);
      const wallTf = await timeRuns(async () => {
        const tc = tf.matMul(ta, tb);
        await tc.data();
        tc.dispose();
      }, peerReps);
      const kernel: number[] = [];
      for (let i = 0; i < peerReps; i++) {
        const info = await tf.time(() => tf.matMul(ta, tb).dispose());
        if (typeof info.kernelMs === 'number') kernel.push(info.kernelMs);
      }
      row.extra!['ratio vs tfjs with read()'] = `${(median(wallTf) / median(wallNew)).toFixed(2)}×`;
      row.peers['tfjs-webgpu'] = {
        wallMs: median(wallTf),
        wallMinMs: Math.min(...wallTf),
        wallMaxMs: Math.max(...wallTf),
        gpuMs: kernel.length ? median(kernel) : undefined,
        wallRuns: wallTf,
        gpuRuns: kernel.length ? kernel : undefined,
        reps: peerReps,
      };
      ta.dispose();
      tb.dispose();
    }
    rows.push(row);
  }
  return rows;
}
