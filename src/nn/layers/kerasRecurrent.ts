// KerasRecurrent: a batch-first RNN / LSTM / GRU as a one-tensor module with Keras's output
// options, so a recurrent layer sits in a Sequential the way a Keras layer sits in a Keras model.
//   go_backwards        the input reversed in time first; the outputs stay in the order computed
//                       (Keras / tfjs return them in reversed time order: not flipped back)
//   return_sequences    true: output [batch, seqLen, D'·H]; false: the last step, hN as [batch, D'·H]
//   Bidirectional       a bidirectional layer (its reverse direction = Keras's backward layer, whose
//                       sequence Keras flips back into time order); merge_mode 'concat' keeps
//                       PyTorch's [forward | backward] features (D' = 2); 'sum', 'mul', 'ave' join
//                       the two halves elementwise (D' = 1)
// Parameters keep PyTorch's names under the child named after the cell: `lstm.weight_ih_l0`,
// `gru.bias_hh_l0_reverse`, `rnn.weight_hh_l0` (inside a Sequential: `1.lstm.weight_ih_l0`).
import type { Gpu } from '../../gpu/device.js';
import type { Tensor } from '../../gpu/tensor.js';
import { add, mul, scale } from '../../graph/ops/elementwise.js';
import { flipValue } from '../../graph/ops/flip.js';
import { concat, reshape, slice } from '../../graph/ops/shape.js';
import { ArgumentError } from '../../util/errors.js';
import { checkOptions } from '../../util/options.js';
import { Module } from '../module.js';
import { RecurrentLayer } from '../recurrent.js';

/** Options of {@link KerasRecurrent}, Keras's names in camelCase. */
export interface KerasRecurrentOptions {
  /** Keras `return_sequences`: every step's output (true) or the last one only. Default false. */
  returnSequences?: boolean;
  /** Keras `go_backwards`: read the input from the last step to the first. Default false. */
  goBackwards?: boolean;
  /**
   * Keras `Bidirectional(merge_mode)` for a bidirectional layer: `'concat'` (default), `'sum'`,
   * `'mul'` or `'ave'`. Ignored by a one-direction layer.
   */
  mergeMode?: 'concat' | 'sum' | 'mul' | 'ave';
}

/**
 * A one-layer, batch-first RNN / LSTM / GRU whose forward returns one tensor, as a Keras layer
 * does (see the file header for the options). The recurrent layer is the child named `lstm`,
 * `gru` or `rnn`, so its parameters are `lstm.weight_ih_l0`, `lstm.bias_hh_l0_reverse`, … .
 * @example
 * ```ts
 * const lstm = new LSTM(gpu, { inputSize: 8, hiddenSize: 16, batchFirst: true });
 * const layer = new KerasRecurrent(gpu, lstm, { returnSequences: false });
 * const model = new Sequential(gpu, [layer, new Linear(gpu, { inFeatures: 16, outFeatures: 3 })]);
 * ```
 */
export class KerasRecurrent extends Module {
  /** The options with defaults filled in. */
  readonly options: Readonly<Required<KerasRecurrentOptions>>;

  /**
   * Wraps `layer` (one layer, batchFirst, no projection).
   * @param gpu - The device.
   * @param layer - An RNN, LSTM or GRU built with `batchFirst: true` and `numLayers: 1`.
   * @param options - Keras's `returnSequences`, `goBackwards` and `mergeMode`.
   * @throws ArgumentError for another layer kind, numLayers > 1, batchFirst false, an LSTM
   *   projection, go_backwards on a bidirectional layer, or a bad option.
   */
  constructor(
    gpu: Gpu,
    readonly layer: RecurrentLayer,
    options: KerasRecurrentOptions = {},
  ) {
    super(gpu);
    const o = checkOptions<KerasRecurrentOptions>('KerasRecurrent', 'options', options, {
      returnSequences: { type: 'boolean' },
      goBackwards: { type: 'boolean' },
      mergeMode: { type: 'enum', values: ['concat', 'sum', 'mul', 'ave'] },
    });
    if (!(layer instanceof RecurrentLayer))
      throw new ArgumentError(`KerasRecurrent: 'layer' must be an RNN, LSTM or GRU, got ${typeof layer}`);
    if (layer.gpu !== gpu) throw new ArgumentError(`KerasRecurrent: 'layer' was built on another Gpu`);
    const c = layer.config;
    if (c.numLayers !== 1 || !c.batchFirst || c.projSize)
      throw new ArgumentError(
        `KerasRecurrent: 'layer' must have numLayers 1, batchFirst true and no projSize (a Keras layer), ` +
          `got numLayers ${c.numLayers}, batchFirst ${c.batchFirst}, projSize ${c.projSize ?? 0}`,
      );
    if (c.bidirectional && o.goBackwards)
      throw new ArgumentError(`KerasRecurrent: goBackwards is for one-direction layers (Bidirectional runs both)`);
    this.options = Object.freeze({
      returnSequences: o.returnSequences ?? false,
      goBackwards: o.goBackwards ?? false,
      mergeMode: o.mergeMode ?? 'concat',
    });
  }

  /** The one child, named after the cell: `lstm`, `gru` or `rnn`. */
  override namedChildren(): Array<[string, Module]> {
    return [[this.layer.config.cell, this.layer]];
  }

  /** Features of the output: D·H for 'concat' on a bidirectional layer, else H. */
  get outFeatures(): number {
    const { bidirectional, hiddenSize } = this.layer.config;
    return bidirectional && this.options.mergeMode === 'concat' ? 2 * hiddenSize : hiddenSize;
  }

  /**
   * Runs the layer over `x` with Keras's output options.
   * @param x - [batch, seqLen, inputSize].
   * @returns [batch, seqLen, features] with returnSequences, else [batch, features] (features: {@link outFeatures}).
   */
  forward(x: Tensor): Tensor {
    const { returnSequences, goBackwards, mergeMode } = this.options;
    const { bidirectional, hiddenSize: H } = this.layer.config;
    const input = goBackwards ? flipValue(this.input('x', x), 1, 'KerasRecurrent.goBackwards').tensor : x;
    const { output, hN } = this.layer.forward(input);
    let fwd: Tensor;
    let bwd: Tensor;
    if (returnSequences) {
      if (!bidirectional || mergeMode === 'concat') return output;
      fwd = slice(output, 2, 0, H);
      bwd = slice(output, 2, H, 2 * H);
    } else {
      const B = hN.shape[1];
      if (!bidirectional) return reshape(hN, [B, H]);
      fwd = reshape(slice(hN, 0, 0, 1), [B, H]);
      bwd = reshape(slice(hN, 0, 1, 2), [B, H]);
      if (mergeMode === 'concat') return concat([fwd, bwd], -1);
    }
    if (mergeMode === 'sum') return add(fwd, bwd);
    if (mergeMode === 'mul') return mul(fwd, bwd);
    return scale(add(fwd, bwd), 0.5);
  }
}
