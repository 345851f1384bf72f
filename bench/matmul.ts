// Matmul rows: seqgpu's tiled GEMM vs TensorFlow.js WebGPU tf.matMul on square N×N×N,
// in the same page, on the same adapter, in the same run. Both are timed the same way:
// issue the product, then read the result back (the wait for the GPU); seqgpu also reports
// GPU time from timestamp queries, tfjs its own kernelMs from tf.time().
import { type Gpu, Tensor, matmul, gemmDispatches } from '../src/index.js';
import { median, timeRuns, type BenchRow } from './stats.js';
import type { Tf } from './tf.js';

function randomData(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() * 2 - 1;
  return a;
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
    const wall = await timeRuns(async () => {
      matmul(gpu, a, b, { out: c });
      await c.read();
    }, reps);
    let gpuMs: number | undefined;
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
      profiler.destroy();
    }
    const row: BenchRow = {
      group: 'matmul',
      workload: `matmul ${n}×${n}×${n}`,
      flops: 2 * n * n * n,
      seqgpu: { wallMs: median(wall), gpuMs, reps, dispatches: 1 },
      peers: {},
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
      row.peers['tfjs-webgpu'] = {
        wallMs: median(wallTf),
        gpuMs: kernel.length ? median(kernel) : undefined,
        reps: peerReps,
      };
      ta.dispose();
      tb.dispose();
    }
    rows.push(row);
  }
  return rows;
}
