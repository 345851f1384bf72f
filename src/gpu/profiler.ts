import type { Gpu } from './device.js';
import { BufferUsage } from './flags.js';

/** GPU time per dispatch (from timestamp queries) and in total, in milliseconds. */
export interface GpuTimings {
  totalMs: number;
  kernels: Array<{ label: string; ms: number }>;
}

/**
 * Timestamp-query profiler: {@link Gpu.run} brackets each dispatch's pass with a begin and
 * an end timestamp; {@link Profiler.read} returns the times of the last profiled run.
 * Browsers may quantize timestamps (Chrome: 100 µs unless WebGPU developer features are on).
 */
export class Profiler {
  private querySet!: GPUQuerySet;
  private resolveBuffer!: GPUBuffer;
  private labels: string[] = [];
  private count = 0;

  constructor(private readonly gpu: Gpu, private capacity: number) {
    this.allocate();
  }

  private allocate(): void {
    const device = this.gpu.device;
    this.querySet = device.createQuerySet({ type: 'timestamp', count: 2 * this.capacity, label: 'seqgpu.profiler' });
    this.resolveBuffer = device.createBuffer({
      size: 16 * this.capacity,
      usage: BufferUsage.QUERY_RESOLVE | BufferUsage.COPY_SRC,
      label: 'seqgpu.profiler',
    });
  }

  /** Prepares for a run of `passes` passes (grows the query set if needed; not per step). */
  begin(passes: number): void {
    if (passes > this.capacity) {
      this.destroy();
      this.capacity = passes;
      this.allocate();
    }
    this.labels = [];
    this.count = passes;
  }

  writes(i: number, label: string): GPUComputePassTimestampWrites {
    this.labels[i] = label;
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  resolve(encoder: GPUCommandEncoder): void {
    encoder.resolveQuerySet(this.querySet, 0, 2 * this.count, this.resolveBuffer, 0);
  }

  async read(): Promise<GpuTimings> {
    const raw = new BigUint64Array(await this.gpu.readBuffer(this.resolveBuffer, 0, 16 * this.count));
    const kernels = this.labels.map((label, i) => ({ label, ms: Number(raw[2 * i + 1] - raw[2 * i]) / 1e6 }));
    const totalMs = this.count ? Number(raw[2 * this.count - 1] - raw[0]) / 1e6 : 0;
    return { totalMs, kernels };
  }

  destroy(): void {
    this.querySet.destroy();
    this.resolveBuffer.destroy();
  }
}
