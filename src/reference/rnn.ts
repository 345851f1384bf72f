/**
 * Float64 reference of PyTorch's nn.RNN / nn.LSTM / nn.GRU forward: the spec for the recurrent kernels.
 *
 * Per layer l, direction d, time step t (x = layer input at t, h / c = previous state of (l, d)):
 *
 *   RNN   h' = act(W_ih x + b_ih + W_hh h + b_hh)                act = tanh | relu
 *
 *   LSTM  gates = W_ih x + b_ih + W_hh h + b_hh,  rows [i | f | g | o], H each
 *         i = σ(gᵢ)  f = σ(g_f)  g = tanh(g_g)  o = σ(g_o)
 *         c' = f ⊙ c + i ⊙ g
 *         h' = o ⊙ tanh(c')
 *         with projSize P (PyTorch's proj_size): h' = W_hr (o ⊙ tanh(c')), P features, W_hh [4H, P]
 *
 *   GRU   rows [r | z | n], H each; gi = W_ih x + b_ih, gh = W_hh h + b_hh
 *         r = σ(gi_r + gh_r)
 *         z = σ(gi_z + gh_z)
 *         n = tanh(gi_n + r ⊙ gh_n)                   (resetAfter false: tanh(gi_n + W_hn (r ⊙ h) + b_hn))
 *         h' = (1 − z) ⊙ n + z ⊙ h
 *
 *   σ is the logistic sigmoid, or with recurrentActivation 'hard_sigmoid' clip(0.2·x + 0.5, 0, 1).
 *
 * Direction 0 runs t = 0 … T−1 with the `_l{l}` parameters, direction 1 (bidirectional) runs
 * t = T−1 … 0 with the `_l{l}_reverse` parameters. The layer output at t is [h_fwd(t), h_rev(t)]
 * (D·H features, D·P with a projection) and is the next layer's input. Final states are indexed layer·D + direction.
 * Weights are row-major: W_ih [G·H, inSize], W_hh [G·H, H], biases [G·H].
 *
 * Optional per-row lengths (PyTorch's packed sequences): row b only runs its steps
 * t < lengths[b]; at t ≥ lengths[b] its state is left as it is and its output is 0. So hN[b] is
 * the state after step lengths[b]−1 (direction 0), and direction 1 starts at t = lengths[b]−1
 * from h0.
 */
import {
  gateActivation,
  gateCount,
  parameterShapes,
  realHiddenSize,
  type RecurrentConfig,
} from '../kernels/recurrentConfig.js';

export {
  gateCount,
  parameterShapes,
  realHiddenSize,
  type CellKind,
  type RecurrentConfig,
} from '../kernels/recurrentConfig.js';

function checkLength(what: string, a: ArrayLike<number> | undefined, expected: number): void {
  if (a === undefined) throw new Error(`rnnForwardRef: missing ${what} (expected length ${expected})`);
  if (a.length !== expected)
    throw new Error(`rnnForwardRef: ${what} has wrong length: expected ${expected}, got ${a.length}`);
}

/** Per-row lengths: one integer in [1, seqLen] per batch row; all seqLen when undefined. */
export function rowLengths(
  op: string,
  lengths: ArrayLike<number> | undefined,
  seqLen: number,
  batch: number,
): number[] {
  if (lengths === undefined) return new Array<number>(batch).fill(seqLen);
  if (lengths.length !== batch)
    throw new Error(`${op}: lengths has wrong length: expected ${batch} (one per batch row), got ${lengths.length}`);
  return Array.from({ length: batch }, (_, b) => {
    const v = lengths[b];
    if (!Number.isInteger(v) || v < 1 || v > seqLen)
      throw new Error(`${op}: lengths[${b}] is ${v}, expected an integer in [1, ${seqLen}]`);
    return v;
  });
}

/** y[r] = b[r] + Σⱼ W[r, j] · x[j] for r < rows; x is read at x[xOff + j], j < cols. */
export function affine(
  W: ArrayLike<number>,
  b: ArrayLike<number> | undefined,
  x: ArrayLike<number>,
  xOff: number,
  rows: number,
  cols: number,
): Float64Array {
  const y = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = b ? b[r] : 0;
    for (let j = 0; j < cols; j++) s += W[r * cols + j] * x[xOff + j];
    y[r] = s;
  }
  return y;
}

/** Forward pass in float64 with PyTorch semantics.
 *  input: seqLen*batch*inputSize values, laid out [seqLen, batch, inputSize], or [batch, seqLen, inputSize] when
 *  batchFirst.
 *  h0 / c0: [numLayers*numDirections, batch, hiddenSize] or undefined (zeros). c0 only for lstm.
 *  With an LSTM's projSize P, h0 / hN are [L*D, batch, P] and the output has D*P features (c stays H).
 *  lengths: optional per-row sequence lengths [batch], each in [1, seqLen] (see the header); all seqLen when undefined.
 *  Returns output [seqLen, batch, D*H] (or [batch, seqLen, D*H] when batchFirst), hN [L*D, batch, H],
 *  cN (lstm only) same shape. */
export function rnnForwardRef(
  cfg: RecurrentConfig,
  weights: Record<string, ArrayLike<number>>,
  input: ArrayLike<number>,
  seqLen: number,
  batch: number,
  h0?: ArrayLike<number>,
  c0?: ArrayLike<number>,
  lengths?: ArrayLike<number>,
): { output: Float64Array; hN: Float64Array; cN?: Float64Array } {
  const { cell, hiddenSize: H, numLayers: L } = cfg;
  const P = realHiddenSize(cfg);
  const proj = !!cfg.projSize;
  if (cfg.projSize && cell !== 'lstm') throw new Error(`rnnForwardRef: projSize is only for lstm, got a '${cell}'`);
  const T = seqLen;
  const B = batch;
  const D = cfg.bidirectional ? 2 : 1;
  const G = gateCount(cell);
  const lstm = cell === 'lstm';
  const act = (cfg.nonlinearity ?? 'tanh') === 'relu' ? (v: number) => Math.max(v, 0) : Math.tanh;
  const sigmoid = (v: number) => gateActivation(cfg.recurrentActivation, v);
  const resetBefore = cell === 'gru' && cfg.resetAfter === false;

  for (const { name, shape } of parameterShapes(cfg)) {
    checkLength(
      `weight '${name}' [${shape.join(', ')}]`,
      weights[name],
      shape.reduce((a, b) => a * b, 1),
    );
  }
  checkLength(`input [${T}, ${B}, ${cfg.inputSize}]`, input, T * B * cfg.inputSize);
  const stateLen = L * D * B * P;
  const cellLen = L * D * B * H;
  if (h0 !== undefined) checkLength(`h0 [${L * D}, ${B}, ${P}]`, h0, stateLen);
  if (c0 !== undefined) {
    if (!lstm) throw new Error(`rnnForwardRef: c0 given for a '${cell}' (only lstm has a cell state)`);
    checkLength(`c0 [${L * D}, ${B}, ${H}]`, c0, cellLen);
  }
  const len = rowLengths('rnnForwardRef', lengths, T, B);

  // Layer input in [T, B, inSize] layout.
  let inSize = cfg.inputSize;
  let x = new Float64Array(T * B * inSize);
  for (let t = 0; t < T; t++)
    for (let b = 0; b < B; b++)
      for (let k = 0; k < inSize; k++) {
        const src = cfg.batchFirst ? (b * T + t) * inSize + k : (t * B + b) * inSize + k;
        x[(t * B + b) * inSize + k] = input[src];
      }

  const hN = new Float64Array(stateLen);
  const cN = lstm ? new Float64Array(cellLen) : undefined;

  for (let l = 0; l < L; l++) {
    const y = new Float64Array(T * B * D * P); // [T, B, D*P]
    for (let d = 0; d < D; d++) {
      const sfx = `_l${l}${d === 1 ? '_reverse' : ''}`;
      const Wih = weights[`weight_ih${sfx}`];
      const Whh = weights[`weight_hh${sfx}`];
      const bih = cfg.bias ? weights[`bias_ih${sfx}`] : undefined;
      const bhh = cfg.bias ? weights[`bias_hh${sfx}`] : undefined;
      const Whr = proj ? weights[`weight_hr${sfx}`] : undefined;
      const s = l * D + d; // state index

      for (let b = 0; b < B; b++) {
        const h = new Float64Array(P);
        const c = new Float64Array(H);
        const m = new Float64Array(H); // projection: o ⊙ tanh(c) before W_hr
        for (let j = 0; j < P; j++) h[j] = h0 ? h0[(s * B + b) * P + j] : 0;
        for (let j = 0; j < H; j++) c[j] = c0 ? c0[(s * B + b) * H + j] : 0;

        for (let step = 0; step < T; step++) {
          const t = d === 0 ? step : T - 1 - step;
          if (t >= len[b]) continue; // padding: state unchanged, output 0
          const gi = affine(Wih, bih, x, (t * B + b) * inSize, G * H, inSize); // W_ih x + b_ih
          const gh = affine(Whh, bhh, h, 0, G * H, P); // W_hh h + b_hh

          if (cell === 'rnn') {
            for (let j = 0; j < H; j++) h[j] = act(gi[j] + gh[j]);
          } else if (cell === 'lstm') {
            for (let j = 0; j < H; j++) {
              const i = sigmoid(gi[j] + gh[j]);
              const f = sigmoid(gi[H + j] + gh[H + j]);
              const g = Math.tanh(gi[2 * H + j] + gh[2 * H + j]);
              const o = sigmoid(gi[3 * H + j] + gh[3 * H + j]);
              c[j] = f * c[j] + i * g;
              m[j] = o * Math.tanh(c[j]);
            }
            if (Whr)
              h.set(affine(Whr, undefined, m, 0, P, H)); // h = W_hr m
            else h.set(m);
          } else {
            const r = new Float64Array(H);
            for (let j = 0; j < H; j++) r[j] = sigmoid(gi[j] + gh[j]);
            // reset before the matmul: the n rows of W_hh times r ⊙ h (plus b_hn)
            const un = resetBefore
              ? affine(
                  Whh,
                  bhh,
                  r.map((v, k) => v * h[k]),
                  0,
                  G * H,
                  P,
                )
              : gh;
            for (let j = 0; j < H; j++) {
              const z = sigmoid(gi[H + j] + gh[H + j]);
              const n = Math.tanh(gi[2 * H + j] + (resetBefore ? un[2 * H + j] : r[j] * gh[2 * H + j]));
              h[j] = (1 - z) * n + z * h[j];
            }
          }

          for (let j = 0; j < P; j++) y[(t * B + b) * D * P + d * P + j] = h[j];
        }

        for (let j = 0; j < P; j++) hN[(s * B + b) * P + j] = h[j];
        if (cN) for (let j = 0; j < H; j++) cN[(s * B + b) * H + j] = c[j];
      }
    }
    x = y;
    inSize = D * P;
  }

  // Last layer's output, back to the caller's layout.
  const F = D * P;
  const output = new Float64Array(T * B * F);
  for (let t = 0; t < T; t++)
    for (let b = 0; b < B; b++)
      for (let k = 0; k < F; k++) {
        const dst = cfg.batchFirst ? (b * T + t) * F + k : (t * B + b) * F + k;
        output[dst] = x[(t * B + b) * F + k];
      }

  return cN ? { output, hN, cN } : { output, hN };
}
