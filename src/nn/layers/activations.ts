// Activation modules (no parameters): ReLU, Sigmoid, Tanh, GELU, Softmax.
import { gelu, relu, sigmoid, tanh } from '../../graph/ops/elementwise.js';
import { softmax } from '../../graph/ops/softmax.js';
import type { Gpu } from '../../gpu/device.js';
import { ArgumentError } from '../../util/errors.js';
import type { Tensor } from '../../gpu/tensor.js';
import { Module } from '../module.js';

/** PyTorch `nn.ReLU`: max(x, 0). */
export class ReLU extends Module {
  /**
   * max(x, 0).
   * @param x - Any shape.
   */
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

/** PyTorch `nn.Sigmoid`. */
export class Sigmoid extends Module {
  /**
   * 1 / (1 + e^−x).
   * @param x - Any shape.
   */
  forward(x: Tensor): Tensor {
    return sigmoid(x);
  }
}

/** PyTorch `nn.Tanh`. */
export class Tanh extends Module {
  /**
   * tanh(x).
   * @param x - Any shape.
   */
  forward(x: Tensor): Tensor {
    return tanh(x);
  }
}

/** PyTorch `nn.GELU`: exact (erf) or `approximate: 'tanh'`. */
export class GELU extends Module {
  /** `'none'` (exact, default) or `'tanh'`. */
  readonly approximate: 'none' | 'tanh';
  /**
   * GELU with the chosen form.
   * @param gpu - The device.
   * @param options - `approximate`: `'none'` (default) or `'tanh'`.
   */
  constructor(gpu: Gpu, options: { approximate?: 'none' | 'tanh' } = {}) {
    super(gpu);
    const a = options?.approximate ?? 'none';
    if (a !== 'none' && a !== 'tanh')
      throw new ArgumentError(`GELU: approximate must be 'none' or 'tanh', got ${String(a)}`);
    this.approximate = a;
  }
  /**
   * GELU(x).
   * @param x - Any shape.
   */
  forward(x: Tensor): Tensor {
    return gelu(x, this.approximate);
  }
}

/** PyTorch `nn.Softmax(dim)` (over the last dimension; another `dim` is an error suggesting a transpose). */
export class Softmax extends Module {
  /** The dimension normalised over. */
  readonly dim: number;
  /**
   * Softmax over `dim`.
   * @param gpu - The device.
   * @param options - `dim` (default −1, the last).
   */
  constructor(gpu: Gpu, options: { dim?: number } = {}) {
    super(gpu);
    const d = options?.dim ?? -1;
    if (!Number.isInteger(d)) throw new ArgumentError(`Softmax: dim must be an integer, got ${String(d)}`);
    this.dim = d;
  }
  /**
   * e^x / Σ e^x along `dim`.
   * @param x - Any shape.
   */
  forward(x: Tensor): Tensor {
    return softmax(x, this.dim);
  }
}
