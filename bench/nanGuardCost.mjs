// The NaN/Inf guard's cost per training step: SequenceModel (and Seq2Seq) training steps with
// `nanGuard: true` vs `false`, same model, same batches, same optimizer.
//
//   bash tools/with-swiftshader.sh node bench/nanGuardCost.mjs [--steps=N] [--warmup=N] [--filter=REGEX] [--json=FILE]
//   (on a machine with a GPU: SEQGPU_USE_SYSTEM_VULKAN=1 node bench/nanGuardCost.mjs)
//
// Loads seqgpu's TypeScript sources through Vite's SSR loader (shaders inlined by `?raw`), so it
// needs no build. For every case, two models (guard off / on) are built from the same seed and
// trained step by step, interleaved (off, on, off, on, …) so that machine noise hits both alike.
// One timed step = trainStep(batch) + gpu.sync() (the step's GPU work done; with the guard the
// 32-byte record readback runs alongside), and, in the readLoss variant, trainStep(batch,
// { readLoss: true }). Medians over --steps (default 30) steps after --warmup (default 5), and the
// ratio on / off. Rows with clipNorm isolate what the guard adds beyond the norm reduction that
// clipping computes anyway (the check pass and the one-thread guard dispatch).
//
// Whole steps on a loaded machine are noisy (±5–10 % on SwiftShader), so a second table times the
// update section alone, where all of the guard's GPU work is: the optimizer's dispatches over the
// model's parameter count, guard off ([norm if clipNorm], update) vs on (norm, check pass, guard,
// update, plus the record readback), each run as one submit + sync, medians over --reps (default
// 200) interleaved runs. Added ms per step = on − off; its share of the whole step = added / the
// whole step's median (guard off) from the first table.
import { createSsrServer } from './ssrServer.mjs';
import { writeFileSync } from 'node:fs';

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? '1'];
  }),
);
const STEPS = Number(args.get('steps') ?? 30);
const REPS = Number(args.get('reps') ?? 200);
const WARMUP = Number(args.get('warmup') ?? 5);
const filter = args.has('filter') ? new RegExp(args.get('filter')) : null;

const server = await createSsrServer();
const lib = await server.ssrLoadModule('/src/index.ts');
const { requestGpu, SequenceModel, Seq2Seq, reversePair, TOY_BOS, TOY_EOS, TOY_PAD } = lib;
const { rng } = await server.ssrLoadModule('/src/util/random.ts');
const { Optimizer } = await server.ssrLoadModule('/src/kernels/optimizer.ts');
const { NanGuard } = await server.ssrLoadModule('/src/train/nanGuard.ts');

const gpu = await requestGpu();

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** A char-LM batch (time-major ids) for SequenceModel. */
function lmBatches(vocab, seqLen, batch, count, seed) {
  const r = rng(seed);
  return Array.from({ length: count }, () => ({
    inputs: Int32Array.from({ length: seqLen * batch }, () => Math.floor(r() * vocab)),
    targets: Int32Array.from({ length: seqLen * batch }, () => Math.floor(r() * vocab)),
    seqLen,
    batch,
  }));
}

function s2sBatches(batch, count, seed) {
  const r = rng(seed);
  return Array.from({ length: count }, () => {
    const pairs = Array.from({ length: batch }, () => reversePair(r, 6, 10));
    return { src: pairs.map((p) => p.src), tgt: pairs.map((p) => p.tgt) };
  });
}

const V = 64;
const cases = [
  {
    name: 'lstm H64 T32 B16 adam',
    make: () =>
      new SequenceModel(gpu, {
        cell: 'lstm',
        vocabSize: V,
        embeddingDim: 32,
        hiddenSize: 64,
        outputSize: V,
        mode: 'manyToMany',
        loss: 'crossEntropy',
        seed: 1,
      }),
    optimizer: { kind: 'adam', lr: 1e-3 },
    batches: () => lmBatches(V, 32, 16, 8, 1),
  },
  {
    name: 'lstm H64 T32 B16 adam clipNorm',
    make: () =>
      new SequenceModel(gpu, {
        cell: 'lstm',
        vocabSize: V,
        embeddingDim: 32,
        hiddenSize: 64,
        outputSize: V,
        mode: 'manyToMany',
        loss: 'crossEntropy',
        seed: 1,
      }),
    optimizer: { kind: 'adam', lr: 1e-3, clipNorm: 1 },
    batches: () => lmBatches(V, 32, 16, 8, 1),
  },
  {
    name: 'lstm H256 T32 B16 adam',
    make: () =>
      new SequenceModel(gpu, {
        cell: 'lstm',
        vocabSize: V,
        embeddingDim: 32,
        hiddenSize: 256,
        outputSize: V,
        mode: 'manyToMany',
        loss: 'crossEntropy',
        seed: 1,
      }),
    optimizer: { kind: 'adam', lr: 1e-3 },
    batches: () => lmBatches(V, 32, 16, 8, 2),
  },
  {
    name: 'lstm H256 T32 B16 adam clipNorm',
    make: () =>
      new SequenceModel(gpu, {
        cell: 'lstm',
        vocabSize: V,
        embeddingDim: 32,
        hiddenSize: 256,
        outputSize: V,
        mode: 'manyToMany',
        loss: 'crossEntropy',
        seed: 1,
      }),
    optimizer: { kind: 'adam', lr: 1e-3, clipNorm: 1 },
    batches: () => lmBatches(V, 32, 16, 8, 2),
  },
  {
    name: 'gru H256 T32 B16 sgd momentum',
    make: () =>
      new SequenceModel(gpu, {
        cell: 'gru',
        vocabSize: V,
        embeddingDim: 32,
        hiddenSize: 256,
        outputSize: V,
        mode: 'manyToMany',
        loss: 'crossEntropy',
        seed: 1,
      }),
    optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9 },
    batches: () => lmBatches(V, 32, 16, 8, 3),
  },
  {
    name: 'seq2seq gru H64 dot-attention B16 adam',
    make: () =>
      new Seq2Seq(gpu, {
        cell: 'gru',
        srcVocab: 14,
        tgtVocab: 14,
        embeddingDim: 16,
        hiddenSize: 64,
        attention: 'dot',
        bosToken: TOY_BOS,
        eosToken: TOY_EOS,
        padToken: TOY_PAD,
        seed: 4,
      }),
    optimizer: { kind: 'adam', lr: 1e-3 },
    batches: () => s2sBatches(16, 8, 4),
  },
];

async function measure(c, readLoss) {
  const models = [false, true].map((nanGuard) => {
    const m = c.make();
    m.configureTraining({ optimizer: c.optimizer, nanGuard });
    return m;
  });
  const batches = c.batches();
  const times = [[], []];
  const params = models[0].store.length;
  try {
    for (let i = 0; i < WARMUP + STEPS; i++) {
      const b = batches[i % batches.length];
      // Alternate which model goes first, so neither always follows the other's readback.
      const order = i % 2 ? [1, 0] : [0, 1];
      for (const k of order) {
        const t0 = performance.now();
        await models[k].trainStep(b, { readLoss });
        await gpu.sync();
        const dt = performance.now() - t0;
        if (i >= WARMUP) times[k].push(dt);
      }
    }
    const [off, on] = times.map(median);
    const dispatches = [];
    for (const m of models) {
      await m.trainStep(batches[0]);
      dispatches.push(m.lastRun.dispatches);
    }
    await gpu.sync();
    return { name: c.name, readLoss, params, off, on, ratio: on / off, dispatches };
  } finally {
    for (const m of models) m.destroy();
  }
}

const rows = [];
console.log(
  `NaN/Inf guard cost per training step ` +
    `on ${gpu.adapterInfo.description || gpu.adapterInfo.architecture} (median ` +
    `of ${STEPS} steps after ${WARMUP} warm-up, guard off/on interleaved)`,
);
console.log(
  'case'.padEnd(42),
  'readLoss'.padEnd(9),
  'params'.padStart(8),
  'off ms'.padStart(9),
  'on ms'.padStart(9),
  'on/off'.padStart(8),
  '  dispatches off→on',
);
for (const c of cases) {
  if (filter && !filter.test(c.name)) continue;
  for (const readLoss of [false, true]) {
    const r = await measure(c, readLoss);
    rows.push(r);
    console.log(
      r.name.padEnd(42),
      String(readLoss).padEnd(9),
      String(r.params).padStart(8),
      r.off.toFixed(2).padStart(9),
      r.on.toFixed(2).padStart(9),
      r.ratio.toFixed(3).padStart(8),
      `  ${r.dispatches[0]}→${r.dispatches[1]}`,
    );
  }
}

/** The update section alone over n parameters: guard off vs on (median ms per submit + sync). */
async function measureUpdate(n, optimizer) {
  const { Tensor } = lib;
  const r = rng(n);
  const params = Tensor.from(
    gpu,
    Float32Array.from({ length: n }, () => r() - 0.5),
    [n],
  );
  const grads = Tensor.from(
    gpu,
    Float32Array.from({ length: n }, () => (r() - 0.5) * 1e-3),
    [n],
  );
  const loss = Tensor.from(gpu, [1], [1]);
  const off = new Optimizer(gpu, optimizer, params.buffer, grads.buffer, n);
  const on = new Optimizer(gpu, optimizer, params.buffer, grads.buffer, n, { guard: true });
  const guard = new NanGuard(gpu, on, 'bench');
  const runs = [
    async () => {
      off.beforeStep();
      gpu.run(off.dispatches());
      await gpu.sync();
    },
    async () => {
      on.beforeStep();
      guard.beforeSubmit();
      gpu.run(guard.arrange(loss.buffer));
      guard.afterSubmit();
      await gpu.sync();
    },
  ];
  const times = [[], []];
  try {
    for (let i = 0; i < 10 + REPS; i++) {
      for (const k of i % 2 ? [1, 0] : [0, 1]) {
        const t0 = performance.now();
        await runs[k]();
        if (i >= 10) times[k].push(performance.now() - t0);
      }
    }
    return {
      off: median(times[0]),
      on: median(times[1]),
      dispatches: [off.dispatches().length, guard.arrange(loss.buffer).length],
    };
  } finally {
    guard.destroy();
    on.destroy();
    off.destroy();
    for (const t of [params, grads, loss]) t.destroy();
  }
}

const updates = [];
console.log(`\nThe update section alone (median of ${REPS} interleaved runs, each one submit + sync)`);
console.log(
  'case'.padEnd(42),
  'params'.padStart(8),
  'off ms'.padStart(9),
  'on ms'.padStart(9),
  'added ms'.padStart(9),
  '  of step',
  '  dispatches off→on',
);
for (const c of cases) {
  if (filter && !filter.test(c.name)) continue;
  const step = rows.find((x) => x.name === c.name && !x.readLoss);
  const u = await measureUpdate(step.params, c.optimizer);
  const added = u.on - u.off;
  updates.push({ name: c.name, params: step.params, ...u, added, share: added / step.off });
  console.log(
    c.name.padEnd(42),
    String(step.params).padStart(8),
    u.off.toFixed(3).padStart(9),
    u.on.toFixed(3).padStart(9),
    added.toFixed(3).padStart(9),
    `${((100 * added) / step.off).toFixed(2).padStart(7)} %`,
    `  ${u.dispatches[0]}→${u.dispatches[1]}`,
  );
}
if (args.has('json'))
  writeFileSync(
    args.get('json'),
    JSON.stringify(
      {
        date: new Date().toISOString(),
        adapter: gpu.adapterInfo,
        steps: STEPS,
        warmup: WARMUP,
        reps: REPS,
        rows,
        updates,
      },
      null,
      2,
    ),
  );
gpu.destroy();
await server.close();
