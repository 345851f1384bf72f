// Quick start (the README's): train a tiny character-level LSTM on one line of text, printing the
// loss every 20 steps, then let it write. The same file runs in Node (`node quickstart.mjs`, after
// `npm i seqgpu webgpu`) and in a browser (quickstart.html); requestGpu() uses navigator.gpu in a
// browser and Dawn in Node.
import { requestGpu, SequenceModel, CharVocab, randomWindows, rng } from 'seqgpu';

const text = "Shall I compare thee to a summer's day? Thou art more lovely and more temperate.";
const vocab = new CharVocab(text), ids = vocab.encode(text), rand = rng(1), gpu = await requestGpu();
const model = new SequenceModel(gpu, { cell: 'lstm', vocabSize: vocab.size, embeddingDim: 16, hiddenSize: 32,
  outputSize: vocab.size, mode: 'manyToMany', loss: 'crossEntropy' });
model.configureTraining({ optimizer: { kind: 'adam', lr: 0.02 } });
for (let step = 0; step <= 100; step++) {        // 8 random windows of 16 characters per step
  const loss = await model.trainStep(randomWindows(ids, 16, 8, rand), { readLoss: step % 20 === 0 });
  if (loss !== undefined) console.log(`step ${step}: loss ${loss.toFixed(3)}`);
}
console.log('Shall I' + vocab.decode(await model.generate(vocab.encode('Shall I'), 40, { temperature: 0.5 })));
