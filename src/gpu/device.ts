import { BufferPool } from './pool.js';
import { GpuError } from './errors.js';
import { KernelSource, resolveIncludes, type OverrideValues } from './kernel.js';
import { encodeDispatches, type Dispatch } from './dispatch.js';
import { BufferUsage, MapMode, READBACK_USAGE, UNIFORM_USAGE } from './flags.js';
import { Profiler, type GpuTimings } from './profiler.js';
import { SHADERS } from '../shaders.js';

/** Options for {@link requestGpu}. */
export interface RequestGpuOptions {
  /** A `navigator.gpu`-like object to use instead of the platform's. */
  gpu?: GPU;
  powerPreference?: GPUPowerPreference;
  /**
   * `'adapter'` (default) requests the adapter's own limits for the ones seqgpu uses;
   * `'default'` keeps WebGPU's default limits (what the most modest device guarantees).
   */
  limits?: 'adapter' | 'default';
  /** Optional features are requested when the adapter has them unless turned off here. */
  disableFeatures?: Array<'timestamp-query' | 'subgroups' | 'shader-f16'>;
  /** Dawn toggles for Node, passed to `webgpu`'s `create()`, e.g. `'enable-dawn-features=...'`. */
  nodeFlags?: string[];
}

/** Counts a test can assert: they are deterministic for a given workload. */
export interface GpuStats {
  submits: number;
  dispatches: number;
  pipelinesCreated: number;
}

/** The adapter limits seqgpu reads and requests. */
const LIMIT_NAMES = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
  'maxUniformBufferBindingSize',
] as const;
export type LimitName = (typeof LIMIT_NAMES)[number];

const OPTIONAL_FEATURES = ['timestamp-query', 'subgroups', 'shader-f16'] as const;

function isNode(): boolean {
  return typeof process !== 'undefined' && !!process.versions?.node;
}

async function platformGpu(opts: RequestGpuOptions): Promise<GPU> {
  if (opts.gpu) return opts.gpu;
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  if (isNode()) {
    let mod: { create(flags: string[]): GPU };
    try {
      const spec = 'webgpu'; // a variable keeps bundlers from pulling Dawn into browser builds
      mod = await import(/* @vite-ignore */ /* webpackIgnore: true */ spec);
    } catch (e) {
      throw new GpuError(
        `seqgpu: Node has no WebGPU. Install Dawn's bindings: \`npm install webgpu\` (${(e as Error).message})`,
      );
    }
    return mod.create(opts.nodeFlags ?? []);
  }
  throw new GpuError(
    'seqgpu: WebGPU is not available here (navigator.gpu is undefined). Use a browser with WebGPU ' +
      '(Chrome/Edge 113+, Safari 26+, Firefox 141+) on https or localhost; headless Chromium needs ' +
      '--enable-unsafe-webgpu (and, without a GPU, a SwiftShader Vulkan driver, shipped with Debian\'s chromium).',
  );
}

function noAdapterMessage(): string {
  return isNode()
    ? 'seqgpu: Dawn found no WebGPU adapter. Install a Vulkan driver: on a machine without a GPU, ' +
        '`apt-get install chromium` and set VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json ' +
        '(tools/with-swiftshader.sh does this); with a GPU, its vendor Vulkan driver. Do not rely on ' +
        "Mesa's lavapipe: Dawn rejects it."
    : 'seqgpu: navigator.gpu.requestAdapter() returned null. In headless Chromium pass ' +
        '--enable-unsafe-webgpu; on Linux without a GPU Chromium needs SwiftShader (Debian\'s chromium ' +
        'ships it); check chrome://gpu for "WebGPU: Hardware accelerated" or a blocklist entry.';
}

/**
 * Opens a WebGPU device in the browser (`navigator.gpu`) or in Node (Dawn's `webgpu`
 * package), with the optional features seqgpu can use when the adapter has them.
 */
export async function requestGpu(opts: RequestGpuOptions = {}): Promise<Gpu> {
  const gpu = await platformGpu(opts);
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference });
  if (!adapter) throw new GpuError(noAdapterMessage());
  const requiredFeatures = OPTIONAL_FEATURES.filter(
    (f) => adapter.features.has(f) && !opts.disableFeatures?.includes(f),
  ) as GPUFeatureName[];
  const requiredLimits: Record<string, number> = {};
  if ((opts.limits ?? 'adapter') === 'adapter') {
    for (const k of LIMIT_NAMES) requiredLimits[k] = adapter.limits[k];
  }
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits, label: 'seqgpu' });
  return new Gpu(gpu, adapter, device);
}

/**
 * A WebGPU device and everything seqgpu owns on it: the buffer pool, the kernels (reflected
 * from WGSL) and the pipeline cache. Call {@link Gpu.destroy} when done.
 */
export class Gpu {
  readonly pool: BufferPool;
  readonly stats: GpuStats = { submits: 0, dispatches: 0, pipelinesCreated: 0 };
  readonly features: { timestampQuery: boolean; subgroups: boolean; shaderF16: boolean };
  readonly limits: Record<LimitName, number>;
  readonly adapterInfo: { vendor: string; architecture: string; device: string; description: string; isFallbackAdapter: boolean };
  /** Resolves when the device is lost (including by {@link Gpu.destroy}). */
  readonly lost: Promise<GPUDeviceLostInfo>;
  private lostInfo: GPUDeviceLostInfo | null = null;
  private destroyed = false;
  private errors: string[] = [];
  private errorListeners = new Set<(message: string) => void>();
  private kernels = new Map<string, { source: KernelSource; layout: GPUBindGroupLayout; pipelineLayout: GPUPipelineLayout }>();
  private pipelines = new Map<string, GPUComputePipeline>();
  private dummy: GPUBuffer | null = null;

  constructor(
    /** Kept so the platform object (Dawn's instance in Node) lives as long as the device. */
    readonly platform: GPU,
    readonly adapter: GPUAdapter,
    readonly device: GPUDevice,
  ) {
    this.pool = new BufferPool(device);
    const f = device.features;
    this.features = { timestampQuery: f.has('timestamp-query'), subgroups: f.has('subgroups'), shaderF16: f.has('shader-f16') };
    this.limits = Object.fromEntries(LIMIT_NAMES.map((k) => [k, device.limits[k]])) as Record<LimitName, number>;
    const info = adapter.info ?? ({} as GPUAdapterInfo);
    this.adapterInfo = {
      vendor: info.vendor ?? '',
      architecture: info.architecture ?? '',
      device: info.device ?? '',
      description: info.description ?? '',
      isFallbackAdapter: (info as { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false,
    };
    device.addEventListener('uncapturederror', (ev) => {
      const err = (ev as GPUUncapturedErrorEvent).error;
      const message = `${err.constructor?.name ?? 'GPUError'}: ${err.message}`;
      this.errors.push(message);
      if (this.errorListeners.size === 0) console.error(`seqgpu: uncaptured WebGPU error: ${message}`);
      for (const l of this.errorListeners) l(message);
    });
    this.lost = device.lost.then((info) => {
      this.lostInfo = info;
      if (!this.destroyed) console.error(`seqgpu: WebGPU device lost (${info.reason}): ${info.message}`);
      return info;
    });
  }

  /** Calls `listener` with each uncaptured GPU error (they are also thrown at the next readback). */
  onError(listener: (message: string) => void): () => void {
    this.errorListeners.add(listener);
    return () => this.errorListeners.delete(listener);
  }

  /** Throws if the device is lost or destroyed. */
  assertUsable(): void {
    if (this.destroyed) throw new GpuError('seqgpu: this Gpu was destroyed');
    if (this.lostInfo) {
      throw new GpuError(`seqgpu: the WebGPU device was lost (${this.lostInfo.reason}): ${this.lostInfo.message}. Create a new one with requestGpu().`);
    }
  }

  /** Throws a {@link GpuError} listing the GPU errors reported since the last check. */
  throwIfFailed(): void {
    this.assertUsable();
    if (this.errors.length === 0) return;
    const list = this.errors.splice(0);
    throw new GpuError(`seqgpu: the GPU reported ${list.length} error(s): ${list.join(' | ')}`);
  }

  /** The reflected kernel `name` (a file in shaders/) and its bind group layout. */
  kernel(name: string) {
    let k = this.kernels.get(name);
    if (!k) {
      const source = new KernelSource(name, resolveIncludes(name, SHADERS));
      const layout = this.device.createBindGroupLayout({ label: name, entries: source.layoutEntries() });
      const pipelineLayout = this.device.createPipelineLayout({ label: name, bindGroupLayouts: [layout] });
      k = { source, layout, pipelineLayout };
      this.kernels.set(name, k);
    }
    return k;
  }

  /** The compute pipeline for `name` with `constants`, created once per key and cached. */
  pipeline(name: string, constants: OverrideValues = {}): GPUComputePipeline {
    const key = `${name}|${Object.keys(constants).sort().map((k) => `${k}=${constants[k]}`).join(',')}`;
    let p = this.pipelines.get(key);
    if (!p) {
      this.assertUsable();
      const k = this.kernel(name);
      const module = this.device.createShaderModule({ label: name, code: k.source.code });
      p = this.device.createComputePipeline({
        label: key,
        layout: k.pipelineLayout,
        compute: { module, entryPoint: k.source.entryPoint, constants: k.source.constants(constants) },
      });
      this.pipelines.set(key, p);
      this.stats.pipelinesCreated++;
    }
    return p;
  }

  /** A uniform buffer (from the pool) holding `values` laid out as kernel `name`'s `binding` struct. */
  uniform(name: string, binding: string, values: Record<string, number>): GPUBuffer {
    const data = this.kernel(name).source.packUniform(binding, values);
    const buf = this.pool.acquire(data.byteLength, UNIFORM_USAGE, `${name}.${binding}`);
    this.device.queue.writeBuffer(buf, 0, data);
    return buf;
  }

  /** A bind group for kernel `name`, resources given by their WGSL names. */
  bindGroup(name: string, resources: Record<string, GPUBuffer | GPUBufferBinding>): GPUBindGroup {
    const k = this.kernel(name);
    const known = new Set(k.source.bindings.map((b) => b.name));
    for (const r of Object.keys(resources)) {
      if (!known.has(r)) throw new GpuError(`${name}: no binding named '${r}'; bindings: ${[...known].join(', ')}`);
    }
    const entries = k.source.bindings.map((b) => {
      const r = resources[b.name];
      if (!r) throw new GpuError(`${name}: binding '${b.name}' was not given`);
      return { binding: b.binding, resource: 'buffer' in r ? r : { buffer: r } };
    });
    return this.device.createBindGroup({ label: name, layout: k.layout, entries });
  }

  /** A 16-byte buffer bound where a kernel's optional input is switched off by an override. */
  get dummyBuffer(): GPUBuffer {
    if (!this.dummy) this.dummy = this.device.createBuffer({ size: 16, usage: BufferUsage.STORAGE, label: 'seqgpu.dummy' });
    return this.dummy;
  }

  /**
   * Encodes `dispatches` into one command buffer and submits it once. With a `profiler`,
   * each dispatch runs in its own pass bracketed by timestamp queries.
   */
  run(dispatches: readonly Dispatch[], profiler?: Profiler): void {
    this.assertUsable();
    const encoder = this.device.createCommandEncoder({ label: 'seqgpu.run' });
    if (profiler) {
      profiler.begin(dispatches.length);
      dispatches.forEach((d, i) => {
        const pass = encoder.beginComputePass({ label: d.label, timestampWrites: profiler.writes(i, d.label) });
        encodeDispatches(pass, [d]);
        pass.end();
      });
      profiler.resolve(encoder);
    } else {
      const pass = encoder.beginComputePass({ label: 'seqgpu.run' });
      encodeDispatches(pass, dispatches);
      pass.end();
    }
    this.submit(encoder, dispatches.length);
    for (const d of dispatches) for (const b of d.transient ?? []) this.pool.release(b);
  }

  /** Finishes `encoder` and submits it; counts the submit and its `dispatches`. */
  submit(encoder: GPUCommandEncoder, dispatches: number): void {
    this.device.queue.submit([encoder.finish()]);
    this.stats.submits++;
    this.stats.dispatches += dispatches;
  }

  /** Copies `byteLength` bytes of `buffer` back to the CPU. Surfaces pending GPU errors. */
  async readBuffer(buffer: GPUBuffer, byteOffset = 0, byteLength = buffer.size - byteOffset): Promise<ArrayBuffer> {
    this.assertUsable();
    const size = Math.ceil(byteLength / 4) * 4;
    const staging = this.pool.acquire(size, READBACK_USAGE, 'seqgpu.readback');
    try {
      const encoder = this.device.createCommandEncoder({ label: 'seqgpu.readback' });
      encoder.copyBufferToBuffer(buffer, byteOffset, staging, 0, size);
      this.device.queue.submit([encoder.finish()]);
      this.stats.submits++;
      await staging.mapAsync(MapMode.READ, 0, size);
      const out = staging.getMappedRange(0, size).slice(0, byteLength);
      staging.unmap();
      this.throwIfFailed();
      return out;
    } catch (e) {
      if (this.lostInfo || this.destroyed) this.assertUsable();
      this.throwIfFailed();
      throw e;
    } finally {
      if (!this.destroyed) this.pool.release(staging);
    }
  }

  /** Waits until the GPU has finished all submitted work; surfaces pending GPU errors. */
  async sync(): Promise<void> {
    this.assertUsable();
    await this.device.queue.onSubmittedWorkDone();
    this.throwIfFailed();
  }

  /** A profiler bound to this device, or null when the adapter has no `timestamp-query`. */
  createProfiler(capacity = 64): Profiler | null {
    return this.features.timestampQuery ? new Profiler(this, capacity) : null;
  }

  /** Destroys every buffer and the device. The Gpu is unusable afterwards. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.pool.destroy();
    this.dummy?.destroy();
    this.pipelines.clear();
    this.kernels.clear();
    this.device.destroy();
  }
}

export type { GpuTimings };
