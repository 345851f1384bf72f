import type { Gpu } from './device.js';
import { ArgumentError, GpuLostError, ShapeError, fmtShape } from '../util/errors.js';
import { TENSOR_USAGE } from './flags.js';

/** Element type of a tensor: `'f32'` values, or `'i32'` integers (token ids, class targets). */
export type DType = 'f32' | 'i32';

function checkShape(shape: readonly number[], what: string): number {
  if (!Array.isArray(shape)) throw new ShapeError(`${what}: shape must be an array of sizes, got ${String(shape)}`);
  let size = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d <= 0)
      throw new ShapeError(`${what}: every size must be a positive integer, got shape ${fmtShape(shape)}`);
    size *= d;
  }
  return size;
}

/** Throws unless `data` is a typed array of numbers or an array (or array-like object) of numbers. */
function checkData(what: string, data: ArrayLike<number>): void {
  if (ArrayBuffer.isView(data) && !(data instanceof DataView) && typeof (data as unknown as unknown[])[0] !== 'bigint')
    return;
  if (data === null || typeof data !== 'object' || !Number.isInteger(data.length) || ArrayBuffer.isView(data)) {
    throw new ArgumentError(
      `${what}: data must be numbers (an array or a typed array), ` +
        `got ${ArrayBuffer.isView(data) ? (data as object).constructor.name : typeof data}`,
    );
  }
  for (let i = 0; i < data.length; i++) {
    if (typeof data[i] !== 'number')
      throw new ArgumentError(
        `${what}: data[${i}] is ${typeof data[i] === 'string' ? `'${data[i]}'` : String(data[i])}, not a number`,
      );
  }
}

/**
 * A dense row-major f32 tensor in a GPU buffer taken from the device's pool.
 * `destroy()` gives the buffer back to the pool; a destroyed tensor cannot be used.
 * @example
 * ```ts
 * const x = Tensor.from(gpu, [1, 2, 3, 4, 5, 6], [2, 3]); // row-major f32
 * const y = softmax(gpu, x);                              // ops return new tensors
 * console.log(y.shape, await y.read());                  // [2, 3] Float32Array(6)
 * x.destroy(); y.destroy();                              // buffers go back to the pool
 * ```
 */
export class Tensor {
  /** Element type: `'f32'`, or `'i32'` for a tensor made from an Int32Array. */
  readonly dtype: DType;
  /** Number of elements: the product of `shape`. */
  readonly size: number;
  private _buffer: GPUBuffer | null;
  /** `gpu.generation` when it was created: a tensor of a lost device cannot be used after `gpu.recover()`. */
  private readonly generation: number;
  /**
   * @internal Set on the placeholder tensors a traced `forward` sees (src/graph/): the graph
   * value it stands for. Such a tensor has no buffer; reading it is an error naming its op.
   */
  readonly traced: { readonly op: string } | null;

  /**
   * Use {@link Tensor.empty}, {@link Tensor.from} or {@link Tensor.zeros}.
   * @param gpu - The device holding the buffer.
   * @param shape - Sizes of the dimensions, outermost first (row-major); every size ≥ 1.
   * @param buffer - A pool buffer of at least `4 · size` bytes (null for a traced placeholder).
   * @param dtype - Element type.
   * @param traced - The graph value of a traced placeholder.
   */
  private constructor(
    readonly gpu: Gpu,
    readonly shape: readonly number[],
    buffer: GPUBuffer | null,
    dtype: DType = 'f32',
    traced: { readonly op: string } | null = null,
  ) {
    this.size = shape.reduce((a, b) => a * b, 1);
    this._buffer = buffer;
    this.generation = gpu.generation;
    this.dtype = dtype;
    this.traced = traced;
  }

  /**
   * @internal A placeholder for a value inside a traced `forward` (src/graph/trace.ts): shape and
   * dtype only, no buffer.
   * @param gpu - The device of the trace.
   * @param shape - Its shape.
   * @param dtype - Its element type.
   * @param traced - The graph value it stands for (its `op` names it in errors).
   */
  static placeholder(gpu: Gpu, shape: readonly number[], dtype: DType, traced: { readonly op: string }): Tensor {
    return new Tensor(gpu, [...shape], null, dtype, traced);
  }

  /**
   * An uninitialised tensor (contents are whatever the pooled buffer held).
   * @param gpu - The device to allocate on.
   * @param shape - Sizes of the dimensions; each a positive integer.
   * @param label - Names the tensor in error messages and the buffer's label.
   * @param dtype - Element type: `'f32'` (default) or `'i32'`.
   * @throws ShapeError if a size is not a positive integer or the tensor is larger than the
   *   device's `maxStorageBufferBindingSize`; GpuError if the device is lost or destroyed.
   */
  static empty(gpu: Gpu, shape: readonly number[], label = 'tensor', dtype: DType = 'f32'): Tensor {
    const size = checkShape(shape, label);
    if (dtype !== 'f32' && dtype !== 'i32')
      throw new ArgumentError(`${label}: dtype must be 'f32' or 'i32', got ${String(dtype)}`);
    const bytes = size * 4;
    if (bytes > gpu.limits.maxStorageBufferBindingSize) {
      throw new ShapeError(
        `${label}: shape ${fmtShape(shape)} needs ${bytes} bytes, more than this ` +
          `device's maxStorageBufferBindingSize ` +
          `(${gpu.limits.maxStorageBufferBindingSize})`,
      );
    }
    gpu.assertUsable();
    return new Tensor(gpu, [...shape], gpu.pool.acquire(bytes, TENSOR_USAGE, label), dtype);
  }

  /**
   * A tensor holding `data` (length must equal the product of `shape`). An `Int32Array` makes an
   * `'i32'` tensor (token ids, class targets); anything else an `'f32'` one.
   * @param gpu - The device to allocate on.
   * @param data - Row-major values (converted to f32 unless an Int32Array).
   * @param shape - Sizes of the dimensions; each a positive integer.
   * @param label - Names the tensor in error messages and the buffer's label.
   * @throws ShapeError if `data.length` differs from the product of `shape`, and as
   *   {@link Tensor.empty}.
   */
  static from(gpu: Gpu, data: ArrayLike<number>, shape: readonly number[], label = 'tensor'): Tensor {
    const size = checkShape(shape, label);
    checkData(label, data);
    if (data.length !== size) {
      throw new ShapeError(`${label}: data has ${data.length} elements but shape ${fmtShape(shape)} needs ${size}`);
    }
    const t = Tensor.empty(gpu, shape, label, data instanceof Int32Array ? 'i32' : 'f32');
    t.write(data);
    return t;
  }

  /**
   * A tensor of zeros.
   * @param gpu - The device to allocate on.
   * @param shape - Sizes of the dimensions; each a positive integer.
   * @param label - Names the tensor in error messages and the buffer's label.
   * @throws ShapeError as {@link Tensor.empty}.
   */
  static zeros(gpu: Gpu, shape: readonly number[], label = 'tensor'): Tensor {
    return Tensor.from(gpu, new Float32Array(checkShape(shape, label)), shape, label);
  }

  /**
   * The GPU buffer (may be larger than `4 · size` bytes: pool sizes are rounded up).
   * @throws ShapeError if the tensor was destroyed.
   */
  get buffer(): GPUBuffer {
    if (this.traced)
      throw new ArgumentError(
        `the output of '${this.traced.op}' ${fmtShape(this.shape)} is a traced ` +
          `placeholder inside forward(): it has no values while tracing (read the tensors ` +
          `forward() returns, after it returns)`,
      );
    if (!this._buffer) throw new ShapeError(`tensor ${fmtShape(this.shape)} was destroyed`);
    if (this.generation !== this.gpu.generation)
      throw new GpuLostError(
        `tensor ${fmtShape(this.shape)} was on a WebGPU device that was lost; create it again after recover()`,
        'recovered',
      );
    return this._buffer;
  }

  /** True after {@link Tensor.destroy}. */
  get destroyed(): boolean {
    return this._buffer === null && !this.traced;
  }

  /**
   * Overwrites the whole tensor from the CPU.
   * @param data - `size` row-major values (converted to f32).
   * @throws ShapeError if `data.length` differs from `size`.
   */
  write(data: ArrayLike<number>): void {
    checkData('write', data);
    if (data.length !== this.size) {
      throw new ShapeError(`write: data has ${data.length} elements, tensor ${fmtShape(this.shape)} has ${this.size}`);
    }
    if (this.dtype === 'i32') {
      for (let i = 0; i < data.length; i++) {
        if (!Number.isInteger(data[i]) || data[i] < -(2 ** 31) || data[i] >= 2 ** 31)
          throw new ArgumentError(`write: data[${i}] = ${data[i]} is not a 32-bit integer (this tensor is i32)`);
      }
    }
    const typed =
      this.dtype === 'i32'
        ? data instanceof Int32Array
          ? data
          : Int32Array.from(data)
        : data instanceof Float32Array
          ? data
          : Float32Array.from(data);
    this.gpu.device.queue.writeBuffer(this.buffer, 0, typed.buffer, typed.byteOffset, typed.byteLength);
  }

  /**
   * Reads an f32 tensor back (waits for the GPU work that writes it).
   * @param into - Where to put the values (`size` of them): a caller's array reused from read to
   *   read skips allocating (and page-faulting in) a new one, which for megabytes of results costs
   *   more than the copy itself. A new array when absent.
   * @returns The values: `into` when given.
   * @throws ArgumentError for an i32 tensor (use {@link Tensor.readInt32}), a traced placeholder,
   *   or an `into` that is not a Float32Array of `size` elements.
   */
  read(into?: Float32Array<ArrayBuffer>): Promise<Float32Array> {
    // A placeholder inside a traced forward throws right there (not a rejected promise).
    if (this.traced) void this.buffer;
    return (async () => {
      if (this.dtype !== 'f32')
        throw new ArgumentError(`read: this tensor ${fmtShape(this.shape)} is ${this.dtype}; use readInt32()`);
      if (into === undefined) return new Float32Array(await this.gpu.readBuffer(this.buffer, 0, this.size * 4));
      if (!(into instanceof Float32Array) || into.length !== this.size)
        throw new ArgumentError(
          `read: 'into' must be a Float32Array of ${this.size} elements (the tensor is ` +
            `${fmtShape(this.shape)}), got ${into instanceof Float32Array ? `${into.length} elements` : String(into)}`,
        );
      const bytes = new Uint8Array(into.buffer, into.byteOffset, into.byteLength);
      await this.gpu.readBuffer(this.buffer, 0, this.size * 4, bytes);
      return into;
    })();
  }

  /**
   * Reads an i32 tensor back.
   * @throws ArgumentError for an f32 tensor (use {@link Tensor.read}) or a traced placeholder.
   */
  readInt32(): Promise<Int32Array> {
    if (this.traced) void this.buffer;
    return (async () => {
      if (this.dtype !== 'i32')
        throw new ArgumentError(`readInt32: this tensor ${fmtShape(this.shape)} is ${this.dtype}; use read()`);
      return new Int32Array(await this.gpu.readBuffer(this.buffer, 0, this.size * 4));
    })();
  }

  /** Gives the buffer back to the pool. Safe to call twice. */
  destroy(): void {
    if (!this._buffer) return;
    const b = this._buffer;
    this._buffer = null;
    this.gpu.pool.release(b);
  }
}

/** Throws a {@link ShapeError} unless `t` is a live tensor of `rank` dimensions. */
export function expectRank(op: string, arg: string, t: Tensor, ranks: number[], gpu?: Gpu): void {
  if (!(t instanceof Tensor))
    throw new ArgumentError(`${op}: argument '${arg}' must be a Tensor, got ${t === null ? 'null' : typeof t}`);
  if (t.destroyed) throw new ArgumentError(`${op}: argument '${arg}' was destroyed`);
  if (gpu && t.gpu !== gpu)
    throw new ArgumentError(
      `${op}: argument '${arg}' is a Tensor of another Gpu; a tensor can only be used ` +
        `with the Gpu that created it (copy it with Tensor.from(gpu, await t.read(), t.shape))`,
    );
  if (!ranks.includes(t.shape.length)) {
    throw new ShapeError(
      `${op}: argument '${arg}' has shape ${fmtShape(t.shape)} ` +
        `(rank ${t.shape.length}), expected rank ${ranks.join(' or ')}`,
    );
  }
}

/** Throws unless `t.shape` equals `expected`, naming the argument and both shapes. */
export function expectShape(
  op: string,
  arg: string,
  t: Tensor,
  expected: readonly number[],
  hint = '',
  gpu?: Gpu,
): void {
  expectRank(op, arg, t, [expected.length], gpu);
  if (t.shape.some((d, i) => d !== expected[i])) {
    throw new ShapeError(
      `${op}: argument '${arg}' has shape ${fmtShape(t.shape)}, ` +
        `expected ${fmtShape(expected)}${hint ? ` (${hint})` : ''}`,
    );
  }
}
