// The float64 RNN attention backward (src/reference/rnnAttention.ts) against 5-point central finite
// differences of L = Σ c ⊙ R for every input (query, keys) and every parameter, for the dot, general
// and additive scores, with a key mask (one batch row fully masked): relative error < 1e-6.
import { describe, expect, it } from 'vitest';
import {
  rnnAttentionRef,
  rnnAttentionBackwardRef,
  rnnAttentionParameterShapes,
  type RnnAttentionDimsRef,
  type RnnAttentionScoreRef,
} from '../../src/reference/rnnAttention.js';
import { rng, uniform } from '../../src/util/random.js';

function setup(score: RnnAttentionScoreRef, masked: boolean, seed: number) {
  const rand = rng(seed);
  const d: RnnAttentionDimsRef = {
    score,
    batch: 3,
    seqLenQ: 4,
    seqLenS: 5,
    queryDim: score === 'dot' ? 3 : 4,
    keyDim: 3,
    attnDim: score === 'additive' ? 5 : undefined,
  };
  const x: Record<string, Float64Array> = {
    query: Float64Array.from(uniform(rand, d.batch * d.seqLenQ * d.queryDim, -1.5, 1.5)),
    keys: Float64Array.from(uniform(rand, d.batch * d.seqLenS * d.keyDim, -1.5, 1.5)),
  };
  for (const p of rnnAttentionParameterShapes(d))
    x[p.name] = Float64Array.from(
      uniform(
        rand,
        p.shape.reduce((a, b) => a * b, 1),
        -1,
        1,
      ),
    );
  // batch 0 keeps a prefix of 3 keys, batch 1 keeps all, batch 2 keeps none
  const keyMask = masked
    ? Float64Array.from({ length: 3 * 5 }, (_, i) => (i < 5 ? (i < 3 ? 1 : 0) : i < 10 ? 1 : 0))
    : undefined;
  const R = Float64Array.from(uniform(rand, d.batch * d.seqLenQ * d.keyDim, -1, 1));
  return { d, x, keyMask, R };
}

describe('RNN attention float64 backward vs finite differences', () => {
  for (const score of ['dot', 'general', 'additive'] as const)
    for (const masked of [false, true]) {
      it(`${score}${masked ? ' keyMask (one row fully masked)' : ''}: every input and parameter`, () => {
        const { d, x, keyMask, R } = setup(score, masked, score.length * 7 + (masked ? 1 : 0));
        const params = () => Object.fromEntries(Object.entries(x).filter(([k]) => k !== 'query' && k !== 'keys'));
        const loss = () =>
          rnnAttentionRef(x.query, x.keys, params(), d, keyMask).context.reduce((s, c, i) => s + c * R[i], 0);
        const g = rnnAttentionBackwardRef(x.query, x.keys, params(), R, d, keyMask);
        const grads: Record<string, Float64Array> = { query: g.dQuery, keys: g.dKeys, ...g.grads };
        expect(Object.keys(grads).sort()).toEqual(Object.keys(x).sort());
        const h = 1e-4;
        let worst = 0;
        let nonzero = 0;
        for (const name of Object.keys(x)) {
          const w = x[name];
          expect(grads[name].length, name).toBe(w.length);
          for (let i = 0; i < w.length; i++) {
            const at = (delta: number) => {
              const keep = w[i];
              w[i] = keep + delta;
              const val = loss();
              w[i] = keep;
              return val;
            };
            const fd = (8 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12 * h);
            const got = grads[name][i];
            const rel = Math.abs(fd - got) / Math.max(1e-8, Math.abs(fd) + Math.abs(got));
            expect(rel, `d${name}[${i}]: finite difference ${fd}, backward ${got}`).toBeLessThan(1e-6);
            worst = Math.max(worst, rel);
            if (Math.abs(got) > 1e-3) nonzero++;
          }
        }
        // the check has teeth: most gradients are far from zero
        expect(nonzero).toBeGreaterThan(Object.values(x).reduce((s, w) => s + w.length, 0) / 2);
        console.log(
          `rnn attention ${score}${masked ? ' masked' : ''} backward: worst relative error ${worst.toExponential(2)}`,
        );
      });
    }
});

describe('RNN attention float64 forward', () => {
  it('α rows sum to 1 over kept keys, are 0 on masked keys and on a fully masked row; c = Σ α·h̄', () => {
    for (const score of ['dot', 'general', 'additive'] as const) {
      const { d, x, keyMask } = setup(score, true, 99);
      const { query, keys, ...params } = x;
      const { alpha, context } = rnnAttentionRef(query, keys, params, d, keyMask);
      for (let b = 0; b < 3; b++)
        for (let t = 0; t < 4; t++) {
          let sum = 0;
          for (let s = 0; s < 5; s++) {
            const a = alpha[(b * 4 + t) * 5 + s];
            if (keyMask![b * 5 + s] === 0) expect(a).toBe(0);
            else expect(a).toBeGreaterThan(0);
            sum += a;
          }
          expect(sum).toBeCloseTo(b === 2 ? 0 : 1, 12);
          for (let j = 0; j < 3; j++) {
            let c = 0;
            for (let s = 0; s < 5; s++) c += alpha[(b * 4 + t) * 5 + s] * keys[(b * 5 + s) * 3 + j];
            expect(context[(b * 4 + t) * 3 + j]).toBeCloseTo(c, 12);
          }
        }
    }
  });

  it('general with W = I equals dot; additive scores match vᵀ·tanh(W1·h + W2·h̄) written out for one entry', () => {
    const { d, x } = setup('dot', false, 5);
    const eye = Float64Array.from({ length: 9 }, (_, i) => (i % 4 === 0 ? 1 : 0));
    const dot = rnnAttentionRef(x.query, x.keys, {}, d);
    const gen = rnnAttentionRef(x.query, x.keys, { weight: eye }, { ...d, score: 'general' });
    for (let i = 0; i < dot.alpha.length; i++) expect(gen.alpha[i]).toBeCloseTo(dot.alpha[i], 12);
    for (let i = 0; i < dot.context.length; i++) expect(gen.context[i]).toBeCloseTo(dot.context[i], 12);
    // additive, B1 Tq1 Ts2: α_0 = σ(score_0 − score_1)
    const W1 = [0.5, -1, 2, 0.25]; // [2, 2]
    const W2 = [1, 0, -0.5, 1.5]; // [2, 2]
    const v = [0.7, -1.2];
    const q = [0.3, -0.4];
    const k = [1, 2, -0.5, 0.1];
    const sc = (s: number) => {
      let r = 0;
      for (let a = 0; a < 2; a++)
        r +=
          v[a] *
          Math.tanh(W1[2 * a] * q[0] + W1[2 * a + 1] * q[1] + W2[2 * a] * k[2 * s] + W2[2 * a + 1] * k[2 * s + 1]);
      return r;
    };
    const add = rnnAttentionRef(
      q,
      k,
      { 'query_proj.weight': W1, 'key_proj.weight': W2, v },
      { score: 'additive', batch: 1, seqLenQ: 1, seqLenS: 2, queryDim: 2, keyDim: 2, attnDim: 2 },
    );
    expect(add.alpha[0]).toBeCloseTo(1 / (1 + Math.exp(sc(1) - sc(0))), 14);
  });
});
