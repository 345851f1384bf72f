// Cold start (issue 19, item 6): the first call of the demo's char-LM models on a fresh device,
// without and with `warmup` first. Each measurement runs in a NEW Node process (a new Dawn
// instance and device: nothing compiled before), loading seqgpu's TypeScript sources through
// Vite's SSR loader with the build-time reflection plugin (load time not counted).
//
//   bash tools/with-swiftshader.sh node bench/coldStart.mjs [--runs=N] [--model=lstm|transformer|all]
//     [--modes=cold,warm]
//   (on a machine with a GPU: SEQGPU_USE_SYSTEM_VULKAN=1 node bench/coldStart.mjs)
//
// Models: the demo's SwiftShader presets (demo/params.ts, char LM, vocabulary 65):
//   lstm         SequenceModel LSTM 1×32, embedding 16, seqLen 16, batch 8, Adam, clipNorm 1
//   transformer  TransformerLM 1×32, 4 heads, feed-forward 128 (Trainer, Adam, clipGradNorm 1)
// Per process and mode: cold = the first forward (predict / lm.forward + read), then the first
// training step and a 20-token generate; warm = warmup (its own time and pipeline count), then the
// same three calls. Every time is wall clock until the result is read back. Prints a table of
// medians over --runs (default 3) and writes bench/results/coldStart-<date>.json.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createServer } from 'vite';
import { wgslReflectPlugin } from '../tools/wgsl-reflect.mjs';

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? '1'];
  }),
);
const VOCAB = 65;
const T = 16;
const B = 8;

if (args.has('child')) {
  const [model, mode] = args.get('child').split(':');
  console.log(`RESULT ${JSON.stringify(await child(model, mode))}`);
  process.exit(0);
} else {
  await parent();
}

async function child(model, mode) {
  const server = await createServer({
    configFile: false,
    plugins: [wgslReflectPlugin()],
    root: process.cwd(),
    logLevel: 'warn',
    appType: 'custom',
    server: { middlewareMode: true, hmr: false, ws: false },
    optimizeDeps: { noDiscovery: true, include: [] },
  });
  const lib = await server.ssrLoadModule('/src/index.ts');
  const gpu = await lib.requestGpu();
  const ids = (n, salt) => Int32Array.from({ length: n }, (_, i) => (i * 7 + salt) % VOCAB);
  const out = { model, mode, adapter: gpu.adapterInfo };
  const time = async (name, fn) => {
    const before = gpu.stats.pipelinesCreated;
    const t0 = performance.now();
    const r = await fn();
    out[name] = { ms: performance.now() - t0, pipelines: gpu.stats.pipelinesCreated - before };
    return r;
  };
  let progress = 0;
  const onProgress = () => progress++;
  if (model === 'lstm') {
    const m = new lib.SequenceModel(gpu, {
      cell: 'lstm',
      vocabSize: VOCAB,
      embeddingDim: 16,
      hiddenSize: 32,
      numLayers: 1,
      outputSize: VOCAB,
      mode: 'manyToMany',
      loss: 'crossEntropy',
    });
    m.configureTraining({ optimizer: { kind: 'adam', lr: 0.01, clipNorm: 1 } });
    const batch = { inputs: ids(T * B, 1), targets: ids(T * B, 2), seqLen: T, batch: B };
    if (mode === 'warm') await time('warmup', () => m.warmup({ seqLen: T, batch: B, generate: true, onProgress }));
    await time('firstForward', () => m.predict(batch.inputs, T, B));
    await time('firstStep', () => m.trainStep(batch, { readLoss: true }));
    await time('firstGenerate', () => m.generate([1, 2, 3], 20));
    await time('nextForward', () => m.predict(batch.inputs, T, B));
    m.destroy();
  } else {
    const lm = new lib.TransformerLM(gpu, {
      vocabSize: VOCAB,
      dModel: 32,
      nhead: 4,
      numLayers: 1,
      dimFeedforward: 128,
      maxSeqLen: 256,
      dropout: 0,
    });
    const tokens = lib.Tensor.from(gpu, ids(B * T, 1), [B, T]);
    const targets = lib.Tensor.from(gpu, ids(B * T, 2), [B, T]);
    const trainer = new lib.Trainer(lm, {
      loss: 'crossEntropy',
      optimizer: { kind: 'adam', lr: 0.003 },
      clipGradNorm: 1,
    });
    if (mode === 'warm')
      await time('warmup', async () => {
        const a = await trainer.warmup({ inputs: tokens, targets }, { onProgress });
        const b = await lm.warmup({ seqLen: T, batch: B, generate: true, onProgress });
        return a.pipelines + b.pipelines;
      });
    const forward = async () => {
      lm.eval();
      const y = lm.forward(tokens);
      await y.read();
      y.destroy();
      lm.train();
    };
    await time('firstForward', forward);
    await time('firstStep', () => trainer.step({ inputs: tokens, targets }, { readLoss: true }));
    await time('firstGenerate', () => lm.generate([1, 2, 3], { maxNewTokens: 20 }));
    await time('nextForward', forward);
    trainer.destroy();
    lm.destroy();
  }
  if (mode === 'warm') out.progressReports = progress;
  out.totalPipelines = gpu.stats.pipelinesCreated;
  out.asyncPipelines = gpu.stats.pipelinesCreatedAsync;
  gpu.destroy();
  await server.close();
  return out;
}

async function parent() {
  const runs = Number(args.get('runs') ?? 3);
  const which = args.get('model') ?? 'all';
  const models = which === 'all' ? ['lstm', 'transformer'] : [which];
  const modes = (args.get('modes') ?? 'cold,warm').split(',');
  const self = fileURLToPath(import.meta.url);
  const results = [];
  for (const model of models) {
    for (let r = 0; r < runs; r++) {
      for (const mode of modes) {
        const p = spawnSync(process.execPath, [self, `--child=${model}:${mode}`], {
          encoding: 'utf8',
          env: process.env,
        });
        const line = p.stdout.split('\n').find((l) => l.startsWith('RESULT '));
        if (!line) throw new Error(`child ${model}:${mode} failed (${p.status}):\n${p.stdout}\n${p.stderr}`);
        const res = JSON.parse(line.slice(7));
        results.push(res);
        const f = (k) => (res[k] ? `${res[k].ms.toFixed(0)} ms/${res[k].pipelines}p` : '-');
        console.log(
          `${model} ${mode} run ${r + 1}: warmup ${f('warmup')}, first forward ${f('firstForward')}, ` +
            `first step ${f('firstStep')}, first generate ${f('firstGenerate')}, next forward ${f('nextForward')}`,
        );
      }
    }
  }
  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  console.log(`\nadapter: ${JSON.stringify(results[0]?.adapter)}; medians over ${runs} process(es), ms`);
  console.log('| model | mode | warmup | first forward | first step | first generate | next forward | pipelines |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const model of models)
    for (const mode of modes) {
      const rs = results.filter((r) => r.model === model && r.mode === mode);
      const m = (k) => (rs[0][k] ? median(rs.map((r) => r[k].ms)).toFixed(0) : '—');
      console.log(
        `| ${model} | ${mode} | ${m('warmup')} | ${m('firstForward')} | ${m('firstStep')} | ${m('firstGenerate')} | ` +
          `${m('nextForward')} | ${rs[0].totalPipelines} |`,
      );
    }
  mkdirSync('bench/results', { recursive: true });
  const file = `bench/results/coldStart-${new Date().toISOString().slice(0, 10)}.json`;
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`wrote ${file}`);
}
