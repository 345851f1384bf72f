// Fused scaled dot-product attention vs the float64 reference (Node, Dawn).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/index.js';
import { attentionChecks } from '../checks/attention.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

describe('fused attention vs the float64 reference (Node, Dawn)', () => {
  for (const check of attentionChecks) {
    it(check.name, async () => {
      await check.run(gpu);
      await gpu.sync();
    });
  }
});

describe('fused attention under the WebGPU default limits (16 KiB workgroup storage)', () => {
  it('headDim 128, forward and backward, with key tiles sized to the limit', async () => {
    const small = await testGpu({ limits: 'default' });
    try {
      for (const check of attentionChecks.filter((c) => c.name.includes('D128'))) {
        await check.run(small);
        await small.sync();
      }
    } finally {
      small.destroy();
    }
  });
});

describe('attention bad input: errors name the argument, before any GPU work', () => {
  it('rejects mismatched shapes, masks and head sizes', async () => {
    const gpu2 = await testGpu();
    try {
      const { Tensor, ShapeError, scaledDotProductAttention, scaledDotProductAttentionBackward } =
        await import('../../src/index.js');
      const t = (shape: number[]) => Tensor.zeros(gpu2, shape);
      const q = t([1, 2, 3, 4]);
      const k = t([1, 2, 5, 4]);
      expect(() => scaledDotProductAttention(gpu2, q, t([1, 2, 5, 6]), k)).toThrow(
        /argument 'k' has shape \[1, 2, 5, 6\]; expected \[1, 2, seqLenK, 4\]/,
      );
      expect(() => scaledDotProductAttention(gpu2, q, k, t([1, 2, 4, 4]))).toThrow(
        /argument 'v' has shape \[1, 2, 4, 4\]/,
      );
      expect(() => scaledDotProductAttention(gpu2, q, k, k, { keyPaddingMask: t([1, 4]) })).toThrow(
        /'keyPaddingMask' has shape \[1, 4\]; expected \[1, 5\]/,
      );
      expect(() =>
        scaledDotProductAttention(gpu2, t([1, 1, 6, 4]), t([1, 1, 5, 4]), t([1, 1, 5, 4]), { causal: true }),
      ).toThrow(/causal mask needs seqLenQ ≤ seqLenK/);
      expect(() => scaledDotProductAttention(gpu2, t([1, 1, 2, 257]), t([1, 1, 2, 257]), t([1, 1, 2, 257]))).toThrow(
        ShapeError,
      );
      expect(() => scaledDotProductAttention(gpu2, t([2, 3, 4]), k, k)).toThrow(/'q'/);
      const { output, lse } = scaledDotProductAttention(gpu2, q, k, k);
      expect(() => scaledDotProductAttentionBackward(gpu2, q, k, k, output, t([1, 2, 4]), output)).toThrow(
        /'lse' has shape \[1, 2, 4\], expected \[1, 2, 3\]/,
      );
      // still usable after the errors
      const g = scaledDotProductAttentionBackward(gpu2, q, k, k, output, lse, output);
      expect((await g.dq.read()).length).toBe(24);
    } finally {
      gpu2.destroy();
    }
  });
});
