import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/index.js';
import { kernelChecks } from '../checks/kernels.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

describe('kernels vs float64 references (Node, Dawn)', () => {
  it('has a WebGPU adapter', () => {
    expect(gpu.device).toBeTruthy();
    console.log(`adapter: ${JSON.stringify(gpu.adapterInfo)}; features: ${JSON.stringify(gpu.features)}`);
  });
  for (const check of kernelChecks) {
    it(check.name, async () => {
      await check.run(gpu);
      await gpu.sync(); // surfaces any uncaptured GPU error from this check
    });
  }
});
