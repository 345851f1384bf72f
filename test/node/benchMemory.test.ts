// The benchmark's GPU memory tracker (bench/gpuMemory.ts): live and peak buffer bytes per device,
// on stand-in device/buffer classes and on a real Dawn device.
import { describe, expect, it } from 'vitest';
import { GpuMemoryTracker, formatBytes } from '../../bench/gpuMemory.js';
import { testGpu } from './gpu.js';

function fakeClasses() {
  class FakeBuffer {
    destroyed = 0;
    constructor(readonly size: number) {}
    destroy(): void {
      this.destroyed++;
    }
  }
  class FakeDevice {
    createBuffer(d: { size: number }): FakeBuffer {
      return new FakeBuffer(d.size);
    }
  }
  return { FakeBuffer, FakeDevice };
}

describe('GpuMemoryTracker', () => {
  it('counts live bytes per device, keeps the peak until reset, and ignores a second destroy', () => {
    const { FakeDevice } = fakeClasses();
    const a = new FakeDevice();
    const b = new FakeDevice();
    const untracked = a.createBuffer({ size: 1000 }); // before install: not counted
    const tracker = GpuMemoryTracker.install(FakeDevice.prototype);
    expect(GpuMemoryTracker.install(FakeDevice.prototype)).toBe(tracker); // idempotent
    const x = a.createBuffer({ size: 256 });
    const y = a.createBuffer({ size: 1024 });
    const z = b.createBuffer({ size: 64 });
    expect(tracker.snapshot(a)).toEqual({ liveBytes: 1280, peakBytes: 1280, liveBuffers: 2 });
    expect(tracker.snapshot(b)).toEqual({ liveBytes: 64, peakBytes: 64, liveBuffers: 1 });
    expect(tracker.knownDevices()).toEqual([a, b]);
    y.destroy();
    y.destroy();
    expect(y.destroyed).toBe(2); // the original destroy still runs
    untracked.destroy();
    expect(tracker.snapshot(a)).toEqual({ liveBytes: 256, peakBytes: 1280, liveBuffers: 1 });
    tracker.resetPeak(a);
    expect(tracker.snapshot(a).peakBytes).toBe(256);
    a.createBuffer({ size: 512 }).destroy();
    const w = a.createBuffer({ size: 128 });
    expect(tracker.snapshot(a)).toEqual({ liveBytes: 384, peakBytes: 768, liveBuffers: 2 });
    for (const buf of [x, w, z]) buf.destroy();
    expect(tracker.snapshot(a).liveBytes).toBe(0);
    expect(tracker.snapshot(b).liveBytes).toBe(0);
  });

  it('follows a real device: seqgpu pool buffers count until the pool is trimmed', async () => {
    const gpu = await testGpu();
    try {
      const tracker = GpuMemoryTracker.install(Object.getPrototypeOf(gpu.device));
      const start = tracker.snapshot(gpu.device).liveBytes;
      const usage = 0x80 | 0x04; // STORAGE | COPY_SRC (no GPUBufferUsage global in Node)
      const buf = gpu.pool.acquire(1 << 20, usage, 'test');
      expect(tracker.snapshot(gpu.device).liveBytes - start).toBe(1 << 20);
      gpu.pool.release(buf); // pooled: still live
      expect(tracker.snapshot(gpu.device).liveBytes - start).toBe(1 << 20);
      gpu.pool.trim();
      expect(tracker.snapshot(gpu.device).liveBytes).toBe(start);
      expect(tracker.snapshot(gpu.device).peakBytes).toBeGreaterThanOrEqual(start + (1 << 20));
    } finally {
      gpu.destroy();
    }
  });

  it('formats sizes', () => {
    expect(formatBytes(512)).toBe('0.5 KiB');
    expect(formatBytes(3 * 1024 * 1024 + 1024 * 512)).toBe('3.5 MiB');
  });
});
