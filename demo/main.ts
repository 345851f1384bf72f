// Matmul playground: every option of the kernel is live in a tweakpane panel.
import { Pane } from 'tweakpane';
import { requestGpu, Tensor, matmul, gemmDispatches, type Gpu } from '../src/index.js';
import { matmulRef, matmulErrorScale } from '../src/reference/matmul.js';

const params = { M: 257, N: 129, K: 511, transposeA: false, transposeB: false, bias: false, checkOnCpu: true };
const status = document.getElementById('status')!;
const tbody = document.querySelector('#results tbody')!;
let runs = 0;

function rand(n: number): Float32Array {
  return Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
}

async function run(gpu: Gpu): Promise<void> {
  const { M, N, K } = params;
  const a = rand(M * K);
  const b = rand(K * N);
  const bias = params.bias ? rand(N) : undefined;
  const at = Tensor.from(gpu, a, params.transposeA ? [K, M] : [M, K]);
  const bt = Tensor.from(gpu, b, params.transposeB ? [N, K] : [K, N]);
  const biasT = bias && Tensor.from(gpu, bias, [N]);
  const t0 = performance.now();
  const ct = matmul(gpu, at, bt, { transposeA: params.transposeA, transposeB: params.transposeB, bias: biasT });
  const c = await ct.read();
  const wall = performance.now() - t0;
  let gpuMs: number | undefined;
  const profiler = gpu.createProfiler();
  if (profiler) {
    gpu.run(
      gemmDispatches(gpu, {
        M, N, K, transposeA: params.transposeA, transposeB: params.transposeB,
        a: { buffer: at.buffer, ld: params.transposeA ? M : K },
        b: { buffer: bt.buffer, ld: params.transposeB ? K : N },
        c: { buffer: ct.buffer, ld: N },
        bias: biasT && { buffer: biasT.buffer },
      }),
      profiler,
    );
    gpuMs = (await profiler.read()).totalMs;
    profiler.destroy();
  }
  let err = '—';
  if (params.checkOnCpu && M * N * K <= 5e8) {
    const opts = { transposeA: params.transposeA, transposeB: params.transposeB, bias };
    const want = matmulRef(a, b, { M, N, K }, opts);
    const scale = matmulErrorScale(a, b, { M, N, K }, opts);
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(c[i] - want[i]) / (scale[i] + (bias ? Math.abs(bias[i % N]) : 0) + 1e-30));
    err = worst.toExponential(2);
  }
  for (const t of [at, bt, biasT, ct]) t?.destroy();
  const row = document.createElement('tr');
  const flops = 2 * M * N * K;
  const ms = gpuMs ?? wall;
  row.innerHTML = `<td>${++runs}</td><td>${M}×${N}×${K}${params.transposeA ? ' Aᵀ' : ''}${params.transposeB ? ' Bᵀ' : ''}${params.bias ? ' +bias' : ''}</td>` +
    `<td>${gpuMs?.toFixed(3) ?? '—'}</td><td>${wall.toFixed(1)}</td><td>${(flops / ms / 1e6).toFixed(2)}</td><td>${err}</td>`;
  tbody.prepend(row);
}

async function main(): Promise<void> {
  const gpu = await requestGpu();
  const info = gpu.adapterInfo;
  status.textContent = `adapter: ${info.vendor} ${info.architecture} ${info.description}${info.isFallbackAdapter ? ' (software fallback)' : ''}; timestamp queries: ${gpu.features.timestampQuery ? 'yes' : 'no'}`;
  const pane = new Pane({ title: 'matmul', container: document.getElementById('panel')! });
  for (const k of ['M', 'N', 'K'] as const) pane.addBinding(params, k, { min: 1, max: 2048, step: 1 });
  pane.addBinding(params, 'transposeA');
  pane.addBinding(params, 'transposeB');
  pane.addBinding(params, 'bias');
  pane.addBinding(params, 'checkOnCpu', { label: 'check vs float64' });
  const button = pane.addButton({ title: 'Run' });
  let busy = false;
  button.on('click', async () => {
    if (busy) return;
    busy = true;
    try {
      await run(gpu);
    } catch (e) {
      status.innerHTML = `<span class="err">${(e as Error).message}</span>`;
    } finally {
      busy = false;
    }
  });
  await run(gpu);
}

main().catch((e) => {
  status.innerHTML = `<span class="err">${(e as Error).message}</span>`;
});
