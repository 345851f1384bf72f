// Fused scaled dot-product attention vs the float64 reference (Node, Dawn).
import { afterAll, beforeAll, describe, it } from 'vitest';
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
