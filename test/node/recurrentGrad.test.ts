// BPTT on the GPU (fused backward steps + weight-gradient GEMMs) vs the float64 reference.
import { afterAll, beforeAll, describe, it } from 'vitest';
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
