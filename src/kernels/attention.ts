// Host side of shaders/attention.wgsl: fused scaled dot-product attention (forward).
import type { Gpu } from '../gpu/device.js';
import { encodeDispatches, type Dispatch } from '../gpu/dispatch.js';
import { TENSOR_USAGE, UNIFORM_USAGE } from '../gpu/flags.js';
import { ArgumentError, DestroyedError, ShapeError, fmtShape } from '../util/errors.js';
import { Tensor, expectRank, expectShape } from '../gpu/tensor.js';
import { checkBindingSize } from '../gpu/limits.js';
import { defineShader, type WgslShader } from '../gpu/kernel.js';
import attentionWgsl from '../../shaders/attention.wgsl?raw';
import attentionBackwardWgsl from '../../shaders/attention_backward.wgsl?raw';
import attentionMaskWgsl from '../../shaders/attention_mask.wgsl?raw';
import attentionWeightsWgsl from '../../shaders/attention_weights.wgsl?raw';
import counterHashWgsl from '../../shaders/counter_hash.wgsl?raw';
import { dropoutThreshold } from './dropout.js';
import { grid2d } from './grid.js';

/** The dropout hash the attention kernels include (shaders/counter_hash.wgsl). */
const HASH = { 'counter_hash.wgsl': counterHashWgsl };
const ATTENTION_SHADER = /*#__PURE__*/ defineShader('attention.wgsl', attentionWgsl, HASH);
const ATTENTION_BACKWARD_SHADER = /*#__PURE__*/ defineShader('attention_backward.wgsl', attentionBackwardWgsl, HASH);
// headDim 129…256: the same kernels with private rows of 256 floats (PRIV_D is a WGSL constant,
// not an override: private arrays need a constant size). Rows ≤ 128 keep the smaller arrays.
const ATTENTION_SHADER_256 = /*#__PURE__*/ defineShader(
  'attention.wgsl#d256',
  /*#__PURE__*/ privateRows256(attentionWgsl),
  HASH,
);
const ATTENTION_BACKWARD_SHADER_256 = /*#__PURE__*/ defineShader(
  'attention_backward.wgsl#d256',
  /*#__PURE__*/ privateRows256(attentionBackwardWgsl),
  HASH,
);

/** `code` with `const PRIV_D = 128u;` made 256. */
function privateRows256(code: string): string {
  const line = 'const PRIV_D = 128u;';
  if (!code.includes(line)) throw new Error(`attention: the kernel source lost its line '${line}'`);
  return code.replace(line, 'const PRIV_D = 256u;');
}

/** MAX_D (64, 128 or 256: the padded row length of the workgroup tiles) and the module for `headDim`. */
function headDimVariant(headDim: number, backward: boolean): { maxD: number; shader: WgslShader } {
  if (headDim > 128) return { maxD: 256, shader: backward ? ATTENTION_BACKWARD_SHADER_256 : ATTENTION_SHADER_256 };
  return { maxD: headDim <= 64 ? 64 : 128, shader: backward ? ATTENTION_BACKWARD_SHADER : ATTENTION_SHADER };
}
const ATTENTION_MASK_SHADER = /*#__PURE__*/ defineShader('attention_mask.wgsl', attentionMaskWgsl);
const ATTENTION_WEIGHTS_SHADER = /*#__PURE__*/ defineShader('attention_weights.wgsl', attentionWeightsWgsl, HASH);

/**
 * Where a [batch, heads, seqLen, headDim] operand lives in a buffer: element (b, h, t, d) is at
 * `offset + b·strides[0] + h·strides[1] + t·strides[2] + d` (in f32 elements; headDim contiguous).
 * A bare GPUBuffer means offset 0 and contiguous [batch, heads, seqLen, headDim].
 */
export interface AttentionView {
  /** The buffer holding the operand (f32). */
  buffer: GPUBuffer;
  /** First element, default 0. */
  offset?: number;
  /** Element strides of batch, head and sequence position; default contiguous [batch, heads, seqLen, headDim]. */
  strides?: readonly [number, number, number];
}

/**
 * An attention operand: a bare buffer (contiguous [batch, heads, seqLen, headDim] at offset 0) or a
 * strided {@link AttentionView}.
 */
export type AttentionOperand = GPUBuffer | AttentionView;

/**
 * The view of heads inside the rows of a [batch, seqLen, rowLength] buffer, as a Q/K/V projection
 * writes them: head h of row (b, t) is the `headDim` elements at `offset + (b·seqLen + t)·rowLength + h·headDim`.
 * E.g. a packed QKV buffer [batch, seqLen, 3E]: Q, K and V are `offset` 0, E and 2E with `rowLength` 3E.
 * @param buffer - The projection output, [batch, seqLen, rowLength].
 * @param seqLen - Rows per batch.
 * @param headDim - Features per head (head h starts at column h·headDim).
 * @param rowLength - Elements per row (e.g. 3E for a packed QKV buffer).
 * @param offset - Element offset of this operand's first column (e.g. E for K in a packed QKV
 *   buffer).
 */
export function projectionView(
  buffer: GPUBuffer,
  seqLen: number,
  headDim: number,
  rowLength: number,
  offset = 0,
): AttentionView {
  return { buffer, offset, strides: [seqLen * rowLength, headDim, rowLength] };
}

/**
 * An additive attention mask read in place: element (b, h, i, j) — batch, head, query row, key —
 * is at `offset + b·strides[0] + h·strides[1] + i·strides[2] + j` (f32 elements; keys contiguous;
 * a stride of 0 broadcasts, e.g. [0, 0, seqLenK] for one [seqLenQ, seqLenK] mask shared by every
 * batch and head, [seqLenK, 0, 0] for a per-batch key mask). It is added to the scaled score;
 * an entry of −∞ (or ≤ −3e38) removes the key, as PyTorch's float `attn_mask`.
 */
export interface AttentionMaskView {
  /** The buffer holding the mask (f32). */
  buffer: GPUBuffer;
  /** First element, default 0. */
  offset?: number;
  /** Element strides of batch, head and query row. */
  strides: readonly [number, number, number];
}

/** Raw arguments. q, k, v and o are views (default: contiguous [batch, heads, seqLen, headDim]). */
export interface AttentionArgs {
  /** Batch size. */
  batch: number;
  /** Heads. */
  heads: number;
  /** Query rows per (batch, head). */
  seqLenQ: number;
  /** Key / value rows per (batch, head). */
  seqLenK: number;
  /** Features per head, ≤ {@link ATTENTION_MAX_HEAD_DIM}. */
  headDim: number;
  /**
   * Key / value heads for grouped-query attention (PyTorch SDPA's `enable_gqa`): a divisor of
   * `heads`; query head h reads kv head ⌊h / (heads / kvHeads)⌋. Default `heads`.
   */
  kvHeads?: number;
  /** Queries [batch, heads, seqLenQ, headDim]. */
  q: AttentionOperand;
  /** Keys [batch, kvHeads, seqLenK, headDim]. */
  k: AttentionOperand;
  /** Values [batch, kvHeads, seqLenK, headDim]. */
  v: AttentionOperand;
  /** Output [batch, heads, seqLenQ, headDim] (written; no overlap between its elements). */
  o: AttentionOperand;
  /**
   * [batch, heads, seqLenQ] log-sum-exp of each score row (for the backward), contiguous; a
   * `rowStats` buffer of {@link attentionBackwardDispatches} can be passed here directly.
   */
  lse: GPUBuffer;
  /** Mask key j > query i (needs seqLenQ ≤ seqLenK). */
  causal?: boolean;
  /** [batch, seqLenK] f32: 1 keep, 0 padding. */
  keyMask?: GPUBuffer;
  /** An additive mask (see {@link AttentionMaskView}); not together with `keyMask`. */
  additiveMask?: AttentionMaskView;
  /** Default 1/√headDim. */
  scale?: number;
  /**
   * Dropout on the attention probabilities (see {@link AttentionDropout}): its uniform is bound,
   * so setStep / setTraining take effect without rebuilding the dispatch. Default none.
   */
  dropout?: AttentionDropout;
  /** u32 mixed into the dropout hash (two attention layers sharing one AttentionDropout). Default 0. */
  dropoutSalt?: number;
  /** Names the dispatch in errors and profiles. Default `'attention'`. */
  label?: string;
}

/** Raw arguments of the backward: the forward's operands, dO, and the views of dQ, dK, dV. */
export interface AttentionBackwardArgs {
  /** Batch size. */
  batch: number;
  /** Heads. */
  heads: number;
  /** Query rows per (batch, head). */
  seqLenQ: number;
  /** Key / value rows per (batch, head). */
  seqLenK: number;
  /** Features per head, ≤ {@link ATTENTION_MAX_HEAD_DIM}. */
  headDim: number;
  /** As the forward: key / value heads (a divisor of `heads`), default `heads`. */
  kvHeads?: number;
  /** The forward's queries. */
  q: AttentionOperand;
  /** The forward's keys. */
  k: AttentionOperand;
  /** The forward's values. */
  v: AttentionOperand;
  /** The forward's output. */
  o: AttentionOperand;
  /** dL/d output, the output's shape. */
  dO: AttentionOperand;
  /**
   * [2, batch, heads, seqLenQ]: the first half holds the forward's log-sum-exp (pass this buffer
   * as the forward's `lse`); PASS 0 writes Δ = rowsum(dO ⊙ O) into the second half.
   */
  rowStats: GPUBuffer;
  /**
   * Views of dQ, dK and dV, all in ONE buffer (the kernel already binds 8 storage buffers, the
   * WebGPU default limit), e.g. offsets 0, E, 2E of a packed [batch, seqLen, 3E] gradient.
   * Written, not accumulated. A bare buffer means contiguous at offset 0 (only one of them can be).
   */
  dq: AttentionOperand;
  /** dL/d k (in dq's buffer), k's shape [batch, kvHeads, seqLenK, headDim]: summed over each group's query heads. */
  dk: AttentionOperand;
  /** dL/d v (in dq's buffer), v's shape. */
  dv: AttentionOperand;
  /** As the forward. */
  causal?: boolean;
  /** As the forward: [batch, seqLenK], 1 keep, 0 padding. */
  keyMask?: GPUBuffer;
  /** As the forward: an additive mask view; not together with `keyMask`. */
  additiveMask?: AttentionMaskView;
  /** As the forward. Default 1/√headDim. */
  scale?: number;
  /** As the forward: the same AttentionDropout, its counter unchanged since the forward ran. */
  dropout?: AttentionDropout;
  /** As the forward. */
  dropoutSalt?: number;
  /** Names the dispatches in errors and profiles. Default `'attention'`. */
  label?: string;
}

/** Options of an {@link AttentionDropout}. */
export interface AttentionDropoutOptions {
  /** Probability of dropping an attention probability, in [0, 1). */
  p: number;
  /** u32 seed of the mask stream. */
  seed: number;
}

/**
 * Dropout on the attention probabilities inside the fused kernels (PyTorch's `dropout` of
 * nn.MultiheadAttention / `dropout_p` of scaled_dot_product_attention), with no mask buffer: the
 * keep bit of probability (b, h, i, j) — batch, query head, query row, key — is the counter-based
 * hash of shaders/dropout.wgsl ({@link dropoutKeep}) of element ((b·heads + h)·seqLenQ + i)·seqLenK + j
 * (mod 2³²) with this seed, the step counter and the dispatch's salt; kept probabilities are scaled
 * by 1/(1 − p). The forward, the backward and the weights kernel regenerate the same bits, provided
 * the counter is not changed in between. One 16-byte uniform {seed, counter, threshold, scale},
 * rewritten by setStep / setTraining.
 */
export class AttentionDropout {
  /** Drop probability in [0, 1). */
  readonly p: number;
  /** u32 seed of the mask stream. */
  readonly seed: number;
  private _counter = 0;
  private _training = true;
  private buffer: GPUBuffer;
  private destroyed = false;

  /**
   * Training mode, counter 0.
   * @param gpu - The device; the uniform comes from its pool.
   * @param opts - Probability and seed.
   * @throws ArgumentError when `p` is not in [0, 1) or the seed is not a u32.
   */
  constructor(
    private readonly gpu: Gpu,
    opts: AttentionDropoutOptions,
  ) {
    const p = opts?.p;
    if (typeof p !== 'number' || !(p >= 0 && p < 1))
      throw new ArgumentError(`AttentionDropout: p must be a probability in [0, 1), got ${p}`);
    checkU32('AttentionDropout: seed', opts.seed);
    this.p = p;
    this.seed = opts.seed;
    this.buffer = this.acquire();
    this.write();
  }

  /** The uniform the kernels bind. */
  get state(): GPUBuffer {
    this.assertLive();
    return this.buffer;
  }

  /** The counter the masks are drawn with now. */
  get counter(): number {
    return this._counter;
  }

  /** Training (dropout on) or evaluation (every probability kept, scale 1). */
  get training(): boolean {
    return this._training;
  }

  /**
   * Selects the mask stream for the next submitted work (once per training step).
   * @param counter - u32; the same counter regenerates the same masks.
   * @throws ArgumentError when `counter` is not a u32.
   */
  setStep(counter: number): void {
    this.assertLive();
    checkU32('AttentionDropout.setStep: counter', counter);
    this._counter = counter;
    this.write();
  }

  /**
   * Training mode drops with probability p; evaluation mode keeps everything (no re-recording).
   * @param training - True: drop; false: the identity.
   */
  setTraining(training: boolean): void {
    this.assertLive();
    this._training = training;
    this.write();
  }

  /**
   * @internal After a device loss (`gpu.recover()`): a new uniform on the new device, keeping p,
   * the seed, the counter and the mode (rebuild the dispatches that bound the old one).
   */
  rebuild(): void {
    this.assertLive();
    this.buffer = this.acquire();
    this.write();
  }

  /** Releases the uniform to the pool. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.gpu.pool.release(this.buffer);
  }

  private acquire(): GPUBuffer {
    const size = this.gpu.kernel(ATTENTION_SHADER).source.uniforms.get('drop')!.size;
    return this.gpu.pool.acquire(size, UNIFORM_USAGE, 'attention.dropout');
  }

  private write(): void {
    this.gpu.device.queue.writeBuffer(this.buffer, 0, dropoutStateData(this.gpu, this._training ? this.p : 0, this));
  }

  private assertLive(): void {
    if (this.destroyed) throw new DestroyedError('AttentionDropout: this AttentionDropout was destroyed');
  }
}

/** The packed DropoutState of the kernels for drop probability `p` (0: keep everything). */
function dropoutStateData(gpu: Gpu, p: number, s: { seed: number; counter: number }): Uint8Array | ArrayBuffer {
  return gpu.kernel(ATTENTION_SHADER).source.packUniform('drop', {
    seed: s.seed,
    counter: s.counter,
    threshold: dropoutThreshold(p),
    scale: 1 / (1 - p),
  });
}

function checkU32(what: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff)
    throw new ArgumentError(`${what} must be an integer in [0, 2³²), got ${v}`);
}

/**
 * The dropout binding of a dispatch: the AttentionDropout's uniform, or a transient one that keeps
 * everything; the DROPOUT override; and the salt.
 */
function dropoutBinding(
  gpu: Gpu,
  label: string,
  a: { dropout?: AttentionDropout; dropoutSalt?: number },
): { state: GPUBuffer; on: boolean; salt: number; transient: GPUBuffer[] } {
  const salt = a.dropoutSalt ?? 0;
  checkU32(`${label}: dropoutSalt`, salt);
  if (a.dropout) {
    if (!(a.dropout instanceof AttentionDropout))
      throw new ArgumentError(`${label}: 'dropout' must be an AttentionDropout, got ${typeof a.dropout}`);
    return { state: a.dropout.state, on: a.dropout.p > 0, salt, transient: [] };
  }
  const data = dropoutStateData(gpu, 0, { seed: 0, counter: 0 });
  const state = gpu.pool.acquire(data.byteLength, UNIFORM_USAGE, 'attention.dropout.off');
  gpu.device.queue.writeBuffer(state, 0, data);
  return { state, on: false, salt, transient: [state] };
}

/**
 * The largest head dimension the fused attention kernels take. The keys per tile shrink with the
 * head dimension so that the K and V tiles fit the device's workgroup storage (16 KiB, the WebGPU
 * default: 16 keys at headDim ≤ 128, 8 at headDim ≤ 256).
 */
export const ATTENTION_MAX_HEAD_DIM = 256;
const BR = 64;

/** Keys per tile: K and V tiles (2·BC·maxD floats) fit the workgroup storage limit. */
function keysPerTile(gpu: Gpu, maxD: number, extraBytesPerRow = 0): number {
  const bytes = gpu.limits.maxComputeWorkgroupStorageSize;
  return Math.max(1, Math.min(32, Math.floor(bytes / (2 * maxD * 4 + extraBytesPerRow))));
}

interface Dims {
  batch: number;
  heads: number;
  seqLenQ: number;
  seqLenK: number;
  headDim: number;
  kvHeads?: number;
  scale?: number;
}

/**
 * Checks attention sizes before any GPU work: positive integers, headDim ≤ {@link ATTENTION_MAX_HEAD_DIM},
 * a finite scale, and a grid (seqLen blocks × heads × batch) within maxComputeWorkgroupsPerDimension.
 * @throws ShapeError naming the size and the limit.
 */
export function checkAttentionDims(gpu: Gpu, label: string, a: Dims): void {
  checkDims(gpu, label, a);
}

function checkDims(gpu: Gpu, label: string, a: Dims): void {
  for (const [name, value] of Object.entries({
    batch: a.batch,
    heads: a.heads,
    seqLenQ: a.seqLenQ,
    seqLenK: a.seqLenK,
    headDim: a.headDim,
  })) {
    if (!Number.isInteger(value) || value <= 0)
      throw new ShapeError(`${label}: ${name} must be a positive integer, got ${value}`);
  }
  if (a.kvHeads !== undefined && (!Number.isInteger(a.kvHeads) || a.kvHeads <= 0 || a.heads % a.kvHeads !== 0))
    throw new ShapeError(
      `${label}: kvHeads must be a positive divisor of heads ${a.heads} (grouped-query attention), got ${a.kvHeads}`,
    );
  if (a.headDim > ATTENTION_MAX_HEAD_DIM)
    throw new ShapeError(
      `${label}: headDim ${a.headDim} exceeds the fused attention kernels' limit ` +
        `${ATTENTION_MAX_HEAD_DIM} (headDim must be 1…${ATTENTION_MAX_HEAD_DIM})`,
    );
  if (a.scale !== undefined && !Number.isFinite(a.scale))
    throw new ArgumentError(`${label}: scale must be a finite number, got ${a.scale}`);
  const maxWg = gpu.limits.maxComputeWorkgroupsPerDimension;
  const seqLen = Math.max(a.seqLenQ, a.seqLenK);
  for (const [what, n] of [
    [`seqLen ${seqLen} (blocks of ${BR} rows)`, Math.ceil(seqLen / BR)],
    [`heads ${a.heads}`, a.heads],
    [`batch ${a.batch}`, a.batch],
  ] as const) {
    if (n > maxWg)
      throw new ShapeError(
        `${label}: ${what} needs ${n} workgroups in one grid dimension, more than ` +
          `maxComputeWorkgroupsPerDimension (${maxWg})`,
      );
  }
}

function isView(x: AttentionOperand): x is AttentionView {
  return typeof x === 'object' && x !== null && 'buffer' in x;
}

/** Resolves an operand to (buffer, offset, strides) and checks that every element it spans is in its buffer. */
function resolveView(
  label: string,
  name: string,
  x: AttentionOperand,
  a: Dims,
  seqLen: number,
): { buffer: GPUBuffer; offset: number; strides: readonly [number, number, number] } {
  const view = isView(x) ? x : { buffer: x };
  const offset = view.offset ?? 0;
  const strides = view.strides ?? ([a.heads * seqLen * a.headDim, seqLen * a.headDim, a.headDim] as const);
  for (const [i, v] of [offset, ...strides].entries()) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff)
      throw new ArgumentError(
        `${label}: '${name}' ${i === 0 ? 'offset' : `strides[${i - 1}]`} must be a non-negative integer, got ${v}`,
      );
  }
  const end = offset + (a.batch - 1) * strides[0] + (a.heads - 1) * strides[1] + (seqLen - 1) * strides[2] + a.headDim;
  if (end * 4 > view.buffer.size) {
    throw new ShapeError(
      `${label}: '${name}' [${a.batch}, ${a.heads}, ${seqLen}, ${a.headDim}] at ` +
        `offset ${offset}, strides [${strides.join(', ')}] spans elements up to ${end}, ` +
        `but its buffer holds ${view.buffer.size / 4}`,
    );
  }
  return { buffer: view.buffer, offset, strides };
}

/**
 * Throws unless a written view maps distinct (b, h, t, d) to distinct elements (threads would
 * race otherwise): sorted by stride, each dimension's stride must step past everything the
 * smaller ones reach. Read views may overlap (e.g. a head stride of 0 shares K across heads).
 */
function assertDisjoint(
  label: string,
  name: string,
  v: { strides: readonly [number, number, number] },
  a: Dims,
  seqLen: number,
): void {
  const dims = [
    { what: 'batch', stride: v.strides[0], size: a.batch },
    { what: 'head', stride: v.strides[1], size: a.heads },
    { what: 'sequence', stride: v.strides[2], size: seqLen },
  ]
    .filter((d) => d.size > 1)
    .sort((x, y) => x.stride - y.stride);
  let reach = a.headDim; // elements spanned by headDim and the dimensions before
  for (const d of dims) {
    if (d.stride < reach)
      throw new ShapeError(
        `${label}: the output view '${name}' overlaps itself: its ${d.what} ` +
          `stride ${d.stride} is smaller than the ${reach} elements the smaller dimensions span`,
      );
    reach = d.stride * (d.size - 1) + reach;
  }
}

/** The uniform members and override of an additive mask (zeros and false without one), after checking its extent. */
function maskUniform(
  label: string,
  a: Dims & { keyMask?: GPUBuffer; additiveMask?: AttentionMaskView },
): { values: Record<string, number>; on: boolean } {
  const m = a.additiveMask;
  if (!m) return { values: { mOffset: 0, mStrideB: 0, mStrideH: 0, mStrideT: 0 }, on: false };
  if (a.keyMask)
    throw new ArgumentError(
      `${label}: pass 'keyMask' or 'additiveMask', not both (they share one binding); ` +
        `fold the key mask into the additive mask`,
    );
  const offset = m.offset ?? 0;
  const strides = m.strides;
  if (!Array.isArray(strides) || strides.length !== 3)
    throw new ArgumentError(`${label}: 'additiveMask.strides' must be [batch, head, query-row] element strides`);
  for (const [i, v] of [offset, ...strides].entries()) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff)
      throw new ArgumentError(
        `${label}: 'additiveMask' ${i === 0 ? 'offset' : `strides[${i - 1}]`} must be a non-negative integer, got ${v}`,
      );
  }
  const end =
    offset + (a.batch - 1) * strides[0] + (a.heads - 1) * strides[1] + (a.seqLenQ - 1) * strides[2] + a.seqLenK;
  if (end * 4 > m.buffer.size) {
    throw new ShapeError(
      `${label}: 'additiveMask' [${a.batch}, ${a.heads}, ${a.seqLenQ}, ${a.seqLenK}] ` +
        `at offset ${offset}, strides [${strides.join(', ')}] spans elements up ` +
        `to ${end}, but its buffer holds ${m.buffer.size / 4}`,
    );
  }
  return { values: { mOffset: offset, mStrideB: strides[0], mStrideH: strides[1], mStrideT: strides[2] }, on: true };
}

/** Uniform members `{prefix}Offset`, `{prefix}StrideB`, `{prefix}StrideH`, `{prefix}StrideT`. */
function viewUniform(
  prefix: string,
  v: { offset: number; strides: readonly [number, number, number] },
): Record<string, number> {
  return {
    [`${prefix}Offset`]: v.offset,
    [`${prefix}StrideB`]: v.strides[0],
    [`${prefix}StrideH`]: v.strides[1],
    [`${prefix}StrideT`]: v.strides[2],
  };
}

/**
 * One dispatch. Its uniform is `transient` (a plan takes it over).
 * @param gpu - The device.
 * @param a - Sizes, operand views and options.
 * @throws ShapeError for sizes that are not positive integers, a head dimension above
 *   {@link ATTENTION_MAX_HEAD_DIM} (256), a view
 *   that runs past its buffer, an output that overlaps itself or shares a buffer with an input, a
 *   buffer too small for `lse` or `keyMask`, or a grid too large for the device.
 */
export function attentionDispatch(gpu: Gpu, a: AttentionArgs): Dispatch {
  const label = a.label ?? 'attention';
  checkDims(gpu, label, a);
  const q = resolveView(label, 'q', a.q, a, a.seqLenQ);
  const kvDims = { ...a, heads: a.kvHeads ?? a.heads };
  const k = resolveView(label, 'k', a.k, kvDims, a.seqLenK);
  const v = resolveView(label, 'v', a.v, kvDims, a.seqLenK);
  const o = resolveView(label, 'o', a.o, a, a.seqLenQ);
  assertDisjoint(label, 'o', o, a, a.seqLenQ);
  if (a.lse.size < a.batch * a.heads * a.seqLenQ * 4)
    throw new ShapeError(
      `${label}: buffer 'lse' holds ${a.lse.size / 4} elements, needs ${a.batch * a.heads * a.seqLenQ}`,
    );
  if (a.keyMask && a.keyMask.size < a.batch * a.seqLenK * 4)
    throw new ShapeError(
      `${label}: buffer 'keyMask' holds ${a.keyMask.size / 4} elements, needs ${a.batch * a.seqLenK}`,
    );
  for (const [name, x] of [
    ['q', q],
    ['k', k],
    ['v', v],
    ['lse', { buffer: a.lse }],
  ] as const) {
    if (x.buffer === o.buffer)
      throw new ArgumentError(`${label}: the output 'o' must not share a buffer with '${name}'`);
  }
  if (a.lse === q.buffer || a.lse === k.buffer || a.lse === v.buffer)
    throw new ArgumentError(`${label}: 'lse' must not share a buffer with q, k or v`);
  const mask = maskUniform(label, a);
  if (a.additiveMask && (a.additiveMask.buffer === o.buffer || a.additiveMask.buffer === a.lse))
    throw new ArgumentError(`${label}: 'additiveMask' must not share a buffer with the outputs 'o' or 'lse'`);
  const { maxD, shader } = headDimVariant(a.headDim, false);
  const drop = dropoutBinding(gpu, label, a);
  const params = gpu.uniform(shader, 'params', {
    seqLenQ: a.seqLenQ,
    seqLenK: a.seqLenK,
    headDim: a.headDim,
    heads: a.heads,
    groupSize: a.heads / kvDims.heads,
    scale: a.scale ?? 1 / Math.sqrt(a.headDim),
    ...viewUniform('q', q),
    ...viewUniform('k', k),
    ...viewUniform('v', v),
    ...viewUniform('o', o),
    ...mask.values,
    dropSalt: drop.salt,
  });
  return {
    label,
    pipeline: gpu.pipeline(shader, {
      BR,
      BC: keysPerTile(gpu, maxD),
      MAX_D: maxD,
      CAUSAL: !!a.causal,
      KEY_MASK: !!a.keyMask,
      ADD_MASK: mask.on,
      DROPOUT: drop.on,
    }),
    bindGroup: gpu.bindGroup(shader, {
      q: q.buffer,
      k: k.buffer,
      v: v.buffer,
      o: o.buffer,
      lse: a.lse,
      keyMask: a.additiveMask?.buffer ?? a.keyMask ?? gpu.dummyBuffer,
      params,
      drop: drop.state,
    }),
    workgroups: [Math.ceil(a.seqLenQ / BR), a.heads, a.batch],
    transient: [params, ...drop.transient],
  };
}

/**
 * The backward's two dispatches (shaders/attention_backward.wgsl): PASS 0, a thread per query row,
 * writes dQ and Δ; PASS 1, a thread per key row, writes dK and dV. They share one bind group and
 * one uniform, which is `transient` on the first dispatch (a plan takes it over). `rowStats` must
 * hold the forward's log-sum-exp in its first half when they run.
 * @param gpu - The device.
 * @param a - Sizes, the forward's operands, dO, rowStats and the gradient views.
 * @throws ShapeError as {@link attentionDispatch}, and when dq, dk, dv are not in one buffer or
 *   overlap.
 */
export function attentionBackwardDispatches(gpu: Gpu, a: AttentionBackwardArgs): Dispatch[] {
  const label = a.label ?? 'attention.backward';
  checkDims(gpu, label, a);
  const q = resolveView(label, 'q', a.q, a, a.seqLenQ);
  const kvDims = { ...a, heads: a.kvHeads ?? a.heads };
  const k = resolveView(label, 'k', a.k, kvDims, a.seqLenK);
  const v = resolveView(label, 'v', a.v, kvDims, a.seqLenK);
  const o = resolveView(label, 'o', a.o, a, a.seqLenQ);
  const dO = resolveView(label, 'dO', a.dO, a, a.seqLenQ);
  const dq = resolveView(label, 'dq', a.dq, a, a.seqLenQ);
  const dk = resolveView(label, 'dk', a.dk, kvDims, a.seqLenK);
  const dv = resolveView(label, 'dv', a.dv, kvDims, a.seqLenK);
  assertDisjoint(label, 'dq', dq, a, a.seqLenQ);
  assertDisjoint(label, 'dk', dk, kvDims, a.seqLenK);
  assertDisjoint(label, 'dv', dv, kvDims, a.seqLenK);
  if (dk.buffer !== dq.buffer || dv.buffer !== dq.buffer)
    throw new ShapeError(
      `${label}: 'dq', 'dk' and 'dv' must be views of one buffer (the kernel binds 8 ` +
        `storage buffers, the WebGPU default limit)`,
    );
  const n = a.batch * a.heads * a.seqLenQ;
  if (a.rowStats.size < 2 * n * 4)
    throw new ShapeError(
      `${label}: buffer 'rowStats' holds ${a.rowStats.size / 4} elements, needs ${2 * n} ([2, batch, heads, seqLenQ])`,
    );
  if (a.keyMask && a.keyMask.size < a.batch * a.seqLenK * 4)
    throw new ShapeError(
      `${label}: buffer 'keyMask' holds ${a.keyMask.size / 4} elements, needs ${a.batch * a.seqLenK}`,
    );
  for (const [name, x] of [
    ['q', q],
    ['k', k],
    ['v', v],
    ['o', o],
    ['dO', dO],
    ['rowStats', { buffer: a.rowStats }],
  ] as const) {
    if (x.buffer === dq.buffer)
      throw new ArgumentError(`${label}: the gradients' buffer must not be the buffer of '${name}'`);
  }
  for (const [name, x] of [
    ['q', q],
    ['k', k],
    ['v', v],
    ['o', o],
    ['dO', dO],
  ] as const) {
    if (x.buffer === a.rowStats) throw new ShapeError(`${label}: 'rowStats' must not share a buffer with '${name}'`);
  }
  const mask = maskUniform(label, a);
  if (a.additiveMask && (a.additiveMask.buffer === dq.buffer || a.additiveMask.buffer === a.rowStats))
    throw new ArgumentError(`${label}: 'additiveMask' must not share a buffer with the gradients or 'rowStats'`);
  const { maxD, shader } = headDimVariant(a.headDim, true);
  const BC = keysPerTile(gpu, maxD, 8); // + LSE and Δ of each row of the tile
  const drop = dropoutBinding(gpu, label, a);
  const params = gpu.uniform(shader, 'params', {
    seqLenQ: a.seqLenQ,
    seqLenK: a.seqLenK,
    headDim: a.headDim,
    heads: a.heads,
    groupSize: a.heads / kvDims.heads,
    scale: a.scale ?? 1 / Math.sqrt(a.headDim),
    deltaOffset: n,
    ...viewUniform('q', q),
    ...viewUniform('k', k),
    ...viewUniform('v', v),
    ...viewUniform('o', o),
    ...viewUniform('dO', dO),
    ...viewUniform('dq', dq),
    ...viewUniform('dk', dk),
    ...viewUniform('dv', dv),
    ...mask.values,
    dropSalt: drop.salt,
  });
  const bindGroup = gpu.bindGroup(shader, {
    q: q.buffer,
    k: k.buffer,
    v: v.buffer,
    o: o.buffer,
    dO: dO.buffer,
    rowStats: a.rowStats,
    grads: dq.buffer,
    keyMask: a.additiveMask?.buffer ?? a.keyMask ?? gpu.dummyBuffer,
    params,
    drop: drop.state,
  });
  const common = {
    BR,
    BC,
    MAX_D: maxD,
    CAUSAL: !!a.causal,
    KEY_MASK: !!a.keyMask,
    ADD_MASK: mask.on,
    DROPOUT: drop.on,
  };
  return [
    {
      label: `${label}.dq`,
      pipeline: gpu.pipeline(shader, { ...common, PASS: 0 }),
      bindGroup,
      workgroups: [Math.ceil(a.seqLenQ / BR), a.heads, a.batch],
      transient: [params, ...drop.transient],
    },
    {
      label: `${label}.dkdv`,
      pipeline: gpu.pipeline(shader, { ...common, PASS: 1 }),
      bindGroup,
      workgroups: [Math.ceil(a.seqLenK / BR), kvDims.heads, a.batch],
    },
  ];
}

/**
 * `softmax(Q·Kᵀ/√d + mask)·V` for q [batch, heads, seqLenQ, headDim], k and v
 * [batch, kvHeads, seqLenK, headDim]; optional causal mask and key-padding mask [batch, seqLenK]
 * (1 keep, 0 pad). Returns the output and the log-sum-exp of every score row. One dispatch; no
 * seqLenQ × seqLenK buffer is allocated. With kvHeads < heads (a divisor of it) this is
 * grouped-query attention (PyTorch SDPA's `enable_gqa`): query head h reads kv head
 * ⌊h / (heads / kvHeads)⌋.
 * @param gpu - The device the tensors live on.
 * @param q - [batch, heads, seqLenQ, headDim], headDim ≤ {@link ATTENTION_MAX_HEAD_DIM} (256).
 * @param k - [batch, kvHeads, seqLenK, headDim], kvHeads a divisor of heads.
 * @param v - k's shape.
 * @param opts - `causal`, `keyPaddingMask` [batch, seqLenK] (1 keep, 0 pad), `scale` (default
 *   1/√headDim), and `dropout` (an {@link AttentionDropout}) with its `dropoutSalt`.
 * @returns `output` (q's shape) and `lse` [batch, heads, seqLenQ] for the backward.
 * @throws ShapeError naming the argument and the shapes when they do not fit, or for a causal call
 *   with seqLenQ > seqLenK.
 * @example
 * ```ts
 * const { output, lse } = scaledDotProductAttention(gpu, q, k, v, { causal: true });
 * const { dq, dk, dv } = scaledDotProductAttentionBackward(gpu, q, k, v, output, lse, dOutput, { causal: true });
 * ```
 */
export function scaledDotProductAttention(
  gpu: Gpu,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  opts: {
    causal?: boolean;
    keyPaddingMask?: Tensor;
    scale?: number;
    dropout?: AttentionDropout;
    dropoutSalt?: number;
  } = {},
): { output: Tensor; lse: Tensor } {
  const op = 'scaledDotProductAttention';
  for (const [name, t] of [
    ['q', q],
    ['k', k],
    ['v', v],
  ] as const)
    expectRank(op, name, t, [4], gpu);
  const [B, Hh, Tq, D] = q.shape;
  const [kb, kh, Tk, kd] = k.shape;
  if (kb !== B || Hh % kh !== 0 || kd !== D)
    throw new ShapeError(
      `${op}: argument 'k' has shape ${fmtShape(k.shape)}; expected [${B}, ${Hh}, ` +
        `seqLenK, ${D}] to match q ${fmtShape(q.shape)} (or [${B}, kvHeads, seqLenK, ${D}] with kvHeads ` +
        `dividing ${Hh}: grouped-query attention)`,
    );
  if (v.shape.join() !== k.shape.join())
    throw new ShapeError(`${op}: argument 'v' has shape ${fmtShape(v.shape)}; expected k's shape ${fmtShape(k.shape)}`);
  if (opts.keyPaddingMask && opts.keyPaddingMask.shape.join() !== [B, Tk].join()) {
    throw new ShapeError(
      `${op}: argument 'keyPaddingMask' has ` +
        `shape ${fmtShape(opts.keyPaddingMask.shape)}; expected [${B}, ${Tk}] (1 keep, 0 padding)`,
    );
  }
  if (opts.causal && Tq > Tk) throw new ShapeError(`${op}: a causal mask needs seqLenQ ≤ seqLenK, got ${Tq} > ${Tk}`);
  checkDims(gpu, op, { batch: B, heads: Hh, kvHeads: kh, seqLenQ: Tq, seqLenK: Tk, headDim: D, scale: opts.scale });
  const output = Tensor.empty(gpu, q.shape, 'attention.output');
  const lse = Tensor.empty(gpu, [B, Hh, Tq], 'attention.lse');
  gpu.run([
    attentionDispatch(gpu, {
      batch: B,
      heads: Hh,
      kvHeads: kh,
      seqLenQ: Tq,
      seqLenK: Tk,
      headDim: D,
      q: q.buffer,
      k: k.buffer,
      v: v.buffer,
      o: output.buffer,
      lse: lse.buffer,
      causal: opts.causal,
      keyMask: opts.keyPaddingMask?.buffer,
      scale: opts.scale,
      dropout: opts.dropout,
      dropoutSalt: opts.dropoutSalt,
    }),
  ]);
  return { output, lse };
}

/**
 * Backward of {@link scaledDotProductAttention}: dQ, dK, dV from dO, recomputing the
 * probabilities from the saved log-sum-exp (shaders/attention_backward.wgsl: PASS 0 per query
 * row → dQ and Δ, PASS 1 per key row → dK, dV). One submit, two dispatches; no Tq×Tk buffer.
 * @param gpu - The device the tensors live on.
 * @param q - The forward's queries.
 * @param k - The forward's keys.
 * @param v - The forward's values.
 * @param output - The forward's output.
 * @param lse - The forward's log-sum-exp [batch, heads, seqLenQ].
 * @param dOutput - dL/d output, q's shape.
 * @param opts - The forward's options (the same AttentionDropout, its counter unchanged).
 * @returns dq, dk, dv: new tensors of q's, k's and v's shapes (with grouped-query attention, dk and
 *   dv of a kv head sum over the query heads that read it).
 * @throws ShapeError naming the argument when a shape does not fit the forward's.
 */
export function scaledDotProductAttentionBackward(
  gpu: Gpu,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  output: Tensor,
  lse: Tensor,
  dOutput: Tensor,
  opts: {
    causal?: boolean;
    keyPaddingMask?: Tensor;
    scale?: number;
    dropout?: AttentionDropout;
    dropoutSalt?: number;
  } = {},
): { dq: Tensor; dk: Tensor; dv: Tensor } {
  const op = 'scaledDotProductAttentionBackward';
  for (const [name, t] of [
    ['q', q],
    ['k', k],
    ['v', v],
    ['output', output],
    ['dOutput', dOutput],
  ] as const)
    expectRank(op, name, t, [4], gpu);
  const [B, Hh, Tq, D] = q.shape;
  const [, HK, Tk] = k.shape;
  if (output.shape.join() !== q.shape.join() || dOutput.shape.join() !== q.shape.join())
    throw new ShapeError(
      `${op}: 'output' ${fmtShape(output.shape)} and ` +
        `'dOutput' ${fmtShape(dOutput.shape)} must have q's shape ${fmtShape(q.shape)}`,
    );
  if (k.shape.join() !== [B, HK, Tk, D].join() || Hh % HK !== 0 || v.shape.join() !== k.shape.join())
    throw new ShapeError(
      `${op}: 'k' ${fmtShape(k.shape)} and 'v' ${fmtShape(v.shape)} must be [${B}, kvHeads, seqLenK, ${D}] ` +
        `with kvHeads dividing ${Hh}`,
    );
  if (lse.shape.join() !== [B, Hh, Tq].join())
    throw new ShapeError(`${op}: 'lse' has shape ${fmtShape(lse.shape)}, expected [${B}, ${Hh}, ${Tq}]`);
  checkDims(gpu, op, { batch: B, heads: Hh, kvHeads: HK, seqLenQ: Tq, seqLenK: Tk, headDim: D, scale: opts.scale });
  if (opts.keyPaddingMask) expectShape(op, 'keyPaddingMask', opts.keyPaddingMask, [B, Tk], '1 keep, 0 padding', gpu);
  if (opts.causal && Tq > Tk) throw new ShapeError(`${op}: a causal mask needs seqLenQ ≤ seqLenK, got ${Tq} > ${Tk}`);
  const n = B * Hh * Tq;
  const qn = q.size;
  const kn = k.size;
  checkBindingSize(gpu, op, 'the gradients dQ, dK, dV (one buffer)', qn + 2 * kn);
  const grads = gpu.pool.acquire((qn + 2 * kn) * 4, TENSOR_USAGE, 'attention.grads');
  const rowStats = gpu.pool.acquire(2 * n * 4, TENSOR_USAGE, 'attention.rowStats');
  const dispatches = attentionBackwardDispatches(gpu, {
    batch: B,
    heads: Hh,
    kvHeads: HK,
    seqLenQ: Tq,
    seqLenK: Tk,
    headDim: D,
    q: q.buffer,
    k: k.buffer,
    v: v.buffer,
    o: output.buffer,
    dO: dOutput.buffer,
    rowStats,
    dq: grads,
    dk: { buffer: grads, offset: qn },
    dv: { buffer: grads, offset: qn + kn },
    causal: opts.causal,
    keyMask: opts.keyPaddingMask?.buffer,
    scale: opts.scale,
    dropout: opts.dropout,
    dropoutSalt: opts.dropoutSalt,
    label: 'attention',
  });
  const dq = Tensor.empty(gpu, q.shape, 'attention.dq');
  const dk = Tensor.empty(gpu, k.shape, 'attention.dk');
  const dv = Tensor.empty(gpu, v.shape, 'attention.dv');
  const encoder = gpu.device.createCommandEncoder({ label: op });
  encoder.copyBufferToBuffer(lse.buffer, 0, rowStats, 0, n * 4);
  const pass = encoder.beginComputePass({ label: op });
  encodeDispatches(pass, dispatches);
  pass.end();
  encoder.copyBufferToBuffer(grads, 0, dq.buffer, 0, qn * 4);
  encoder.copyBufferToBuffer(grads, qn * 4, dk.buffer, 0, kn * 4);
  encoder.copyBufferToBuffer(grads, (qn + kn) * 4, dv.buffer, 0, kn * 4);
  gpu.submit(encoder, dispatches.length);
  for (const b of [grads, rowStats]) gpu.pool.release(b);
  for (const d of dispatches) for (const b of d.transient ?? []) gpu.pool.release(b);
  return { dq, dk, dv };
}

/** A mask source of {@link attentionMaskDispatch}: a buffer, its first element and how to read it. */
export interface AttentionMaskSource {
  /** The buffer holding the mask. */
  buffer: GPUBuffer;
  /** First element, default 0. */
  offset?: number;
  /** `'f32'`: added to the score (−∞ masks); `'i32'`: nonzero masks the key (PyTorch's bool True). */
  dtype: 'f32' | 'i32';
}

/** Arguments of {@link attentionMaskDispatch}. */
export interface AttentionMaskArgs {
  /** Batch size. */
  batch: number;
  /** Heads. */
  heads: number;
  /** Query rows. */
  seqLenQ: number;
  /** Keys. */
  seqLenK: number;
  /** PyTorch's `attn_mask`: [seqLenQ, seqLenK] shared, or [batch·heads, seqLenQ, seqLenK] with `perHead`. */
  attnMask?: AttentionMaskSource & { perHead: boolean };
  /** PyTorch's `key_padding_mask` [batch, seqLenK]. */
  keyPaddingMask?: AttentionMaskSource;
  /** Where the mask is written (f32, {@link attentionMaskShape} elements from `offset`). */
  out: { buffer: GPUBuffer; offset?: number };
  /** Names the dispatch. Default `'attention.mask'`. */
  label?: string;
}

/**
 * The shape [outB, outH, outT, seqLenK] of the mask {@link attentionMaskDispatch} writes (a size is
 * 1 where no source varies along it) and the {@link AttentionMaskView} strides that read it.
 * @param a - Sizes and which masks are given.
 */
export function attentionMaskShape(
  a: Pick<AttentionMaskArgs, 'batch' | 'heads' | 'seqLenQ' | 'seqLenK'> & {
    attnMask?: { perHead: boolean };
    keyPaddingMask?: unknown;
  },
): { shape: [number, number, number, number]; strides: [number, number, number] } {
  const perHead = !!a.attnMask?.perHead;
  const outB = perHead || a.keyPaddingMask ? a.batch : 1;
  const outH = perHead ? a.heads : 1;
  const outT = a.attnMask ? a.seqLenQ : 1;
  const S = a.seqLenK;
  return {
    shape: [outB, outH, outT, S],
    strides: [outB > 1 ? outH * outT * S : 0, outH > 1 ? outT * S : 0, outT > 1 ? S : 0],
  };
}

/**
 * One dispatch (shaders/attention_mask.wgsl) that merges PyTorch's `attn_mask` and
 * `key_padding_mask` into one additive f32 mask for the attention kernels (read through the
 * strides of {@link attentionMaskShape}); masked entries become −3.4e38. Its uniform is `transient`.
 * @param gpu - The device.
 * @param a - Sizes, the sources and the output.
 * @throws ShapeError when a buffer is too small; ArgumentError when no source is given.
 */
export function attentionMaskDispatch(gpu: Gpu, a: AttentionMaskArgs): Dispatch {
  const label = a.label ?? 'attention.mask';
  if (!a.attnMask && !a.keyPaddingMask) throw new ArgumentError(`${label}: give 'attnMask', 'keyPaddingMask' or both`);
  const { shape } = attentionMaskShape(a);
  const total = shape.reduce((x, y) => x * y, 1);
  const S = a.seqLenK;
  const need = (name: string, buffer: GPUBuffer, offset: number, n: number) => {
    if ((offset + n) * 4 > buffer.size)
      throw new ShapeError(
        `${label}: '${name}' needs ${n} elements from offset ${offset}; its buffer holds ${buffer.size / 4}`,
      );
  };
  const am = a.attnMask;
  const kpm = a.keyPaddingMask;
  if (am) need('attnMask', am.buffer, am.offset ?? 0, (am.perHead ? a.batch * a.heads : 1) * a.seqLenQ * S);
  if (kpm) need('keyPaddingMask', kpm.buffer, kpm.offset ?? 0, a.batch * S);
  need('out', a.out.buffer, a.out.offset ?? 0, total);
  const WG = 256;
  const { gridX, workgroups } = grid2d(gpu, Math.ceil(total / WG), label);
  const params = gpu.uniform(ATTENTION_MASK_SHADER, 'params', {
    total,
    gridX,
    outH: shape[1],
    outT: shape[2],
    seqLenK: S,
    attnOffset: am?.offset ?? 0,
    attnStrideB: am?.perHead ? a.heads * a.seqLenQ * S : 0,
    attnStrideH: am?.perHead ? a.seqLenQ * S : 0,
    attnStrideT: S,
    kpmOffset: kpm?.offset ?? 0,
    kpmStrideB: S,
    outOffset: a.out.offset ?? 0,
  });
  const mode = (m: AttentionMaskSource | undefined) => (!m ? 0 : m.dtype === 'f32' ? 1 : 2);
  return {
    label,
    pipeline: gpu.pipeline(ATTENTION_MASK_SHADER, { ATTN: mode(am), KPM: mode(kpm), WG }),
    bindGroup: gpu.bindGroup(ATTENTION_MASK_SHADER, {
      attn: am?.buffer ?? gpu.dummyBuffer,
      kpm: kpm?.buffer ?? gpu.dummyBuffer,
      out: a.out.buffer,
      params,
    }),
    workgroups,
    transient: [params],
  };
}

/** Arguments of {@link attentionWeightsDispatch}: the forward's operands, its `lse`, and W. */
export interface AttentionWeightsArgs extends Pick<
  AttentionArgs,
  | 'batch'
  | 'heads'
  | 'kvHeads'
  | 'seqLenQ'
  | 'seqLenK'
  | 'headDim'
  | 'q'
  | 'k'
  | 'causal'
  | 'additiveMask'
  | 'scale'
  | 'dropout'
  | 'dropoutSalt'
> {
  /** The forward's log-sum-exp [batch, heads, seqLenQ] (the first half of a backward's `rowStats` works). */
  lse: { buffer: GPUBuffer; offset?: number };
  /** Average over heads (W [batch, seqLenQ, seqLenK]) or not (W [batch, heads, seqLenQ, seqLenK]). */
  average: boolean;
  /** W, contiguous from `offset`. */
  w: { buffer: GPUBuffer; offset?: number };
  /** Names the dispatch. Default `'attention.weights'`. */
  label?: string;
}

/**
 * One dispatch (shaders/attention_weights.wgsl) recomputing the attention probabilities of a
 * forward from its log-sum-exp — PyTorch's `attn_output_weights` (averaged over heads, or per
 * head) — since the fused kernel never stores them. Rows with every key masked give 0 (PyTorch:
 * NaN). Its uniform is `transient`.
 * @param gpu - The device.
 * @param a - Sizes, the forward's operands and options, and W.
 * @throws ShapeError as {@link attentionDispatch} for views and buffers that do not fit.
 */
export function attentionWeightsDispatch(gpu: Gpu, a: AttentionWeightsArgs): Dispatch {
  const label = a.label ?? 'attention.weights';
  checkDims(gpu, label, a);
  const q = resolveView(label, 'q', a.q, a, a.seqLenQ);
  const kvHeads = a.kvHeads ?? a.heads;
  const k = resolveView(label, 'k', a.k, { ...a, heads: kvHeads }, a.seqLenK);
  const mask = maskUniform(label, a);
  const n = a.batch * a.heads * a.seqLenQ;
  const lseOffset = a.lse.offset ?? 0;
  if ((lseOffset + n) * 4 > a.lse.buffer.size)
    throw new ShapeError(
      `${label}: 'lse' needs ${n} elements from offset ${lseOffset}; its buffer holds ${a.lse.buffer.size / 4}`,
    );
  const total = (a.average ? a.batch : a.batch * a.heads) * a.seqLenQ * a.seqLenK;
  const wOffset = a.w.offset ?? 0;
  if ((wOffset + total) * 4 > a.w.buffer.size)
    throw new ShapeError(
      `${label}: 'w' needs ${total} elements from offset ${wOffset}; its buffer holds ${a.w.buffer.size / 4}`,
    );
  for (const [name, b] of [
    ['q', q.buffer],
    ['k', k.buffer],
    ['lse', a.lse.buffer],
    ['additiveMask', a.additiveMask?.buffer],
  ] as const) {
    if (b === a.w.buffer) throw new ArgumentError(`${label}: the output 'w' must not share a buffer with '${name}'`);
  }
  const WG = 256;
  const { gridX, workgroups } = grid2d(gpu, Math.ceil(total / WG), label);
  const drop = dropoutBinding(gpu, label, a);
  const params = gpu.uniform(ATTENTION_WEIGHTS_SHADER, 'params', {
    total,
    gridX,
    heads: a.heads,
    groupSize: a.heads / kvHeads,
    seqLenQ: a.seqLenQ,
    seqLenK: a.seqLenK,
    headDim: a.headDim,
    scale: a.scale ?? 1 / Math.sqrt(a.headDim),
    ...viewUniform('q', q),
    ...viewUniform('k', k),
    ...mask.values,
    wOffset,
    lseOffset,
    dropSalt: drop.salt,
  });
  return {
    label,
    pipeline: gpu.pipeline(ATTENTION_WEIGHTS_SHADER, {
      AVERAGE: a.average,
      CAUSAL: !!a.causal,
      ADD_MASK: mask.on,
      WG,
      DROPOUT: drop.on,
    }),
    bindGroup: gpu.bindGroup(ATTENTION_WEIGHTS_SHADER, {
      q: q.buffer,
      k: k.buffer,
      lse: a.lse.buffer,
      mask: a.additiveMask?.buffer ?? gpu.dummyBuffer,
      w: a.w.buffer,
      params,
      drop: drop.state,
    }),
    workgroups,
    transient: [params, ...drop.transient],
  };
}
