// Cold start (issue 19, item 6): the first call of the demo's char-LM models on a fresh device,
// without and with `warmup` first (bench/coldStartCore.ts). Each measurement runs in a NEW Node
// process (a new Dawn instance and device: nothing compiled before), loading seqgpu's TypeScript
// sources through Vite's SSR loader with the build-time reflection plugin (load time not
// counted); with --chromium, in a new headless Chromium (fresh profile) on bench/coldStart.html.
//
//   bash tools/with-swiftshader.sh node bench/coldStart.mjs [--runs=N] [--model=lstm|transformer|all]
//     [--modes=cold,warm] [--chromium]
//   (on a machine with a GPU: SEQGPU_USE_SYSTEM_VULKAN=1 node bench/coldStart.mjs)
//
// Models: the demo's SwiftShader presets (demo/params.ts, char LM, vocabulary 65):
//   lstm         SequenceModel LSTM 1×32, embedding 16, seqLen 16, batch 8, Adam, clipNorm 1
//   transformer  TransformerLM 1×32, 4 heads, feed-forward 128 (Trainer, Adam, clipGradNorm 1)
// Per process and mode: cold = the first forward (predict / lm.forward + read), then the first
// training step and a 20-token generate; warm = warmup (its own time and pipeline count), then the
// same three calls. Every time is wall clock until the result is read back. Prints a table of
// medians over --runs (default 3) and writes bench/results/coldStart-<node|chromium>-<date>.json.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createSsrServer } from './ssrServer.mjs';
import { launchChromium, runPage, startServer } from '../tools/chromium.mjs';

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? '1'];
  }),
);

if (args.has('child')) {
  const [model, mode] = args.get('child').split(':');
  console.log(`RESULT ${JSON.stringify(await child(model, mode))}`);
  process.exit(0);
} else {
  await parent();
}

async function child(model, mode) {
  const server = await createSsrServer();
  const { requestGpu } = await server.ssrLoadModule('/src/index.ts');
  const { coldStart } = await server.ssrLoadModule('/bench/coldStartCore.ts');
  const gpu = await requestGpu();
  const out = await coldStart(gpu, { model, mode });
  gpu.destroy();
  await server.close();
  return out;
}

/** One case in a new headless Chromium (a fresh profile: no pipeline cache from an earlier run). */
async function chromiumCase(url, model, mode) {
  const chromium = await launchChromium();
  try {
    const q = encodeURIComponent(JSON.stringify({ model, mode }));
    const r = await runPage(chromium.browser, `${url}/bench/coldStart.html?o=${q}`, '__seqgpuColdStart');
    if (r.error) throw new Error(r.error);
    return r;
  } finally {
    await chromium.close();
  }
}

async function parent() {
  const runs = Number(args.get('runs') ?? 3);
  const which = args.get('model') ?? 'all';
  const models = which === 'all' ? ['lstm', 'transformer'] : [which];
  const modes = (args.get('modes') ?? 'cold,warm').split(',');
  const self = fileURLToPath(import.meta.url);
  const chromium = args.has('chromium');
  const where = chromium ? 'chromium' : 'node';
  const server = chromium ? await startServer() : null;
  const results = [];
  for (const model of models) {
    for (let r = 0; r < runs; r++) {
      for (const mode of modes) {
        let res;
        if (server) res = await chromiumCase(server.url, model, mode);
        else {
          const p = spawnSync(process.execPath, [self, `--child=${model}:${mode}`], {
            encoding: 'utf8',
            env: process.env,
          });
          const line = p.stdout.split('\n').find((l) => l.startsWith('RESULT '));
          if (!line) throw new Error(`child ${model}:${mode} failed (${p.status}):\n${p.stdout}\n${p.stderr}`);
          res = JSON.parse(line.slice(7));
        }
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
  const each = chromium ? 'browser launch' : 'process';
  console.log(`\n${where}, adapter: ${JSON.stringify(results[0]?.adapter)}; medians over ${runs} ${each}(s), ms`);
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
  await server?.close();
  mkdirSync('bench/results', { recursive: true });
  const file = `bench/results/coldStart-${where}-${new Date().toISOString().slice(0, 10)}.json`;
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`wrote ${file}`);
}
