// Every trainable parameter of a model lives in ONE GPU buffer (and its gradient at the same
// offset in a second one), so that the gradient norm, clipping and the optimizer each run as a
// single dispatch over all parameters. Each parameter starts at a multiple of the device's
// minStorageBufferOffsetAlignment, so kernels can bind it on its own; the gaps between
// parameters are zero in both buffers and stay zero under every optimizer (zero gradient).
import type { Gpu } from '../gpu/device.js';
import { ArgumentError, ShapeError, fmtShape } from '../util/errors.js';
import { checkOptions, show } from '../util/options.js';
import { TENSOR_USAGE } from '../gpu/flags.js';
import { checkBindingSize } from '../gpu/limits.js';
import { readParameter, type NamedTensor, type StateDict } from './stateDict.js';
import {
  resolveTorchKeys,
  stateDictSource,
  type ComputedBuffer,
  type StateDictSource,
  type TiedName,
} from './torchStateDict.js';

/** One parameter: its PyTorch name, shape and place (in f32 elements) in the store's buffers. */
export interface ParameterSlot {
  name: string;
  shape: number[];
  offset: number;
  size: number;
}

/** A region of a buffer in f32 elements, as the GEMM's MatrixView and the kernels take it. */
export interface BufferView {
  buffer: GPUBuffer;
  offset: number;
  size: number;
}

export class ParameterStore {
  private readonly slots = new Map<string, ParameterSlot>();
  private end = 0;
  private _params: GPUBuffer | null = null;
  private _grads: GPUBuffer | null = null;
  private readonly align: number;
  /** Set when the parameters moved into a larger store ({@link adoptInto}): its buffers are shared, not owned. */
  private sharedWith: ParameterStore | null = null;

  constructor(readonly gpu: Gpu) {
    this.align = Math.max(1, gpu.device.limits.minStorageBufferOffsetAlignment / 4);
  }

  /** Registers a parameter (before {@link allocate}); returns its slot. */
  add(name: string, shape: number[]): ParameterSlot {
    if (this._params) throw new ArgumentError(`ParameterStore: cannot add '${name}' after the buffers were allocated`);
    if (this.slots.has(name)) throw new ArgumentError(`ParameterStore: '${name}' is registered twice`);
    const size = shape.reduce((a, b) => a * b, 1);
    const slot = { name, shape: [...shape], offset: this.end, size };
    this.end = Math.ceil((this.end + size) / this.align) * this.align;
    this.slots.set(name, slot);
    return slot;
  }

  /** Elements in each buffer (parameters and the alignment gaps between them). */
  get length(): number {
    return Math.max(this.end, 4);
  }

  get names(): string[] {
    return [...this.slots.keys()];
  }

  slot(name: string): ParameterSlot {
    const s = this.slots.get(name);
    if (!s) throw new ArgumentError(`no parameter named '${name}'; parameters: ${this.names.join(', ')}`);
    return s;
  }

  /** Creates the parameter buffer, zero-filled. */
  allocate(): void {
    if (this._params || this.sharedWith) return;
    checkBindingSize(
      this.gpu,
      'ParameterStore',
      `the ${this.slots.size} parameters ` +
        `(${this.names.slice(0, 4).join(', ')}${this.slots.size > 4 ? ', …' : ''}, in ` +
        `one buffer)`,
      this.length,
    );
    this._params = this.zeroed('parameters');
  }

  get params(): GPUBuffer {
    // Adopted parameters read the target's current buffer (it is reallocated after a device loss).
    if (this.sharedWith) return this.sharedWith.params;
    if (!this._params) throw new ArgumentError('ParameterStore: allocate() was not called');
    return this._params;
  }

  /** The gradient buffer, created (zero-filled) on first use: inference never allocates it. */
  get grads(): GPUBuffer {
    if (this.sharedWith) return this.sharedWith.grads;
    if (!this._grads) this._grads = this.zeroed('gradients');
    return this._grads;
  }

  /** True once the parameters moved into another store ({@link adoptInto}): a model owns them. */
  get isShared(): boolean {
    return this.sharedWith !== null;
  }

  get hasGrads(): boolean {
    return this._grads !== null;
  }

  view(name: string): BufferView {
    const s = this.slot(name);
    return { buffer: this.params, offset: s.offset, size: s.size };
  }

  gradView(name: string): BufferView {
    const s = this.slot(name);
    return { buffer: this.grads, offset: s.offset, size: s.size };
  }

  /** A binding of the parameter alone (its offset is aligned for storage bindings). */
  binding(name: string): GPUBufferBinding {
    const s = this.slot(name);
    return { buffer: this.params, offset: s.offset * 4, size: s.size * 4 };
  }

  write(name: string, data: Float32Array): void {
    const s = this.slot(name);
    if (data.length !== s.size)
      throw new ShapeError(`parameter '${name}' ${fmtShape(s.shape)} needs ${s.size} values, got ${data.length}`);
    this.gpu.device.queue.writeBuffer(this.params, s.offset * 4, data);
  }

  async read(name: string): Promise<Float32Array> {
    const s = this.slot(name);
    return new Float32Array(await this.gpu.readBuffer(this.params, s.offset * 4, s.size * 4));
  }

  async readGrad(name: string): Promise<Float32Array> {
    const s = this.slot(name);
    return new Float32Array(await this.gpu.readBuffer(this.grads, s.offset * 4, s.size * 4));
  }
  /**
   * Every parameter (or, with `grads`, its gradient) by name, read back in one copy.
   * @param grads - Read the gradient buffer instead of the parameters.
   * @returns `{ shape, data }` per registered name, in registration order.
   */
  async readAll(grads = false): Promise<Record<string, NamedTensor>> {
    const flat = new Float32Array(await this.gpu.readBuffer(grads ? this.grads : this.params, 0, this.length * 4));
    const out: Record<string, NamedTensor> = {};
    for (const [name, s] of this.slots)
      out[name] = { shape: [...s.shape], data: flat.slice(s.offset, s.offset + s.size) };
    return out;
  }

  /**
   * Checks a state dict against the registered names and shapes before anything is written.
   * @param op - The caller's name, for the messages (e.g. `'Seq2Seq.loadStateDict'`).
   * @param dict - Parameters by name.
   * @param strict - Also reject keys that are not registered.
   * @returns The values by name, as f32.
   * @throws ShapeError naming the key that is missing, has the wrong shape or a non-finite value, or is unexpected.
   */
  checkStateDict(op: string, dict: StateDict, strict: boolean): Map<string, Float32Array> {
    return checkParameters(op, dict, this.shapes(), strict);
  }

  /** Every registered parameter's name and shape, in registration order. */
  shapes(): Array<{ name: string; shape: number[] }> {
    return this.names.map((name) => ({ name, shape: this.slot(name).shape }));
  }

  /**
   * Moves every parameter into `target` (allocated, with each name registered there as
   * `prefix + name`): copies the values on the GPU, releases this store's buffers and from then
   * on reads and writes the target's buffers at the target's offsets. A model gathering its
   * layers' parameters into one buffer (one optimizer dispatch over all of them) calls it.
   * @param target - The store the parameters move into.
   * @param prefix - The names' prefix there (e.g. `'lstm.'`).
   * @param strip - A prefix of this store's names dropped first (a layer's own `prefix`).
   */
  adoptInto(target: ParameterStore, prefix: string, strip = ''): void {
    if (target === this || this.sharedWith)
      throw new ArgumentError('ParameterStore.adoptInto: these parameters already live in another store');
    const encoder = this.gpu.device.createCommandEncoder({ label: 'parameters.adopt' });
    const moved = new Map<string, ParameterSlot>();
    for (const [name, s] of this.slots) {
      const t = target.slot(prefix + name.slice(strip.length));
      if (t.size !== s.size)
        throw new ShapeError(
          `ParameterStore.adoptInto: '${prefix + name}' has ${t.size} elements there, ${s.size} here`,
        );
      if (this._params) encoder.copyBufferToBuffer(this._params, s.offset * 4, target.params, t.offset * 4, s.size * 4);
      moved.set(name, { ...s, offset: t.offset });
    }
    this.gpu.submit(encoder, 0);
    for (const b of [this._params, this._grads]) if (b) this.gpu.pool.release(b);
    for (const [name, s] of moved) this.slots.set(name, s);
    this._params = target.params;
    this._grads = target.grads;
    this.end = target.length;
    this.sharedWith = target;
  }

  destroy(): void {
    if (this.sharedWith) {
      this._params = null;
      this._grads = null;
      return;
    }
    for (const b of [this._params, this._grads]) if (b) this.gpu.pool.release(b);
    this._params = null;
    this._grads = null;
  }

  private zeroed(label: string): GPUBuffer {
    const b = this.gpu.pool.acquire(this.length * 4, TENSOR_USAGE, label);
    this.gpu.device.queue.writeBuffer(b, 0, new Float32Array(this.length));
    return b;
  }
}

/**
 * Checks `dict` against named shapes before anything is written: every name present with its
 * shape and finite values, and (with `strict`) no other key.
 * @param op - The public entry point, for the messages.
 * @returns The values by name, as f32.
 * @throws ArgumentError / ShapeError naming the key that is missing, has the wrong shape or a
 *   non-finite value, or is unexpected.
 */
export function checkParameters(
  op: string,
  dict: StateDict,
  shapes: ReadonlyArray<{ name: string; shape: readonly number[] }>,
  strict: boolean,
): Map<string, Float32Array> {
  if (!dict || typeof dict !== 'object' || Array.isArray(dict) || ArrayBuffer.isView(dict))
    throw new ArgumentError(`${op}: expected an object of named parameters, got ${show(dict)}`);
  const values = new Map(shapes.map(({ name, shape }) => [name, readParameter(dict, name, shape)]));
  if (strict) {
    const extra = Object.keys(dict).filter((k) => !values.has(k));
    if (extra.length)
      throw new ArgumentError(
        `${op}: unexpected key(s) ${extra.map((k) => `'${k}'`).join(', ')}; ` +
          `expected ${shapes.map((s) => s.name).join(', ')}`,
      );
  }
  return values;
}

/**
 * The arguments of a `loadStateDict(dict, opts)` entry point, checked: `opts` by the options
 * table (`strict`, default true), then `dict` (a `.safetensors` file's bytes are parsed first;
 * tied names and computed buffers resolved by {@link resolveTorchKeys}) by {@link checkParameters}.
 * Nothing is written: a caller writes the returned values only after this returned.
 * @param op - The public entry point, for the messages.
 * @param dict - A state dict or a `.safetensors` file's bytes.
 * @param opts - `{ strict }`: unknown keys are an error unless false (missing ones always are).
 * @param shapes - The parameters' names and shapes.
 * @param keys - Second names of tied parameters and buffers seqgpu computes (both optional in `dict`).
 * @returns The values by name, as f32.
 */
export function checkLoadStateDict(
  op: string,
  dict: StateDictSource,
  opts: unknown,
  shapes: ReadonlyArray<{ name: string; shape: readonly number[] }>,
  keys: { tied?: readonly TiedName[]; buffers?: readonly ComputedBuffer[] } = {},
): Map<string, Float32Array> {
  const { strict = true } = checkOptions<{ strict: boolean }>(op, 'opts', opts, { strict: { type: 'boolean' } });
  const source = resolveTorchKeys(op, stateDictSource(op, dict), keys.tied ?? [], keys.buffers ?? []);
  return checkParameters(op, source, shapes, strict);
}
