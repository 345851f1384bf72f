// SequenceModel's network as a Module: [Embedding] → RNN | LSTM | GRU stack → Linear head, with
// PyTorch's names (`embedding.weight`, `rnn.weight_ih_l0`, …, `head.weight`, `head.bias`).
//   many-to-many: logits [seqLen, batch, out] = head(output)
//   many-to-one:  logits [batch, out] = head(hN of the top layer, directions side by side), read
//                 in place from hN (src/graph/ops/finalStateLinear.ts)
// SequenceModel traces it with the loss and its backward into one recorded step (src/graph/).
import type { Gpu } from '../gpu/device.js';
import type { Tensor } from '../gpu/tensor.js';
import { finalStateLinearValue } from '../graph/ops/finalStateLinear.js';
import { Module } from '../nn/module.js';
import { Embedding } from '../nn/layers/embedding.js';
import { Linear } from '../nn/layers/linear.js';
import { GRU, LSTM, RNN, type RecurrentLayer } from '../nn/recurrent.js';
import type { SequenceModelConfig } from './sequenceModelOptions.js';

/** A Linear layer over a recurrent stack's final state hN [L·D, batch, H] (many-to-one). */
class FinalStateHead extends Linear {
  constructor(
    gpu: Gpu,
    inFeatures: number,
    outFeatures: number,
    private readonly numDirections: number,
  ) {
    super(gpu, { inFeatures, outFeatures, seed: 0 });
  }

  /**
   * y = [hN of the top layer, each direction]·Wᵀ + b.
   * @param hN - [numLayers·numDirections, batch, hiddenSize].
   * @returns [batch, outFeatures].
   */
  override forward(hN: Tensor): Tensor {
    return finalStateLinearValue(
      this.input('hN', hN),
      this.param('weight'),
      this.param('bias'),
      this.numDirections,
      'head',
    ).tensor;
  }
}

/** Initial state of a step (truncated BPTT carries the last step's final state). */
export interface SequenceNetState {
  h0?: Tensor;
  c0?: Tensor;
}

/** SequenceModel's layers: embedding (token inputs), rnn, head. */
export class SequenceNet extends Module {
  /** The token embedding (absent for value inputs). */
  readonly embedding: Embedding | undefined;
  /** The recurrent stack. */
  readonly rnn: RecurrentLayer;
  /** The output layer. */
  readonly head: Linear;

  /**
   * The layers of a SequenceModel (initialised by the model, not here).
   * @param gpu - The device.
   * @param o - The model's resolved options.
   */
  constructor(
    gpu: Gpu,
    private readonly o: Readonly<SequenceModelConfig>,
  ) {
    super(gpu);
    if (o.vocabSize)
      this.embedding = new Embedding(gpu, {
        numEmbeddings: o.vocabSize,
        embeddingDim: o.embeddingDim!,
        paddingIdx: o.paddingIdx,
        seed: 0,
      });
    const layer = {
      inputSize: o.inputSize,
      hiddenSize: o.hiddenSize,
      numLayers: o.numLayers,
      bidirectional: o.bidirectional,
      dropout: o.dropout,
      seed: o.seed,
    };
    this.rnn =
      o.cell === 'lstm'
        ? new LSTM(gpu, layer)
        : o.cell === 'gru'
          ? new GRU(gpu, layer)
          : new RNN(gpu, { ...layer, nonlinearity: o.nonlinearity });
    const D = o.bidirectional ? 2 : 1;
    this.head =
      o.mode === 'manyToOne'
        ? new FinalStateHead(gpu, D * o.hiddenSize, o.outputSize, D)
        : new Linear(gpu, { inFeatures: D * o.hiddenSize, outFeatures: o.outputSize, seed: 0 });
  }

  /**
   * Logits (or predicted values) of a time-major batch.
   * @param x - i32 tokens [seqLen, batch] or f32 values [seqLen, batch, inputSize].
   * @param state - Initial state (zeros when absent).
   * @returns [seqLen, batch, outputSize] (many-to-many) or [batch, outputSize] (many-to-one), and
   *   the final state.
   */
  forward(x: Tensor, state: SequenceNetState = {}): { logits: Tensor; hN: Tensor; cN: Tensor | undefined } {
    const features = this.embedding ? this.embedding.forward(x) : x;
    const r = this.rnn.forward(features, state);
    const logits = this.o.mode === 'manyToOne' ? this.head.forward(r.hN) : this.head.forward(r.output);
    return { logits, hN: r.hN, cN: r.cN };
  }
}
