// The bench's statistics (bench/stats.ts): min / median / max, the seeded PRNG, nearest-rank
// quantiles and the bootstrap CI on a ratio of medians, on cases whose answer is known.
import { describe, expect, it } from 'vitest';
import { bootstrapRatioCI, formatRatio, median, quantileSorted, seededRandom, spread } from '../../bench/stats.js';

describe('bench stats', () => {
  it('median and spread of odd and even counts', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(spread([5, 1, 4, 2, 3])).toEqual({ min: 1, median: 3, max: 5, n: 5 });
    expect(() => spread([])).toThrow(RangeError);
  });

  it('seededRandom repeats per seed, stays in [0, 1) and is roughly uniform', () => {
    const a = seededRandom(7);
    const b = seededRandom(7);
    const xs = Array.from({ length: 10000 }, () => a());
    expect(Array.from({ length: 10000 }, () => b())).toEqual(xs);
    expect(seededRandom(8)()).not.toBe(xs[0]);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01);
    for (let k = 0; k < 10; k++) {
      const inBin = xs.filter((x) => x >= k / 10 && x < (k + 1) / 10).length;
      expect(Math.abs(inBin - 1000)).toBeLessThan(100); // ±3σ of Binomial(10000, 0.1) is ±90
    }
  });

  it('quantileSorted takes the nearest rank', () => {
    const s = [10, 20, 30, 40];
    expect(quantileSorted(s, 0)).toBe(10);
    expect(quantileSorted(s, 0.25)).toBe(10);
    expect(quantileSorted(s, 0.26)).toBe(20);
    expect(quantileSorted(s, 0.5)).toBe(20);
    expect(quantileSorted(s, 0.975)).toBe(40);
    expect(quantileSorted(s, 1)).toBe(40);
  });

  it('constant runs give a zero-width interval at the exact ratio', () => {
    const ci = bootstrapRatioCI([6, 6, 6, 6, 6], [2, 2, 2]);
    expect(ci).toEqual({ ratio: 3, lo: 3, hi: 3, level: 0.95, n: [5, 3] });
    expect(formatRatio(ci)).toBe('3.00× [3.00, 3.00] (n 5/3)');
  });

  it('a two-run numerator: resampled medians are 1, 2, 3 with probability 1/4, 1/2, 1/4', () => {
    // median of a resample of [1, 3] is 1 (both 1), 3 (both 3) or 2 (one each). With 4000 draws
    // the 2.5 % and 97.5 % quantiles fall in the outer quarters: the interval is exactly [1, 3].
    const ci = bootstrapRatioCI([1, 3], [1], { iterations: 4000 });
    expect(ci.ratio).toBe(2);
    expect([ci.lo, ci.hi]).toEqual([1, 3]);
    // At level 0.4 the quantiles (30 % and 70 %) fall in the middle half: [2, 2].
    const narrow = bootstrapRatioCI([1, 3], [1], { iterations: 4000, level: 0.4 });
    expect([narrow.lo, narrow.hi]).toEqual([2, 2]);
  });

  it('is deterministic per seed and scales with the numerator', () => {
    const random = seededRandom(1);
    const num = Array.from({ length: 20 }, () => 10 + random());
    const den = Array.from({ length: 7 }, () => 5 + random());
    const a = bootstrapRatioCI(num, den);
    expect(bootstrapRatioCI(num, den)).toEqual(a);
    const scaled = bootstrapRatioCI(
      num.map((x) => 3 * x),
      den,
    );
    expect(scaled.ratio).toBeCloseTo(3 * a.ratio, 12);
    expect(scaled.lo).toBeCloseTo(3 * a.lo, 12);
    expect(scaled.hi).toBeCloseTo(3 * a.hi, 12);
    expect(bootstrapRatioCI(num, den, { seed: 2 })).not.toEqual(a);
    expect(() => bootstrapRatioCI([], den)).toThrow(RangeError);
  });

  it('covers the true ratio of two noisy samples and narrows with more runs', () => {
    // Medians of uniform noise around 2 and 1: the true ratio of medians is 2.
    const random = seededRandom(3);
    const draw = (n: number, centre: number) => Array.from({ length: n }, () => centre + (random() - 0.5) * 0.2);
    const small = bootstrapRatioCI(draw(10, 2), draw(10, 1));
    const large = bootstrapRatioCI(draw(200, 2), draw(200, 1));
    for (const ci of [small, large]) {
      expect(ci.lo).toBeLessThanOrEqual(ci.ratio);
      expect(ci.hi).toBeGreaterThanOrEqual(ci.ratio);
      expect(ci.lo).toBeLessThan(2);
      expect(ci.hi).toBeGreaterThan(2);
    }
    expect(large.hi - large.lo).toBeLessThan(small.hi - small.lo);
    expect(large.hi - large.lo).toBeLessThan(0.1);
  });
});
