// The adapter's peak FP32 arithmetic rate, measured: the denominator of the bench's efficiency
// (achieved GFLOP/s ÷ peak). What it measures is a register-resident FMA loop, no memory traffic:
//
//   x_j ← fma(x_j, m, a)   for j = 0..7 (eight independent vec4 chains per invocation), `iters` times
//   out[i] = Σ_j x_j        (so the loop cannot be removed)
//
// 8 chains × 4 lanes × 2 FLOP = 64 FLOP per invocation and iteration. Bindings: 0 uniform Params
// {m, a: vec4<f32>, iters: u32}, 1 storage out: array<vec4<f32>> (one per invocation). Workgroup
// (256, 1, 1); grid (workgroups, 1, 1). The eight chains hide FMA latency on a GPU; on a software
// adapter (SwiftShader) they are SIMD lanes of the CPU. Timed between one pair of GPU timestamps
// when the adapter has `timestamp-query` (else wall time of submit + onSubmittedWorkDone); `iters`
// doubles until one dispatch takes `targetMs`, then the fastest of `reps` runs is the peak.
import type { Gpu } from '../src/index.js';
import { spread, type Spread } from './stats.js';

const WORKGROUP = 256;
const CHAINS = 8;
/** FLOP per invocation and iteration: CHAINS vec4 FMAs. */
export const PROBE_FLOP_PER_ITER = CHAINS * 4 * 2;

const CODE = /* wgsl */ `
struct Params { m: vec4<f32>, a: vec4<f32>, iters: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<vec4<f32>>;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let s = f32(gid.x & 15u) * 0.01;
  var x0 = vec4<f32>(s, s + 0.1, s + 0.2, s + 0.3);
  var x1 = x0 + 0.4;
  var x2 = x0 + 0.8;
  var x3 = x0 + 1.2;
  var x4 = x0 + 1.6;
  var x5 = x0 + 2.0;
  var x6 = x0 + 2.4;
  var x7 = x0 + 2.8;
  let m = p.m;
  let a = p.a;
  let n = p.iters;
  for (var k = 0u; k < n; k++) {
    x0 = fma(x0, m, a);
    x1 = fma(x1, m, a);
    x2 = fma(x2, m, a);
    x3 = fma(x3, m, a);
    x4 = fma(x4, m, a);
    x5 = fma(x5, m, a);
    x6 = fma(x6, m, a);
    x7 = fma(x7, m, a);
  }
  out[gid.x] = ((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7));
}`;

/** The probe's multiplier and addend per lane: a contraction towards a / (1 − m), so nothing overflows. */
export const PROBE_M = [0.999, 0.998, 0.997, 0.996];
export const PROBE_A = [0.001, 0.002, 0.003, 0.004];

/** One probe dispatch: its time, its FLOP and (when asked) the output it wrote. */
export interface ProbeRun {
  ms: number;
  /** GPU time from timestamps, else wall time. */
  timer: 'gpu' | 'wall';
  flops: number;
  out?: Float32Array;
}

/** The float64 value the probe writes for invocation `i` (the spec its output is tested against). */
export function probeReference(i: number, iters: number): number[] {
  const s = (i & 15) * 0.01;
  return [0, 1, 2, 3].map((lane) => {
    let sum = 0;
    for (let j = 0; j < CHAINS; j++) {
      let x = s + 0.1 * lane + 0.4 * j;
      for (let k = 0; k < iters; k++) x = x * PROBE_M[lane] + PROBE_A[lane];
      sum += x;
    }
    return sum;
  });
}

/** Compiles the probe once per Gpu and runs dispatches of it. */
export class PeakProbe {
  private readonly pipeline: GPUComputePipeline;
  private readonly params: GPUBuffer;
  private out: GPUBuffer | null = null;
  private querySet: GPUQuerySet | null = null;
  private resolve: GPUBuffer | null = null;

  constructor(private readonly gpu: Gpu) {
    const device = gpu.device;
    const module = device.createShaderModule({ label: 'bench.peakProbe', code: CODE });
    this.pipeline = device.createComputePipeline({
      label: 'bench.peakProbe',
      layout: 'auto',
      compute: { module, entryPoint: 'main' },
    });
    this.params = device.createBuffer({ size: 48, usage: 0x40 | 0x08, label: 'bench.peakProbe.params' });
    if (gpu.features.timestampQuery) {
      this.querySet = device.createQuerySet({ type: 'timestamp', count: 2 });
      this.resolve = device.createBuffer({ size: 16, usage: 0x200 | 0x04, label: 'bench.peakProbe.ts' });
    }
  }

  /** Runs `workgroups` × 256 invocations of `iters` iterations once; `read` also returns the output. */
  async run(workgroups: number, iters: number, read = false): Promise<ProbeRun> {
    const device = this.gpu.device;
    const bytes = workgroups * WORKGROUP * 16;
    if (!this.out || this.out.size < bytes) {
      this.out?.destroy();
      this.out = device.createBuffer({ size: bytes, usage: 0x80 | 0x04, label: 'bench.peakProbe.out' });
    }
    const params = new ArrayBuffer(48);
    new Float32Array(params, 0, 8).set([...PROBE_M, ...PROBE_A]);
    new Uint32Array(params, 32, 1)[0] = iters;
    device.queue.writeBuffer(this.params, 0, params);
    const bindGroup = device.createBindGroup({
      layout: this.pipeline.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: this.params } },
        { binding: 1, resource: { buffer: this.out, size: bytes } },
      ],
    });
    const encoder = device.createCommandEncoder({ label: 'bench.peakProbe' });
    const pass = encoder.beginComputePass({
      label: 'bench.peakProbe',
      timestampWrites: this.querySet
        ? { querySet: this.querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 }
        : undefined,
    });
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(workgroups);
    pass.end();
    if (this.querySet && this.resolve) encoder.resolveQuerySet(this.querySet, 0, 2, this.resolve, 0);
    const t0 = performance.now();
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
    const wallMs = performance.now() - t0;
    let ms = wallMs;
    if (this.resolve) {
      const t = new BigUint64Array(await this.gpu.readBuffer(this.resolve, 0, 16));
      ms = Number(t[1] - t[0]) / 1e6;
    }
    const flops = workgroups * WORKGROUP * iters * PROBE_FLOP_PER_ITER;
    const out = read ? new Float32Array(await this.gpu.readBuffer(this.out, 0, bytes)) : undefined;
    return { ms, timer: this.resolve ? 'gpu' : 'wall', flops, out };
  }

  destroy(): void {
    this.params.destroy();
    this.out?.destroy();
    this.querySet?.destroy();
    this.resolve?.destroy();
  }
}

/** The measured peak: the fastest run's GFLOP/s, the spread of its grid's runs, and what was run. */
export interface Peak {
  gflops: number;
  runs: Spread;
  workgroups: number;
  iters: number;
  timer: 'gpu' | 'wall';
  /** One line for the report: what the number is. */
  description: string;
}

/**
 * Measures the adapter's peak FP32 rate with the FMA probe (see the file's header) at each grid
 * size of `grids` (workgroups of 256 invocations: a small grid suits a CPU adapter, whose cost per
 * invocation is high; a large one fills a GPU) and keeps the best.
 * @param gpu - The adapter to measure.
 * @param o - `grids` (default 16, 128, 1024 workgroups), the time one dispatch should take
 *   (`targetMs`, default 20) and the timed runs per grid (`reps`, default 5).
 * @returns The best run's GFLOP/s, the GFLOP/s of its grid's runs and what was run.
 */
export async function measurePeak(gpu: Gpu, { grids = [16, 128, 1024], targetMs = 20, reps = 5 } = {}): Promise<Peak> {
  const probe = new PeakProbe(gpu);
  try {
    let best: Peak | null = null;
    for (const workgroups of grids) {
      let iters = 16;
      let r = await probe.run(workgroups, iters); // also the warmup run
      while (r.ms < targetMs && iters < 1 << 20) {
        iters *= r.ms > 0 ? Math.min(8, Math.max(2, Math.ceil(targetMs / r.ms))) : 8;
        r = await probe.run(workgroups, iters);
      }
      const rates: number[] = [];
      for (let i = 0; i < reps; i++) {
        const run = await probe.run(workgroups, iters);
        rates.push(run.flops / run.ms / 1e6);
      }
      const runs = spread(rates);
      if (best && best.gflops >= runs.max) continue;
      best = {
        gflops: runs.max,
        runs,
        workgroups,
        iters,
        timer: r.timer,
        description:
          `FMA probe: ${workgroups}×${WORKGROUP} invocations × ${iters} iterations × ${PROBE_FLOP_PER_ITER} ` +
          `FLOP (8 vec4 fma chains in registers), best of ${reps} by ` +
          `${r.timer === 'gpu' ? 'GPU timestamps' : 'wall time'}; grids tried: ${grids.join(', ')} workgroups`,
      };
    }
    if (!best) throw new RangeError('measurePeak: no grid sizes given');
    return best;
  } finally {
    probe.destroy();
  }
}
