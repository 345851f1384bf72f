/**
 * Float64 reference of a whole SequenceModel (src/models/sequenceModel.ts): loss and the gradient of
 * every parameter, composed from the per-piece references.
 *
 *   x      = embedding.weight[tokens]            (token models; else the input values)
 *   output, hN = RNN/LSTM/GRU stack(x)           (rnnForwardRef / rnnBackwardRef)
 *   f      = output (many-to-many)  |  [hN[L−1, dir 0], hN[L−1, dir 1]] per batch row (many-to-one)
 *   logits = f · head.weightᵀ + head.bias
 *   loss   = mean cross-entropy (ignoreIndex rows skipped) | mean squared error
 *
 * Backward: dlogits → (dW_head, db_head, df) → df is dOutput (many-to-many) or the top layer's
 * dhN blocks (many-to-one) → BPTT → dx → scatter-add into embedding.weight (paddingIdx row 0).
 * Parameters and gradients use the model's names (`embedding.weight`, `rnn.weight_ih_l0`, …).
 */
import { rnnForwardRef } from './rnn.js';
import { rnnBackwardRef } from './rnnBackward.js';
import { linearRef, linearBackwardRef } from './linear.js';
import { crossEntropyRef, mseRef } from './loss.js';
import { embeddingRef, embeddingBackwardRef } from './embedding.js';
import type { RecurrentConfig } from '../kernels/recurrentConfig.js';

/**
 * The model's own options, as SequenceModelOptions names them (numLayers default 1,
 * unidirectional; dropout is not modelled). The reference is the spec: it names the fields it
 * reads instead of importing the model.
 */
export interface SequenceModelRefConfig {
  cell: RecurrentConfig['cell'];
  vocabSize?: number;
  embeddingDim?: number;
  paddingIdx?: number;
  inputSize?: number;
  hiddenSize: number;
  numLayers?: number;
  bidirectional?: boolean;
  nonlinearity?: 'tanh' | 'relu';
  outputSize: number;
  mode: 'manyToMany' | 'manyToOne';
  loss: 'crossEntropy' | 'mse';
  ignoreIndex?: number;
}

/** Loss and every parameter's gradient; `inputs`/`targets` as SequenceModel's Batch (time-major). */
export function sequenceModelRef(
  cfg: SequenceModelRefConfig,
  params: Record<string, ArrayLike<number>>,
  inputs: ArrayLike<number>,
  targets: ArrayLike<number>,
  seqLen: number,
  batch: number,
): { loss: number; grads: Record<string, Float64Array> } {
  const T = seqLen;
  const B = batch;
  const H = cfg.hiddenSize;
  const D = cfg.bidirectional ? 2 : 1;
  const L = cfg.numLayers ?? 1;
  const tokens = cfg.vocabSize !== undefined;
  const E = tokens ? cfg.embeddingDim! : cfg.inputSize!;
  const rnnCfg: RecurrentConfig = {
    cell: cfg.cell,
    inputSize: E,
    hiddenSize: H,
    numLayers: L,
    bias: true,
    batchFirst: false,
    bidirectional: !!cfg.bidirectional,
    nonlinearity: cfg.nonlinearity,
  };
  const rnnWeights: Record<string, ArrayLike<number>> = {};
  for (const [k, v] of Object.entries(params)) if (k.startsWith('rnn.')) rnnWeights[k.slice(4)] = v;

  const x = tokens ? embeddingRef(params['embedding.weight'], inputs, E) : Float64Array.from(inputs);
  const fwd = rnnForwardRef(rnnCfg, rnnWeights, x, T, B);
  const rows = cfg.mode === 'manyToMany' ? T * B : B;
  const F = D * H;
  const features = new Float64Array(rows * F);
  if (cfg.mode === 'manyToMany') features.set(fwd.output);
  else {
    for (let b = 0; b < B; b++)
      for (let d = 0; d < D; d++)
        for (let j = 0; j < H; j++) features[b * F + d * H + j] = fwd.hN[(((L - 1) * D + d) * B + b) * H + j];
  }
  const dims = { inFeatures: F, outFeatures: cfg.outputSize };
  const logits = linearRef(features, params['head.weight'], params['head.bias'], dims);
  const lossOut =
    cfg.loss === 'crossEntropy'
      ? crossEntropyRef(logits, targets, { ignoreIndex: cfg.ignoreIndex ?? -100 })
      : (() => {
          const m = mseRef(logits, targets);
          return { loss: m.loss, dLogits: m.dPred };
        })();
  const head = linearBackwardRef(features, params['head.weight'], lossOut.dLogits, dims);

  const upstream: { dOutput?: Float64Array; dhN?: Float64Array } = {};
  if (cfg.mode === 'manyToMany') upstream.dOutput = head.dX;
  else {
    const dhN = new Float64Array(L * D * B * H);
    for (let b = 0; b < B; b++)
      for (let d = 0; d < D; d++)
        for (let j = 0; j < H; j++) dhN[(((L - 1) * D + d) * B + b) * H + j] = head.dX[b * F + d * H + j];
    upstream.dhN = dhN;
  }
  const bwd = rnnBackwardRef(rnnCfg, rnnWeights, x, T, B, undefined, undefined, upstream);
  const grads: Record<string, Float64Array> = {};
  if (tokens) grads['embedding.weight'] = embeddingBackwardRef(cfg.vocabSize!, E, inputs, bwd.dInput, cfg.paddingIdx);
  for (const [k, v] of Object.entries(bwd.dWeights)) grads[`rnn.${k}`] = v;
  grads['head.weight'] = head.dWeight;
  grads['head.bias'] = head.dBias;
  return { loss: lossOut.loss, grads };
}
