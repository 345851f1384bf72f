/**
 * Float64 reference of scaled dot-product attention (the spec of shaders/attention.wgsl):
 *   S = Q·Kᵀ·scale, S[i, j] = −∞ where masked (causal: j > i; key padding: keyMask[b, j] = 0)
 *   P = softmax_rows(S),  O = P·V,  LSE[i] = log Σ_j exp(S[i, j])
 * Layout [batch, heads, seqLen, headDim]. Fully masked rows: O = 0, LSE = −∞.
 * `additiveMask` [batch, heads, seqLenQ, seqLenK] (contiguous) is added to the scaled scores; an
 * entry ≤ −3e38 (or −∞) masks the key out, as the kernels' `additiveMask`.
 */
export function attentionRef(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  dims: { batch: number; heads: number; seqLenQ: number; seqLenK: number; headDim: number },
  opts: { causal?: boolean; keyMask?: ArrayLike<number>; additiveMask?: ArrayLike<number>; scale?: number } = {},
): { output: Float64Array; lse: Float64Array } {
  const { batch: B, heads: H, seqLenQ: Tq, seqLenK: Tk, headDim: D } = dims;
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  const output = new Float64Array(B * H * Tq * D);
  const lse = new Float64Array(B * H * Tq);
  const s = new Float64Array(Tk);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      const base = b * H + h;
      for (let i = 0; i < Tq; i++) {
        let max = -Infinity;
        for (let j = 0; j < Tk; j++) {
          const add = maskAt(opts.additiveMask, (base * Tq + i) * Tk + j);
          const masked = (opts.causal && j > i) || (opts.keyMask && opts.keyMask[b * Tk + j] === 0) || add === null;
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[(base * Tq + i) * D + d] * k[(base * Tk + j) * D + d];
          s[j] = masked ? -Infinity : dot * scale + add;
          max = Math.max(max, s[j]);
        }
        if (max === -Infinity) {
          lse[base * Tq + i] = -Infinity;
          continue;
        }
        let sum = 0;
        for (let j = 0; j < Tk; j++) sum += Math.exp(s[j] - max);
        lse[base * Tq + i] = max + Math.log(sum);
        for (let j = 0; j < Tk; j++) {
          const p = Math.exp(s[j] - max) / sum;
          if (p === 0) continue;
          for (let d = 0; d < D; d++) output[(base * Tq + i) * D + d] += p * v[(base * Tk + j) * D + d];
        }
      }
    }
  return { output, lse };
}

/** The additive mask entry at `i` (0 without a mask), or null where it masks the key out. */
function maskAt(mask: ArrayLike<number> | undefined, i: number): number | null {
  if (!mask) return 0;
  const m = mask[i];
  return m <= -3e38 ? null : m;
}

/**
 * Float64 backward of {@link attentionRef}: with P the probabilities and dP = dO·Vᵀ,
 *   dV = Pᵀ·dO,   dS = P ⊙ (dP − rowsum(dO ⊙ O)),   dQ = scale·dS·K,   dK = scale·dSᵀ·Q.
 */
export function attentionBackwardRef(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  dO: ArrayLike<number>,
  dims: { batch: number; heads: number; seqLenQ: number; seqLenK: number; headDim: number },
  opts: { causal?: boolean; keyMask?: ArrayLike<number>; additiveMask?: ArrayLike<number>; scale?: number } = {},
): { dq: Float64Array; dk: Float64Array; dv: Float64Array } {
  const { batch: B, heads: H, seqLenQ: Tq, seqLenK: Tk, headDim: D } = dims;
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  const { output, lse } = attentionRef(q, k, v, dims, opts);
  const dq = new Float64Array(B * H * Tq * D);
  const dk = new Float64Array(B * H * Tk * D);
  const dv = new Float64Array(B * H * Tk * D);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      const base = b * H + h;
      for (let i = 0; i < Tq; i++) {
        if (lse[base * Tq + i] === -Infinity) continue;
        let delta = 0;
        for (let d = 0; d < D; d++) delta += dO[(base * Tq + i) * D + d] * output[(base * Tq + i) * D + d];
        for (let j = 0; j < Tk; j++) {
          const add = maskAt(opts.additiveMask, (base * Tq + i) * Tk + j);
          if ((opts.causal && j > i) || (opts.keyMask && opts.keyMask[b * Tk + j] === 0) || add === null) continue;
          let s = 0;
          let dp = 0;
          for (let d = 0; d < D; d++) {
            s += q[(base * Tq + i) * D + d] * k[(base * Tk + j) * D + d];
            dp += dO[(base * Tq + i) * D + d] * v[(base * Tk + j) * D + d];
          }
          const p = Math.exp(s * scale + add - lse[base * Tq + i]);
          const ds = p * (dp - delta);
          for (let d = 0; d < D; d++) {
            dv[(base * Tk + j) * D + d] += p * dO[(base * Tq + i) * D + d];
            dq[(base * Tq + i) * D + d] += scale * ds * k[(base * Tk + j) * D + d];
            dk[(base * Tk + j) * D + d] += scale * ds * q[(base * Tq + i) * D + d];
          }
        }
      }
    }
  return { dq, dk, dv };
}
