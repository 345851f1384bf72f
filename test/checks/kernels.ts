// Kernel checks against the float64 references. The same list runs in Node (test/node) and in
// headless Chromium (test/browser); each check throws on failure.
import type { Gpu } from '../../src/gpu/device.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { matmul } from '../../src/kernels/matmul.js';
import { softmax } from '../../src/kernels/softmax.js';
import { add, mul, scale, sigmoid, tanh, relu, tanhGrad } from '../../src/kernels/elementwise.js';
import { biasAct, type Activation } from '../../src/kernels/biasAct.js';
import { columnSumDispatch } from '../../src/kernels/columnSum.js';
import { columnSumRef } from '../../src/reference/columnSum.js';
import { matmulRef, matmulErrorScale } from '../../src/reference/matmul.js';
import { softmaxRef } from '../../src/reference/softmax.js';
import {
  addRef,
  mulRef,
  scaleRef,
  mapRef,
  sigmoidRef,
  tanhRef,
  reluRef,
  biasActRef,
  tanhGradRef,
} from '../../src/reference/elementwise.js';
import { rng, uniform, randInt, assertClose, assert } from './util.js';

export interface Check {
  name: string;
  run(gpu: Gpu): Promise<void>;
}

/** Matmul tolerance: |gpu − ref| ≤ 1e-4 · Σₖ|aᵢₖ·bₖⱼ| (relative, scaled by the K-term dot product). */
const MATMUL_RTOL = 1e-4;

interface MatmulCase {
  M: number;
  N: number;
  K: number;
  batchA?: number;
  batchB?: number;
  transposeA?: boolean;
  transposeB?: boolean;
  bias?: boolean;
  alpha?: number;
  beta?: number;
  seed: number;
}

function matmulName(c: MatmulCase): string {
  const flags = [
    c.transposeA && 'Aᵀ',
    c.transposeB && 'Bᵀ',
    c.bias && 'bias',
    c.alpha !== undefined && `α=${c.alpha}`,
    c.beta !== undefined && `β=${c.beta}`,
    (c.batchA ?? 1) > 1 || (c.batchB ?? 1) > 1 ? `batch ${c.batchA ?? 1}/${c.batchB ?? 1}` : '',
  ].filter(Boolean);
  return `matmul ${c.M}×${c.N}×${c.K}${flags.length ? ` (${flags.join(', ')})` : ''}`;
}

async function checkMatmul(gpu: Gpu, c: MatmulCase): Promise<void> {
  const rand = rng(c.seed);
  const batchA = c.batchA ?? 1;
  const batchB = c.batchB ?? 1;
  const batch = Math.max(batchA, batchB);
  const a = uniform(rand, batchA * c.M * c.K);
  const b = uniform(rand, batchB * c.K * c.N);
  const aShape = c.transposeA ? [c.K, c.M] : [c.M, c.K];
  const bShape = c.transposeB ? [c.N, c.K] : [c.K, c.N];
  const at = Tensor.from(gpu, a, batchA > 1 ? [batchA, ...aShape] : aShape);
  const bt = Tensor.from(gpu, b, batchB > 1 ? [batchB, ...bShape] : bShape);
  const bias = c.bias ? uniform(rand, c.N) : undefined;
  const biasT = bias && Tensor.from(gpu, bias, [c.N]);
  const outShape = batch > 1 ? [batch, c.M, c.N] : [c.M, c.N];
  const c0 = c.beta !== undefined ? uniform(rand, batch * c.M * c.N) : undefined;
  const out = c0 ? Tensor.from(gpu, c0, outShape) : undefined;
  const ct = matmul(gpu, at, bt, {
    transposeA: c.transposeA,
    transposeB: c.transposeB,
    bias: biasT,
    alpha: c.alpha,
    beta: c.beta,
    out,
  });
  const got = await ct.read();
  const dims = { M: c.M, N: c.N, K: c.K, batch, batchA, batchB };
  const want = matmulRef(a, b, dims, { ...c, bias, c0 });
  const scale = matmulErrorScale(a, b, dims, c);
  // Bias and accumulated terms add O(1) magnitudes: include them in the scale.
  for (let i = 0; i < scale.length; i++)
    scale[i] += (bias ? Math.abs(bias[i % c.N]) : 0) + (c0 ? Math.abs((c.beta ?? 0) * c0[i]) : 0) + 1e-30;
  assert(ct.shape.join() === outShape.join(), `output shape ${ct.shape} != ${outShape}`);
  assertClose(matmulName(c), got, want, { rtol: MATMUL_RTOL, scale });
  for (const t of [at, bt, biasT, ct]) t?.destroy();
}

function matmulCases(): MatmulCase[] {
  const cases: MatmulCase[] = [
    { M: 1, N: 1, K: 1, seed: 1 },
    { M: 33, N: 65, K: 17, seed: 2 },
    { M: 257, N: 129, K: 511, seed: 3 },
    { M: 64, N: 128, K: 32, seed: 4 }, // aligned: vec4 loads, whole tiles
    { M: 33, N: 65, K: 17, transposeA: true, seed: 5 },
    { M: 33, N: 65, K: 17, transposeB: true, seed: 6 },
    { M: 48, N: 20, K: 36, transposeA: true, transposeB: true, seed: 7 }, // aligned transposes
    { M: 5, N: 7, K: 3, batchA: 3, batchB: 3, seed: 8 },
    { M: 9, N: 70, K: 13, batchA: 1, batchB: 4, bias: true, seed: 9 },
    { M: 70, N: 9, K: 13, batchA: 4, batchB: 1, transposeB: true, seed: 10 },
    { M: 31, N: 17, K: 66, bias: true, alpha: 0.5, beta: 1, seed: 11 },
    { M: 1, N: 300, K: 128, bias: true, seed: 12 }, // batch-1 step shape: one row
    { M: 300, N: 1, K: 129, seed: 13 },
  ];
  // Random odd shapes from a fixed seed.
  const rand = rng(2024);
  for (let i = 0; i < 6; i++) {
    cases.push({
      M: randInt(rand, 1, 150),
      N: randInt(rand, 1, 150),
      K: randInt(rand, 1, 200),
      transposeA: rand() < 0.5,
      transposeB: rand() < 0.5,
      bias: rand() < 0.5,
      batchA: rand() < 0.3 ? 2 : 1,
      batchB: 1,
      seed: 100 + i,
    });
  }
  return cases;
}

async function checkSoftmax(gpu: Gpu, rows: number, cols: number, amplitude: number, seed: number): Promise<void> {
  const x = uniform(rng(seed), rows * cols, -amplitude, amplitude);
  const xt = Tensor.from(gpu, x, [rows, cols]);
  const yt = softmax(gpu, xt);
  const y = await yt.read();
  const want = softmaxRef(x, cols);
  assertClose(`softmax ${rows}×${cols} ±${amplitude}`, y, want, { rtol: 1e-4, atol: 1e-7 });
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < cols; j++) s += y[r * cols + j];
    assert(Math.abs(s - 1) <= 1e-6, `softmax ${rows}×${cols} ±${amplitude}: row ${r} sums to ${s}, not 1 within 1e-6`);
  }
  xt.destroy();
  yt.destroy();
}

const EW_TOL = { rtol: 1e-4, atol: 1e-6 };

async function checkElementwise(gpu: Gpu, n: number, amplitude: number, seed: number): Promise<void> {
  const rand = rng(seed);
  const x = uniform(rand, n, -amplitude, amplitude);
  const b = uniform(rand, n, -amplitude, amplitude);
  const xt = Tensor.from(gpu, x, [n]);
  const bt = Tensor.from(gpu, b, [n]);
  const cases: Array<[string, Tensor, Float64Array]> = [
    ['add', add(gpu, xt, bt), addRef(x, b)],
    ['mul', mul(gpu, xt, bt), mulRef(x, b)],
    ['scale', scale(gpu, xt, -0.75), scaleRef(x, -0.75)],
    ['sigmoid', sigmoid(gpu, xt), mapRef(x, sigmoidRef)],
    ['tanh', tanh(gpu, xt), mapRef(x, tanhRef)],
    ['relu', relu(gpu, xt), mapRef(x, reluRef)],
    ['tanhGrad', tanhGrad(gpu, xt, bt), tanhGradRef(x, b)],
  ];
  for (const [op, t, want] of cases) {
    assertClose(`${op} n=${n} ±${amplitude}`, await t.read(), want, EW_TOL);
    t.destroy();
  }
  xt.destroy();
  bt.destroy();
}

async function checkBiasAct(gpu: Gpu, rows: number, cols: number, act: Activation, seed: number): Promise<void> {
  const rand = rng(seed);
  const x = uniform(rand, rows * cols, -4, 4);
  const b = uniform(rand, cols, -2, 2);
  const xt = Tensor.from(gpu, x, [rows, cols]);
  const bt = Tensor.from(gpu, b, [cols]);
  const yt = biasAct(gpu, xt, bt, act);
  assertClose(`biasAct ${act} ${rows}×${cols}`, await yt.read(), biasActRef(x, b, act), EW_TOL);
  for (const t of [xt, bt, yt]) t.destroy();
}

/** Column sums (bias gradients) vs float64: 1e-5 of Σ|x| per column (the f32 sum's error bound). */
async function checkColumnSum(
  gpu: Gpu,
  rows: number,
  cols: number,
  ld: number,
  offset: number,
  seed: number,
): Promise<void> {
  const rand = rng(seed);
  const x = uniform(rand, offset + (rows - 1) * ld + cols, -1, 1);
  const xt = Tensor.from(gpu, x, [x.length]);
  const y = Tensor.zeros(gpu, [cols + 3]);
  gpu.run([
    columnSumDispatch(gpu, { rows, cols, x: { buffer: xt.buffer, offset, ld }, y: { buffer: y.buffer, offset: 3 } }),
  ]);
  const got = (await y.read()).subarray(3);
  const abs = Float64Array.from(x, Math.abs);
  assertClose(`columnSum ${rows}×${cols} ld ${ld}`, got, columnSumRef(x, rows, cols, ld, offset), {
    rtol: 1e-5,
    scale: columnSumRef(abs, rows, cols, ld, offset),
  });
  for (const t of [xt, y]) t.destroy();
}

export const kernelChecks: Check[] = [
  ...matmulCases().map((c) => ({ name: matmulName(c), run: (gpu: Gpu) => checkMatmul(gpu, c) })),
  ...(
    [
      [1, 1, 3],
      [3, 7, 3],
      [5, 64, 8],
      [4, 257, 8],
      [2, 3000, 8],
      [3, 100, 1e4],
      [7, 1000, 1e4],
      [300, 33, 30],
    ] as const
  ).map(([rows, cols, amp], i) => ({
    name: `softmax ${rows}×${cols} ±${amp}`,
    run: (gpu: Gpu) => checkSoftmax(gpu, rows, cols, amp, 50 + i),
  })),
  { name: 'elementwise n=1', run: (gpu) => checkElementwise(gpu, 1, 3, 60) },
  { name: 'elementwise n=1000 ±6', run: (gpu) => checkElementwise(gpu, 1000, 6, 61) },
  { name: 'elementwise n=4099 ±1e4 (saturation)', run: (gpu) => checkElementwise(gpu, 4099, 1e4, 62) },
  ...(['identity', 'sigmoid', 'tanh', 'relu'] as const).map((act, i) => ({
    name: `biasAct ${act} 37×19`,
    run: (gpu: Gpu) => checkBiasAct(gpu, 37, 19, act, 70 + i),
  })),
  ...(
    [
      [1, 1, 1, 0],
      [7, 33, 40, 5],
      [1000, 130, 131, 2],
      [3, 1027, 4096, 64],
    ] as const
  ).map(([rows, cols, ld, offset], i) => ({
    name: `columnSum ${rows}×${cols} (ld ${ld}, offset ${offset})`,
    run: (gpu: Gpu) => checkColumnSum(gpu, rows, cols, ld, offset, 80 + i),
  })),
];
