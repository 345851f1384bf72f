// TransformerLM: a decoder-only causal language model (GPT; Radford et al. 2018/2019) built from
// seqgpu's layers, trained with Trainer (cross-entropy of the next token) and sampled with a KV
// cache:
//   h0 = drop(tok_embed(tokens) + pos_embed[0 … T−1])            tokens [B, T] i32
//   h_l = layers.l(h_{l−1}, causal)                              TransformerEncoderLayer, batch first
//   logits = head(norm(h_L))                                     [B, T, vocabSize]; head has no bias
// tieWeights: head.weight is tok_embed.weight (Press & Wolf 2017): one parameter, its gradient the
// sum of both uses. Parameter names follow the PyTorch module in test/fixtures/
// make_transformer_lm_fixtures.py (tok_embed.weight, pos_embed.weight, layers.i.…, norm.…,
// head.weight), so its state_dict loads unchanged.
//
// generate: one recorded forward of ONE token at a time with a per-layer KV cache (keys and values
// of the positions so far, src/graph/ops/cachedAttention.ts): the prompt is fed token by token, then
// each new token; no step recomputes the prefix. One submit and one [vocabSize] readback per token.
import type { Gpu } from '../gpu/device.js';
import { TENSOR_USAGE } from '../gpu/flags.js';
import { Tensor } from '../gpu/tensor.js';
import type { BufferRef, Value } from '../graph/graph.js';
import type { KvCacheValues } from '../graph/ops/cachedAttention.js';
import { linearValue } from '../graph/ops/linear.js';
import type { GraphPlan } from '../graph/plan.js';
import { recordForward } from '../graph/recordStep.js';
import { Module } from '../nn/module.js';
import { Dropout } from '../nn/layers/dropout.js';
import { Embedding } from '../nn/layers/embedding.js';
import { LayerNorm } from '../nn/layers/layerNorm.js';
import { Linear } from '../nn/layers/linear.js';
import { PositionalEncoding } from '../nn/layers/positionalEncoding.js';
import { TransformerEncoderLayer } from '../nn/layers/transformer.js';
import { scaledNormal } from '../nn/layers/leaf.js';
import { CallQueue } from '../util/callQueue.js';
import { ArgumentError, ShapeError, fmtShape } from '../util/errors.js';
import { checkOptions } from '../util/options.js';
import { rng } from '../util/random.js';
import { checkTokenIds, sample } from './sequenceModel.js';
import { warmupPipelines, type WarmupResult } from '../gpu/pipelineWarmup.js';
import { recordForwardPipelines } from '../nn/warmup.js';
import type { TransformerLMWarmupOptions } from './warmupOptions.js';

/** Options of {@link TransformerLM}. */
export interface TransformerLMOptions {
  /** Tokens (rows of tok_embed, columns of the logits). */
  vocabSize: number;
  /** Model width. */
  dModel: number;
  /** Attention heads per layer (dModel divisible by it). */
  nhead: number;
  /** Transformer blocks. */
  numLayers: number;
  /** Feed-forward width. Default 4·dModel. */
  dimFeedforward?: number;
  /** Longest sequence (positions 0 … maxSeqLen − 1), training and generation alike. */
  maxSeqLen: number;
  /** Dropout of the embeddings, attention weights, residual branches and feed-forward layer. Default 0.1. */
  dropout?: number;
  /** Feed-forward activation. Default `'gelu'`. */
  activation?: 'relu' | 'gelu' | 'gelu_tanh';
  /** Pre-norm blocks (GPT-2). Default true. */
  normFirst?: boolean;
  /** Learned positions (`pos_embed.weight`, default) or the fixed sinusoid table (no parameter). */
  positional?: 'learned' | 'sinusoidal';
  /** head.weight = tok_embed.weight. Default false. */
  tieWeights?: boolean;
  /** LayerNorm eps. Default 1e-5. */
  layerNormEps?: number;
  /** Seed of the initial weights. */
  seed?: number;
}

/** Options of {@link TransformerLM.generate}. */
export interface TransformerLMGenerateOptions {
  /** Tokens to generate. Required. */
  maxNewTokens: number;
  /** Logits are divided by it before sampling; 0 picks the most likely token. Default 1. */
  temperature?: number;
  /** Sample among the k most likely tokens only (0: all). Default 0. */
  topK?: number;
  /** Always pick the most likely token (the same as temperature 0). Default false. */
  greedy?: boolean;
  /** Seed of the sampler. Default 0. */
  seed?: number;
}

const SCHEMA = {
  vocabSize: { type: 'int', min: 1, required: true },
  dModel: { type: 'int', min: 1, required: true },
  nhead: { type: 'int', min: 1, required: true },
  numLayers: { type: 'int', min: 1, required: true },
  dimFeedforward: { type: 'int', min: 1 },
  maxSeqLen: { type: 'int', min: 1, required: true },
  dropout: { type: 'number', min: 0, max: 1 },
  activation: { type: 'enum', values: ['relu', 'gelu', 'gelu_tanh'] },
  normFirst: { type: 'boolean' },
  positional: { type: 'enum', values: ['learned', 'sinusoidal'] },
  tieWeights: { type: 'boolean' },
  layerNormEps: { type: 'number', min: 0 },
  seed: { type: 'number' },
} as const;

type Config = Readonly<Required<Omit<TransformerLMOptions, 'seed'>>>;

/**
 * A GPT-style causal language model: `tok_embed`, `pos_embed`, `layers.0 …`, `norm`, `head`.
 * Train it with {@link Trainer} (`loss: 'crossEntropy'`, targets = the next tokens); sample with
 * {@link TransformerLM.generate}.
 * @example
 * ```ts
 * const lm = new TransformerLM(gpu, { vocabSize: 65, dModel: 64, nhead: 4, numLayers: 2, maxSeqLen: 64 });
 * const trainer = new Trainer(lm, { loss: 'crossEntropy', optimizer: { kind: 'adamw', lr: 3e-3 } });
 * await trainer.step({ inputs: tokens, targets: nextTokens }); // i32 [batch, T] each
 * const text = await lm.generate([1, 2, 3], { maxNewTokens: 20, temperature: 0.8, topK: 10 });
 * ```
 */
export class TransformerLM extends Module {
  /** The options with defaults filled in. */
  readonly options: Config;
  /** Token embedding [vocabSize, dModel] (`tok_embed.weight`). */
  readonly tok_embed: Embedding;
  /** Positions (`pos_embed.weight` when learned). */
  readonly pos_embed: PositionalEncoding;
  /** Dropout of the summed embeddings. */
  readonly drop: Dropout;
  /** The blocks: causal self-attention and feed-forward, batch first. */
  readonly layers: TransformerEncoderLayer[];
  /** The final LayerNorm. */
  readonly norm: LayerNorm;
  /** dModel → vocabSize without bias; null when tied to tok_embed. */
  readonly head: Linear | null;
  /** Counts of the last generation step: dispatches of its one submit. */
  lastGenerateStep: { dispatches: number; submits: number } | null = null;
  private readonly queue = new CallQueue();

  /**
   * A model with GPT-2's initial weights: embeddings N(0, 0.02²), the blocks as PyTorch's layers.
   * @param gpu - The device.
   * @param options - Sizes and choices (see {@link TransformerLMOptions}).
   * @throws ArgumentError naming an unknown or invalid option (dModel not divisible by nhead, …).
   */
  constructor(gpu: Gpu, options: TransformerLMOptions) {
    super(gpu);
    const o = checkOptions<TransformerLMOptions>('TransformerLM', 'options', options, SCHEMA);
    const E = o.dModel!;
    if (E % o.nhead! !== 0) throw new ArgumentError(`TransformerLM: dModel ${E} must be divisible by nhead ${o.nhead}`);
    this.options = Object.freeze({
      vocabSize: o.vocabSize!,
      dModel: E,
      nhead: o.nhead!,
      numLayers: o.numLayers!,
      dimFeedforward: o.dimFeedforward ?? 4 * E,
      maxSeqLen: o.maxSeqLen!,
      dropout: o.dropout ?? 0.1,
      activation: o.activation ?? 'gelu',
      normFirst: o.normFirst ?? true,
      positional: o.positional ?? 'learned',
      tieWeights: o.tieWeights ?? false,
      layerNormEps: o.layerNormEps ?? 1e-5,
    });
    const c = this.options;
    const seed = o.seed ?? 0x7f4a7c15;
    this.tok_embed = new Embedding(gpu, { numEmbeddings: c.vocabSize, embeddingDim: E, seed });
    const w = this.tok_embed.localParameters();
    w.store.write('weight', scaledNormal(0.02)(rng(seed), c.vocabSize * E)); // GPT-2's N(0, 0.02²)
    this.pos_embed = new PositionalEncoding(gpu, {
      dModel: E,
      maxLen: c.maxSeqLen,
      kind: c.positional,
      seed: (seed + 1) >>> 0,
    });
    this.drop = new Dropout(gpu, { p: c.dropout, seed: (seed + 2) >>> 0 });
    this.layers = Array.from(
      { length: c.numLayers },
      (_, l) =>
        new TransformerEncoderLayer(gpu, {
          dModel: E,
          nhead: c.nhead,
          dimFeedforward: c.dimFeedforward,
          dropout: c.dropout,
          attnDropout: c.dropout,
          activation: c.activation,
          layerNormEps: c.layerNormEps,
          batchFirst: true,
          normFirst: c.normFirst,
          seed: seed + 16 * (l + 1),
        }),
    );
    this.norm = new LayerNorm(gpu, { normalizedShape: [E], eps: c.layerNormEps });
    this.head = c.tieWeights
      ? null
      : new Linear(gpu, { inFeatures: E, outFeatures: c.vocabSize, bias: false, seed: seed + 3 });
  }

  /**
   * Next-token logits at every position (causal: position t sees tokens 0 … t).
   * @param tokens - i32 [batch, T], T ≤ maxSeqLen, ids in [0, vocabSize).
   * @returns [batch, T, vocabSize].
   * @throws ShapeError for tokens of another shape or dtype, or T > maxSeqLen.
   */
  forward(tokens: Tensor): Tensor {
    const where = 'TransformerLM.forward';
    const t = this.input('tokens', tokens);
    if (t.dtype !== 'i32' || t.shape.length !== 2 || t.shape[1] > this.options.maxSeqLen)
      throw new ShapeError(
        `${where}: argument 'tokens' has shape ${fmtShape(t.shape)} (${t.dtype}), expected i32 [batch, T] ` +
          `with T ≤ maxSeqLen ${this.options.maxSeqLen}`,
      );
    return this.logits(tokens, undefined, undefined);
  }

  /** The network; with `caches` one decoding step (tokens [1, 1] at `positions` [1]). */
  private logits(tokens: Tensor, positions: Tensor | undefined, caches: KvCacheValues[] | undefined): Tensor {
    let h = this.tok_embed.forward(tokens);
    h = this.drop.forward(this.pos_embed.forward(h, positions ? { positions } : {}));
    this.layers.forEach((layer, l) => {
      h = layer.forward(h, caches ? { kvCache: caches[l] } : { isCausal: true });
    });
    h = this.norm.forward(h);
    if (this.head) return this.head.forward(h);
    const x = this.input('h', h);
    return linearValue(x, this.tok_embed.parameterValue('weight'), null, 'head').tensor;
  }

  /**
   * Continues `prompt` by `maxNewTokens` tokens, one recorded one-token step per token with a KV
   * cache per layer (nothing of the prefix is recomputed); eval mode (no dropout). Calls on one
   * model run in call order.
   * @param prompt - i32 Tensor [1, P] or an array of P ≥ 1 token ids.
   * @param opts - `maxNewTokens` (required), `temperature`, `topK`, `greedy`, `seed`.
   * @returns The new token ids (without the prompt).
   * @throws ArgumentError for ids out of range, an empty prompt, P + maxNewTokens − 1 > maxSeqLen or
   *   invalid options (nothing runs then).
   */
  generate(prompt: Tensor | ArrayLike<number>, opts: TransformerLMGenerateOptions): Promise<number[]> {
    const where = 'TransformerLM.generate';
    try {
      this.assertModuleAlive('generate');
      const o = checkOptions<TransformerLMGenerateOptions>(where, 'opts', opts, {
        maxNewTokens: { type: 'int', min: 0, required: true },
        temperature: { type: 'number', min: 0 },
        topK: { type: 'int', min: 0 },
        greedy: { type: 'boolean' },
        seed: { type: 'number' },
      });
      if (prompt instanceof Tensor) {
        if (prompt.dtype !== 'i32' || prompt.shape.length !== 2 || prompt.shape[0] !== 1)
          throw new ArgumentError(
            `${where}: 'prompt' has shape ${fmtShape(prompt.shape)} (${prompt.dtype}), expected i32 [1, P]`,
          );
      } else checkPrompt(where, prompt, this.options);
      const P = prompt instanceof Tensor ? prompt.shape[1] : prompt.length;
      checkLength(where, P, o.maxNewTokens!, this.options.maxSeqLen);
      return this.queue.run(async () => {
        const ids = prompt instanceof Tensor ? checkPrompt(where, await prompt.readInt32(), this.options) : prompt;
        return this.decode(Int32Array.from(ids), o as Required<TransformerLMGenerateOptions>);
      });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Compiles the pipelines of `forward` for tokens [batch, seqLen] (and with `generate` of the
   * one-token KV-cache step) with createComputePipelineAsync, reporting progress after each
   * pipeline; nothing runs. Train it through a Trainer? `trainer.warmup(batch)` compiles the step's.
   * @param opts - `seqLen` (≤ maxSeqLen), `batch`, `generate`, `onProgress({ done, total, label })`.
   * @returns How many pipelines were compiled and how long it took.
   * @throws ArgumentError for invalid options or a destroyed model (nothing is recorded then).
   */
  warmup(opts: TransformerLMWarmupOptions): Promise<WarmupResult> {
    const where = 'TransformerLM.warmup';
    try {
      this.assertModuleAlive('warmup');
      const o = checkOptions<TransformerLMWarmupOptions>(where, 'opts', opts, {
        seqLen: { type: 'int', min: 1, max: this.options.maxSeqLen, required: true },
        batch: { type: 'int', min: 1, required: true },
        generate: { type: 'boolean' },
        onProgress: { type: 'function' },
      }) as TransformerLMWarmupOptions;
      return this.queue.run(async () => {
        const tokens = Tensor.empty(this.gpu, [o.batch, o.seqLen], 'warmup.tokens', 'i32');
        try {
          return await warmupPipelines(
            this.gpu,
            where,
            () => {
              recordForwardPipelines(this, [tokens], where);
              if (o.generate) new DecodeStep(this, (t, p, caches) => this.logits(t, p, caches)).destroy();
            },
            o.onProgress,
          );
        } finally {
          tokens.destroy();
        }
      });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Records the one-token step, feeds the prompt and samples; releases the step's buffers. */
  private async decode(ids: Int32Array, o: Required<TransformerLMGenerateOptions>): Promise<number[]> {
    const step = new DecodeStep(this, (token, position, caches) => this.logits(token, position, caches));
    try {
      const rand = rng(o.seed ?? 0);
      const temperature = o.greedy ? 0 : (o.temperature ?? 1);
      const out: number[] = [];
      let token = ids[0];
      for (let p = 0; p < ids.length - 1 + o.maxNewTokens; p++) {
        const logits = await step.run(token, p);
        token = p + 1 < ids.length ? ids[p + 1] : sample(logits, temperature, o.topK ?? 0, rand);
        if (p + 1 >= ids.length) out.push(token);
      }
      return out;
    } finally {
      step.destroy();
    }
  }

  /**
   * The causal self-attention weights of every layer (eval mode), for heat maps: softmax rows,
   * query × key, per head.
   * @param tokens - i32 Tensor [batch, T] or an array of T token ids (batch 1), T ≤ maxSeqLen.
   * @returns One array per layer, [batch, nhead, T, T] row-major (each query row sums to 1).
   * @throws ArgumentError / ShapeError for ids out of range or tokens of the wrong shape.
   */
  attentionWeights(tokens: Tensor | ArrayLike<number>): Promise<Float32Array[]> {
    const where = 'TransformerLM.attentionWeights';
    try {
      this.assertModuleAlive('attentionWeights');
      const { maxSeqLen, normFirst } = this.options;
      if (tokens instanceof Tensor) {
        if (tokens.dtype !== 'i32' || tokens.shape.length !== 2 || tokens.shape[1] > maxSeqLen)
          throw new ShapeError(
            `${where}: 'tokens' has shape ${fmtShape(tokens.shape)} (${tokens.dtype}), expected i32 [batch, T] ` +
              `with T ≤ maxSeqLen ${maxSeqLen}`,
          );
      } else {
        checkPrompt(where, tokens, this.options, 'tokens');
        if (tokens.length > maxSeqLen)
          throw new ArgumentError(`${where}: ${tokens.length} tokens, more than maxSeqLen ${maxSeqLen}`);
      }
      return this.queue.run(async () => {
        const { gpu } = this;
        const t = tokens instanceof Tensor ? tokens : Tensor.from(gpu, Int32Array.from(tokens), [1, tokens.length]);
        const weights: Value[] = [];
        let input!: Value;
        const plan = recordForward(gpu, where, (g) => {
          input = g.input(t.shape, 'i32', 'tokens');
          let h = this.pos_embed.forward(this.tok_embed.forward(input.tensor));
          this.layers.forEach((layer, l) => {
            const x = normFirst ? layer.norm1.forward(h) : h;
            const opts = { isCausal: true, needWeights: true, averageAttnWeights: false };
            const w = g.of(where, 'weights', layer.self_attn.forward(x, x, x, opts).weights);
            w.pinned = true;
            weights.push(w);
            if (l + 1 < this.layers.length) h = layer.forward(h, { isCausal: true });
          });
        });
        try {
          const encoder = gpu.device.createCommandEncoder({ label: where });
          const at = plan.view(input);
          encoder.copyBufferToBuffer(t.buffer, 0, at.buffer, at.offset * 4, t.size * 4);
          gpu.submit(encoder, plan.encode(encoder));
          const out: Float32Array[] = [];
          for (const w of weights) {
            const r = plan.view(w);
            out.push(new Float32Array(await gpu.readBuffer(r.buffer, r.offset * 4, w.size * 4)));
          }
          return out;
        } finally {
          plan.destroy();
          if (t !== tokens) t.destroy();
        }
      });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * @internal With tieWeights, PyTorch's state_dict lists tok_embed.weight as `head.weight` too:
   * stateDict() lists both, loadStateDict takes either (both: equal).
   */
  override localAliases(): ReadonlyArray<readonly [string, string]> {
    return this.options.tieWeights ? [['head.weight', 'tok_embed.weight']] : [];
  }
}

function checkPrompt(where: string, prompt: ArrayLike<number>, c: Config, name = 'prompt'): Int32Array {
  const ids = checkTokenIds(where, name, prompt, c.vocabSize);
  if (ids.length === 0) throw new ArgumentError(`${where}: '${name}' needs at least one token id, got an empty array`);
  return ids;
}

function checkLength(where: string, P: number, n: number, maxSeqLen: number): void {
  if (P < 1) throw new ArgumentError(`${where}: 'prompt' needs at least one token`);
  if (P + n - 1 > maxSeqLen)
    throw new ArgumentError(
      `${where}: a prompt of ${P} tokens and maxNewTokens ${n} need ${P + n - 1} positions, ` +
        `more than maxSeqLen ${maxSeqLen}`,
    );
}

/** The recorded one-token forward with its KV caches (one per layer) and their buffers. */
class DecodeStep {
  private readonly plan: GraphPlan;
  private readonly buffers: GPUBuffer[] = [];
  private readonly token: BufferRef;
  private readonly position: BufferRef;
  private readonly out: BufferRef;
  private readonly keep: GPUBuffer[] = [];

  constructor(
    private readonly model: TransformerLM,
    net: (token: Tensor, position: Tensor, caches: KvCacheValues[]) => Tensor,
  ) {
    const { gpu } = model;
    const { maxSeqLen: L, dModel: E, numLayers } = model.options;
    const own = (bytes: number, label: string) => {
      const b = gpu.pool.acquire(bytes, TENSOR_USAGE, label);
      this.buffers.push(b);
      return b;
    };
    let v!: Record<'token' | 'position' | 'logits', Value>;
    try {
      this.plan = recordForward(gpu, 'TransformerLM.generate', (g) => {
        const token = g.input([1, 1], 'i32', 'token');
        const position = g.input([1], 'i32', 'position');
        const caches = Array.from({ length: numLayers }, (_, l) => {
          const [k, vv, keep] = [own(L * E * 4, `kCache${l}`), own(L * E * 4, `vCache${l}`), own(L * 4, `keep${l}`)];
          this.keep.push(keep);
          const at = (b: GPUBuffer) => () => ({ buffer: b, offset: 0 });
          return {
            k: g.constant(`kCache${l}`, [L, E], 'f32', at(k)),
            v: g.constant(`vCache${l}`, [L, E], 'f32', at(vv)),
            keep: g.constant(`keep${l}`, [L], 'f32', at(keep)),
            position,
          };
        });
        const logits = g.of('TransformerLM.generate', 'logits', net(token.tensor, position.tensor, caches));
        logits.pinned = true;
        v = { token, position, logits };
      });
    } catch (e) {
      for (const b of this.buffers) gpu.pool.release(b);
      throw e;
    }
    this.token = this.plan.view(v.token);
    this.position = this.plan.view(v.position);
    this.out = this.plan.view(v.logits);
  }

  /** One token at `position` (0: a new sequence, the caches cleared first): its logits [vocabSize]. */
  async run(token: number, position: number): Promise<Float32Array> {
    const { gpu } = this.model;
    const q = gpu.device.queue;
    q.writeBuffer(this.token.buffer, this.token.offset * 4, Int32Array.of(token));
    q.writeBuffer(this.position.buffer, this.position.offset * 4, Int32Array.of(position));
    const encoder = gpu.device.createCommandEncoder({ label: 'TransformerLM.generate' });
    if (position === 0) for (const b of this.keep) encoder.clearBuffer(b);
    const n = this.plan.encode(encoder);
    gpu.submit(encoder, n);
    this.model.lastGenerateStep = { dispatches: n, submits: 1 };
    const V = this.model.options.vocabSize;
    return new Float32Array(await gpu.readBuffer(this.out.buffer, this.out.offset * 4, V * 4));
  }

  destroy(): void {
    this.plan.destroy();
    for (const b of this.buffers) this.model.gpu.pool.release(b);
  }
}
