// Adapter-dependent kernel choices (src/gpu/tuning.ts): the row-reduction width. Every width a
// kernel can be given — the GPU default (forced: 256), the software default (8, what SwiftShader
// gets by default), 1 and 2 — is checked against the float64 references for LayerNorm forward and
// backward, MSE and cross-entropy at odd shapes (rows and columns not multiples of the width, a
// 1 × 1 row), so the variant CI does not run by default is tested too. Tolerances as the kernels'
// own tests: forward 1e-4 and gradients 1e-3 of the size of the terms.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tensor, type Gpu } from '../../src/index.js';
import { crossEntropyDispatches } from '../../src/kernels/crossEntropy.js';
import { layerNormBackwardDispatches, layerNormDispatch } from '../../src/kernels/layerNorm.js';
import { mseDispatch } from '../../src/kernels/mse.js';
import { isSoftwareAdapter, reductionWidth } from '../../src/gpu/tuning.js';
import { layerNormBackwardRef, layerNormRef } from '../../src/reference/layerNorm.js';
import { crossEntropyRef, mseRef } from '../../src/reference/loss.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

const rand = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 97 + i * 1.7) * 2);
/** max |a − b| / max(|b|, 1e-3): the error relative to the largest expected value. */
function rel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let err = 0;
  let scale = 1e-3;
  for (let i = 0; i < b.length; i++) {
    err = Math.max(err, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return err / scale;
}

describe('tuning: the adapter and the reduction width', () => {
  it('SwiftShader is a software adapter; the width caps the kernel default', () => {
    expect(gpu.software).toBe(isSoftwareAdapter(gpu.adapterInfo));
    expect(gpu.software).toBe(true); // CI runs on SwiftShader: if this fails, the defaults below differ
    const soft = { tuning: { reductionWidth: 'auto' as const }, software: true };
    const hard = { tuning: { reductionWidth: 'auto' as const }, software: false };
    expect([reductionWidth(soft, 256), reductionWidth(soft, 4), reductionWidth(hard, 256)]).toEqual([8, 4, 256]);
    expect(reductionWidth({ tuning: { reductionWidth: 32 }, software: true }, 256)).toBe(32);
    expect(reductionWidth({ tuning: { reductionWidth: 512 }, software: false }, 64)).toBe(64);
    const named = (o: Partial<{ vendor: string; architecture: string; description: string }>) =>
      isSoftwareAdapter({ vendor: '', architecture: '', description: '', isFallbackAdapter: false, ...o });
    expect([named({ architecture: 'swiftshader' }), named({ description: 'llvmpipe (LLVM 15.0.6)' })]).toEqual([
      true,
      true,
    ]);
    expect(named({ vendor: 'nvidia', architecture: 'hopper' })).toBe(false);
  });
});

describe('every reduction width vs float64', () => {
  afterAll(() => {
    gpu.tuning.reductionWidth = 'auto';
  });
  for (const width of [256, 8, 2, 1] as const) {
    it(`width ${width}: LayerNorm forward + backward, MSE, cross-entropy`, async () => {
      gpu.tuning.reductionWidth = width;
      for (const [rows, cols] of [
        [7, 300],
        [33, 65],
        [1, 1],
        [3, 256],
      ]) {
        const n = rows * cols;
        const [xs, ws, bs, dys] = [rand(n, 1), rand(cols, 2), rand(cols, 3), rand(n, 4)];
        const t = (a: Float32Array, shape: number[]) => Tensor.from(gpu, a, shape);
        const [x, w, b, dy] = [t(xs, [n]), t(ws, [cols]), t(bs, [cols]), t(dys, [n])];
        const [y, stats, dx, dW, dB] = [[n], [2 * rows], [n], [cols], [cols]].map((s) => Tensor.empty(gpu, s, 'out'));
        const mean = { buffer: stats.buffer };
        const rstd = { buffer: stats.buffer, offset: rows };
        gpu.run([
          layerNormDispatch(gpu, { rows, cols, eps: 1e-5, x, weight: w, bias: b, y, mean, rstd }),
          ...layerNormBackwardDispatches(gpu, { rows, cols, x, dy, weight: w, mean, rstd, dx, dWeight: dW, dBias: dB }),
        ]);
        const fwd = layerNormRef(xs, rows, cols, 1e-5, ws, bs);
        const bwd = layerNormBackwardRef(xs, dys, rows, cols, 1e-5, ws);
        const shape = `${rows}×${cols}`;
        expect(rel(await y.read(), fwd.y), `y ${shape}`).toBeLessThan(1e-4);
        expect(rel(await dx.read(), bwd.dx), `dx ${shape}`).toBeLessThan(1e-3);
        expect(rel(await dW.read(), bwd.dWeight), `dWeight ${shape}`).toBeLessThan(1e-3);
        expect(rel(await dB.read(), bwd.dBias), `dBias ${shape}`).toBeLessThan(1e-3);

        // MSE: rows' shares of the mean loss and d(loss)/d pred.
        const [rowLoss, dPred] = [Tensor.empty(gpu, [rows], 'rowLoss'), Tensor.empty(gpu, [n], 'dPred')];
        gpu.run([mseDispatch(gpu, { rows, cols, pred: x, target: dy, rowLoss, dPred })]);
        const m = mseRef(xs, dys);
        const loss = (await rowLoss.read()).reduce((a, v) => a + v, 0);
        expect(Math.abs(loss - m.loss) / m.loss, `mse ${shape}`).toBeLessThan(1e-4);
        expect(rel(await dPred.read(), m.dPred), `mse dPred ${shape}`).toBeLessThan(1e-4);

        // Cross-entropy with every 3rd row ignored (PyTorch's ignore_index).
        const targets = Int32Array.from({ length: rows }, (_, r) => (r % 3 === 2 ? -100 : (r * 7) % cols));
        const tt = Tensor.from(gpu, targets, [rows]);
        const [ceLoss, dLogits] = [Tensor.empty(gpu, [rows], 'ceLoss'), Tensor.empty(gpu, [n], 'dLogits')];
        gpu.run(crossEntropyDispatches(gpu, { rows, cols, logits: x, targets: tt, rowLoss: ceLoss, dLogits }));
        const ce = crossEntropyRef(xs, targets);
        const ceSum = (await ceLoss.read()).reduce((a, v) => a + v, 0);
        expect(Math.abs(ceSum - ce.loss) / Math.max(ce.loss, 1e-3), `ce ${shape}`).toBeLessThan(1e-4);
        expect(rel(await dLogits.read(), ce.dLogits), `ce dLogits ${shape}`).toBeLessThan(1e-3);
        for (const z of [x, w, b, dy, y, stats, dx, dW, dB, rowLoss, dPred, tt, ceLoss, dLogits]) z.destroy();
      }
    });
  }

  it('a wrong reference is rejected (the comparison can fail)', async () => {
    const xs = rand(12, 5);
    const fwd = layerNormRef(xs, 3, 4, 1e-5);
    const wrong = layerNormRef(
      xs.map((v, i) => (i === 0 ? v + 0.01 : v)),
      3,
      4,
      1e-5,
    ); // one element off
    expect(rel(wrong.y, fwd.y)).toBeGreaterThan(1e-4);
  });
});
