// loadTfjsModel: a TensorFlow.js / Keras layers-format model as a seqgpu Sequential. The file is
// read and checked entirely by src/io/tfjsModel.ts first (no GPU work), then each layer becomes
// seqgpu modules holding the converted weights:
//   Embedding                        → Embedding                       (`0.weight`)
//   LSTM / GRU / SimpleRNN, Bidirectional(…)
//                                    → KerasRecurrent(LSTM / GRU / RNN, batchFirst)
//                                                                      (`1.lstm.weight_ih_l0`, …)
//   Dense, TimeDistributed(Dense)    → Linear (`2.weight`), then ReLU / Sigmoid / Tanh / Softmax
//                                      as a module of its own when the activation is not linear
//   Dropout                          → Dropout (identity outside training)
//   Activation                       → ReLU / Sigmoid / Tanh / Softmax
import type { Gpu } from '../gpu/device.js';
import { readTfjsModel, type TfjsActivation, type TfjsLayer } from '../io/tfjsModel.js';
import { ReLU, Sigmoid, Softmax, Tanh } from '../nn/layers/activations.js';
import { Dropout } from '../nn/layers/dropout.js';
import { Embedding } from '../nn/layers/embedding.js';
import { KerasRecurrent } from '../nn/layers/kerasRecurrent.js';
import { Linear } from '../nn/layers/linear.js';
import { Sequential, type TensorModule } from '../nn/layers/sequential.js';
import { GRU, LSTM, RNN, type RecurrentOptions } from '../nn/recurrent.js';
import { ArgumentError, ShapeError, fmtShape } from '../util/errors.js';
import { checkRecurrentLayerLimits } from '../graph/recurrentLimits.js';
import type { RecurrentConfig } from '../kernels/recurrentConfig.js';

/** The activation module of a Dense / Activation layer (none for 'linear'). */
function activationModule(gpu: Gpu, act: TfjsActivation): TensorModule | null {
  if (act === 'relu') return new ReLU(gpu);
  if (act === 'sigmoid') return new Sigmoid(gpu);
  if (act === 'tanh') return new Tanh(gpu);
  if (act === 'softmax') return new Softmax(gpu);
  return null;
}

/**
 * Checks that every layer fits the device before any is built: a recurrent layer's buffers
 * (checkRecurrentLayerLimits), and each Embedding / Dense parameter within one storage binding.
 */
function checkFits(gpu: Gpu, layers: readonly TfjsLayer[]): void {
  const limit = gpu.limits.maxStorageBufferBindingSize;
  for (const l of layers) {
    const where = `loadTfjsModel: layer ${l.className} '${l.name}'`;
    if (l.kind === 'recurrent') {
      const cfg: RecurrentConfig = {
        cell: l.cell,
        inputSize: l.inputSize,
        hiddenSize: l.hiddenSize,
        numLayers: 1,
        bias: l.bias,
        batchFirst: true,
        bidirectional: l.mergeMode !== null,
        dropout: 0,
      };
      checkRecurrentLayerLimits(gpu, where, cfg, undefined);
    } else if (l.kind === 'embedding' || l.kind === 'dense')
      for (const [name, t] of Object.entries(l.state))
        if (t.data.length * 4 > limit)
          throw new ShapeError(
            `${where}: parameter '${name}' ${fmtShape(t.shape)} takes ${t.data.length * 4} bytes; ` +
              `the largest that fits one storage binding is ${limit} (maxStorageBufferBindingSize)`,
          );
  }
}

/** The seqgpu modules of one read layer, holding its weights. */
function buildLayer(gpu: Gpu, layer: TfjsLayer, modules: TensorModule[]): void {
  switch (layer.kind) {
    case 'embedding': {
      const m = new Embedding(gpu, { numEmbeddings: layer.numEmbeddings, embeddingDim: layer.embeddingDim });
      modules.push(m);
      m.loadStateDict(layer.state);
      return;
    }
    case 'recurrent': {
      const opts: RecurrentOptions & { resetAfter?: boolean } = {
        inputSize: layer.inputSize,
        hiddenSize: layer.hiddenSize,
        bias: layer.bias,
        batchFirst: true,
        bidirectional: layer.mergeMode !== null,
        ...(layer.cell !== 'rnn' ? { recurrentActivation: layer.recurrentActivation } : {}),
        ...(layer.cell === 'gru' ? { resetAfter: layer.resetAfter } : {}),
      };
      const rnn =
        layer.cell === 'lstm'
          ? new LSTM(gpu, opts)
          : layer.cell === 'gru'
            ? new GRU(gpu, opts)
            : new RNN(gpu, { ...opts, nonlinearity: layer.nonlinearity });
      const m = new KerasRecurrent(gpu, rnn, {
        returnSequences: layer.returnSequences,
        goBackwards: layer.goBackwards,
        mergeMode: layer.mergeMode ?? 'concat',
      });
      modules.push(m);
      rnn.loadStateDict(layer.state);
      return;
    }
    case 'dense': {
      const m = new Linear(gpu, { inFeatures: layer.inFeatures, outFeatures: layer.outFeatures, bias: layer.bias });
      modules.push(m);
      m.loadStateDict(layer.state);
      const act = activationModule(gpu, layer.activation);
      if (act) modules.push(act);
      return;
    }
    case 'dropout':
      if (layer.rate > 0) modules.push(new Dropout(gpu, { p: layer.rate }));
      return;
    default: {
      const act = activationModule(gpu, layer.activation);
      if (act) modules.push(act);
    }
  }
}

/**
 * Loads a TensorFlow.js layers-format model (Keras models exported with the tfjs converter, or
 * tfjs's own `model.save()`; a Sequential, or a functional Model whose layers form one chain) as
 * a {@link Sequential} of seqgpu layers with the same outputs:
 * Embedding, LSTM, GRU, SimpleRNN (also inside Bidirectional, merge_mode concat / sum / mul /
 * ave), Dense and TimeDistributed(Dense) (activations linear, relu, sigmoid, tanh, softmax),
 * Dropout, Activation and InputLayer; `recurrent_activation` sigmoid or hard_sigmoid, GRU
 * `reset_after` true or false, `return_sequences`, `go_backwards`. Weights are converted to
 * PyTorch's layout (see src/io/tfjsModel.ts), so the model's `namedParameters()` are PyTorch
 * names: `0.weight` (Embedding), `1.lstm.weight_ih_l0`, `2.gru.bias_hh_l0_reverse`, `3.weight`, … .
 * The input is batch-first as in Keras: f32 [batch, seqLen, features], or i32 token ids
 * [batch, seqLen] when the first layer is an Embedding. Everything is checked before the first
 * GPU buffer is made, so a bad or unsupported file creates nothing.
 * `dropout` / `recurrent_dropout` of a recurrent layer do not change inference and are not carried into training;
 * a GRU with reset_after=false (every tfjs GRU) runs for inference only (training it throws an ArgumentError).
 * @param gpu - The device the model lives on.
 * @param modelJson - The parsed `model.json` (or its text): `{format: 'layers-model', modelTopology, weightsManifest}`.
 * @param weightData - The weight files concatenated in manifest order, as tfjs's `io` hands them
 *   (an ArrayBuffer; a typed array or an array of ArrayBuffers is accepted too).
 * @returns The model, in eval mode.
 * @throws UnsupportedError naming the layer (class and name), the field, the value and what is
 *   supported; ShapeError when the bytes or a weight's shape disagree with the manifest or the
 *   topology; ArgumentError for a malformed file (nothing is allocated in any of these cases).
 * @example
 * ```ts
 * const modelJson = await (await fetch('model/model.json')).json();
 * const bins = await Promise.all(
 *   modelJson.weightsManifest.flatMap((g) => g.paths).map(async (p) => (await fetch(`model/${p}`)).arrayBuffer()),
 * );
 * const model = await loadTfjsModel(gpu, modelJson, bins);   // ArrayBuffer[] is concatenated
 * const y = model.forward(Tensor.from(gpu, tokens, [1, tokens.length])) as Tensor;
 * ```
 */
export async function loadTfjsModel(gpu: Gpu, modelJson: unknown, weightData: unknown): Promise<Sequential> {
  if (!gpu || typeof (gpu as Gpu).assertUsable !== 'function')
    throw new ArgumentError(`loadTfjsModel: 'gpu' must be a Gpu (from requestGpu()), got ${typeof gpu}`);
  gpu.assertUsable();
  const spec = readTfjsModel(modelJson, weightData);
  checkFits(gpu, spec.layers);
  const modules: TensorModule[] = [];
  try {
    for (const layer of spec.layers) buildLayer(gpu, layer, modules);
    if (modules.length === 0)
      throw new ArgumentError(`loadTfjsModel: the model computes nothing (identity layers only)`);
    const model = new Sequential(gpu, modules);
    model.eval();
    return model;
  } catch (e) {
    for (const m of modules) m.destroy();
    throw e;
  }
}
