// nn.Linear: y = x·Wᵀ + b over the last dimension; W [outFeatures, inFeatures], b [outFeatures].
import type { Gpu } from '../../gpu/device.js';
import { linearActValue } from '../../graph/ops/linear.js';
import type { Tensor } from '../../gpu/tensor.js';
import type { GemmActivation } from '../../kernels/matmul.js';
import { ShapeError, fmtShape } from '../../util/errors.js';
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

/** Options of {@link Linear.forward}: an epilogue fused into the layer's one GEMM dispatch. */
export interface LinearForwardOptions {
  /**
   * Applied to x·Wᵀ + b: `'identity'` (default), `'relu'`, `'gelu'` (exact, erf) or `'gelu_tanh'`
   * (PyTorch's `approximate='tanh'`).
   */
  activation?: GemmActivation;
  /** Added to the output, [..., outFeatures] (the output's shape); not with an activation. */
  residual?: Tensor;
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
   * y = x·Wᵀ + b, or with `opts` y = act(x·Wᵀ + b) or y = x·Wᵀ + b + residual: still one GEMM
   * dispatch (the activation and the residual are applied in its epilogue).
   * @param x - [..., inFeatures].
   * @param opts - `activation` and `residual` (at most one of the two).
   * @returns [..., outFeatures].
   * @throws ShapeError when the residual's shape is not the output's; ArgumentError for an unknown
   *   option or activation, or an activation together with a residual.
   * @example
   * ```ts
   * const h = linear1.forward(x, { activation: 'gelu' });   // gelu(x·W1ᵀ + b1)
   * const y = linear2.forward(h, { residual: x });          // x + h·W2ᵀ + b2
   * ```
   */
  forward(x: Tensor, opts?: LinearForwardOptions): Tensor {
    const o = checkOptions<LinearForwardOptions>('Linear.forward', 'opts', opts, {
      activation: { type: 'enum', values: ['identity', 'relu', 'gelu', 'gelu_tanh'] },
      residual: { type: 'any' },
    });
    const xv = this.input('x', x);
    const residual = o.residual === undefined ? null : this.input('residual', o.residual);
    if (residual) {
      const want = [...xv.shape.slice(0, -1), this.options.outFeatures];
      if (fmtShape(residual.shape) !== fmtShape(want))
        throw new ShapeError(
          `Linear.forward: 'residual' has shape ${fmtShape(residual.shape)}, expected ${fmtShape(want)} ` +
            `(the output's shape: x ${fmtShape(xv.shape)} with outFeatures ${this.options.outFeatures})`,
        );
    }
    return linearActValue(
      xv,
      this.param('weight'),
      this.options.bias ? this.param('bias') : null,
      { activation: o.activation, residual },
      'Linear',
    ).tensor;
  }
}
