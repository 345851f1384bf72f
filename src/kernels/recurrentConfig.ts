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
