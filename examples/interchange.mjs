// Interchange: bring a Keras-style model in from TensorFlow.js, train it further on the GPU with
// seqgpu, and serve it anywhere as ONNX (run here by onnxruntime-web). The PyTorch way in is
// examples/export_pytorch.py (a state_dict as .safetensors → model.loadStateDict(bytes)).
//   node examples/interchange.mjs [--steps=120]
// Needs @tensorflow/tfjs and onnxruntime-web (npm i -D @tensorflow/tfjs onnxruntime-web).
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-web';
import { requestGpu, loadTfjsModel, exportOnnx, Trainer, Tensor, rng } from 'seqgpu';

const steps = Number(process.argv.find((a) => a.startsWith('--steps='))?.slice(8) ?? 120);
/** @param {ArrayLike<number>} a @param {ArrayLike<number>} b */
const maxDiff = (a, b) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

// 1. A Keras model in TensorFlow.js (its defaults: hard_sigmoid gates), saved as model.save() writes it.
const keras = tf.sequential({
  layers: [
    tf.layers.embedding({ inputDim: 10, outputDim: 8, inputLength: 9 }),
    tf.layers.lstm({ units: 16 }),
    tf.layers.dense({ units: 2 }),
  ],
});
/** @type {import('@tensorflow/tfjs').io.ModelArtifacts} */
let saved = {};
await keras.save(
  tf.io.withSaveHandler(async (artifacts) => {
    saved = artifacts;
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }),
);
const modelJson = {
  format: 'layers-model',
  modelTopology: saved.modelTopology,
  weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: saved.weightSpecs }],
};

// 2. Into seqgpu: the same outputs as TensorFlow.js.
const gpu = await requestGpu();
const model = await loadTfjsModel(gpu, modelJson, saved.weightData);
const rand = rng(5); // the toy task: words 0–4 are good, 5–9 bad; a review's label is its majority
/** @param {number} n */
const batch = (n) => {
  const ids = Int32Array.from({ length: n * 9 }, () => Math.floor(rand() * 10));
  const labels = Int32Array.from({ length: n }, (_, b) =>
    ids.slice(b * 9, b * 9 + 9).filter((w) => w < 5).length > 4 ? 1 : 0,
  );
  return { ids, labels };
};
const test = batch(64);
const tokens = Tensor.from(gpu, test.ids, [64, 9]);
const fromTfjs = await /** @type {import('@tensorflow/tfjs').Tensor} */ (
  keras.predict(tf.tensor2d(test.ids, [64, 9], 'int32'))
).data();
console.log(
  `TensorFlow.js → seqgpu: max |difference| ${maxDiff(await model.forward(tokens).read(), fromTfjs).toExponential(1)}`,
);

// 3. Train on the GPU: one submit per step.
const accuracy = async () => {
  const logits = await model.forward(tokens).read();
  return test.labels.filter((y, b) => (logits[2 * b + 1] > logits[2 * b] ? 1 : 0) === y).length / test.labels.length;
};
console.log(`accuracy before training: ${await accuracy()}`);
const trainer = new Trainer(model, { loss: 'crossEntropy', optimizer: { kind: 'adam', lr: 0.02 } });
for (let step = 1; step <= steps; step++) {
  const b = batch(32);
  const inputs = Tensor.from(gpu, b.ids, [32, 9]);
  const targets = Tensor.from(gpu, b.labels, [32]);
  await trainer.step({ inputs, targets });
  (inputs.destroy(), targets.destroy());
}
model.eval();
console.log(`accuracy after ${steps} steps: ${await accuracy()}`);

// 4. Serve anywhere: ONNX with dynamic batch and sequence axes, run by onnxruntime.
const onnx = await exportOnnx(model, { inputs: [{ name: 'tokens', shape: ['batch', 'seq'], dtype: 'i32' }] });
ort.env.wasm.numThreads = 1;
const session = await ort.InferenceSession.create(onnx, { executionProviders: ['wasm'] });
const served = await session.run({ tokens: new ort.Tensor('int32', test.ids, [64, 9]) });
const logits = /** @type {Float32Array} */ (served[session.outputNames[0]].data);
const diff = maxDiff(logits, await model.forward(tokens).read());
console.log(`seqgpu → ONNX (${onnx.byteLength} bytes) in onnxruntime: max |difference| ${diff.toExponential(1)}`);
gpu.destroy();
