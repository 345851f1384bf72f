// A whole training step (forward, loss, BPTT, clipping, optimizer) vs PyTorch fixtures.
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { Gpu } from '../../src/index.js';
import { trainingChecks } from '../checks/training.js';
import { modelGradChecks } from '../checks/modelGrad.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

describe('training steps vs PyTorch 1.13 (Node, Dawn)', () => {
  for (const check of [...trainingChecks, ...modelGradChecks]) {
    it(check.name, async () => {
      await check.run(gpu);
      await gpu.sync();
    });
  }
});
