// nn.LayerNorm over the trailing `normalizedShape` dimensions; weight ones, bias zeros.
import type { Gpu } from '../../gpu/device.js';
import { ArgumentError } from '../../util/errors.js';
import { layerNormValue } from '../../graph/ops/layerNorm.js';
import type { Tensor } from '../../gpu/tensor.js';
import { checkOptions } from '../../util/options.js';
import { Module, type LocalParameters } from '../module.js';
import { constant, createParameters } from './leaf.js';

/** Options of {@link LayerNorm}, PyTorch's names in camelCase. */
export interface LayerNormOptions {
  /** Size (or shape) of the trailing dimensions normalized over. */
  normalizedShape: number | number[];
  /** Added to the variance. Default 1e-5. */
  eps?: number;
  /** Learnable weight and bias. Default true. */
  elementwiseAffine?: boolean;
  /** With elementwiseAffine: a learnable bias. Default true. */
  bias?: boolean;
}

/** PyTorch `nn.LayerNorm`: parameters `weight` and `bias` of `normalizedShape`. */
export class LayerNorm extends Module {
  /** The options with defaults filled in. */
  readonly options: Readonly<{ normalizedShape: number[]; eps: number; elementwiseAffine: boolean; bias: boolean }>;
  private readonly params: LocalParameters | null;

  /**
   * A LayerNorm with weight 1 and bias 0.
   * @param gpu - The device.
   * @param options - Shape, eps, affine.
   */
  constructor(gpu: Gpu, options: LayerNormOptions) {
    super(gpu);
    const raw =
      options && typeof options === 'object' && typeof options.normalizedShape === 'number'
        ? { ...options, normalizedShape: [options.normalizedShape] }
        : options;
    const o = checkOptions<LayerNormOptions>('LayerNorm', 'options', raw, {
      normalizedShape: { type: 'array', required: true },
      eps: { type: 'number', min: 0 },
      elementwiseAffine: { type: 'boolean' },
      bias: { type: 'boolean' },
    });
    const shape = typeof o.normalizedShape === 'number' ? [o.normalizedShape] : o.normalizedShape;
    if (!Array.isArray(shape) || shape.length === 0 || shape.some((d) => !Number.isInteger(d) || d <= 0))
      throw new ArgumentError(
        `LayerNorm: normalizedShape must be a positive integer or an array of them, ` +
          `got ${JSON.stringify(o.normalizedShape)}`,
      );
    this.options = Object.freeze({
      normalizedShape: [...shape],
      eps: o.eps ?? 1e-5,
      elementwiseAffine: o.elementwiseAffine ?? true,
      bias: o.bias ?? true,
    });
    const a = this.options;
    this.params = a.elementwiseAffine
      ? createParameters(
          gpu,
          [
            { name: 'weight', shape: [...shape], init: constant(1) },
            ...(a.bias ? [{ name: 'bias', shape: [...shape], init: constant(0) }] : []),
          ],
          0,
        )
      : null;
  }

  /** @internal */
  override localParameters(): LocalParameters | null {
    return this.params;
  }

  /**
   * Normalizes over the trailing dimensions.
   * @param x - [..., ...normalizedShape].
   */
  forward(x: Tensor): Tensor {
    const a = this.options;
    const cols = a.normalizedShape.reduce((p, q) => p * q, 1);
    const xv = this.input('x', x);
    const tail = xv.shape.slice(xv.shape.length - a.normalizedShape.length);
    if (tail.length !== a.normalizedShape.length || tail.some((d, i) => d !== a.normalizedShape[i])) {
      throw new ArgumentError(
        `LayerNorm: input shape [${xv.shape.join(', ')}] does not end in ` +
          `normalizedShape [${a.normalizedShape.join(', ')}]`,
      );
    }
    return layerNormValue(
      xv,
      cols,
      a.eps,
      a.elementwiseAffine ? this.param('weight') : null,
      a.elementwiseAffine && a.bias ? this.param('bias') : null,
    ).tensor;
  }
}
