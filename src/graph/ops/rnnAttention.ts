// RNN encoder–decoder attention (Luong dot/general, Bahdanau additive) as ONE graph node whose
// build is the fused RnnAttentionPlan (src/kernels/rnnAttention.ts): forward = key projection GEMM
// (general, additive) + query projection GEMM (additive) + one fused dispatch for the scores, the
// masked softmax, α and the context; backward = ONE node running the plan's fused backward
// (projections recomputed, two row kernels, the weight GEMMs), writing dQuery, dKeys and every
// parameter gradient into planned values (the autodiff sums or binds them like any other op's).
//
//   dot:       score_ts = h_tᵀ·h̄_s                 general: score_ts = h_tᵀ·W·h̄_s
//   additive:  score_ts = vᵀ·tanh(W1·h_t + W2·h̄_s)
//   α_ts = softmax_s over the kept keys (keyMask[b, s] ≠ 0; masked keys α = 0; all masked: α = 0, c = 0)
//   c_t  = Σ_s α_ts·h̄_s
//
// The gradient flows from the context only: α is an output for inspection (a loss on it is an
// ArgumentError when the backward is built; compose F.matmul / F.softmax for that).
import type { Dispatch } from '../../gpu/dispatch.js';
import { ArgumentError, ShapeError, fmtShape } from '../../util/errors.js';
import { TENSOR_USAGE } from '../../gpu/flags.js';
import { elementwiseDispatch } from '../../kernels/elementwise.js';
import {
  RnnAttentionPlan,
  type AttentionScore,
  type RnnAttentionConfig,
  type SeqView,
} from '../../kernels/rnnAttention.js';
import type { BufferRef, BuildContext, Value } from '../graph.js';
import { record } from '../record.js';

/** The outputs of an attention node. */
export interface RnnAttentionValues {
  /** c [batch, seqLenQ, keyDim]. */
  context: Value;
  /** α [batch, seqLenQ, seqLenS]. */
  weights: Value;
}

/** A parameter of the score by the plan's name ('weight'; 'query_proj.weight', 'key_proj.weight', 'v'). */
export interface RnnAttentionParam {
  name: string;
  value: Value;
}

/** A batch-first contiguous [B, T, width] value as the plan's view. */
const seq = (v: BufferRef, T: number, width: number): SeqView => ({
  buffer: v.buffer,
  offset: v.offset,
  strideBatch: T * width,
  strideTime: width,
});

/**
 * Records attention of `query` [B, Tq, Hq] over `keys` [B, Ts, Hk] (keys = values).
 * @param op - Name in errors and labels.
 * @param score - Score function.
 * @param query - h, f32 [batch, seqLenQ, queryDim].
 * @param keys - h̄, f32 [batch, seqLenS, keyDim].
 * @param keyMask - f32 [batch, seqLenS], nonzero = attend, 0 = masked; or null.
 * @param params - The score's parameters in the plan's order.
 * @param attnDim - Additive only: size of the projections.
 */
export function rnnAttentionValue(
  op: string,
  score: AttentionScore,
  query: Value,
  keys: Value,
  keyMask: Value | null,
  params: readonly RnnAttentionParam[],
  attnDim?: number,
): RnnAttentionValues {
  if (query.dtype !== 'f32' || query.shape.length !== 3)
    throw new ShapeError(
      `${op}: argument 'query' has shape ${fmtShape(query.shape)} (${query.dtype}); ` +
        `expected f32 [batch, queryLen, querySize]`,
    );
  if (keys.dtype !== 'f32' || keys.shape.length !== 3 || keys.shape[0] !== query.shape[0]) {
    throw new ShapeError(
      `${op}: argument 'keys' has shape ${fmtShape(keys.shape)} (${keys.dtype}); ` +
        `expected f32 [batch = ${query.shape[0]} (query's), keyLen, keySize]`,
    );
  }
  const [B, Tq, Hq] = query.shape;
  const [, Ts, Hk] = keys.shape;
  if (
    keyMask &&
    (keyMask.dtype !== 'f32' || keyMask.shape.length !== 2 || keyMask.shape[0] !== B || keyMask.shape[1] !== Ts)
  ) {
    throw new ShapeError(
      `${op}: argument 'keyMask' has shape ${fmtShape(keyMask.shape)} ` +
        `(${keyMask.dtype}); expected f32 [batch, keyLen] = ${fmtShape([B, Ts])} ` +
        `(nonzero = attend, 0 = masked)`,
    );
  }
  const cfg: RnnAttentionConfig = { score, batch: B, seqLenQ: Tq, seqLenS: Ts, queryDim: Hq, keyDim: Hk, attnDim };
  // The plan (and its scratch) is made when the graph is planned, so a failed trace leaks nothing.
  let plan: RnnAttentionPlan | null = null;
  const planFor = (ctx: BuildContext) => (plan ??= new RnnAttentionPlan(ctx.gpu, cfg));
  const paramViews = (
    refs: readonly BufferRef[],
  ): Record<string, { buffer: GPUBuffer; offset: number; size: number }> =>
    Object.fromEntries(
      params.map((p, i) => [p.name, { buffer: refs[i].buffer, offset: refs[i].offset, size: p.value.size }]),
    );
  const nMask = keyMask ? 1 : 0;
  const inputs = [query, keys, ...(keyMask ? [keyMask] : []), ...params.map((p) => p.value)];

  const [context, weights] = record({
    op,
    inputs,
    outputs: [{ shape: [B, Tq, Hk] }, { shape: [B, Tq, Ts] }],
    build: (ins, [cv, av], ctx) => {
      const p = planFor(ctx);
      const pv = paramViews(ins.slice(2 + nMask));
      const out: Dispatch[] = [];
      let mask: GPUBuffer | undefined;
      if (keyMask) {
        const mv = ins[2];
        if (mv.offset === 0) mask = mv.buffer;
        else {
          // The plan reads the mask from element 0 of its buffer: copy a view that starts elsewhere.
          mask = ctx.gpu.pool.acquire(B * Ts * 4, TENSOR_USAGE, `${op}.keyMask`);
          ctx.own([mask]);
          out.push(
            elementwiseDispatch(ctx.gpu, {
              op: 'scale',
              n: B * Ts,
              x: mv,
              y: { buffer: mask, offset: 0 },
              alpha: 1,
              label: `${op}.keyMask`,
            }),
          );
        }
      }
      const keysView = seq(ins[1], Ts, Hk);
      out.push(...p.prepareDispatches({ keys: keysView, params: pv }));
      out.push(
        ...p.forwardDispatches({
          t0: 0,
          steps: Tq,
          query: seq(ins[0], Tq, Hq),
          keys: keysView,
          keyMask: mask,
          params: pv,
          context: seq(cv, Tq, Hk),
          alpha: seq(av, Tq, Ts),
        }),
      );
      return out;
    },
    backward: ([dContext, dWeights], needs, [, alpha]) => {
      if (dWeights) {
        throw new ArgumentError(
          `${op}: the loss depends on the attention weights, but the fused attention ` +
            `backward differentiates through the context only; use the weights for ` +
            `inspection, or compose the attention from F.matmul and F.softmax to train ` +
            `through them`,
        );
      }
      if (!dContext) return inputs.map(() => null);
      const grads = record({
        op: `${op}.backward`,
        inputs: [query, keys, alpha, dContext, ...params.map((p) => p.value)],
        outputs: [{ shape: query.shape }, { shape: keys.shape }, ...params.map((p) => ({ shape: p.value.shape }))],
        build: ([qv, kv, av, gv, ...pr], [dqv, dkv, ...dpr], ctx) =>
          planFor(ctx).backwardDispatches({
            query: seq(qv, Tq, Hq),
            keys: seq(kv, Ts, Hk),
            params: paramViews(pr),
            alpha: seq(av, Tq, Ts),
            dContext: seq(gv, Tq, Hk),
            dQuery: seq(dqv, Tq, Hq),
            dKeys: seq(dkv, Ts, Hk),
            grads: paramViews(dpr),
          }),
      });
      return [
        needs[0] ? grads[0] : null,
        needs[1] ? grads[1] : null,
        ...(keyMask ? [null] : []),
        ...params.map((_, i) => (needs[2 + nMask + i] ? grads[2 + i] : null)),
      ];
    },
    hooks: {
      destroy: () => {
        plan?.destroy();
        plan = null;
      },
    },
  });
  return { context, weights };
}
