// Device-level buffer accounting: every `device.createBuffer` and every `buffer.destroy()` on a
// Gpu's device is counted (the pool's, the dummy buffer, a profiler's, a caller's own), so a test
// can assert that a loop leaves the live buffer count and bytes flat. The wrapper is installed on
// the device object itself when a Gpu takes it over (and again on the device recover() opens);
// it adds one counter update per buffer created or destroyed, nothing per dispatch. The pool's
// evictions (BufferPool.maxFreeBytes) and trims are destroy() calls: counted here too.
import type { PoolStats } from './pool.js';

/** What {@link Gpu.memory} reports. */
export interface MemoryStats {
  /** Buffers created on the current device and not yet destroyed. */
  liveBuffers: number;
  /** Bytes of those buffers. */
  liveBytes: number;
  /** `createBuffer` calls on the current device since it was opened. */
  created: number;
  /** `destroy()` calls (of live buffers) on the current device since it was opened. */
  destroyed: number;
  /**
   * The pool's own counters (a copy): buffers it holds, free and in use. `pool.freeBytes` (kept
   * for reuse) never exceeds `gpu.pool.maxFreeBytes`, so `liveBytes` is at most the bytes in use
   * (`pool.liveBytes - pool.freeBytes`), the cap and the few buffers made outside the pool.
   */
  pool: PoolStats;
}

/** Counters of one device, updated by the wrapped `createBuffer` / `destroy`. */
export interface BufferCounter {
  liveBuffers: number;
  liveBytes: number;
  created: number;
  destroyed: number;
}

/** Wraps `device.createBuffer` (and each created buffer's `destroy`) to count them; returns the counters. */
export function trackBuffers(device: GPUDevice): BufferCounter {
  const counter: BufferCounter = { liveBuffers: 0, liveBytes: 0, created: 0, destroyed: 0 };
  // The prototype's methods are looked up at each call, not bound once: a profiler or memory
  // tracker that patches GPUDevice / GPUBuffer prototypes later (bench/gpuMemory.ts) still sees
  // every buffer.
  const proto = Object.getPrototypeOf(device) as GPUDevice;
  device.createBuffer = (descriptor: GPUBufferDescriptor): GPUBuffer => {
    const buffer = proto.createBuffer.call(device, descriptor);
    const size = buffer.size;
    counter.created++;
    counter.liveBuffers++;
    counter.liveBytes += size;
    const bufferProto = Object.getPrototypeOf(buffer) as GPUBuffer;
    let alive = true;
    buffer.destroy = (): undefined => {
      if (alive) {
        alive = false;
        counter.destroyed++;
        counter.liveBuffers--;
        counter.liveBytes -= size;
      }
      return bufferProto.destroy.call(buffer);
    };
    return buffer;
  };
  return counter;
}
