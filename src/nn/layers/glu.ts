// nn.GLU: gated linear unit, x split in halves a, b along the last dimension, y = a ⊙ σ(b).
import { glu } from '../../graph/ops/glu.js';
import type { Gpu } from '../../gpu/device.js';
import { ArgumentError } from '../../util/errors.js';
import type { Tensor } from '../../gpu/tensor.js';
import { Module } from '../module.js';

/** PyTorch `nn.GLU(dim=-1)`: y = a ⊙ σ(b) for x = [a | b] (only the last dimension is supported). */
export class GLU extends Module {
  /** The dimension split in halves (−1 or the input's last). */
  readonly dim: number;
  /**
   * GLU over `dim`.
   * @param gpu - The device.
   * @param options - `dim` (default −1, the last; another dimension is an error at forward).
   */
  constructor(gpu: Gpu, options: { dim?: number } = {}) {
    super(gpu);
    const d = options?.dim ?? -1;
    if (!Number.isInteger(d)) throw new ArgumentError(`GLU: option 'dim' must be an integer, got ${String(d)}`);
    this.dim = d;
  }
  /**
   * a ⊙ σ(b), with a, b the halves of x along `dim`.
   * @param x - f32 whose last dimension is even.
   * @returns x's shape with the last dimension halved.
   */
  forward(x: Tensor): Tensor {
    return glu(x, this.dim);
  }
}
