// The bench's peak probe (bench/peakProbe.ts): its output equals the float64 recurrence it claims to
// run (so the timed loop does the FLOP it is credited with), and measurePeak reports a positive rate.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/index.js';
import { PeakProbe, PROBE_FLOP_PER_ITER, measurePeak, probeReference } from '../../bench/peakProbe.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

describe('bench peak probe', () => {
  it('writes the float64 FMA recurrence for every invocation (1e-4 relative) and counts its FLOP', async () => {
    const probe = new PeakProbe(gpu);
    try {
      for (const iters of [1, 37]) {
        const r = await probe.run(2, iters, true);
        expect(r.flops).toBe(2 * 256 * iters * PROBE_FLOP_PER_ITER);
        expect(r.ms).toBeGreaterThanOrEqual(0);
        for (let i = 0; i < 512; i++) {
          const want = probeReference(i, iters);
          for (let lane = 0; lane < 4; lane++) {
            const got = r.out![4 * i + lane];
            expect(Math.abs(got - want[lane]), `invocation ${i} lane ${lane}`).toBeLessThan(
              1e-4 * Math.abs(want[lane]),
            );
          }
        }
      }
    } finally {
      probe.destroy();
    }
  });

  it('measurePeak grows the loop to the target time and reports the best run', async () => {
    const peak = await measurePeak(gpu, { grids: [2, 8], targetMs: 2, reps: 3 });
    expect(peak.gflops).toBeGreaterThan(0);
    expect(peak.gflops).toBe(peak.runs.max);
    expect(peak.runs.n).toBe(3);
    expect(peak.runs.min).toBeLessThanOrEqual(peak.runs.median);
    expect(peak.iters).toBeGreaterThanOrEqual(16);
    expect([2, 8]).toContain(peak.workgroups);
    expect(peak.description).toMatch(/FMA probe: [28]×256 invocations × \d+ iterations × 64 FLOP/);
  });
});
