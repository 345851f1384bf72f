// nn.Linear: y = x·Wᵀ + b over the last dimension; W [outFeatures, inFeatures], b [outFeatures].
import type { Gpu } from '../../gpu/device.js';
import { linearValue } from '../../graph/ops/linear.js';
import type { Tensor } from '../../gpu/tensor.js';
import { checkOptions } from '../../util/options.js';
import { Module, type LocalParameters } from '../module.js';
import { createParameters, nextSeed, uniform } from './leaf.js';

/** Options of {@link Linear}, PyTorch's names in camelCase. */
export interface LinearOptions {
  /** Size of each input row. */
  inFeatures: number;
  /** Size of each output row. */
  outFeatures: number;
  /** Adds the bias b. Default true. */
  bias?: boolean;
  /** Seed of the initial weights: U(−1/√inFeatures, 1/√inFeatures), as PyTorch. */
  seed?: number;
}

/** PyTorch `nn.Linear`: parameters `weight` [out, in] and `bias` [out]. */
export class Linear extends Module {
  /** The options with defaults filled in. */
  readonly options: Readonly<Required<Omit<LinearOptions, 'seed'>>>;
  private readonly params: LocalParameters;

  /**
   * A Linear layer with PyTorch's initial weights from its seed.
   * @param gpu - The device.
   * @param options - Sizes and bias.
   */
  constructor(gpu: Gpu, options: LinearOptions) {
    super(gpu);
    const o = checkOptions<LinearOptions>('Linear', 'options', options, {
      inFeatures: { type: 'int', min: 1, required: true },
      outFeatures: { type: 'int', min: 1, required: true },
      bias: { type: 'boolean' },
      seed: { type: 'number' },
    });
    const inF = o.inFeatures!;
    const outF = o.outFeatures!;
    this.options = Object.freeze({ inFeatures: inF, outFeatures: outF, bias: o.bias ?? true });
    const k = 1 / Math.sqrt(inF);
    this.params = createParameters(
      gpu,
      [
        { name: 'weight', shape: [outF, inF], init: uniform(k) },
        ...(this.options.bias ? [{ name: 'bias', shape: [outF], init: uniform(k) }] : []),
      ],
      o.seed ?? nextSeed(),
    );
  }

  /** @internal */
  override localParameters(): LocalParameters {
    return this.params;
  }

  /**
   * y = x·Wᵀ + b.
   * @param x - [..., inFeatures].
   * @returns [..., outFeatures].
   */
  forward(x: Tensor): Tensor {
    return linearValue(
      this.input('x', x),
      this.param('weight'),
      this.options.bias ? this.param('bias') : null,
      'Linear',
    ).tensor;
  }
}
