// The options of a Seq2Seq model, apart from the model so that its recorded plan can name them.
import type { CellKind } from '../kernels/recurrentConfig.js';
import type { AttentionScore } from '../kernels/rnnAttention.js';

/** Options of a {@link Seq2Seq} model. */
export interface Seq2SeqOptions {
  /** The recurrent cell of the encoder and the decoder. */
  cell: CellKind;
  /** Source vocabulary size. */
  srcVocab: number;
  /** Target vocabulary size (classes of the output layer). */
  tgtVocab: number;
  /** Features of the source and target embeddings. */
  embeddingDim: number;
  /** Encoder and decoder hidden size (the decoder has the encoder's numLayers). */
  hiddenSize: number;
  /** Stacked layers of the encoder and of the decoder. Default 1. */
  numLayers?: number;
  /** Bidirectional encoder: its outputs are 2·hiddenSize wide; the bridge sums the directions. */
  bidirectional?: boolean;
  /** Score function, or 'none' for a plain encoder-decoder. Default 'general'. */
  attention?: AttentionScore | 'none';
  /** Additive attention: size of W1·h_t + W2·h̄_s. Default hiddenSize. */
  attnDim?: number;
  /** Target-side special tokens (ids in tgtVocab). */
  bosToken: number;
  /** Ends a target sequence: added after each target in training; decoding stops at it. */
  eosToken: number;
  /** Padding id in both vocabularies (embedding row kept at zero, no gradient). Default 0. */
  padToken?: number;
  /** Seed of the initial weights (PyTorch's init distributions). Default 0. */
  seed?: number;
}

/** The options with defaults filled in (`Seq2Seq.options`). */
export type Seq2SeqConfig = Required<Omit<Seq2SeqOptions, 'attention'>> & { attention: AttentionScore | 'none' };
