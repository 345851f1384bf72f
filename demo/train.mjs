// `npm run train`: trains a character-level LSTM language model on a bundled public-domain text
// (Shakespeare, Sonnet 18) with seqgpu in Node — Dawn's WebGPU, on SwiftShader where there is no
// GPU — printing the loss, the steps per second and generated samples as it goes.
//   npm run train -- --steps=300 --hidden=64 --seqLen=32 --batch=16 --lr=0.01
import { readFileSync } from 'node:fs';
import { requestGpu, SequenceModel } from '../dist/index.js';

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
const steps = Number(args.steps ?? 200);
const hiddenSize = Number(args.hidden ?? 64);
const T = Number(args.seqLen ?? 32);
const B = Number(args.batch ?? 16);
const lr = Number(args.lr ?? 0.01);

const text = readFileSync(new URL('./data/sonnet18.txt', import.meta.url), 'utf8');
const chars = [...new Set(text)].sort();
const ids = Int32Array.from([...text].map((ch) => chars.indexOf(ch)));
let seed = 1;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
const batch = () => {
  const inputs = new Int32Array(T * B);
  const targets = new Int32Array(T * B);
  for (let b = 0; b < B; b++) {
    const start = Math.floor(rand() * (ids.length - T - 1));
    for (let t = 0; t < T; t++) {
      inputs[t * B + b] = ids[start + t];
      targets[t * B + b] = ids[start + t + 1];
    }
  }
  return { inputs, targets, seqLen: T, batch: B };
};

const gpu = await requestGpu();
console.log(`adapter: ${gpu.adapterInfo.vendor} ${gpu.adapterInfo.architecture || gpu.adapterInfo.device} (fallback: ${gpu.adapterInfo.isFallbackAdapter})`);
const model = new SequenceModel(gpu, { cell: 'lstm', vocabSize: chars.length, embeddingDim: 16, hiddenSize, outputSize: chars.length, mode: 'manyToMany', loss: 'crossEntropy', seed: 1 });
model.configureTraining({ optimizer: { kind: 'adam', lr, clipNorm: 1 } });
const prompt = [...'Shall I '].map((ch) => chars.indexOf(ch));
const t0 = performance.now();
for (let step = 1; step <= steps; step++) {
  const read = step % 25 === 0 || step === 1;
  const loss = await model.trainStep(batch(), { readLoss: read });
  if (read) {
    const s = (performance.now() - t0) / 1000;
    console.log(`step ${String(step).padStart(4)}  loss ${loss.toFixed(3)}  (ln V = ${Math.log(chars.length).toFixed(3)})  ${(step / s).toFixed(1)} steps/s  ${((step * T * B) / s).toFixed(0)} tokens/s  ${model.lastRun.dispatches} dispatches, ${model.lastRun.submits} submit per step`);
  }
  if (step % 100 === 0 || step === steps) {
    const sample = await model.generate(prompt, 60, { temperature: 0.7, topK: 8, seed: step });
    console.log(`  sample: ${JSON.stringify('Shall I ' + sample.map((i) => chars[i]).join(''))}`);
  }
}
model.destroy();
gpu.destroy();
