// Multi-head attention with PyTorch's API and weights (torch.nn.MultiheadAttention with
// bias=True, batch_first=True, kdim = vdim = embed_dim, no dropout), on the matmul kernel (Q/K/V
// and output projections) and the fused, strided attention kernels (shaders/attention*.wgsl).
//
// A plan per (batch, seqLenQ, seqLenK, key mask, causal, which inputs are the same tensor,
// training) is a recorded graph (src/graph/): the same attention op as the MultiheadAttention
// module (src/graph/ops/attention.ts) and out_proj's linear op, with autodiff's backward from
// dL/doutput; it holds every buffer, uniform and bind group. The projections write Q, K and V side
// by side in the rows of one buffer — [B·T, 3E] for self-attention, where ONE GEMM with
// in_proj_weight does all three — and the attention kernel reads each head in place through
// strides (no transpose); its output [B, Tq, E] feeds the output GEMM. The backward mirrors it:
// out_proj backward (2 GEMMs + column sum), attention backward (2 dispatches) writing dQ, dK, dV
// in the same packed layout, then per projection GEMM dW = dPᵀ·X, a column sum for the bias and
// dX = dP·W (accumulated with β = 1 when one tensor feeds several roles).
import type { Gpu } from '../gpu/device.js';
import { encodeDispatches, type Dispatch } from '../gpu/dispatch.js';
import { ArgumentError, ShapeError, fmtShape } from '../util/errors.js';
import { ATTENTION_MAX_HEAD_DIM, checkAttentionDims } from '../kernels/attention.js';
import { checkBindingSizes } from '../gpu/limits.js';
import type { NamedTensor, StateDict } from '../io/stateDict.js';
import { saveCheckpoint, loadCheckpoint, type CheckpointHost } from './checkpoint.js';
import { Tensor, expectRank, expectShape } from '../gpu/tensor.js';
import { rng } from '../util/random.js';
import { ParameterStore, checkLoadStateDict, checkParameters } from '../io/parameters.js';
import { dryRun, isSnapshot, readParameters, type ModelSnapshot } from './recovery.js';
import { Lifecycle } from './lifecycle.js';
import { PlanCache } from '../util/planCache.js';
import { checkOptions } from '../util/options.js';
import { pushAll } from '../util/arrays.js';
import type { Graph, Value } from '../graph/graph.js';
import type { GraphPlan } from '../graph/plan.js';
import { recordForward, recordStep } from '../graph/recordStep.js';
import { multiheadAttentionValues, type AttentionGroup } from '../graph/ops/attention.js';
import { linearValue } from '../graph/ops/linear.js';

/** Constructor options (PyTorch's `embed_dim`, `num_heads`). */
export interface MultiHeadAttentionOptions {
  /** E, features of query, key, value and output. */
  embedDim: number;
  /** Heads; E must be divisible by it and E / numHeads ≤ 256. */
  numHeads: number;
  /** Seed of the initial weights, drawn like PyTorch's (see {@link MultiHeadAttention.resetParameters}). */
  seed?: number;
  /**
   * A model's shared parameter store: the layer registers its parameters there under `prefix`
   * (e.g. `'attn.'`), and the model allocates the store and calls `resetParameters()`.
   */
  store?: ParameterStore;
  /** Name prefix of the parameters in `store`, e.g. `'attn.'`. Default `''`. */
  prefix?: string;
}

/** Options of a call. */
export interface MultiHeadAttentionCallOptions {
  /**
   * [batch, seqLenK] f32: **1 = attend, 0 = padding**. This is the INVERSE of PyTorch's boolean
   * `key_padding_mask` (True = ignore): pass `(~key_padding_mask).float()`. A query row whose keys
   * are all masked outputs 0 here (PyTorch gives NaN).
   */
  keyPaddingMask?: Tensor;
  /** Mask key j > query i (PyTorch: `attn_mask = torch.triu(ones(Tq, Tk, dtype=bool), 1)`); needs seqLenQ ≤ seqLenK. */
  causal?: boolean;
}

/** Input index (0, 1, 2) of the query, key and value roles, in order of first appearance. */
export type InputSharing = readonly [number, number, number];

/** What selects a plan. */
export interface MultiHeadAttentionPlanKey {
  /** Batch size. */
  batch: number;
  /** Query length. */
  seqLenQ: number;
  /** Key / value length. */
  seqLenK: number;
  /** Whether the plan reads a key padding mask. */
  keyPaddingMask: boolean;
  /** Whether the plan applies the causal mask (needs seqLenQ ≤ seqLenK). */
  causal: boolean;
  /** Default [0, 1, 2] (three distinct tensors); [0, 0, 0] is self-attention, [0, 1, 1] key = value. */
  sharing?: InputSharing;
  /** A training plan also holds the backward. */
  training?: boolean;
}

/** Counts of the last call: tests assert them. */
export interface MultiHeadAttentionStats {
  /** Batch size of the call. */
  batch: number;
  /** Query length. */
  seqLenQ: number;
  /** Key / value length. */
  seqLenK: number;
  /** Compute dispatches it submitted. */
  dispatches: number;
  /** Command buffers it submitted (1). */
  submits: number;
}

/** Result of {@link MultiHeadAttention.forwardBackward}. */
export interface MultiHeadAttentionGradients {
  /** The forward's output [batch, seqLenQ, E]. */
  output: Tensor;
  /**
   * dL/d query, key, value. When one tensor was passed in several roles, the same Tensor object is
   * returned for each of them and holds the sum of the roles' gradients (as PyTorch's autograd).
   */
  dQuery: Tensor;
  /** dL/d key (see dQuery). */
  dKey: Tensor;
  /** dL/d value (see dQuery). */
  dValue: Tensor;
}

const ROLE_NAMES = ['query', 'key', 'value'] as const;

/**
 * The parameters under PyTorch's state_dict names, in PyTorch's order.
 * @param embedDim - E.
 */
export function multiHeadAttentionParameterShapes(embedDim: number): Array<{ name: string; shape: number[] }> {
  const E = embedDim;
  return [
    { name: 'in_proj_weight', shape: [3 * E, E] },
    { name: 'in_proj_bias', shape: [3 * E] },
    { name: 'out_proj.weight', shape: [E, E] },
    { name: 'out_proj.bias', shape: [E] },
  ];
}

function positiveInt(what: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0)
    throw new ShapeError(`${what} must be a positive integer, got ${String(v)}`);
  return v;
}

function canonicalSharing(s: InputSharing): [number, number, number] {
  const ids: number[] = [];
  const out = s.map((x) => {
    let i = ids.indexOf(x);
    if (i < 0) i = ids.push(x) - 1;
    return i;
  });
  return out as [number, number, number];
}

/**
 * A projection GEMM: roles `first … first + count − 1` (0 query, 1 key, 2 value) read the same
 * input, so one GEMM with `count·E` consecutive rows of in_proj_weight computes them, into a
 * region of the packed projection buffer with row length `width` = count·E.
 */
interface ProjectionGroup {
  input: number;
  first: number;
  count: number;
  seqLen: number;
  rows: number;
  width: number;
  /** Element offset of the region in `proj` (and `dProj`). */
  offset: number;
}

/**
 * The recorded dispatches and owned buffers of one (batch, seqLenQ, seqLenK, mask, causal,
 * sharing, training). To record it inside another command buffer: write the inputs into
 * {@link inputs} (and the mask into {@link keyMask}, dL/doutput into {@link dOutput}), encode
 * {@link forward} (then {@link backward}) in a compute pass, read {@link output} (and
 * {@link dInputs}; the parameter gradients are written to the store's gradient buffer).
 */
export class MultiHeadAttentionPlan {
  /** The forward's dispatches: projection GEMM(s), fused attention, output projection. */
  readonly forward: Dispatch[] = [];
  /** Empty unless a training plan. */
  readonly backward: Dispatch[] = [];
  /**
   * Which distinct input each role (query, key, value) reads, e.g. [0, 0, 0] for self-attention.
   */
  readonly sharing: readonly [number, number, number];
  /** One buffer per distinct input tensor, [batch, seqLen, embedDim] (index = sharing[role]). */
  readonly inputs: GPUBuffer[] = [];
  /** [batch, seqLenK] (1 keep, 0 pad), or null without a key padding mask. */
  readonly keyMask: GPUBuffer | null;
  /** [batch, seqLenQ, embedDim]. */
  readonly output: GPUBuffer;
  /** Training: dL/doutput [batch, seqLenQ, embedDim], read by the backward. */
  readonly dOutput: GPUBuffer | null = null;
  /** Training: dL/dinput per distinct input, like {@link inputs}. */
  readonly dInputs: GPUBuffer[] = [];
  /** The packed projections (Q, K, V side by side per group) and the attention output [B·Tq, E]. */
  readonly proj: GPUBuffer;
  /** The heads' attention output [batch·seqLenQ, E], read by the output projection. */
  readonly attention: GPUBuffer;
  /** The projection GEMMs: which roles each computes from which input. */
  readonly groups: readonly ProjectionGroup[];
  /** The recorded graph the dispatches come from (it owns every buffer). */
  private readonly graphPlan: GraphPlan;
  private destroyed = false;

  /**
   * Use {@link MultiHeadAttention.plan}, which caches plans per key.
   * @param gpu - The device.
   * @param embedDim - E.
   * @param numHeads - Heads.
   * @param store - The parameter store holding the layer's weights.
   * @param prefix - Name prefix of the weights in `store`.
   * @param key - The shapes and variant the plan is for, with defaults filled in.
   */
  constructor(
    gpu: Gpu,
    readonly embedDim: number,
    readonly numHeads: number,
    store: ParameterStore,
    prefix: string,
    readonly key: Required<MultiHeadAttentionPlanKey>,
  ) {
    const { batch: B, seqLenQ: Tq, seqLenK: Tk, causal, training } = key;
    const E = embedDim;
    const H = numHeads;
    const d = E / H;
    this.sharing = canonicalSharing(key.sharing);
    const seqLenOf = (role: number) => (role === 0 ? Tq : Tk);
    for (let r = 1; r < 3; r++) {
      if (
        this.sharing.indexOf(this.sharing[r]) !== r &&
        seqLenOf(this.sharing.indexOf(this.sharing[r])) !== seqLenOf(r)
      ) {
        throw new ShapeError(
          `MultiHeadAttention: '${ROLE_NAMES[r]}' is the same tensor as another input, so ` +
            `seqLenQ (${Tq}) must equal seqLenK (${Tk})`,
        );
      }
    }
    // Before any allocation: the attention grid and every buffer of the plan within the device's limits.
    checkAttentionDims(gpu, 'MultiHeadAttention', { batch: B, heads: H, seqLenQ: Tq, seqLenK: Tk, headDim: d });
    checkBindingSizes(gpu, `MultiHeadAttention (batch ${B}, seqLenQ ${Tq}, seqLenK ${Tk})`, {
      'an input [batch, seqLen, embedDim]': B * Math.max(Tq, Tk) * E,
      'the packed projections [batch·(seqLenQ + 2·seqLenK), embedDim]': B * (Tq + 2 * Tk) * E,
    });
    // The graph (src/graph/): the distinct inputs, the attention op (in_proj GEMM per group,
    // the fused kernel reading the heads in place, the key mask in place) and out_proj; in
    // training its backward from dL/doutput, with the inputs' gradients kept.
    const inputCount = Math.max(...this.sharing) + 1;
    const param = (g: Graph, name: string) =>
      g.parameter(
        `${prefix}${name}`,
        store.slot(`${prefix}${name}`).shape,
        () => store.view(`${prefix}${name}`),
        () => store.gradView(`${prefix}${name}`),
      );
    let values: {
      inputs: Value[];
      mask: Value | null;
      output: Value;
      packed: Value;
      heads: Value;
      dOutput: Value | null;
    };
    let groups: readonly AttentionGroup[] = [];
    const body = (g: Graph) => {
      const inputs = Array.from({ length: inputCount }, (_, i) => {
        const v = g.input([B, seqLenOf(this.sharing.indexOf(i)), E], 'f32', `mha.input${i}`);
        v.requiresGrad = training;
        return v;
      });
      const mask = key.keyPaddingMask ? g.input([B, Tk], 'f32', 'mha.keyMask') : null;
      const a = multiheadAttentionValues({
        query: inputs[this.sharing[0]],
        key: inputs[this.sharing[1]],
        value: inputs[this.sharing[2]],
        inProjWeight: param(g, 'in_proj_weight'),
        inProjBias: param(g, 'in_proj_bias'),
        numHeads: H,
        batchFirst: true,
        keepMask: mask,
        isCausal: causal,
        op: 'mha',
        where: 'MultiHeadAttention',
      });
      groups = a.groups;
      a.packed.pinned = true;
      a.output.pinned = true;
      const output = linearValue(a.output, param(g, 'out_proj.weight'), param(g, 'out_proj.bias'), 'mha.out_proj');
      output.pinned = true;
      const dOutput = training ? g.input([B, Tq, E], 'f32', 'mha.dOutput') : null;
      values = { inputs, mask, output, packed: a.packed, heads: a.output, dOutput };
      return { loss: output, seed: dOutput, wanted: inputs };
    };
    const where = 'MultiHeadAttention';
    const rec = training
      ? recordStep(gpu, where, true, body)
      : { plan: recordForward(gpu, where, (g) => void body(g)), gradients: [] };
    this.graphPlan = rec.plan;
    const v = values!;
    const planned = (x: Value) => {
      const r = rec.plan.view(x);
      if (r.offset !== 0) throw new ShapeError(`${where}: ${x.describe()} is not at the start of its buffer`);
      return r.buffer;
    };
    for (const x of v.inputs) this.inputs.push(planned(x));
    this.keyMask = v.mask && planned(v.mask);
    this.output = planned(v.output);
    this.proj = planned(v.packed);
    this.attention = planned(v.heads);
    this.groups = groups.map((g) => ({
      input: g.input,
      first: g.role0,
      count: g.roles,
      seqLen: g.rows / B,
      rows: g.rows,
      width: g.roles * E,
      offset: g.offset,
    }));
    const forwardCount = rec.plan.dispatchesThrough(v.output.producer!);
    pushAll(this.forward, rec.plan.dispatches.slice(0, forwardCount));
    if (!training) return;
    pushAll(this.backward, rec.plan.dispatches.slice(forwardCount));
    this.dOutput = planned(v.dOutput!);
    rec.gradients.forEach((d, i) => {
      if (!d) throw new ShapeError(`${where}: no gradient reaches input ${i}`);
      this.dInputs.push(planned(d));
    });
  }

  /**
   * The input buffer of role 0 (query), 1 (key) or 2 (value).
   * @param role - 0 query, 1 key, 2 value.
   */
  inputOf(role: 0 | 1 | 2): GPUBuffer {
    return this.inputs[this.sharing[role]];
  }

  /** Releases every buffer the plan owns (uniforms included). */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.graphPlan.destroy();
  }
}

/**
 * `torch.nn.MultiheadAttention(embed_dim, num_heads, bias=True, batch_first=True)` (kdim = vdim =
 * embed_dim, dropout 0): parameters `in_proj_weight` [3E, E], `in_proj_bias` [3E],
 * `out_proj.weight` [E, E], `out_proj.bias` [E] under PyTorch's names; every call is one command
 * buffer and one submit.
 * @deprecated Kept for one version with its own conventions (always batch-first, `keyMask` 1 =
 * attend). Use {@link MultiheadAttention}: a Module with PyTorch's forward signature and mask
 * semantics (`keyPaddingMask` nonzero = ignored, float `attnMask` added), trainable inside any
 * model with a Trainer.
 * @example
 * ```ts
 * const mha = new MultiHeadAttention(gpu, { embedDim: 64, numHeads: 4 });
 * const y = mha.forward(x, x, x, { causal: true });              // self-attention, x [batch, seqLen, 64]
 * const { output, dQuery } = mha.forwardBackward(x, x, x, dY);    // dQuery: the sum over the three roles
 * const grads = await mha.gradients();                           // in_proj_weight, out_proj.weight, …
 * ```
 */
export class MultiHeadAttention {
  /** E. */
  readonly embedDim: number;
  /** Heads. */
  readonly numHeads: number;
  /** E / numHeads (≤ 256). */
  readonly headDim: number;
  /** Where the parameters live (its own store, or a model's). */
  readonly store: ParameterStore;
  /** Name prefix of the parameters in {@link MultiHeadAttention.store}. */
  readonly prefix: string;
  /** Counts of the last call (dispatches, submits). */
  lastRun: MultiHeadAttentionStats | null = null;
  private readonly ownsStore: boolean;
  private readonly seed: number;
  /** Plans per key (shapes, masks, sharing, training), LRU (src/util/planCache.ts). */
  private plans = new PlanCache<MultiHeadAttentionPlan>();
  /** Call order, destroy, device checks (src/nn/lifecycle.ts). */
  private readonly life: Lifecycle;
  private lastSnapshot: ModelSnapshot | null = null;

  /**
   * Creates the layer with PyTorch's initialisation (from `opts.seed`), in its own parameter
   * store unless `opts.store` is given.
   * @param gpu - The device the layer's buffers live on.
   * @param opts - Sizes, seed, and optionally a shared store and prefix.
   * @throws ShapeError when a size is not a positive integer, embedDim is not divisible by
   *   numHeads, or the head dimension exceeds {@link ATTENTION_MAX_HEAD_DIM}.
   */
  constructor(
    readonly gpu: Gpu,
    opts: MultiHeadAttentionOptions,
  ) {
    if (opts === undefined || opts === null)
      throw new ArgumentError('MultiHeadAttention: options { embedDim, numHeads } are required');
    opts = checkOptions<MultiHeadAttentionOptions>('MultiHeadAttention', 'options', opts, {
      embedDim: { type: 'int', min: 1, required: true },
      numHeads: { type: 'int', min: 1, required: true },
      seed: { type: 'number' },
      store: { type: 'object' },
      prefix: { type: 'string' },
    }) as MultiHeadAttentionOptions;
    this.embedDim = opts.embedDim;
    this.numHeads = opts.numHeads;
    if (this.embedDim % this.numHeads !== 0)
      throw new ShapeError(
        `MultiHeadAttention: embedDim (${this.embedDim}) must be divisible by numHeads (${this.numHeads})`,
      );
    this.headDim = this.embedDim / this.numHeads;
    if (this.headDim > ATTENTION_MAX_HEAD_DIM)
      throw new ShapeError(
        `MultiHeadAttention: headDim = embedDim / numHeads = ${this.headDim} ` +
          `exceeds ${ATTENTION_MAX_HEAD_DIM}; use more heads`,
      );
    this.seed = opts.seed ?? 0;
    this.life = new Lifecycle(gpu, 'MultiHeadAttention');
    this.ownsStore = !opts.store;
    this.store = opts.store ?? new ParameterStore(gpu);
    this.prefix = opts.prefix ?? '';
    for (const { name, shape } of this.parameterShapes()) this.store.add(this.prefix + name, shape);
    if (this.ownsStore) {
      this.store.allocate();
      this.resetParameters();
    }
  }

  /** PyTorch state_dict keys and shapes, in PyTorch's order. */
  parameterShapes(): Array<{ name: string; shape: number[] }> {
    return multiHeadAttentionParameterShapes(this.embedDim);
  }

  /**
   * PyTorch's init from `seed`: in_proj_weight xavier_uniform_ (U(±√(6 / (E + 3E)))),
   * out_proj.weight like nn.Linear's (kaiming_uniform_(a=√5): U(±1/√E)), both biases 0.
   * @param seed - Seed of the draw (`opts.seed` by default).
   */
  resetParameters(seed = this.seed): void {
    const where = 'MultiHeadAttention.resetParameters';
    this.assertAlive(where);
    if (typeof seed !== 'number' || !Number.isFinite(seed))
      throw new ArgumentError(`${where}: 'seed' must be a finite number, got ${String(seed)}`);
    const rand = rng(seed);
    const E = this.embedDim;
    const u = (n: number, bound: number) => Float32Array.from({ length: n }, () => (2 * rand() - 1) * bound);
    const values = checkParameters(
      where,
      {
        in_proj_weight: { shape: [3 * E, E], data: u(3 * E * E, Math.sqrt(6 / (E + 3 * E))) },
        in_proj_bias: { shape: [3 * E], data: new Float32Array(3 * E) },
        'out_proj.weight': { shape: [E, E], data: u(E * E, 1 / Math.sqrt(E)) },
        'out_proj.bias': { shape: [E], data: new Float32Array(E) },
      },
      this.parameterShapes(),
      true,
    );
    this.life.defer(() => this.writeParameters(values));
  }

  /**
   * Loads `in_proj_weight`, `in_proj_bias`, `out_proj.weight`, `out_proj.bias` (a PyTorch
   * state_dict as JSON or safetensors). Every key is checked (present, shape, finite) before
   * anything is uploaded, so a bad dict leaves the layer unchanged. Unknown keys are an error
   * unless `strict` is false.
   * @param dict - `in_proj_weight`, `in_proj_bias`, `out_proj.weight`, `out_proj.bias` (a PyTorch
   *   `nn.MultiheadAttention` state_dict).
   * @param opts - `strict` (default true): reject keys that are not parameters of this model.
   * @throws ShapeError naming the key when one is missing, has the wrong shape or a non-finite
   *   value, or is unknown (with `strict`); the layer is unchanged then.
   */
  loadStateDict(dict: StateDict, opts: { strict?: boolean } = {}): void {
    const where = 'MultiHeadAttention.loadStateDict';
    this.assertAlive(where);
    const values = checkLoadStateDict(where, dict, opts, this.parameterShapes());
    this.life.defer(() => this.writeParameters(values));
  }

  private writeParameters(values: Map<string, Float32Array>): void {
    for (const [name, data] of values) this.store.write(this.prefix + name, data);
  }

  /**
   * The parameters as a checkpoint: safetensors bytes under PyTorch's names, with embedDim and
   * numHeads in the metadata (layout: src/nn/checkpoint.ts). Reads back from the GPU.
   */
  saveCheckpoint(): Promise<Uint8Array> {
    return this.life.call('MultiHeadAttention.saveCheckpoint', () => saveCheckpoint(this.checkpointHost()));
  }

  /**
   * Loads a {@link saveCheckpoint} file of the same embedDim and numHeads (or a PyTorch
   * state_dict saved as safetensors); a bad, truncated or corrupt file throws a ShapeError and
   * changes nothing.
   * @param file - The bytes of a `.safetensors` checkpoint.
   */
  loadCheckpoint(file: ArrayBuffer | Uint8Array): void {
    this.assertAlive('MultiHeadAttention.loadCheckpoint');
    loadCheckpoint(dryRun(this.checkpointHost()), file);
    this.life.defer(() => loadCheckpoint(this.checkpointHost(), file));
  }

  private checkpointHost(): CheckpointHost {
    return {
      className: 'MultiHeadAttention',
      config: { embedDim: this.embedDim, numHeads: this.numHeads },
      structural: ['embedDim', 'numHeads'],
      store: this.store,
      prefix: this.prefix,
      names: this.parameterShapes().map((p) => p.name),
      loadStateDict: (dict) =>
        this.writeParameters(checkParameters('MultiHeadAttention.loadCheckpoint', dict, this.parameterShapes(), true)),
    };
  }

  /** The parameters under PyTorch's names and shapes (read back from the GPU). */
  stateDict(): Promise<Record<string, NamedTensor>> {
    return this.life.call('MultiHeadAttention.stateDict', () => readParameters(this.store, this.prefix));
  }

  /** The parameter gradients left by the last {@link forwardBackward}, by PyTorch name. */
  gradients(): Promise<Record<string, NamedTensor>> {
    return this.life.call('MultiHeadAttention.gradients', () => readParameters(this.store, this.prefix, true));
  }

  /**
   * The cached plan for `key` (built on first use). Its dispatches can be recorded by a model.
   * @param key - Shapes, masks, input sharing and whether to include the backward.
   * @throws ShapeError for a size that is not a positive integer or a causal key with seqLenQ >
   *   seqLenK.
   */
  plan(key: MultiHeadAttentionPlanKey): MultiHeadAttentionPlan {
    this.assertAlive('MultiHeadAttention.plan');
    const full: Required<MultiHeadAttentionPlanKey> = {
      batch: positiveInt('MultiHeadAttention.plan: batch', key.batch),
      seqLenQ: positiveInt('MultiHeadAttention.plan: seqLenQ', key.seqLenQ),
      seqLenK: positiveInt('MultiHeadAttention.plan: seqLenK', key.seqLenK),
      keyPaddingMask: !!key.keyPaddingMask,
      causal: !!key.causal,
      sharing: canonicalSharing(key.sharing ?? [0, 1, 2]),
      training: !!key.training,
    };
    if (full.causal && full.seqLenQ > full.seqLenK)
      throw new ShapeError(
        `MultiHeadAttention: a causal mask needs seqLenQ ≤ seqLenK, got ${full.seqLenQ} > ${full.seqLenK}`,
      );
    const id =
      `${full.batch}x${full.seqLenQ}x${full.seqLenK}|m${+full.keyPaddingMask}` +
      `c${+full.causal}|${full.sharing.join('')}|t${+full.training}`;
    return this.plans.get(
      id,
      () => new MultiHeadAttentionPlan(this.gpu, this.embedDim, this.numHeads, this.store, this.prefix, full),
    );
  }

  /**
   * Attention of `query` [batch, seqLenQ, E] over `key` and `value` [batch, seqLenK, E]; returns
   * a new output tensor [batch, seqLenQ, E] (PyTorch's `attn_output` with batch_first=True,
   * need_weights=False). Passing one tensor as query, key and value is self-attention (one
   * projection GEMM). One command buffer, one submit.
   * @param query - [batch, seqLenQ, E].
   * @param key - [batch, seqLenK, E].
   * @param value - [batch, seqLenK, E] (the shape of `key`).
   * @param opts - `keyPaddingMask` [batch, seqLenK] (1 keep, 0 pad) and `causal`.
   * @throws ShapeError naming the argument and both shapes when a shape does not fit, or a causal
   *   call has seqLenQ > seqLenK.
   * @example
   * ```ts
   * const mha = new MultiHeadAttention(gpu, { embedDim: 64, numHeads: 4 });
   * mha.loadStateDict(parseSafetensors(bytes));        // torch.nn.MultiheadAttention weights
   * const y = mha.forward(x, x, x, { causal: true });  // self-attention, x [batch, seqLen, 64]
   * ```
   */
  forward(query: Tensor, key: Tensor, value: Tensor, opts: MultiHeadAttentionCallOptions = {}): Tensor {
    this.assertAlive('MultiHeadAttention.forward');
    const c = this.checkCall('MultiHeadAttention.forward', query, key, value, opts);
    const plan = this.plan({ ...c.planKey, training: false });
    const output = Tensor.empty(this.gpu, [c.B, c.Tq, this.embedDim], 'mha.output');
    const encoder = this.gpu.device.createCommandEncoder({ label: 'mha.forward' });
    this.encodeInputs(encoder, plan, c.tensors, opts.keyPaddingMask);
    const pass = encoder.beginComputePass({ label: 'mha.forward' });
    encodeDispatches(pass, plan.forward);
    pass.end();
    encoder.copyBufferToBuffer(plan.output, 0, output.buffer, 0, output.size * 4);
    this.gpu.submit(encoder, plan.forward.length);
    this.lastRun = { batch: c.B, seqLenQ: c.Tq, seqLenK: c.Tk, dispatches: plan.forward.length, submits: 1 };
    return output;
  }

  /**
   * Forward and backward in ONE command buffer and one submit, for dL/doutput = `dOutput`
   * [batch, seqLenQ, E]. Returns the output and dL/dquery, dL/dkey, dL/dvalue (one Tensor, holding
   * the sum, for a tensor passed in several roles); the parameter gradients are written (not
   * accumulated) to the store's gradient buffer: read them with {@link gradients}.
   * @param query - [batch, seqLenQ, E].
   * @param key - [batch, seqLenK, E].
   * @param value - [batch, seqLenK, E].
   * @param dOutput - dL/d output [batch, seqLenQ, E].
   * @param opts - As {@link MultiHeadAttention.forward}.
   * @throws ShapeError as {@link MultiHeadAttention.forward}, and when `dOutput` has another shape.
   */
  forwardBackward(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    dOutput: Tensor,
    opts: MultiHeadAttentionCallOptions = {},
  ): MultiHeadAttentionGradients {
    this.assertAlive('MultiHeadAttention.forwardBackward');
    const op = 'MultiHeadAttention.forwardBackward';
    const c = this.checkCall(op, query, key, value, opts);
    expectShape(
      op,
      'dOutput',
      dOutput,
      [c.B, c.Tq, this.embedDim],
      "[batch, seqLenQ, embedDim], the output's shape",
      this.gpu,
    );
    const plan = this.plan({ ...c.planKey, training: true });
    const gpu = this.gpu;
    const output = Tensor.empty(gpu, [c.B, c.Tq, this.embedDim], 'mha.output');
    const dInputs = c.tensors.map((t, i) => Tensor.empty(gpu, t.shape, `mha.d${ROLE_NAMES[plan.sharing.indexOf(i)]}`));
    const encoder = gpu.device.createCommandEncoder({ label: 'mha.forwardBackward' });
    this.encodeInputs(encoder, plan, c.tensors, opts.keyPaddingMask);
    encoder.copyBufferToBuffer(dOutput.buffer, 0, plan.dOutput!, 0, dOutput.size * 4);
    const pass = encoder.beginComputePass({ label: 'mha.forwardBackward' });
    encodeDispatches(pass, plan.forward);
    encodeDispatches(pass, plan.backward);
    pass.end();
    encoder.copyBufferToBuffer(plan.output, 0, output.buffer, 0, output.size * 4);
    dInputs.forEach((t, i) => encoder.copyBufferToBuffer(plan.dInputs[i], 0, t.buffer, 0, t.size * 4));
    const dispatches = plan.forward.length + plan.backward.length;
    gpu.submit(encoder, dispatches);
    this.lastRun = { batch: c.B, seqLenQ: c.Tq, seqLenK: c.Tk, dispatches, submits: 1 };
    const [sq, sk, sv] = plan.sharing;
    return { output, dQuery: dInputs[sq], dKey: dInputs[sk], dValue: dInputs[sv] };
  }

  /**
   * Reads the parameters back to the CPU (one readback) and keeps them as the state
   * {@link MultiHeadAttention.recover} restores after a device loss; returns them.
   */
  snapshot(): Promise<ModelSnapshot> {
    return this.life.call('MultiHeadAttention.snapshot', async () => {
      this.lastSnapshot = {
        parameters: await readParameters(this.store, this.prefix),
        optimizer: null,
        step: 0,
        generation: this.gpu.generation,
      };
      return this.lastSnapshot;
    });
  }

  /**
   * After a device loss: opens a new device if that was not done yet (`gpu.recover()`), rebuilds
   * the layer's buffers and uploads `from` (a snapshot or a state dict), else the last
   * {@link MultiHeadAttention.snapshot}, bit for bit. Plans are rebuilt at the next call.
   * @param from - What to upload; the last snapshot when absent.
   * @throws ShapeError when there is nothing to restore, `from` does not fit (checked before
   *   anything changes), or the layer shares a model's store.
   */
  recover(from?: ModelSnapshot | StateDict): Promise<void> {
    const where = 'MultiHeadAttention.recover';
    return this.life.call(
      where,
      async () => {
        if (!this.ownsStore)
          throw new ArgumentError(`${where}: this layer shares a model's store; call the model's recover()`);
        const source = from ?? this.lastSnapshot;
        if (!source)
          throw new ArgumentError(
            `${where}: nothing to restore: call snapshot() while the device works, or pass a snapshot or a state dict`,
          );
        const values = checkParameters(
          where,
          isSnapshot(source) ? source.parameters : source,
          this.parameterShapes(),
          true,
        );
        await this.gpu.recover();
        this.plans.clear();
        this.store.destroy();
        this.store.allocate();
        this.life.generation = this.gpu.generation;
        this.writeParameters(values);
      },
      { deviceCheck: false },
    );
  }

  /** Releases every GPU buffer of the layer (plans, and the parameters if it owns its store). */
  destroy(): void {
    this.life.destroy(() => {
      this.plans.clear();
      if (this.ownsStore) this.store.destroy();
    });
  }

  /** @internal Host-side counters and caches (see SequenceModel.debugState). */
  debugState(): Record<string, unknown> {
    return { plans: this.plans.keys(), lastRun: this.lastRun };
  }

  private encodeInputs(
    encoder: GPUCommandEncoder,
    plan: MultiHeadAttentionPlan,
    tensors: Tensor[],
    mask: Tensor | undefined,
  ): void {
    tensors.forEach((t, i) => encoder.copyBufferToBuffer(t.buffer, 0, plan.inputs[i], 0, t.size * 4));
    if (mask && plan.keyMask) encoder.copyBufferToBuffer(mask.buffer, 0, plan.keyMask, 0, mask.size * 4);
  }

  /** Validates a call's tensors before any GPU work; returns the shapes, distinct inputs and plan key. */
  private checkCall(op: string, query: Tensor, key: Tensor, value: Tensor, opts: MultiHeadAttentionCallOptions) {
    const E = this.embedDim;
    opts = checkOptions<MultiHeadAttentionCallOptions>(op, 'opts', opts, {
      keyPaddingMask: { type: 'object' },
      causal: { type: 'boolean' },
    });
    for (const [name, t] of [
      ['query', query],
      ['key', key],
      ['value', value],
    ] as const) {
      expectRank(op, name, t, [3], this.gpu);
      if (t.shape[2] !== E)
        throw new ShapeError(
          `${op}: argument '${name}' has shape ${fmtShape(t.shape)}: its last dimension ` +
            `must be embedDim=${E} (layout [batch, seqLen, embedDim])`,
        );
    }
    const [B, Tq] = query.shape;
    const Tk = key.shape[1];
    if (key.shape[0] !== B)
      throw new ShapeError(
        `${op}: argument 'key' has shape ${fmtShape(key.shape)}; expected [${B}, ` +
          `seqLenK, ${E}] (the batch of query ${fmtShape(query.shape)})`,
      );
    if (value.shape.join() !== key.shape.join())
      throw new ShapeError(
        `${op}: argument 'value' has shape ${fmtShape(value.shape)}; expected key's shape ${fmtShape(key.shape)}`,
      );
    if (opts.keyPaddingMask !== undefined)
      expectShape(op, 'keyPaddingMask', opts.keyPaddingMask, [B, Tk], '[batch, seqLenK], 1 keep, 0 padding', this.gpu);
    if (opts.causal && Tq > Tk) throw new ShapeError(`${op}: a causal mask needs seqLenQ ≤ seqLenK, got ${Tq} > ${Tk}`);
    const tensors: Tensor[] = [];
    const sharing = [query, key, value].map((t) => {
      let i = tensors.indexOf(t);
      if (i < 0) i = tensors.push(t) - 1;
      return i;
    }) as [number, number, number];
    return {
      B,
      Tq,
      Tk,
      tensors,
      planKey: {
        batch: B,
        seqLenQ: Tq,
        seqLenK: Tk,
        keyPaddingMask: !!opts.keyPaddingMask,
        causal: !!opts.causal,
        sharing,
      },
    };
  }

  private assertAlive(where = 'MultiHeadAttention'): void {
    this.life.assertLive(where);
  }
}
