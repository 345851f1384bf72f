// BPTT on the GPU (fused backward steps + weight-gradient GEMMs) vs the float64 reference.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/index.js';
import { recurrentGradChecks } from '../checks/recurrentGrad.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

describe('recurrent backward vs the float64 reference (Node, Dawn)', () => {
  for (const check of recurrentGradChecks) {
    it(check.name, async () => {
      await check.run(gpu);
      await gpu.sync();
    });
  }
});

describe('per-row lengths under the WebGPU default limits (8 storage buffers per stage)', () => {
  it('LSTM, GRU and RNN forward + BPTT with lengths (the LSTM step packs its lengths into c)', async () => {
    const small = await testGpu({ limits: 'default' });
    try {
      expect(small.limits.maxStorageBuffersPerShaderStage).toBe(8);
      const picked = recurrentGradChecks.filter((c) =>
        new RegExp(
          String.raw`vs float64: (lstm I3 H5 L2 bidir T5 B4|gru I3 H7 L2 bidir batchFirst ` +
            String.raw`T4 B3|rnn I3 H5 L2 bidir T4 B3) h0\/dhN lengths`,
        ).test(c.name),
      );
      expect(picked.length).toBe(3);
      for (const check of picked) {
        await check.run(small);
        await small.sync();
      }
    } finally {
      small.destroy();
    }
  }, 120_000);
});
