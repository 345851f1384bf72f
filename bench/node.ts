// The benchmark suite in Node on Dawn's WebGPU (npm 'webgpu'), for machines with a GPU and no
// browser: the same rows as the page, with the peers loaded in the same process on the same
// adapter (TensorFlow.js WebGPU and onnxruntime-web WebGPU find it through navigator.gpu).
//   npm run bench:node [-- --filter=REGEX --reps=N --peer-reps=N --full --flags=a,b --check --ort=0 --tf=0 --tiles=1
//   --smoke --transformer-t=128,512 --kernels=step,persistent,wavefront --layers=1,3 --packed=both|0|1
//   --gpu-reps=N --steps-per-pair=N --seq-len=N --input-size=N --hidden=256 --batch=1,32]
// --check first runs the kernel and recurrent-layer checks of the test suite (test/checks/, float64
// references and PyTorch fixtures) on this adapter and exits non-zero if one fails.
// SEQGPU_USE_SYSTEM_VULKAN=1 uses the machine's Vulkan driver instead of SwiftShader.
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { create, globals } from 'webgpu';
import { requestGpu } from '../src/index.js';
import { benchOptions, runSuite } from './suite.js';
import { loadTfWebgpu } from './tf.js';
import { loadOrtWebgpu } from './ort.js';
import { printReport, writeReport } from './report.mjs';
import type { BenchReport } from './stats.js';
import { kernelChecks } from '../test/checks/kernels.js';
import { recurrentChecks } from '../test/checks/recurrent.js';
import { recurrentGradChecks } from '../test/checks/recurrentGrad.js';
import { trainingChecks } from '../test/checks/training.js';
import { modelGradChecks } from '../test/checks/modelGrad.js';
import { attentionChecks } from '../test/checks/attention.js';
import { multiHeadAttentionChecks } from '../test/checks/multiHeadAttention.js';
import { rnnAttentionChecks } from '../test/checks/rnnAttention.js';
import { decodeChecks } from '../test/checks/decode.js';
import { seq2seqChecks } from '../test/checks/seq2seq.js';
import { nanGuardChecks } from '../test/checks/nanGuard.js';

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    // --peer-reps → peerReps, --transformer-t → transformerT, as the page's query keys.
    const key = k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    return [key, v ?? '1'] as [string, string];
  }),
);
const options = benchOptions((k) => args.get(k) ?? null);

// One Dawn instance for seqgpu and the peers, exposed the way a browser does.
Object.assign(globalThis, globals);
// Default Dawn toggle: unquantized timestamps (Chromium's --enable-webgpu-developer-features).
const flags = (args.get('flags') ?? 'disable-dawn-features=timestamp_quantization').split(',').filter(Boolean);
const gpuApi = create(flags);
Object.defineProperty(globalThis, 'navigator', {
  value: { gpu: gpuApi, userAgent: `node ${process.version}` },
  configurable: true,
  writable: true,
});

const report: BenchReport = {
  date: new Date().toISOString(),
  runtime: 'node-dawn',
  userAgent: `node ${process.version}`,
  adapter: null,
  features: null,
  options,
  rows: [],
};
const gpu = await requestGpu({ gpu: gpuApi });
report.adapter = gpu.adapterInfo;
report.features = gpu.features;
if (args.has('check')) {
  let failed = 0;
  const checks = [
    ...kernelChecks,
    ...recurrentChecks,
    ...recurrentGradChecks,
    ...trainingChecks,
    ...modelGradChecks,
    ...attentionChecks,
    ...multiHeadAttentionChecks,
    ...rnnAttentionChecks,
    ...decodeChecks,
    ...seq2seqChecks,
    ...nanGuardChecks,
  ];
  for (const check of checks) {
    try {
      await check.run(gpu);
      await gpu.sync();
    } catch (e) {
      failed++;
      console.log(`FAIL ${check.name}: ${(e as Error).message}`);
    }
  }
  console.log(`checks on ${JSON.stringify(gpu.adapterInfo)}: ${checks.length - failed} passed, ${failed} failed`);
  if (failed) process.exitCode = 1;
}
const ortDist = pathToFileURL(resolve(args.get('ort-dist') ?? 'node_modules/onnxruntime-web/dist')).href + '/';
try {
  // --ort=0 skips onnxruntime-web: its WebGPU EP (ort.webgpu.min.mjs, 1.30) fails under Dawn's Node
  // bindings with "Invalid argument" at the first run, even for a single Relu; the JSEP build
  // (ort.all.min.mjs) runs in Node but has no WebGPU LSTM/GRU kernels. It is measured in Chromium.
  const ort =
    args.get('ort') === '0'
      ? async () => ({ error: 'not run in Node (--ort=0): measure onnxruntime-web in Chromium (npm run bench)' })
      : () => loadOrtWebgpu(ortDist);
  const tf = args.get('tf') === '0' ? async () => ({ error: 'not run (--tf=0)' }) : loadTfWebgpu;
  report.rows = await runSuite(gpu, options, { tf, ort }, (m) => console.error(`[bench] ${m}`));
} catch (e) {
  report.error = String((e as Error).stack ?? e);
  console.error(`bench failed: ${report.error}`);
  process.exitCode = 1;
}
gpu.destroy();
printReport(report);
console.log(`\nwrote ${await writeReport(report, args.get('out') ?? 'bench/results')}`);
process.exit();
