// nn.Conv1d (groups 1, zero padding): [batch, inChannels, length] → [batch, outChannels, Lout].
import type { Gpu } from '../../gpu/device.js';
import { conv1dValue } from '../../graph/ops/conv1d.js';
import type { Tensor } from '../../gpu/tensor.js';
import { checkOptions } from '../../util/options.js';
import { Module, type LocalParameters } from '../module.js';
import { createParameters, nextSeed, uniform } from './leaf.js';

/** Options of {@link Conv1d}, PyTorch's names in camelCase. */
export interface Conv1dOptions {
  /** Channels of the input. */
  inChannels: number;
  /** Channels of the output. */
  outChannels: number;
  /** Taps K. */
  kernelSize: number;
  /** Default 1. */
  stride?: number;
  /** Zeros added on both sides. Default 0. */
  padding?: number;
  /** Spacing of the taps. Default 1. */
  dilation?: number;
  /** Adds the bias. Default true. */
  bias?: boolean;
  /** Seed of U(−1/√(inChannels·K), 1/√(inChannels·K)), as PyTorch. */
  seed?: number;
}

/** PyTorch `nn.Conv1d`: parameters `weight` [out, in, K] and `bias` [out]. */
export class Conv1d extends Module {
  /** The options with defaults filled in. */
  readonly options: Readonly<Required<Omit<Conv1dOptions, 'seed'>>>;
  private readonly params: LocalParameters;

  /**
   * A Conv1d with PyTorch's initial weights from its seed.
   * @param gpu - The device.
   * @param options - Channels, kernel size, stride, padding, dilation, bias.
   */
  constructor(gpu: Gpu, options: Conv1dOptions) {
    super(gpu);
    const o = checkOptions<Conv1dOptions>('Conv1d', 'options', options, {
      inChannels: { type: 'int', min: 1, required: true },
      outChannels: { type: 'int', min: 1, required: true },
      kernelSize: { type: 'int', min: 1, required: true },
      stride: { type: 'int', min: 1 },
      padding: { type: 'int', min: 0 },
      dilation: { type: 'int', min: 1 },
      bias: { type: 'boolean' },
      seed: { type: 'number' },
    });
    this.options = Object.freeze({
      inChannels: o.inChannels!,
      outChannels: o.outChannels!,
      kernelSize: o.kernelSize!,
      stride: o.stride ?? 1,
      padding: o.padding ?? 0,
      dilation: o.dilation ?? 1,
      bias: o.bias ?? true,
    });
    const a = this.options;
    const k = 1 / Math.sqrt(a.inChannels * a.kernelSize);
    this.params = createParameters(
      gpu,
      [
        { name: 'weight', shape: [a.outChannels, a.inChannels, a.kernelSize], init: uniform(k) },
        ...(a.bias ? [{ name: 'bias', shape: [a.outChannels], init: uniform(k) }] : []),
      ],
      o.seed ?? nextSeed(),
    );
  }

  /** @internal */
  override localParameters(): LocalParameters {
    return this.params;
  }

  /**
   * The convolution.
   * @param x - [batch, inChannels, length].
   * @returns [batch, outChannels, Lout].
   */
  forward(x: Tensor): Tensor {
    const a = this.options;
    return conv1dValue(this.input('x', x), this.param('weight'), a.bias ? this.param('bias') : null, {
      stride: a.stride,
      padding: a.padding,
      dilation: a.dilation,
    }).tensor;
  }
}
