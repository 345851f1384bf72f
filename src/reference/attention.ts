import { dropoutKeep } from '../kernels/dropout.js';

/** Sizes of {@link attentionRef} and {@link attentionBackwardRef}. */
export interface AttentionRefDims {
  /** Batch size. */
  batch: number;
  /** Query heads. */
  heads: number;
  /** Query rows per (batch, head). */
  seqLenQ: number;
  /** Key / value rows per (batch, head). */
  seqLenK: number;
  /** Features per head. */
  headDim: number;
  /**
   * Key / value heads (grouped-query attention), dividing `heads`: query head h reads kv head
   * ⌊h / (heads / kvHeads)⌋. Default `heads`.
   */
  kvHeads?: number;
}

/**
 * Dropout on the attention probabilities, drawn as the kernels draw it: element (b, h, i, j) —
 * batch, query head, query row, key — is kept when {@link dropoutKeep}(seed, counter, salt,
 * ((b·heads + h)·seqLenQ + i)·seqLenK + j, p) (the index taken mod 2³²), then scaled by 1/(1 − p).
 */
export interface AttentionRefDropout {
  /** Drop probability in [0, 1). */
  p: number;
  /** u32 seed. */
  seed: number;
  /** u32 step counter. */
  counter: number;
  /** u32 salt, default 0. */
  salt?: number;
}

/** Options of {@link attentionRef} and {@link attentionBackwardRef}. */
export interface AttentionRefOptions {
  /** Mask key j > query i. */
  causal?: boolean;
  /** [batch, seqLenK]: 0 masks the key. */
  keyMask?: ArrayLike<number>;
  /** [batch, heads, seqLenQ, seqLenK] contiguous, added to the scaled scores (≤ −3e38 masks). */
  additiveMask?: ArrayLike<number>;
  /** Default 1/√headDim. */
  scale?: number;
  /** Dropout on the probabilities (see {@link AttentionRefDropout}). */
  dropout?: AttentionRefDropout;
}

/**
 * The dropout factor of (b, h, i, j): 0 (dropped) or 1/(1 − p) (kept); 1 without dropout.
 * @param dropout - The dropout (or undefined: 1).
 * @param index - ((b·heads + h)·seqLenQ + i)·seqLenK + j.
 */
export function attentionDropoutFactor(dropout: AttentionRefDropout | undefined, index: number): number {
  if (!dropout || dropout.p === 0) return 1;
  const keep = dropoutKeep(dropout.seed, dropout.counter, dropout.salt ?? 0, index % 2 ** 32, dropout.p);
  return keep ? 1 / (1 - dropout.p) : 0;
}

/**
 * Float64 reference of scaled dot-product attention (the spec of shaders/attention.wgsl):
 *   S = Q·Kᵀ·scale, S[i, j] = −∞ where masked (causal: j > i; key padding: keyMask[b, j] = 0)
 *   P = softmax_rows(S),  O = (P ⊙ Z)·V,  LSE[i] = log Σ_j exp(S[i, j])
 * with Z the dropout factors (see {@link AttentionRefDropout}; all 1 without dropout).
 * Layout: Q [batch, heads, seqLenQ, headDim], K and V [batch, kvHeads, seqLenK, headDim] (query
 * head h reads kv head ⌊h / (heads / kvHeads)⌋). Fully masked rows: O = 0, LSE = −∞.
 * `additiveMask` [batch, heads, seqLenQ, seqLenK] (contiguous) is added to the scaled scores; an
 * entry ≤ −3e38 (or −∞) masks the key out, as the kernels' `additiveMask`.
 * @param q - Queries.
 * @param k - Keys.
 * @param v - Values.
 * @param dims - Sizes.
 * @param opts - Masks, scale, dropout.
 */
export function attentionRef(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  dims: AttentionRefDims,
  opts: AttentionRefOptions = {},
): { output: Float64Array; lse: Float64Array } {
  const { batch: B, heads: H, seqLenQ: Tq, seqLenK: Tk, headDim: D } = dims;
  const G = H / (dims.kvHeads ?? H);
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  const output = new Float64Array(B * H * Tq * D);
  const lse = new Float64Array(B * H * Tq);
  const s = new Float64Array(Tk);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      const base = b * H + h;
      const kvBase = b * (H / G) + Math.floor(h / G);
      for (let i = 0; i < Tq; i++) {
        let max = -Infinity;
        for (let j = 0; j < Tk; j++) {
          const add = maskAt(opts.additiveMask, (base * Tq + i) * Tk + j);
          const masked = (opts.causal && j > i) || (opts.keyMask && opts.keyMask[b * Tk + j] === 0) || add === null;
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[(base * Tq + i) * D + d] * k[(kvBase * Tk + j) * D + d];
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
          const p = (Math.exp(s[j] - max) / sum) * attentionDropoutFactor(opts.dropout, (base * Tq + i) * Tk + j);
          if (p === 0) continue;
          for (let d = 0; d < D; d++) output[(base * Tq + i) * D + d] += p * v[(kvBase * Tk + j) * D + d];
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
 * Float64 backward of {@link attentionRef}: with P the probabilities, Z the dropout factors and
 * dP = (dO·Vᵀ) ⊙ Z,
 *   dV = (P ⊙ Z)ᵀ·dO,   dS = P ⊙ (dP − rowsum(dO ⊙ O)),   dQ = scale·dS·K,   dK = scale·dSᵀ·Q
 * (with grouped-query attention, dK and dV of a kv head sum over the query heads that read it).
 * @param q - Queries.
 * @param k - Keys.
 * @param v - Values.
 * @param dO - dL/d output.
 * @param dims - Sizes.
 * @param opts - As the forward's.
 */
export function attentionBackwardRef(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  dO: ArrayLike<number>,
  dims: AttentionRefDims,
  opts: AttentionRefOptions = {},
): { dq: Float64Array; dk: Float64Array; dv: Float64Array } {
  const { batch: B, heads: H, seqLenQ: Tq, seqLenK: Tk, headDim: D } = dims;
  const HK = dims.kvHeads ?? H;
  const G = H / HK;
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  const { output, lse } = attentionRef(q, k, v, dims, opts);
  const dq = new Float64Array(B * H * Tq * D);
  const dk = new Float64Array(B * HK * Tk * D);
  const dv = new Float64Array(B * HK * Tk * D);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      const base = b * H + h;
      const kvBase = b * HK + Math.floor(h / G);
      for (let i = 0; i < Tq; i++) {
        if (lse[base * Tq + i] === -Infinity) continue;
        let delta = 0;
        for (let d = 0; d < D; d++) delta += dO[(base * Tq + i) * D + d] * output[(base * Tq + i) * D + d];
        for (let j = 0; j < Tk; j++) {
          const add = maskAt(opts.additiveMask, (base * Tq + i) * Tk + j);
          if ((opts.causal && j > i) || (opts.keyMask && opts.keyMask[b * Tk + j] === 0) || add === null) continue;
          const z = attentionDropoutFactor(opts.dropout, (base * Tq + i) * Tk + j);
          let s = 0;
          let dp = 0;
          for (let d = 0; d < D; d++) {
            s += q[(base * Tq + i) * D + d] * k[(kvBase * Tk + j) * D + d];
            dp += dO[(base * Tq + i) * D + d] * v[(kvBase * Tk + j) * D + d];
          }
          const p = Math.exp(s * scale + add - lse[base * Tq + i]);
          const ds = p * (dp * z - delta);
          for (let d = 0; d < D; d++) {
            dv[(kvBase * Tk + j) * D + d] += p * z * dO[(base * Tq + i) * D + d];
            dq[(base * Tq + i) * D + d] += scale * ds * k[(kvBase * Tk + j) * D + d];
            dk[(kvBase * Tk + j) * D + d] += scale * ds * q[(base * Tq + i) * D + d];
          }
        }
      }
    }
  return { dq, dk, dv };
}
