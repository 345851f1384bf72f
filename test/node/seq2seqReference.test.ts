// Finite-difference check of the float64 Seq2Seq reference (src/reference/seq2seq.ts), CPU only:
// every parameter of encoder, bridge, decoder, attention (dot, general, additive, none), combine
// and output layer, with padded sources (key mask) and ignored target positions. Same stencil and
// bound as test/node/referenceGrad.test.ts: 5-point central differences, h = 1e-4, rel. err < 1e-6
// (absolute 1e-11 for gradients below 1e-5).
import { describe, expect, it } from 'vitest';
import {
  seq2seqParameterShapes,
  seq2seqRef,
  type Seq2SeqRefConfig,
  type Seq2SeqRefInputs,
} from '../../src/reference/seq2seq';
import { rng } from '../../src/util/random';

const FD_STEP = 1e-4;
const REL_TOL = 1e-6;
// Below |a| + |b| = 1e-5 the bound is absolute, 1e-11: the stencil's rounding noise (≈ 1e-16·|L| / h
// ≈ 1e-12) makes relative errors meaningless for the few gradients near 1e-8 (attention weights
// whose scores barely move the softmax).
const FLOOR = 1e-5;
const relErr = (a: number, b: number): number => Math.abs(a - b) / Math.max(FLOOR, Math.abs(a) + Math.abs(b));

function problem(
  c: Seq2SeqRefConfig,
  Ts: number,
  Tt: number,
  B: number,
  seed: number,
): { w: Record<string, Float64Array>; x: Seq2SeqRefInputs } {
  const r = rng(seed);
  const w: Record<string, Float64Array> = {};
  for (const { name, shape } of seq2seqParameterShapes(c))
    w[name] = Float64Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r() - 0.5);
  // Source b has length Ts − b (≥ 1): the rest is padding, masked out of the attention.
  const src = new Int32Array(Ts * B).fill(c.padToken);
  const keyMask = new Float64Array(B * Ts);
  const decIn = new Int32Array(Tt * B);
  const targets = new Int32Array(Tt * B);
  for (let b = 0; b < B; b++) {
    const len = Math.max(1, Ts - b);
    for (let s = 0; s < len; s++) {
      src[s * B + b] = 1 + Math.floor(r() * (c.srcVocab - 1));
      keyMask[b * Ts + s] = 1;
    }
    for (let t = 0; t < Tt; t++) {
      decIn[t * B + b] = Math.floor(r() * c.tgtVocab);
      targets[t * B + b] = t === Tt - 1 && b % 2 === 1 ? -100 : Math.floor(r() * c.tgtVocab);
    }
  }
  return { w, x: { srcLen: Ts, tgtLen: Tt, batch: B, src, keyMask, decIn, targets } };
}

const base = {
  srcVocab: 7,
  tgtVocab: 6,
  embeddingDim: 3,
  hiddenSize: 4,
  numLayers: 1,
  bidirectional: false,
  attnDim: 5,
  padToken: 0,
};
const cases: Array<{ name: string; c: Seq2SeqRefConfig; Ts: number; Tt: number; B: number }> = [
  {
    name: 'LSTM, general attention, bidirectional 2-layer encoder',
    c: { ...base, cell: 'lstm', attention: 'general', numLayers: 2, bidirectional: true },
    Ts: 4,
    Tt: 3,
    B: 2,
  },
  {
    name: 'GRU, additive (Bahdanau) attention',
    c: { ...base, cell: 'gru', attention: 'additive' },
    Ts: 5,
    Tt: 3,
    B: 3,
  },
  {
    name: 'RNN, dot attention, 2 layers',
    c: { ...base, cell: 'rnn', attention: 'dot', numLayers: 2 },
    Ts: 3,
    Tt: 4,
    B: 2,
  },
  {
    name: 'LSTM without attention, tgtLen 1, batch 1',
    c: { ...base, cell: 'lstm', attention: 'none' },
    Ts: 3,
    Tt: 1,
    B: 1,
  },
];

describe('Seq2Seq float64 reference vs finite differences', () => {
  for (const { name, c, Ts, Tt, B } of cases) {
    it(name, () => {
      const { w, x } = problem(c, Ts, Tt, B, 5);
      const { loss, grads } = seq2seqRef(c, w, x);
      expect(Number.isFinite(loss)).toBe(true);
      const r = rng(9);
      let worst = 0;
      let checked = 0;
      for (const { name: p } of seq2seqParameterShapes(c)) {
        expect(grads[p], `no gradient for ${p}`).toBeDefined();
        expect(grads[p].length).toBe(w[p].length);
        // The padding row of both embeddings is frozen (PyTorch padding_idx): its gradient is 0 by
        // definition, though the encoder reads padding. Assert that, and differentiate the rest.
        const padRow = p.endsWith('embedding.weight')
          ? [c.padToken * c.embeddingDim, (c.padToken + 1) * c.embeddingDim]
          : [0, 0];
        for (let i = padRow[0]; i < padRow[1]; i++) expect(grads[p][i], `${p}[${i}] (padding row)`).toBe(0);
        // Up to 6 entries per parameter, random.
        const trainable = Array.from({ length: w[p].length }, (_, i) => i).filter(
          (i) => i < padRow[0] || i >= padRow[1],
        );
        const picks = new Set<number>(
          trainable.length <= 6
            ? trainable
            : Array.from({ length: 6 }, () => trainable[Math.floor(r() * trainable.length)]),
        );
        for (const i of picks) {
          const at = (delta: number) => {
            const saved = w[p][i];
            w[p][i] = saved + delta;
            const l = seq2seqRef(c, w, x, false).loss;
            w[p][i] = saved;
            return l;
          };
          const h = FD_STEP;
          const numeric = (8 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12 * h);
          const e = relErr(grads[p][i], numeric);
          worst = Math.max(worst, e);
          checked++;
          expect(e, `${p}[${i}]: analytic ${grads[p][i]}, numeric ${numeric}`).toBeLessThan(REL_TOL);
        }
      }
      console.log(`${name}: ${checked} entries, worst relative error ${worst.toExponential(2)}`);
    });
  }
});
