// nn.TransformerEncoderLayer and nn.TransformerEncoder with PyTorch 1.13's semantics and names
// (Vaswani et al. 2017; pre-norm as Xiong et al. 2020):
//   post-norm (default): x = norm1(x + SA(x));        x = norm2(x + FF(x))
//   pre-norm (normFirst): x = x + SA(norm1(x));        x = x + FF(norm2(x))
//   SA(x) = dropout1(self_attn(x, x, x, masks)),  FF(x) = dropout2(linear2(dropout(act(linear1(x)))))
// Masks as PyTorch's: srcMask [T, T] or [B·nhead, T, T], f32 added (−∞ = masked) or i32 (nonzero =
// masked, PyTorch's bool True); srcKeyPaddingMask [B, T], i32 nonzero = ignored or f32 added.
// Parameters: self_attn.in_proj_weight/in_proj_bias, self_attn.out_proj.weight/bias, linear1.*,
// linear2.*, norm1.*, norm2.* — a PyTorch state_dict loads unchanged.
import type { Gpu } from '../../gpu/device.js';
import { Tensor } from '../../gpu/tensor.js';
import { activeGraph } from '../../graph/graph.js';
import { add, gelu, relu } from '../../graph/ops/elementwise.js';
import { ArgumentError } from '../../util/errors.js';
import { checkOptions } from '../../util/options.js';
import { Module } from '../module.js';
import { Dropout } from './dropout.js';
import { LayerNorm } from './layerNorm.js';
import { Linear } from './linear.js';
import { MultiheadAttention } from './multiheadAttention.js';

/** Options of {@link TransformerEncoderLayer}, PyTorch's names in camelCase. */
export interface TransformerEncoderLayerOptions {
  /** d_model: features of the input and output. */
  dModel: number;
  /** Attention heads (dModel divisible by it). */
  nhead: number;
  /** Width of the feed-forward layer. Default 2048. */
  dimFeedforward?: number;
  /** Dropout of the residual branches and the feed-forward layer (training only). Default 0.1. */
  dropout?: number;
  /**
   * Dropout of the attention weights (PyTorch applies `dropout` there too). Only 0 is supported
   * yet: a training step with attnDropout > 0 is an error, not silently different. Default
   * `dropout`.
   */
  attnDropout?: number;
  /** Feed-forward activation: `'relu'` (default), `'gelu'` (exact) or `'gelu_tanh'`. */
  activation?: 'relu' | 'gelu' | 'gelu_tanh';
  /** LayerNorm eps. Default 1e-5. */
  layerNormEps?: number;
  /** Input and output [batch, seq, feature] instead of [seq, batch, feature]. Default false. */
  batchFirst?: boolean;
  /** Pre-norm (LayerNorm before each branch). Default false (post-norm). */
  normFirst?: boolean;
  /** Biases in the linear layers, the attention and the LayerNorms. Default true. */
  bias?: boolean;
  /** Seed of the initial weights. */
  seed?: number;
}

/** Masks of a {@link TransformerEncoderLayer} forward, PyTorch's conventions. */
export interface TransformerEncoderLayerForwardOptions {
  /** [T, T] or [batch·nhead, T, T]: f32 added (−Infinity = masked) or i32 (nonzero = masked). */
  srcMask?: Tensor;
  /** [batch, T]: i32 (nonzero = ignored) or f32 (added). */
  srcKeyPaddingMask?: Tensor;
  /** Causal self-attention (key j > query i masked). */
  isCausal?: boolean;
}

const LAYER_SCHEMA = {
  dModel: { type: 'int', min: 1, required: true },
  nhead: { type: 'int', min: 1, required: true },
  dimFeedforward: { type: 'int', min: 1 },
  dropout: { type: 'number', min: 0, max: 1 },
  attnDropout: { type: 'number', min: 0, max: 1 },
  activation: { type: 'enum', values: ['relu', 'gelu', 'gelu_tanh'] },
  layerNormEps: { type: 'number', min: 0 },
  batchFirst: { type: 'boolean' },
  normFirst: { type: 'boolean' },
  bias: { type: 'boolean' },
  seed: { type: 'number' },
} as const;

/** PyTorch `nn.TransformerEncoderLayer` (self-attention and a feed-forward block, each residual). */
export class TransformerEncoderLayer extends Module {
  /** The options with defaults filled in. */
  readonly options: Readonly<Required<Omit<TransformerEncoderLayerOptions, 'seed'>>>;
  /** Self-attention (`self_attn.in_proj_weight`, …, `self_attn.out_proj.*`). */
  readonly self_attn: MultiheadAttention;
  /** Feed-forward in: dModel → dimFeedforward. */
  readonly linear1: Linear;
  /** Dropout after the activation. */
  readonly dropout: Dropout;
  /** Feed-forward out: dimFeedforward → dModel. */
  readonly linear2: Linear;
  /** LayerNorm of the attention branch (before it with normFirst, after the residual without). */
  readonly norm1: LayerNorm;
  /** LayerNorm of the feed-forward branch. */
  readonly norm2: LayerNorm;
  /** Dropout of the attention branch. */
  readonly dropout1: Dropout;
  /** Dropout of the feed-forward branch. */
  readonly dropout2: Dropout;

  /**
   * A layer with PyTorch's initial weights (drawn from `seed`).
   * @param gpu - The device.
   * @param options - Sizes, dropout, activation, norm placement (see {@link TransformerEncoderLayerOptions}).
   * @throws ArgumentError naming an unknown or invalid option.
   */
  constructor(gpu: Gpu, options: TransformerEncoderLayerOptions) {
    super(gpu);
    const o = checkOptions<TransformerEncoderLayerOptions>(
      'TransformerEncoderLayer',
      'options',
      options,
      LAYER_SCHEMA as never,
    );
    const dropout = o.dropout ?? 0.1;
    this.options = Object.freeze({
      dModel: o.dModel!,
      nhead: o.nhead!,
      dimFeedforward: o.dimFeedforward ?? 2048,
      dropout,
      attnDropout: o.attnDropout ?? dropout,
      activation: o.activation ?? 'relu',
      layerNormEps: o.layerNormEps ?? 1e-5,
      batchFirst: o.batchFirst ?? false,
      normFirst: o.normFirst ?? false,
      bias: o.bias ?? true,
    });
    const { dModel: E, dimFeedforward: F, bias, layerNormEps: eps } = this.options;
    const seed = o.seed ?? 0;
    this.self_attn = new MultiheadAttention(gpu, {
      embedDim: E,
      numHeads: this.options.nhead,
      bias,
      batchFirst: this.options.batchFirst,
      seed: seed + 1,
    });
    this.linear1 = new Linear(gpu, { inFeatures: E, outFeatures: F, bias, seed: seed + 2 });
    this.dropout = new Dropout(gpu, { p: dropout, seed: (seed + 3) >>> 0 });
    this.linear2 = new Linear(gpu, { inFeatures: F, outFeatures: E, bias, seed: seed + 4 });
    this.norm1 = new LayerNorm(gpu, { normalizedShape: [E], eps, bias });
    this.norm2 = new LayerNorm(gpu, { normalizedShape: [E], eps, bias });
    this.dropout1 = new Dropout(gpu, { p: dropout, seed: (seed + 5) >>> 0 });
    this.dropout2 = new Dropout(gpu, { p: dropout, seed: (seed + 6) >>> 0 });
  }

  /**
   * One encoder layer over `src`.
   * @param src - [T, batch, dModel] ([batch, T, dModel] with batchFirst).
   * @param opts - Masks and isCausal (see {@link TransformerEncoderLayerForwardOptions}).
   * @returns The same shape as `src`.
   * @throws ArgumentError for a training step with attnDropout > 0 (not supported yet).
   */
  forward(src: Tensor, opts: TransformerEncoderLayerForwardOptions = {}): Tensor {
    const where = 'TransformerEncoderLayer.forward';
    const o = checkOptions<TransformerEncoderLayerForwardOptions>(where, 'opts', opts, {
      srcMask: { type: 'object' },
      srcKeyPaddingMask: { type: 'object' },
      isCausal: { type: 'boolean' },
    });
    const g = activeGraph();
    if (g && g.training && this.training && this.options.attnDropout > 0)
      throw new ArgumentError(
        `${where}: attention-weight dropout (attnDropout ${this.options.attnDropout}) is not supported ` +
          `yet; pass attnDropout: 0 (residual and feed-forward dropout still apply) or call eval()`,
      );
    const sa = (x: Tensor) =>
      this.dropout1.forward(
        this.self_attn.forward(x, x, x, {
          ...(o.srcMask instanceof Tensor ? { attnMask: o.srcMask } : {}),
          ...(o.srcKeyPaddingMask instanceof Tensor ? { keyPaddingMask: o.srcKeyPaddingMask } : {}),
          isCausal: o.isCausal ?? false,
        }).output,
      );
    const ff = (x: Tensor) =>
      this.dropout2.forward(this.linear2.forward(this.dropout.forward(this.activate(this.linear1.forward(x)))));
    if (this.options.normFirst) {
      const x = add(src, sa(this.norm1.forward(src)));
      return add(x, ff(this.norm2.forward(x)));
    }
    const x = this.norm1.forward(add(src, sa(src)));
    return this.norm2.forward(add(x, ff(x)));
  }

  private activate(x: Tensor): Tensor {
    const a = this.options.activation;
    return a === 'relu' ? relu(x) : gelu(x, a === 'gelu_tanh' ? 'tanh' : 'none');
  }
}

/** Options of {@link TransformerEncoder}. */
export interface TransformerEncoderOptions {
  /** The layer copied `numLayers` times (each copy with its own parameters, same initial values). */
  layer: TransformerEncoderLayer;
  /** Layers. */
  numLayers: number;
  /** A final LayerNorm (PyTorch's `norm`), or none. */
  norm?: LayerNorm;
}

/** PyTorch `nn.TransformerEncoder`: `layers.0.…`, `layers.1.…`, and `norm.…` when given. */
export class TransformerEncoder extends Module {
  /** The layers (copies of the given layer). */
  readonly layers: TransformerEncoderLayer[];
  /** The final LayerNorm, if any. */
  readonly norm: LayerNorm | undefined;

  /**
   * A stack of `numLayers` copies of `layer`, as PyTorch's deep copy: each copy gets the layer's
   * options and its current weights (copied on the GPU), and its own parameters from then on.
   * `layer` itself is not used by the stack.
   * @param gpu - The device.
   * @param options - The layer to copy, how many, and the optional final norm.
   * @throws ArgumentError for a missing layer, a numLayers < 1 or a module of another Gpu.
   */
  constructor(gpu: Gpu, options: TransformerEncoderOptions) {
    super(gpu);
    const o = checkOptions<TransformerEncoderOptions>('TransformerEncoder', 'options', options, {
      layer: { type: 'object', required: true },
      numLayers: { type: 'int', min: 1, required: true },
      norm: { type: 'object' },
    });
    const layer = o.layer!;
    if (!(layer instanceof TransformerEncoderLayer) || layer.gpu !== gpu)
      throw new ArgumentError(`TransformerEncoder: options.layer must be a TransformerEncoderLayer of this Gpu`);
    if (o.norm !== undefined && (!(o.norm instanceof LayerNorm) || o.norm.gpu !== gpu))
      throw new ArgumentError(`TransformerEncoder: options.norm must be a LayerNorm of this Gpu`);
    this.layers = Array.from({ length: o.numLayers! }, () => {
      const copy = new TransformerEncoderLayer(gpu, layer.options);
      copyParameters(layer, copy);
      return copy;
    });
    this.norm = o.norm;
  }

  /**
   * The layers in order, then the final norm.
   * @param src - [T, batch, dModel] ([batch, T, dModel] with the layers' batchFirst).
   * @param opts - `mask` (the layers' srcMask), `srcKeyPaddingMask`, `isCausal`.
   * @returns The same shape as `src`.
   */
  forward(src: Tensor, opts: { mask?: Tensor; srcKeyPaddingMask?: Tensor; isCausal?: boolean } = {}): Tensor {
    const o = checkOptions<{ mask: Tensor; srcKeyPaddingMask: Tensor; isCausal: boolean }>(
      'TransformerEncoder.forward',
      'opts',
      opts,
      { mask: { type: 'object' }, srcKeyPaddingMask: { type: 'object' }, isCausal: { type: 'boolean' } },
    );
    let x = src;
    for (const l of this.layers)
      x = l.forward(x, {
        ...(o.mask ? { srcMask: o.mask } : {}),
        ...(o.srcKeyPaddingMask ? { srcKeyPaddingMask: o.srcKeyPaddingMask } : {}),
        isCausal: o.isCausal ?? false,
      });
    return this.norm ? this.norm.forward(x) : x;
  }
}

/** Copies every parameter of `from` into the same-named parameter of `to` on the GPU (one submit). */
function copyParameters(from: Module, to: Module): void {
  const src = new Map(from.namedParameters().map((p) => [p.name, p]));
  const encoder = from.gpu.device.createCommandEncoder({ label: 'transformer.copyParameters' });
  const owners = new Set<Module>();
  for (const p of to.namedParameters()) {
    const s = src.get(p.name)!;
    const a = s.owner.localParameters()!;
    const b = p.owner.localParameters()!;
    const va = a.store.view(a.prefix + s.localName);
    const vb = b.store.view(b.prefix + p.localName);
    encoder.copyBufferToBuffer(va.buffer, va.offset * 4, vb.buffer, vb.offset * 4, va.size * 4);
    owners.add(p.owner);
  }
  from.gpu.submit(encoder, 0);
  for (const m of owners) m.parametersWritten();
}
