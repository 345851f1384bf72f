// Peak GPU memory for benchmark rows, measured the same way for every implementation in the
// page/process: `createBuffer` on the GPUDevice prototype and `destroy` on the GPUBuffer prototype
// are wrapped, so every buffer any library creates (seqgpu, TensorFlow.js, onnxruntime-web's
// wasm through its WebGPU bindings) is counted while it lives, per device (each library opens its
// own device). A buffer dropped without destroy() stops counting when the garbage collector
// finalizes it. Textures and query sets are not counted (none of the benchmarked paths use
// textures; query sets are a few bytes).
//
// What a number means: the largest sum of live buffer bytes on one device reached in a region,
// INCLUDING buffers the library keeps in its own pool or cache (tfjs's free list, seqgpu's pool,
// ORT's buffer cache) and buffers created before the region that are still alive.

interface DeviceMemory {
  live: number;
  peak: number;
  buffers: number;
}

interface BufferRecord {
  memory: DeviceMemory;
  size: number;
  freed: boolean;
}

/** Live and peak buffer bytes of one device. */
export interface MemorySnapshot {
  liveBytes: number;
  peakBytes: number;
  liveBuffers: number;
}

type CreateBuffer = (this: GPUDevice, descriptor: GPUBufferDescriptor) => GPUBuffer;

const PATCHED = Symbol.for('seqgpu.bench.gpuMemory');

export class GpuMemoryTracker {
  /** Per device; a Map (devices are held): ORT opens a device per session, found by diffing this list. */
  private readonly devices = new Map<object, DeviceMemory>();
  private readonly buffers = new WeakMap<object, BufferRecord>();
  private readonly patchedBufferProtos = new Set<object>();
  private readonly finalizer =
    typeof FinalizationRegistry === 'function' ? new FinalizationRegistry<BufferRecord>((r) => this.free(r)) : null;

  /**
   * Wraps `deviceProto.createBuffer` (GPUDevice.prototype in a browser; the prototype of any
   * device in Node/Dawn). The GPUBuffer prototype is patched when the first buffer comes back.
   * Buffers created before this call are not counted (their destroy is ignored).
   */
  static install(deviceProto: object): GpuMemoryTracker {
    const proto = deviceProto as { createBuffer: CreateBuffer; [PATCHED]?: GpuMemoryTracker };
    if (proto[PATCHED]) return proto[PATCHED];
    const tracker = new GpuMemoryTracker();
    const original = proto.createBuffer;
    proto.createBuffer = function (this: GPUDevice, descriptor: GPUBufferDescriptor): GPUBuffer {
      const buffer = original.call(this, descriptor);
      tracker.track(this, buffer, Number(descriptor.size));
      return buffer;
    };
    Object.defineProperty(proto, PATCHED, { value: tracker, configurable: true });
    return tracker;
  }

  private memory(device: object): DeviceMemory {
    let m = this.devices.get(device);
    if (!m) this.devices.set(device, (m = { live: 0, peak: 0, buffers: 0 }));
    return m;
  }

  private track(device: object, buffer: GPUBuffer, size: number): void {
    const bufferProto = Object.getPrototypeOf(buffer) as { destroy: (this: GPUBuffer) => void } | null;
    if (bufferProto && !this.patchedBufferProtos.has(bufferProto)) {
      this.patchedBufferProtos.add(bufferProto);
      const destroy = bufferProto.destroy;
      const buffers = this.buffers;
      const self = this;
      bufferProto.destroy = function (this: GPUBuffer): void {
        const r = buffers.get(this);
        if (r) self.free(r);
        destroy.call(this);
      };
    }
    const memory = this.memory(device);
    const record: BufferRecord = { memory, size, freed: false };
    this.buffers.set(buffer, record);
    this.finalizer?.register(buffer, record);
    memory.live += size;
    memory.buffers++;
    memory.peak = Math.max(memory.peak, memory.live);
  }

  private free(r: BufferRecord): void {
    if (r.freed) return; // destroy() twice, or destroyed and later finalized
    r.freed = true;
    r.memory.live -= r.size;
    r.memory.buffers--;
  }

  /** Starts a measured region: the device's peak is reset to what is live now. */
  resetPeak(device: object): void {
    const m = this.memory(device);
    m.peak = m.live;
  }

  /** Every device that has created a buffer since {@link GpuMemoryTracker.install}. */
  knownDevices(): object[] {
    return [...this.devices.keys()];
  }

  snapshot(device: object): MemorySnapshot {
    const m = this.memory(device);
    return { liveBytes: m.live, peakBytes: m.peak, liveBuffers: m.buffers };
  }
}

/** "12.3 MiB" */
export function formatBytes(bytes: number): string {
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
