// Step overhead (issue 19, item 7) in Node on Dawn: bench/stepOverheadCore.ts's measurement (a
// SequenceModel.trainStep vs the bare forward + backward of the same plan, and a profile).
//
//   bash tools/with-swiftshader.sh node bench/stepOverhead.mjs [--steps=7] [--warmup=2] [--profile=2]
//     [--cell=lstm|gru] [--seq-len=256] [--batch=8] [--hidden=64] [--clip-norm=X] [--no-guard] [--chromium]
//     [--reduction-width=N] (forces gpu.tuning.reductionWidth: 256 gives the GPU's reductions on SwiftShader)
//   (on a machine with a GPU: SEQGPU_USE_SYSTEM_VULKAN=1 node bench/stepOverhead.mjs)
//
// --chromium runs the same code in headless Chromium (bench/stepOverhead.html) instead.
// Loads the TypeScript sources through Vite's SSR loader (no build needed).
import { createServer } from 'vite';
import { wgslReflectPlugin } from '../tools/wgsl-reflect.mjs';
import { launchChromium, runPage, startServer } from '../tools/chromium.mjs';

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? '1'];
  }),
);
const opts = {
  cell: args.get('cell') ?? 'lstm',
  seqLen: Number(args.get('seq-len') ?? 256),
  batch: Number(args.get('batch') ?? 8),
  hidden: Number(args.get('hidden') ?? 64),
  steps: Number(args.get('steps') ?? 7),
  warmup: Number(args.get('warmup') ?? 2),
  profile: Number(args.get('profile') ?? 2),
  clipNorm: args.has('clip-norm') ? Number(args.get('clip-norm')) : undefined,
  guard: !args.has('no-guard'),
  reductionWidth: args.has('reduction-width') ? Number(args.get('reduction-width')) : undefined,
};

if (args.has('chromium')) {
  const server = await startServer();
  const chromium = await launchChromium();
  try {
    const q = encodeURIComponent(JSON.stringify(opts));
    const r = await runPage(chromium.browser, `${server.url}/bench/stepOverhead.html?o=${q}`, '__seqgpuStepOverhead');
    if (r.error) throw new Error(r.error);
    console.log(['chromium', ...r.lines].join('\n'));
  } finally {
    await chromium.close();
    await server.close();
  }
} else {
  // Kernels are reflected at build time by seqgpu's Vite plugin (when this checkout has it).
  const plugins = [];
  try {
    const { wgslReflectPlugin } = await import('../tools/wgsl-reflect.mjs');
    plugins.push(wgslReflectPlugin());
  } catch {
    // an older checkout: kernels reflect themselves at run time
  }
  const server = await createServer({
    configFile: false,
    plugins,
    root: process.cwd(),
    logLevel: 'warn',
    appType: 'custom',
    server: { middlewareMode: true, hmr: false, ws: false },
    optimizeDeps: { noDiscovery: true, include: [] },
  });
  const { requestGpu } = await server.ssrLoadModule('/src/index.ts');
  const { stepOverhead } = await server.ssrLoadModule('/bench/stepOverheadCore.ts');
  const gpu = await requestGpu();
  console.log(['node (Dawn)', ...(await stepOverhead(gpu, opts))].join('\n'));
  gpu.destroy();
  await server.close();
}
