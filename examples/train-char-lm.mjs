// Train a character-level language model: an LSTM on eleven of Shakespeare's sonnets
// (data/sonnets.txt, 6.8 KB, public domain; the demo's text, see demo/data/README.md), printing
// the training loss, the loss on held-out text (the last 10 %, never trained on) and a generated
// sample. Each step — forward, cross-entropy, BPTT, gradient clipping, AdamW with a cosine
// schedule — is one command buffer and one submit on the GPU.
//   node examples/train-char-lm.mjs [--steps=300] [--hidden=64] [--seqLen=32] [--batch=16]
import { readFileSync } from 'node:fs';
import { requestGpu, SequenceModel, CharVocab, randomWindows, rng, cosineLR } from 'seqgpu';

/** `--name=value` from the command line, as a number. @type {(name: string, fallback: number) => number} */
const arg = (name, fallback) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const steps = arg('steps', 300),
  hiddenSize = arg('hidden', 64),
  seqLen = arg('seqLen', 32),
  batch = arg('batch', 16);

const text = readFileSync(new URL('./data/sonnets.txt', import.meta.url), 'utf8');
const vocab = new CharVocab(text);
const ids = vocab.encode(text);
const train = ids.subarray(0, Math.floor(ids.length * 0.9));
const heldOut = ids.subarray(train.length);
const rand = rng(1);
const heldOutBatch = randomWindows(heldOut, seqLen, batch, rng(2)); // the same held-out windows each time

const gpu = await requestGpu();
const model = new SequenceModel(gpu, {
  cell: 'lstm',
  vocabSize: vocab.size,
  embeddingDim: 32,
  hiddenSize,
  outputSize: vocab.size,
  mode: 'manyToMany',
  loss: 'crossEntropy',
  seed: 1,
});
model.configureTraining({
  optimizer: { kind: 'adamw', lr: 0.01, weightDecay: 0.01, clipNorm: 1 },
  schedule: cosineLR(steps, 0.001),
});

const startHeldOut = await model.evaluate(heldOutBatch);
console.log(
  `${vocab.size} characters, ${train.length} to train on, ${heldOut.length} held ` +
    `out; LSTM ${hiddenSize}, ${steps} steps of ${batch} × ${seqLen} characters`,
);
let firstLoss = NaN,
  lastLoss = NaN,
  lastHeldOut = startHeldOut;
const t0 = performance.now();
for (let step = 1; step <= steps; step++) {
  const report = step === 1 || step % 50 === 0 || step === steps;
  const loss = await model.trainStep(randomWindows(train, seqLen, batch, rand), { readLoss: report });
  if (loss === undefined) continue;
  if (step === 1) firstLoss = loss;
  lastLoss = loss;
  lastHeldOut = await model.evaluate(heldOutBatch);
  const perSecond = step / ((performance.now() - t0) / 1000);
  console.log(
    `step ${String(step).padStart(4)}  loss ${loss.toFixed(3)}  ` +
      `held-out ${lastHeldOut.toFixed(3)}  ${perSecond.toFixed(1)} steps/s`,
  );
}
const prompt = 'Shall I ';
const sample = await model.generate(vocab.encode(prompt), 120, { temperature: 0.6, topK: 10, seed: 1 });
console.log(`sample: ${JSON.stringify(prompt + vocab.decode(sample))}`);
console.log(
  `training loss ${firstLoss.toFixed(3)} → ${lastLoss.toFixed(3)}, ` +
    `held-out ${startHeldOut.toFixed(3)} → ${lastHeldOut.toFixed(3)} (uniform guess: ` +
    `ln ${vocab.size} = ${Math.log(vocab.size).toFixed(3)})`,
);
model.destroy();
gpu.destroy();
