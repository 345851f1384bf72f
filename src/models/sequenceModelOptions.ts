// The options of a SequenceModel, apart from the model so that its recorded step can name them.
import type { CellKind } from '../kernels/recurrentConfig.js';

/**
 * Options of a {@link SequenceModel}. Give either `vocabSize` + `embeddingDim` (token inputs) or
 * `inputSize` (value inputs).
 */
export interface SequenceModelOptions {
  /** The recurrent cell. */
  cell: CellKind;
  /** Token input: an Embedding(vocabSize, embeddingDim) in front of the recurrent stack. */
  vocabSize?: number;
  /** Features of an embedding row (the recurrent stack's input size), with `vocabSize`. */
  embeddingDim?: number;
  /** Embedding row that gets no gradient (PyTorch padding_idx). */
  paddingIdx?: number;
  /** Value input: features per timestep (no embedding). */
  inputSize?: number;
  /** H of every recurrent layer. */
  hiddenSize: number;
  /** Stacked recurrent layers. Default 1. */
  numLayers?: number;
  /** Bidirectional layers (the head reads both directions). Default false. */
  bidirectional?: boolean;
  /** RNN cell only: `'tanh'` (default) or `'relu'`. */
  nonlinearity?: 'tanh' | 'relu';
  /** Dropout between recurrent layers (PyTorch's `dropout`), in training steps only. Default 0. */
  dropout?: number;
  /** Classes (cross-entropy) or values (MSE) predicted per row. */
  outputSize: number;
  /** `'manyToMany'`: the head at every timestep; `'manyToOne'`: on the top layer's final state. */
  mode: 'manyToMany' | 'manyToOne';
  /** Mean cross-entropy over classes, or mean squared error over values. */
  loss: 'crossEntropy' | 'mse';
  /** Cross-entropy targets equal to this are skipped (PyTorch ignore_index). Default −100. */
  ignoreIndex?: number;
  /** LSTM: added to the forget-gate bias at init (1 helps long memory). Default 0, as PyTorch. */
  forgetBias?: number;
  /** Seed of the initial weights (PyTorch's init distributions). Default 0. */
  seed?: number;
}

/** The options with defaults filled in (`SequenceModel.options`). */
export type SequenceModelConfig = Required<
  Omit<SequenceModelOptions, 'vocabSize' | 'embeddingDim' | 'paddingIdx' | 'inputSize'>
> &
  Pick<SequenceModelOptions, 'vocabSize' | 'embeddingDim' | 'paddingIdx'> & { inputSize: number };
