// Build your own model: a sentiment classifier (Embedding → LSTM → mean over time → Linear)
// written as a Module and trained with a Trainer (one submit per step) on toy reviews made of
// good and bad words; prints the accuracy before and after.   node examples/sentiment.mjs
import { requestGpu, Module, Embedding, LSTM, Linear, Trainer, Tensor, F, rng } from 'seqgpu';

class Sentiment extends Module {
  /** @param {import('seqgpu').Gpu} gpu */
  constructor(gpu) {
    super(gpu);
    this.embed = new Embedding(gpu, { numEmbeddings: 10, embeddingDim: 8, seed: 1 });
    this.lstm = new LSTM(gpu, { inputSize: 8, hiddenSize: 16, batchFirst: true, seed: 2 });
    this.head = new Linear(gpu, { inFeatures: 16, outFeatures: 2, seed: 3 });
  }
  /** @param {Tensor} tokens [batch, seqLen] i32 @returns {Tensor} logits [batch, 2] */
  forward(tokens) {
    return this.head.forward(F.mean(this.lstm.forward(this.embed.forward(tokens)).output, 1));
  }
}
const gpu = await requestGpu();
const model = new Sentiment(gpu);
const trainer = new Trainer(model, { loss: 'crossEntropy', optimizer: { kind: 'adam', lr: 0.02 } });
const rand = rng(5); // words 0–4 are good, 5–9 bad; a review's label is its majority
const batch = () => {
  const ids = Int32Array.from({ length: 32 * 9 }, () => Math.floor(rand() * 10));
  const labels = Int32Array.from({ length: 32 }, (_, b) =>
    ids.slice(b * 9, b * 9 + 9).filter((w) => w < 5).length > 4 ? 1 : 0,
  );
  return { inputs: Tensor.from(gpu, ids, [32, 9]), targets: Tensor.from(gpu, labels, [32]) };
};
const test = batch();
const accuracy = async () => {
  const logits = await model.forward(test.inputs).read(),
    labels = await test.targets.readInt32();
  return labels.filter((y, b) => (logits[2 * b + 1] > logits[2 * b] ? 1 : 0) === y).length / labels.length;
};
console.log(`accuracy before training: ${await accuracy()}`);
for (let step = 1; step <= 150; step++) {
  const b = batch();
  const loss = await trainer.step(b, { readLoss: step % 50 === 0 });
  (b.inputs.destroy(), b.targets.destroy());
  if (loss !== undefined) console.log(`step ${step}  loss ${loss.toFixed(4)}`);
}
console.log(`accuracy after training: ${await accuracy()}`);
