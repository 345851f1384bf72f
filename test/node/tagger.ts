// The Tagger, shared by the tests that build it (modules.test.ts against PyTorch's training
// step, pytorchInterchange.test.ts against a PyTorch state_dict file): Embedding(paddingIdx) →
// bidirectional batchFirst LSTM → Dropout → Linear, the twin of make_module_fixtures.py's Tagger.
import { Dropout, Embedding, Linear, LSTM, Module, type Gpu, type Tensor } from '../../src/index.js';

/** Embedding(20, 8, paddingIdx 0) → LSTM(8, 12, batchFirst, bidirectional) → Dropout(p) → Linear(24, 5). */
export class Tagger extends Module {
  embed: Embedding;
  lstm: LSTM;
  drop: Dropout;
  head: Linear;
  constructor(gpu: Gpu, p = 0) {
    super(gpu);
    this.embed = new Embedding(gpu, { numEmbeddings: 20, embeddingDim: 8, paddingIdx: 0 });
    this.lstm = new LSTM(gpu, { inputSize: 8, hiddenSize: 12, batchFirst: true, bidirectional: true });
    this.drop = new Dropout(gpu, { p });
    this.head = new Linear(gpu, { inFeatures: 24, outFeatures: 5 });
  }
  forward(tokens: Tensor): Tensor {
    return this.head.forward(this.drop.forward(this.lstm.forward(this.embed.forward(tokens)).output));
  }
}
