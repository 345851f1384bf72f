// A recurrent layer's configuration and its PyTorch parameter names: shared by the layers
// (src/nn/recurrent.ts) and the float64 reference (src/reference/rnn.ts).

/** A recurrent cell: Elman `'rnn'` (tanh or ReLU), `'lstm'` or `'gru'`. */
export type CellKind = 'rnn' | 'lstm' | 'gru';

/** A recurrent stack's full configuration (PyTorch's constructor arguments plus the cell). */
export interface RecurrentConfig {
  /** The cell. */
  cell: CellKind;
  /** Features per timestep of the input. */
  inputSize: number;
  /** H, features of the hidden state. */
  hiddenSize: number;
  /** Stacked layers; layer l > 0 reads the previous layer's output. */
  numLayers: number;
  /** Whether the `bias_ih` / `bias_hh` parameters exist. */
  bias: boolean;
  /** Input and output are [batch, seqLen, …] instead of [seqLen, batch, …]. */
  batchFirst: boolean;
  /** A second, reversed direction per layer; outputs are concatenated (D = 2). */
  bidirectional: boolean;
  /** RNN only: `'tanh'` (default) or `'relu'`. */
  nonlinearity?: 'tanh' | 'relu'; // rnn only, default 'tanh'
  /** PyTorch's `dropout`: applied to the output of every layer but the last, in training only. */
  dropout?: number;
  /**
   * LSTM only, PyTorch's `proj_size`: P in [1, hiddenSize), or 0 / absent for none. Each step then
   * outputs h_t = W_hr·(o_t ⊙ tanh(c_t)) of size P (the cell state keeps hiddenSize): W_hh is
   * [4H, P], a `weight_hr` [P, H] follows each direction's biases, layer l > 0 reads D·P features.
   */
  projSize?: number;
  /**
   * LSTM and GRU: the gates' activation (Keras' `recurrent_activation`): `'sigmoid'` (default,
   * PyTorch's) or `'hard_sigmoid'`, TensorFlow.js's default: clip(0.2·x + 0.5, 0, 1).
   */
  recurrentActivation?: RecurrentActivation;
  /**
   * GRU only: `true` (default, PyTorch's and Keras 2's `reset_after=True`) applies the reset gate
   * after the recurrent matmul, n = tanh(a_n + r ⊙ (W_hn h + b_hn)); `false` (Keras'
   * `reset_after=False`, TensorFlow.js's only GRU) before it, n = tanh(a_n + W_hn (r ⊙ h) + b_hn).
   */
  resetAfter?: boolean;
}

/** The gate activation of an LSTM or GRU (Keras' `recurrent_activation`). */
export type RecurrentActivation = 'sigmoid' | 'hard_sigmoid';

/**
 * The gate activation as a number: σ(x) = 1/(1+e^{−x}), or the hard sigmoid clip(0.2·x + 0.5, 0, 1)
 * (TensorFlow.js's and Keras 2's definition).
 * @param act - Which activation.
 * @param x - The pre-activation.
 * @returns The gate value in [0, 1].
 */
export function gateActivation(act: RecurrentActivation | undefined, x: number): number {
  return act === 'hard_sigmoid' ? Math.min(1, Math.max(0, 0.2 * x + 0.5)) : 1 / (1 + Math.exp(-x));
}

/**
 * The gate activation's derivative from its output y: σ' = y·(1 − y); the hard sigmoid's is 0.2
 * inside (0, 1) and 0 where it is clipped (the backward kernels use the same rule).
 * @param act - Which activation.
 * @param y - The gate value.
 * @returns dy/dx.
 */
export function gateActivationGrad(act: RecurrentActivation | undefined, y: number): number {
  return act === 'hard_sigmoid' ? (y > 0 && y < 1 ? 0.2 : 0) : y * (1 - y);
}

/**
 * Features of h (the hidden state and each direction's output): `projSize` when the LSTM
 * projects, else hiddenSize (PyTorch's `real_hidden_size`).
 */
export function realHiddenSize(cfg: Pick<RecurrentConfig, 'hiddenSize' | 'projSize'>): number {
  return cfg.projSize ? cfg.projSize : cfg.hiddenSize;
}

/**
 * Number of gates: rnn 1, lstm 4 (i,f,g,o), gru 3 (r,z,n) — PyTorch order.
 * @param cell - The cell kind.
 * @throws Error for an unknown cell kind.
 */
export function gateCount(cell: CellKind): number {
  switch (cell) {
    case 'rnn':
      return 1;
    case 'lstm':
      return 4;
    case 'gru':
      return 3;
    default:
      throw new Error(`unknown cell kind '${cell as string}'`);
  }
}

/**
 * PyTorch parameter names and shapes in state_dict order, e.g. weight_ih_l0 [G*H, inputSize],
 * weight_hh_l0 [G*H, H], bias_ih_l0 [G*H], bias_hh_l0 [G*H], then *_reverse for direction 1, for
 * each layer. Layer l>0 has input size H*numDirections. No bias entries when bias=false. With an
 * LSTM's projSize P: weight_hh [4H, P], weight_hr_l{k} [P, H] after the biases, layer l>0 input P·D.
 * @param cfg - The stack's configuration.
 * @returns One `{ name, shape }` per parameter, in PyTorch's `state_dict()` order.
 */
export function parameterShapes(cfg: RecurrentConfig): Array<{ name: string; shape: number[] }> {
  const G = gateCount(cfg.cell);
  const H = cfg.hiddenSize;
  const P = realHiddenSize(cfg);
  const D = cfg.bidirectional ? 2 : 1;
  const out: Array<{ name: string; shape: number[] }> = [];
  for (let l = 0; l < cfg.numLayers; l++) {
    const inSize = l === 0 ? cfg.inputSize : P * D;
    for (let d = 0; d < D; d++) {
      const sfx = `_l${l}${d === 1 ? '_reverse' : ''}`;
      out.push({ name: `weight_ih${sfx}`, shape: [G * H, inSize] });
      out.push({ name: `weight_hh${sfx}`, shape: [G * H, P] });
      if (cfg.bias) {
        out.push({ name: `bias_ih${sfx}`, shape: [G * H] });
        out.push({ name: `bias_hh${sfx}`, shape: [G * H] });
      }
      if (cfg.projSize) out.push({ name: `weight_hr${sfx}`, shape: [P, H] });
    }
  }
  return out;
}
