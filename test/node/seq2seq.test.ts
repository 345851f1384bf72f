// Seq2Seq on the GPU vs the float64 reference (Node, Dawn): see test/checks/seq2seq.ts.
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { Gpu } from '../../src/index.js';
import { seq2seqChecks } from '../checks/seq2seq.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

describe('Seq2Seq vs the float64 reference (Node, Dawn)', () => {
  for (const check of seq2seqChecks) {
    it(check.name, async () => {
      await check.run(gpu);
      await gpu.sync();
    });
  }
});
