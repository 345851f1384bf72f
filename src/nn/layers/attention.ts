// Attention of an RNN decoder over encoder outputs as Modules: Luong (dot, general) and Bahdanau
// (additive). Each forward is ONE graph node, the fused RnnAttentionPlan (scores, masked softmax,
// context in one dispatch after the projection GEMMs), and its backward ONE node (the plan's fused
// backward); see src/graph/ops/rnnAttention.ts.
//
//   Luong dot:      score_ts = h_tᵀ·h̄_s
//   Luong general:  score_ts = h_tᵀ·W·h̄_s                    W = `weight` [hiddenSize, keySize]
//   Bahdanau:       score_ts = vᵀ·tanh(W1·h_t + W2·h̄_s)      W1 = `query_proj.weight` [A, hiddenSize],
//                                                             W2 = `key_proj.weight` [A, keySize], v = `v` [A]
//   α_ts = softmax over s of the kept keys,  c_t = Σ_s α_ts·h̄_s   (keys are the values)
import type { Gpu } from '../../gpu/device.js';
import { ArgumentError, ShapeError, fmtShape } from '../../util/errors.js';
import { rnnAttentionValue, type RnnAttentionParam } from '../../graph/ops/rnnAttention.js';
import type { AttentionScore } from '../../kernels/rnnAttention.js';
import type { Tensor } from '../../gpu/tensor.js';
import { checkOptions } from '../../util/options.js';
import { Module, type LocalParameters } from '../module.js';
import { createParameters, nextSeed, uniform, type ParameterInit } from './leaf.js';

/** Options of {@link LuongAttention}. */
export interface LuongAttentionOptions {
  /** Size H of a decoder state (the query's last dimension). */
  hiddenSize: number;
  /** `'dot'`: h_tᵀ·h̄_s (keySize = hiddenSize); `'general'`: h_tᵀ·W·h̄_s with the parameter `weight`. */
  score: 'dot' | 'general';
  /** Size of an encoder output (the keys' last dimension, e.g. 2·H for a bidirectional encoder). Default hiddenSize. */
  keySize?: number;
  /** Seed of the initial weights (general): U(−1/√keySize, 1/√keySize), as nn.Linear(keySize, hiddenSize). */
  seed?: number;
}

/** Options of {@link BahdanauAttention}. */
export interface BahdanauAttentionOptions {
  /** Size H of a decoder state (the query's last dimension). */
  hiddenSize: number;
  /** Size A of the projections W1·h_t and W2·h̄_s and of v. Default hiddenSize. */
  attentionSize?: number;
  /** Size of an encoder output (the keys' last dimension). Default hiddenSize. */
  keySize?: number;
  /** Seed of the initial weights: U(−1/√fanIn, 1/√fanIn) (fanIn: hiddenSize, keySize, A for v). */
  seed?: number;
}

/** Options of an attention forward. */
export interface AttentionCallOptions {
  /**
   * f32 [batch, keyLen]: nonzero (1) = attend to that key, 0 = masked (padding). Masked keys get
   * weight 0; a query whose keys are all masked gets weights 0 and context 0. Default: no mask.
   */
  keyMask?: Tensor;
}

/** What an attention forward returns. */
export interface AttentionOutput {
  /** c [batch, queryLen, keySize]: Σ_s α_ts·h̄_s. */
  context: Tensor;
  /** α [batch, queryLen, keyLen]: rows sum to 1 over the kept keys. Not differentiable (see the class docs). */
  weights: Tensor;
}

/** The shared forward of the RNN attention modules. */
abstract class RnnAttentionModule extends Module {
  protected abstract readonly score: AttentionScore;
  protected abstract readonly querySize: number;
  protected abstract readonly keySize: number;
  protected readonly attnDim: number | undefined = undefined;
  protected params: LocalParameters | null = null;

  /** @internal */
  override localParameters(): LocalParameters | null {
    return this.params;
  }

  /**
   * Attends from every query step over the keys.
   * @param query - Decoder states h, f32 [batch, queryLen, hiddenSize] (batch first).
   * @param keys - Encoder outputs h̄ (also the values), f32 [batch, keyLen, keySize].
   * @param opts - `keyMask`: f32 [batch, keyLen], 1 = attend, 0 = masked.
   * @returns `context` [batch, queryLen, keySize] and `weights` [batch, queryLen, keyLen].
   * @throws ShapeError naming the argument and its shape; ArgumentError for an unknown option.
   */
  forward(query: Tensor, keys: Tensor, opts: AttentionCallOptions = {}): AttentionOutput {
    const where = `${this.constructor.name}.forward`;
    const o = checkOptions<AttentionCallOptions>(where, 'opts', opts, { keyMask: { type: 'object' } });
    const q = this.input('query', query);
    const k = this.input('keys', keys);
    const m = o.keyMask !== undefined ? this.input('opts.keyMask', o.keyMask) : null;
    if (q.dtype !== 'f32' || q.shape.length !== 3 || q.shape[2] !== this.querySize) {
      throw new ShapeError(
        `${where}: argument 'query' has shape ${fmtShape(q.shape)} (${q.dtype}); ` +
          `expected f32 [batch, queryLen, ${this.querySize}] (hiddenSize), batch first`,
      );
    }
    if (k.dtype !== 'f32' || k.shape.length !== 3 || k.shape[0] !== q.shape[0] || k.shape[2] !== this.keySize) {
      throw new ShapeError(
        `${where}: argument 'keys' has shape ${fmtShape(k.shape)} (${k.dtype}); ` +
          `expected f32 [batch = ${q.shape.length === 3 ? q.shape[0] : 'batch'} (query's), ` +
          `keyLen, ${this.keySize}] (keySize), batch first`,
      );
    }
    if (m && (m.dtype !== 'f32' || m.shape.length !== 2 || m.shape[0] !== k.shape[0] || m.shape[1] !== k.shape[1])) {
      throw new ShapeError(
        `${where}: argument 'opts.keyMask' has shape ${fmtShape(m.shape)} (${m.dtype}); ` +
          `expected f32 [batch, keyLen] = ${fmtShape([k.shape[0], k.shape[1]])} (1 = ` +
          `attend, 0 = masked)`,
      );
    }
    const params: RnnAttentionParam[] = (this.params?.names ?? []).map((p) => ({
      name: p.name,
      value: this.param(p.name),
    }));
    const { context, weights } = rnnAttentionValue(this.constructor.name, this.score, q, k, m, params, this.attnDim);
    return { context: context.tensor, weights: weights.tensor };
  }
}

/**
 * Luong attention (Luong et al. 2015) of decoder states over encoder outputs, batch first.
 * `'dot'`: score h_tᵀ·h̄_s, no parameters. `'general'`: score h_tᵀ·W·h̄_s with the parameter
 * `weight` [hiddenSize, keySize], the weight of PyTorch's `nn.Linear(keySize, hiddenSize, bias=False)`
 * applied to the keys (score = (query · linear(keys)ᵀ)), so a PyTorch state dict loads as is.
 * α = masked softmax over the keys, context = α·keys. The forward and its backward are one fused
 * node each; the gradient reaches query, keys and `weight` through `context` only (a loss on
 * `weights` is an ArgumentError: compose F.matmul / F.softmax for that).
 * @example
 * ```ts
 * const attn = new LuongAttention(gpu, { hiddenSize: 64, score: 'general' });
 * const { context, weights } = attn.forward(decoderOut, encoderOut, { keyMask }); // inside Module.forward
 * ```
 */
export class LuongAttention extends RnnAttentionModule {
  /** The options with defaults filled in. */
  readonly options: Readonly<{ hiddenSize: number; score: 'dot' | 'general'; keySize: number }>;
  protected readonly score: AttentionScore;
  protected readonly querySize: number;
  protected readonly keySize: number;

  /**
   * Luong attention with the chosen score.
   * @param gpu - The device.
   * @param options - Sizes and score.
   * @throws ArgumentError for a bad option, or `'dot'` with keySize ≠ hiddenSize.
   */
  constructor(gpu: Gpu, options: LuongAttentionOptions) {
    super(gpu);
    const o = checkOptions<LuongAttentionOptions>('LuongAttention', 'options', options, {
      hiddenSize: { type: 'int', min: 1, required: true },
      score: { type: 'enum', values: ['dot', 'general'], required: true },
      keySize: { type: 'int', min: 1 },
      seed: { type: 'number' },
    });
    const H = o.hiddenSize!;
    const Hk = o.keySize ?? H;
    if (o.score === 'dot' && Hk !== H)
      throw new ArgumentError(
        `LuongAttention: the 'dot' score needs keySize === hiddenSize, got ` +
          `keySize ${Hk} and hiddenSize ${H} (use score 'general')`,
      );
    this.options = Object.freeze({ hiddenSize: H, score: o.score!, keySize: Hk });
    this.score = o.score!;
    this.querySize = H;
    this.keySize = Hk;
    if (o.score === 'general')
      this.params = createParameters(
        gpu,
        [{ name: 'weight', shape: [H, Hk], init: uniform(1 / Math.sqrt(Hk)) }],
        o.seed ?? nextSeed(),
      );
  }
}

/**
 * Bahdanau (additive) attention (Bahdanau et al. 2015) of decoder states over encoder outputs,
 * batch first: score_ts = vᵀ·tanh(W1·h_t + W2·h̄_s), no biases (the fused kernel has none).
 * Parameters: `query_proj.weight` W1 [attentionSize, hiddenSize] and `key_proj.weight` W2
 * [attentionSize, keySize] (PyTorch `nn.Linear(·, attentionSize, bias=False)` weights), `v`
 * [attentionSize] (a plain vector: PyTorch `nn.Parameter`; a `nn.Linear(attentionSize, 1,
 * bias=False)` weight [1, A] holds the same values). α = masked softmax over the keys,
 * context = α·keys; the gradient flows through `context` only (see {@link LuongAttention}).
 */
export class BahdanauAttention extends RnnAttentionModule {
  /** The options with defaults filled in. */
  readonly options: Readonly<{ hiddenSize: number; attentionSize: number; keySize: number }>;
  protected readonly score: AttentionScore = 'additive';
  protected readonly querySize: number;
  protected readonly keySize: number;
  protected override readonly attnDim: number;

  /**
   * Bahdanau (additive) attention.
   * @param gpu - The device.
   * @param options - Sizes.
   * @throws ArgumentError for a bad option.
   */
  constructor(gpu: Gpu, options: BahdanauAttentionOptions) {
    super(gpu);
    const o = checkOptions<BahdanauAttentionOptions>('BahdanauAttention', 'options', options, {
      hiddenSize: { type: 'int', min: 1, required: true },
      attentionSize: { type: 'int', min: 1 },
      keySize: { type: 'int', min: 1 },
      seed: { type: 'number' },
    });
    const H = o.hiddenSize!;
    const A = o.attentionSize ?? H;
    const Hk = o.keySize ?? H;
    this.options = Object.freeze({ hiddenSize: H, attentionSize: A, keySize: Hk });
    this.querySize = H;
    this.keySize = Hk;
    this.attnDim = A;
    const specs: ParameterInit[] = [
      { name: 'query_proj.weight', shape: [A, H], init: uniform(1 / Math.sqrt(H)) },
      { name: 'key_proj.weight', shape: [A, Hk], init: uniform(1 / Math.sqrt(Hk)) },
      { name: 'v', shape: [A], init: uniform(1 / Math.sqrt(A)) },
    ];
    this.params = createParameters(gpu, specs, o.seed ?? nextSeed());
  }
}
