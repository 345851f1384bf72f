// nn.MultiheadAttention (PyTorch 1.13 semantics, no dropout) as a Module: parameters
// in_proj_weight [3E, E] — or, when kdim or vdim ≠ embedDim, q_proj_weight [E, E], k_proj_weight
// [E, kdim], v_proj_weight [E, vdim] — in_proj_bias [3E] and the child out_proj (a Linear), so
// state dicts load from PyTorch as they are. The forward is src/graph/ops/attention.ts (packed
// input projection, fused attention kernel reading heads in place, optional weights) followed by
// out_proj.
import type { Gpu } from '../../gpu/device.js';
import { ArgumentError } from '../../util/errors.js';
import { multiheadAttentionValues } from '../../graph/ops/attention.js';
import type { Value } from '../../graph/graph.js';
import { ATTENTION_MAX_HEAD_DIM } from '../../kernels/attention.js';
import { Tensor } from '../../gpu/tensor.js';
import { checkOptions } from '../../util/options.js';
import { Module, type LocalParameters } from '../module.js';
import { constant, createParameters, nextSeed, uniform } from './leaf.js';
import { Linear } from './linear.js';

/** Options of {@link MultiheadAttention}, PyTorch's names in camelCase. */
export interface MultiheadAttentionOptions {
  /** E: features of query, key, value and output. */
  embedDim: number;
  /** Heads; embedDim must be divisible by it, with embedDim / numHeads ≤ 256 ({@link ATTENTION_MAX_HEAD_DIM}). */
  numHeads: number;
  /** Dropout on the attention weights: only 0 (the default) is supported. */
  dropout?: number;
  /** in_proj_bias and out_proj.bias. Default true. */
  bias?: boolean;
  /** Inputs and output are [batch, seq, feature] instead of [seq, batch, feature]. Default false. */
  batchFirst?: boolean;
  /**
   * Features of key, default embedDim. When kdim or vdim differs from embedDim the input
   * projection is three parameters, as PyTorch's: q_proj_weight [E, E], k_proj_weight [E, kdim],
   * v_proj_weight [E, vdim] (no in_proj_weight).
   */
  kdim?: number;
  /** Features of value, default embedDim (see kdim). */
  vdim?: number;
  /** Seed of the initial weights (xavier_uniform in_proj_weight; out_proj.weight as Linear's). */
  seed?: number;
}

/** Options of {@link MultiheadAttention.forward} (PyTorch's keyword arguments in camelCase). */
export interface MultiheadAttentionForwardOptions {
  /**
   * [batch, S] ([S] unbatched). An i32 tensor: nonzero = that key is ignored (PyTorch's bool
   * True). An f32 tensor is ADDED to the scores, as PyTorch does with a float mask: 0 keeps,
   * −Infinity ignores.
   */
  keyPaddingMask?: Tensor;
  /**
   * [T, S] shared by every batch and head, or [batch·numHeads, T, S] ([numHeads, T, S] unbatched).
   * i32: nonzero = masked (PyTorch's bool True); f32: added to the scores (−Infinity = masked).
   */
  attnMask?: Tensor;
  /** Mask key j > query i (PyTorch's `attn_mask = triu(ones(T, S), 1)`); combines with the masks. */
  isCausal?: boolean;
  /** Also return the attention weights. Default false (PyTorch's default is true: pass it). */
  needWeights?: boolean;
  /** With needWeights: average the weights over heads (default true) or return them per head. */
  averageAttnWeights?: boolean;
}

/** What {@link MultiheadAttention.forward} returns. */
export interface MultiheadAttentionResult {
  /** [T, batch, E] ([batch, T, E] with batchFirst, [T, E] unbatched). */
  output: Tensor;
  /**
   * With needWeights: [batch, T, S] averaged over heads, or [batch, numHeads, T, S]
   * (unbatched: [T, S], [numHeads, T, S]). No gradient flows through them. A query whose keys are
   * all masked gets zeros here and in `output` (PyTorch: NaN).
   */
  weights?: Tensor;
}

const FORWARD_OPTIONS = {
  keyPaddingMask: { type: 'object' },
  attnMask: { type: 'object' },
  isCausal: { type: 'boolean' },
  needWeights: { type: 'boolean' },
  averageAttnWeights: { type: 'boolean' },
} as const;

/**
 * PyTorch `nn.MultiheadAttention`: parameters `in_proj_weight` [3E, E], `in_proj_bias` [3E],
 * `out_proj.weight` [E, E], `out_proj.bias` [E] — with kdim or vdim ≠ E, `q_proj_weight` [E, E],
 * `k_proj_weight` [E, kdim] and `v_proj_weight` [E, vdim] instead of `in_proj_weight`.
 * Self-attention (one tensor as query, key and value) runs ONE input GEMM; every head is read in
 * place by the fused attention kernel.
 * @example
 * ```ts
 * const attn = new MultiheadAttention(gpu, { embedDim: 64, numHeads: 4, batchFirst: true });
 * const { output } = attn.forward(x, x, x, { keyPaddingMask: pad }); // pad: i32 [B, T], 1 = padding
 * ```
 */
export class MultiheadAttention extends Module {
  /** The options with defaults filled in. */
  readonly options: Readonly<{
    embedDim: number;
    numHeads: number;
    dropout: number;
    bias: boolean;
    batchFirst: boolean;
    kdim: number;
    vdim: number;
  }>;
  /** The output projection (PyTorch's `out_proj`). */
  readonly out_proj: Linear;
  /** PyTorch's `_qkv_same_embed_dim`: kdim = vdim = embedDim (one packed in_proj_weight). */
  readonly sameEmbedDim: boolean;
  private readonly params: LocalParameters;

  /**
   * A MultiheadAttention layer with PyTorch's initial weights from its seed.
   * @param gpu - The device.
   * @param options - Sizes, bias, layout (see {@link MultiheadAttentionOptions}).
   * @throws ArgumentError for an unknown option, dropout > 0, or an embedDim not divisible by
   *   numHeads (or a head dimension above 256).
   */
  constructor(gpu: Gpu, options: MultiheadAttentionOptions) {
    super(gpu);
    const where = 'MultiheadAttention';
    const o = checkOptions<MultiheadAttentionOptions>(where, 'options', options, {
      embedDim: { type: 'int', min: 1, required: true },
      numHeads: { type: 'int', min: 1, required: true },
      dropout: { type: 'number', min: 0, max: 1 },
      bias: { type: 'boolean' },
      batchFirst: { type: 'boolean' },
      kdim: { type: 'int', min: 1 },
      vdim: { type: 'int', min: 1 },
      seed: { type: 'number' },
    });
    const E = o.embedDim!;
    const H = o.numHeads!;
    if (E % H !== 0) throw new ArgumentError(`${where}: embedDim ${E} must be divisible by numHeads ${H}`);
    if (E / H > ATTENTION_MAX_HEAD_DIM)
      throw new ArgumentError(
        `${where}: embedDim / numHeads = ${E / H} exceeds the fused attention kernel's ` +
          `head dimension limit ${ATTENTION_MAX_HEAD_DIM}; use more heads`,
      );
    if ((o.dropout ?? 0) > 0)
      throw new ArgumentError(
        `${where}: option 'dropout' ${o.dropout} is not supported (dropout on the ` +
          `attention weights would need them stored; the fused kernel never does): use ` +
          `dropout 0 and a Dropout layer on the output`,
      );
    this.options = Object.freeze({
      embedDim: E,
      numHeads: H,
      dropout: 0,
      bias: o.bias ?? true,
      batchFirst: o.batchFirst ?? false,
      kdim: o.kdim ?? E,
      vdim: o.vdim ?? E,
    });
    const { kdim, vdim } = this.options;
    this.sameEmbedDim = kdim === E && vdim === E;
    const seed = o.seed ?? nextSeed();
    // xavier_uniform_ of each projection weight: U(±√(6 / (fanIn + fanOut))); in_proj_weight
    // [3E, E] has fanIn E, fanOut 3E; q/k/v_proj_weight [E, d] fanIn d, fanOut E.
    const xavier = (rows: number, cols: number) => uniform(Math.sqrt(6 / (rows + cols)));
    this.params = createParameters(
      gpu,
      [
        ...(this.sameEmbedDim
          ? [{ name: 'in_proj_weight', shape: [3 * E, E], init: xavier(3 * E, E) }]
          : [
              { name: 'q_proj_weight', shape: [E, E], init: xavier(E, E) },
              { name: 'k_proj_weight', shape: [E, kdim], init: xavier(E, kdim) },
              { name: 'v_proj_weight', shape: [E, vdim], init: xavier(E, vdim) },
            ]),
        ...(this.options.bias ? [{ name: 'in_proj_bias', shape: [3 * E], init: constant(0) }] : []),
      ],
      seed,
    );
    this.out_proj = new Linear(gpu, {
      inFeatures: E,
      outFeatures: E,
      bias: this.options.bias,
      seed: (seed ^ 0x5bd1e995) >>> 0,
    });
    // PyTorch's _reset_parameters: constant_(out_proj.bias, 0).
    if (this.options.bias) this.out_proj.localParameters().store.write('bias', new Float32Array(E));
  }

  /** @internal */
  override localParameters(): LocalParameters {
    return this.params;
  }

  /**
   * Attention of `query` over `key`/`value`, then out_proj (PyTorch's forward without dropout).
   * @param query - [T, batch, E] ([batch, T, E] with batchFirst; [T, E] unbatched).
   * @param key - [S, batch, kdim] (likewise); the same tensor as query for self-attention.
   * @param value - [S, batch, vdim] (likewise).
   * @param opts - Masks, isCausal, needWeights (see {@link MultiheadAttentionForwardOptions}).
   * @returns `{ output }`, plus `weights` with needWeights.
   * @throws ShapeError naming the argument and the expected shape; ArgumentError for bad options.
   */
  forward(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    opts: MultiheadAttentionForwardOptions = {},
  ): MultiheadAttentionResult {
    const where = 'MultiheadAttention.forward';
    const o = checkOptions<MultiheadAttentionForwardOptions>(where, 'opts', opts, FORWARD_OPTIONS as never);
    const mask = (name: 'keyPaddingMask' | 'attnMask'): Value | null => {
      const t = o[name];
      if (t === undefined) return null;
      if (!(t instanceof Tensor))
        throw new ArgumentError(`${where}: option '${name}' must be a Tensor (i32 or f32), got ${typeof t}`);
      return this.input(name, t);
    };
    const r = multiheadAttentionValues({
      op: 'MultiheadAttention',
      where,
      query: this.input('query', query),
      key: this.input('key', key),
      value: this.input('value', value),
      inProjWeight: this.sameEmbedDim ? this.param('in_proj_weight') : null,
      ...(this.sameEmbedDim
        ? {}
        : {
            qProjWeight: this.param('q_proj_weight'),
            kProjWeight: this.param('k_proj_weight'),
            vProjWeight: this.param('v_proj_weight'),
          }),
      inProjBias: this.options.bias ? this.param('in_proj_bias') : null,
      numHeads: this.options.numHeads,
      batchFirst: this.options.batchFirst,
      keyPaddingMask: mask('keyPaddingMask'),
      attnMask: mask('attnMask'),
      isCausal: o.isCausal ?? false,
      needWeights: o.needWeights ?? false,
      averageAttnWeights: o.averageAttnWeights ?? true,
    });
    const output = this.out_proj.forward(r.output.tensor);
    return r.weights ? { output, weights: r.weights.tensor } : { output };
  }
}
