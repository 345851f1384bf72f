// Finite-difference checks of the float64 training references (src/reference/*): CPU only.
//
// Gradient check, in float64: the fourth-order central difference
//   numeric = [8 (L(θ + h) − L(θ − h)) − (L(θ + 2h) − L(θ − 2h))] / 12h,   h = FD_STEP = 1e-4,
// compared with relErr(a, b) = |a − b| / max(FLOOR, |a| + |b|) < REL_TOL = 1e-6, FLOOR = 1e-8.
// Why not the plain 2-point difference with h = 1e-6: its rounding noise is ≈ 1e-16·|L| / h ≈ 1e-9
// absolute, so gradients near 1e-4 (there are many in the RNN cases) land at relErr ≈ 1e-5 however
// right they are. The 5-point stencil's truncation error is O(h⁴) ≈ 1e-16 and its noise ≈ 1e-11,
// which lets the 1e-6 relative bound hold for every element. Relu kinks are detected with the
// one-sided 2-point differences (see checkGrad).
import { describe, it, expect } from 'vitest';
import type { RecurrentConfig } from '../../src/kernels/recurrentConfig';
import { parameterShapes, rnnForwardRef } from '../../src/reference/rnn';
import { rnnBackwardRef } from '../../src/reference/rnnBackward';
import { crossEntropyRef, mseRef } from '../../src/reference/loss';
import { linearBackwardRef, linearRef } from '../../src/reference/linear';
import { embeddingBackwardRef, embeddingRef } from '../../src/reference/embedding';
import {
  adamStepRef,
  clipGradNormRef,
  clipGradValueRef,
  cosineLR,
  exponentialLR,
  newAdamState,
  sgdStepRef,
  stepLR,
  type SgdState,
} from '../../src/reference/optim';
import { rng } from '../../src/util/random';

const FD_STEP = 1e-4;
const REL_TOL = 1e-6;
const FLOOR = 1e-8;

const relErr = (a: number, b: number): number => Math.abs(a - b) / Math.max(FLOOR, Math.abs(a) + Math.abs(b));

/** Uniform float64 values in [lo, hi). */
function rand64(r: () => number, n: number, lo = -1, hi = 1): Float64Array {
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * r();
  return a;
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

/** Fourth-order central difference of loss() w.r.t. x[k] (x perturbed in place, then restored). */
function fd(loss: () => number, x: Float64Array, k: number, h = FD_STEP): number {
  const x0 = x[k];
  const at = (v: number): number => {
    x[k] = v;
    return loss();
  };
  const d1 = at(x0 + h) - at(x0 - h);
  const d2 = at(x0 + 2 * h) - at(x0 - 2 * h);
  x[k] = x0;
  return (8 * d1 - d2) / (12 * h);
}

interface GradReport {
  worst: number;
  worstAt: number;
  checked: number;
  detail: string;
}

/** Compares analytic[k] with the FD gradient of loss() w.r.t. x[k], for every k in `at` (all when undefined). */
function checkGrad(
  name: string,
  loss: () => number,
  x: Float64Array,
  analytic: ArrayLike<number>,
  opts: { at?: number[] } = {},
): GradReport {
  const at = opts.at ?? Array.from(x, (_, k) => k);
  const rep: GradReport = { worst: 0, worstAt: -1, checked: 0, detail: '' };
  for (const k of at) {
    const num = fd(loss, x, k);
    const e = relErr(analytic[k], num);
    rep.checked++;
    if (!(e <= rep.worst)) {
      rep.worst = e;
      rep.worstAt = k;
      rep.detail = `${name}[${k}]: analytic ${analytic[k]}, numeric ${num}, relErr ${e.toExponential(2)}`;
    }
  }
  return rep;
}

/** Worst relative error seen per check, printed at the end of the file's run. */
const worstSeen: Record<string, number> = {};
function expectGrad(rep: GradReport, group: string): void {
  worstSeen[group] = Math.max(worstSeen[group] ?? 0, rep.worst);
  expect(rep.worst, rep.detail).toBeLessThan(REL_TOL);
}

describe('the comparison helper can fail', () => {
  it('rejects a gradient perturbed by 1e-5 relative, and a sign-flipped one', () => {
    const x = new Float64Array([0.3, -0.7, 1.1]);
    const loss = () => Math.sin(x[0]) * x[1] + x[2] ** 3;
    const good = [Math.cos(x[0]) * x[1], Math.sin(x[0]), 3 * x[2] ** 2];
    expect(checkGrad('good', loss, x, good).worst).toBeLessThan(REL_TOL);
    const bad = good.slice();
    bad[1] *= 1 + 1e-5;
    expect(checkGrad('bad', loss, x, bad).worst).toBeGreaterThan(REL_TOL);
    expect(checkGrad('flipped', loss, x, [good[0], good[1], -good[2]]).worst).toBeGreaterThan(REL_TOL);
  });
});

// ---------------------------------------------------------------------------------------------
// RNN / LSTM / GRU BPTT: L = Σ output ⊙ R1 + Σ hN ⊙ R2 (+ Σ cN ⊙ R3), so dOutput = R1, dhN = R2, dcN = R3.

interface RnnCase {
  name: string;
  cfg: RecurrentConfig;
  seqLen: number;
  batch: number;
  /** Call the backward with h0/c0 = undefined and only dOutput (the other upstream grads zero). */
  zeroStates?: boolean;
  /** rng seed for weights, inputs and R's (default 1234 + case index). */
  seed?: number;
  /** Per-row sequence lengths (packed sequences), passed to both references. */
  lengths?: number[];
}

const base = { inputSize: 3, hiddenSize: 5, numLayers: 2, bias: true, batchFirst: false, bidirectional: true };
const rnnCases: RnnCase[] = [
  {
    name: 'rnn tanh, 2 layers, bidirectional',
    cfg: { ...base, cell: 'rnn', nonlinearity: 'tanh' },
    seqLen: 4,
    batch: 3,
  },
  {
    name: 'rnn relu, 2 layers, bidirectional, batchFirst',
    cfg: { ...base, cell: 'rnn', nonlinearity: 'relu', batchFirst: true },
    seqLen: 4,
    batch: 3,
    seed: 2004,
  },
  {
    name: 'rnn tanh, 1 layer, no bias, T=1 B=1',
    cfg: { ...base, cell: 'rnn', numLayers: 1, bidirectional: false, bias: false },
    seqLen: 1,
    batch: 1,
  },
  {
    name: 'lstm, 2 layers, bidirectional, batchFirst',
    cfg: { ...base, cell: 'lstm', batchFirst: true },
    seqLen: 4,
    batch: 3,
  },
  {
    name: 'lstm, 2 layers, bidirectional, no bias, T=1',
    cfg: { ...base, cell: 'lstm', bias: false },
    seqLen: 1,
    batch: 3,
  },
  {
    name: 'lstm, 1 layer, zero h0/c0, dOutput only',
    cfg: { ...base, cell: 'lstm', numLayers: 1, bidirectional: false },
    seqLen: 4,
    batch: 1,
    zeroStates: true,
  },
  { name: 'gru, 2 layers, bidirectional', cfg: { ...base, cell: 'gru' }, seqLen: 4, batch: 3 },
  {
    name: 'gru, 2 layers, unidirectional, batchFirst, no bias',
    cfg: { ...base, cell: 'gru', bidirectional: false, batchFirst: true, bias: false },
    seqLen: 4,
    batch: 1,
  },
  {
    name: 'gru, 1 layer, bidirectional, zero h0, dOutput only, T=1',
    cfg: { ...base, cell: 'gru', numLayers: 1 },
    seqLen: 1,
    batch: 3,
    zeroStates: true,
  },
  // The hard sigmoid gates (TensorFlow.js's recurrent_activation): derivative 0.2 inside, 0 clipped.
  {
    name: 'lstm hard_sigmoid, 2 layers, bidirectional',
    cfg: { ...base, cell: 'lstm', recurrentActivation: 'hard_sigmoid' },
    seqLen: 3,
    batch: 2,
    seed: 3101,
  },
  {
    name: 'gru hard_sigmoid, 1 layer, batchFirst',
    cfg: { ...base, cell: 'gru', numLayers: 1, batchFirst: true, recurrentActivation: 'hard_sigmoid' },
    seqLen: 4,
    batch: 2,
    seed: 3102,
  },
  // Per-row lengths (packed sequences): a full row, a length-1 row, rows in between.
  {
    name: 'lstm, 2 layers, bidirectional, lengths [4, 1, 2]',
    cfg: { ...base, cell: 'lstm' },
    seqLen: 4,
    batch: 3,
    lengths: [4, 1, 2],
    seed: 3001,
  },
  {
    name: 'lstm, 1 layer, batchFirst, zero h0/c0, dOutput only, lengths [2] (B=1)',
    cfg: { ...base, cell: 'lstm', numLayers: 1, bidirectional: false, batchFirst: true },
    seqLen: 4,
    batch: 1,
    zeroStates: true,
    lengths: [2],
    seed: 3002,
  },
  {
    name: 'gru, 2 layers, bidirectional, batchFirst, lengths [2, 4, 1]',
    cfg: { ...base, cell: 'gru', batchFirst: true },
    seqLen: 4,
    batch: 3,
    lengths: [2, 4, 1],
    seed: 3003,
  },
  {
    name: 'gru, 2 layers, unidirectional, lengths [3, 1]',
    cfg: { ...base, cell: 'gru', bidirectional: false },
    seqLen: 3,
    batch: 2,
    lengths: [3, 1],
    seed: 3004,
  },
  {
    name: 'rnn tanh, 2 layers, bidirectional, batchFirst, lengths [3, 1, 4]',
    cfg: { ...base, cell: 'rnn', nonlinearity: 'tanh', batchFirst: true },
    seqLen: 4,
    batch: 3,
    lengths: [3, 1, 4],
    seed: 3005,
  },
  {
    name: 'rnn tanh, 1 layer, bidirectional, lengths [1, 2]',
    cfg: { ...base, cell: 'rnn', nonlinearity: 'tanh', numLayers: 1 },
    seqLen: 2,
    batch: 2,
    lengths: [1, 2],
    seed: 3006,
  },
];

/** min |W_ih x + b_ih + W_hh h + b_hh| over every unit, step, layer and direction of an rnn: how far
 *  the pre-activations sit from relu's kink. Layer by layer with rnnForwardRef; a step's h is the
 *  layer output of the step before in that direction's time order (h0 at its first step). */
function reluMargin(
  cfg: RecurrentConfig,
  weights: Record<string, Float64Array>,
  input: Float64Array,
  T: number,
  B: number,
  h0: Float64Array,
): number {
  const H = cfg.hiddenSize;
  const D = cfg.bidirectional ? 2 : 1;
  let x: Float64Array = new Float64Array(T * B * cfg.inputSize); // [T, B, in]
  for (let t = 0; t < T; t++)
    for (let b = 0; b < B; b++)
      for (let k = 0; k < cfg.inputSize; k++)
        x[(t * B + b) * cfg.inputSize + k] =
          input[cfg.batchFirst ? (b * T + t) * cfg.inputSize + k : (t * B + b) * cfg.inputSize + k];
  let margin = Infinity;
  for (let l = 0; l < cfg.numLayers; l++) {
    const inSize = l === 0 ? cfg.inputSize : D * H;
    const one: RecurrentConfig = { ...cfg, inputSize: inSize, numLayers: 1, batchFirst: false };
    const w: Record<string, Float64Array> = {};
    for (const { name } of parameterShapes(one)) w[name] = weights[name.replace('_l0', `_l${l}`)];
    const y = rnnForwardRef(one, w, x, T, B, h0.slice(l * D * B * H, (l + 1) * D * B * H)).output;
    for (let d = 0; d < D; d++) {
      const sfx = `_l${l}${d === 1 ? '_reverse' : ''}`;
      for (let b = 0; b < B; b++)
        for (let step = 0; step < T; step++) {
          const t = d === 0 ? step : T - 1 - step;
          const tPrev = d === 0 ? t - 1 : t + 1;
          for (let j = 0; j < H; j++) {
            let pre = cfg.bias ? weights[`bias_ih${sfx}`][j] + weights[`bias_hh${sfx}`][j] : 0;
            for (let k = 0; k < inSize; k++)
              pre += weights[`weight_ih${sfx}`][j * inSize + k] * x[(t * B + b) * inSize + k];
            for (let k = 0; k < H; k++) {
              const h = step === 0 ? h0[((l * D + d) * B + b) * H + k] : y[(tPrev * B + b) * D * H + d * H + k];
              pre += weights[`weight_hh${sfx}`][j * H + k] * h;
            }
            margin = Math.min(margin, Math.abs(pre));
          }
        }
    }
    x = y;
  }
  return margin;
}

describe('rnnBackwardRef against central finite differences', () => {
  rnnCases.forEach((c, caseIndex) => {
    describe(c.name, () => {
      const { cfg, seqLen: T, batch: B } = c;
      const H = cfg.hiddenSize;
      const D = cfg.bidirectional ? 2 : 1;
      const lstm = cfg.cell === 'lstm';
      const r = rng(c.seed ?? 1234 + caseIndex);
      const weights: Record<string, Float64Array> = {};
      for (const { name, shape } of parameterShapes(cfg))
        weights[name] = rand64(
          r,
          shape.reduce((a, b) => a * b, 1),
          -0.6,
          0.6,
        );
      const input = rand64(r, T * B * cfg.inputSize);
      const stateLen = cfg.numLayers * D * B * H;
      const h0 = c.zeroStates ? new Float64Array(stateLen) : rand64(r, stateLen);
      const c0 = c.zeroStates ? new Float64Array(stateLen) : rand64(r, stateLen);
      const R1 = rand64(r, T * B * D * H);
      const R2 = c.zeroStates ? new Float64Array(stateLen) : rand64(r, stateLen);
      const R3 = c.zeroStates ? new Float64Array(stateLen) : rand64(r, stateLen);

      const loss = (): number => {
        const f = rnnForwardRef(cfg, weights, input, T, B, h0, lstm ? c0 : undefined, c.lengths);
        return dot(f.output, R1) + dot(f.hN, R2) + (f.cN ? dot(f.cN, R3) : 0);
      };
      const res = c.zeroStates
        ? rnnBackwardRef(cfg, weights, input, T, B, undefined, undefined, { dOutput: R1 }, c.lengths)
        : rnnBackwardRef(
            cfg,
            weights,
            input,
            T,
            B,
            h0,
            lstm ? c0 : undefined,
            { dOutput: R1, dhN: R2, dcN: lstm ? R3 : undefined },
            c.lengths,
          );
      const group = `${cfg.cell}${cfg.nonlinearity === 'relu' ? '-relu' : ''}`;

      if (cfg.nonlinearity === 'relu')
        it('relu: every pre-activation is away from the kink (> 1e-2, 50× the FD reach ±2h = ±2e-4)', () => {
          const margin = reluMargin(cfg, weights, input, T, B, h0);
          console.log(`${c.name}: min |pre-activation| = ${margin.toExponential(2)}`);
          expect(margin).toBeGreaterThan(1e-2);
          // Both relu branches are exercised: some output units are off (h = 0), some on.
          const zeros = res.output.filter((v) => v === 0).length;
          expect(zeros).toBeGreaterThan(0);
          expect(zeros).toBeLessThan(res.output.length);
        });

      it('forward part equals rnnForwardRef', () => {
        const f = rnnForwardRef(cfg, weights, input, T, B, h0, lstm ? c0 : undefined, c.lengths);
        expect(Array.from(res.output)).toEqual(Array.from(f.output));
        expect(Array.from(res.hN)).toEqual(Array.from(f.hN));
        if (lstm) expect(Array.from(res.cN!)).toEqual(Array.from(f.cN!));
        else expect(res.cN).toBeUndefined();
      });

      it('dInput, dh0, dc0', () => {
        for (const [name, x, g] of [
          ['dInput', input, res.dInput],
          ['dh0', h0, res.dh0],
          ...(lstm ? [['dc0', c0, res.dc0!] as const] : []),
        ] as const) {
          expectGrad(checkGrad(name, loss, x, g), group);
        }
        if (!lstm) expect(res.dc0).toBeUndefined();
      });

      it('every element of every parameter gradient', () => {
        const names = parameterShapes(cfg).map((p) => p.name);
        expect(Object.keys(res.dWeights).sort()).toEqual(names.slice().sort());
        for (const name of names) {
          expect(res.dWeights[name].length).toBe(weights[name].length);
          expectGrad(checkGrad(name, loss, weights[name], res.dWeights[name]), group);
        }
      });

      it('a perturbed parameter gradient fails the check', () => {
        const name = parameterShapes(cfg).at(-1)!.name;
        const bad = res.dWeights[name].slice();
        let k = 0;
        for (let i = 0; i < bad.length; i++) if (Math.abs(bad[i]) > Math.abs(bad[k])) k = i;
        bad[k] *= 1 + 1e-5;
        expect(checkGrad(name, loss, weights[name], bad, { at: [k] }).worst).toBeGreaterThan(REL_TOL);
      });
    });
  });

  it('GRU: db_hh of the n gate is dn_pre ⊙ r, not dn_pre (differs from db_ih there)', () => {
    const cfg: RecurrentConfig = { ...base, cell: 'gru', numLayers: 1, bidirectional: false };
    const r = rng(99);
    const weights: Record<string, Float64Array> = {};
    for (const { name, shape } of parameterShapes(cfg))
      weights[name] = rand64(
        r,
        shape.reduce((a, b) => a * b, 1),
        -0.6,
        0.6,
      );
    const res = rnnBackwardRef(cfg, weights, rand64(r, 3), 1, 1, rand64(r, 5), undefined, { dhN: rand64(r, 5) });
    const H = cfg.hiddenSize;
    for (let j = 0; j < H; j++) {
      expect(res.dWeights.bias_hh_l0[j]).toBe(res.dWeights.bias_ih_l0[j]); // r gate
      expect(res.dWeights.bias_hh_l0[H + j]).toBe(res.dWeights.bias_ih_l0[H + j]); // z gate
      const ratio = res.dWeights.bias_hh_l0[2 * H + j] / res.dWeights.bias_ih_l0[2 * H + j]; // = r ∈ (0, 1)
      expect(ratio).toBeGreaterThan(0);
      expect(ratio).toBeLessThan(1);
    }
  });

  it('rejects a dcN for a gru and wrong-length upstream grads', () => {
    const cfg: RecurrentConfig = { ...base, cell: 'gru', numLayers: 1, bidirectional: false };
    const w = Object.fromEntries(
      parameterShapes(cfg).map(({ name, shape }) => [name, new Float64Array(shape[0] * (shape[1] ?? 1))]),
    );
    expect(() =>
      rnnBackwardRef(cfg, w, new Float64Array(3), 1, 1, undefined, undefined, { dcN: new Float64Array(5) }),
    ).toThrow(/dcN/);
    expect(() =>
      rnnBackwardRef(cfg, w, new Float64Array(3), 1, 1, undefined, undefined, { dOutput: new Float64Array(4) }),
    ).toThrow(/dOutput.*expected 5, got 4/);
  });
});

// ---------------------------------------------------------------------------------------------
// Per-row lengths (packed sequences): properties of the references beyond the FD checks above.

describe('rnn references with per-row lengths', () => {
  /** Row b of a [T, B, F] (or [B, T, F] when batchFirst) sequence, its first `len` steps: [len, 1, F]. */
  const rowOf = (
    x: ArrayLike<number>,
    T: number,
    B: number,
    F: number,
    batchFirst: boolean,
    b: number,
    len: number,
  ): Float64Array => {
    const out = new Float64Array(len * F);
    for (let t = 0; t < len; t++)
      for (let k = 0; k < F; k++) out[t * F + k] = x[(batchFirst ? b * T + t : t * B + b) * F + k];
    return out;
  };
  /** Row b of a [S, B, H] state: [S, 1, H]. */
  const stateRow = (x: ArrayLike<number>, S: number, B: number, H: number, b: number): Float64Array => {
    const out = new Float64Array(S * H);
    for (let s = 0; s < S; s++) for (let j = 0; j < H; j++) out[s * H + j] = x[(s * B + b) * H + j];
    return out;
  };
  const close = (what: string, got: ArrayLike<number>, want: ArrayLike<number>) => {
    expect(got.length, what).toBe(want.length);
    for (let i = 0; i < got.length; i++)
      expect(Math.abs(got[i] - want[i]), `${what}[${i}]: ${got[i]} vs ${want[i]}`).toBeLessThanOrEqual(
        1e-12 * (1 + Math.abs(want[i])),
      );
  };

  const cases: Array<{ name: string; cfg: RecurrentConfig; T: number; lengths: number[] }> = [
    {
      name: 'lstm, 2 layers, bidirectional, batchFirst',
      cfg: { ...base, cell: 'lstm', batchFirst: true },
      T: 5,
      lengths: [5, 1, 3, 2],
    },
    { name: 'gru, 2 layers, bidirectional', cfg: { ...base, cell: 'gru' }, T: 4, lengths: [2, 4, 1] },
    {
      name: 'rnn relu, 3 layers, unidirectional',
      cfg: { ...base, cell: 'rnn', nonlinearity: 'relu', numLayers: 3, bidirectional: false },
      T: 4,
      lengths: [1, 3, 4],
    },
  ];
  for (const c of cases) {
    it(`${c.name}, lengths [${c.lengths}]: each row alone (seqLen = its length) == the row in the padded batch`, () => {
      const { cfg, T, lengths } = c;
      const B = lengths.length;
      const H = cfg.hiddenSize;
      const D = cfg.bidirectional ? 2 : 1;
      const S = cfg.numLayers * D;
      const lstm = cfg.cell === 'lstm';
      const r = rng(4000 + T);
      const weights: Record<string, Float64Array> = {};
      for (const { name, shape } of parameterShapes(cfg))
        weights[name] = rand64(
          r,
          shape.reduce((a, b) => a * b, 1),
          -0.6,
          0.6,
        );
      const input = rand64(r, T * B * cfg.inputSize);
      const h0 = rand64(r, S * B * H);
      const c0 = lstm ? rand64(r, S * B * H) : undefined;
      const dOutput = rand64(r, T * B * D * H);
      const dhN = rand64(r, S * B * H);
      const dcN = lstm ? rand64(r, S * B * H) : undefined;
      const batch = rnnBackwardRef(cfg, weights, input, T, B, h0, c0, { dOutput, dhN, dcN }, lengths);
      const fwd = rnnForwardRef(cfg, weights, input, T, B, h0, c0, lengths);
      close('forward: output', fwd.output, batch.output);
      close('forward: hN', fwd.hN, batch.hN);
      const summed: Record<string, Float64Array> = Object.fromEntries(
        Object.entries(batch.dWeights).map(([k, v]) => [k, new Float64Array(v.length)]),
      );
      for (let b = 0; b < B; b++) {
        const len = lengths[b];
        const st = (x: ArrayLike<number> | undefined) => x && stateRow(x, S, B, H, b);
        const alone = rnnBackwardRef(
          cfg,
          weights,
          rowOf(input, T, B, cfg.inputSize, cfg.batchFirst, b, len),
          len,
          1,
          st(h0),
          st(c0),
          { dOutput: rowOf(dOutput, T, B, D * H, cfg.batchFirst, b, len), dhN: st(dhN), dcN: st(dcN) },
        );
        const what = `row ${b} (length ${len})`;
        close(`${what}: output`, rowOf(batch.output, T, B, D * H, cfg.batchFirst, b, T), [
          ...alone.output,
          ...new Array((T - len) * D * H).fill(0),
        ]);
        close(`${what}: dInput`, rowOf(batch.dInput, T, B, cfg.inputSize, cfg.batchFirst, b, T), [
          ...alone.dInput,
          ...new Array((T - len) * cfg.inputSize).fill(0),
        ]);
        close(`${what}: hN`, st(batch.hN)!, alone.hN);
        close(`${what}: dh0`, st(batch.dh0)!, alone.dh0);
        if (lstm) {
          close(`${what}: cN`, st(batch.cN)!, alone.cN!);
          close(`${what}: dc0`, st(batch.dc0)!, alone.dc0!);
        }
        for (const [k, v] of Object.entries(alone.dWeights)) v.forEach((g, i) => (summed[k][i] += g));
      }
      for (const [k, v] of Object.entries(batch.dWeights)) close(`Σ over rows alone of d${k}`, v, summed[k]);
    });
  }

  it('lengths all = seqLen is the same as no lengths; dOutput at padded positions has no effect', () => {
    const cfg: RecurrentConfig = { ...base, cell: 'gru', batchFirst: true };
    const [T, B] = [3, 2];
    const r = rng(4100);
    const weights: Record<string, Float64Array> = {};
    for (const { name, shape } of parameterShapes(cfg))
      weights[name] = rand64(
        r,
        shape.reduce((a, b) => a * b, 1),
        -0.6,
        0.6,
      );
    const input = rand64(r, T * B * 3);
    const dOutput = rand64(r, T * B * 10);
    const full = rnnBackwardRef(cfg, weights, input, T, B, undefined, undefined, { dOutput }, [3, 3]);
    const none = rnnBackwardRef(cfg, weights, input, T, B, undefined, undefined, { dOutput });
    expect(Array.from(full.dInput)).toEqual(Array.from(none.dInput));
    expect(Array.from(full.output)).toEqual(Array.from(none.output));
    for (const k of Object.keys(none.dWeights))
      expect(Array.from(full.dWeights[k])).toEqual(Array.from(none.dWeights[k]));
    // Row 1 has length 1 (batch first: its positions t = 1, 2 are elements [(1·T + t)·10, +10)).
    const a = rnnBackwardRef(cfg, weights, input, T, B, undefined, undefined, { dOutput }, [3, 1]);
    const d2 = dOutput.slice();
    for (let i = (1 * T + 1) * 10; i < (1 * T + 3) * 10; i++) d2[i] += 5;
    const b = rnnBackwardRef(cfg, weights, input, T, B, undefined, undefined, { dOutput: d2 }, [3, 1]);
    expect(Array.from(b.dInput)).toEqual(Array.from(a.dInput));
    for (const k of Object.keys(a.dWeights)) expect(Array.from(b.dWeights[k])).toEqual(Array.from(a.dWeights[k]));
    expect(Array.from(a.dInput.slice((1 * T + 1) * 3, (1 * T + 3) * 3))).toEqual([0, 0, 0, 0, 0, 0]);
    expect(Array.from(a.output.slice((1 * T + 1) * 10, (1 * T + 3) * 10)).every((v) => v === 0)).toBe(true);
    // ... and it does change the gradient when row 1 is not padded there.
    const c = rnnBackwardRef(cfg, weights, input, T, B, undefined, undefined, { dOutput: d2 }, [3, 3]);
    expect(c.dWeights.weight_ih_l0[0]).not.toBe(full.dWeights.weight_ih_l0[0]);
  });

  it('rejects lengths of the wrong count, out of [1, seqLen] or not integers', () => {
    const cfg: RecurrentConfig = { ...base, cell: 'rnn', numLayers: 1, bidirectional: false };
    const w = Object.fromEntries(
      parameterShapes(cfg).map(({ name, shape }) => [name, new Float64Array(shape[0] * (shape[1] ?? 1))]),
    );
    const x = new Float64Array(3 * 2 * 3);
    expect(() => rnnForwardRef(cfg, w, x, 3, 2, undefined, undefined, [3])).toThrow(
      /lengths has wrong length: expected 2/,
    );
    expect(() => rnnForwardRef(cfg, w, x, 3, 2, undefined, undefined, [3, 0])).toThrow(/lengths\[1\] is 0/);
    expect(() => rnnBackwardRef(cfg, w, x, 3, 2, undefined, undefined, {}, [4, 1])).toThrow(
      /lengths\[0\] is 4, expected an integer in \[1, 3\]/,
    );
    expect(() => rnnBackwardRef(cfg, w, x, 3, 2, undefined, undefined, {}, [1.5, 1])).toThrow(/lengths\[0\] is 1.5/);
  });
});

// ---------------------------------------------------------------------------------------------

describe('loss references', () => {
  it('crossEntropyRef: FD gradient, an ignored row, mean over counted rows', () => {
    const r = rng(7);
    const N = 5;
    const C = 4;
    const logits = rand64(r, N * C, -3, 3);
    const target = [2, 0, -100, 3, 1];
    const loss = () => crossEntropyRef(logits, target).loss;
    const res = crossEntropyRef(logits, target);
    // Loss value, written out naively: mean over the 4 counted rows of −log softmax.
    let want = 0;
    for (const n of [0, 1, 3, 4]) {
      let s = 0;
      for (let c = 0; c < C; c++) s += Math.exp(logits[n * C + c]);
      want -= Math.log(Math.exp(logits[n * C + target[n]]) / s);
    }
    expect(res.loss).toBeCloseTo(want / 4, 14);
    for (let c = 0; c < C; c++) expect(res.dLogits[2 * C + c]).toBe(0);
    expectGrad(checkGrad('dLogits', loss, logits, res.dLogits), 'crossEntropy');
  });

  it('crossEntropyRef: custom ignoreIndex and weightMask', () => {
    const r = rng(8);
    const [N, C] = [4, 3];
    const logits = rand64(r, N * C, -2, 2);
    const target = [1, 7, 2, 0];
    const mask = [1, 1, 0, 1];
    const res = crossEntropyRef(logits, target, { ignoreIndex: 7, weightMask: mask });
    const loss = () => crossEntropyRef(logits, target, { ignoreIndex: 7, weightMask: mask }).loss;
    expectGrad(checkGrad('dLogits', loss, logits, res.dLogits), 'crossEntropy');
    for (const n of [1, 2]) for (let c = 0; c < C; c++) expect(res.dLogits[n * C + c]).toBe(0);
    const kept = crossEntropyRef([...logits.slice(0, 3), ...logits.slice(9, 12)], [1, 0]);
    expect(res.loss).toBeCloseTo(kept.loss, 15);
    expect(crossEntropyRef(logits, [-100, -100, -100, -100]).loss).toBeNaN();
    expect(() => crossEntropyRef(logits, [1, 3, 0, 0])).toThrow(/target\[1\]/);
  });

  it('crossEntropyRef: stable for huge logits (shift invariant)', () => {
    const small = [0.5, -1, 2, 0.25, 1, -0.5];
    const big = small.map((v) => v + 1000);
    const a = crossEntropyRef(small, [2, 0]);
    const b = crossEntropyRef(big, [2, 0]);
    expect(Number.isFinite(b.loss)).toBe(true);
    expect(b.loss).toBeCloseTo(a.loss, 10);
    for (let i = 0; i < 6; i++) expect(b.dLogits[i]).toBeCloseTo(a.dLogits[i], 12);
  });

  it('mseRef: value and FD gradient', () => {
    const r = rng(9);
    const pred = rand64(r, 7);
    const target = rand64(r, 7);
    const res = mseRef(pred, target);
    let want = 0;
    for (let k = 0; k < 7; k++) want += (pred[k] - target[k]) ** 2;
    expect(res.loss).toBeCloseTo(want / 7, 15);
    expectGrad(
      checkGrad('dPred', () => mseRef(pred, target).loss, pred, res.dPred),
      'mse',
    );
  });
});

describe('linear and embedding references', () => {
  it('linear: forward value and FD gradients of dX, dWeight, dBias', () => {
    const r = rng(10);
    const dims = { inFeatures: 3, outFeatures: 4 };
    const N = 5;
    const x = rand64(r, N * 3);
    const weight = rand64(r, 4 * 3);
    const bias = rand64(r, 4);
    const R = rand64(r, N * 4);
    const y = linearRef(x, weight, bias, dims);
    expect(y[1 * 4 + 2]).toBeCloseTo(bias[2] + x[3] * weight[6] + x[4] * weight[7] + x[5] * weight[8], 15);
    expect(linearRef(x, weight, undefined, dims)[7]).toBeCloseTo(y[7] - bias[3], 15);
    const loss = () => dot(linearRef(x, weight, bias, dims), R);
    const g = linearBackwardRef(x, weight, R, dims);
    expectGrad(checkGrad('dX', loss, x, g.dX), 'linear');
    expectGrad(checkGrad('dWeight', loss, weight, g.dWeight), 'linear');
    expectGrad(checkGrad('dBias', loss, bias, g.dBias), 'linear');
  });

  it('embedding: repeated index accumulates, paddingIdx row gets zero gradient', () => {
    const r = rng(11);
    const [V, E] = [6, 3];
    const weight = rand64(r, V * E);
    const indices = [2, 4, 2, 0, 5, 2];
    const R = rand64(r, indices.length * E);
    const out = embeddingRef(weight, indices, E);
    expect(Array.from(out.slice(4 * E, 5 * E))).toEqual(Array.from(weight.slice(5 * E, 6 * E)));
    const loss = () => dot(embeddingRef(weight, indices, E), R);
    const dW = embeddingBackwardRef(V, E, indices, R, 5);
    const notPad = Array.from({ length: 5 * E }, (_, k) => k); // rows 0..4
    expectGrad(checkGrad('dWeight', loss, weight, dW, { at: notPad }), 'embedding');
    for (let e = 0; e < E; e++) {
      expect(dW[5 * E + e]).toBe(0);
      expect(dW[2 * E + e]).toBeCloseTo(R[0 * E + e] + R[2 * E + e] + R[5 * E + e], 15);
      expect(dW[1 * E + e]).toBe(0); // never looked up
    }
    // Without paddingIdx, the row gets its gradient (and FD agrees on every row); -1 means V − 1.
    const dWall = embeddingBackwardRef(V, E, indices, R);
    expectGrad(checkGrad('dWeight', loss, weight, dWall), 'embedding');
    expect(Array.from(embeddingBackwardRef(V, E, indices, R, -1))).toEqual(Array.from(dW));
    expect(() => embeddingRef(weight, [6], E)).toThrow(/index 6/);
  });
});

// ---------------------------------------------------------------------------------------------
// Optimizers: two steps on a tiny vector, expected values recomputed inline element by element
// (scalar code written straight from the torch 1.13 docs), plus a few hand-worked numbers.

const theta0 = [0.5, -1.5, 2.0];
const gradSteps = [
  [0.1, -0.2, 0.3],
  [-0.05, 0.4, 0.2],
];

describe('optimizer references', () => {
  it('sgd without momentum: θ − lr·(g + λθ), hand-worked numbers', () => {
    const p = [new Float64Array(theta0)];
    const state: SgdState = {};
    sgdStepRef(p, [new Float64Array(gradSteps[0])], state, { lr: 0.1, weightDecay: 0.01 });
    // 0.5 − 0.1·(0.1 + 0.005) = 0.4895; −1.5 − 0.1·(−0.2 − 0.015) = −1.4785; 2 − 0.1·(0.3 + 0.02) = 1.968
    expect(p[0][0]).toBeCloseTo(0.4895, 15);
    expect(p[0][1]).toBeCloseTo(-1.4785, 15);
    expect(p[0][2]).toBeCloseTo(1.968, 15);
    expect(state.momentumBuffer).toBeUndefined();
  });

  for (const nesterov of [false, true]) {
    it(`sgd with momentum${nesterov ? ', nesterov' : ', dampening'}: 2 steps`, () => {
      const [lr, mu, tau, wd] = [0.1, 0.9, nesterov ? 0 : 0.3, 0.01];
      const p = [new Float64Array(theta0), new Float32Array([0.25])];
      const state: SgdState = {};
      for (const g of gradSteps)
        sgdStepRef(p, [new Float64Array(g), new Float64Array([g[0]])], state, {
          lr,
          momentum: mu,
          dampening: tau,
          nesterov,
          weightDecay: wd,
        });
      for (let k = 0; k < 3; k++) {
        let th = theta0[k];
        let b = 0;
        for (let t = 0; t < 2; t++) {
          const g = gradSteps[t][k] + wd * th;
          b = t === 0 ? g : mu * b + (1 - tau) * g;
          th = th - lr * (nesterov ? g + mu * b : b);
        }
        expect(p[0][k]).toBeCloseTo(th, 15);
      }
      expect(state.momentumBuffer!.length).toBe(2);
      // Float32 param: same formula, rounded to f32 after each step.
      let th = 0.25;
      let b = 0;
      for (let t = 0; t < 2; t++) {
        const g = gradSteps[t][0] + wd * th;
        b = t === 0 ? g : mu * b + (1 - tau) * g;
        th = Math.fround(th - lr * (nesterov ? g + mu * b : b));
      }
      expect(p[1][0]).toBe(th);
    });
  }

  it('sgd rejects nesterov with dampening', () => {
    expect(() =>
      sgdStepRef(
        [new Float64Array(1)],
        [new Float64Array(1)],
        {},
        { lr: 1, momentum: 0.9, dampening: 0.1, nesterov: true },
      ),
    ).toThrow(/nesterov/);
  });

  for (const decoupled of [false, true]) {
    it(`${decoupled ? 'adamw' : 'adam'} with weight decay: 2 steps, bias correction`, () => {
      const [lr, b1, b2, eps, wd] = [0.01, 0.9, 0.999, 1e-8, 0.1];
      const p = [new Float64Array(theta0)];
      const state = newAdamState();
      for (const g of gradSteps)
        adamStepRef(p, [new Float64Array(g)], state, { lr, beta1: b1, beta2: b2, eps, weightDecay: wd, decoupled });
      expect(state.step).toBe(2);
      for (let k = 0; k < 3; k++) {
        let th = theta0[k];
        let m = 0;
        let v = 0;
        for (let t = 1; t <= 2; t++) {
          let g = gradSteps[t - 1][k];
          if (decoupled) th = th * (1 - lr * wd);
          else g = g + wd * th;
          m = b1 * m + (1 - b1) * g;
          v = b2 * v + (1 - b2) * g * g;
          const mHat = m / (1 - Math.pow(b1, t));
          const vHat = v / (1 - Math.pow(b2, t));
          th = th - (lr * mHat) / (Math.sqrt(vHat) + eps);
        }
        expect(p[0][k]).toBeCloseTo(th, 15);
      }
    });
  }

  it('adam first step moves each element by lr·g/(|g| + eps) (hand-worked)', () => {
    const p = [new Float64Array(theta0)];
    adamStepRef(p, [new Float64Array(gradSteps[0])], newAdamState(), { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8 });
    // m̂ = g, v̂ = g², so Δ = −lr·g/(|g| + ε) ≈ ∓0.01
    expect(p[0][0]).toBeCloseTo(0.5 - 0.01 * (0.1 / (0.1 + 1e-8)), 15);
    expect(p[0][1]).toBeCloseTo(-1.5 + 0.01 * (0.2 / (0.2 + 1e-8)), 15);
    expect(p[0][2]).toBeCloseTo(1.99, 8);
  });

  it('clipGradNormRef scales the total 2-norm to maxNorm, returns the pre-clip norm', () => {
    const grads = [new Float64Array([3, 4]), new Float64Array([12])]; // total norm 13
    const total = clipGradNormRef(grads, 6.5);
    expect(total).toBe(13);
    const after = Math.hypot(grads[0][0], grads[0][1], grads[1][0]);
    expect(after).toBeCloseTo((6.5 * 13) / (13 + 1e-6), 14); // maxNorm·N/(N + 1e-6), as torch
    expect(Math.abs(after - 6.5)).toBeLessThan(6.5e-6 / 13 + 1e-15); // = maxNorm up to torch's 1e-6
    expect(grads[0][0]).toBeCloseTo((3 * 6.5) / (13 + 1e-6), 15);
    expect(grads[0][1] / grads[0][0]).toBeCloseTo(4 / 3, 15); // direction kept
    // Float32 grads are scaled the same way, rounded to f32.
    const g32 = [new Float32Array([3, 4, 12])];
    expect(clipGradNormRef(g32, 6.5)).toBe(13);
    expect(g32[0][2]).toBe(Math.fround((12 * 6.5) / (13 + 1e-6)));
    // Below maxNorm: untouched.
    const small = [new Float64Array([0.3, -0.4])];
    expect(clipGradNormRef(small, 1)).toBeCloseTo(0.5, 15);
    expect(Array.from(small[0])).toEqual([0.3, -0.4]);
    // ∞-norm.
    const inf = [new Float64Array([1, -8]), new Float64Array([2])];
    expect(clipGradNormRef(inf, 4, Infinity)).toBe(8);
    expect(inf[0][1]).toBeCloseTo((-8 * 4) / (8 + 1e-6), 15);
  });

  it('clipGradValueRef clamps in place', () => {
    const g = [new Float64Array([-3, 0.2, 5]), new Float32Array([-0.5])];
    clipGradValueRef(g, 1);
    expect(Array.from(g[0])).toEqual([-1, 0.2, 1]);
    expect(g[1][0]).toBe(-0.5);
  });

  it('learning-rate schedules', () => {
    expect([0, 1, 2, 3, 5, 6].map((s) => stepLR(0.1, s, 3, 0.5))).toEqual([0.1, 0.1, 0.1, 0.05, 0.05, 0.025]);
    expect(exponentialLR(0.1, 2, 0.9)).toBeCloseTo(0.081, 15);
    expect(exponentialLR(0.1, 0, 0.9)).toBe(0.1);
    expect(cosineLR(0.1, 0, 10, 0.001)).toBeCloseTo(0.1, 15);
    expect(cosineLR(0.1, 5, 10, 0.001)).toBeCloseTo(0.0505, 15);
    expect(cosineLR(0.1, 10, 10, 0.001)).toBeCloseTo(0.001, 15);
    expect(cosineLR(0.2, 5, 10)).toBeCloseTo(0.1, 15);
    // Closed form agrees with PyTorch's documented recursion for t < T_max:
    // η_{t+1} = η_min + (η_t − η_min)(1 + cos(π(t+1)/T_max)) / (1 + cos(πt/T_max))
    const [b, tMax, etaMin] = [0.1, 7, 0.002];
    let eta = b;
    for (let t = 0; t < tMax - 1; t++) {
      eta =
        etaMin + ((eta - etaMin) * (1 + Math.cos((Math.PI * (t + 1)) / tMax))) / (1 + Math.cos((Math.PI * t) / tMax));
      expect(cosineLR(b, t + 1, tMax, etaMin)).toBeCloseTo(eta, 14);
    }
  });
});

describe('summary', () => {
  it('worst relative errors (FD vs analytic)', () => {
    console.log(`FD step ${FD_STEP}, relErr = |a−b|/max(${FLOOR}, |a|+|b|), tolerance ${REL_TOL}; worst per group:`);
    for (const [k, v] of Object.entries(worstSeen)) console.log(`  ${k.padEnd(14)} ${v.toExponential(2)}`);
    expect(Object.keys(worstSeen).length).toBeGreaterThan(0);
  });
});
