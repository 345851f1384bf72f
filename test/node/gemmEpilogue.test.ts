// The GEMM's fused epilogue (shaders/matmul.wgsl ACT, HAS_RESIDUAL, STORE_PRE; issue 18 item 3):
//   Z = alpha·op(A)·op(B) + bias,  C = act(Z) + R (+ beta·C),  act ∈ identity, relu, gelu, gelu_tanh
// vs the float64 references (src/reference/matmul.ts, src/reference/linear.ts), the graph op
// linearActValue (forward + backward through recordStep) and Linear.forward(x, {activation, residual})
// (gradients after one Trainer step, dispatch counts). Node + Dawn on SwiftShader.
//
// Tolerances (|got − want| ≤ atol + rtol · scale):
//   forward  rtol 1e-4, atol 1e-6, scale = 1.2·(Σₖ|a||b| + |bias|) + |R| (+ |beta·C0|)   (|act'| ≤ 1.2)
//   gradients rtol 1e-3 of Σ|terms| of each product (dX: Σ|dz||W|, dW: Σ|dz||x|, db: Σ|dz|, dR: |dy|)
//   reference backward vs central differences (eps 1e-6) of the reference forward: 1e-7 of Σ|terms|.
// Outputs live at offsets with row strides > N inside buffers filled with sentinels that must survive.
// Every comparison kind has a "wrong reference" twin that must be rejected.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArgumentError, F, Linear, Module, ShapeError, Tensor, Trainer, type Gpu } from '../../src/index.js';
import { TENSOR_USAGE } from '../../src/gpu/flags.js';
import { gemmDispatches, type GemmActivation } from '../../src/kernels/matmul.js';
import { matmulErrorScale, matmulRef } from '../../src/reference/matmul.js';
import {
  epilogueActDerivRef,
  linearActBackwardRef,
  linearActRef,
  type EpilogueActivation,
} from '../../src/reference/linear.js';
import { linearActValue } from '../../src/graph/ops/linear.js';
import { recordForward, recordStep } from '../../src/graph/recordStep.js';
import type { Value } from '../../src/graph/graph.js';
import { rng, uniform, assertClose, CheckFailure } from '../checks/util.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

const ACTS: GemmActivation[] = ['identity', 'relu', 'gelu', 'gelu_tanh'];
const SENTINEL = -12345.5;
type Tol = Parameters<typeof assertClose>[3];

/** The largest error seen, as a fraction of its allowance (reported at the end). */
const worst: Record<string, number> = {};
/** The largest absolute error seen. */
const maxErr: Record<string, number> = {};
afterAll(() => {
  console.log('gemmEpilogue worst |err| / allowance:', worst, 'max |err|:', maxErr);
});

/** assertClose, plus a twin comparison against a perturbed reference that must fail. */
function expectClose(kind: string, what: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: Tol): void {
  const r = assertClose(what, got, want, tol);
  worst[kind] = Math.max(worst[kind] ?? 0, r.worst);
  for (let i = 0; i < got.length; i++) maxErr[kind] = Math.max(maxErr[kind] ?? 0, Math.abs(got[i] - want[i]));
  let at = 0;
  let allow = -1;
  for (let i = 0; i < want.length; i++) {
    const a = (tol.atol ?? 0) + tol.rtol * (tol.scale ? tol.scale[i] : Math.abs(want[i]));
    if (a > allow) [allow, at] = [a, i];
  }
  const wrong = Float64Array.from(want as ArrayLike<number>);
  wrong[at] += Math.max(10 * allow, 1e-3);
  expect(() => assertClose(`${what} (perturbed)`, got, wrong, tol)).toThrow(CheckFailure);
}

// ---------------------------------------------------------------- kernel level

/** A buffer of `size` elements filled with sentinels, and `data` placed as rows of `cols` every `ld` from `offset`. */
function placed(size: number, parts: Array<{ data?: ArrayLike<number>; offset: number; ld: number; cols: number }>) {
  const all = new Float32Array(size).fill(SENTINEL);
  for (const p of parts) {
    if (!p.data) continue;
    const rows = p.data.length / p.cols;
    for (let r = 0; r < rows; r++)
      for (let c = 0; c < p.cols; c++) all[p.offset + r * p.ld + c] = p.data[r * p.cols + c];
  }
  const buffer = gpu.pool.acquire(size * 4, TENSOR_USAGE, 'test.gemmEpilogue');
  gpu.device.queue.writeBuffer(buffer, 0, all);
  return { buffer, all };
}

/** Rows of `cols` every `ld` from `offset`, gathered dense. */
function gather(all: Float32Array, offset: number, ld: number, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = all[offset + r * ld + c];
  return out;
}

interface KernelCase {
  M: number;
  N: number;
  K: number;
  act: GemmActivation;
  bias?: boolean;
  residual?: boolean;
  pre?: boolean;
  transposeA?: boolean;
  transposeB?: boolean;
  alpha?: number;
  beta?: number;
  /** The residual is C itself (accumulated in place). */
  inPlace?: boolean;
  tile?: { wgX: number; wgY: number; tileK: number };
  seed: number;
}

const caseName = (c: KernelCase) =>
  `${c.M}×${c.N}×${c.K} ${c.act}` +
  [
    c.bias && 'bias',
    c.residual && (c.inPlace ? 'residual in place' : 'residual'),
    c.pre && 'Z',
    c.transposeA && 'Aᵀ',
    c.transposeB && 'Bᵀ',
    c.alpha !== undefined && `α=${c.alpha}`,
    c.beta !== undefined && `β=${c.beta}`,
  ]
    .filter(Boolean)
    .map((s) => `, ${s}`)
    .join('');

/**
 * Runs one fused GEMM with every operand at an offset and a padded row stride, and compares C (and Z) with the
 * float64 reference; the sentinels around and between the rows must survive. Returns the dispatch count.
 */
async function checkKernel(c: KernelCase, wrongAct?: GemmActivation): Promise<number> {
  const { M, N, K } = c;
  const rand = rng(c.seed);
  const a = uniform(rand, M * K, -1.5, 1.5);
  const b = uniform(rand, K * N, -1.5, 1.5);
  const bias = c.bias ? uniform(rand, N, -1, 1) : undefined;
  const r = c.residual ? uniform(rand, M * N, -2, 2) : undefined;
  // In place, C starts out holding R: C = act(Z) + R + beta·R.
  const c0 = c.beta === undefined ? undefined : c.inPlace ? r : uniform(rand, M * N, -2, 2);
  const [aRows, aCols] = c.transposeA ? [K, M] : [M, K];
  const [bRows, bCols] = c.transposeB ? [N, K] : [K, N];
  const A = placed(3 + aRows * (aCols + 1) + 2, [{ data: a, offset: 3, ld: aCols + 1, cols: aCols }]);
  const B = placed(5 + bRows * (bCols + 2) + 1, [{ data: b, offset: 5, ld: bCols + 2, cols: bCols }]);
  const biasBuf = bias && placed(N + 9, [{ data: bias, offset: 7, ld: N, cols: N }]);
  // C at offset 2 (ld N+3), Z after it in the same buffer (ld N+1); the residual in its own buffer
  // (or C itself).
  const ldc = N + 3;
  const offZ = 2 + M * ldc + 4;
  const ldz = N + 1;
  const cStart = c.inPlace ? r : c0;
  const C = placed(offZ + M * ldz + 3, [{ data: cStart, offset: 2, ld: ldc, cols: N }]);
  const R = r && !c.inPlace ? placed(1 + M * (N + 2) + 1, [{ data: r, offset: 1, ld: N + 2, cols: N }]) : undefined;
  const ds = gemmDispatches(gpu, {
    M,
    N,
    K,
    a: { buffer: A.buffer, offset: 3, ld: aCols + 1 },
    b: { buffer: B.buffer, offset: 5, ld: bCols + 2 },
    c: { buffer: C.buffer, offset: 2, ld: ldc },
    bias: biasBuf && { buffer: biasBuf.buffer, offset: 7 },
    transposeA: c.transposeA,
    transposeB: c.transposeB,
    alpha: c.alpha,
    beta: c.beta,
    activation: c.act,
    residual: c.inPlace ? { buffer: C.buffer, offset: 2, ld: ldc } : R && { buffer: R.buffer, offset: 1, ld: N + 2 },
    preActivation: c.pre ? { offset: offZ, ld: ldz } : undefined,
    tile: c.tile,
    label: 'test.fused',
  });
  gpu.run(ds);
  const got = new Float32Array(await gpu.readBuffer(C.buffer, 0, C.all.length * 4));
  const dims = { M, N, K };
  const act = wrongAct ?? c.act;
  const ops = { transposeA: c.transposeA, transposeB: c.transposeB, alpha: c.alpha, bias };
  const want = matmulRef(a, b, dims, { ...ops, beta: c.beta, c0, activation: act, residual: r });
  const z = matmulRef(a, b, dims, ops);
  const zScale = matmulErrorScale(a, b, dims, c).map((s, i) => s + (bias ? Math.abs(bias[i % N]) : 0) + 1e-30);
  const yScale = zScale.map((s, i) => 1.2 * s + (r ? Math.abs(r[i]) : 0) + (c0 ? Math.abs(c.beta! * c0[i]) : 0));
  const tol = { rtol: 1e-4, atol: 1e-6 };
  const name = caseName(c);
  if (wrongAct) {
    assertClose(`${name} vs ${wrongAct}`, gather(got, 2, ldc, M, N), want, { ...tol, scale: yScale });
  } else {
    expectClose(`forward ${c.act}`, name, gather(got, 2, ldc, M, N), want, { ...tol, scale: yScale });
    if (c.pre) expectClose('forward Z', `${name}: Z`, gather(got, offZ, ldz, M, N), z, { ...tol, scale: zScale });
  }
  // Everything outside C's (and Z's) rows is untouched.
  const mask = new Uint8Array(got.length);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      mask[2 + i * ldc + j] = 1;
      if (c.pre) mask[offZ + i * ldz + j] = 1;
    }
  }
  got.forEach((v, i) => {
    if (!mask[i] && v !== SENTINEL) throw new CheckFailure(`${name}: element ${i} outside the outputs became ${v}`);
  });
  for (const x of [A, B, biasBuf, C, R]) if (x) gpu.pool.release(x.buffer);
  return ds.length;
}

/** The pipeline of a GEMM (its uniform handed back at once: the dispatch is not run). */
function pipelineOf(args: Parameters<typeof gemmDispatches>[1]): GPUComputePipeline {
  const [d] = gemmDispatches(gpu, args);
  for (const b of d.transient ?? []) gpu.pool.release(b);
  return d.pipeline;
}

describe('GEMM epilogue kernel vs float64', () => {
  const shapes: Array<[number, number, number]> = [
    [1, 1, 1],
    [7, 33, 67],
    [67, 7, 33],
    [33, 67, 7],
  ];
  let seed = 1;
  for (const act of ACTS) {
    it(`${act}: with and without bias and residual, transposes, odd sizes`, async () => {
      let k = 0;
      for (const bias of [false, true]) {
        for (const residual of [false, true]) {
          const [M, N, K] = shapes[k % shapes.length];
          await checkKernel({
            M,
            N,
            K,
            act,
            bias,
            residual,
            pre: k % 2 === 1,
            transposeA: k === 1 || k === 3,
            transposeB: k >= 2,
            seed: seed++,
          });
          k++;
        }
      }
    });
  }

  it('several tiles and K slabs (70×131×130), alpha, everything at once', async () => {
    for (const act of ['gelu', 'relu'] as const)
      await checkKernel({ M: 70, N: 131, K: 130, act, bias: true, residual: true, pre: true, alpha: 0.75, seed: 40 });
  });

  it('residual in place (R = C), with and without beta; residual sharing A’s buffer', async () => {
    await checkKernel({ M: 9, N: 17, K: 5, act: 'gelu_tanh', bias: true, residual: true, inPlace: true, seed: 41 });
    await checkKernel({ M: 9, N: 17, K: 5, act: 'relu', residual: true, inPlace: true, beta: 0.5, seed: 42 });
    await checkKernel({ M: 5, N: 3, K: 4, act: 'gelu', residual: true, beta: 2, seed: 43 });
    // R read from A's own buffer (two read bindings of one buffer are fine): y = x·Wᵀ + x.
    const rand = rng(44);
    const x = uniform(rand, 6 * 4);
    const w = uniform(rand, 4 * 4);
    const xt = Tensor.from(gpu, x, [6, 4]);
    const wt = Tensor.from(gpu, w, [4, 4]);
    const yt = Tensor.empty(gpu, [6, 4]);
    gpu.run(
      gemmDispatches(gpu, {
        M: 6,
        N: 4,
        K: 4,
        transposeB: true,
        a: { buffer: xt.buffer, ld: 4 },
        b: { buffer: wt.buffer, ld: 4 },
        c: { buffer: yt.buffer, ld: 4 },
        residual: { buffer: xt.buffer, ld: 4 },
      }),
    );
    const want = matmulRef(x, w, { M: 6, N: 4, K: 4 }, { transposeB: true, residual: x });
    expectClose('forward identity', 'residual = A', await yt.read(), want, { rtol: 1e-5, atol: 1e-6 });
    for (const t of [xt, wt, yt]) t.destroy();
  });

  it('a grid split past maxComputeWorkgroupsPerDimension moves R and Z with C', async () => {
    const max = gpu.limits.maxComputeWorkgroupsPerDimension;
    const tile = { wgX: 1, wgY: 1, tileK: 4 }; // 4×4 outputs per workgroup: the limit at 4·max rows
    const n = await checkKernel({
      M: max * 4 + 5,
      N: 3,
      K: 2,
      act: 'gelu',
      bias: true,
      residual: true,
      pre: true,
      tile,
      seed: 45,
    });
    expect(n).toBe(2);
  });

  it('a wrong reference (another activation) is rejected', async () => {
    await expect(checkKernel({ M: 7, N: 9, K: 5, act: 'gelu', bias: true, seed: 46 }, 'gelu_tanh')).rejects.toThrow(
      CheckFailure,
    );
    await expect(checkKernel({ M: 7, N: 9, K: 5, act: 'relu', bias: true, seed: 47 }, 'identity')).rejects.toThrow(
      CheckFailure,
    );
  });

  it('keeps the plain GEMM pipeline when no epilogue is asked; each epilogue is its own pipeline', () => {
    const x = Tensor.from(gpu, new Float32Array(12), [3, 4]);
    const y = Tensor.empty(gpu, [3, 3]);
    const args = {
      M: 3,
      N: 3,
      K: 4,
      transposeB: true,
      a: { buffer: x.buffer, ld: 4 },
      b: { buffer: x.buffer, ld: 4 },
      c: { buffer: y.buffer, ld: 3 },
    };
    const plain = pipelineOf(args);
    expect(pipelineOf({ ...args, activation: 'identity' })).toBe(plain);
    const pipes = new Set(ACTS.map((act) => pipelineOf({ ...args, activation: act })));
    pipes.add(pipelineOf({ ...args, residual: { buffer: x.buffer, ld: 3 } }));
    pipes.add(pipelineOf({ ...args, activation: 'gelu', preActivation: { offset: 0, ld: 3 } }));
    expect(pipes.size).toBe(6);
    expect(pipes.has(plain)).toBe(true);
    x.destroy();
    y.destroy();
  });

  it('refuses an unknown activation, a residual past its buffer, or elsewhere in C’s buffer', () => {
    const x = Tensor.from(gpu, new Float32Array(12), [3, 4]);
    const y = Tensor.empty(gpu, [3, 3]);
    const small = Tensor.empty(gpu, [2, 3]);
    const args = {
      M: 3,
      N: 3,
      K: 4,
      transposeB: true,
      a: { buffer: x.buffer, ld: 4 },
      b: { buffer: x.buffer, ld: 4 },
      c: { buffer: y.buffer, ld: 3 },
    };
    expect(() => gemmDispatches(gpu, { ...args, activation: 'swish' as GemmActivation })).toThrow(ArgumentError);
    expect(() => gemmDispatches(gpu, { ...args, activation: 'swish' as GemmActivation })).toThrow(
      /unknown activation 'swish'; use 'identity', 'relu', 'gelu', 'gelu_tanh'/,
    );
    expect(() => gemmDispatches(gpu, { ...args, residual: { buffer: small.buffer, ld: 3 } })).toThrow(ShapeError);
    expect(() => gemmDispatches(gpu, { ...args, residual: { buffer: small.buffer, ld: 3 } })).toThrow(/residual/);
    expect(() => gemmDispatches(gpu, { ...args, residual: { buffer: y.buffer, ld: 2 } })).toThrow(/residual.ld/);
    const shifted = { ...args, c: { buffer: y.buffer, ld: 1 }, M: 1, N: 1 };
    expect(() => gemmDispatches(gpu, { ...shifted, residual: { buffer: y.buffer, offset: 4, ld: 1 } })).toThrow(
      /residual lies in C's buffer.*C's own view/,
    );
    expect(() => gemmDispatches(gpu, { ...args, preActivation: { offset: 1 << 20, ld: 3 } })).toThrow(/preActivation/);
    for (const t of [x, y, small]) t.destroy();
  });
});

// ---------------------------------------------------------------- reference vs finite differences

/** Gradients of L = Σ g ⊙ y(x, W, b, r) by central differences of linearActRef. */
function fdGrads(
  x: Float64Array,
  w: Float64Array,
  b: Float64Array,
  r: Float64Array | undefined,
  g: Float64Array,
  dims: { inFeatures: number; outFeatures: number },
  act: EpilogueActivation,
) {
  const loss = () =>
    linearActRef(x, w, b, dims, { activation: act, residual: r }).y.reduce((s, v, i) => s + v * g[i], 0);
  const eps = 1e-6;
  const grad = (p: Float64Array) =>
    p.map((v0, i) => {
      p[i] = v0 + eps;
      const up = loss();
      p[i] = v0 - eps;
      const down = loss();
      p[i] = v0;
      return (up - down) / (2 * eps);
    });
  return { dX: grad(x), dWeight: grad(w), dBias: grad(b), dResidual: r ? grad(r) : undefined };
}

describe('reference backward vs central differences of the reference forward', () => {
  const dims = { inFeatures: 4, outFeatures: 5 };
  const rows = 3;
  const setup = (seed: number) => {
    const rand = rng(seed);
    const f64 = (n: number, lo = -1.5, hi = 1.5) => Float64Array.from(uniform(rand, n, lo, hi));
    return { x: f64(rows * 4), w: f64(20), b: f64(5), r: f64(rows * 5), g: f64(rows * 5) };
  };
  /** 1e-7 of Σ|terms| of each gradient (dz = g·act'(z) with |act'| ≤ 1.2). */
  const scales = (x: Float64Array, w: Float64Array, g: Float64Array) => {
    const G = g.map((v) => 1.2 * Math.abs(v));
    return {
      dX: matmulErrorScale(G, w, { M: rows, N: 4, K: 5 }).map((s) => s + 1e-3),
      dWeight: matmulErrorScale(G, x, { M: 5, N: 4, K: rows }, { transposeA: true }).map((s) => s + 1e-3),
      dBias: Float64Array.from({ length: 5 }, (_, o) => G.reduce((s, v, i) => s + (i % 5 === o ? v : 0), 1e-3)),
    };
  };

  for (const act of ACTS) {
    it(`${act}: dX, dWeight, dBias (and dResidual for identity) within 1e-7`, () => {
      const { x, w, b, r, g } = setup(50 + ACTS.indexOf(act));
      const residual = act === 'identity' ? r : undefined;
      const { z } = linearActRef(x, w, b, dims, { activation: act, residual });
      expect(Math.min(...z.map(Math.abs)), 'no z within reach of relu’s kink').toBeGreaterThan(1e-3);
      const an = linearActBackwardRef(x, w, z, g, dims, act);
      const fd = fdGrads(x, w, b, residual, g, dims, act);
      const s = scales(x, w, g);
      for (const k of ['dX', 'dWeight', 'dBias'] as const)
        expectClose('reference vs FD', `${act} ${k}`, an[k], fd[k], { rtol: 1e-7, scale: s[k] });
      if (residual)
        expectClose('reference vs FD', `${act} dResidual`, an.dResidual, fd.dResidual!, {
          rtol: 1e-7,
          scale: g.map((v) => Math.abs(v) + 1e-3),
        });
    });
  }

  it('a wrong reference backward (another activation’s derivative) is rejected by the differences', () => {
    for (const [act, wrong] of [
      ['gelu', 'gelu_tanh'],
      ['gelu_tanh', 'gelu'],
      ['relu', 'identity'],
    ] as const) {
      const { x, w, b, g } = setup(60);
      const { z } = linearActRef(x, w, b, dims, { activation: act });
      const bad = linearActBackwardRef(x, w, z, g, dims, wrong);
      const fd = fdGrads(x, w, b, undefined, g, dims, act);
      expect(() =>
        assertClose(`${act} dX with ${wrong}'`, bad.dX, fd.dX, { rtol: 1e-7, scale: scales(x, w, g).dX }),
      ).toThrow(CheckFailure);
    }
    expect(epilogueActDerivRef('relu', -1e-9)).toBe(0);
  });
});

// ---------------------------------------------------------------- graph op: forward + backward

interface GraphCase {
  xShape: number[];
  out: number;
  act: GemmActivation;
  bias: boolean;
  residual: boolean;
  seed: number;
}

/** Records y = linearActValue(...) and its backward from a random dY; runs once; returns y and the gradients. */
async function runGraph(c: GraphCase) {
  const inF = c.xShape[c.xShape.length - 1];
  const rows = c.xShape.slice(0, -1).reduce((a, b) => a * b, 1);
  const yShape = [...c.xShape.slice(0, -1), c.out];
  const rand = rng(c.seed);
  const data = {
    x: uniform(rand, rows * inF, -1.5, 1.5),
    w: uniform(rand, c.out * inF, -1, 1),
    b: uniform(rand, c.out, -0.5, 0.5),
    r: uniform(rand, rows * c.out, -2, 2),
    dY: uniform(rand, rows * c.out, -1, 1),
  };
  let vals: { x: Value; w: Value; b: Value | null; r: Value | null; y: Value; dY: Value };
  const rec = recordStep(gpu, 'gemmEpilogue.test', true, (g) => {
    const input = (shape: number[], name: string) => {
      const v = g.input(shape, 'f32', name);
      v.requiresGrad = true;
      return v;
    };
    const x = input(c.xShape, 'x');
    const w = input([c.out, inF], 'w');
    const b = c.bias ? input([c.out], 'b') : null;
    const r = c.residual ? input(yShape, 'r') : null;
    const y = linearActValue(x, w, b, { activation: c.act, residual: r }, 'fused');
    y.pinned = true;
    const dY = g.input(yShape, 'f32', 'dY');
    vals = { x, w, b, r, y, dY };
    return { loss: y, seed: dY, wanted: [x, w, b, r].filter((v): v is Value => v !== null) };
  });
  const v = vals!;
  const plan = rec.plan;
  try {
    const write = (val: Value | null, d: Float32Array) => {
      if (!val) return;
      const ref = plan.view(val);
      gpu.device.queue.writeBuffer(ref.buffer, ref.offset * 4, d);
    };
    write(v.x, data.x);
    write(v.w, data.w);
    write(v.b, data.b);
    write(v.r, data.r);
    write(v.dY, data.dY);
    const encoder = gpu.device.createCommandEncoder();
    gpu.submit(encoder, plan.encode(encoder));
    const read = async (val: Value | null) => {
      if (!val) return null;
      const ref = plan.view(val);
      return new Float32Array(await gpu.readBuffer(ref.buffer, ref.offset * 4, val.size * 4));
    };
    const [dx, dw, ...rest] = rec.gradients;
    return {
      data,
      rows,
      inF,
      y: (await read(v.y))!,
      dX: (await read(dx))!,
      dW: (await read(dw))!,
      db: c.bias ? await read(rest[0]) : null,
      dR: c.residual ? await read(rest[c.bias ? 1 : 0]) : null,
      forwardDispatches: plan.dispatchesThrough(v.y.producer!),
      dispatches: plan.dispatches.length,
      outputs: v.y.producer!.outputs.length,
    };
  } finally {
    plan.destroy();
  }
}

const graphName = (c: GraphCase) =>
  `${c.act} x ${JSON.stringify(c.xShape)} → ${c.out}${c.bias ? ', bias' : ''}${c.residual ? ', residual' : ''}`;

/** Compares a graph run with the float64 references (forward 1e-4, gradients 1e-3). */
function checkGraph(c: GraphCase, got: Awaited<ReturnType<typeof runGraph>>, act: EpilogueActivation = c.act) {
  const { data, rows, inF } = got;
  const dims = { inFeatures: inF, outFeatures: c.out };
  const name = graphName(c);
  const bias = c.bias ? data.b : undefined;
  const residual = c.residual ? data.r : undefined;
  const { y, z } = linearActRef(data.x, data.w, bias, dims, { activation: act, residual });
  const zScale = matmulErrorScale(data.x, data.w, { M: rows, N: c.out, K: inF }, { transposeB: true }).map(
    (s, i) => s + (bias ? Math.abs(bias[i % c.out]) : 0) + 1e-30,
  );
  const yScale = zScale.map((s, i) => 1.2 * s + (residual ? Math.abs(residual[i]) : 0));
  const g = linearActBackwardRef(data.x, data.w, z, data.dY, dims, act);
  const dz = g.dZ.map((v, i) => Math.abs(data.dY[i]) * 1.2 + Math.abs(v));
  const tol = { rtol: 1e-3, atol: 1e-6 };
  const check =
    act === c.act
      ? expectClose
      : (kind: string, what: string, a: ArrayLike<number>, b: ArrayLike<number>, t: Tol) => assertClose(what, a, b, t);
  check('graph forward', `${name}: y`, got.y, y, { rtol: 1e-4, atol: 1e-6, scale: yScale });
  check('graph dX', `${name}: dX`, got.dX, g.dX, {
    ...tol,
    scale: matmulErrorScale(dz, data.w, { M: rows, N: inF, K: c.out }),
  });
  check('graph dW', `${name}: dW`, got.dW, g.dWeight, {
    ...tol,
    scale: matmulErrorScale(dz, data.x, { M: c.out, N: inF, K: rows }, { transposeA: true }),
  });
  if (got.db)
    check('graph db', `${name}: db`, got.db, g.dBias, {
      ...tol,
      scale: Float64Array.from({ length: c.out }, (_, o) => dz.reduce((s, v, i) => s + (i % c.out === o ? v : 0), 0)),
    });
  if (got.dR) check('graph dR', `${name}: dR`, got.dR, g.dResidual, { ...tol, scale: data.dY.map(Math.abs) });
}

describe('linearActValue: one GEMM forward, backward vs float64', () => {
  const cases: GraphCase[] = [
    { xShape: [7, 33], out: 67, act: 'relu', bias: true, residual: false, seed: 70 },
    { xShape: [2, 3, 5], out: 7, act: 'gelu', bias: true, residual: false, seed: 71 },
    { xShape: [33, 7], out: 1, act: 'gelu_tanh', bias: false, residual: false, seed: 72 },
    { xShape: [1, 67], out: 33, act: 'gelu', bias: false, residual: false, seed: 73 },
    { xShape: [67, 7], out: 33, act: 'identity', bias: true, residual: true, seed: 74 },
    { xShape: [3, 1, 9], out: 5, act: 'identity', bias: false, residual: true, seed: 75 },
    { xShape: [5, 4], out: 6, act: 'identity', bias: true, residual: false, seed: 76 },
  ];
  for (const c of cases) {
    it(graphName(c), async () => {
      const got = await runGraph(c);
      checkGraph(c, got);
      // Forward: ONE dispatch (act, bias, residual and — for gelu's backward — z in the GEMM's epilogue).
      expect(got.forwardDispatches).toBe(1);
      // Backward: act' (elementwise, not for identity), dX and dW (GEMMs), db (column sum); dR is dY itself.
      expect(got.dispatches - got.forwardDispatches).toBe((c.act === 'identity' ? 0 : 1) + 2 + (c.bias ? 1 : 0));
      // gelu keeps z (y and z views of one buffer) when there is a backward.
      expect(got.outputs).toBe(c.act === 'gelu' || c.act === 'gelu_tanh' ? 3 : 1);
    });
  }

  it('a wrong reference (another activation) is rejected', async () => {
    const c: GraphCase = { xShape: [4, 6], out: 5, act: 'gelu', bias: true, residual: false, seed: 77 };
    const got = await runGraph(c);
    expect(() => checkGraph(c, got, 'gelu_tanh')).toThrow(CheckFailure);
  });

  it('without a backward: one dispatch, z not kept', () => {
    let outputs = 0;
    const plan = recordForward(gpu, 'gemmEpilogue.test', (g) => {
      const x = g.input([3, 4], 'f32', 'x');
      const w = g.input([5, 4], 'f32', 'w');
      const b = g.input([5], 'f32', 'b');
      const y = linearActValue(x, w, b, { activation: 'gelu' });
      y.pinned = true;
      outputs = y.producer!.outputs.length;
    });
    expect(plan.dispatches.length).toBe(1);
    expect(outputs).toBe(1);
    plan.destroy();
  });

  it('refuses an activation with a residual, a wrong residual shape and an unknown activation', () => {
    const attempt = (fn: (x: Value, w: Value, r: Value) => void) => () => {
      const plan = recordForward(gpu, 'gemmEpilogue.test', (g) => {
        fn(g.input([3, 4], 'f32', 'x'), g.input([5, 4], 'f32', 'w'), g.input([3, 5], 'f32', 'r'));
      });
      plan.destroy();
    };
    expect(attempt((x, w, r) => linearActValue(x, w, null, { activation: 'relu', residual: r }))).toThrow(
      /activation 'relu' with a residual is not supported/,
    );
    expect(attempt((x, w) => linearActValue(x, w, null, { residual: x }))).toThrow(ShapeError);
    expect(attempt((x, w) => linearActValue(x, w, null, { residual: x }))).toThrow(/residual has shape \[3, 4\]/);
    expect(attempt((x, w) => linearActValue(x, w, null, { activation: 'elu' as GemmActivation }))).toThrow(
      ArgumentError,
    );
  });
});

// ---------------------------------------------------------------- Linear.forward(x, opts) in a Module + Trainer

/** y = x + linear2(act(linear1(x))): fused (the epilogues) or unfused (F.gelu / F.relu and F.add). */
class FeedForward extends Module {
  linear1: Linear;
  linear2: Linear;
  constructor(
    gpu: Gpu,
    readonly act: 'relu' | 'gelu' | 'gelu_tanh',
    readonly fused: boolean,
  ) {
    super(gpu);
    this.linear1 = new Linear(gpu, { inFeatures: 5, outFeatures: 7, seed: 11 });
    this.linear2 = new Linear(gpu, { inFeatures: 7, outFeatures: 5, seed: 12 });
  }
  forward(x: Tensor): Tensor {
    if (this.fused) return this.linear2.forward(this.linear1.forward(x, { activation: this.act }), { residual: x });
    const h = this.linear1.forward(x);
    const a = this.act === 'relu' ? F.relu(h) : F.gelu(h, this.act === 'gelu_tanh' ? 'tanh' : 'none');
    return F.add(this.linear2.forward(a), x);
  }
}

describe('Linear.forward with an activation or a residual', () => {
  it('feed-forward block: gradients after a Trainer step vs float64, 2 dispatches fewer than unfused', async () => {
    for (const act of ['relu', 'gelu', 'gelu_tanh'] as const) {
      const rand = rng(80);
      const [B, T, E] = [2, 3, 5];
      const x = uniform(rand, B * T * E, -1.5, 1.5);
      const t = uniform(rand, B * T * E, -1, 1);
      const xt = Tensor.from(gpu, x, [B, T, E]);
      const tt = Tensor.from(gpu, t, [B, T, E]);
      const runs: Record<string, { dispatches: number; grads: Record<string, Float32Array> }> = {};
      for (const fused of [true, false]) {
        const model = new FeedForward(gpu, act, fused);
        const trainer = new Trainer(model, { loss: 'mse', optimizer: { kind: 'sgd', lr: 0 }, nanGuard: false });
        await trainer.step({ inputs: [xt], targets: tt });
        const grads: Record<string, Float32Array> = {};
        for (const p of model.namedParameters()) grads[p.name] = await p.grad.read();
        runs[fused ? 'fused' : 'unfused'] = { dispatches: trainer.lastRun!.dispatches, grads };
        if (fused) {
          // float64: h = act(x·W1ᵀ + b1), y = h·W2ᵀ + b2 + x, L = mean((y − t)²).
          const sd = await model.stateDict();
          const p = (n: string) => sd[n].data;
          const l1 = { inFeatures: 5, outFeatures: 7 };
          const l2 = { inFeatures: 7, outFeatures: 5 };
          const first = linearActRef(x, p('linear1.weight'), p('linear1.bias'), l1, { activation: act });
          const { y } = linearActRef(first.y, p('linear2.weight'), p('linear2.bias'), l2, { residual: x });
          const dY = y.map((v, i) => (2 * (v - t[i])) / y.length);
          const g2 = linearActBackwardRef(first.y, p('linear2.weight'), y, dY, l2);
          const g1 = linearActBackwardRef(x, p('linear1.weight'), first.z, g2.dX, l1, act);
          const want: Record<string, Float64Array> = {
            'linear1.weight': g1.dWeight,
            'linear1.bias': g1.dBias,
            'linear2.weight': g2.dWeight,
            'linear2.bias': g2.dBias,
          };
          for (const [name, w] of Object.entries(want)) {
            const scale = Math.max(...w.map(Math.abs));
            expectClose('module grads', `${act} ${name}.grad`, grads[name], w, { rtol: 1e-3, atol: 1e-3 * scale });
          }
        }
        trainer.destroy();
        model.destroy();
      }
      // The fused block saves the activation and the residual add: two forward dispatches.
      expect(runs.fused.dispatches).toBe(runs.unfused.dispatches - 2);
      for (const name of Object.keys(runs.fused.grads))
        assertClose(`${act} ${name}.grad fused vs unfused`, runs.fused.grads[name], runs.unfused.grads[name], {
          rtol: 1e-4,
          atol: 1e-6,
        });
      xt.destroy();
      tt.destroy();
    }
  });

  it('outside a trace: Linear with activation + bias is one dispatch, output vs float64', async () => {
    const layer = new Linear(gpu, { inFeatures: 33, outFeatures: 7, seed: 3 });
    const rand = rng(81);
    const x = uniform(rand, 67 * 33, -1.5, 1.5);
    const xt = Tensor.from(gpu, x, [67, 33]);
    for (const act of ACTS) {
      const before = gpu.stats.dispatches;
      const yt = layer.forward(xt, { activation: act });
      expect(gpu.stats.dispatches - before, `${act}: dispatches`).toBe(1);
      const sd = await layer.stateDict();
      const { y } = linearActRef(
        x,
        sd.weight.data,
        sd.bias.data,
        { inFeatures: 33, outFeatures: 7 },
        { activation: act },
      );
      const scale = matmulErrorScale(x, sd.weight.data, { M: 67, N: 7, K: 33 }, { transposeB: true }).map(
        (s, i) => 1.2 * (s + Math.abs(sd.bias.data[i % 7])),
      );
      expectClose('module forward', `Linear ${act}`, await yt.read(), y, { rtol: 1e-4, atol: 1e-6, scale });
      yt.destroy();
    }
    xt.destroy();
    layer.destroy();
  });

  it('refuses a residual of another shape, an unknown activation or option, and act with residual', () => {
    const layer = new Linear(gpu, { inFeatures: 4, outFeatures: 3, seed: 4 });
    const x = Tensor.from(gpu, new Float32Array(8), [2, 4]);
    const bad = Tensor.from(gpu, new Float32Array(10), [2, 5]);
    const good = Tensor.from(gpu, new Float32Array(6), [2, 3]);
    expect(() => layer.forward(x, { residual: bad })).toThrow(ShapeError);
    expect(() => layer.forward(x, { residual: bad })).toThrow(
      /Linear.forward: 'residual' has shape \[2, 5\], expected \[2, 3\]/,
    );
    expect(() => layer.forward(x, { activation: 'swish' as GemmActivation })).toThrow(ArgumentError);
    expect(() => layer.forward(x, { activation: 'swish' as GemmActivation })).toThrow(
      /option 'activation' must be one of/,
    );
    expect(() => layer.forward(x, { activaton: 'relu' } as never)).toThrow(/unknown option 'activaton'.*'activation'/);
    expect(() => layer.forward(x, { activation: 'gelu', residual: good })).toThrow(ArgumentError);
    for (const t of [x, bad, good]) t.destroy();
    layer.destroy();
  });
});
