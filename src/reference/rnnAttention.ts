/**
 * Float64 reference of RNN (encoder-decoder) attention, the spec of shaders/rnn_attention*.wgsl.
 * For a decoder state h_t (query, size Hq) and encoder outputs h̄_s (keys = values, size Hk):
 *
 *   dot:       score_ts = h_tᵀ·h̄_s                                   (Luong; Hq = Hk)
 *   general:   score_ts = h_tᵀ·W·h̄_s,          W [Hq, Hk]           (Luong; param 'weight')
 *   additive:  score_ts = vᵀ·tanh(W1·h_t + W2·h̄_s)                  (Bahdanau; W1 'query_proj.weight' [A, Hq],
 *                                                                      W2 'key_proj.weight' [A, Hk], v 'v' [A])
 *   α_ts = softmax_s(score_ts) over the kept keys (keyMask[b, s] ≠ 0); masked keys get α = 0
 *   c_t  = Σ_s α_ts·h̄_s
 *
 * A query row whose keys are all masked gets α = 0 and c = 0. Layout: batch first and
 * contiguous, query [batch, seqLenQ, Hq], keys [batch, seqLenS, Hk], α [batch, seqLenQ, seqLenS],
 * context [batch, seqLenQ, Hk].
 */
export type RnnAttentionScoreRef = 'dot' | 'general' | 'additive';

export interface RnnAttentionDimsRef {
  score: RnnAttentionScoreRef;
  batch: number;
  seqLenQ: number;
  seqLenS: number;
  queryDim: number;
  keyDim: number;
  /** Additive only: A. */
  attnDim?: number;
}

/** Parameters by their PyTorch-style names (see the header). */
export type RnnAttentionParamsRef = Record<string, ArrayLike<number>>;

/** Parameter names and shapes of a score (the same list as RnnAttentionPlan.parameterShapes). */
export function rnnAttentionParameterShapes(d: RnnAttentionDimsRef): Array<{ name: string; shape: number[] }> {
  if (d.score === 'general') return [{ name: 'weight', shape: [d.queryDim, d.keyDim] }];
  if (d.score === 'additive') {
    const A = d.attnDim ?? 0;
    return [
      { name: 'query_proj.weight', shape: [A, d.queryDim] },
      { name: 'key_proj.weight', shape: [A, d.keyDim] },
      { name: 'v', shape: [A] },
    ];
  }
  return [];
}

/** y = W·x for W [rows, cols] row-major, x at `xOff` (cols values). */
function matvec(W: ArrayLike<number>, rows: number, cols: number, x: ArrayLike<number>, xOff: number): Float64Array {
  const y = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let j = 0; j < cols; j++) s += W[i * cols + j] * x[xOff + j];
    y[i] = s;
  }
  return y;
}

/** Projected keys/queries of the additive score: W1·h_t for every (b, t) and W2·h̄_s for every (b, s). */
function additiveProjections(
  query: ArrayLike<number>,
  keys: ArrayLike<number>,
  params: RnnAttentionParamsRef,
  d: RnnAttentionDimsRef,
) {
  const { batch: B, seqLenQ: Tq, seqLenS: Ts, queryDim: Hq, keyDim: Hk } = d;
  const A = d.attnDim!;
  const qp: Float64Array[] = []; // [b·Tq + t] → W1·h_t
  const kp: Float64Array[] = []; // [b·Ts + s] → W2·h̄_s
  for (let r = 0; r < B * Tq; r++) qp.push(matvec(params['query_proj.weight'], A, Hq, query, r * Hq));
  for (let r = 0; r < B * Ts; r++) kp.push(matvec(params['key_proj.weight'], A, Hk, keys, r * Hk));
  return { qp, kp };
}

/** W·h̄_s for every (b, s) of the general score. */
function generalProjections(
  keys: ArrayLike<number>,
  params: RnnAttentionParamsRef,
  d: RnnAttentionDimsRef,
): Float64Array[] {
  const kp: Float64Array[] = [];
  for (let r = 0; r < d.batch * d.seqLenS; r++)
    kp.push(matvec(params.weight, d.queryDim, d.keyDim, keys, r * d.keyDim));
  return kp;
}

/** The raw scores [batch, seqLenQ, seqLenS] (masking is applied by the softmax). */
export function rnnAttentionScoresRef(
  query: ArrayLike<number>,
  keys: ArrayLike<number>,
  params: RnnAttentionParamsRef,
  d: RnnAttentionDimsRef,
): Float64Array<ArrayBuffer> {
  const { batch: B, seqLenQ: Tq, seqLenS: Ts, queryDim: Hq, keyDim: Hk } = d;
  const scores = new Float64Array(B * Tq * Ts);
  const proj = d.score === 'additive' ? additiveProjections(query, keys, params, d) : null;
  const wk = d.score === 'general' ? generalProjections(keys, params, d) : null;
  for (let b = 0; b < B; b++)
    for (let t = 0; t < Tq; t++)
      for (let s = 0; s < Ts; s++) {
        const q0 = (b * Tq + t) * Hq;
        const k0 = (b * Ts + s) * Hk;
        let score = 0;
        if (d.score === 'dot') {
          for (let i = 0; i < Hq; i++) score += query[q0 + i] * keys[k0 + i];
        } else if (d.score === 'general') {
          const Wh = wk![b * Ts + s]; // h_tᵀ·(W·h̄_s)
          for (let i = 0; i < Hq; i++) score += query[q0 + i] * Wh[i];
        } else {
          const v = params.v;
          const qp = proj!.qp[b * Tq + t];
          const kp = proj!.kp[b * Ts + s];
          for (let a = 0; a < d.attnDim!; a++) score += v[a] * Math.tanh(qp[a] + kp[a]);
        }
        scores[(b * Tq + t) * Ts + s] = score;
      }
  return scores;
}

/** Forward: α [batch, seqLenQ, seqLenS] and context [batch, seqLenQ, keyDim]. */
export function rnnAttentionRef(
  query: ArrayLike<number>,
  keys: ArrayLike<number>,
  params: RnnAttentionParamsRef,
  d: RnnAttentionDimsRef,
  keyMask?: ArrayLike<number>,
): { alpha: Float64Array<ArrayBuffer>; context: Float64Array<ArrayBuffer> } {
  const { batch: B, seqLenQ: Tq, seqLenS: Ts, keyDim: Hk } = d;
  const scores = rnnAttentionScoresRef(query, keys, params, d);
  const alpha = new Float64Array(B * Tq * Ts);
  const context = new Float64Array(B * Tq * Hk);
  const kept = (b: number, s: number) => !keyMask || keyMask[b * Ts + s] !== 0;
  for (let b = 0; b < B; b++)
    for (let t = 0; t < Tq; t++) {
      const row = (b * Tq + t) * Ts;
      let max = -Infinity;
      for (let s = 0; s < Ts; s++) if (kept(b, s)) max = Math.max(max, scores[row + s]);
      if (max === -Infinity) continue; // every key masked: α = 0, c = 0
      let sum = 0;
      for (let s = 0; s < Ts; s++) if (kept(b, s)) sum += Math.exp(scores[row + s] - max);
      for (let s = 0; s < Ts; s++) {
        if (!kept(b, s)) continue;
        const a = Math.exp(scores[row + s] - max) / sum;
        alpha[row + s] = a;
        for (let j = 0; j < Hk; j++) context[(b * Tq + t) * Hk + j] += a * keys[(b * Ts + s) * Hk + j];
      }
    }
  return { alpha, context };
}

/**
 * Backward of {@link rnnAttentionRef} from dContext [batch, seqLenQ, keyDim]:
 *   dα_ts = dc_t·h̄_s,   ds_ts = α_ts·(dα_ts − Σ_s' α_ts'·dα_ts')            (softmax; 0 where α = 0)
 *   dh̄_s  = Σ_t α_ts·dc_t  + (score part)                                    (context)
 *   dot:      dh_t += Σ_s ds_ts·h̄_s,           dh̄_s += Σ_t ds_ts·h_t
 *   general:  dh_t += Σ_s ds_ts·W·h̄_s,         dh̄_s += Wᵀ·Σ_t ds_ts·h_t,     dW = Σ_s (Σ_t ds_ts·h_t) ⊗ h̄_s
 *   additive: u = tanh(W1·h_t + W2·h̄_s),  g_ts = ds_ts·v ⊙ (1 − u²)
 *             dh_t += W1ᵀ·Σ_s g_ts,   dh̄_s += W2ᵀ·Σ_t g_ts,
 *             dW1 = Σ_ts g_ts ⊗ h_t,  dW2 = Σ_ts g_ts ⊗ h̄_s,  dv = Σ_ts ds_ts·u
 */
export function rnnAttentionBackwardRef(
  query: ArrayLike<number>,
  keys: ArrayLike<number>,
  params: RnnAttentionParamsRef,
  dContext: ArrayLike<number>,
  d: RnnAttentionDimsRef,
  keyMask?: ArrayLike<number>,
): {
  dQuery: Float64Array<ArrayBuffer>;
  dKeys: Float64Array<ArrayBuffer>;
  grads: Record<string, Float64Array<ArrayBuffer>>;
} {
  const { batch: B, seqLenQ: Tq, seqLenS: Ts, queryDim: Hq, keyDim: Hk } = d;
  const { alpha } = rnnAttentionRef(query, keys, params, d, keyMask);
  const dQuery = new Float64Array(B * Tq * Hq);
  const dKeys = new Float64Array(B * Ts * Hk);
  const grads: Record<string, Float64Array<ArrayBuffer>> = {};
  for (const p of rnnAttentionParameterShapes(d)) grads[p.name] = new Float64Array(p.shape.reduce((x, y) => x * y, 1));
  const A = d.attnDim ?? 0;
  const proj = d.score === 'additive' ? additiveProjections(query, keys, params, d) : null;
  const wk = d.score === 'general' ? generalProjections(keys, params, d) : null;
  const dwk = wk ? wk.map(() => new Float64Array(Hq)) : null;
  const dqp = new Float64Array(A); // Σ_s g_ts for one (b, t)
  for (let b = 0; b < B; b++)
    for (let t = 0; t < Tq; t++) {
      const row = (b * Tq + t) * Ts;
      const q0 = (b * Tq + t) * Hq;
      const c0 = (b * Tq + t) * Hk;
      // dα and the softmax backward
      const dAlpha = new Float64Array(Ts);
      let delta = 0;
      for (let s = 0; s < Ts; s++) {
        for (let j = 0; j < Hk; j++) dAlpha[s] += dContext[c0 + j] * keys[(b * Ts + s) * Hk + j];
        delta += alpha[row + s] * dAlpha[s];
      }
      dqp.fill(0);
      for (let s = 0; s < Ts; s++) {
        const a = alpha[row + s];
        if (a === 0) continue;
        const k0 = (b * Ts + s) * Hk;
        const ds = a * (dAlpha[s] - delta);
        for (let j = 0; j < Hk; j++) dKeys[k0 + j] += a * dContext[c0 + j]; // context
        if (d.score === 'dot') {
          for (let i = 0; i < Hq; i++) {
            dQuery[q0 + i] += ds * keys[k0 + i];
            dKeys[k0 + i] += ds * query[q0 + i];
          }
        } else if (d.score === 'general') {
          const Wh = wk![b * Ts + s];
          const dWh = dwk![b * Ts + s];
          for (let i = 0; i < Hq; i++) {
            dQuery[q0 + i] += ds * Wh[i];
            dWh[i] += ds * query[q0 + i]; // d(W·h̄_s) = Σ_t ds_ts·h_t
          }
        } else {
          const v = params.v;
          const qp = proj!.qp[b * Tq + t];
          const kp = proj!.kp[b * Ts + s];
          const W2 = params['key_proj.weight'];
          const dW2 = grads['key_proj.weight'];
          for (let x = 0; x < A; x++) {
            const u = Math.tanh(qp[x] + kp[x]);
            const g = ds * v[x] * (1 - u * u);
            grads.v[x] += ds * u;
            dqp[x] += g;
            for (let j = 0; j < Hk; j++) {
              dKeys[k0 + j] += g * W2[x * Hk + j];
              dW2[x * Hk + j] += g * keys[k0 + j];
            }
          }
        }
      }
      if (d.score === 'additive') {
        const W1 = params['query_proj.weight'];
        const dW1 = grads['query_proj.weight'];
        for (let x = 0; x < A; x++)
          for (let i = 0; i < Hq; i++) {
            dQuery[q0 + i] += dqp[x] * W1[x * Hq + i];
            dW1[x * Hq + i] += dqp[x] * query[q0 + i];
          }
      }
    }
  if (dwk) {
    // general: dh̄_s += Wᵀ·d(W·h̄_s),  dW += d(W·h̄_s) ⊗ h̄_s
    const W = params.weight;
    const dW = grads.weight;
    for (let r = 0; r < B * Ts; r++)
      for (let i = 0; i < Hq; i++)
        for (let j = 0; j < Hk; j++) {
          dKeys[r * Hk + j] += W[i * Hk + j] * dwk[r][i];
          dW[i * Hk + j] += dwk[r][i] * keys[r * Hk + j];
        }
  }
  return { dQuery, dKeys, grads };
}
