// Issue 16: every layer's and op's backward inside a traced model vs central finite differences
// of the model's own loss (Trainer.evaluate), on small odd shapes. f32 loss: eps 1e-2, tolerance
// 3e-3 absolute + 3 % relative (kernel-level float64 references are in their own tests).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Conv1d,
  Embedding,
  F,
  GELU,
  GRU,
  LayerNorm,
  Linear,
  LSTM,
  Module,
  RNN,
  ReLU,
  Sigmoid,
  Softmax,
  Tanh,
  Tensor,
  Trainer,
  rng,
  type Gpu,
} from '../../src/index.js';
import { gradCheck } from '../checks/moduleGrad.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

/** Conv1d → transpose → LayerNorm → GELU → slice/concat → mul(sigmoid, tanh) → mean → Linear → Softmax. */
class Mixer extends Module {
  conv: Conv1d;
  norm: LayerNorm;
  act: GELU;
  gate: Sigmoid;
  squash: Tanh;
  head: Linear;
  probs: Softmax;
  constructor(gpu: Gpu) {
    super(gpu);
    this.conv = new Conv1d(gpu, {
      inChannels: 3,
      outChannels: 5,
      kernelSize: 3,
      padding: 1,
      stride: 1,
      dilation: 1,
      seed: 1,
    });
    this.norm = new LayerNorm(gpu, { normalizedShape: 5 });
    this.act = new GELU(gpu, { approximate: 'tanh' });
    this.gate = new Sigmoid(gpu);
    this.squash = new Tanh(gpu);
    this.head = new Linear(gpu, { inFeatures: 5, outFeatures: 2, seed: 2 });
    this.probs = new Softmax(gpu, { dim: -1 });
  }
  forward(x: Tensor): Tensor {
    const h = this.act.forward(this.norm.forward(F.transpose(this.conv.forward(x), 1, 2))); // [B, L, 5]
    const mixed = F.concat([F.slice(h, 2, 2, 5), F.slice(h, 2, 0, 2)], 2);
    const gated = F.mul(this.gate.forward(mixed), this.squash.forward(F.add(h, F.scale(mixed, 0.5))));
    return this.probs.forward(this.head.forward(F.mean(gated, 1))); // [B, 2] probabilities
  }
}

/** Embedding → LSTM and GRU (2 layers, bidirectional) → concat → reshape → LayerNorm → Linear. */
class Recurrent extends Module {
  embed: Embedding;
  lstm: LSTM;
  gru: GRU;
  norm: LayerNorm;
  head: Linear;
  constructor(gpu: Gpu) {
    super(gpu);
    this.embed = new Embedding(gpu, { numEmbeddings: 7, embeddingDim: 3, paddingIdx: 0, seed: 3 });
    this.lstm = new LSTM(gpu, { inputSize: 3, hiddenSize: 5, numLayers: 2, bidirectional: true, seed: 4 });
    this.gru = new GRU(gpu, { inputSize: 3, hiddenSize: 3, seed: 5 });
    this.norm = new LayerNorm(gpu, { normalizedShape: 13 });
    this.head = new Linear(gpu, { inFeatures: 13, outFeatures: 3, seed: 6 });
  }
  forward(tokens: Tensor): Tensor {
    const e = this.embed.forward(tokens); // [T, B, 3]
    const both = F.concat([this.lstm.forward(e).output, this.gru.forward(e).output], 2); // [T, B, 13]
    return this.head.forward(this.norm.forward(F.reshape(both, [-1, 13])));
  }
}

/** Elman RNNs (tanh, then relu, batchFirst) → GELU (exact) → ReLU → Linear. */
class Elman extends Module {
  tanhRnn: RNN;
  reluRnn: RNN;
  act: GELU;
  rect: ReLU;
  head: Linear;
  constructor(gpu: Gpu) {
    super(gpu);
    this.tanhRnn = new RNN(gpu, { inputSize: 3, hiddenSize: 5, batchFirst: true, bidirectional: true, seed: 7 });
    this.reluRnn = new RNN(gpu, { inputSize: 10, hiddenSize: 4, batchFirst: true, nonlinearity: 'relu', seed: 8 });
    this.act = new GELU(gpu);
    this.rect = new ReLU(gpu);
    this.head = new Linear(gpu, { inFeatures: 4, outFeatures: 2, seed: 9 });
  }
  forward(x: Tensor): Tensor {
    return this.head.forward(
      this.rect.forward(this.act.forward(this.reluRnn.forward(this.tanhRnn.forward(x).output).output)),
    );
  }
}

describe('layer backwards vs finite differences (inside traced models)', () => {
  it(
    'Conv1d, transpose, LayerNorm, GELU(tanh), slice, concat, sigmoid, tanh, mul, ' +
      'add, scale, mean, Linear, Softmax',
    async () => {
      const rand = rng(16);
      const model = new Mixer(gpu);
      const x = Tensor.from(
        gpu,
        Array.from({ length: 2 * 3 * 7 }, () => rand() * 2 - 1),
        [2, 3, 7],
      );
      const y = Tensor.from(
        gpu,
        Array.from({ length: 4 }, () => rand() * 2 - 1),
        [2, 2],
      );
      const { checked: n } = await gradCheck(model, [x], y, { samples: 4, seed: 1 });
      console.log(`Mixer: ${n} parameter entries checked against finite differences`);
      model.destroy();
    },
  );

  it(
    'Embedding (paddingIdx), 2-layer bidirectional LSTM, GRU, concat, reshape, ' +
      'LayerNorm, Linear (seqLen 5, batch 3)',
    async () => {
      const rand = rng(17);
      const model = new Recurrent(gpu);
      const tokens = Tensor.from(
        gpu,
        Int32Array.from({ length: 15 }, () => Math.floor(rand() * 7)),
        [5, 3],
      );
      const y = Tensor.from(
        gpu,
        Array.from({ length: 45 }, () => rand() * 2 - 1),
        [15, 3],
      );
      const { checked: n } = await gradCheck(model, [tokens], y, { samples: 2, seed: 2 });
      console.log(`Recurrent: ${n} parameter entries checked against finite differences`);
      model.destroy();
    },
  );

  it(
    'RNN (tanh, bidirectional), RNN (relu), GELU (exact erf), ReLU, Linear ' + '(batchFirst, batch 2, seqLen 4)',
    async () => {
      const rand = rng(18);
      const model = new Elman(gpu);
      const x = Tensor.from(
        gpu,
        Array.from({ length: 2 * 4 * 3 }, () => rand() * 2 - 1),
        [2, 4, 3],
      );
      const y = Tensor.from(
        gpu,
        Array.from({ length: 16 }, () => rand() * 2 - 1),
        [2, 4, 2],
      );
      const { checked: n } = await gradCheck(model, [x], y, { samples: 2, seed: 3 });
      console.log(`Elman: ${n} parameter entries checked against finite differences`);
      model.destroy();
    },
  );
});
