import { ArgumentError, GpuError } from '../util/errors.js';

/**
 * Counters a test can assert: a steady-state loop must leave `created` (and `destroyed`)
 * unchanged. `live = inUse + free` and `liveBytes = bytes in use + freeBytes` at all times.
 */
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
  /** Buffers on the free list now (released, kept for reuse, not destroyed). */
  free: number;
  /** Bytes of the buffers counted in `free`; never more than {@link BufferPool.maxFreeBytes}. */
  freeBytes: number;
  /**
   * Buffers the pool destroyed since it was made: evicted by the cap, dropped by
   * {@link BufferPool.trim}, {@link BufferPool.destroy} or {@link BufferPool.rebind}.
   */
  destroyed: number;
  /** The part of `destroyed` that {@link BufferPool.maxFreeBytes} evicted (least recently released first). */
  evicted: number;
}

/**
 * A buffer pool keyed by (usage, byte size). `acquire` returns a free buffer of exactly that
 * size and usage if one exists, else creates one; `release` puts it back. Sizes are rounded up
 * to a multiple of 16 bytes so buffers can be bound as `array<vec4<f32>>`, and no further:
 * buffers are bound whole and read back by their `size` in places, so a larger buffer than
 * asked for would change a binding's size (and its check against the device's binding limits).
 *
 * The free list is bounded by {@link BufferPool.maxFreeBytes} (default
 * {@link BufferPool.DEFAULT_MAX_FREE_BYTES}, 64 MiB): when a release takes it past the cap, the
 * least recently released free buffers are destroyed until it fits. So the pool's live bytes are
 * at most the bytes in use plus the cap, however many distinct sizes a workload goes through
 * (e.g. a model trained on many sequence lengths, whose evicted plans release buffers of sizes
 * that never come back). Measured (test/node/memoryBound.test.ts, SwiftShader): a 2-layer LSTM
 * language model (vocab 11, embedding 4, hidden 8, batch 2, Adam) trained one step on each
 * sequence length 1..100 holds 2.14 MB in use at length 100 (parameters, optimizer state and its
 * plan caches full); with a 1 MiB cap it peaks at 3.19 MB live, and forward-only at 3.16 MB;
 * with no cap it reaches 12.8 MB (13.3 MB forward-only), 11 MB of it free buffers of sizes never
 * asked for again, and keeps growing with every new length. With the default cap the bound for
 * such a model is 64 MiB plus what it holds in use.
 *
 * Reuse is safe without fences: every write into a pooled buffer goes through the same queue
 * as the work that used it before, so it is ordered after that work. Destroying a released
 * buffer is safe too: work already submitted that uses it still completes.
 */
export class BufferPool {
  /** The default {@link BufferPool.maxFreeBytes}: 64 MiB of free buffers kept for reuse. */
  static readonly DEFAULT_MAX_FREE_BYTES = 64 * 1024 * 1024;

  private free = new Map<string, GPUBuffer[]>();
  /** Every free buffer with its free-list key, in release order (oldest first: evicted first). */
  private lru = new Map<GPUBuffer, string>();
  private owned = new Set<GPUBuffer>();
  private busy = new Set<GPUBuffer>();
  /** Buffers of a lost device dropped by {@link rebind}: releasing one later is a no-op. */
  private stale = new WeakSet<GPUBuffer>();
  private cap: number;
  /** Live counters of this pool (the same object, updated in place). */
  readonly stats: PoolStats = {
    created: 0,
    reused: 0,
    live: 0,
    liveBytes: 0,
    inUse: 0,
    free: 0,
    freeBytes: 0,
    destroyed: 0,
    evicted: 0,
  };

  /**
   * A pool serving `device`; {@link Gpu} makes one per device (`gpu.pool`, whose cap is set with
   * `gpu.pool.maxFreeBytes = …`).
   * @param device - The device whose buffers the pool creates.
   * @param opts - `maxFreeBytes`: the cap on free bytes kept for reuse (see
   *   {@link BufferPool.maxFreeBytes}); {@link BufferPool.DEFAULT_MAX_FREE_BYTES} by default.
   * @throws ArgumentError if `maxFreeBytes` is not a number ≥ 0.
   */
  constructor(
    private device: GPUDevice,
    opts: { maxFreeBytes?: number } = {},
  ) {
    this.cap = BufferPool.checkCap(
      opts.maxFreeBytes ?? BufferPool.DEFAULT_MAX_FREE_BYTES,
      'new BufferPool: maxFreeBytes',
    );
  }

  /**
   * The most bytes of released buffers the pool keeps for reuse (`Infinity`: no cap, every
   * released buffer is kept; `0`: every released buffer is destroyed at once). Setting it lower
   * destroys the least recently released free buffers until the free list fits.
   * @throws ArgumentError when set to a negative number, NaN or a non-number.
   */
  get maxFreeBytes(): number {
    return this.cap;
  }

  set maxFreeBytes(bytes: number) {
    this.cap = BufferPool.checkCap(bytes, 'BufferPool.maxFreeBytes');
    this.evict();
  }

  private static checkCap(bytes: unknown, what: string): number {
    if (typeof bytes !== 'number' || Number.isNaN(bytes) || bytes < 0) {
      throw new ArgumentError(`${what} must be a number of bytes ≥ 0 (Infinity for no cap), got ${String(bytes)}`);
    }
    return bytes;
  }

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
   * `usage`: a free one of that (usage, size) if there is one (the most recently released), else
   * a new one. Its contents are whatever it held before. Give it back with {@link BufferPool.release}.
   * @param byteLength - Bytes needed.
   * @param usage - `GPUBufferUsage` flags (combined with `|`).
   * @param label - Label of a newly created buffer (shows in WebGPU error messages).
   * @returns A buffer owned by the pool and marked in use.
   */
  acquire(byteLength: number, usage: number, label = 'seqgpu'): GPUBuffer {
    const size = BufferPool.roundSize(byteLength);
    const key = `${usage}:${size}`;
    const list = this.free.get(key);
    let buffer = list?.pop();
    if (buffer) {
      if (list!.length === 0) this.free.delete(key);
      this.lru.delete(buffer);
      this.stats.free--;
      this.stats.freeBytes -= buffer.size;
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
   * Puts a buffer from {@link BufferPool.acquire} back on the free list for reuse; if that takes
   * the free list past {@link BufferPool.maxFreeBytes}, the least recently released free buffers
   * (this one last) are destroyed until it fits. Releasing a buffer of a device dropped by
   * {@link BufferPool.rebind} does nothing.
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
    this.lru.set(buffer, key);
    this.stats.free++;
    this.stats.freeBytes += buffer.size;
    this.evict();
  }

  /** Destroys every free buffer (buffers in use are kept). */
  trim(): void {
    for (const b of this.lru.keys()) this.drop(b);
    this.free.clear();
    this.lru.clear();
    this.stats.free = 0;
    this.stats.freeBytes = 0;
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

  /** Destroys the least recently released free buffers until the free bytes fit the cap. */
  private evict(): void {
    while (this.stats.freeBytes > this.cap) {
      const [b, key] = this.lru.entries().next().value as [GPUBuffer, string];
      this.lru.delete(b);
      // Each key's list is in release order too, so the oldest free buffer is first in its list.
      const list = this.free.get(key)!;
      list.splice(list.indexOf(b), 1);
      if (list.length === 0) this.free.delete(key);
      this.stats.free--;
      this.stats.freeBytes -= b.size;
      this.stats.evicted++;
      this.drop(b);
    }
  }

  private drop(b: GPUBuffer): void {
    if (!this.owned.delete(b)) return;
    this.stats.live--;
    this.stats.liveBytes -= b.size;
    this.stats.destroyed++;
    b.destroy();
  }
}
