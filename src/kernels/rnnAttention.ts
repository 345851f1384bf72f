// Host side of shaders/rnn_attention.wgsl (forward) and shaders/rnn_attention_backward.wgsl:
// Luong (dot, general) and Bahdanau (additive) attention of an RNN decoder over encoder outputs.
//
//   dot:       score_ts = h_tᵀ·h̄_s            general: score_ts = h_tᵀ·W·h̄_s
//   additive:  score_ts = vᵀ·tanh(W1·h_t + W2·h̄_s)
//   α_ts = masked softmax_s(score_ts),  c_t = Σ_s α_ts·h̄_s   (all keys masked: α = 0, c = 0)
//
// How it runs (B batch, Tq decoder steps, Ts source steps):
//   prepare   general: K' = h̄·Wᵀ, additive: K' = h̄·W2ᵀ (one GEMM into the plan's scratch)
//   forward   additive: Q' = h·W1ᵀ for the steps (GEMM); then ONE fused dispatch per call: the
//             scores, the masked softmax (α written) and c of every query row
//   backward  recomputes K' (and Q'), then rnn_attention_backward.wgsl PASS 0 per query row:
//             dS = α ⊙ (dα − Σ α·dα) with dα = dc·h̄, and dh (+)= dS·h̄ (dot) or dS·K' (general),
//             or dQ' and the per-row dv terms (additive); PASS 1 per key row: dh̄ (+)= αᵀ·dc (dot:
//             + dSᵀ·h), general dK' = dSᵀ·h, additive dK'. The rest are GEMMs:
//               general: dh̄ += dK'·W, dW = dK'ᵀ·h̄;
//               additive: dh (+)= dQ'·W1, dh̄ += dK'·W2, dW1 = dQ'ᵀ·h, dW2 = dK'ᵀ·h̄, dv = column sum.
//
// Where the speed is (small decoder batches: seq2seq training is B 32, Tq 9, Ts 8, H 64…128):
//   - Every product with a weight is ONE GEMM over all B·T rows when the view's rows form one
//     progression (time-major or batch-first packing; the projected scratch is kept in the same row
//     order as its source view, and the kernels read it through strides), else a batched GEMM of
//     max(B, T) rows per matrix. A GEMM per batch row of T ≈ 8 rows would fill 1/8 of its 64-row tile.
//   - The per-batch products (dS·h̄ / dS·K', αᵀ·dc, dSᵀ·h) are fused into the row kernels, except on
//     a GPU when a batch row has ≥ 32 query (key) rows: then they are batched GEMMs, as before.
//   - Thread layout by adapter and shape (rowTiling): a software adapter (SwiftShader, where every
//     barrier switches coroutines of 4 invocations and idle invocations still run) gets one thread
//     per row and no barrier at all; a GPU gets KL threads per key, a row of 32…256 threads sized to
//     the keys and columns, ≥ 64 threads per workgroup (several short rows share one), and 2–4
//     barriers per row instead of a tree reduction per softmax statistic.
import type { Gpu } from '../gpu/device.js';
import type { Dispatch } from '../gpu/dispatch.js';
import { DestroyedError, ArgumentError, ShapeError, fmtShape } from '../util/errors.js';
import { TENSOR_USAGE } from '../gpu/flags.js';
import type { BufferView } from '../io/parameters.js';
import { gemmDispatches, type GemmArgs, type MatrixView } from './matmul.js';
import { columnSumDispatch } from './columnSum.js';
import { grid2d } from './grid.js';
import { pushAll } from '../util/arrays.js';
import { defineShader } from '../gpu/kernel.js';
import rnnAttentionWgsl from '../../shaders/rnn_attention.wgsl?raw';
import rnnAttentionBackwardWgsl from '../../shaders/rnn_attention_backward.wgsl?raw';

const RNN_ATTENTION_SHADER = /*#__PURE__*/ defineShader('rnn_attention.wgsl', rnnAttentionWgsl);
const RNN_ATTENTION_BACKWARD_SHADER = /*#__PURE__*/ defineShader(
  'rnn_attention_backward.wgsl',
  rnnAttentionBackwardWgsl,
);

/**
 * Score function of RNN attention: Luong `'dot'` (h_tᵀ·h̄_s) or `'general'` (h_tᵀ·W·h̄_s), or
 * Bahdanau `'additive'` (vᵀ·tanh(W1·h_t + W2·h̄_s)).
 */
export type AttentionScore = 'dot' | 'general' | 'additive';

/** A [batch, len, dim] sequence in a buffer, in f32 elements; the last dim is contiguous. */
export interface SeqView {
  /** The buffer holding the sequence (f32). */
  buffer: GPUBuffer;
  /** Element offset of (batch 0, step 0). Default 0. */
  offset?: number;
  /** Elements between batch rows. */
  strideBatch: number;
  /** Elements between timesteps (e.g. batch·dim for a time-major sequence). */
  strideTime: number;
}

/** The shapes and score function a {@link RnnAttentionPlan} is built for. */
export interface RnnAttentionConfig {
  /** Score function. */
  score: AttentionScore;
  /** Batch rows. */
  batch: number;
  /** Decoder steps (query rows per batch row). */
  seqLenQ: number;
  /** Source steps (key rows per batch row). */
  seqLenS: number;
  /** Decoder hidden size Hq. */
  queryDim: number;
  /** Encoder output size Hk (= value size); 'dot' needs queryDim === keyDim. */
  keyDim: number;
  /** Additive only: size A of W1·h_t + W2·h̄_s. */
  attnDim?: number;
}

/** Arguments of {@link RnnAttentionPlan.forwardDispatches}; views in f32 elements. */
export interface RnnAttentionForwardArgs {
  /** First query step and number of steps: rows [t0, t0 + steps) of the whole [batch, seqLenQ, ·] views. */
  t0: number;
  /** Number of query steps from t0 (1 for step-wise decoding). */
  steps: number;
  /** h, [batch, seqLenQ, queryDim]. */
  query: SeqView;
  /** h̄ (keys = values), [batch, seqLenS, keyDim]. */
  keys: SeqView;
  /** [batch, seqLenS] f32, contiguous: 1 keep / 0 pad. */
  keyMask?: GPUBuffer;
  /** The attention's parameters by the names of {@link RnnAttentionPlan.parameterShapes}. */
  params: Record<string, BufferView>;
  /** c, [batch, seqLenQ, keyDim]. */
  context: SeqView;
  /** α, [batch, seqLenQ, seqLenS]. */
  alpha: SeqView;
}

/** Arguments of {@link RnnAttentionPlan.backwardDispatches}; views in f32 elements. */
export interface RnnAttentionBackwardArgs {
  /** h, [batch, seqLenQ, queryDim], as in the forward. */
  query: SeqView;
  /** h̄, [batch, seqLenS, keyDim], as in the forward. */
  keys: SeqView;
  /** Checked like the forward's; the backward needs no mask itself: α is 0 on masked keys. */
  keyMask?: GPUBuffer;
  /** The attention's parameters, as in the forward. */
  params: Record<string, BufferView>;
  /** α as the forward wrote it, for all seqLenQ steps. */
  alpha: SeqView;
  /** dL/dc, [batch, seqLenQ, keyDim]. */
  dContext: SeqView;
  /** dL/dh, [batch, seqLenQ, queryDim]: written, or added to with `accumulate`. */
  dQuery: SeqView & { accumulate?: boolean };
  /** dL/dh̄, [batch, seqLenS, keyDim]: written, or added to with `accumulate`. */
  dKeys: SeqView & { accumulate?: boolean };
  /** Parameter gradients, same names and sizes as `params`; written (not accumulated). */
  grads: Record<string, BufferView>;
}

const SCORES: readonly AttentionScore[] = ['dot', 'general', 'additive'];
const FWD = RNN_ATTENTION_SHADER;
const BWD = RNN_ATTENTION_BACKWARD_SHADER;

const round4 = (n: number) => Math.ceil(n / 4) * 4;
const pow2ceil = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

/**
 * Rows per workgroup on a software adapter, where a thread does a whole row: one SIMD group of
 * SwiftShader, and many workgroups to spread over the CPU threads (a decoder step of batch 32:
 * 8 workgroups; one workgroup of 64 rows measured 2–3× slower, 4…16 rows about the same).
 */
const SOFTWARE_ROWS = 4;
/**
 * GEMM workgroup on a software adapter: 8×4 threads (a 16×32 tile of C). These GEMMs are small
 * (M = B·T of a few hundred rows, N and K ≈ 64…128); on SwiftShader more, smaller workgroups beat
 * the 64×64 workgroup-memory tile (M 32 N 64 K 64: 0.6 vs 1.4 ms; M 256 N 64 K 64: 5 vs 11 ms, best
 * of 12 on a loaded 2-core machine, measured before 9f122ff). Since then a software adapter runs
 * the barrier-free registers kernel (src/kernels/matmulTile.ts), which ignores tileK.
 */
const SOFTWARE_GEMM_TILE = { wgX: 8, wgY: 4, tileK: 32 };

/**
 * Threads of a fused row kernel: `wg` per workgroup, `tpr` per row (so wg / tpr rows per
 * workgroup), `kl` per key for a dot product of length `dotLen`, `cols` columns per pass over a
 * row of `width` outputs (tpr / cols slices of the summed dimension).
 */
interface RowTiling {
  wg: number;
  tpr: number;
  kl: number;
  cols: number;
}

/**
 * A software adapter (SwiftShader: workgroups run on CPU threads, every barrier switches between
 * coroutines of 4 invocations, idle invocations still run) gets one thread per row and no barrier.
 * A GPU gets a cooperative row: KL ≈ dotLen / 8 threads per key (≤ 32), enough threads for all
 * `keys` at once or the `width` columns (32…maxWg), and at least 64 threads per workgroup.
 */
function rowTiling(software: boolean, maxWg: number, keys: number, dotLen: number, width: number): RowTiling {
  if (software) return { wg: Math.min(SOFTWARE_ROWS, maxWg), tpr: 1, kl: 1, cols: 1 };
  const kl0 = dotLen > 0 ? Math.min(32, pow2ceil(Math.ceil(dotLen / 8))) : 1;
  const tpr = Math.min(maxWg, Math.max(32, pow2ceil(Math.max(keys * kl0, width))));
  return { wg: Math.min(maxWg, Math.max(64, tpr)), tpr, kl: Math.min(kl0, tpr), cols: Math.min(tpr, pow2ceil(width)) };
}

/**
 * Row order of a view's B·T rows: when they form one arithmetic progression (batch-first or
 * time-major packing, or B·T = 1 in either dimension) `ld` is its step and `timeMajor` says
 * whether row t·B + b or b·T + t comes next; otherwise `ld` is null.
 */
function rowOrder(v: SeqView, B: number, T: number, width: number): { ld: number | null; timeMajor: boolean } {
  if (B * T === 1) return { ld: width, timeMajor: false };
  if (T === 1) return { ld: v.strideBatch, timeMajor: false };
  if (B === 1) return { ld: v.strideTime, timeMajor: false };
  if (v.strideBatch === T * v.strideTime) return { ld: v.strideTime, timeMajor: false };
  if (v.strideTime === B * v.strideBatch) return { ld: v.strideBatch, timeMajor: true };
  return { ld: null, timeMajor: false };
}

/** Strides of a compact scratch [B, T, pitch] laid out in the same row order as `v` (see {@link rowOrder}). */
function mirrorStrides(
  v: SeqView,
  B: number,
  T: number,
  width: number,
  pitch: number,
): { strideBatch: number; strideTime: number } {
  return rowOrder(v, B, T, width).timeMajor
    ? { strideBatch: pitch, strideTime: B * pitch }
    : { strideBatch: T * pitch, strideTime: pitch };
}

/** A [B, T, width] sequence of rows as a GEMM operand. */
interface Rows extends SeqView {
  width: number;
}

/**
 * The rows (b, t), b < B, t < T, of several views as GEMM operands with the same row numbering:
 * ONE matrix of M = B·T rows when every view's rows form a progression in the same order (row
 * b·T + t for all, or t·B + b for all; any order when B or T is 1), else `batch` = min(B, T)
 * matrices of M = max(B, T) rows each.
 */
function rowMatrices(views: Rows[], B: number, T: number): { M: number; batch: number; mats: MatrixView[] } {
  const one = (ld: (v: Rows) => number, M: number) => ({
    M,
    batch: 1,
    mats: views.map((v) => ({ buffer: v.buffer, offset: v.offset ?? 0, ld: ld(v) })),
  });
  if (B * T === 1) return one((v) => v.width, 1);
  if (T === 1) return one((v) => v.strideBatch, B);
  if (B === 1) return one((v) => v.strideTime, T);
  if (views.every((v) => v.strideBatch === T * v.strideTime)) return one((v) => v.strideTime, B * T);
  if (views.every((v) => v.strideTime === B * v.strideBatch)) return one((v) => v.strideBatch, B * T);
  const byTime = T >= B;
  return {
    M: byTime ? T : B,
    batch: byTime ? B : T,
    mats: views.map((v) => ({
      buffer: v.buffer,
      offset: v.offset ?? 0,
      ld: byTime ? v.strideTime : v.strideBatch,
      batchStride: byTime ? v.strideBatch : v.strideTime,
    })),
  };
}

/** Tuning of a {@link RnnAttentionPlan}; the defaults suit the device. */
export interface RnnAttentionTuning {
  /** Pick the thread layout of a software adapter (one thread per row); default: the adapter's isFallbackAdapter. */
  software?: boolean;
}

/**
 * RNN attention for fixed shapes. Owns its scratch buffers (projected keys/queries; the backward's
 * dS, dQ', dK', dv rows, allocated at the first backwardDispatches); destroy() releases them.
 * The dispatches it returns carry their uniforms in `transient` (the caller takes them over).
 * Outputs must not share a buffer with an input of the same dispatch (WebGPU forbids a writable
 * binding aliasing another binding): context/alpha vs query/keys/keyMask/params, dQuery/dKeys vs
 * query/keys/alpha/dContext/params, grads vs query/keys.
 * The projected keys (and queries) are kept in the row order of the `keys` (`query`) view, so
 * prepareDispatches and forwardDispatches must be given the same `keys` view.
 */
export class RnnAttentionPlan {
  /** Parameter names (PyTorch-style, no prefix) and shapes: [] for dot; general: 'weight' [queryDim, keyDim];
   *  additive: 'query_proj.weight' [A, queryDim] (W1), 'key_proj.weight' [A, keyDim] (W2), 'v' [A]. No biases. */
  readonly parameterShapes: Array<{ name: string; shape: number[] }>;
  /** The configuration, with `attnDim` filled in. */
  readonly cfg: Readonly<Required<RnnAttentionConfig>>;
  /** Width of a projected row (general: queryDim, additive: attnDim; dot: keyDim), and its padded pitch. */
  private readonly scoreDim: number;
  private readonly pitch: number;
  /**
   * Projected keys K' [B, Ts, pitch] at 0 and (additive) queries Q' [B, Tq, pitch] at qpOffset, in their views' row
   * order.
   */
  private proj: GPUBuffer | null = null;
  private readonly qpOffset: number;
  /** Backward scratch: dS [B·Tq, Ts] at 0; additive dQ' and dv rows after it; general / additive dK' last. */
  private work: GPUBuffer | null = null;
  private readonly layout: { dQp: number; dvRows: number; dKp: number; size: number };
  private readonly software: boolean;
  private readonly maxWg: number;
  private destroyed = false;

  /**
   * Checks the configuration; the scratch buffers are allocated when first needed.
   * @param gpu - The device.
   * @param cfg - Score function and shapes.
   * @param tuning - Thread-layout override (tests); the default suits the adapter.
   * @throws ShapeError for an unknown score, sizes that are not positive integers, `dot` with
   *   queryDim ≠ keyDim, or shapes too large for the device's limits.
   */
  constructor(
    private readonly gpu: Gpu,
    cfg: RnnAttentionConfig,
    tuning: RnnAttentionTuning = {},
  ) {
    const label = 'RnnAttentionPlan';
    if (!SCORES.includes(cfg.score))
      throw new ArgumentError(`${label}: score must be one of ${SCORES.join(', ')}, got '${cfg.score}'`);
    const dims: Record<string, number | undefined> = {
      batch: cfg.batch,
      seqLenQ: cfg.seqLenQ,
      seqLenS: cfg.seqLenS,
      queryDim: cfg.queryDim,
      keyDim: cfg.keyDim,
    };
    if (cfg.score === 'additive') dims.attnDim = cfg.attnDim;
    for (const [k, v] of Object.entries(dims)) {
      if (!Number.isInteger(v) || (v as number) <= 0)
        throw new ShapeError(
          `${label}: ${k} must be a positive integer, ` +
            `got ${v}${k === 'attnDim' ? ' (the additive score needs attnDim)' : ''}`,
        );
    }
    if (cfg.score === 'dot' && cfg.queryDim !== cfg.keyDim) {
      throw new ArgumentError(
        `${label}: the dot score needs queryDim === keyDim, got ` +
          `queryDim ${cfg.queryDim} and keyDim ${cfg.keyDim} (use 'general' or 'additive')`,
      );
    }
    const A = cfg.score === 'additive' ? (cfg.attnDim as number) : 0;
    this.cfg = { ...cfg, attnDim: A };
    const { batch: B, seqLenQ: Tq, seqLenS: Ts, queryDim: Hq, keyDim: Hk } = cfg;
    this.parameterShapes =
      cfg.score === 'general'
        ? [{ name: 'weight', shape: [Hq, Hk] }]
        : cfg.score === 'additive'
          ? [
              { name: 'query_proj.weight', shape: [A, Hq] },
              { name: 'key_proj.weight', shape: [A, Hk] },
              { name: 'v', shape: [A] },
            ]
          : [];
    this.scoreDim = cfg.score === 'general' ? Hq : cfg.score === 'additive' ? A : Hk;
    this.pitch = round4(this.scoreDim);
    const P = this.pitch;
    const limit = gpu.limits.maxStorageBufferBindingSize;
    const fits = (elements: number, what: string) => {
      if (elements * 4 > limit)
        throw new ShapeError(
          `${label}: ${what} needs ${elements * 4} bytes, more than this device's ` +
            `maxStorageBufferBindingSize (${limit})`,
        );
    };
    this.qpOffset = round4(B * Ts * P);
    const dS = round4(B * Tq * Ts);
    const dQp = dS;
    const dvRows = cfg.score === 'additive' ? dQp + round4(B * Tq * P) : dS;
    const dKp = cfg.score === 'additive' ? dvRows + round4(B * Tq * A) : dS;
    this.layout = { dQp, dvRows, dKp, size: cfg.score === 'dot' ? dS : dKp + B * Ts * P };
    if (cfg.score !== 'dot') {
      const n = cfg.score === 'additive' ? this.qpOffset + B * Tq * P : B * Ts * P;
      fits(n, 'the projected keys/queries');
      this.proj = gpu.pool.acquire(n * 4, TENSOR_USAGE, 'rnnAttention.proj');
    }
    let wg = 1;
    while (wg * 2 <= Math.min(256, gpu.limits.maxComputeInvocationsPerWorkgroup, gpu.limits.maxComputeWorkgroupSizeX))
      wg *= 2;
    this.maxWg = wg;
    this.software = tuning.software ?? gpu.adapterInfo.isFallbackAdapter;
  }

  /**
   * Once per source sequence, before any forwardDispatches: projects the keys (general: W·h̄_s, additive: W2·h̄_s; dot:
   * nothing).
   * @param a - The keys h̄ [batch, seqLenS, keyDim] and the parameters.
   */
  prepareDispatches(a: { keys: SeqView; params: Record<string, BufferView> }): Dispatch[] {
    const label = 'RnnAttentionPlan.prepareDispatches';
    this.assertLive(label);
    const { seqLenS: Ts, keyDim: Hk } = this.cfg;
    this.checkSeq(label, 'keys', a.keys, Ts, Hk);
    this.checkParams(label, 'params', a.params);
    return this.keyProjection(a.keys, a.params);
  }

  /**
   * Query steps [t0, t0+steps): scores, masked softmax over the source, context c = Σ_s α·h̄_s, and α.
   * Step-wise (steps = 1 per call) and one-shot (t0 = 0, steps = seqLenQ) give the same result.
   * general/additive need prepareDispatches for these keys first (in the same or an earlier submit).
   * @param a - Steps, views and parameters.
   * @throws ShapeError when a view runs past its buffer, an output aliases an input, or the steps
   *   leave [0, seqLenQ).
   */
  forwardDispatches(a: RnnAttentionForwardArgs): Dispatch[] {
    const label = 'RnnAttentionPlan.forwardDispatches';
    this.assertLive(label);
    const { score, batch: B, seqLenQ: Tq, seqLenS: Ts, queryDim: Hq, keyDim: Hk } = this.cfg;
    if (!Number.isInteger(a.t0) || !Number.isInteger(a.steps) || a.t0 < 0 || a.steps < 1 || a.t0 + a.steps > Tq) {
      throw new ShapeError(`${label}: t0 ${a.t0} and steps ${a.steps} must select steps within [0, seqLenQ = ${Tq})`);
    }
    this.checkSeq(label, 'query', a.query, Tq, Hq);
    this.checkSeq(label, 'keys', a.keys, Ts, Hk);
    this.checkSeq(label, 'context', a.context, Tq, Hk);
    this.checkSeq(label, 'alpha', a.alpha, Tq, Ts);
    this.checkMask(label, a.keyMask);
    this.checkParams(label, 'params', a.params);
    const inputs = { query: a.query.buffer, keys: a.keys.buffer, keyMask: a.keyMask, ...this.paramBuffers(a.params) };
    this.distinct(label, { context: a.context.buffer, alpha: a.alpha.buffer }, inputs, true);

    const out: Dispatch[] = [];
    const additive = score === 'additive';
    const qs = additive ? this.queryScratch(a.query) : a.query;
    const ks = score === 'dot' ? a.keys : this.keyScratch(a.keys);
    if (additive) {
      // Q'[b, t] = W1·h_t for the selected steps.
      out.push(
        ...this.rowGemm(
          { ...this.step(a.query, a.t0), width: Hq },
          { ...this.step(qs, a.t0), width: this.scoreDim },
          a.steps,
          this.weight(a.params['query_proj.weight'], Hq),
          Hq,
          true,
          undefined,
          'rnnAttention.queryProj',
        ),
      );
    }
    const tiling = rowTiling(this.software, this.maxWg, Ts, this.scoreDim, Hk);
    const rows = B * a.steps;
    const { gridX, workgroups } = grid2d(this.gpu, Math.ceil(rows / (tiling.wg / tiling.tpr)), label);
    const seq = (prefix: string, v: SeqView) => ({
      [`${prefix}Offset`]: v.offset ?? 0,
      [`${prefix}StrideB`]: v.strideBatch,
      [`${prefix}StrideT`]: v.strideTime,
    });
    const params = this.gpu.uniform(FWD, 'params', {
      batch: B,
      steps: a.steps,
      t0: a.t0,
      seqLenS: Ts,
      scoreDim: this.scoreDim,
      valueDim: Hk,
      gridX,
      vOffset: additive ? a.params.v.offset : 0,
      ...seq('q', qs),
      ...seq('k', ks),
      ...seq('h', a.keys),
      ...seq('a', a.alpha),
      ...seq('c', a.context),
    });
    out.push({
      label: 'rnnAttention.forward',
      pipeline: this.gpu.pipeline(FWD, {
        WG: tiling.wg,
        TPR: tiling.tpr,
        KL: tiling.kl,
        COLS: tiling.cols,
        ADDITIVE: additive,
        KEY_MASK: !!a.keyMask,
      }),
      bindGroup: this.gpu.bindGroup(FWD, {
        qs: qs.buffer,
        ks: ks.buffer,
        values: a.keys.buffer,
        keyMask: a.keyMask ?? this.gpu.dummyBuffer,
        weights: additive ? a.params.v.buffer : this.gpu.dummyBuffer,
        alpha: a.alpha.buffer,
        context: a.context.buffer,
        params,
      }),
      workgroups,
      transient: [params],
    });
    return out;
  }

  /**
   * Backward for all seqLenQ steps at once, from dContext and the forward's α. dQuery/dKeys are
   * written, or added to what is there when `accumulate` is true; parameter gradients are written
   * into `grads`. The projections are recomputed from `keys`/`query`/`params` into the plan's
   * scratch (afterwards the plan is prepared for these keys).
   * @param a - The forward's views and α, dL/dc, and where the gradients go.
   * @throws ShapeError when a view runs past its buffer or an output aliases an input.
   */
  backwardDispatches(a: RnnAttentionBackwardArgs): Dispatch[] {
    const label = 'RnnAttentionPlan.backwardDispatches';
    this.assertLive(label);
    const { score, batch: B, seqLenQ: Tq, seqLenS: Ts, queryDim: Hq, keyDim: Hk, attnDim: A } = this.cfg;
    this.checkSeq(label, 'query', a.query, Tq, Hq);
    this.checkSeq(label, 'keys', a.keys, Ts, Hk);
    this.checkSeq(label, 'alpha', a.alpha, Tq, Ts);
    this.checkSeq(label, 'dContext', a.dContext, Tq, Hk);
    this.checkSeq(label, 'dQuery', a.dQuery, Tq, Hq);
    this.checkSeq(label, 'dKeys', a.dKeys, Ts, Hk);
    this.checkMask(label, a.keyMask);
    this.checkParams(label, 'params', a.params);
    this.checkParams(label, 'grads', a.grads);
    const pb = this.paramBuffers(a.params);
    this.distinct(
      label,
      { dQuery: a.dQuery.buffer, dKeys: a.dKeys.buffer },
      { query: a.query.buffer, keys: a.keys.buffer, alpha: a.alpha.buffer, dContext: a.dContext.buffer, ...pb },
      false,
    );
    for (const [name, g] of Object.entries(a.grads))
      this.distinct(label, { [`grads.${name}`]: g.buffer }, { query: a.query.buffer, keys: a.keys.buffer }, false);

    if (this.layout.size * 4 > this.gpu.limits.maxStorageBufferBindingSize) {
      throw new ShapeError(
        `${label}: the backward scratch (batch·seqLenQ·seqLenS score gradients and ` +
          `projections) needs ${this.layout.size * 4} bytes, more than this device's ` +
          `maxStorageBufferBindingSize (${this.gpu.limits.maxStorageBufferBindingSize})`,
      );
    }
    if (!this.work) this.work = this.gpu.pool.acquire(this.layout.size * 4, TENSOR_USAGE, 'rnnAttention.work');
    const work = this.work;
    const P = this.pitch;
    const additive = score === 'additive';
    const out: Dispatch[] = [];
    // Recompute K' (and Q' for all steps).
    pushAll(out, this.keyProjection(a.keys, a.params));
    const qp = this.queryScratch(a.query);
    const kp = score === 'dot' ? a.keys : this.keyScratch(a.keys);
    if (additive) {
      pushAll(
        out,
        this.rowGemm(
          { ...a.query, width: Hq },
          { ...qp, width: A },
          Tq,
          this.weight(a.params['query_proj.weight'], Hq),
          Hq,
          true,
          undefined,
          'rnnAttention.queryProj',
        ),
      );
    }
    // dQ' and dK' scratch in the row order of the query / keys views (one GEMM each for the products with the weights).
    const dQp: SeqView = { buffer: work, offset: this.layout.dQp, ...mirrorStrides(a.query, B, Tq, Hq, P) };
    const dKp: SeqView = { buffer: work, offset: this.layout.dKp, ...mirrorStrides(a.keys, B, Ts, Hk, P) };
    const seq = (prefix: string, v: SeqView) => ({
      [`${prefix}Offset`]: v.offset ?? 0,
      [`${prefix}StrideB`]: v.strideBatch,
      [`${prefix}StrideT`]: v.strideTime,
    });
    const SCORE = SCORES.indexOf(score);
    // The per-batch products (dS·h̄ or dS·K' over the Tq query rows of a batch row; αᵀ·dc, dSᵀ·h over its
    // Ts key rows) are done in the row kernels, unless they make batched GEMMs of ≥ 32 rows per batch on a GPU.
    const fuseRows = this.software || Tq < 32;
    const fuseKeys = this.software || Ts < 32;
    const passes = [
      {
        // per query row: dS; dQuery (dot, general) or dQ' and dv rows (additive)
        label: 'rnnAttention.backward.rows',
        rows: B * Tq,
        o: a.dQuery,
        accumulate: !additive && !!a.dQuery.accumulate,
        fuse: fuseRows,
        tiling: rowTiling(this.software, this.maxWg, Ts, Hk, additive ? A : fuseRows ? Hq : 1),
        rowsBuffer: a.keys.buffer,
        proj: score === 'dot' ? this.gpu.dummyBuffer : this.proj!,
      },
      {
        // per key row: dKeys (context part; dot: all of it), dK' (general, additive)
        label: 'rnnAttention.backward.keys',
        rows: B * Ts,
        o: a.dKeys,
        accumulate: !!a.dKeys.accumulate,
        fuse: fuseKeys,
        tiling: rowTiling(this.software, this.maxWg, 0, 0, fuseKeys ? Math.max(Hk, score === 'general' ? Hq : A) : A),
        rowsBuffer: additive ? this.gpu.dummyBuffer : a.query.buffer,
        proj: additive ? this.proj! : this.gpu.dummyBuffer,
      },
    ];
    passes.forEach((p, pass) => {
      if (pass === 1 && !fuseKeys && !additive) return;
      const { gridX, workgroups } = grid2d(this.gpu, Math.ceil(p.rows / (p.tiling.wg / p.tiling.tpr)), label);
      const params = this.gpu.uniform(BWD, 'params', {
        batch: B,
        seqLenQ: Tq,
        seqLenS: Ts,
        queryDim: Hq,
        valueDim: Hk,
        attnDim: additive ? A : 1,
        gridX,
        vOffset: additive ? a.params.v.offset : 0,
        dsOffset: 0,
        dvOffset: this.layout.dvRows,
        ...seq('a', a.alpha),
        ...seq('g', a.dContext),
        ...seq('h', a.keys),
        ...seq('x', a.query),
        ...seq('qp', qp),
        ...seq('kp', kp),
        ...seq('dq', dQp),
        ...seq('dk', dKp),
        ...seq('o', p.o),
      });
      out.push({
        label: p.label,
        pipeline: this.gpu.pipeline(BWD, {
          WG: p.tiling.wg,
          TPR: p.tiling.tpr,
          KL: p.tiling.kl,
          COLS: p.tiling.cols,
          SCORE,
          PASS: pass,
          ACCUMULATE: p.accumulate,
          FUSE: p.fuse,
        }),
        bindGroup: this.gpu.bindGroup(BWD, {
          alpha: a.alpha.buffer,
          dContext: a.dContext.buffer,
          rows: p.rowsBuffer,
          proj: p.proj,
          weights: additive ? a.params.v.buffer : this.gpu.dummyBuffer,
          work,
          out: p.o.buffer,
          params,
        }),
        workgroups,
        transient: [params],
      });
    });

    // The batched GEMMs the row kernels did not do.
    const dS: MatrixView = { buffer: work, offset: 0, ld: Ts, batchStride: Tq * Ts };
    if (!fuseRows && !additive) {
      // dh (+)= dS·h̄ (dot) or dS·K' (general)
      pushAll(
        out,
        this.gemm({
          M: Tq,
          N: Hq,
          K: Ts,
          batch: B,
          a: dS,
          b: this.mat(kp, Ts, Hq),
          c: this.mat(a.dQuery, Tq, Hq),
          beta: a.dQuery.accumulate ? 1 : undefined,
          label: 'rnnAttention.dQuery',
        }),
      );
    }
    if (!fuseKeys) {
      // dh̄ (+)= αᵀ·dc; dot: dh̄ += dSᵀ·h; general: dK' = dSᵀ·h
      pushAll(
        out,
        this.gemm({
          M: Ts,
          N: Hk,
          K: Tq,
          batch: B,
          transposeA: true,
          a: this.mat(a.alpha, Tq, Ts),
          b: this.mat(a.dContext, Tq, Hk),
          c: this.mat(a.dKeys, Ts, Hk),
          beta: a.dKeys.accumulate ? 1 : undefined,
          label: 'rnnAttention.dKeys.context',
        }),
      );
      if (score !== 'additive') {
        const c = score === 'dot' ? this.mat(a.dKeys, Ts, Hk) : this.mat(dKp, Ts, Hq);
        pushAll(
          out,
          this.gemm({
            M: Ts,
            N: Hq,
            K: Tq,
            batch: B,
            transposeA: true,
            a: dS,
            b: this.mat(a.query, Tq, Hq),
            c,
            beta: score === 'dot' ? 1 : undefined,
            label: score === 'dot' ? 'rnnAttention.dKeys.score' : 'rnnAttention.dKeysProj',
          }),
        );
      }
    }
    const dKeys: Rows = { ...a.dKeys, width: Hk };
    if (score === 'general') {
      const W = a.params.weight;
      // dh̄ += dK'·W, dW = dK'ᵀ·h̄.
      pushAll(
        out,
        this.rowGemm(
          { ...dKp, width: Hq },
          dKeys,
          Ts,
          { buffer: W.buffer, offset: W.offset, ld: Hk },
          Hq,
          false,
          1,
          'rnnAttention.dKeys.score',
        ),
      );
      pushAll(out, this.weightGrad(dKp, a.keys, Ts, Hq, Hk, a.grads.weight, 'rnnAttention.dWeight'));
    } else if (additive) {
      const W1 = a.params['query_proj.weight'];
      const W2 = a.params['key_proj.weight'];
      // dh (+)= dQ'·W1, dh̄ += dK'·W2, dW1 = dQ'ᵀ·h, dW2 = dK'ᵀ·h̄, dv = Σ dv rows.
      pushAll(
        out,
        this.rowGemm(
          { ...dQp, width: A },
          { ...a.dQuery, width: Hq },
          Tq,
          { buffer: W1.buffer, offset: W1.offset, ld: Hq },
          A,
          false,
          a.dQuery.accumulate ? 1 : undefined,
          'rnnAttention.dQuery',
        ),
      );
      pushAll(
        out,
        this.rowGemm(
          { ...dKp, width: A },
          dKeys,
          Ts,
          { buffer: W2.buffer, offset: W2.offset, ld: Hk },
          A,
          false,
          1,
          'rnnAttention.dKeys.score',
        ),
      );
      pushAll(out, this.weightGrad(dQp, a.query, Tq, A, Hq, a.grads['query_proj.weight'], 'rnnAttention.dQueryProj'));
      pushAll(out, this.weightGrad(dKp, a.keys, Ts, A, Hk, a.grads['key_proj.weight'], 'rnnAttention.dKeyProj'));
      out.push(
        columnSumDispatch(this.gpu, {
          rows: B * Tq,
          cols: A,
          x: { buffer: work, offset: this.layout.dvRows, ld: A },
          y: { buffer: a.grads.v.buffer, offset: a.grads.v.offset },
          label: 'rnnAttention.dv',
        }),
      );
    }
    return out;
  }

  /** Releases the plan's scratch buffers. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const b of [this.proj, this.work]) if (b) this.gpu.pool.release(b);
    this.proj = this.work = null;
  }

  // ---- helpers ----

  /** Where K' [B, Ts, scoreDim] lives: proj from 0, in the row order of `keys`. */
  private keyScratch(keys: SeqView): SeqView {
    const { batch: B, seqLenS: Ts, keyDim: Hk } = this.cfg;
    return { buffer: this.proj!, offset: 0, ...mirrorStrides(keys, B, Ts, Hk, this.pitch) };
  }

  /** Where Q' [B, Tq, attnDim] lives (additive): proj from qpOffset, in the row order of `query`. */
  private queryScratch(query: SeqView): SeqView {
    const { batch: B, seqLenQ: Tq, queryDim: Hq } = this.cfg;
    return {
      buffer: this.proj ?? this.gpu.dummyBuffer,
      offset: this.qpOffset,
      ...mirrorStrides(query, B, Tq, Hq, this.pitch),
    };
  }

  /** The view from step t0 on. */
  private step(v: SeqView, t0: number): SeqView {
    return { ...v, offset: (v.offset ?? 0) + t0 * v.strideTime };
  }

  /** K' = h̄·Wᵀ (general) or h̄·W2ᵀ (additive) into the key scratch. */
  private keyProjection(keys: SeqView, params: Record<string, BufferView>): Dispatch[] {
    const { score, seqLenS: Ts, keyDim: Hk } = this.cfg;
    if (score === 'dot') return [];
    const W = score === 'general' ? params.weight : params['key_proj.weight'];
    return this.rowGemm(
      { ...keys, width: Hk },
      { ...this.keyScratch(keys), width: this.scoreDim },
      Ts,
      this.weight(W, Hk),
      Hk,
      true,
      undefined,
      'rnnAttention.keyProj',
    );
  }

  /**
   * y[b, t] = x[b, t]·op(W) (+ beta·y) for the B×T rows: one GEMM over all B·T rows when both views'
   * rows follow in the same order, else a batched GEMM (see {@link rowMatrices}). W is [N, K] when
   * `transposeW` (y = x·Wᵀ), else [K, N]; K is x's width, N y's.
   */
  private rowGemm(
    x: Rows,
    y: Rows,
    T: number,
    w: MatrixView,
    K: number,
    transposeW: boolean,
    beta: number | undefined,
    label: string,
  ): Dispatch[] {
    const { M, batch, mats } = rowMatrices([x, y], this.cfg.batch, T);
    return this.gemm({
      M,
      N: y.width,
      K,
      batch,
      transposeB: transposeW,
      a: mats[0],
      b: { ...w, batchStride: 0 },
      c: mats[1],
      beta,
      label,
    });
  }

  /**
   * dW [M, N] = Σ over the B·T rows of dProjᵀ·x: one GEMM when the rows of x (and so of the scratch
   * dProj, which mirrors their order) form one progression, else one per batch row or step
   * (whichever is fewer), accumulating.
   */
  private weightGrad(
    dProj: SeqView,
    x: SeqView,
    T: number,
    M: number,
    N: number,
    grad: BufferView,
    label: string,
  ): Dispatch[] {
    const {
      M: K,
      batch,
      mats,
    } = rowMatrices(
      [
        { ...dProj, width: M },
        { ...x, width: N },
      ],
      this.cfg.batch,
      T,
    );
    const c: MatrixView = { buffer: grad.buffer, offset: grad.offset, ld: N };
    const out: Dispatch[] = [];
    for (let i = 0; i < batch; i++) {
      const at = (m: MatrixView): MatrixView => ({
        buffer: m.buffer,
        offset: (m.offset ?? 0) + i * (m.batchStride ?? 0),
        ld: m.ld,
      });
      pushAll(
        out,
        this.gemm({
          M,
          N,
          K,
          transposeA: true,
          a: at(mats[0]),
          b: at(mats[1]),
          c,
          beta: i > 0 ? 1 : undefined,
          label: batch > 1 ? `${label}.b${i}` : label,
        }),
      );
    }
    return out;
  }

  private gemm(args: GemmArgs): Dispatch[] {
    return gemmDispatches(this.gpu, this.software ? { ...args, tile: SOFTWARE_GEMM_TILE } : args);
  }

  /** A [B, T, width] view as a batched GEMM operand (batch b, row t; with one row any stride will do). */
  private mat(v: SeqView, T: number, width: number): MatrixView {
    return { buffer: v.buffer, offset: v.offset ?? 0, ld: T > 1 ? v.strideTime : width, batchStride: v.strideBatch };
  }

  private weight(w: BufferView, cols: number): MatrixView {
    return { buffer: w.buffer, offset: w.offset, ld: cols };
  }

  private paramBuffers(params: Record<string, BufferView>): Record<string, GPUBuffer> {
    return Object.fromEntries(this.parameterShapes.map((p) => [`params.${p.name}`, params[p.name].buffer]));
  }

  private assertLive(label: string): void {
    if (this.destroyed) throw new DestroyedError(`${label}: this RnnAttentionPlan was destroyed`);
  }

  /** Checks a [batch, T, width] view: integer offset/strides, rows that do not overlap (outputs), inside its buffer. */
  private checkSeq(label: string, name: string, v: SeqView | undefined, T: number, width: number): void {
    const B = this.cfg.batch;
    const shape = fmtShape([B, T, width]);
    if (!v || !v.buffer)
      throw new ShapeError(
        `${label}: argument '${name}' is missing; expected a view of a [batch, len, dim] = ${shape} sequence`,
      );
    const offset = v.offset ?? 0;
    for (const [k, x] of Object.entries({ offset, strideBatch: v.strideBatch, strideTime: v.strideTime })) {
      if (!Number.isInteger(x) || x < 0)
        throw new ShapeError(`${label}: '${name}.${k}' must be a non-negative integer (f32 elements), got ${x}`);
    }
    // Rows must not overlap (an output would race with itself; a GEMM operand needs ld ≥ its row length).
    const dims = [
      [B, v.strideBatch],
      [T, v.strideTime],
    ]
      .filter(([n]) => n > 1)
      .sort((x, y) => x[1] - y[1]);
    let span = width;
    for (const [n, stride] of dims) {
      if (stride < span) {
        throw new ShapeError(
          `${label}: '${name}' ${shape} has overlapping rows: ` +
            `strideBatch ${v.strideBatch}, strideTime ${v.strideTime} for rows of ${width}`,
        );
      }
      span = stride * (n - 1) + span;
    }
    const end = offset + (B - 1) * v.strideBatch + (T - 1) * v.strideTime + width;
    if (end * 4 > v.buffer.size) {
      throw new ShapeError(
        `${label}: '${name}' ${shape} (offset ${offset}, strideBatch ${v.strideBatch}, ` +
          `strideTime ${v.strideTime}) spans ${end} elements, but its buffer ` +
          `holds ${v.buffer.size / 4}`,
      );
    }
  }

  private checkMask(label: string, mask: GPUBuffer | undefined): void {
    const n = this.cfg.batch * this.cfg.seqLenS;
    if (mask && mask.size < n * 4)
      throw new ShapeError(
        `${label}: 'keyMask' holds ${mask.size / 4} elements; expected [batch, seqLenS] ` +
          `= ${fmtShape([this.cfg.batch, this.cfg.seqLenS])} (${n}, 1 keep / 0 pad)`,
      );
  }

  private checkParams(label: string, what: string, params: Record<string, BufferView> | undefined): void {
    for (const p of this.parameterShapes) {
      const v = params?.[p.name];
      const n = p.shape.reduce((x, y) => x * y, 1);
      if (!v || !v.buffer) {
        throw new ShapeError(
          `${label}: '${what}' has no '${p.name}' ${fmtShape(p.shape)} (the ${this.cfg.score} score needs ` +
            `${this.parameterShapes.map((q) => `'${q.name}' ${fmtShape(q.shape)}`).join(', ')}); given: ${
              Object.keys(params ?? {})
                .map((k) => `'${k}'`)
                .join(', ') || 'none'
            }`,
        );
      }
      if (v.size !== n)
        throw new ShapeError(
          `${label}: '${what}.${p.name}' has ${v.size} elements; expected ${fmtShape(p.shape)} = ${n}`,
        );
      if (!Number.isInteger(v.offset) || v.offset < 0 || (v.offset + n) * 4 > v.buffer.size) {
        throw new ShapeError(
          `${label}: '${what}.${p.name}' ${fmtShape(p.shape)} at offset ${v.offset} ` +
            `overruns its buffer of ${v.buffer.size / 4} elements`,
        );
      }
    }
  }

  /** Outputs may not share a buffer with inputs (nor, when `eachOther`, with each other). */
  private distinct(
    label: string,
    outputs: Record<string, GPUBuffer>,
    inputs: Record<string, GPUBuffer | undefined>,
    eachOther: boolean,
  ): void {
    const outs = Object.entries(outputs);
    for (const [o, ob] of outs) {
      for (const [i, ib] of Object.entries(inputs)) {
        if (ib && ob === ib)
          throw new ArgumentError(
            `${label}: '${o}' shares its buffer with '${i}'; an output must be in a buffer ` +
              `that the dispatch writing it does not read`,
          );
      }
    }
    if (eachOther) {
      for (let x = 0; x < outs.length; x++)
        for (let y = x + 1; y < outs.length; y++) {
          if (outs[x][1] === outs[y][1])
            throw new ArgumentError(
              `${label}: '${outs[x][0]}' and '${outs[y][0]}' share a buffer; they are written ` +
                `by the same dispatch and must be separate buffers`,
            );
        }
    }
  }
}
