import type { Gpu } from './gpu/device.js';
import { ShapeError, fmtShape } from './gpu/errors.js';
import { TENSOR_USAGE } from './gpu/flags.js';

/** Element type of a tensor. seqgpu computes in f32. */
export type DType = 'f32';

function checkShape(shape: readonly number[], what: string): number {
  if (!Array.isArray(shape)) throw new ShapeError(`${what}: shape must be an array of sizes, got ${String(shape)}`);
  let size = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d <= 0) throw new ShapeError(`${what}: every size must be a positive integer, got shape ${fmtShape(shape)}`);
    size *= d;
  }
  return size;
}

/**
 * A dense row-major f32 tensor in a GPU buffer taken from the device's pool.
 * `destroy()` gives the buffer back to the pool; a destroyed tensor cannot be used.
 */
export class Tensor {
  readonly dtype: DType = 'f32';
  readonly size: number;
  private _buffer: GPUBuffer | null;

  private constructor(readonly gpu: Gpu, readonly shape: readonly number[], buffer: GPUBuffer) {
    this.size = shape.reduce((a, b) => a * b, 1);
    this._buffer = buffer;
  }

  /** An uninitialised tensor (contents are whatever the pooled buffer held). */
  static empty(gpu: Gpu, shape: readonly number[], label = 'tensor'): Tensor {
    const size = checkShape(shape, label);
    const bytes = size * 4;
    if (bytes > gpu.limits.maxStorageBufferBindingSize) {
      throw new ShapeError(
        `${label}: shape ${fmtShape(shape)} needs ${bytes} bytes, more than this device's maxStorageBufferBindingSize (${gpu.limits.maxStorageBufferBindingSize})`,
      );
    }
    gpu.assertUsable();
    return new Tensor(gpu, [...shape], gpu.pool.acquire(bytes, TENSOR_USAGE, label));
  }

  /** A tensor holding `data` (length must equal the product of `shape`). */
  static from(gpu: Gpu, data: ArrayLike<number>, shape: readonly number[], label = 'tensor'): Tensor {
    const size = checkShape(shape, label);
    if (data.length !== size) {
      throw new ShapeError(`${label}: data has ${data.length} elements but shape ${fmtShape(shape)} needs ${size}`);
    }
    const t = Tensor.empty(gpu, shape, label);
    t.write(data);
    return t;
  }

  /** A tensor of zeros. */
  static zeros(gpu: Gpu, shape: readonly number[], label = 'tensor'): Tensor {
    return Tensor.from(gpu, new Float32Array(checkShape(shape, label)), shape, label);
  }

  get buffer(): GPUBuffer {
    if (!this._buffer) throw new ShapeError(`tensor ${fmtShape(this.shape)} was destroyed`);
    return this._buffer;
  }

  get destroyed(): boolean {
    return this._buffer === null;
  }

  /** Overwrites the whole tensor from the CPU. */
  write(data: ArrayLike<number>): void {
    if (data.length !== this.size) {
      throw new ShapeError(`write: data has ${data.length} elements, tensor ${fmtShape(this.shape)} has ${this.size}`);
    }
    const f32 = data instanceof Float32Array ? data : Float32Array.from(data);
    this.gpu.device.queue.writeBuffer(this.buffer, 0, f32.buffer, f32.byteOffset, f32.byteLength);
  }

  /** Reads the tensor back (waits for the GPU work that writes it). */
  async read(): Promise<Float32Array> {
    return new Float32Array(await this.gpu.readBuffer(this.buffer, 0, this.size * 4));
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
export function expectRank(op: string, arg: string, t: Tensor, ranks: number[]): void {
  if (!(t instanceof Tensor)) throw new ShapeError(`${op}: argument '${arg}' must be a Tensor, got ${typeof t}`);
  if (t.destroyed) throw new ShapeError(`${op}: argument '${arg}' was destroyed`);
  if (!ranks.includes(t.shape.length)) {
    throw new ShapeError(`${op}: argument '${arg}' has shape ${fmtShape(t.shape)} (rank ${t.shape.length}), expected rank ${ranks.join(' or ')}`);
  }
}

/** Throws unless `t.shape` equals `expected`, naming the argument and both shapes. */
export function expectShape(op: string, arg: string, t: Tensor, expected: readonly number[], hint = ''): void {
  expectRank(op, arg, t, [expected.length]);
  if (t.shape.some((d, i) => d !== expected[i])) {
    throw new ShapeError(`${op}: argument '${arg}' has shape ${fmtShape(t.shape)}, expected ${fmtShape(expected)}${hint ? ` (${hint})` : ''}`);
  }
}
