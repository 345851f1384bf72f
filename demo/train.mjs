// `npm run train`: trains a character-level LSTM language model on a bundled public-domain text
// (Shakespeare, Sonnet 18) with seqgpu in Node — Dawn's WebGPU, on SwiftShader where there is no
// GPU — printing the loss, the steps per second and generated samples as it goes.
//   npm run train -- --steps=300 --hidden=64 --seqLen=32 --batch=16 --lr=0.01
import { readFileSync } from 'node:fs';
import { requestGpu, SequenceModel, CharVocab, randomWindows, rng } from '../dist/index.js';

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
const steps = Number(args.steps ?? 200);
const hiddenSize = Number(args.hidden ?? 64);
const T = Number(args.seqLen ?? 32);
const B = Number(args.batch ?? 16);
const lr = Number(args.lr ?? 0.01);

const text = readFileSync(new URL('./data/sonnet18.txt', import.meta.url), 'utf8');
const vocab = new CharVocab(text);
const ids = vocab.encode(text);
const rand = rng(1);
const batch = () => randomWindows(ids, T, B, rand);

const gpu = await requestGpu();
console.log(`adapter: ${gpu.adapterInfo.vendor} ${gpu.adapterInfo.architecture || gpu.adapterInfo.device} (fallback: ${gpu.adapterInfo.isFallbackAdapter})`);
const model = new SequenceModel(gpu, { cell: 'lstm', vocabSize: vocab.size, embeddingDim: 16, hiddenSize, outputSize: vocab.size, mode: 'manyToMany', loss: 'crossEntropy', seed: 1 });
model.configureTraining({ optimizer: { kind: 'adam', lr, clipNorm: 1 } });
const prompt = vocab.encode('Shall I ');
const t0 = performance.now();
for (let step = 1; step <= steps; step++) {
  const read = step % 25 === 0 || step === 1;
  const loss = await model.trainStep(batch(), { readLoss: read });
  if (read) {
    const s = (performance.now() - t0) / 1000;
    console.log(`step ${String(step).padStart(4)}  loss ${loss.toFixed(3)}  (ln V = ${Math.log(vocab.size).toFixed(3)})  ${(step / s).toFixed(1)} steps/s  ${((step * T * B) / s).toFixed(0)} tokens/s  ${model.lastRun.dispatches} dispatches, ${model.lastRun.submits} submit per step`);
  }
  if (step % 100 === 0 || step === steps) {
    const sample = await model.generate(prompt, 60, { temperature: 0.7, topK: 8, seed: step });
    console.log(`  sample: ${JSON.stringify('Shall I ' + vocab.decode(sample))}`);
  }
}
model.destroy();
gpu.destroy();
