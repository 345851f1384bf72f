// nn.TransformerEncoderLayer / TransformerEncoder and nn.TransformerDecoderLayer /
// TransformerDecoder with PyTorch 1.13's semantics and names (Vaswani et al. 2017; pre-norm as
// Xiong et al. 2020):
//   encoder, post-norm (default): x = norm1(x + SA(x));  x = norm2(x + FF(x))
//   encoder, pre-norm (normFirst): x = x + SA(norm1(x));  x = x + FF(norm2(x))
//   decoder adds cross-attention over the memory: x = norm2(x + MHA(x, mem)) between them (FF's
//   norm is then norm3; pre-norm likewise)
//   SA(x) = dropout1(self_attn(x, x, x, masks)),  MHA(x, m) = dropout2(multihead_attn(x, m, m, masks)),
//   FF(x) = dropout{2|3}(linear2(dropout(act(linear1(x)))))
// The activation runs in linear1's GEMM epilogue and, when dropout{2|3} is inactive (eval, p = 0),
// the feed-forward residual add in linear2's (shaders/matmul.wgsl): 2 dispatches fewer per layer.
// Masks as PyTorch's: srcMask [T, T] or [B·nhead, T, T], f32 added (−∞ = masked) or i32 (nonzero =
// masked, PyTorch's bool True); srcKeyPaddingMask [B, T], i32 nonzero = ignored or f32 added.
// Parameters: self_attn.in_proj_weight/in_proj_bias, self_attn.out_proj.weight/bias, linear1.*,
// linear2.*, norm1.*, norm2.* — a PyTorch state_dict loads unchanged.
import type { Gpu } from '../../gpu/device.js';
import { Tensor } from '../../gpu/tensor.js';
import { activeGraph } from '../../graph/graph.js';
import { cachedSelfAttentionValue, type KvCacheValues } from '../../graph/ops/cachedAttention.js';
import { add } from '../../graph/ops/elementwise.js';
import { linearValue } from '../../graph/ops/linear.js';
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
   * Dropout of the attention weights, in [0, 1) (PyTorch applies `dropout` there too; seqgpu drops
   * them inside the fused attention kernels from a counter hash, no mask stored). Default `dropout`.
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
  /**
   * @internal One decoding step over a KV cache (TransformerLM.generate): src is the step's
   * [1, 1, dModel], its keys and values are appended to the cache and attended to with the earlier ones.
   */
  kvCache?: KvCacheValues;
}

const LAYER_SCHEMA = {
  dModel: { type: 'int', min: 1, required: true },
  nhead: { type: 'int', min: 1, required: true },
  dimFeedforward: { type: 'int', min: 1 },
  dropout: { type: 'number', min: 0, max: 1 },
  attnDropout: { type: 'number', min: 0, max: 0.999999 },
  activation: { type: 'enum', values: ['relu', 'gelu', 'gelu_tanh'] },
  layerNormEps: { type: 'number', min: 0 },
  batchFirst: { type: 'boolean' },
  normFirst: { type: 'boolean' },
  bias: { type: 'boolean' },
  seed: { type: 'number' },
} as const;

/** The options of a layer with defaults filled in. */
type LayerConfig = Readonly<Required<Omit<TransformerEncoderLayerOptions, 'seed'>>>;

function resolveLayerOptions(where: string, options: TransformerEncoderLayerOptions): LayerConfig {
  const o = checkOptions<TransformerEncoderLayerOptions>(where, 'options', options, LAYER_SCHEMA as never);
  const dropout = o.dropout ?? 0.1;
  return Object.freeze({
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
}

const attention = (gpu: Gpu, o: LayerConfig, seed: number) =>
  new MultiheadAttention(gpu, {
    embedDim: o.dModel,
    numHeads: o.nhead,
    dropout: o.attnDropout,
    bias: o.bias,
    batchFirst: o.batchFirst,
    seed,
  });
const norm = (gpu: Gpu, o: LayerConfig) =>
  new LayerNorm(gpu, { normalizedShape: [o.dModel], eps: o.layerNormEps, bias: o.bias });
const branchDropout = (gpu: Gpu, o: LayerConfig, seed: number) => new Dropout(gpu, { p: o.dropout, seed: seed >>> 0 });

/** linear1, the activation's dropout and linear2 of the feed-forward block. */
function feedForwardLayers(gpu: Gpu, o: LayerConfig, seed: number): [Linear, Dropout, Linear] {
  const { dModel: E, dimFeedforward: F, bias } = o;
  return [
    new Linear(gpu, { inFeatures: E, outFeatures: F, bias, seed: seed + 2 }),
    new Dropout(gpu, { p: o.dropout, seed: (seed + 3) >>> 0 }),
    new Linear(gpu, { inFeatures: F, outFeatures: E, bias, seed: seed + 4 }),
  ];
}

/** True when `d` drops anything in the active trace (training step, training mode, p > 0). */
const dropping = (d: Dropout) => d.p > 0 && d.training && !!activeGraph()?.training;

/**
 * The feed-forward branch with its residual: `residual + drop(linear2(dropout(act(linear1(x)))))`.
 * The activation runs in linear1's GEMM epilogue; the residual add in linear2's when `drop` is
 * inactive (else it is its own add after the dropout).
 */
function feedForward(
  l: { options: LayerConfig; linear1: Linear; dropout: Dropout; linear2: Linear },
  x: Tensor,
  drop: Dropout,
  residual: Tensor,
): Tensor {
  const h = l.dropout.forward(l.linear1.forward(x, { activation: l.options.activation }));
  if (!dropping(drop)) return l.linear2.forward(h, { residual });
  return add(residual, drop.forward(l.linear2.forward(h)));
}

/** A layer's masks as MultiheadAttention's forward options. */
function attentionOptions(attnMask?: Tensor, keyPaddingMask?: Tensor, isCausal?: boolean) {
  return {
    ...(attnMask instanceof Tensor ? { attnMask } : {}),
    ...(keyPaddingMask instanceof Tensor ? { keyPaddingMask } : {}),
    isCausal: isCausal ?? false,
  };
}

/** One decoding step's self-attention over a KV cache: in_proj, the cached attention, out_proj. */
function cachedSelfAttention(attn: MultiheadAttention, x: Tensor, cache: KvCacheValues): Tensor {
  const g = activeGraph();
  if (!g || g.training) throw new ArgumentError('TransformerEncoderLayer: a KV cache is for inference traces only');
  const bias = attn.options.bias ? attn.parameterValue('in_proj_bias') : null;
  const packed = linearValue(
    g.of('self_attn', 'x', x),
    attn.parameterValue('in_proj_weight'),
    bias,
    'self_attn.in_proj',
  );
  const o = cachedSelfAttentionValue(packed, cache, attn.options.numHeads, 'self_attn.cached');
  return attn.out_proj.forward(o.tensor);
}

/** PyTorch `nn.TransformerEncoderLayer` (self-attention and a feed-forward block, each residual). */
export class TransformerEncoderLayer extends Module {
  /** The options with defaults filled in. */
  readonly options: LayerConfig;
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
    this.options = resolveLayerOptions('TransformerEncoderLayer', options);
    const seed = options.seed ?? 0;
    this.self_attn = attention(gpu, this.options, seed + 1);
    [this.linear1, this.dropout, this.linear2] = feedForwardLayers(gpu, this.options, seed);
    [this.norm1, this.norm2] = [norm(gpu, this.options), norm(gpu, this.options)];
    [this.dropout1, this.dropout2] = [
      branchDropout(gpu, this.options, seed + 5),
      branchDropout(gpu, this.options, seed + 6),
    ];
  }

  /**
   * One encoder layer over `src`.
   * @param src - [T, batch, dModel] ([batch, T, dModel] with batchFirst).
   * @param opts - Masks and isCausal (see {@link TransformerEncoderLayerForwardOptions}).
   * @returns The same shape as `src`.
   */
  forward(src: Tensor, opts: TransformerEncoderLayerForwardOptions = {}): Tensor {
    const where = 'TransformerEncoderLayer.forward';
    const o = checkOptions<TransformerEncoderLayerForwardOptions>(where, 'opts', opts, {
      srcMask: { type: 'object' },
      srcKeyPaddingMask: { type: 'object' },
      isCausal: { type: 'boolean' },
      kvCache: { type: 'object' },
    });
    const sa = (x: Tensor) =>
      this.dropout1.forward(
        o.kvCache
          ? cachedSelfAttention(this.self_attn, x, o.kvCache)
          : this.self_attn.forward(x, x, x, attentionOptions(o.srcMask, o.srcKeyPaddingMask, o.isCausal)).output,
      );
    if (this.options.normFirst) {
      const x = add(src, sa(this.norm1.forward(src)));
      return feedForward(this, this.norm2.forward(x), this.dropout2, x);
    }
    const x = this.norm1.forward(add(src, sa(src)));
    return this.norm2.forward(feedForward(this, x, this.dropout2, x));
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
    [this.layers, this.norm] = copies(
      gpu,
      'TransformerEncoder',
      options,
      TransformerEncoderLayer,
      'TransformerEncoderLayer',
    );
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

/** Masks of a {@link TransformerDecoderLayer} forward, PyTorch's conventions (as the encoder's). */
export interface TransformerDecoderLayerForwardOptions {
  /** Self-attention mask [T, T] or [batch·nhead, T, T]: f32 added or i32 (nonzero = masked). */
  tgtMask?: Tensor;
  /** Cross-attention mask [T, S] or [batch·nhead, T, S]. */
  memoryMask?: Tensor;
  /** [batch, T]: i32 (nonzero = ignored) or f32 (added). */
  tgtKeyPaddingMask?: Tensor;
  /** [batch, S]: the memory positions to ignore. */
  memoryKeyPaddingMask?: Tensor;
  /** Causal self-attention (PyTorch 2's tgt_is_causal; the same as a causal tgtMask). */
  tgtIsCausal?: boolean;
}

const DECODER_FORWARD = {
  tgtMask: { type: 'object' },
  memoryMask: { type: 'object' },
  tgtKeyPaddingMask: { type: 'object' },
  memoryKeyPaddingMask: { type: 'object' },
  tgtIsCausal: { type: 'boolean' },
} as const;

/** PyTorch `nn.TransformerDecoderLayer`: self-attention, cross-attention over the memory, feed-forward. */
export class TransformerDecoderLayer extends Module {
  /** The options with defaults filled in. */
  readonly options: LayerConfig;
  /** Self-attention over the target (`self_attn.*`). */
  readonly self_attn: MultiheadAttention;
  /** Cross-attention of the target over the memory (`multihead_attn.*`). */
  readonly multihead_attn: MultiheadAttention;
  /** Feed-forward in: dModel → dimFeedforward. */
  readonly linear1: Linear;
  /** Dropout after the activation. */
  readonly dropout: Dropout;
  /** Feed-forward out: dimFeedforward → dModel. */
  readonly linear2: Linear;
  /** LayerNorm of the self-attention branch. */
  readonly norm1: LayerNorm;
  /** LayerNorm of the cross-attention branch. */
  readonly norm2: LayerNorm;
  /** LayerNorm of the feed-forward branch. */
  readonly norm3: LayerNorm;
  /** Dropout of the self-attention branch. */
  readonly dropout1: Dropout;
  /** Dropout of the cross-attention branch. */
  readonly dropout2: Dropout;
  /** Dropout of the feed-forward branch. */
  readonly dropout3: Dropout;

  /**
   * A layer with PyTorch's initial weights (drawn from `seed`).
   * @param gpu - The device.
   * @param options - As {@link TransformerEncoderLayerOptions}.
   * @throws ArgumentError naming an unknown or invalid option.
   */
  constructor(gpu: Gpu, options: TransformerEncoderLayerOptions) {
    super(gpu);
    this.options = resolveLayerOptions('TransformerDecoderLayer', options);
    const o = this.options;
    const seed = options.seed ?? 0;
    this.self_attn = attention(gpu, o, seed + 1);
    this.multihead_attn = attention(gpu, o, seed + 7);
    [this.linear1, this.dropout, this.linear2] = feedForwardLayers(gpu, o, seed);
    [this.norm1, this.norm2, this.norm3] = [norm(gpu, o), norm(gpu, o), norm(gpu, o)];
    this.dropout1 = branchDropout(gpu, o, seed + 5);
    this.dropout2 = branchDropout(gpu, o, seed + 6);
    this.dropout3 = branchDropout(gpu, o, seed + 8);
  }

  /**
   * One decoder layer.
   * @param tgt - [T, batch, dModel] ([batch, T, dModel] with batchFirst).
   * @param memory - The encoder's output [S, batch, dModel] ([batch, S, dModel]).
   * @param opts - Masks and tgtIsCausal (see {@link TransformerDecoderLayerForwardOptions}).
   * @returns The shape of `tgt`.
   */
  forward(tgt: Tensor, memory: Tensor, opts: TransformerDecoderLayerForwardOptions = {}): Tensor {
    const where = 'TransformerDecoderLayer.forward';
    const o = checkOptions<TransformerDecoderLayerForwardOptions>(where, 'opts', opts, DECODER_FORWARD);
    const sa = (x: Tensor) =>
      this.dropout1.forward(
        this.self_attn.forward(x, x, x, attentionOptions(o.tgtMask, o.tgtKeyPaddingMask, o.tgtIsCausal)).output,
      );
    const mha = (x: Tensor) =>
      this.dropout2.forward(
        this.multihead_attn.forward(x, memory, memory, attentionOptions(o.memoryMask, o.memoryKeyPaddingMask)).output,
      );
    if (this.options.normFirst) {
      let x = add(tgt, sa(this.norm1.forward(tgt)));
      x = add(x, mha(this.norm2.forward(x)));
      return feedForward(this, this.norm3.forward(x), this.dropout3, x);
    }
    let x = this.norm1.forward(add(tgt, sa(tgt)));
    x = this.norm2.forward(add(x, mha(x)));
    return this.norm3.forward(feedForward(this, x, this.dropout3, x));
  }
}

/** Options of {@link TransformerDecoder}. */
export interface TransformerDecoderOptions {
  /** The layer copied `numLayers` times (each copy with its own parameters, same initial values). */
  layer: TransformerDecoderLayer;
  /** Layers. */
  numLayers: number;
  /** A final LayerNorm, or none. */
  norm?: LayerNorm;
}

/** PyTorch `nn.TransformerDecoder`: `layers.0.…`, …, and `norm.…` when given. */
export class TransformerDecoder extends Module {
  /** The layers (copies of the given layer). */
  readonly layers: TransformerDecoderLayer[];
  /** The final LayerNorm, if any. */
  readonly norm: LayerNorm | undefined;

  /**
   * A stack of `numLayers` copies of `layer` (its options and current weights, copied on the GPU).
   * @param gpu - The device.
   * @param options - The layer to copy, how many, and the optional final norm.
   * @throws ArgumentError for a missing layer, a numLayers < 1 or a module of another Gpu.
   */
  constructor(gpu: Gpu, options: TransformerDecoderOptions) {
    super(gpu);
    [this.layers, this.norm] = copies(
      gpu,
      'TransformerDecoder',
      options,
      TransformerDecoderLayer,
      'TransformerDecoderLayer',
    );
  }

  /**
   * The layers in order (each over the same memory), then the final norm.
   * @param tgt - [T, batch, dModel] ([batch, T, dModel] with the layers' batchFirst).
   * @param memory - [S, batch, dModel] ([batch, S, dModel]).
   * @param opts - As {@link TransformerDecoderLayer.forward}.
   * @returns The shape of `tgt`.
   */
  forward(tgt: Tensor, memory: Tensor, opts: TransformerDecoderLayerForwardOptions = {}): Tensor {
    const o = checkOptions<TransformerDecoderLayerForwardOptions>(
      'TransformerDecoder.forward',
      'opts',
      opts,
      DECODER_FORWARD,
    );
    let x = tgt;
    for (const l of this.layers) x = l.forward(x, memory, o);
    return this.norm ? this.norm.forward(x) : x;
  }
}

/**
 * `numLayers` copies of a layer (its options and current weights, copied on the GPU) and the
 * checked final norm: what TransformerEncoder and TransformerDecoder share.
 */
function copies<L extends Module & { options: LayerConfig }>(
  gpu: Gpu,
  where: string,
  options: { layer: L; numLayers: number; norm?: LayerNorm },
  Layer: new (gpu: Gpu, o: TransformerEncoderLayerOptions) => L,
  layerName: string,
): [L[], LayerNorm | undefined] {
  const o = checkOptions<{ layer: L; numLayers: number; norm: LayerNorm }>(where, 'options', options, {
    layer: { type: 'object', required: true },
    numLayers: { type: 'int', min: 1, required: true },
    norm: { type: 'object' },
  });
  const layer = o.layer!;
  if (!(layer instanceof Layer) || layer.gpu !== gpu)
    throw new ArgumentError(`${where}: options.layer must be a ${layerName} of this Gpu`);
  if (o.norm !== undefined && (!(o.norm instanceof LayerNorm) || o.norm.gpu !== gpu))
    throw new ArgumentError(`${where}: options.norm must be a LayerNorm of this Gpu`);
  const layers = Array.from({ length: o.numLayers! }, () => {
    const copy = new Layer(gpu, layer.options);
    copyParameters(layer, copy);
    return copy;
  });
  return [layers, o.norm];
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
