// The float64 multi-head attention backward (src/reference/multiHeadAttention.ts) against
// 5-point central finite differences of L = Σ output ⊙ R, for query, key, value and all four
// parameters, with key-padding and causal masks, and for self-attention (one tensor in all three
// roles: its gradient is the sum of the roles'): relative error < 1e-6 (floor 1e-4).
import { describe, expect, it } from 'vitest';
import {
  multiHeadAttentionRef,
  multiHeadAttentionBackwardRef,
  type MultiHeadAttentionParams,
} from '../../src/reference/multiHeadAttention.js';
import { rng, uniform } from '../../src/util/random.js';

const f64 = (a: Float32Array) => Float64Array.from(a);

/** 5-point central difference of `loss` in x[i] (x is modified and restored). */
function fd(x: Float64Array, i: number, loss: () => number, h = 1e-4): number {
  const keep = x[i];
  const at = (delta: number) => {
    x[i] = keep + delta;
    const v = loss();
    x[i] = keep;
    return v;
  };
  return (8 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12 * h);
}

function compare(name: string, x: Float64Array, grad: ArrayLike<number>, loss: () => number): number {
  let worst = 0;
  for (let i = 0; i < x.length; i++) {
    const want = fd(x, i, loss);
    // Floor 1e-4: a gradient that is exactly 0 (the key bias, see below) meets finite-difference
    // round-off of ~1e-11 (≈ ε·|L|/h), which must pass; gradients ≥ 1e-4 are held to 1e-6 relative.
    const rel = Math.abs(want - grad[i]) / Math.max(1e-4, Math.abs(want) + Math.abs(grad[i]));
    expect(rel, `${name}[${i}]: finite difference ${want}, backward ${grad[i]}`).toBeLessThan(1e-6);
    worst = Math.max(worst, rel);
  }
  return worst;
}

describe('multi-head attention float64 backward vs finite differences', () => {
  const cases = [
    { name: 'cross B2 Tq3 Tk4 E6 H2', causal: false, masked: false, self: false },
    { name: 'cross B2 Tq3 Tk4 E6 H2 keyMask', causal: false, masked: true, self: false },
    { name: 'cross B2 Tq3 Tk4 E6 H3 causal keyMask', causal: true, masked: true, self: false },
    { name: 'self B2 T4 E6 H2 causal', causal: true, masked: false, self: true },
    { name: 'self B2 T4 E6 H3 keyMask', causal: false, masked: true, self: true },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const rand = rng(c.name.length * 31 + (c.causal ? 1 : 0));
      const H = c.name.includes('H3') ? 3 : 2;
      const dims = { batch: 2, seqLenQ: c.self ? 4 : 3, seqLenK: 4, embedDim: 6, numHeads: H };
      const E = dims.embedDim;
      const p = {
        inProjWeight: f64(uniform(rand, 3 * E * E, -0.8, 0.8)),
        inProjBias: f64(uniform(rand, 3 * E, -0.5, 0.5)),
        outProjWeight: f64(uniform(rand, E * E, -0.8, 0.8)),
        outProjBias: f64(uniform(rand, E, -0.5, 0.5)),
      } satisfies MultiHeadAttentionParams;
      const query = f64(uniform(rand, dims.batch * dims.seqLenQ * E, -1.5, 1.5));
      const key = c.self ? query : f64(uniform(rand, dims.batch * dims.seqLenK * E, -1.5, 1.5));
      const value = c.self ? query : f64(uniform(rand, dims.batch * dims.seqLenK * E, -1, 1));
      // batch 0 keeps 3 of 4 keys, batch 1 keeps 2 (key 0 always kept: no fully masked row)
      const keyMask = c.masked ? Float64Array.from([1, 1, 0, 1, 1, 0, 1, 0]) : undefined;
      const opts = { causal: c.causal, keyMask };
      const R = f64(uniform(rand, dims.batch * dims.seqLenQ * E, -1, 1));
      const loss = () => multiHeadAttentionRef(query, key, value, p, dims, opts).reduce((s, o, i) => s + o * R[i], 0);
      const g = multiHeadAttentionBackwardRef(query, key, value, p, R, dims, opts);
      expect(Array.from(g.output)).toEqual(Array.from(multiHeadAttentionRef(query, key, value, p, dims, opts)));
      let worst = 0;
      if (c.self) {
        const dx = g.dQuery.map((x, i) => x + g.dKey[i] + g.dValue[i]);
        worst = Math.max(worst, compare('dx (sum of the three roles)', query, dx, loss));
      } else {
        worst = Math.max(worst, compare('dQuery', query, g.dQuery, loss));
        worst = Math.max(worst, compare('dKey', key, g.dKey, loss));
        worst = Math.max(worst, compare('dValue', value, g.dValue, loss));
      }
      worst = Math.max(worst, compare('d in_proj_weight', p.inProjWeight, g.dInProjWeight, loss));
      worst = Math.max(worst, compare('d in_proj_bias', p.inProjBias, g.dInProjBias, loss));
      worst = Math.max(worst, compare('d out_proj.weight', p.outProjWeight, g.dOutProjWeight, loss));
      worst = Math.max(worst, compare('d out_proj.bias', p.outProjBias, g.dOutProjBias, loss));
      // Softmax ignores a constant added to every score of a row, and b_k adds q_i·b_k to all of
      // row i's scores: the key bias has no effect and a zero gradient.
      for (let i = E; i < 2 * E; i++) expect(Math.abs(g.dInProjBias[i])).toBeLessThan(1e-12);
      // The masks must matter: padding keys get no gradient through k and v.
      if (c.masked && !c.self) {
        for (const [b, j] of [
          [0, 2],
          [1, 1],
          [1, 3],
        ]) {
          for (let e = 0; e < E; e++) {
            expect(g.dKey[(b * 4 + j) * E + e]).toBe(0);
            expect(g.dValue[(b * 4 + j) * E + e]).toBe(0);
          }
        }
      }
      console.log(`multi-head attention backward (${c.name}): worst relative error ${worst.toExponential(2)}`);
    });
  }
});
