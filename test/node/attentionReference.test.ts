// The float64 attention backward (src/reference/attention.ts) against 5-point central finite
// differences of L = Σ O ⊙ R, for Q, K and V, with causal and key-padding masks: < 1e-6.
import { describe, expect, it } from 'vitest';
import { attentionRef, attentionBackwardRef } from '../../src/reference/attention.js';
import { rng, uniform } from '../../src/util/random.js';

describe('attention float64 backward vs finite differences', () => {
  for (const [causal, masked] of [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ]) {
    it(`B2 H2 Tq5 Tk7 D3${causal ? ' causal' : ''}${masked ? ' keyMask' : ''}`, () => {
      const rand = rng(causal ? 3 : 4);
      const dims = { batch: 2, heads: 2, seqLenQ: 5, seqLenK: 7, headDim: 3 };
      const nq = 2 * 2 * 5 * 3;
      const nk = 2 * 2 * 7 * 3;
      const x = {
        q: Float64Array.from(uniform(rand, nq, -2, 2)),
        k: Float64Array.from(uniform(rand, nk, -2, 2)),
        v: Float64Array.from(uniform(rand, nk, -1, 1)),
      };
      const R = Float64Array.from(uniform(rand, nq, -1, 1));
      const keyMask = masked
        ? Float64Array.from({ length: 2 * 7 }, (_, i) => (i % 7 < 4 + (i >= 7 ? 2 : 0) ? 1 : 0))
        : undefined;
      const opts = { causal, keyMask };
      const loss = () => attentionRef(x.q, x.k, x.v, dims, opts).output.reduce((s, o, i) => s + o * R[i], 0);
      const g = attentionBackwardRef(x.q, x.k, x.v, R, dims, opts);
      const grads = { q: g.dq, k: g.dk, v: g.dv };
      const h = 1e-4;
      let worst = 0;
      for (const name of ['q', 'k', 'v'] as const) {
        const w = x[name];
        for (let i = 0; i < w.length; i++) {
          const at = (delta: number) => {
            const keep = w[i];
            w[i] = keep + delta;
            const val = loss();
            w[i] = keep;
            return val;
          };
          const fd = (8 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12 * h);
          const rel = Math.abs(fd - grads[name][i]) / Math.max(1e-8, Math.abs(fd) + Math.abs(grads[name][i]));
          expect(rel, `d${name}[${i}]: finite difference ${fd}, backward ${grads[name][i]}`).toBeLessThan(1e-6);
          worst = Math.max(worst, rel);
        }
      }
      console.log(`attention backward: worst relative error ${worst.toExponential(2)}`);
    });
  }
});
