import { GpuError } from './errors.js';

/** Counters a test can assert: a steady-state loop must leave `created` unchanged. */
export interface PoolStats {
  /** Buffers created by `device.createBuffer` since the pool was made. */
  created: number;
  /** Acquisitions served from the free list instead of a new buffer. */
  reused: number;
  /** Buffers alive now (in use or free). */
  live: number;
  /** Bytes of the buffers counted in `live` (sizes after rounding to 16 bytes). */
  liveBytes: number;
  /** Buffers handed out and not yet released. */
  inUse: number;
}

/**
 * A buffer pool keyed by (usage, byte size). `acquire` returns a free buffer of exactly that
 * size and usage if one exists, else creates one; `release` puts it back. Sizes are rounded up
 * to a multiple of 16 bytes so buffers can be bound as `array<vec4<f32>>`.
 *
 * Reuse is safe without fences: every write into a pooled buffer goes through the same queue
 * as the work that used it before, so it is ordered after that work.
 */
export class BufferPool {
  private free = new Map<string, GPUBuffer[]>();
  private owned = new Set<GPUBuffer>();
  private busy = new Set<GPUBuffer>();
  /** Buffers of a lost device dropped by {@link rebind}: releasing one later is a no-op. */
  private stale = new WeakSet<GPUBuffer>();
  /** Live counters of this pool (the same object, updated in place). */
  readonly stats: PoolStats = { created: 0, reused: 0, live: 0, liveBytes: 0, inUse: 0 };

  /**
   * A pool serving `device`; {@link Gpu} makes one per device (`gpu.pool`).
   * @param device - The device whose buffers the pool creates.
   */
  constructor(private device: GPUDevice) {}

  /**
   * The size a buffer of `byteLength` bytes gets: rounded up to a multiple of 16, at least 16.
   * @param byteLength - Requested size in bytes.
   * @returns The byte size `acquire` would create.
   */
  static roundSize(byteLength: number): number {
    return Math.max(16, Math.ceil(byteLength / 16) * 16);
  }

  /**
   * A buffer of at least `byteLength` bytes (rounded by {@link BufferPool.roundSize}) and exactly
   * `usage`: a free one of that (usage, size) if there is one, else a new one. Its contents are
   * whatever it held before. Give it back with {@link BufferPool.release}.
   * @param byteLength - Bytes needed.
   * @param usage - `GPUBufferUsage` flags (combined with `|`).
   * @param label - Label of a newly created buffer (shows in WebGPU error messages).
   * @returns A buffer owned by the pool and marked in use.
   */
  acquire(byteLength: number, usage: number, label = 'seqgpu'): GPUBuffer {
    const size = BufferPool.roundSize(byteLength);
    const list = this.free.get(`${usage}:${size}`);
    let buffer = list?.pop();
    if (buffer) {
      this.stats.reused++;
    } else {
      buffer = this.device.createBuffer({ size, usage, label });
      this.owned.add(buffer);
      this.stats.created++;
      this.stats.live++;
      this.stats.liveBytes += size;
    }
    this.busy.add(buffer);
    this.stats.inUse = this.busy.size;
    return buffer;
  }

  /**
   * Puts a buffer from {@link BufferPool.acquire} back on the free list for reuse (it is not
   * destroyed). Releasing a buffer of a device dropped by {@link BufferPool.rebind} does nothing.
   * @param buffer - A buffer this pool handed out and that is still in use.
   * @throws GpuError if `buffer` is not in use by this pool (released twice, or not from this
   *   pool).
   */
  release(buffer: GPUBuffer): void {
    if (this.stale.has(buffer)) return;
    if (!this.busy.delete(buffer)) {
      throw new GpuError(`BufferPool.release: buffer '${buffer.label}' is not in use by this pool (released twice?)`);
    }
    this.stats.inUse = this.busy.size;
    const key = `${buffer.usage}:${buffer.size}`;
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    list.push(buffer);
  }

  /** Destroys every free buffer (buffers in use are kept). */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) this.drop(b);
    this.free.clear();
  }

  /** Destroys every buffer the pool ever created, in use or not. */
  destroy(): void {
    this.trim();
    for (const b of [...this.owned]) this.drop(b);
    this.busy.clear();
    this.stats.inUse = 0;
  }

  /**
   * After a device loss: forgets (and destroys) every buffer of the old device and serves
   * `device` from now on. Owners may still release their old buffers: that is a no-op.
   * @param device - The new device; later acquisitions create their buffers on it.
   */
  rebind(device: GPUDevice): void {
    for (const b of this.owned) this.stale.add(b);
    this.destroy();
    this.device = device;
  }

  private drop(b: GPUBuffer): void {
    if (!this.owned.delete(b)) return;
    this.stats.live--;
    this.stats.liveBytes -= b.size;
    b.destroy();
  }
}
