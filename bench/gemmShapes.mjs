// GEMM shapes of this engine (issue 19, item 8) in Node on Dawn: the GPU time (timestamp queries)
// of each GEMM kernel (src/kernels/matmulTile.ts) on square sizes and on the recurrent layers'
// products at B 32, T 100, I 128, H 256 (rows = T·B = 3200): the input projections x·W_ihᵀ + b
// (LSTM N = 4H, GRU N = 3H), the weight gradients dW_ih = dGatesᵀ·x and dW_hh = dGatesᵀ·h, and the
// input gradient dx = dGates·W_ih. Shapes and kernels are interleaved rep by rep (the same load on
// each); the table gives min / median ms, and GFLOP/s at the fastest and at the median run with
// each shape's GFLOP/s ÷ the best square's (same kernel, same statistic), and that ratio paired rep
// by rep with a bootstrap 95 % interval.
//
//   bash tools/with-swiftshader.sh node bench/gemmShapes.mjs [--reps=5]
//     [--variants=registers,subgroups,workgroup,registers@16x8] [--shapes=square,lstm,gru,dW_ih,dW_hh,dx]
//     [--square=512,1024] [--extra=3200x1024x4t+b,...] [--plan=lstm,gru] [--flags=dawn,toggles]
//   --extra: more products M×N×K, `t` for op(B) = Bᵀ, `+b` for a bias (e.g. the projection at other K).
//   --plan: the input GEMM dispatch of an LSTM / GRU layer's forward plan itself (same shape as lstm / gru).
//   (on a machine with a GPU: SEQGPU_USE_SYSTEM_VULKAN=1 node bench/gemmShapes.mjs)
// Loads the TypeScript sources through Vite's SSR loader (no build needed).
import { createSsrServer } from './ssrServer.mjs';

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, ...v] = a.replace(/^--/, '').split('='); // a value may hold '=' (--flags=key=value)
    return [k, v.length ? v.join('=') : '1'];
  }),
);
const reps = Number(args.get('reps') ?? 5);
const variants = (args.get('variants') ?? 'registers,subgroups,workgroup').split(',');
const want = new Set((args.get('shapes') ?? 'square,lstm,gru,dW_ih,dW_hh,dx').split(','));
const square = (args.get('square') ?? '512,1024').split(',').map(Number);
const flags = (args.get('flags') ?? 'disable-dawn-features=timestamp_quantization').split(',').filter(Boolean);

const [T, B, I, H] = [100, 32, 128, 256];
const rows = T * B;
// name, M, N, K, and transposeA / transposeB / bias where the engine's product has them.
const shapes = [
  ...(want.has('square') ? square.map((n) => ({ name: `square ${n}³`, M: n, N: n, K: n })) : []),
  ...(want.has('lstm') ? [{ name: 'LSTM x·W_ihᵀ + b', M: rows, N: 4 * H, K: I, transposeB: true, bias: true }] : []),
  // The LSTM projection with W_ih stored transposed ([I, 4H]): the same product, B read along N.
  ...(want.has('lstmN') ? [{ name: 'LSTM x·W_ih + b (W_ih as [I, 4H])', M: rows, N: 4 * H, K: I, bias: true }] : []),
  ...(want.has('gru') ? [{ name: 'GRU x·W_ihᵀ + b', M: rows, N: 3 * H, K: I, transposeB: true, bias: true }] : []),
  ...(want.has('dW_ih') ? [{ name: 'LSTM dW_ih = dGatesᵀ·x', M: 4 * H, N: I, K: rows, transposeA: true }] : []),
  ...(want.has('dW_hh') ? [{ name: 'LSTM dW_hh = dGatesᵀ·h', M: 4 * H, N: H, K: rows, transposeA: true }] : []),
  ...(want.has('dx') ? [{ name: 'LSTM dx = dGates·W_ih', M: rows, N: I, K: 4 * H }] : []),
  ...(args.get('extra') ?? '')
    .split(',')
    .filter(Boolean)
    .map((e) => {
      const [M, N, K] = e
        .match(/^(\d+)x(\d+)x(\d+)/)
        .slice(1)
        .map(Number);
      return { name: `extra ${e}`, M, N, K, transposeB: /t/.test(e.replace(/^[\dx]+/, '')), bias: e.endsWith('+b') };
    }),
];

const { create, globals } = await import('webgpu');
Object.assign(globalThis, globals);
const server = await createSsrServer();
const { requestGpu, Tensor, gemmDispatches, LSTM, GRU } = await server.ssrLoadModule('/src/index.ts');
const { bootstrapRatioCI } = await server.ssrLoadModule('/bench/stats.ts');
const gpu = await requestGpu({ gpu: create(flags) });
const profiler = gpu.createProfiler();
if (!profiler) throw new Error('this adapter has no timestamp-query: GPU times cannot be measured');
console.log(`adapter: ${JSON.stringify(gpu.adapterInfo)}; Dawn flags: ${flags.join(' ') || 'none'}; reps ${reps}`);

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const random = (n) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
// Every shape's operands up front, then rep by rep every shape and kernel in turn: a change of
// load on the machine (2 cores shared here) hits all of them alike.
const runs = shapes.map((s) => {
  const a = Tensor.from(gpu, random(s.M * s.K), [s.M * s.K]);
  const b = Tensor.from(gpu, random(s.K * s.N), [s.K * s.N]);
  const bias = Tensor.from(gpu, random(s.N), [s.N]);
  const c = Tensor.empty(gpu, [s.M * s.N]);
  const gemm = (variant) =>
    gemmDispatches(gpu, {
      M: s.M,
      N: s.N,
      K: s.K,
      a: { buffer: a.buffer, ld: s.transposeA ? s.M : s.K },
      b: { buffer: b.buffer, ld: s.transposeB ? s.K : s.N },
      c: { buffer: c.buffer, ld: s.N },
      bias: s.bias ? { buffer: bias.buffer } : undefined,
      transposeA: s.transposeA,
      transposeB: s.transposeB,
      // 'registers@16x8': the kernel with 16×8 threads (wgX × wgY); a bare name: its default tile.
      tile: (([name, size]) => ({
        variant: name,
        ...(size ? { wgX: Number(size.split('x')[0]), wgY: Number(size.split('x')[1]) } : {}),
      }))(variant.split('@')),
    });
  return { s, gemm, tensors: [a, b, bias, c], times: Object.fromEntries(variants.map((v) => [v, []])) };
});
// --plan: the input GEMM of an LSTM / GRU layer's own forward plan (its buffers, offsets and the kernel
// 'auto' chose there), timed next to the products above — the same dispatch for every variant column.
for (const cell of (args.get('plan') ?? '').split(',').filter(Boolean)) {
  const layer = new (cell === 'gru' ? GRU : LSTM)(gpu, { inputSize: I, hiddenSize: H });
  const x = Tensor.from(gpu, random(rows * I), [T, B, I]);
  for (const t of Object.values(layer.forward(x))) t?.destroy();
  const xproj = layer.plan(T, B, false).dispatches.filter((d) => /\.xproj$/.test(d.label));
  const G = cell === 'gru' ? 3 : 4;
  const s = { name: `${cell.toUpperCase()} plan's ${xproj.map((d) => d.label).join(' + ')}`, M: rows, N: G * H, K: I };
  Object.assign(s, { transposeB: true, bias: true });
  const times = Object.fromEntries(variants.map((v) => [v, []]));
  runs.push({ s, gemm: () => xproj, tensors: [x, { destroy: () => layer.destroy() }], times });
}
for (const r of runs) {
  for (const v of variants) {
    gpu.run(r.gemm(v)); // compiles the pipeline, warms the caches
    await gpu.sync();
  }
}
for (let rep = 0; rep < reps; rep++) {
  for (const r of runs) {
    for (const v of variants) {
      gpu.run(r.gemm(v), profiler);
      r.times[v].push((await profiler.read()).totalMs);
    }
  }
  console.error(`[gemm] rep ${rep + 1} of ${reps} done`);
}
const results = runs.map(({ s, tensors, times }) => {
  for (const t of tensors) t.destroy();
  const flops = 2 * s.M * s.N * s.K;
  const row = { ...s, flops, times, variants: {} };
  for (const v of variants) {
    const med = median(times[v]);
    const min = Math.min(...times[v]);
    row.variants[v] = { minMs: min, medianMs: med, gflops: flops / med / 1e6, gflopsBest: flops / min / 1e6 };
  }
  return row;
});
gpu.destroy();
await server.close();

// The best square of each kernel, at the median and at the fastest run.
const squares = results.filter((r) => r.name.startsWith('square'));
const best = (v, key) => Math.max(0, ...squares.map((r) => r.variants[v][key]));
// Paired: rep by rep, a shape's GFLOP/s ÷ the best square's (the square with the highest median GFLOP/s,
// timed next to it in the same rep, so a change of machine load cancels); the median of those ratios
// with a seeded percentile-bootstrap 95 % interval (reps resampled with replacement).
function pairedRatio(r, v) {
  const sq = squares.reduce((a, b) => (b.variants[v].gflops > a.variants[v].gflops ? b : a), squares[0]);
  const ratios = r.times[v].map((t, i) => r.flops / t / (sq.flops / sq.times[v][i]));
  // The median of the paired ratios, bootstrapped with bench/stats.ts's resampler (over 1: the
  // denominator's median is 1 in every resample).
  const { ratio, lo, hi } = bootstrapRatioCI(ratios, [1]);
  return `${ratio.toFixed(2)} [${lo.toFixed(2)}, ${hi.toFixed(2)}]`;
}
const head = [
  'shape',
  'M×N×K',
  ...variants.flatMap((v) => [
    `${v} ms min / median`,
    `${v} GFLOP/s at min / median (÷ best square's)`,
    ...(squares.length ? [`${v} ÷ best square, paired by rep [95 % CI]`] : []),
  ]),
];
const lines = [head];
for (const r of results) {
  const flags = `${r.transposeA ? ' Aᵀ' : ''}${r.transposeB ? ' Bᵀ' : ''}${r.bias ? ' +b' : ''}`;
  lines.push([
    r.name,
    `${r.M}×${r.N}×${r.K}${flags}`,
    ...variants.flatMap((v) => {
      const m = r.variants[v];
      const atMin = `${m.gflopsBest.toFixed(2)} (${(m.gflopsBest / best(v, 'gflopsBest')).toFixed(2)})`;
      const atMedian = `${m.gflops.toFixed(2)} (${(m.gflops / best(v, 'gflops')).toFixed(2)})`;
      const paired = squares.length ? [pairedRatio(r, v)] : [];
      return [`${m.minMs.toFixed(1)} / ${m.medianMs.toFixed(1)}`, `${atMin} / ${atMedian}`, ...paired];
    }),
  ]);
}
for (const [i, l] of lines.entries()) {
  console.log(`| ${l.join(' | ')} |`);
  if (i === 0) console.log(`|${l.map(() => '---').join('|')}|`);
}
process.exit();
