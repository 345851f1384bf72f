import { BufferPool } from './pool.js';
import { checkRequestGpuOptions, type RequestGpuOptions } from './requestOptions.js';
import { ArgumentError, GpuError, GpuLostError, ShapeError } from '../util/errors.js';
import { trackBuffers, type BufferCounter, type MemoryStats } from './memory.js';
import {
  KernelSource,
  lookupShader,
  resolveIncludes,
  shaderName,
  type OverrideValues,
  type ShaderRef,
  type WgslShader,
} from './kernel.js';
import { encodeDispatches, type Dispatch } from './dispatch.js';
import { PendingPipeline } from './pendingPipeline.js';
import { BufferUsage, MapMode, READBACK_USAGE, UNIFORM_USAGE } from './flags.js';
import { Profiler, type GpuTimings } from './profiler.js';
import { isSoftwareAdapter, type GpuTuning } from './tuning.js';
import { dawnGpu, isNode, navigatorGpu, noWebGpuError, type PlatformGpu } from './platform.js';

export type { RequestGpuOptions } from './requestOptions.js';

/** Counts a test can assert: they are deterministic for a given workload. */
export interface GpuStats {
  /** Command buffers submitted (`gpu.run`, `gpu.submit`, readbacks). */
  submits: number;
  /** Compute dispatches submitted through `gpu.run` / `gpu.submit`. */
  dispatches: number;
  /** Compute pipelines compiled; flat once every (shader, constants) pair was seen. */
  pipelinesCreated: number;
  /** Of those, the ones compiled with `createComputePipelineAsync` ({@link Gpu.compilePipelines}). */
  pipelinesCreatedAsync: number;
  /** Shader modules compiled (one per kernel: its pipelines with other constants share it). */
  shaderModulesCreated: number;
}

/** A pipeline {@link Gpu.deferPipelines} saw requested and did not find compiled. */
export interface PipelineRequest {
  /** The cache key, `shader|constants`: also the pipeline's label. */
  readonly key: string;
  /** The kernel. */
  readonly shader: ShaderRef;
  /** Values of its `override` constants. */
  readonly constants: OverrideValues;
}

/** What {@link Gpu.compilePipelines} reports after each pipeline it compiled. */
export interface PipelineProgress {
  /** Pipelines compiled so far (1 … total; 0 only in the one report of an empty list). */
  done: number;
  /** Pipelines to compile. */
  total: number;
  /** The pipeline just compiled (its cache key, `shader|constants`). */
  label: string;
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
/** The device limits seqgpu reads and requests; `gpu.limits` holds their values. */
export type LimitName = (typeof LIMIT_NAMES)[number];

const OPTIONAL_FEATURES = ['timestamp-query', 'subgroups', 'shader-f16'] as const;

// From the sources (tests, demo pages), in the browser or in Node; the package's entries have one
// each (platform.browser.ts, platform.node.ts).
async function platformGpu(opts: RequestGpuOptions): Promise<GPU> {
  if (opts.gpu) return opts.gpu;
  const nav = navigatorGpu();
  if (nav) return nav;
  if (isNode()) {
    const spec = 'webgpu'; // a variable keeps bundlers from pulling Dawn into browser builds
    return dawnGpu(() => import(/* @vite-ignore */ /* webpackIgnore: true */ spec), opts.nodeFlags ?? []);
  }
  throw noWebGpuError();
}

function noAdapterMessage(): string {
  return isNode()
    ? 'seqgpu: Dawn found no WebGPU adapter. Install a Vulkan driver: on a machine without a GPU, ' +
        '`apt-get install chromium` and set VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json ' +
        '(tools/with-swiftshader.sh does this); with a GPU, its vendor Vulkan driver. Do not rely on ' +
        "Mesa's lavapipe: Dawn rejects it."
    : 'seqgpu: navigator.gpu.requestAdapter() returned null. In headless Chromium pass ' +
        "--enable-unsafe-webgpu; on Linux without a GPU Chromium needs SwiftShader (Debian's chromium " +
        'ships it); check chrome://gpu for "WebGPU: Hardware accelerated" or a blocklist entry.';
}

/**
 * Opens a WebGPU device in the browser (`navigator.gpu`) or in Node (Dawn's `webgpu`
 * package), with the optional features seqgpu can use when the adapter has them.
 * @param options - Where to find WebGPU, which limits and optional features to request.
 * @returns A {@link Gpu} wrapping the new device.
 * @throws GpuError saying what to install or which flag to pass when there is no WebGPU (no
 *   `navigator.gpu`, or in Node no `webgpu` package) or no adapter.
 * @example
 * ```ts
 * const gpu = await requestGpu();                   // navigator.gpu, or Dawn in Node
 * const small = await requestGpu({ limits: 'default' }); // what every WebGPU device guarantees
 * ```
 */
export function requestGpu(options: RequestGpuOptions = {}): Promise<Gpu> {
  return openGpu(platformGpu, options);
}

/** {@link requestGpu} with the `GPU` object from `platform` (each package entry has its own). */
export async function openGpu(platform: PlatformGpu, options: RequestGpuOptions): Promise<Gpu> {
  const opts = checkRequestGpuOptions(options);
  const gpu = await platform(opts);
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
  return new Gpu(gpu, adapter, device, opts);
}

/**
 * A WebGPU device and everything seqgpu owns on it: the buffer pool, the kernels (reflected
 * from WGSL) and the pipeline cache. Call {@link Gpu.destroy} when done.
 * @example
 * ```ts
 * const gpu = await requestGpu();
 * gpu.onError((message) => console.warn(message));   // uncaptured GPU errors
 * const a = Tensor.from(gpu, [1, 2, 3, 4], [2, 2]);
 * const c = matmul(gpu, a, a);                       // one dispatch, one submit
 * console.log(await c.read(), gpu.stats, gpu.memory());
 * gpu.destroy();
 * ```
 */
export class Gpu {
  /** The buffer pool every tensor, plan and layer on this device takes its buffers from. */
  readonly pool: BufferPool;
  /** Submit, dispatch and pipeline counters (the same object, updated in place). */
  readonly stats: GpuStats = {
    submits: 0,
    dispatches: 0,
    pipelinesCreated: 0,
    pipelinesCreatedAsync: 0,
    shaderModulesCreated: 0,
  };
  /** Which optional features the device has (requested when the adapter offers them). */
  readonly features: { timestampQuery: boolean; subgroups: boolean; shaderF16: boolean };
  /** The device's limits that seqgpu uses; kernels size their tiles and splits from these. */
  readonly limits: Record<LimitName, number>;
  /**
   * What the adapter says about itself (empty strings where it says nothing); `isFallbackAdapter`
   * is true for software adapters such as SwiftShader on some platforms.
   */
  readonly adapterInfo: {
    vendor: string;
    architecture: string;
    device: string;
    description: string;
    isFallbackAdapter: boolean;
    /** The adapter's smallest subgroup size (0 where it does not say). */
    subgroupMinSize: number;
    /** The adapter's largest subgroup size (0 where it does not say). */
    subgroupMaxSize: number;
  };
  /** The adapter runs shaders on the CPU (SwiftShader, llvmpipe, WARP): see {@link GpuTuning}. */
  readonly software: boolean;
  /** Adapter-dependent kernel choices (row-reduction widths); change them to force a variant. */
  readonly tuning: GpuTuning = {
    reductionWidth: 'auto',
    recurrentKernel: 'auto',
    persistentSteps: 1024,
    recurrentWeights: 'f32',
    recurrentMeasured: {},
    persistentSplit: 'auto',
    persistentSplitReduce: 'auto',
    persistentDirections: 'auto',
    persistentBackward: 'auto',
    backwardUnits: 'auto',
    backwardGates: 'auto',
    forwardUnits: 'auto',
    forwardRows: 'auto',
  };
  private lostInfo: GPUDeviceLostInfo | null = null;
  private destroyed = false;
  private errors: string[] = [];
  private errorListeners = new Set<(message: string) => void>();
  // Device loss and recovery (README "Device loss"): the device, its adapter, its lost promise and
  // its buffer counters are replaced by recover(); `generation` counts the devices opened.
  private _adapter: GPUAdapter;
  private _device: GPUDevice;
  private _lost!: Promise<GPUDeviceLostInfo>;
  private _generation = 0;
  private counter!: BufferCounter;
  private lostListeners = new Set<(info: GPUDeviceLostInfo) => void>();
  private recovering: Promise<boolean> | null = null;
  private kernels = new Map<
    string,
    {
      shader: WgslShader;
      source: KernelSource;
      layout: GPUBindGroupLayout;
      pipelineLayout: GPUPipelineLayout;
      module?: GPUShaderModule;
    }
  >();
  private pipelines = new Map<string, GPUComputePipeline>();
  // createComputePipelineAsync calls in flight, by key (one per key).
  private compiling = new Map<string, Promise<GPUComputePipeline>>();
  // While deferPipelines runs: the misses it saw, by key.
  private deferred: Map<string, PipelineRequest & { pending: PendingPipeline }> | null = null;
  private dummy: GPUBuffer | null = null;

  /**
   * Use {@link requestGpu}, which opens the adapter and device.
   * @param adapter - The adapter `device` came from.
   * @param device - An open device; the Gpu listens to its errors and loss and counts its buffers.
   */
  constructor(
    /** Kept so the platform object (Dawn's instance in Node) lives as long as the device. */
    readonly platform: GPU,
    adapter: GPUAdapter,
    device: GPUDevice,
    /** What requestGpu was given; recover() asks for an adapter with the same powerPreference. */
    private readonly requestOptions: RequestGpuOptions = {},
  ) {
    this._adapter = adapter;
    this._device = device;
    this.pool = new BufferPool(device);
    const f = device.features;
    this.features = {
      timestampQuery: f.has('timestamp-query'),
      subgroups: f.has('subgroups'),
      shaderF16: f.has('shader-f16'),
    };
    this.limits = Object.fromEntries(LIMIT_NAMES.map((k) => [k, device.limits[k]])) as Record<LimitName, number>;
    const info = adapter.info ?? ({} as GPUAdapterInfo);
    this.adapterInfo = {
      vendor: info.vendor ?? '',
      architecture: info.architecture ?? '',
      device: info.device ?? '',
      description: info.description ?? '',
      isFallbackAdapter: (info as { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false,
      subgroupMinSize: (info as { subgroupMinSize?: number }).subgroupMinSize ?? 0,
      subgroupMaxSize: (info as { subgroupMaxSize?: number }).subgroupMaxSize ?? 0,
    };
    this.software = isSoftwareAdapter(this.adapterInfo);
    this.attach(device);
  }

  /** Listens to `device`'s errors and loss, and counts its buffers. */
  private attach(device: GPUDevice): void {
    this.counter = trackBuffers(device);
    device.addEventListener('uncapturederror', (ev) => {
      if (device !== this._device) return;
      const err = (ev as GPUUncapturedErrorEvent).error;
      const message = `${err.constructor?.name ?? 'GPUError'}: ${err.message}`;
      this.errors.push(message);
      if (this.errorListeners.size === 0) console.error(`seqgpu: uncaptured WebGPU error: ${message}`);
      for (const l of this.errorListeners) l(message);
    });
    this._lost = device.lost.then((info) => {
      if (device !== this._device) return info;
      this.lostInfo = info;
      if (!this.destroyed) {
        if (this.lostListeners.size === 0)
          console.error(`seqgpu: WebGPU device lost (${info.reason}): ${info.message}`);
        for (const l of this.lostListeners) l(info);
      }
      return info;
    });
  }

  /** The WebGPU device (a new one after {@link Gpu.recover}). */
  get device(): GPUDevice {
    return this._device;
  }

  /** The adapter the current device came from. */
  get adapter(): GPUAdapter {
    return this._adapter;
  }

  /**
   * Resolves with the `GPUDeviceLostInfo` when the current device is lost — `reason` is
   * `'destroyed'` after `device.destroy()` (or {@link Gpu.destroy}), else `'unknown'` (driver
   * reset, GPU removed, out of memory). After {@link Gpu.recover} it is the new device's promise.
   * It never rejects.
   */
  get lost(): Promise<GPUDeviceLostInfo> {
    return this._lost;
  }

  /** True once the current device is lost, until {@link Gpu.recover} opens a new one. */
  get isLost(): boolean {
    return this.lostInfo !== null;
  }

  /**
   * Devices opened so far minus one: 0 for the first, +1 per {@link Gpu.recover}. Objects holding
   * GPU buffers remember the generation they were built on and refuse work on a later one until
   * their own `recover()`.
   */
  get generation(): number {
    return this._generation;
  }

  /**
   * Calls `listener` when a device of this Gpu is lost (not for {@link Gpu.destroy}), e.g. to
   * stop a training loop and call `model.recover()`. Returns a function that removes it. While a
   * listener is registered, a loss is not also logged with console.error.
   * @param listener - Called with the lost device's `GPUDeviceLostInfo`.
   */
  onLost(listener: (info: GPUDeviceLostInfo) => void): () => void {
    this.lostListeners.add(listener);
    return () => this.lostListeners.delete(listener);
  }

  /**
   * After a device loss: opens a new device (a new adapter from the same platform, with the lost
   * device's features and limits), drops every buffer, pipeline and kernel of the old one and
   * bumps {@link generation}. Resolves true when it opened one, false when the device was not
   * lost (nothing is done). Models, layers and tensors built before are not restored by this:
   * call their `recover()` (which calls this first), see README "Device loss". Concurrent calls
   * share one recovery.
   */
  recover(): Promise<boolean> {
    if (this.destroyed)
      return Promise.reject(new GpuError('seqgpu: this Gpu was destroyed; create a new one with requestGpu()'));
    if (this.recovering) return this.recovering;
    if (!this.lostInfo) return Promise.resolve(false);
    this.recovering = (async () => {
      const old = this._device;
      const adapter = await this.platform.requestAdapter({ powerPreference: this.requestOptions.powerPreference });
      if (!adapter)
        throw new GpuLostError(
          `seqgpu: recover() found no WebGPU adapter after the device was lost. ${noAdapterMessage()}`,
          this.lostInfo?.reason,
        );
      // The lost device's limits, within what this adapter offers (the same hardware: the same).
      const requiredLimits: Record<string, number> = {};
      for (const k in old.limits) {
        const v = (old.limits as unknown as Record<string, unknown>)[k];
        const a = (adapter.limits as unknown as Record<string, unknown>)[k];
        if (typeof v === 'number' && typeof a === 'number')
          requiredLimits[k] = k.startsWith('min') ? Math.max(v, a) : Math.min(v, a);
      }
      const requiredFeatures = [...old.features].filter((f) => adapter.features.has(f)) as GPUFeatureName[];
      const device = await adapter.requestDevice({ requiredFeatures, requiredLimits, label: 'seqgpu' });
      for (const k of LIMIT_NAMES) this.limits[k] = device.limits[k];
      this.pool.rebind(device);
      this.dummy = null;
      this.pipelines.clear();
      this.compiling.clear();
      this.kernels.clear();
      this.errors.length = 0;
      this._adapter = adapter;
      this._device = device;
      this._generation++;
      this.lostInfo = null;
      this.attach(device);
      return true;
    })().finally(() => {
      this.recovering = null;
    });
    return this.recovering;
  }

  /**
   * Live GPU buffers of the current device (every createBuffer minus every destroy, whoever
   * called them) and the pool's counters: a steady loop must leave `liveBuffers` and `liveBytes`
   * unchanged. Buffers in the pool's free list count as live until {@link BufferPool.trim}.
   */
  memory(): MemoryStats {
    return { ...this.counter, pool: { ...this.pool.stats } };
  }

  /**
   * Calls `listener` with each uncaptured GPU error (they are also thrown at the next readback).
   * @param listener - Called with `'<GPUError class>: <message>'` for each error.
   * @returns A function that removes the listener.
   */
  onError(listener: (message: string) => void): () => void {
    this.errorListeners.add(listener);
    return () => this.errorListeners.delete(listener);
  }

  /** Throws if the Gpu was destroyed, or a {@link GpuLostError} if its device is lost. */
  assertUsable(): void {
    if (this.destroyed) throw new GpuError('seqgpu: this Gpu was destroyed');
    if (this.lostInfo) {
      throw new GpuLostError(
        `seqgpu: the WebGPU device was lost ` +
          `(${this.lostInfo.reason})${this.lostInfo.message ? `: ${this.lostInfo.message}` : ''}. ` +
          ('Call `await model.recover()` (or `await gpu.recover()`) to continue on a new ' +
            'device, or create a new one with requestGpu().'),
        this.lostInfo.reason,
      );
    }
  }

  /** Throws a {@link GpuError} listing the GPU errors reported since the last check. */
  throwIfFailed(): void {
    this.assertUsable();
    if (this.errors.length === 0) return;
    const list = this.errors.splice(0);
    throw new GpuError(`seqgpu: the GPU reported ${list.length} error(s): ${list.join(' | ')}`);
  }

  /**
   * The reflected kernel and its bind group layout, made once per shader name.
   * @param shader - The kernel's WgslShader (what seqgpu's kernel modules pass), or the file name
   *   in `shaders/` of one the loaded modules define, e.g. `'matmul.wgsl'`.
   * @throws GpuError for an unknown shader, another shader under a name already in use, or one
   *   that fails reflection.
   */
  kernel(shader: ShaderRef) {
    const name = shaderName(shader);
    let k = this.kernels.get(name);
    if (k && typeof shader !== 'string' && k.shader !== shader && k.shader.code !== shader.code) {
      throw new GpuError(`two different shaders are named '${name}'`);
    }
    if (!k) {
      const wgsl = lookupShader(shader);
      const source = new KernelSource(name, resolveIncludes(wgsl));
      const layout = this.device.createBindGroupLayout({ label: name, entries: source.layoutEntries() });
      const pipelineLayout = this.device.createPipelineLayout({ label: name, bindGroupLayouts: [layout] });
      k = { shader: wgsl, source, layout, pipelineLayout };
      this.kernels.set(name, k);
    }
    return k;
  }

  /**
   * The compute pipeline for `shader` with `constants`, created once per key and cached. A miss
   * compiles it synchronously (`createComputePipeline`), except inside {@link deferPipelines}, where
   * it is recorded and a stand-in is returned; {@link compilePipelines} compiles ahead of use.
   * @param shader - The kernel (see {@link Gpu.kernel}).
   * @param constants - Values of its `override` constants (tile sizes, switches); the cache key.
   * @throws GpuError for an unknown shader or constant, or when the device is lost.
   */
  pipeline(shader: ShaderRef, constants: OverrideValues = {}): GPUComputePipeline {
    const key = pipelineKey(shader, constants);
    let p = this.pipelines.get(key);
    if (p) return p;
    this.assertUsable();
    const k = this.kernel(shader);
    const values = k.source.constants(constants);
    if (this.deferred) {
      let d = this.deferred.get(key);
      if (!d) {
        const pending = new PendingPipeline(key, () => this.compiledPipeline(key, shader, constants));
        d = { key, shader, constants: { ...constants }, pending };
        this.deferred.set(key, d);
      }
      return d.pending as unknown as GPUComputePipeline;
    }
    p = this.device.createComputePipeline(this.pipelineDescriptor(key, k, values));
    this.pipelines.set(key, p);
    this.stats.pipelinesCreated++;
    return p;
  }

  /** The cached pipeline `key`, compiled now (synchronously) when missing, deferring or not. */
  private compiledPipeline(key: string, shader: ShaderRef, constants: OverrideValues): GPUComputePipeline {
    const cached = this.pipelines.get(key);
    if (cached) return cached;
    const outer = this.deferred;
    this.deferred = null;
    try {
      return this.pipeline(shader, constants);
    } finally {
      this.deferred = outer;
    }
  }

  /**
   * {@link pipeline} compiled with `createComputePipelineAsync` (off the calling thread where the
   * implementation can); resolves at once for a cached pipeline and shares a compile in flight.
   * @param shader - The kernel (see {@link Gpu.kernel}).
   * @param constants - Values of its `override` constants.
   * @returns The cached pipeline once compiled.
   * @throws GpuError (synchronously) for an unknown shader or constant or a lost device; the
   *   promise rejects with a GpuError naming the pipeline when the compile fails.
   */
  pipelineAsync(shader: ShaderRef, constants: OverrideValues = {}): Promise<GPUComputePipeline> {
    const key = pipelineKey(shader, constants);
    const cached = this.pipelines.get(key);
    if (cached) return Promise.resolve(cached);
    const inFlight = this.compiling.get(key);
    if (inFlight) return inFlight;
    this.assertUsable();
    const k = this.kernel(shader);
    const descriptor = this.pipelineDescriptor(key, k, k.source.constants(constants));
    const device = this.device;
    const promise = device.createComputePipelineAsync(descriptor).then(
      (p) => {
        // A recover() meanwhile: this device's pipeline is of no use to the new one.
        if (device !== this._device) return this.compiledPipeline(key, shader, constants);
        const known = this.pipelines.get(key);
        if (known) return known; // a synchronous miss compiled it meanwhile
        this.pipelines.set(key, p);
        this.stats.pipelinesCreated++;
        this.stats.pipelinesCreatedAsync++;
        return p;
      },
      (e: unknown) => {
        throw new GpuError(`seqgpu: compiling pipeline '${key}' failed: ${(e as Error)?.message ?? e}`);
      },
    );
    const tracked = promise.finally(() => {
      if (this.compiling.get(key) === tracked) this.compiling.delete(key);
    });
    this.compiling.set(key, tracked);
    return tracked;
  }

  /**
   * Runs `record` (e.g. building a model's recorded plan) with pipeline compiles deferred: each
   * {@link pipeline} miss is recorded and answered with a stand-in that encoding swaps for the
   * compiled pipeline. Pass the requests to {@link compilePipelines} to compile them asynchronously.
   * Nested calls report their misses to the outer call too.
   * @param record - Synchronous code that asks for pipelines.
   * @returns What `record` returned and the pipelines it asked for that were not compiled.
   */
  deferPipelines<T>(record: () => T): { result: T; requests: PipelineRequest[] } {
    const outer = this.deferred;
    const mine: NonNullable<typeof outer> = new Map();
    this.deferred = mine;
    try {
      const result = record();
      return { result, requests: [...mine.values()].map(({ key, shader, constants }) => ({ key, shader, constants })) };
    } finally {
      this.deferred = outer;
      if (outer) for (const [k, v] of mine) if (!outer.has(k)) outer.set(k, v);
    }
  }

  /**
   * Compiles `requests` with `createComputePipelineAsync`, all started at once, calling
   * `onProgress` after each one finishes (once with done = total = 0 when there is nothing to do).
   * Requests already compiled (or compiling) are not compiled again.
   * @param requests - From {@link deferPipelines} (or built by hand: shader and constants).
   * @param onProgress - Called with `{ done, total, label }` after each pipeline.
   * @returns How many pipelines this call compiled.
   * @throws GpuError when a compile fails (naming the pipeline) or the device is lost.
   */
  async compilePipelines(
    requests: readonly Omit<PipelineRequest, 'key'>[],
    onProgress?: (progress: PipelineProgress) => void,
  ): Promise<number> {
    this.assertUsable();
    const todo = new Map<string, Omit<PipelineRequest, 'key'>>();
    for (const r of requests) {
      const key = pipelineKey(r.shader, r.constants);
      if (!this.pipelines.has(key)) todo.set(key, r);
    }
    const total = todo.size;
    if (total === 0) {
      onProgress?.({ done: 0, total: 0, label: '' });
      return 0;
    }
    let done = 0;
    await Promise.all(
      [...todo].map(([key, r]) =>
        this.pipelineAsync(r.shader, r.constants).then(() => {
          done++;
          onProgress?.({ done, total, label: key });
        }),
      ),
    );
    return total;
  }

  /** The descriptor of pipeline `key`: the kernel's shader module (compiled once) with `constants`. */
  private pipelineDescriptor(
    key: string,
    k: ReturnType<Gpu['kernel']>,
    constants: Record<string, number>,
  ): GPUComputePipelineDescriptor {
    if (!k.module) {
      k.module = this.device.createShaderModule({ label: k.source.name, code: k.source.code });
      this.stats.shaderModulesCreated++;
    }
    return {
      label: key,
      layout: k.pipelineLayout,
      compute: { module: k.module, entryPoint: k.source.entryPoint, constants },
    };
  }

  /**
   * A uniform buffer (from the pool) holding `values` laid out as kernel `shader`'s `binding` struct.
   * @param shader - The kernel (see {@link Gpu.kernel}).
   * @param binding - The name of its `var<uniform>`.
   * @param values - Every member of the uniform struct, by name.
   * @returns A pool buffer the caller releases (eager calls list it in `Dispatch.transient`).
   */
  uniform(shader: ShaderRef, binding: string, values: Record<string, number>): GPUBuffer {
    const name = shaderName(shader);
    const data = this.kernel(shader).source.packUniform(binding, values);
    const buf = this.pool.acquire(data.byteLength, UNIFORM_USAGE, `${name}.${binding}`);
    this.device.queue.writeBuffer(buf, 0, data);
    return buf;
  }

  /**
   * A bind group for kernel `shader`, resources given by their WGSL names.
   * @param shader - The kernel (see {@link Gpu.kernel}).
   * @param resources - A buffer (or a buffer range) for every binding, by its WGSL variable name.
   * @throws GpuError naming the binding when one is missing or unknown.
   */
  bindGroup(shader: ShaderRef, resources: Record<string, GPUBuffer | GPUBufferBinding>): GPUBindGroup {
    const name = shaderName(shader);
    const k = this.kernel(shader);
    const known = new Set(k.source.bindings.map((b) => b.name));
    for (const r of Object.keys(resources)) {
      if (!known.has(r)) throw new GpuError(`${name}: no binding named '${r}'; bindings: ${[...known].join(', ')}`);
    }
    const entries = k.source.bindings.map((b) => {
      const r = resources[b.name];
      if (!r) throw new GpuError(`${name}: binding '${b.name}' was not given`);
      // A binding past the device's limit would be a validation error: name the binding and the limit instead.
      const bytes = 'buffer' in r ? (r.size ?? r.buffer.size - (r.offset ?? 0)) : r.size;
      const limit =
        b.type === 'uniform' ? this.limits.maxUniformBufferBindingSize : this.limits.maxStorageBufferBindingSize;
      if (bytes > limit)
        throw new ShapeError(
          `${name}: binding '${b.name}' is ${bytes} bytes, more than this ` +
            (`device's ${b.type === 'uniform' ? 'maxUniformBufferBindingSize' : 'maxStorageBufferBindingSize'}` +
              ` (${limit})`),
        );
      return { binding: b.binding, resource: 'buffer' in r ? r : { buffer: r } };
    });
    return this.device.createBindGroup({ label: name, layout: k.layout, entries });
  }

  /** A 16-byte buffer bound where a kernel's optional input is switched off by an override. */
  get dummyBuffer(): GPUBuffer {
    if (!this.dummy)
      this.dummy = this.device.createBuffer({ size: 16, usage: BufferUsage.STORAGE, label: 'seqgpu.dummy' });
    return this.dummy;
  }

  /**
   * Encodes `dispatches` into one command buffer and submits it once. With a `profiler`,
   * each dispatch runs in its own pass bracketed by timestamp queries.
   * @param dispatches - What to run, in order; their `transient` buffers go back to the pool after
   *   the submit.
   * @param profiler - From {@link Gpu.createProfiler}; read the times with `profiler.read()`.
   * @throws GpuLostError when the device is lost; GpuError when this Gpu was destroyed.
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

  /**
   * Finishes `encoder` and submits it; counts the submit and its `dispatches`.
   * @param encoder - A command encoder with the work recorded.
   * @param dispatches - How many dispatches it holds (added to `stats.dispatches`).
   */
  submit(encoder: GPUCommandEncoder, dispatches: number): void {
    this.assertUsable();
    this.device.queue.submit([encoder.finish()]);
    this.stats.submits++;
    this.stats.dispatches += dispatches;
  }

  /**
   * Copies `byteLength` bytes of `buffer` back to the CPU. Surfaces pending GPU errors.
   * @param buffer - A buffer with `COPY_SRC` usage.
   * @param byteOffset - Where to start, a multiple of 4.
   * @param byteLength - How many bytes to return (the rest of the buffer by default).
   * @param into - `byteLength` bytes to copy them into instead of a new ArrayBuffer (no allocation).
   * @returns A new ArrayBuffer of `byteLength` bytes, or `into`'s buffer.
   * @throws GpuError listing the GPU errors reported since the last check; GpuLostError when the
   *   device is lost.
   */
  async readBuffer(
    buffer: GPUBuffer,
    byteOffset = 0,
    byteLength = buffer.size - byteOffset,
    into?: Uint8Array<ArrayBuffer>,
  ): Promise<ArrayBuffer> {
    this.assertUsable();
    if (into && into.byteLength !== byteLength)
      throw new ArgumentError(
        `readBuffer: 'into' holds ${into.byteLength} bytes; it must hold byteLength (${byteLength})`,
      );
    const size = Math.ceil(byteLength / 4) * 4;
    const staging = this.pool.acquire(size, READBACK_USAGE, 'seqgpu.readback');
    try {
      const encoder = this.device.createCommandEncoder({ label: 'seqgpu.readback' });
      encoder.copyBufferToBuffer(buffer, byteOffset, staging, 0, size);
      this.device.queue.submit([encoder.finish()]);
      this.stats.submits++;
      await staging.mapAsync(MapMode.READ, 0, size);
      const mapped = staging.getMappedRange(0, size);
      const out = into ? (into.set(new Uint8Array(mapped, 0, byteLength)), into.buffer) : mapped.slice(0, byteLength);
      staging.unmap();
      this.throwIfFailed();
      return out;
    } catch (e) {
      // A mapping aborted by a device loss may reject before the loss is reported: wait for it briefly.
      if (!this.lostInfo && !this.destroyed && ['AbortError', 'OperationError'].includes((e as Error)?.name)) {
        await Promise.race([this._lost, new Promise((r) => setTimeout(r, 200))]);
      }
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

  /**
   * A profiler bound to this device, or null when the adapter has no `timestamp-query`.
   * @param capacity - Dispatches per run it has queries for at first (grown when a run has more).
   */
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
    this.compiling.clear();
    this.kernels.clear();
    this.device.destroy();
  }
}

export type { GpuTimings };

/** The pipeline cache key: the shader's name and its constants, sorted by name. */
function pipelineKey(shader: ShaderRef, constants: OverrideValues): string {
  return `${shaderName(shader)}|${Object.keys(constants)
    .sort()
    .map((k) => `${k}=${constants[k]}`)
    .join(',')}`;
}
