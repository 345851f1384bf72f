// GLU (PyTorch nn.GLU(dim=-1)): y = a ⊙ σ(b) for x = [a | b] along the last dimension
// (shaders/glu.wgsl, src/kernels/glu.ts, src/graph/ops/glu.ts, src/nn/layers/glu.ts,
// src/reference/glu.ts). The worked example of CONTRIBUTING.md "Add a layer".
//
// 1. forward (the layer, traced and replayed) vs the float64 reference on odd shapes;
// 2. the reference backward vs central differences of the reference forward (float64);
// 3. the GPU backward kernel vs the reference backward (element offsets in every buffer);
// 4. the GPU backward inside a traced model (Linear → GLU → Linear, and F.glu) vs finite
//    differences of the model's loss (test/checks/moduleGrad.ts);
// 5. bad input: an odd last dimension names the argument and the shape; another dim is an ArgumentError.
// Tolerances: GPU vs float64 1e-5 relative + 1e-6 absolute (one sigmoid and two products in f32).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArgumentError, F, GLU, Linear, Module, ShapeError, Tensor, type Gpu } from '../../src/index.js';
import { gluDispatch } from '../../src/kernels/glu.js';
import { gluBackwardRef, gluRef } from '../../src/reference/glu.js';
import { gradCheck } from '../checks/moduleGrad.js';
import { assertClose, rng, uniform } from '../checks/util.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

const TOL = { rtol: 1e-5, atol: 1e-6 };

describe('GLU forward vs the float64 reference', () => {
  // Last dimension 2·odd; batch 1; h = 1; a row count past one workgroup (256 threads).
  for (const shape of [
    [1, 3, 10],
    [1, 14],
    [5, 2],
    [1, 7, 3, 6],
    [1, 37, 18],
  ]) {
    it(`x ${JSON.stringify(shape)}`, async () => {
      const n = shape.reduce((a, b) => a * b, 1);
      const x = uniform(rng(shape.length * 100 + n), n, -6, 6);
      const layer = new GLU(gpu);
      const y = layer.forward(Tensor.from(gpu, x, shape));
      expect(y.shape).toEqual([...shape.slice(0, -1), shape[shape.length - 1] / 2]);
      assertClose(`glu ${JSON.stringify(shape)}`, await y.read(), gluRef(x, shape[shape.length - 1]), TOL);
      // dim given as rank − 1 is the same layer.
      const same = new GLU(gpu, { dim: shape.length - 1 }).forward(Tensor.from(gpu, x, shape));
      assertClose('glu dim = rank − 1', await same.read(), gluRef(x, shape[shape.length - 1]), TOL);
      layer.destroy();
    });
  }
});

describe('GLU backward', () => {
  it('reference backward vs central differences of the reference forward (float64)', () => {
    const rand = rng(7);
    const cols = 10;
    const x = Array.from(uniform(rand, 3 * cols, -4, 4));
    const w = Array.from(uniform(rand, (3 * cols) / 2, -1, 1)); // L = Σ w ⊙ glu(x): dL/dy = w
    const loss = (xs: number[]) => gluRef(xs, cols).reduce((s, v, i) => s + v * w[i], 0);
    const dx = gluBackwardRef(x, w, cols);
    const eps = 1e-6;
    for (let i = 0; i < x.length; i++) {
      const fd =
        (loss(x.map((v, k) => (k === i ? v + eps : v))) - loss(x.map((v, k) => (k === i ? v - eps : v)))) / (2 * eps);
      expect(Math.abs(fd - dx[i]), `dx[${i}]`).toBeLessThan(1e-8);
    }
  });

  it('GPU backward kernel vs the reference (rows 7, h 3, offsets in x, dy and dx)', async () => {
    const rand = rng(8);
    const rows = 7;
    const half = 3;
    const x = uniform(rand, 5 + rows * 2 * half, -5, 5);
    const dy = uniform(rand, 2 + rows * half, -1, 1);
    const dx0 = uniform(rand, 4 + rows * 2 * half, -1, 1);
    const [xt, gt, dxt] = [
      Tensor.from(gpu, x, [x.length]),
      Tensor.from(gpu, dy, [dy.length]),
      Tensor.from(gpu, dx0, [dx0.length]),
    ];
    gpu.run([
      gluDispatch(gpu, {
        rows,
        half,
        x: { buffer: xt.buffer, offset: 5 },
        dy: { buffer: gt.buffer, offset: 2 },
        y: { buffer: dxt.buffer, offset: 4 },
        backward: true,
      }),
    ]);
    const got = await dxt.read();
    assertClose('glu.backward', got.subarray(4), gluBackwardRef(x.subarray(5), dy.subarray(2), 2 * half), TOL);
    expect(Array.from(got.subarray(0, 4)), 'elements before the offset are untouched').toEqual(
      Array.from(dx0.subarray(0, 4)),
    );
    for (const t of [xt, gt, dxt]) t.destroy();
  });

  class Gated extends Module {
    inp: Linear;
    glu: GLU;
    out: Linear;
    constructor(gpu: Gpu) {
      super(gpu);
      this.inp = new Linear(gpu, { inFeatures: 3, outFeatures: 10, seed: 1 });
      this.glu = new GLU(gpu, { dim: -1 });
      this.out = new Linear(gpu, { inFeatures: 5, outFeatures: 2, seed: 2 });
    }
    forward(x: Tensor): Tensor {
      return this.out.forward(this.glu.forward(this.inp.forward(x))); // [1, 7, 3] → [1, 7, 10] → [1, 7, 5] → [1, 7, 2]
    }
  }

  /** F.glu on a rank-2 input, dim given as rank − 1: [7, 3] → [7, 6] → [7, 3] → [7, 1]. */
  class Functional extends Module {
    inp: Linear;
    out: Linear;
    constructor(gpu: Gpu) {
      super(gpu);
      this.inp = new Linear(gpu, { inFeatures: 3, outFeatures: 6, seed: 3 });
      this.out = new Linear(gpu, { inFeatures: 3, outFeatures: 1, seed: 4 });
    }
    forward(x: Tensor): Tensor {
      return this.out.forward(F.glu(this.inp.forward(x), 1));
    }
  }

  it('GLU inside a traced model (Linear → GLU → Linear, batch 1, seqLen 7) vs finite differences', async () => {
    const rand = rng(9);
    const model = new Gated(gpu);
    const x = Tensor.from(gpu, uniform(rand, 21, -2, 2), [1, 7, 3]);
    const y = Tensor.from(gpu, uniform(rand, 14, -1, 1), [1, 7, 2]);
    // Every entry of the first Linear: its gradient flows only through GLU's backward.
    const { checked } = await gradCheck(model, [x], y, {
      indices: (n) => Array.from({ length: n }, (_, i) => i),
      nonZero: true,
    });
    expect(checked).toBe(30 + 10 + 10 + 2);
    model.destroy();
  });

  it('F.glu(x, 1) inside a traced model vs finite differences', async () => {
    const rand = rng(10);
    const model = new Functional(gpu);
    const x = Tensor.from(gpu, uniform(rand, 21, -2, 2), [7, 3]);
    const y = Tensor.from(gpu, uniform(rand, 7, -1, 1), [7, 1]);
    await gradCheck(model, [x], y, { indices: (n) => Array.from({ length: n }, (_, i) => i), nonZero: true });
    model.destroy();
  });
});

describe('GLU bad input', () => {
  it('an odd last dimension names the argument and the shape', () => {
    const layer = new GLU(gpu);
    const x = Tensor.from(gpu, new Float32Array(21), [1, 3, 7]);
    expect(() => layer.forward(x)).toThrow(ShapeError);
    expect(() => layer.forward(x)).toThrow(/glu: argument 'x' has shape \[1, 3, 7\].*last dimension is even/);
    layer.destroy();
  });

  it('a dim other than the last is an ArgumentError naming dim and the shape', () => {
    const x = Tensor.from(gpu, new Float32Array(24), [2, 3, 4]);
    for (const dim of [0, 1, -2]) {
      const layer = new GLU(gpu, { dim });
      expect(() => layer.forward(x)).toThrow(ArgumentError);
      expect(() => layer.forward(x)).toThrow(
        new RegExp(`glu: dim ${dim} of argument 'x' \\[2, 3, 4\\] is not the last dimension`),
      );
      layer.destroy();
    }
    expect(() => new GLU(gpu, { dim: 0.5 })).toThrow(/GLU: option 'dim' must be an integer, got 0.5/);
  });

  it('the kernel builder rejects a view too small and a backward without dy', () => {
    const t = Tensor.from(gpu, new Float32Array(12), [12]);
    const out = Tensor.from(gpu, new Float32Array(12), [12]);
    expect(() => gluDispatch(gpu, { rows: 2, half: 4, x: { buffer: t.buffer }, y: { buffer: out.buffer } })).toThrow(
      /glu: buffer 'x' holds 12 elements, fewer than 16/,
    );
    expect(() =>
      gluDispatch(gpu, { rows: 2, half: 3, x: { buffer: t.buffer }, y: { buffer: out.buffer }, backward: true }),
    ).toThrow(/needs 'dy'/);
    expect(() => gluDispatch(gpu, { rows: 2, half: 3, x: { buffer: t.buffer }, y: { buffer: t.buffer } })).toThrow(
      /must not share a buffer/,
    );
    t.destroy();
    out.destroy();
  });
});
