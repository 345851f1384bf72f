/**
 * Float64 reference of the backward pass (BPTT) of PyTorch's nn.RNN / nn.LSTM / nn.GRU: the spec
 * for the recurrent training kernels. Forward semantics and layouts are those of rnnForwardRef
 * (src/reference/rnn.ts); this file re-runs that forward, keeping every step's activations, then
 * walks back in time. `d·` is ∂L/∂·; ⊗ is the outer product; Σ_t accumulates over steps.
 *
 * Every cell's gate pre-activations are a = gi + gh, gi = W_ih x + b_ih, gh = W_hh h + b_hh
 * (G·H rows). Each step turns (dh', dc') — the gradient reaching the step's outputs, i.e. the
 * layer-output gradient at t plus what flowed back from the next step — into dgi, dgh and the
 * part of dh, dc that does not go through W_hh:
 *
 *   RNN   h' = act(a)
 *         da = dh' ⊙ act'(a),  tanh' = 1 − h'²,  relu' = [h' > 0]  (0 at the kink, as PyTorch)
 *         dgi = dgh = da;  dh = 0 (direct)
 *
 *   LSTM  i,f,g,o = σ(a_i), σ(a_f), tanh(a_g), σ(a_o);  c' = f ⊙ c + i ⊙ g;  h' = o ⊙ tanh(c')
 *         dc'ₜ = dc' + dh' ⊙ o ⊙ (1 − tanh²(c'))
 *         do = dh' ⊙ tanh(c')   di = dc'ₜ ⊙ g   dg = dc'ₜ ⊙ i   df = dc'ₜ ⊙ c
 *         da = [di ⊙ i(1−i) | df ⊙ f(1−f) | dg ⊙ (1−g²) | do ⊙ o(1−o)]
 *         dgi = dgh = da;  dc = dc'ₜ ⊙ f;  dh = 0 (direct)
 *         with projSize P, h' = W_hr m, m = o ⊙ tanh(c'): the equations above run on dm = W_hrᵀ dh'
 *         (dh' has P features) in place of dh', and dW_hr += dh' ⊗ m
 *
 *   GRU   r = σ(gi_r + gh_r)  z = σ(gi_z + gh_z)  n = tanh(gi_n + r ⊙ gh_n)  h' = (1 − z) ⊙ n + z ⊙ h
 *         dn = dh' ⊙ (1 − z)   dz = dh' ⊙ (h − n)   dh (direct) = dh' ⊙ z
 *         dn_pre = dn ⊙ (1 − n²)   dr = dn_pre ⊙ gh_n
 *         da_r = dr ⊙ r(1−r)   da_z = dz ⊙ z(1−z)
 *         dgi = [da_r | da_z | dn_pre]
 *         dgh = [da_r | da_z | dn_pre ⊙ r]        (reset is applied after W_hn h + b_hn)
 *
 * and then, for every cell and step (x = layer input at t, h = state before the step):
 *
 *   dW_ih += dgi ⊗ x     db_ih += dgi     dx  += W_ihᵀ dgi
 *   dW_hh += dgh ⊗ h     db_hh += dgh     dh  += W_hhᵀ dgh      (dh, dc carried to the step before)
 *
 * Time order is reversed per direction: direction 0 walks back t = T−1 … 0, direction 1
 * (`_reverse`, which ran T−1 … 0) walks back t = 0 … T−1. The gradient entering (l, d) at the
 * last step it ran is dhN[l·D + d] (and dcN); what is left after its first step is dh0[l·D + d]
 * (and dc0). Layer l's output gradient at t is split [dh_fwd(t) | dh_rev(t)]; the input
 * gradient dx of layer l (summed over both directions) is layer l−1's output gradient.
 *
 * Optional per-row lengths (PyTorch's packed sequences, as rnnForwardRef): row b's steps
 * t ≥ lengths[b] do not run, so in the backward they are skipped: no dgi/dgh there, dh and dc
 * pass through unchanged, and dOutput at those positions is ignored (dInput there is 0).
 */
import {
  gateActivation,
  gateActivationGrad,
  gateCount,
  parameterShapes,
  realHiddenSize,
  type RecurrentConfig,
} from '../kernels/recurrentConfig.js';
import { affine, rowLengths } from './rnn.js';

/** Upstream gradients; a missing one means zero. Same layouts as the forward's output, hN, cN. */
export interface RnnUpstreamGrads {
  dOutput?: ArrayLike<number>;
  dhN?: ArrayLike<number>;
  dcN?: ArrayLike<number>;
}

export interface RnnBackwardResult {
  output: Float64Array;
  hN: Float64Array;
  cN?: Float64Array;
  /** Same layout as input. */
  dInput: Float64Array;
  /**
   * [numLayers·D, batch, hiddenSize] (projSize with a projection), zero-filled when h0 was not given (gradient w.r.t.
   * the zero state).
   */
  dh0: Float64Array;
  dc0?: Float64Array;
  /** Keyed by PyTorch parameter name, same shapes as the weights. */
  dWeights: Record<string, Float64Array>;
}

/** What one step of one (layer, direction, batch row) keeps for the backward pass. */
interface Tape {
  hPrev: Float64Array; // h before the step
  cPrev: Float64Array; // lstm: c before the step
  act: Float64Array; // activated gates, G·H: rnn h'; lstm i,f,g,o; gru r,z,n
  ghN: Float64Array; // gru: W_hn h + b_hn
  c: Float64Array; // lstm: c after the step
  m: Float64Array; // lstm with projection: o ⊙ tanh(c') (h' = W_hr m)
}

function checkLength(what: string, a: ArrayLike<number> | undefined, expected: number): void {
  if (a === undefined) throw new Error(`rnnBackwardRef: missing ${what} (expected length ${expected})`);
  if (a.length !== expected)
    throw new Error(`rnnBackwardRef: ${what} has wrong length: expected ${expected}, got ${a.length}`);
}

/** One forward step; updates h, c in place and returns the tape. `Whr`: an LSTM's projection [P, H]. */
function cellForward(
  cfg: RecurrentConfig,
  gi: Float64Array,
  gh: Float64Array,
  h: Float64Array,
  c: Float64Array,
  Whr?: ArrayLike<number>,
): Tape {
  const H = cfg.hiddenSize;
  const tape: Tape = {
    hPrev: h.slice(),
    cPrev: c.slice(),
    act: new Float64Array(gi.length),
    ghN: new Float64Array(0),
    c: new Float64Array(0),
    m: new Float64Array(0),
  };
  const a = tape.act;
  const sigmoid = (x: number) => gateActivation(cfg.recurrentActivation, x);
  if (cfg.cell === 'rnn') {
    const relu = cfg.nonlinearity === 'relu';
    for (let j = 0; j < H; j++) {
      const pre = gi[j] + gh[j];
      h[j] = a[j] = relu ? Math.max(pre, 0) : Math.tanh(pre);
    }
  } else if (cfg.cell === 'lstm') {
    const m = new Float64Array(H);
    for (let j = 0; j < H; j++) {
      const i = (a[j] = sigmoid(gi[j] + gh[j]));
      const f = (a[H + j] = sigmoid(gi[H + j] + gh[H + j]));
      const g = (a[2 * H + j] = Math.tanh(gi[2 * H + j] + gh[2 * H + j]));
      const o = (a[3 * H + j] = sigmoid(gi[3 * H + j] + gh[3 * H + j]));
      c[j] = f * c[j] + i * g;
      m[j] = o * Math.tanh(c[j]);
    }
    tape.c = c.slice();
    tape.m = m;
    h.set(Whr ? affine(Whr, undefined, m, 0, h.length, H) : m); // h' = W_hr m with a projection
  } else {
    tape.ghN = gh.slice(2 * H, 3 * H);
    for (let j = 0; j < H; j++) {
      const r = (a[j] = sigmoid(gi[j] + gh[j]));
      const z = (a[H + j] = sigmoid(gi[H + j] + gh[H + j]));
      const n = (a[2 * H + j] = Math.tanh(gi[2 * H + j] + r * gh[2 * H + j]));
      h[j] = (1 - z) * n + z * h[j];
    }
  }
  return tape;
}

/** One backward step (the per-cell equations of the header): dh', dc' → dgi, dgh, direct dh, dc. */
function cellBackward(cfg: RecurrentConfig, tape: Tape, dhOut: Float64Array, dcOut: Float64Array) {
  const H = cfg.hiddenSize;
  const G = gateCount(cfg.cell);
  const dgi = new Float64Array(G * H);
  const dgh = new Float64Array(G * H);
  const dh = new Float64Array(realHiddenSize(cfg));
  const dc = new Float64Array(H);
  const a = tape.act;
  const dsig = (y: number) => gateActivationGrad(cfg.recurrentActivation, y);
  if (cfg.cell === 'rnn') {
    const relu = cfg.nonlinearity === 'relu';
    for (let j = 0; j < H; j++) {
      const y = a[j];
      dgi[j] = dgh[j] = dhOut[j] * (relu ? (y > 0 ? 1 : 0) : 1 - y * y);
    }
  } else if (cfg.cell === 'lstm') {
    for (let j = 0; j < H; j++) {
      const [i, f, g, o] = [a[j], a[H + j], a[2 * H + j], a[3 * H + j]];
      const tc = Math.tanh(tape.c[j]);
      const dcT = dcOut[j] + dhOut[j] * o * (1 - tc * tc);
      dgi[j] = dcT * g * dsig(i);
      dgi[H + j] = dcT * tape.cPrev[j] * dsig(f);
      dgi[2 * H + j] = dcT * i * (1 - g * g);
      dgi[3 * H + j] = dhOut[j] * tc * dsig(o);
      dc[j] = dcT * f;
    }
    dgh.set(dgi);
  } else {
    for (let j = 0; j < H; j++) {
      const [r, z, n] = [a[j], a[H + j], a[2 * H + j]];
      const dnPre = dhOut[j] * (1 - z) * (1 - n * n);
      const daR = dnPre * tape.ghN[j] * dsig(r);
      const daZ = dhOut[j] * (tape.hPrev[j] - n) * dsig(z);
      dgi[j] = dgh[j] = daR;
      dgi[H + j] = dgh[H + j] = daZ;
      dgi[2 * H + j] = dnPre;
      dgh[2 * H + j] = dnPre * r;
      dh[j] = dhOut[j] * z;
    }
  }
  return { dgi, dgh, dh, dc };
}

/** Reorders [T, B, F] ↔ [B, T, F]; identity copy when !batchFirst. */
function relayout(
  src: ArrayLike<number>,
  T: number,
  B: number,
  F: number,
  batchFirst: boolean,
  toTBF: boolean,
): Float64Array {
  const out = new Float64Array(T * B * F);
  for (let t = 0; t < T; t++)
    for (let b = 0; b < B; b++)
      for (let k = 0; k < F; k++) {
        const tbf = (t * B + b) * F + k;
        const user = batchFirst ? (b * T + t) * F + k : tbf;
        if (toTBF) out[tbf] = src[user];
        else out[user] = src[tbf];
      }
  return out;
}

/** Forward + full BPTT in float64 with PyTorch semantics.
 *  input: [seqLen, batch, inputSize] ([batch, seqLen, inputSize] when batchFirst); h0 / c0 / dhN / dcN: [numLayers·D,
 *  batch, hiddenSize]
 *  (missing h0 / c0 = zeros, c0 / dcN lstm only); dOutput: the output's layout [seqLen, batch, D·H] (or batch-first).
 *  lengths: optional per-row sequence lengths [batch], each in [1, seqLen]; all seqLen when undefined. */
export function rnnBackwardRef(
  cfg: RecurrentConfig,
  weights: Record<string, ArrayLike<number>>,
  input: ArrayLike<number>,
  seqLen: number,
  batch: number,
  h0: ArrayLike<number> | undefined,
  c0: ArrayLike<number> | undefined,
  grads: RnnUpstreamGrads,
  lengths?: ArrayLike<number>,
): RnnBackwardResult {
  const { cell, hiddenSize: H, numLayers: L } = cfg;
  const P = realHiddenSize(cfg); // features of h: projSize with a projection, else H
  if (cfg.projSize && cell !== 'lstm') throw new Error(`rnnBackwardRef: projSize is only for lstm, got a '${cell}'`);
  if (cell === 'gru' && cfg.resetAfter === false)
    throw new Error('rnnBackwardRef: a GRU with resetAfter false has no backward (inference only)');
  const [T, B] = [seqLen, batch];
  const D = cfg.bidirectional ? 2 : 1;
  const G = gateCount(cell);
  const lstm = cell === 'lstm';
  const stateLen = L * D * B * P;
  const cellLen = L * D * B * H;

  const shapes = parameterShapes(cfg);
  for (const { name, shape } of shapes)
    checkLength(
      `weight '${name}' [${shape.join(', ')}]`,
      weights[name],
      shape.reduce((a, b) => a * b, 1),
    );
  checkLength(`input [${T}, ${B}, ${cfg.inputSize}]`, input, T * B * cfg.inputSize);
  if (h0 !== undefined) checkLength(`h0 [${L * D}, ${B}, ${P}]`, h0, stateLen);
  if (grads.dOutput !== undefined) checkLength(`dOutput [${T}, ${B}, ${D * P}]`, grads.dOutput, T * B * D * P);
  if (grads.dhN !== undefined) checkLength(`dhN [${L * D}, ${B}, ${P}]`, grads.dhN, stateLen);
  for (const [what, v] of [
    ['c0', c0],
    ['dcN', grads.dcN],
  ] as const) {
    if (v === undefined) continue;
    if (!lstm) throw new Error(`rnnBackwardRef: ${what} given for a '${cell}' (only lstm has a cell state)`);
    checkLength(`${what} [${L * D}, ${B}, ${H}]`, v, cellLen);
  }
  const len = rowLengths('rnnBackwardRef', lengths, T, B);
  const param = (name: string): ArrayLike<number> => weights[name];
  const sfx = (l: number, d: number): string => `_l${l}${d === 1 ? '_reverse' : ''}`;
  const inSizeOf = (l: number): number => (l === 0 ? cfg.inputSize : D * P);

  // ---- forward, keeping layer inputs (x[l], [T, B, inSize]) and tapes[l][d][b][t] ----
  const xs: Float64Array[] = [relayout(input, T, B, cfg.inputSize, cfg.batchFirst, true)];
  const tapes: Tape[][][][] = [];
  const hN = new Float64Array(stateLen);
  const cN = lstm ? new Float64Array(cellLen) : undefined;
  for (let l = 0; l < L; l++) {
    const inSize = inSizeOf(l);
    const x = xs[l];
    const y = new Float64Array(T * B * D * P);
    tapes.push([]);
    for (let d = 0; d < D; d++) {
      tapes[l].push([]);
      const [Wih, Whh] = [param(`weight_ih${sfx(l, d)}`), param(`weight_hh${sfx(l, d)}`)];
      const bih = cfg.bias ? param(`bias_ih${sfx(l, d)}`) : undefined;
      const bhh = cfg.bias ? param(`bias_hh${sfx(l, d)}`) : undefined;
      const Whr = cfg.projSize ? param(`weight_hr${sfx(l, d)}`) : undefined;
      const s = l * D + d;
      for (let b = 0; b < B; b++) {
        const h = new Float64Array(P);
        const c = new Float64Array(H);
        for (let j = 0; j < P; j++) h[j] = h0 ? h0[(s * B + b) * P + j] : 0;
        for (let j = 0; j < H; j++) c[j] = c0 ? c0[(s * B + b) * H + j] : 0;
        const row: Tape[] = new Array(T);
        for (let step = 0; step < T; step++) {
          const t = d === 0 ? step : T - 1 - step;
          if (t >= len[b]) continue; // padding: state unchanged, output 0
          const gi = affine(Wih, bih, x, (t * B + b) * inSize, G * H, inSize);
          const gh = affine(Whh, bhh, h, 0, G * H, P);
          row[t] = cellForward(cfg, gi, gh, h, c, Whr);
          for (let j = 0; j < P; j++) y[(t * B + b) * D * P + d * P + j] = h[j];
        }
        tapes[l][d].push(row);
        for (let j = 0; j < P; j++) hN[(s * B + b) * P + j] = h[j];
        if (cN) for (let j = 0; j < H; j++) cN[(s * B + b) * H + j] = c[j];
      }
    }
    xs.push(y);
  }
  const output = relayout(xs[L], T, B, D * P, cfg.batchFirst, false);

  // ---- backward, top layer first ----
  const dWeights: Record<string, Float64Array> = {};
  for (const { name, shape } of shapes) dWeights[name] = new Float64Array(shape.reduce((a, b) => a * b, 1));
  const dh0 = new Float64Array(stateLen);
  const dc0 = lstm ? new Float64Array(cellLen) : undefined;
  let dY = grads.dOutput ? relayout(grads.dOutput, T, B, D * P, cfg.batchFirst, true) : new Float64Array(T * B * D * P);
  for (let l = L - 1; l >= 0; l--) {
    const inSize = inSizeOf(l);
    const x = xs[l];
    const dX = new Float64Array(T * B * inSize);
    for (let d = 0; d < D; d++) {
      const [Wih, Whh] = [param(`weight_ih${sfx(l, d)}`), param(`weight_hh${sfx(l, d)}`)];
      const [dWih, dWhh] = [dWeights[`weight_ih${sfx(l, d)}`], dWeights[`weight_hh${sfx(l, d)}`]];
      const dbih = cfg.bias ? dWeights[`bias_ih${sfx(l, d)}`] : undefined;
      const dbhh = cfg.bias ? dWeights[`bias_hh${sfx(l, d)}`] : undefined;
      const Whr = cfg.projSize ? param(`weight_hr${sfx(l, d)}`) : undefined;
      const dWhr = cfg.projSize ? dWeights[`weight_hr${sfx(l, d)}`] : undefined;
      const s = l * D + d;
      for (let b = 0; b < B; b++) {
        let dh = new Float64Array(P);
        let dc = new Float64Array(H);
        for (let j = 0; j < P; j++) dh[j] = grads.dhN ? grads.dhN[(s * B + b) * P + j] : 0;
        for (let j = 0; j < H; j++) dc[j] = grads.dcN ? grads.dcN[(s * B + b) * H + j] : 0;
        for (let step = T - 1; step >= 0; step--) {
          const t = d === 0 ? step : T - 1 - step;
          if (t >= len[b]) continue; // padding: dh, dc pass through, dY there is ignored
          const tape = tapes[l][d][b][t];
          for (let j = 0; j < P; j++) dh[j] += dY[(t * B + b) * D * P + d * P + j];
          // Projection h' = W_hr m: dW_hr += dh' ⊗ m, and the cell sees dm = W_hrᵀ dh'.
          let dcell = dh;
          if (Whr && dWhr) {
            dcell = new Float64Array(H);
            for (let p = 0; p < P; p++) {
              for (let k = 0; k < H; k++) {
                dWhr[p * H + k] += dh[p] * tape.m[k];
                dcell[k] += Whr[p * H + k] * dh[p];
              }
            }
          }
          const g = cellBackward(cfg, tape, dcell, dc);
          const xOff = (t * B + b) * inSize;
          for (let r = 0; r < G * H; r++) {
            if (dbih) dbih[r] += g.dgi[r];
            if (dbhh) dbhh[r] += g.dgh[r];
            for (let k = 0; k < inSize; k++) {
              dWih[r * inSize + k] += g.dgi[r] * x[xOff + k];
              dX[xOff + k] += Wih[r * inSize + k] * g.dgi[r];
            }
            for (let k = 0; k < P; k++) {
              dWhh[r * P + k] += g.dgh[r] * tape.hPrev[k];
              g.dh[k] += Whh[r * P + k] * g.dgh[r];
            }
          }
          dh = g.dh;
          dc = g.dc;
        }
        for (let j = 0; j < P; j++) dh0[(s * B + b) * P + j] = dh[j];
        if (dc0) for (let j = 0; j < H; j++) dc0[(s * B + b) * H + j] = dc[j];
      }
    }
    dY = dX;
  }
  const dInput = relayout(dY, T, B, cfg.inputSize, cfg.batchFirst, false);

  const result: RnnBackwardResult = { output, hN, dInput, dh0, dWeights };
  if (lstm) Object.assign(result, { cN, dc0 });
  return result;
}
