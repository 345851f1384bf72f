// The composable path's cost: a training step of SequenceModel (hand-wired plan) vs the same
// model written as a Module (Embedding → RNN → Linear, PyTorch names) trained by a Trainer (traced
// graph, autodiff, lifetime-planned buffers). Same weights, batches and optimizer.
//
//   bash tools/with-swiftshader.sh node bench/moduleStep.mjs [--steps=N] [--warmup=N] [--filter=REGEX]
//   (on a machine with a GPU: SEQGPU_USE_SYSTEM_VULKAN=1 node bench/moduleStep.mjs)
//
// Loads the TypeScript sources through Vite's SSR loader (no build needed). The two models step
// interleaved (SequenceModel, Module, SequenceModel, …) so machine noise hits both alike; one timed
// step = step(batch) + gpu.sync(). Prints medians over --steps (default 30) after --warmup
// (default 5), the ratio Module / SequenceModel, dispatches per step, and the losses of the last
// step of each (they agree to ~1e-6: the same math).
import { createSsrServer } from './ssrServer.mjs';

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? '1'];
  }),
);
const STEPS = Number(args.get('steps') ?? 30);
const WARMUP = Number(args.get('warmup') ?? 5);
const filter = args.has('filter') ? new RegExp(args.get('filter')) : null;

const server = await createSsrServer();
const { requestGpu, SequenceModel, Module, Embedding, LSTM, GRU, Linear, Trainer, Tensor, rng } =
  await server.ssrLoadModule('/src/index.ts');
const gpu = await requestGpu();

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** SequenceModel's topology as a Module, with SequenceModel's parameter names. */
class LanguageModel extends Module {
  constructor(gpu, o) {
    super(gpu);
    const Cell = o.cell === 'lstm' ? LSTM : GRU;
    this.embedding = new Embedding(gpu, { numEmbeddings: o.vocabSize, embeddingDim: o.embeddingDim });
    this.rnn = new Cell(gpu, { inputSize: o.embeddingDim, hiddenSize: o.hiddenSize, numLayers: o.numLayers ?? 1 });
    this.head = new Linear(gpu, { inFeatures: o.hiddenSize, outFeatures: o.outputSize });
  }
  forward(tokens) {
    return this.head.forward(this.rnn.forward(this.embedding.forward(tokens)).output);
  }
}

const V = 64;
const base = { vocabSize: V, embeddingDim: 32, outputSize: V, mode: 'manyToMany', loss: 'crossEntropy', seed: 1 };
const cases = [
  { name: 'lstm H64 T32 B16 adam', o: { ...base, cell: 'lstm', hiddenSize: 64 }, T: 32, B: 16 },
  { name: 'lstm H256 T32 B16 adam', o: { ...base, cell: 'lstm', hiddenSize: 256 }, T: 32, B: 16 },
  {
    name: 'lstm H128 2 layers T16 B32 adam',
    o: { ...base, cell: 'lstm', hiddenSize: 128, numLayers: 2 },
    T: 16,
    B: 32,
  },
  { name: 'gru H256 T32 B16 adam', o: { ...base, cell: 'gru', hiddenSize: 256 }, T: 32, B: 16 },
].filter((c) => !filter || filter.test(c.name));

console.log(
  `adapter: ${gpu.adapterInfo.vendor} ${gpu.adapterInfo.architecture} ${gpu.adapterInfo.description ?? ''}; ${STEPS} ` +
    `steps after ${WARMUP} warm-up, medians`,
);
console.log('| workload | SequenceModel ms | Module + Trainer ms | ratio | dispatches (SM / Module) |');
console.log('|---|---|---|---|---|');
for (const c of cases) {
  const r = rng(7);
  const batches = Array.from({ length: 8 }, () => {
    const x = Int32Array.from({ length: c.T * c.B }, () => Math.floor(r() * V));
    const y = Int32Array.from({ length: c.T * c.B }, () => Math.floor(r() * V));
    return {
      sm: { inputs: x, targets: y, seqLen: c.T, batch: c.B },
      mod: { inputs: Tensor.from(gpu, x, [c.T, c.B]), targets: Tensor.from(gpu, y, [c.T, c.B]) },
    };
  });
  const sm = new SequenceModel(gpu, c.o);
  sm.configureTraining({ optimizer: { kind: 'adam', lr: 1e-3 } });
  const mod = new LanguageModel(gpu, c.o);
  mod.loadStateDict(await sm.stateDict());
  const trainer = new Trainer(mod, { loss: 'crossEntropy', optimizer: { kind: 'adam', lr: 1e-3 } });
  const tSm = [],
    tMod = [];
  for (let i = 0; i < WARMUP + STEPS; i++) {
    const b = batches[i % batches.length];
    let t0 = performance.now();
    await sm.trainStep(b.sm);
    await gpu.sync();
    const a = performance.now() - t0;
    t0 = performance.now();
    await trainer.step(b.mod);
    await gpu.sync();
    const m = performance.now() - t0;
    if (i >= WARMUP) (tSm.push(a), tMod.push(m));
  }
  const last = batches[0];
  const lossSm = await sm.trainStep(last.sm, { readLoss: true });
  const lossMod = await trainer.step(last.mod, { readLoss: true });
  const a = median(tSm),
    m = median(tMod);
  console.log(
    `| ${c.name} | ${a.toFixed(2)} | ${m.toFixed(2)} | ${(m / a).toFixed(3)} ` +
      `| ${sm.lastRun.dispatches} / ${trainer.lastRun.dispatches} |  (last ` +
      `losses ${lossSm.toFixed(6)} / ${lossMod.toFixed(6)})`,
  );
  trainer.destroy();
  mod.destroy();
  sm.destroy();
  for (const b of batches) (b.mod.inputs.destroy(), b.mod.targets.destroy());
}
gpu.destroy();
await server.close();
