// Float64 reference of the Seq2Seq model (src/models/seq2seq.ts): loss and every gradient, composed
// from the float64 references of its pieces. Time-major like the model: src [srcLen, batch],
// decoder inputs and targets [tgtLen, batch]; key mask [batch, srcLen] (a prefix of ones per row:
// the encoder runs each source over its own length, as a packed sequence).
//
//   h̄, hN   = encoder(E_src[src])                      h0_dec[l] = Σ_d hN[l·D + d]
//   h        = decoder(E_tgt[decIn], h0_dec)
//   α, c     = attention(h, h̄, keyMask)                 h̃ = tanh(W_c [c; h] + b_c)
//   logits   = W_o h̃ + b_o                              loss = mean CE over the non-ignored targets
//
// The backward runs the same chain in reverse: the decoder's dh0 (dc0) flows into every direction
// of the encoder's final state of the same layer.
import { rnnBackwardRef } from './rnnBackward.js';
import {
  rnnAttentionRef,
  rnnAttentionBackwardRef,
  rnnAttentionParameterShapes,
  type RnnAttentionDimsRef,
} from './rnnAttention.js';
import { crossEntropyRef } from './loss.js';
import { embeddingRef, embeddingBackwardRef } from './embedding.js';
import { parameterShapes, type CellKind, type RecurrentConfig } from '../kernels/recurrentConfig.js';

export interface Seq2SeqRefConfig {
  cell: CellKind;
  srcVocab: number;
  tgtVocab: number;
  embeddingDim: number;
  hiddenSize: number;
  numLayers: number;
  bidirectional: boolean;
  attention: 'none' | 'dot' | 'general' | 'additive';
  attnDim: number;
  padToken: number;
}

export interface Seq2SeqRefInputs {
  srcLen: number;
  tgtLen: number;
  batch: number;
  /** [srcLen, batch] token ids. */
  src: ArrayLike<number>;
  /** [batch, srcLen] 1 keep, 0 padding. */
  keyMask: ArrayLike<number>;
  /** [tgtLen, batch] the decoder inputs fed (BOS first). */
  decIn: ArrayLike<number>;
  /** [tgtLen, batch] targets, −100 = ignored. */
  targets: ArrayLike<number>;
}

type Weights = Record<string, ArrayLike<number>>;

function rnnConfig(c: Seq2SeqRefConfig, bidirectional: boolean): RecurrentConfig {
  return {
    cell: c.cell,
    inputSize: c.embeddingDim,
    hiddenSize: c.hiddenSize,
    numLayers: c.numLayers,
    bias: true,
    batchFirst: false,
    bidirectional,
    nonlinearity: 'tanh',
  };
}

/** The parameters under `prefix`, without it. */
function sub(w: Weights, prefix: string): Weights {
  const out: Weights = {};
  for (const [k, v] of Object.entries(w)) if (k.startsWith(prefix)) out[k.slice(prefix.length)] = v;
  return out;
}

/** [T, B, F] (time-major) ⇄ [B, T, F] (batch-first). */
function swap01(x: ArrayLike<number>, d0: number, d1: number, F: number): Float64Array {
  const y = new Float64Array(d0 * d1 * F);
  for (let i = 0; i < d0; i++)
    for (let j = 0; j < d1; j++) for (let f = 0; f < F; f++) y[(j * d0 + i) * F + f] = x[(i * d1 + j) * F + f];
  return y;
}

/** y[r] = W·x[r] + b for rows r; W [out, in] row-major, reading x's columns [col0, col0 + in) of width ldx. */
function affine(
  x: ArrayLike<number>,
  rows: number,
  ldx: number,
  col0: number,
  W: ArrayLike<number>,
  ldw: number,
  wcol0: number,
  out: number,
  inn: number,
  y: Float64Array,
  b?: ArrayLike<number>,
): void {
  for (let r = 0; r < rows; r++)
    for (let o = 0; o < out; o++) {
      let s = b ? b[o] : 0;
      for (let i = 0; i < inn; i++) s += W[o * ldw + wcol0 + i] * x[r * ldx + col0 + i];
      y[r * out + o] += s;
    }
}

/** Every parameter's name and shape, in the model's order (the spec of Seq2Seq's state dict). */
export function seq2seqParameterShapes(c: Seq2SeqRefConfig): Array<{ name: string; shape: number[] }> {
  const H = c.hiddenSize;
  const DH = (c.bidirectional ? 2 : 1) * H;
  const out = [{ name: 'encoder.embedding.weight', shape: [c.srcVocab, c.embeddingDim] }];
  out.push(
    ...parameterShapes(rnnConfig(c, c.bidirectional)).map((p) => ({ name: `encoder.rnn.${p.name}`, shape: p.shape })),
  );
  out.push({ name: 'decoder.embedding.weight', shape: [c.tgtVocab, c.embeddingDim] });
  out.push(...parameterShapes(rnnConfig(c, false)).map((p) => ({ name: `decoder.rnn.${p.name}`, shape: p.shape })));
  if (c.attention !== 'none') {
    const dims = { score: c.attention, batch: 1, seqLenQ: 1, seqLenS: 1, queryDim: H, keyDim: DH, attnDim: c.attnDim };
    out.push(...rnnAttentionParameterShapes(dims).map((p) => ({ name: `attention.${p.name}`, shape: p.shape })));
    out.push({ name: 'decoder.combine.weight', shape: [H, DH + H] }, { name: 'decoder.combine.bias', shape: [H] });
  }
  out.push({ name: 'decoder.out.weight', shape: [c.tgtVocab, H] }, { name: 'decoder.out.bias', shape: [c.tgtVocab] });
  return out;
}

export interface Seq2SeqRefResult {
  loss: number;
  /** [tgtLen·batch, tgtVocab] */
  logits: Float64Array;
  /** [batch, tgtLen, srcLen] (absent without attention). */
  alpha?: Float64Array;
  /** Gradients of the mean loss, by parameter name (only with `withGrads`). */
  grads: Record<string, Float64Array>;
}

export function seq2seqRef(c: Seq2SeqRefConfig, w: Weights, x: Seq2SeqRefInputs, withGrads = true): Seq2SeqRefResult {
  const { srcLen: Ts, tgtLen: Tt, batch: B } = x;
  const H = c.hiddenSize;
  const L = c.numLayers;
  const E = c.embeddingDim;
  const V = c.tgtVocab;
  const D = c.bidirectional ? 2 : 1;
  const DH = D * H;
  const N = Tt * B;
  const lstm = c.cell === 'lstm';
  const encCfg = rnnConfig(c, c.bidirectional);
  const decCfg = rnnConfig(c, false);
  const encW = sub(w, 'encoder.rnn.');
  const decW = sub(w, 'decoder.rnn.');

  // Forward.
  const xe = embeddingRef(w['encoder.embedding.weight'], x.src, E);
  // Packed sources: row b's length is its count of kept keys (a prefix).
  const lengths = Array.from({ length: B }, (_, b) => {
    let n = 0;
    for (let s = 0; s < Ts; s++) n += x.keyMask[b * Ts + s] ? 1 : 0;
    return n;
  });
  const enc = rnnBackwardRef(encCfg, encW, xe, Ts, B, undefined, undefined, {}, lengths);
  const state = L * B * H;
  const bridge = (s: ArrayLike<number>) => {
    const y = new Float64Array(state);
    for (let l = 0; l < L; l++)
      for (let d = 0; d < D; d++) for (let i = 0; i < B * H; i++) y[l * B * H + i] += s[(l * D + d) * B * H + i];
    return y;
  };
  const h0 = bridge(enc.hN);
  const c0 = lstm ? bridge(enc.cN!) : undefined;
  const xd = embeddingRef(w['decoder.embedding.weight'], x.decIn, E);
  const dec = rnnBackwardRef(decCfg, decW, xd, Tt, B, h0, c0, {});
  const dims: RnnAttentionDimsRef | null =
    c.attention === 'none'
      ? null
      : { score: c.attention, batch: B, seqLenQ: Tt, seqLenS: Ts, queryDim: H, keyDim: DH, attnDim: c.attnDim };
  const attnW = sub(w, 'attention.');
  const query = swap01(dec.output, Tt, B, H);
  const keys = swap01(enc.output, Ts, B, DH);
  let features: Float64Array = dec.output;
  let alpha: Float64Array | undefined;
  let ctx: Float64Array | undefined;
  if (dims) {
    const a = rnnAttentionRef(query, keys, attnW, dims, x.keyMask);
    alpha = a.alpha;
    ctx = swap01(a.context, B, Tt, DH);
    const pre = new Float64Array(N * H);
    affine(ctx, N, DH, 0, w['decoder.combine.weight'], DH + H, 0, H, DH, pre, w['decoder.combine.bias']);
    affine(dec.output, N, H, 0, w['decoder.combine.weight'], DH + H, DH, H, H, pre);
    features = pre.map(Math.tanh);
  }
  const logits = new Float64Array(N * V);
  affine(features, N, H, 0, w['decoder.out.weight'], H, 0, V, H, logits, w['decoder.out.bias']);
  const { loss, dLogits } = crossEntropyRef(logits, x.targets);
  const grads: Record<string, Float64Array> = {};
  if (!withGrads) return { loss, logits, alpha, grads };

  // Backward: output layer.
  const dWo = new Float64Array(V * H);
  const dbo = new Float64Array(V);
  const dFeat = new Float64Array(N * H);
  for (let r = 0; r < N; r++)
    for (let v = 0; v < V; v++) {
      const g = dLogits[r * V + v];
      if (g === 0) continue;
      dbo[v] += g;
      for (let j = 0; j < H; j++) {
        dWo[v * H + j] += g * features[r * H + j];
        dFeat[r * H + j] += g * w['decoder.out.weight'][v * H + j];
      }
    }
  grads['decoder.out.weight'] = dWo;
  grads['decoder.out.bias'] = dbo;
  let dDecOut: Float64Array = dFeat;
  let dEncOut: Float64Array = new Float64Array(Ts * B * DH);
  if (dims && ctx) {
    // Combine: d pre = d h̃ (1 − h̃²); dW_c = Σ d pre ⊗ [c; h]; dc, dh = W_cᵀ d pre.
    const Wc = w['decoder.combine.weight'];
    const dWc = new Float64Array(H * (DH + H));
    const dbc = new Float64Array(H);
    const dctx = new Float64Array(N * DH);
    dDecOut = new Float64Array(N * H);
    for (let r = 0; r < N; r++)
      for (let o = 0; o < H; o++) {
        const g = dFeat[r * H + o] * (1 - features[r * H + o] ** 2);
        dbc[o] += g;
        for (let i = 0; i < DH; i++) {
          dWc[o * (DH + H) + i] += g * ctx[r * DH + i];
          dctx[r * DH + i] += g * Wc[o * (DH + H) + i];
        }
        for (let i = 0; i < H; i++) {
          dWc[o * (DH + H) + DH + i] += g * dec.output[r * H + i];
          dDecOut[r * H + i] += g * Wc[o * (DH + H) + DH + i];
        }
      }
    grads['decoder.combine.weight'] = dWc;
    grads['decoder.combine.bias'] = dbc;
    const ab = rnnAttentionBackwardRef(query, keys, attnW, swap01(dctx, Tt, B, DH), dims, x.keyMask);
    const dq = swap01(ab.dQuery, B, Tt, H);
    for (let i = 0; i < dDecOut.length; i++) dDecOut[i] += dq[i];
    dEncOut = swap01(ab.dKeys, B, Ts, DH);
    for (const [k, v] of Object.entries(ab.grads)) grads[`attention.${k}`] = v;
  }
  const decB = rnnBackwardRef(decCfg, decW, xd, Tt, B, h0, c0, { dOutput: dDecOut });
  for (const [k, v] of Object.entries(decB.dWeights)) grads[`decoder.rnn.${k}`] = v;
  grads['decoder.embedding.weight'] = embeddingBackwardRef(V, E, x.decIn, decB.dInput, c.padToken);
  // Bridge backward: dhN[l·D + d] = dh0[l] for every direction d (likewise dcN).
  const unbridge = (g: ArrayLike<number>) => {
    const y = new Float64Array(L * D * B * H);
    for (let l = 0; l < L; l++)
      for (let d = 0; d < D; d++) for (let i = 0; i < B * H; i++) y[(l * D + d) * B * H + i] = g[l * B * H + i];
    return y;
  };
  const encB = rnnBackwardRef(
    encCfg,
    encW,
    xe,
    Ts,
    B,
    undefined,
    undefined,
    {
      dOutput: dEncOut,
      dhN: unbridge(decB.dh0),
      dcN: lstm ? unbridge(decB.dc0!) : undefined,
    },
    lengths,
  );
  for (const [k, v] of Object.entries(encB.dWeights)) grads[`encoder.rnn.${k}`] = v;
  grads['encoder.embedding.weight'] = embeddingBackwardRef(c.srcVocab, E, x.src, encB.dInput, c.padToken);
  return { loss, logits, alpha, grads };
}

/** argmax with the lowest index on ties. */
function argmax(x: ArrayLike<number>, from: number, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (x[from + i] > x[from + best]) best = i;
  return best;
}

/**
 * The decoder inputs a run feeds when step t+1's input is the teacher token where
 * useTeacher[t+1, b] ≠ 0 and the argmax of step t's logits elsewhere (BOS at step 0): found
 * step by step by re-running the (causal) reference. Returns decIn [tgtLen, batch] and the
 * argmax of every step [tgtLen, batch].
 */
export function seq2seqDecoderInputsRef(
  c: Seq2SeqRefConfig,
  w: Weights,
  x: Omit<Seq2SeqRefInputs, 'decIn' | 'targets'>,
  bos: number,
  teacher: ArrayLike<number>,
  useTeacher: ArrayLike<number>,
): { decIn: Int32Array; pred: Int32Array } {
  const { tgtLen: Tt, batch: B } = x;
  const V = c.tgtVocab;
  const decIn = new Int32Array(Tt * B).fill(c.padToken);
  decIn.fill(bos, 0, B);
  const targets = new Int32Array(Tt * B).fill(-100);
  targets[0] = 0; // one counted row keeps the loss finite; the logits do not depend on targets
  let logits: Float64Array = new Float64Array(0);
  for (let t = 0; t < Tt; t++) {
    logits = seq2seqRef(c, w, { ...x, decIn, targets }, false).logits;
    if (t + 1 < Tt) {
      for (let b = 0; b < B; b++) {
        const i = (t + 1) * B + b;
        decIn[i] = useTeacher[i] ? teacher[i] : argmax(logits, (t * B + b) * V, V);
      }
    }
  }
  const pred = Int32Array.from({ length: Tt * B }, (_, r) => argmax(logits, r * V, V));
  return { decIn, pred };
}
