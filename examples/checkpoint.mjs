// Checkpoints: train a GRU language model a few steps, save the model and its optimizer state
// as one .safetensors file (PyTorch's parameter and torch.optim state names; any safetensors
// reader opens it), load it into a new model and check that training continues bit for bit: the
// next losses of the original and the restored model are equal.
//   node examples/checkpoint.mjs [file.safetensors]      (default: a file in the temp directory)
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requestGpu, SequenceModel, CharVocab, randomWindows, rng, readCheckpoint, cosineLR } from 'seqgpu';

const file = process.argv[2] ?? join(tmpdir(), 'seqgpu-checkpoint.safetensors');
const text = readFileSync(new URL('./data/sonnets.txt', import.meta.url), 'utf8');
const vocab = new CharVocab(text);
const ids = vocab.encode(text);
const rand = rng(1);
const schedule = cosineLR(100); // a function: not saved in the file, passed again on load

/** @type {import('seqgpu').SequenceModelOptions} */
const options = {
  cell: 'gru',
  vocabSize: vocab.size,
  embeddingDim: 16,
  hiddenSize: 32,
  outputSize: vocab.size,
  mode: 'manyToMany',
  loss: 'crossEntropy',
  seed: 7,
};

const gpu = await requestGpu();
const model = new SequenceModel(gpu, options);
model.configureTraining({ optimizer: { kind: 'adam', lr: 0.01, clipNorm: 1 }, schedule });
for (let step = 0; step < 20; step++) await model.trainStep(randomWindows(ids, 16, 8, rand));

writeFileSync(file, await model.saveCheckpoint());
console.log(`saved ${file} after 20 steps`);

// Later, e.g. in another process. readCheckpoint shows what the file holds (it validates it too).
const bytes = readFileSync(file);
const { tensors, metadata } = readCheckpoint(bytes);
const names = Object.keys(tensors);
console.log(
  `${metadata['seqgpu.class']}, optimizer ${metadata['optimizer.class']} at ` +
    `step ${metadata['optimizer.step']}; ${names.length} ` +
    `tensors: ${names.slice(0, 3).join(', ')}, …, ${names.at(-1)}`,
);
const restored = new SequenceModel(gpu, options);
restored.loadCheckpoint(bytes, { train: { schedule } }); // parameters, Adam's moments and step

// The same next batches give both models the same losses, bit for bit.
let identical = true;
for (let step = 20; step < 25; step++) {
  const batch = randomWindows(ids, 16, 8, rand);
  const a = await model.trainStep(batch, { readLoss: true });
  const b = await restored.trainStep(batch, { readLoss: true });
  identical &&= a === b;
  console.log(`step ${step}: original ${a}, restored ${b}`);
}
console.log(identical ? 'training continued bit for bit' : 'the restored model diverged');
gpu.destroy();
if (!identical) process.exitCode = 1;
