// Every GEMM kernel and workgroup shape (src/kernels/matmulTile.ts), forced, vs the float64
// reference (src/reference/matmul.ts) on odd shapes, batch 1, one row / column / K, transposes,
// views with offsets, padded rows and batch strides (aligned views take the registers kernel's
// unchecked vec4 loads, unaligned ones its checked loads), K not a multiple of 4, and the epilogue
// (bias, activation, residual, pre-activation, beta). Operand padding holds NaN, so a load outside
// a view shows up in the result; C's padding holds NaN too and must stay NaN (no stray store).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShapeError, Tensor, type Gpu } from '../../src/index.js';
import { gemmDispatches, type GemmActivation } from '../../src/kernels/matmul.js';
import { gemmTile, type GemmTile } from '../../src/kernels/matmulTile.js';
import { matmulRef, matmulErrorScale } from '../../src/reference/matmul.js';
import { rng, uniform, assertClose } from '../checks/util.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

/** |gpu − ref| ≤ 1e-4 · (Σₖ|aᵢₖ·bₖⱼ| + |bias| + |residual| + |beta·c0|), as test/checks/kernels.ts. */
const RTOL = 1e-4;

/** How an operand is stored: element offset, extra elements per row, batch broadcast. */
interface Layout {
  offset?: number;
  pad?: number;
  /** One matrix shared by every batch (batchStride 0). */
  shared?: boolean;
}

interface Case {
  M: number;
  N: number;
  K: number;
  batch?: number;
  transposeA?: boolean;
  transposeB?: boolean;
  a?: Layout;
  b?: Layout;
  c?: Layout;
  bias?: boolean;
  alpha?: number;
  beta?: number;
  activation?: GemmActivation;
  residual?: boolean;
  pre?: boolean;
  seed: number;
}

const CASES: Case[] = [
  { M: 1, N: 1, K: 1, seed: 1 },
  { M: 33, N: 65, K: 17, seed: 2 }, // odd everywhere: checked loads, K tail
  { M: 64, N: 128, K: 32, seed: 3 }, // aligned, whole tiles: unchecked vec4 loads
  { M: 100, N: 96, K: 128, transposeB: true, bias: true, seed: 4 }, // the input projection's layout
  { M: 36, N: 20, K: 40, transposeA: true, transposeB: true, seed: 5 }, // Aᵀ runs along M (M % 4 = 0)
  { M: 37, N: 20, K: 41, transposeA: true, seed: 6 }, // Aᵀ with M % 4 ≠ 0: checked A
  { M: 40, N: 24, K: 18, a: { pad: 2 }, b: { pad: 4 }, seed: 7 }, // aligned rows, K % 4 = 2: tail
  { M: 40, N: 22, K: 16, b: { pad: 2 }, seed: 8 }, // N % 4 ≠ 0 with B along N: checked B only
  { M: 9, N: 13, K: 21, batch: 3, a: { offset: 3, pad: 1 }, b: { offset: 5, shared: true }, seed: 9 }, // unaligned
  {
    M: 20,
    N: 12,
    K: 24,
    batch: 2,
    transposeA: true,
    a: { offset: 8, pad: 4 },
    b: { offset: 4, pad: 4 },
    c: { offset: 4, pad: 4 },
    seed: 10,
  },
  { M: 1, N: 300, K: 128, bias: true, seed: 11 }, // batch-1 step shape: one row
  { M: 300, N: 1, K: 129, transposeA: true, seed: 12 }, // one column
  { M: 70, N: 9, K: 13, batch: 2, transposeB: true, b: { shared: true }, alpha: 0.5, seed: 13 },
  { M: 31, N: 17, K: 66, bias: true, beta: 0.75, activation: 'gelu', residual: true, pre: true, seed: 14 },
  { M: 24, N: 32, K: 12, bias: true, activation: 'relu', residual: true, c: { pad: 4 }, seed: 15 },
  // Whole tiles for every tile below, K % 4 = 0: the epilogue without edge checks (EDGES off) and
  // no K tail (K_TAIL off), with every epilogue step.
  {
    M: 64,
    N: 64,
    K: 20,
    batch: 2,
    bias: true,
    beta: 0.5,
    activation: 'gelu',
    residual: true,
    pre: true,
    c: { pad: 4 },
    seed: 16,
  },
  // Whole tiles for the 'subgroups' kernel's default 128×32 tile too (and every tile below).
  { M: 128, N: 64, K: 16, transposeB: true, bias: true, seed: 17 },
];

const VARIANTS: GemmTile[] = [
  { variant: 'registers' },
  { variant: 'registers', wgX: 4, wgY: 4 },
  { variant: 'registers', wgX: 16, wgY: 2 },
  { variant: 'workgroup' },
  { variant: 'workgroup', wgX: 8, wgY: 4, tileK: 32 },
  { variant: 'subgroups' },
  { variant: 'subgroups', wgX: 4, wgY: 1 },
  { variant: 'subgroups', wgX: 16, wgY: 2 },
];

function tileName(t: GemmTile): string {
  return `${t.variant} ${t.wgX ?? '·'}×${t.wgY ?? '·'}${t.tileK ? ` k${t.tileK}` : ''}`;
}

function caseName(c: Case): string {
  const flags = [
    c.batch && `batch ${c.batch}`,
    c.transposeA && 'Aᵀ',
    c.transposeB && 'Bᵀ',
    c.a && `a ${JSON.stringify(c.a)}`,
    c.b && `b ${JSON.stringify(c.b)}`,
    c.c && `c ${JSON.stringify(c.c)}`,
    c.bias && 'bias',
    c.alpha !== undefined && `α ${c.alpha}`,
    c.beta !== undefined && `β ${c.beta}`,
    c.activation,
    c.residual && 'residual',
    c.pre && 'pre-activation',
  ].filter(Boolean);
  return `${c.M}×${c.N}×${c.K}${flags.length ? ` (${flags.join(', ')})` : ''}`;
}

/** A [batch?, rows, cols] matrix stored with `layout`: the buffer's contents (NaN outside the view). */
function place(dense: Float32Array, batch: number, rows: number, cols: number, layout: Layout = {}) {
  const offset = layout.offset ?? 0;
  const ld = cols + (layout.pad ?? 0);
  const batchStride = layout.shared ? 0 : rows * ld;
  const stored = layout.shared ? 1 : batch;
  const data = new Float32Array(offset + (stored - 1) * batchStride + rows * ld + 3).fill(NaN);
  for (let p = 0; p < stored; p++)
    for (let r = 0; r < rows; r++)
      for (let c = 0; c < cols; c++) data[offset + p * batchStride + r * ld + c] = dense[(p * rows + r) * cols + c];
  return { data, view: { offset, ld, batchStride } };
}

async function check(c: Case, tile: GemmTile): Promise<void> {
  const rand = rng(c.seed);
  const batch = c.batch ?? 1;
  const batchA = c.a?.shared ? 1 : batch;
  const batchB = c.b?.shared ? 1 : batch;
  const [ra, ca] = c.transposeA ? [c.K, c.M] : [c.M, c.K];
  const [rb, cb] = c.transposeB ? [c.N, c.K] : [c.K, c.N];
  const a = uniform(rand, batchA * ra * ca);
  const b = uniform(rand, batchB * rb * cb);
  const bias = c.bias ? uniform(rand, c.N) : undefined;
  const c0 = c.beta !== undefined ? uniform(rand, batch * c.M * c.N) : undefined;
  const residual = c.residual ? uniform(rand, batch * c.M * c.N) : undefined;
  const pa = place(a, batch, ra, ca, c.a);
  const pb = place(b, batch, rb, cb, c.b);
  const pc = place(c0 ?? new Float32Array(batch * c.M * c.N).fill(NaN), batch, c.M, c.N, c.c);
  // The pre-activation lives in C's buffer, after C's view, dense.
  const zOffset = pc.data.length;
  const cData = new Float32Array(zOffset + (c.pre ? batch * c.M * c.N : 0)).fill(NaN);
  cData.set(pc.data);
  const at = Tensor.from(gpu, pa.data, [pa.data.length]);
  const bt = Tensor.from(gpu, pb.data, [pb.data.length]);
  const ct = Tensor.from(gpu, cData, [cData.length]);
  const biasT = bias && Tensor.from(gpu, bias, [c.N]);
  const resT = residual && Tensor.from(gpu, residual, [residual.length]);
  gpu.run(
    gemmDispatches(gpu, {
      M: c.M,
      N: c.N,
      K: c.K,
      batch,
      a: { buffer: at.buffer, ...pa.view },
      b: { buffer: bt.buffer, ...pb.view },
      c: { buffer: ct.buffer, ...pc.view },
      bias: biasT && { buffer: biasT.buffer },
      transposeA: c.transposeA,
      transposeB: c.transposeB,
      alpha: c.alpha,
      beta: c.beta,
      activation: c.activation,
      residual: resT && { buffer: resT.buffer, ld: c.N, batchStride: c.M * c.N },
      preActivation: c.pre ? { offset: zOffset, ld: c.N, batchStride: c.M * c.N } : undefined,
      tile,
    }),
  );
  const out = await ct.read();
  for (const t of [at, bt, ct, biasT, resT]) t?.destroy();

  const dims = { M: c.M, N: c.N, K: c.K, batch, batchA, batchB };
  const t = { transposeA: c.transposeA, transposeB: c.transposeB, alpha: c.alpha };
  const want = matmulRef(a, b, dims, { ...t, bias, beta: c.beta, c0, activation: c.activation, residual });
  const scale = matmulErrorScale(a, b, dims, t).map(
    (s, i) =>
      s +
      (bias ? Math.abs(bias[i % c.N]) : 0) +
      (residual ? Math.abs(residual[i]) : 0) +
      (c0 ? Math.abs((c.beta ?? 0) * c0[i]) : 0) +
      1e-30,
  );
  const { offset, ld, batchStride } = pc.view;
  const got = new Float32Array(batch * c.M * c.N);
  for (let p = 0; p < batch; p++)
    for (let r = 0; r < c.M; r++)
      for (let j = 0; j < c.N; j++) got[(p * c.M + r) * c.N + j] = out[offset + p * batchStride + r * ld + j];
  assertClose(`C, ${tileName(tile)}`, got, want, { rtol: RTOL, scale });
  // Nothing written outside C's view (its padding and the slack after it stay NaN).
  const inView = new Set<number>();
  for (let p = 0; p < batch; p++)
    for (let r = 0; r < c.M; r++) for (let j = 0; j < c.N; j++) inView.add(offset + p * batchStride + r * ld + j);
  for (let i = 0; i < zOffset; i++) if (!inView.has(i)) expect(out[i], `C's padding at ${i}`).toBeNaN();
  if (c.pre) {
    const z = matmulRef(a, b, dims, { ...t, bias });
    assertClose(`pre-activation, ${tileName(tile)}`, out.subarray(zOffset), z, { rtol: RTOL, scale });
  }
}

describe('GEMM kernels, each forced, vs float64', () => {
  for (const tile of VARIANTS) {
    describe(tileName(tile), () => {
      for (const c of CASES) it(caseName(c), () => check(c, tile));
    });
  }
});

describe('GEMM kernel choice', () => {
  const args = (tile?: GemmTile) => {
    const a = gpu.pool.acquire(64 * 4, GPUBufferUsage.STORAGE, 'test.a');
    const c = gpu.pool.acquire(64 * 4, GPUBufferUsage.STORAGE, 'test.c');
    return {
      M: 8,
      N: 8,
      K: 8,
      a: { buffer: a, ld: 8 },
      b: { buffer: a, ld: 8 },
      c: { buffer: c, ld: 8 },
      tile,
      release: () => [a, c].forEach((x) => gpu.pool.release(x)),
    };
  };
  const pipelineOf = (tile?: GemmTile): string => {
    const x = args(tile);
    const list = gemmDispatches(gpu, x);
    for (const d of list) for (const u of d.transient ?? []) gpu.pool.release(u);
    x.release();
    return list[0].pipeline.label;
  };

  it('picks the barrier-free kernels on a software adapter, workgroup tiles elsewhere', () => {
    const none = { subgroups: false };
    const software = {
      limits: gpu.limits,
      software: true,
      tuning: { gemmVariant: 'auto' as const },
      features: none,
      adapterInfo: { subgroupMinSize: 0, subgroupMaxSize: 0 },
    };
    const hardware = { ...software, software: false };
    expect(gemmTile(software, undefined, 't')).toEqual({ variant: 'registers', wgX: 8, wgY: 8, tileK: 16 });
    expect(gemmTile(hardware, undefined, 't')).toEqual({ variant: 'workgroup', wgX: 16, wgY: 16, tileK: 16 });
    expect(gemmTile(hardware, { wgY: 4 }, 't')).toEqual({ variant: 'workgroup', wgX: 16, wgY: 4, tileK: 16 });
    const forced = { ...hardware, tuning: { ...hardware.tuning, gemmVariant: 'registers' as const } };
    expect(gemmTile(forced, undefined, 't').variant).toBe('registers');
    expect(gemmTile(forced, { variant: 'workgroup' }, 't').variant).toBe('workgroup');
    // Subgroups of exactly 4: 'subgroups' (a 128×32 tile) where its padding costs less than its
    // SUBGROUPS_GAIN (1.6) saves over 'registers' (a 32×32 tile).
    const quads = {
      ...software,
      features: { subgroups: true },
      adapterInfo: { subgroupMinSize: 4, subgroupMaxSize: 4 },
    };
    const pick = (M: number, N: number) => gemmTile(quads, undefined, 't', { M, N }).variant;
    expect(gemmTile(quads, undefined, 't')).toEqual({ variant: 'subgroups', wgX: 8, wgY: 4, tileK: 16 });
    expect(pick(3200, 1024)).toBe('subgroups');
    expect(pick(100, 64)).toBe('subgroups'); // 128 rows either way
    expect(pick(64, 64)).toBe('registers'); // 128 rows ÷ 1.6 = 80 > 64
    expect(pick(1, 1024)).toBe('registers'); // one row (batch-1 steps)
    expect(gemmTile(quads, { wgX: 1, wgY: 1 }, 't', { M: 3200, N: 1024 }).variant).toBe('registers'); // 4×4 a thread
    expect(gemmTile({ ...hardware, ...quads, software: false }, undefined, 't').variant).toBe('workgroup');
    // Subgroups that may be wider than 4, or none: never 'subgroups', and forcing it is refused.
    const wide = { ...quads, adapterInfo: { subgroupMinSize: 4, subgroupMaxSize: 32 } };
    expect(gemmTile(wide, undefined, 't', { M: 3200, N: 1024 }).variant).toBe('registers');
    expect(() => gemmTile(wide, { variant: 'subgroups' }, 't')).toThrow(/subgroups of 4–32 invocations/);
    expect(() => gemmTile(software, { variant: 'subgroups' }, 't')).toThrow(/this device has no subgroups/);
    expect(gpu.software).toBe(true); // SwiftShader in CI
    expect(gpu.features.subgroups && gpu.adapterInfo.subgroupMaxSize).toBe(4); // so 'subgroups' runs above
  });

  it('gpu.tuning.gemmVariant forces the kernel of later products; aligned views load unchecked', () => {
    try {
      expect(pipelineOf()).toMatch(/^matmul_registers\.wgsl\|.*FAST_A=true,FAST_B=true/);
      gpu.tuning.gemmVariant = 'workgroup';
      expect(pipelineOf()).toMatch(/^matmul\.wgsl\|/);
      expect(pipelineOf({ variant: 'registers' })).toMatch(/^matmul_registers\.wgsl\|/);
      gpu.tuning.gemmVariant = 'subgroups';
      expect(pipelineOf()).toMatch(/^matmul_subgroups\.wgsl\|.*FAST_A=true,FAST_B=true/);
    } finally {
      gpu.tuning.gemmVariant = 'auto';
    }
    expect(pipelineOf()).toMatch(/^matmul_registers\.wgsl\|/);
  });

  it('refuses an unknown variant or a tile the device cannot run, before any GPU work', () => {
    const bad: GemmTile[] = [
      { variant: 'tiled' as never },
      { variant: 'registers', wgX: 32, wgY: 32 },
      { variant: 'workgroup', tileK: 6 },
      { variant: 'workgroup', wgX: 16, wgY: 16, tileK: 128 }, // 64 KiB of workgroup memory
      { variant: 'registers', wgX: 0 },
      { variant: 'subgroups', wgX: 6, wgY: 2 }, // a quad per 4 threads along x
    ];
    for (const tile of bad) {
      const x = args(tile);
      const before = gpu.pool.stats.inUse;
      expect(() => gemmDispatches(gpu, x), JSON.stringify(tile)).toThrow(ShapeError);
      expect(gpu.pool.stats.inUse).toBe(before);
      x.release();
    }
    const x = args({ variant: 'nope' as never });
    expect(() => gemmDispatches(gpu, x)).toThrow(
      /unknown GEMM variant 'nope'; use 'workgroup', 'registers' or 'subgroups'/,
    );
    x.release();
  });
});
