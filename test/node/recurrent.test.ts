import { afterAll, beforeAll, describe, it } from 'vitest';
import type { Gpu } from '../../src/index.js';
import { recurrentChecks } from '../checks/recurrent.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

describe('recurrent layers vs PyTorch fixtures and the float64 reference (Node, Dawn)', () => {
  for (const check of recurrentChecks) {
    it(check.name, async () => {
      await check.run(gpu);
      await gpu.sync();
    });
  }
});
