// Graph-engine kernels vs float64 references (src/reference/graphOps.ts, src/reference/elementwise.ts):
// strided copy (permute, slice, concat, broadcast, accumulate), reduce over one axis, softmax
// backward, and the elementwise ops added for autodiff (reluGrad, sigmoidGrad, gelu, geluTanh,
// geluGrad, geluTanhGrad, sub). Node + Dawn on SwiftShader.
//
// Tolerances: copies exact (1e-6 abs + rel; they only move and scale f32 values); reduce 1e-5 of
// Σ|terms| (1e-5 of the value for the 10⁶-term positive sum); softmax backward 1e-4 of its natural
// scale y·(|dy| + Σ|dy·y|); elementwise 1e-4 relative + 1e-6 absolute. The references' gradients are
// checked against central differences of the forward references, and each GPU comparison has a
// perturbed twin that must be rejected, so the checks can fail.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Gpu, ShapeError, ArgumentError, Tensor } from '../../src/index.js';
import { stridedCopyDispatch } from '../../src/kernels/stridedCopy.js';
import { reduceAxisDispatch } from '../../src/kernels/reduceAxis.js';
import { softmaxBackwardDispatch } from '../../src/kernels/softmaxBackward.js';
import { elementwiseDispatch, ELEMENTWISE_OPS, type ElementwiseOp } from '../../src/kernels/elementwise.js';
import { stridedCopyRef, reduceAxisRef, softmaxBackwardRef } from '../../src/reference/graphOps.js';
import { softmaxRef } from '../../src/reference/softmax.js';
import {
  sigmoidRef,
  reluRef,
  mapRef,
  subRef,
  erfRef,
  erfcRef,
  geluRef,
  geluTanhRef,
  geluDerivRef,
  geluTanhDerivRef,
  reluGradRef,
  sigmoidGradRef,
  geluGradRef,
  geluTanhGradRef,
  tanhGradRef,
} from '../../src/reference/elementwise.js';
import { rng, uniform, randInt, assertClose, CheckFailure } from '../checks/util.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

type Tol = Parameters<typeof assertClose>[3];

/** assertClose, plus a twin comparison against a perturbed reference that must fail. */
function expectClose(what: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: Tol): void {
  assertClose(what, got, want, tol);
  // Perturb the element with the largest error allowance by 10× that allowance (and ≥ 1e-3).
  let at = 0;
  let allow = -1;
  for (let i = 0; i < want.length; i++) {
    const a = (tol.atol ?? 0) + tol.rtol * (tol.scale ? tol.scale[i] : Math.abs(want[i]));
    if (a > allow) {
      allow = a;
      at = i;
    }
  }
  const wrong = Float64Array.from(want as ArrayLike<number>);
  wrong[at] += Math.max(10 * allow, 1e-3);
  expect(() => assertClose(`${what} (perturbed)`, got, wrong, tol)).toThrow(CheckFailure);
}

const COPY_TOL = { rtol: 1e-6, atol: 1e-6 };

function f32(a: ArrayLike<number>): Float32Array {
  return Float32Array.from(a as ArrayLike<number>);
}

/** Dense row-major strides of `shape`. */
function dense(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let k = shape.length - 1; k >= 0; k--) {
    s[k] = acc;
    acc *= shape[k];
  }
  return s;
}

interface CopyCase {
  shape: number[];
  xLen: number;
  xOffset?: number;
  xStrides: number[];
  yLen: number;
  yOffset?: number;
  yStrides: number[];
  alpha?: number;
  accumulate?: boolean;
}

/** Runs one strided copy into a y filled with random values and compares all of y (untouched elements too). */
async function runCopy(what: string, c: CopyCase, seed: number, x?: Float32Array): Promise<Float32Array> {
  const rand = rng(seed);
  x ??= uniform(rand, c.xLen, -2, 2);
  const y0 = uniform(rand, c.yLen, -2, 2);
  const xt = Tensor.from(gpu, x, [c.xLen]);
  const yt = Tensor.from(gpu, y0, [c.yLen]);
  gpu.run([
    stridedCopyDispatch(gpu, {
      shape: c.shape,
      x: { buffer: xt.buffer, offset: c.xOffset, strides: c.xStrides },
      y: { buffer: yt.buffer, offset: c.yOffset, strides: c.yStrides },
      alpha: c.alpha,
      accumulate: c.accumulate,
    }),
  ]);
  const got = await yt.read();
  const want = stridedCopyRef(
    c.shape,
    { data: x, offset: c.xOffset, strides: c.xStrides },
    { data: y0, offset: c.yOffset, strides: c.yStrides },
    c,
  );
  expectClose(what, got, want, COPY_TOL);
  xt.destroy();
  yt.destroy();
  return got;
}

describe('stridedCopy', () => {
  it('contiguous 1-D copy of an odd length, with offsets', async () => {
    await runCopy(
      'copy 1001',
      { shape: [1001], xLen: 1010, xOffset: 7, xStrides: [1], yLen: 1004, yOffset: 3, yStrides: [1] },
      1,
    );
    await runCopy('copy 1', { shape: [1], xLen: 1, xStrides: [1], yLen: 1, yStrides: [1] }, 2);
  });

  it('transpose [B, T, F] → [T, B, F]', async () => {
    const [B, T, F] = [3, 37, 5];
    const x = uniform(rng(3), B * T * F, -2, 2);
    // Index space [T, B, F]: x[b, t, f] at b·T·F + t·F + f, y dense [T, B, F].
    const got = await runCopy(
      'transpose BTF→TBF',
      { shape: [T, B, F], xLen: B * T * F, xStrides: [F, T * F, 1], yLen: B * T * F, yStrides: dense([T, B, F]) },
      4,
      x,
    );
    // Independent spot check of the meaning: y[t, b, f] == x[b, t, f].
    for (const [b, t, f] of [
      [0, 0, 0],
      [2, 36, 4],
      [1, 17, 3],
    ])
      expect(got[(t * B + b) * F + f]).toBe(x[(b * T + t) * F + f]);
    // 2-D transpose of an odd matrix, and F = 1.
    await runCopy(
      'transpose 2-D 67×129',
      { shape: [129, 67], xLen: 67 * 129, xStrides: [1, 129], yLen: 67 * 129, yStrides: [67, 1] },
      5,
    );
    await runCopy(
      'transpose [B, T, 1]',
      { shape: [T, B, 1], xLen: B * T, xStrides: [1, T, 1], yLen: B * T, yStrides: [B, 1, 1] },
      6,
    );
  });

  it('slice of the last dimension', async () => {
    // x [4, 10], columns 3..8 → y [4, 5].
    const x = uniform(rng(7), 40, -2, 2);
    const got = await runCopy(
      'slice [:, 3:8]',
      { shape: [4, 5], xLen: 40, xOffset: 3, xStrides: [10, 1], yLen: 20, yStrides: [5, 1] },
      8,
      x,
    );
    for (let r = 0; r < 4; r++) for (let c = 0; c < 5; c++) expect(got[r * 5 + c]).toBe(x[r * 10 + 3 + c]);
    // 3-D [2, 9, 300] → [2, 9, 257] from column 40 (rows longer than a workgroup).
    await runCopy(
      'slice 3-D',
      {
        shape: [2, 9, 257],
        xLen: 2 * 9 * 300,
        xOffset: 40,
        xStrides: [2700, 300, 1],
        yLen: 2 * 9 * 257,
        yStrides: dense([2, 9, 257]),
      },
      9,
    );
  });

  it('concat: copies into column ranges of a wider tensor', async () => {
    const [R, A, B] = [33, 5, 7];
    const a = uniform(rng(10), R * A, -2, 2);
    const b = uniform(rng(11), R * B, -2, 2);
    const at = Tensor.from(gpu, a, [R, A]);
    const bt = Tensor.from(gpu, b, [R, B]);
    const yt = Tensor.zeros(gpu, [R, A + B]);
    gpu.run([
      stridedCopyDispatch(gpu, {
        shape: [R, A],
        x: { buffer: at.buffer, strides: [A, 1] },
        y: { buffer: yt.buffer, strides: [A + B, 1] },
      }),
      stridedCopyDispatch(gpu, {
        shape: [R, B],
        x: { buffer: bt.buffer, strides: [B, 1] },
        y: { buffer: yt.buffer, offset: A, strides: [A + B, 1] },
      }),
    ]);
    const want = new Float64Array(R * (A + B));
    for (let r = 0; r < R; r++) {
      for (let c = 0; c < A; c++) want[r * (A + B) + c] = a[r * A + c];
      for (let c = 0; c < B; c++) want[r * (A + B) + A + c] = b[r * B + c];
    }
    expectClose('concat', await yt.read(), want, COPY_TOL);
    for (const t of [at, bt, yt]) t.destroy();
  });

  it('broadcast with stride 0 and alpha (mean backward)', async () => {
    // dy [7] broadcast over 6 rows, scaled by 1/6.
    await runCopy(
      'broadcast rows',
      { shape: [6, 7], xLen: 7, xStrides: [0, 1], yLen: 42, yStrides: [7, 1], alpha: 1 / 6 },
      12,
    );
    // A scalar over a 3-D shape with a size-1 dimension, alpha −2.5.
    await runCopy(
      'broadcast scalar',
      { shape: [3, 1, 301], xLen: 2, xOffset: 1, xStrides: [0, 0, 0], yLen: 903, yStrides: [301, 301, 1], alpha: -2.5 },
      13,
    );
    // Broadcast along the middle dimension of 4-D.
    await runCopy(
      'broadcast 4-D middle',
      { shape: [2, 3, 4, 5], xLen: 40, xStrides: [20, 0, 5, 1], yLen: 120, yStrides: dense([2, 3, 4, 5]), alpha: 0.5 },
      14,
    );
  });

  it('accumulate (gradient accumulation), with alpha, into a sub-range', async () => {
    await runCopy(
      'accumulate',
      { shape: [513], xLen: 513, xStrides: [1], yLen: 520, yOffset: 2, yStrides: [1], accumulate: true },
      15,
    );
    await runCopy(
      'accumulate transposed, alpha −0.5',
      { shape: [9, 11], xLen: 99, xStrides: [1, 9], yLen: 99, yStrides: [11, 1], alpha: -0.5, accumulate: true },
      16,
    );
    await runCopy(
      'accumulate broadcast',
      {
        shape: [4, 65],
        xLen: 65,
        xStrides: [0, 1],
        yLen: 300,
        yOffset: 5,
        yStrides: [70, 1],
        accumulate: true,
        alpha: 0.25,
      },
      17,
    );
  });

  it('random permutations of 1- to 4-D shapes with size-1 dims and offsets', async () => {
    const rand = rng(18);
    for (let trial = 0; trial < 16; trial++) {
      const rank = 1 + (trial % 4);
      const xShape = Array.from({ length: rank }, () => (rand() < 0.2 ? 1 : randInt(rand, 2, 13)));
      const perm = Array.from({ length: rank }, (_, k) => k).sort(() => rand() - 0.5);
      const shape = perm.map((p) => xShape[p]); // y's shape: y[i] = x[i permuted back]
      const xs = dense(xShape);
      const n = shape.reduce((a, b) => a * b, 1);
      const xOffset = randInt(rand, 0, 5);
      const yOffset = randInt(rand, 0, 5);
      await runCopy(
        `permute [${xShape}] by [${perm}]`,
        {
          shape,
          xLen: n + xOffset + 1,
          xOffset,
          xStrides: perm.map((p) => xs[p]),
          yLen: n + yOffset + 2,
          yOffset,
          yStrides: dense(shape),
          alpha: trial % 3 === 0 ? 1.5 : undefined,
          accumulate: trial % 5 === 0,
        },
        100 + trial,
      );
    }
  });

  it('negative x strides read a dimension reversed (flip, one dispatch)', async () => {
    // x [3, 5, 2] reversed along dims 1 and 2 into a dense y: y[i][j][k] = x[i][4 − j][1 − k].
    const x = Float32Array.from({ length: 30 }, (_, i) => i * 1.5 - 7);
    const xt = Tensor.from(gpu, x, [30]);
    const yt = Tensor.zeros(gpu, [30]);
    gpu.run([
      stridedCopyDispatch(gpu, {
        shape: [3, 5, 2],
        x: { buffer: xt.buffer, offset: 4 * 2 + 1, strides: [10, -2, -1] },
        y: { buffer: yt.buffer, strides: [10, 2, 1] },
      }),
    ]);
    const got = await yt.read();
    const want = Array.from({ length: 30 }, (_, q) => {
      const [i, j, k] = [Math.floor(q / 10), Math.floor(q / 2) % 5, q % 2];
      return x[i * 10 + (4 - j) * 2 + (1 - k)];
    });
    expect(Array.from(got)).toEqual(want);
    xt.destroy();
    yt.destroy();
  });

  it('more elements than one grid row holds (grid2d)', async () => {
    const wg = 256;
    const n = gpu.limits.maxComputeWorkgroupsPerDimension * wg + 300; // needs a second row of workgroups
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) x[i] = (i % 1021) - 510;
    const xt = Tensor.from(gpu, x, [n]);
    const yt = Tensor.zeros(gpu, [n]);
    gpu.run([
      stridedCopyDispatch(gpu, {
        shape: [n],
        x: { buffer: xt.buffer, strides: [1] },
        y: { buffer: yt.buffer, strides: [1] },
        alpha: 2,
      }),
    ]);
    const got = await yt.read();
    let bad = -1;
    for (let i = 0; i < n; i++)
      if (got[i] !== 2 * x[i]) {
        bad = i;
        break;
      }
    expect(bad).toBe(-1);
    xt.destroy();
    yt.destroy();
  });

  it('rejects bad arguments, naming them', () => {
    const xt = Tensor.zeros(gpu, [24]);
    const yt = Tensor.zeros(gpu, [24]);
    const x = { buffer: xt.buffer, strides: [4, 1] };
    const y = { buffer: yt.buffer, strides: [4, 1] };
    const call = (a: Partial<Parameters<typeof stridedCopyDispatch>[1]>) => () =>
      stridedCopyDispatch(gpu, { shape: [6, 4], x, y, ...a });
    expect(call({ shape: [] })).toThrow(ShapeError);
    expect(call({ shape: [1, 1, 1, 1, 1] })).toThrow(/1 to 4 dimensions/);
    expect(call({ shape: [6, 0] })).toThrow(/positive integers/);
    expect(call({ shape: [6, 2.5] })).toThrow(ShapeError);
    expect(call({ x: { buffer: xt.buffer, strides: [4] } })).toThrow(/'x\.strides' must have 2 entries/);
    expect(call({ y: { buffer: yt.buffer, strides: [4, -1] } })).toThrow(/'y\.strides' must be non-negative integers/);
    expect(call({ x: { buffer: xt.buffer, strides: [4, 0.5] } })).toThrow(/'x\.strides' must be integers/);
    expect(call({ x: { buffer: xt.buffer, strides: [4, -1] } })).toThrow(/'x' reaches element -3 .* before its buffer/);
    expect(call({ x: { buffer: xt.buffer, offset: 1, strides: [4, 1] } })).toThrow(/'x' reaches element 24/);
    expect(call({ y: { buffer: yt.buffer, strides: [5, 1] } })).toThrow(/'y' reaches element/);
    expect(call({ y: { buffer: yt.buffer, strides: [0, 1] } })).toThrow(/write some elements twice/);
    expect(call({ y: { buffer: yt.buffer, strides: [2, 1] } })).toThrow(/write some elements twice/);
    expect(call({ y: { buffer: xt.buffer, strides: [4, 1] } })).toThrow(ArgumentError);
    expect(call({ alpha: NaN })).toThrow(/alpha/);
    // Allowed: x broadcast (stride 0), y stride 0 on a size-1 dim, a transposed y.
    expect(call({ x: { buffer: xt.buffer, strides: [0, 0] } })).not.toThrow();
    expect(call({ shape: [1, 4], y: { buffer: yt.buffer, strides: [0, 1] } })).not.toThrow();
    expect(call({ y: { buffer: yt.buffer, strides: [1, 6] } })).not.toThrow();
    xt.destroy();
    yt.destroy();
  });
});

describe('reduceAxis', () => {
  async function runReduce(
    what: string,
    dims: number[],
    axis: number,
    opts: { alpha?: number; xOffset?: number; yOffset?: number; lo?: number; rtol?: number; valueRelative?: boolean },
    seed: number,
  ): Promise<void> {
    const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
    const n = dims[axis];
    const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
    const xOffset = opts.xOffset ?? 0;
    const yOffset = opts.yOffset ?? 0;
    const x = uniform(rng(seed), xOffset + outer * n * inner, opts.lo ?? -1, 1);
    const xt = Tensor.from(gpu, x, [x.length]);
    const yt = Tensor.zeros(gpu, [yOffset + outer * inner]);
    gpu.run([
      reduceAxisDispatch(gpu, {
        outer,
        n,
        inner,
        x: { buffer: xt.buffer, offset: xOffset },
        y: { buffer: yt.buffer, offset: yOffset },
        alpha: opts.alpha,
      }),
    ]);
    const got = (await yt.read()).subarray(yOffset);
    const body = x.subarray(xOffset);
    const want = reduceAxisRef(body, outer, n, inner, opts.alpha ?? 1);
    const scale = opts.valueRelative
      ? undefined
      : reduceAxisRef(Float64Array.from(body, Math.abs), outer, n, inner, Math.abs(opts.alpha ?? 1));
    expectClose(what, got, want, { rtol: opts.rtol ?? 1e-5, scale });
    xt.destroy();
    yt.destroy();
  }

  it('over the first, middle and last axis of odd shapes', async () => {
    const dims = [7, 33, 259];
    for (let axis = 0; axis < 3; axis++) await runReduce(`sum [${dims}] axis ${axis}`, dims, axis, {}, 200 + axis);
  });

  it('mean (alpha = 1/n), size-1 dims and offsets', async () => {
    await runReduce('mean [5, 1, 3] axis 1', [5, 1, 3], 1, { alpha: 1 }, 210);
    await runReduce('mean [1, 300] axis 0', [1, 300], 0, { alpha: 1 }, 211);
    await runReduce('mean [300, 1] axis 0', [300, 1], 0, { alpha: 1 / 300 }, 212);
    await runReduce('mean [3, 1001, 2] axis 1', [3, 1001, 2], 1, { alpha: 1 / 1001, xOffset: 5, yOffset: 3 }, 213);
    await runReduce('sum [1] axis 0', [1], 0, {}, 214);
    await runReduce('bias grad [1000, 129] axis 0', [1000, 129], 0, { alpha: -0.25 }, 215);
  });

  it('a 10⁶-element axis keeps f32 accuracy (compensated sum)', async () => {
    await runReduce('sum 10⁶ positive terms', [1_000_000], 0, { lo: 0, rtol: 2e-6, valueRelative: true }, 220);
    await runReduce(
      'mean over 250000 of [250000, 3]',
      [250_000, 3],
      0,
      { lo: 0, rtol: 2e-6, valueRelative: true, alpha: 1 / 250_000 },
      221,
    );
  });

  it('rejects bad arguments', () => {
    const xt = Tensor.zeros(gpu, [12]);
    const yt = Tensor.zeros(gpu, [4]);
    const args = { outer: 2, n: 3, inner: 2, x: { buffer: xt.buffer }, y: { buffer: yt.buffer } };
    expect(() => reduceAxisDispatch(gpu, { ...args, n: 0 })).toThrow(/'n' must be a positive integer/);
    expect(() => reduceAxisDispatch(gpu, { ...args, inner: 3 })).toThrow(/buffer 'x'/);
    expect(() => reduceAxisDispatch(gpu, { ...args, y: { buffer: yt.buffer, offset: 1 } })).toThrow(/buffer 'y'/);
    expect(() => reduceAxisDispatch(gpu, { ...args, y: { buffer: xt.buffer } })).toThrow(ArgumentError);
    expect(() => reduceAxisDispatch(gpu, { ...args, alpha: Infinity })).toThrow(/alpha/);
    xt.destroy();
    yt.destroy();
  });
});

describe('softmaxBackward', () => {
  it('float64 reference matches central differences of the softmax forward reference', () => {
    const rand = rng(300);
    for (const cols of [1, 2, 7, 40]) {
      const rows = 3;
      const x = Float64Array.from(uniform(rand, rows * cols, -3, 3));
      const w = Float64Array.from(uniform(rand, rows * cols, -1, 1)); // L = Σ w·softmax(x)
      const loss = (v: Float64Array) => softmaxRef(v, cols).reduce((a, s, i) => a + w[i] * s, 0);
      const dx = softmaxBackwardRef(softmaxRef(x, cols), w, cols);
      const h = 1e-6;
      const fd = new Float64Array(x.length);
      for (let i = 0; i < x.length; i++) {
        const p = Float64Array.from(x);
        p[i] += h;
        const m = Float64Array.from(x);
        m[i] -= h;
        fd[i] = (loss(p) - loss(m)) / (2 * h);
      }
      expectClose(`softmax backward FD cols ${cols}`, dx, fd, { rtol: 1e-6, atol: 1e-8 });
    }
  });

  for (const [rows, cols, offset] of [
    [1, 1, 0],
    [3, 7, 1],
    [5, 64, 0],
    [4, 65, 2],
    [4, 257, 0],
    [2, 3000, 3],
    [300, 33, 0],
    [17, 1000, 5],
  ] as const) {
    it(`GPU vs reference ${rows}×${cols}${offset ? ` (offset ${offset})` : ''}`, async () => {
      const rand = rng(310 + rows + cols);
      const y = f32(softmaxRef(uniform(rand, rows * cols, -4, 4), cols));
      const dy = uniform(rand, rows * cols, -1, 1);
      const pad = new Float32Array(offset);
      const yt = Tensor.from(gpu, [...pad, ...y], [offset + rows * cols]);
      const dyt = Tensor.from(gpu, [...pad, ...pad, ...dy], [2 * offset + rows * cols]);
      const dxt = Tensor.zeros(gpu, [offset + rows * cols + 1]);
      gpu.run([
        softmaxBackwardDispatch(gpu, {
          rows,
          cols,
          y: { buffer: yt.buffer, offset },
          dy: { buffer: dyt.buffer, offset: 2 * offset },
          dx: { buffer: dxt.buffer, offset },
        }),
      ]);
      const all = await dxt.read();
      expect(all[offset + rows * cols]).toBe(0); // nothing written past the end
      const got = all.subarray(offset, offset + rows * cols);
      const want = softmaxBackwardRef(y, dy, cols);
      const scale = new Float64Array(rows * cols);
      for (let r = 0; r < rows; r++) {
        let dotAbs = 0;
        for (let c = 0; c < cols; c++) dotAbs += Math.abs(dy[r * cols + c] * y[r * cols + c]);
        for (let c = 0; c < cols; c++) scale[r * cols + c] = y[r * cols + c] * (Math.abs(dy[r * cols + c]) + dotAbs);
      }
      expectClose(`softmaxBackward ${rows}×${cols}`, got, want, { rtol: 1e-4, atol: 1e-9, scale });
      for (const t of [yt, dyt, dxt]) t.destroy();
    });
  }

  it('y and dy may share a buffer; dx may not', async () => {
    const [rows, cols] = [3, 300];
    const rand = rng(330);
    const y = f32(softmaxRef(uniform(rand, rows * cols, -2, 2), cols));
    const dy = uniform(rand, rows * cols, -1, 1);
    const both = Tensor.from(gpu, [...y, ...dy], [2 * rows * cols]);
    const dxt = Tensor.zeros(gpu, [rows * cols]);
    gpu.run([
      softmaxBackwardDispatch(gpu, {
        rows,
        cols,
        y: { buffer: both.buffer },
        dy: { buffer: both.buffer, offset: rows * cols },
        dx: { buffer: dxt.buffer },
      }),
    ]);
    expectClose('softmaxBackward shared y/dy', await dxt.read(), softmaxBackwardRef(y, dy, cols), {
      rtol: 1e-4,
      atol: 1e-7,
    });
    expect(() =>
      softmaxBackwardDispatch(gpu, {
        rows,
        cols,
        y: { buffer: both.buffer },
        dy: { buffer: dxt.buffer },
        dx: { buffer: dxt.buffer },
      }),
    ).toThrow(ArgumentError);
    expect(() =>
      softmaxBackwardDispatch(gpu, {
        rows: 0,
        cols,
        y: { buffer: both.buffer },
        dy: { buffer: both.buffer },
        dx: { buffer: dxt.buffer },
      }),
    ).toThrow(ShapeError);
    expect(() =>
      softmaxBackwardDispatch(gpu, {
        rows: rows + 1,
        cols,
        y: { buffer: both.buffer },
        dy: { buffer: both.buffer },
        dx: { buffer: dxt.buffer },
      }),
    ).toThrow(/buffer 'dx'/);
    both.destroy();
    dxt.destroy();
  });
});

describe('elementwise ops for autodiff', () => {
  it('keeps the existing op codes and appends the new ones', () => {
    expect(ELEMENTWISE_OPS).toEqual({
      add: 0,
      mul: 1,
      scale: 2,
      sigmoid: 3,
      tanh: 4,
      relu: 5,
      tanhGrad: 6,
      reluGrad: 7,
      sigmoidGrad: 8,
      gelu: 9,
      geluTanh: 10,
      geluGrad: 11,
      geluTanhGrad: 12,
      sub: 13,
    });
  });

  it('erf / erfc references match tabulated values', () => {
    const erf: Array<[number, number]> = [
      [0.01, 0.011283415555849618],
      [0.5, 0.5204998778130465],
      [1, 0.8427007929497149],
      [2, 0.9953222650189527],
      [-1.5, -0.9661051464753108],
    ];
    for (const [x, v] of erf) expect(Math.abs(erfRef(x) - v)).toBeLessThan(1e-15);
    const erfc: Array<[number, number]> = [
      [3, 2.209049699858544e-5],
      [5, 1.5374597944280349e-12],
      [10, 2.088487583762545e-45],
      [0.5, 0.4795001221869535],
    ];
    for (const [x, v] of erfc) expect(Math.abs(erfcRef(x) - v) / v).toBeLessThan(1e-12);
  });

  it('gradient references match central differences of the forward references', () => {
    const xs = [-12, -6, -3.3, -2, -1, -0.4, -0.05, 0.03, 0.3, 0.9, 1.7, 2.5, 4, 7, 15];
    const h = 1e-5;
    const fd = (f: (v: number) => number) => xs.map((x) => (f(x + h) - f(x - h)) / (2 * h));
    const ones = xs.map(() => 1);
    const tol = { rtol: 1e-7, atol: 1e-9 };
    expectClose('geluGrad vs FD', geluGradRef(xs, ones), fd(geluRef), tol);
    expectClose('geluTanhGrad vs FD', geluTanhGradRef(xs, ones), fd(geluTanhRef), tol);
    expectClose('sigmoidGrad vs FD', sigmoidGradRef(xs.map(sigmoidRef), ones), fd(sigmoidRef), tol);
    expectClose('reluGrad vs FD', reluGradRef(xs, ones), fd(reluRef), tol);
    expectClose('tanhGrad vs FD', tanhGradRef(xs.map(Math.tanh), ones), fd(Math.tanh), tol);
    // dy scales the result.
    expectClose('geluGrad·dy', geluGradRef([0.7], [-3]), [-3 * geluDerivRef(0.7)], tol);
    expectClose('geluTanhGrad·dy', geluTanhGradRef([0.7], [-3]), [-3 * geluTanhDerivRef(0.7)], tol);
  });

  const EW_TOL = { rtol: 1e-4, atol: 1e-6 };

  async function runOp(
    op: ElementwiseOp,
    x: Float32Array,
    b: Float32Array | undefined,
    want: Float64Array,
    tol: Tol,
    what: string,
  ): Promise<void> {
    const off = 3;
    const xt = Tensor.from(gpu, [0, 0, 0, ...x], [x.length + off]);
    const bt = b && Tensor.from(gpu, b, [b.length]);
    const yt = Tensor.zeros(gpu, [x.length + 1]);
    gpu.run([
      elementwiseDispatch(gpu, {
        op,
        n: x.length,
        x: { buffer: xt.buffer, offset: off },
        b: bt && { buffer: bt.buffer },
        y: { buffer: yt.buffer, offset: 1 },
      }),
    ]);
    const got = (await yt.read()).subarray(1);
    expectClose(`${op} ${what}`, got, want, tol);
    for (const t of [xt, bt, yt]) t?.destroy();
  }

  const special = f32([
    0, -0, 1e-3, -1e-3, 0.5, -0.5, 1, -1, 3, -3, 5, -5, 8, -8, 10, -10, 20, -20, 100, -100, 1e4, -1e4, 3e38, -3e38,
  ]);

  for (const [n, amp, seed] of [
    [1, 3, 400],
    [1000, 6, 401],
    [4099, 30, 402],
    [70001, 1e4, 403],
  ] as const) {
    it(`every new op, n=${n} ±${amp}`, async () => {
      const rand = rng(seed);
      const x = uniform(rand, n, -amp, amp);
      const b = uniform(rand, n, -2, 2);
      const s = uniform(rand, n, 0, 1); // sigmoid outputs
      await runOp('sub', x, b, subRef(x, b), EW_TOL, `n=${n}`);
      await runOp('reluGrad', x, b, reluGradRef(x, b), EW_TOL, `n=${n}`);
      await runOp('sigmoidGrad', s, b, sigmoidGradRef(s, b), EW_TOL, `n=${n}`);
      await runOp('gelu', x, undefined, mapRef(x, geluRef), EW_TOL, `n=${n}`);
      await runOp('geluTanh', x, undefined, mapRef(x, geluTanhRef), EW_TOL, `n=${n}`);
      await runOp('geluGrad', x, b, geluGradRef(x, b), EW_TOL, `n=${n}`);
      await runOp('geluTanhGrad', x, b, geluTanhGradRef(x, b), EW_TOL, `n=${n}`);
    });
  }

  it('special values: 0, ±tiny, saturation, near-overflow', async () => {
    const ones = f32(special.map(() => 1));
    await runOp('gelu', special, undefined, mapRef(special, geluRef), EW_TOL, 'special');
    await runOp('geluTanh', special, undefined, mapRef(special, geluTanhRef), EW_TOL, 'special');
    await runOp('geluGrad', special, ones, geluGradRef(special, ones), EW_TOL, 'special');
    await runOp('geluTanhGrad', special, ones, geluTanhGradRef(special, ones), EW_TOL, 'special');
    await runOp('reluGrad', special, ones, reluGradRef(special, ones), EW_TOL, 'special');
  });

  it('gelu and geluTanh are within 1e-6 absolute (and 1e-5 relative) on [−8, 8]', async () => {
    const n = 16001;
    const x = f32(Array.from({ length: n }, (_, i) => -8 + (16 * i) / (n - 1)));
    const ones = f32(x.map(() => 1));
    const tight = { rtol: 1e-5, atol: 1e-6 };
    await runOp('gelu', x, undefined, mapRef(x, geluRef), tight, 'grid');
    await runOp('geluTanh', x, undefined, mapRef(x, geluTanhRef), tight, 'grid');
    await runOp('geluGrad', x, ones, geluGradRef(x, ones), tight, 'grid');
    await runOp('geluTanhGrad', x, ones, geluTanhGradRef(x, ones), tight, 'grid');
  });

  it('binary ops need b', () => {
    const xt = Tensor.zeros(gpu, [4]);
    const yt = Tensor.zeros(gpu, [4]);
    for (const op of ['sub', 'reluGrad', 'sigmoidGrad', 'geluGrad', 'geluTanhGrad'] as const) {
      expect(() => elementwiseDispatch(gpu, { op, n: 4, x: { buffer: xt.buffer }, y: { buffer: yt.buffer } })).toThrow(
        /second operand 'b'/,
      );
    }
    for (const op of ['gelu', 'geluTanh'] as const) {
      expect(() =>
        elementwiseDispatch(gpu, { op, n: 4, x: { buffer: xt.buffer }, y: { buffer: yt.buffer } }),
      ).not.toThrow();
    }
    xt.destroy();
    yt.destroy();
  });
});
