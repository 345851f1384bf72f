/** What a Profiler uses of its Gpu: the device and readbacks. */
interface ProfiledGpu {
  readonly device: GPUDevice;
  readBuffer(buffer: GPUBuffer, byteOffset?: number, byteLength?: number): Promise<ArrayBuffer>;
}
import { BufferUsage } from './flags.js';

/** GPU time per dispatch (from timestamp queries) and in total, in milliseconds. */
export interface GpuTimings {
  /** From the first dispatch's start to the last one's end (includes gaps between passes). */
  totalMs: number;
  /** Each dispatch's own time, in run order, under its `Dispatch.label`. */
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

  /**
   * Use {@link Gpu.createProfiler}, which returns null on adapters without `timestamp-query`.
   * @param gpu - The device to profile; it must have the `timestamp-query` feature.
   * @param capacity - Dispatches per run to allocate queries for; grown by `begin` when a run has
   *   more.
   */
  constructor(
    private readonly gpu: ProfiledGpu,
    private capacity: number,
  ) {
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

  /**
   * Prepares for a run of `passes` passes (grows the query set if needed; not per step).
   * @param passes - Number of dispatches (one pass each) in the coming run.
   */
  begin(passes: number): void {
    if (passes > this.capacity) {
      this.destroy();
      this.capacity = passes;
      this.allocate();
    }
    this.labels = [];
    this.count = passes;
  }

  /**
   * The `timestampWrites` of dispatch `i`'s compute pass (called by {@link Gpu.run}).
   * @param i - Index of the dispatch in the run, below the count given to `begin`.
   * @param label - Label reported for it by `read`.
   */
  writes(i: number, label: string): GPUComputePassTimestampWrites {
    this.labels[i] = label;
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  /**
   * Records the resolve of this run's queries into the profiler's buffer (after the last pass).
   * @param encoder - The run's command encoder.
   */
  resolve(encoder: GPUCommandEncoder): void {
    encoder.resolveQuerySet(this.querySet, 0, 2 * this.count, this.resolveBuffer, 0);
  }

  /** Reads back the times of the last profiled run (waits for it to finish). */
  async read(): Promise<GpuTimings> {
    const raw = new BigUint64Array(await this.gpu.readBuffer(this.resolveBuffer, 0, 16 * this.count));
    const kernels = this.labels.map((label, i) => ({ label, ms: Number(raw[2 * i + 1] - raw[2 * i]) / 1e6 }));
    const totalMs = this.count ? Number(raw[2 * this.count - 1] - raw[0]) / 1e6 : 0;
    return { totalMs, kernels };
  }

  /** Destroys the query set and its buffer; the profiler cannot be used afterwards. */
  destroy(): void {
    this.querySet.destroy();
    this.resolveBuffer.destroy();
  }
}
