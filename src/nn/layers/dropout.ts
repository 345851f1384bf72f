// nn.Dropout: in training, each element is zeroed with probability p and the rest scaled by
// 1/(1 − p); in eval mode (or outside a Trainer step) the identity.
import type { Gpu } from '../../gpu/device.js';
import { activeGraph } from '../../graph/graph.js';
import { dropoutValue } from '../../graph/ops/dropout.js';
import { Dropout as DropoutKernel } from '../../kernels/dropout.js';
import type { Tensor } from '../../gpu/tensor.js';
import { checkOptions } from '../../util/options.js';
import { Module } from '../module.js';
import { nextSeed } from './leaf.js';

/** PyTorch `nn.Dropout` (no parameters). */
export class Dropout extends Module {
  /** Drop probability in [0, 1). */
  readonly p: number;
  private readonly kernel: DropoutKernel;
  private uses = 0;

  /**
   * A dropout layer with its own mask stream.
   * @param gpu - The device.
   * @param options - `p` (default 0.5) and the mask stream's `seed`.
   */
  constructor(gpu: Gpu, options: { p?: number; seed?: number } = {}) {
    super(gpu);
    const o = checkOptions<{ p: number; seed: number }>('Dropout', 'options', options, {
      p: { type: 'number', min: 0 },
      seed: { type: 'int', min: 0 },
    });
    this.p = o.p ?? 0.5;
    this.kernel = new DropoutKernel(gpu, { p: this.p, seed: (o.seed ?? nextSeed()) >>> 0 });
  }

  /**
   * Dropout in training steps; the identity in eval mode and for inference.
   * @param x - Any shape.
   */
  forward(x: Tensor): Tensor {
    const g = activeGraph();
    if (!g || !g.training || !this.training || this.p === 0) return x;
    return dropoutValue(this.kernel, this.input('x', x), this.uses++, 'Dropout').tensor;
  }

  /** @internal */
  protected override destroyOwn(): void {
    super.destroyOwn();
    this.kernel.destroy();
  }
}
