import { describe, it, expect } from 'vitest';
import fixtures from '../fixtures/rnn.json';
import {
  gateCount,
  parameterShapes,
  rnnForwardRef,
  type CellKind,
  type RecurrentConfig,
} from '../../src/reference/rnn';

interface Tensor {
  shape: number[];
  data: number[];
}
interface Case {
  name: string;
  cell: CellKind;
  inputSize: number;
  hiddenSize: number;
  numLayers: number;
  bias: boolean;
  batchFirst: boolean;
  bidirectional: boolean;
  nonlinearity: 'tanh' | 'relu';
  seqLen: number;
  batch: number;
  stateDict: Record<string, Tensor>;
  input: Tensor;
  h0: Tensor | null;
  c0: Tensor | null;
  output: Tensor;
  hN: Tensor;
  cN: Tensor | null;
}

const cases = (fixtures as { cases: unknown[] }).cases as Case[];

const configOf = (c: Case): RecurrentConfig => ({
  cell: c.cell,
  inputSize: c.inputSize,
  hiddenSize: c.hiddenSize,
  numLayers: c.numLayers,
  bias: c.bias,
  batchFirst: c.batchFirst,
  bidirectional: c.bidirectional,
  nonlinearity: c.nonlinearity,
});

const weightsOf = (c: Case): Record<string, number[]> =>
  Object.fromEntries(Object.entries(c.stateDict).map(([k, v]) => [k, v.data]));

const ATOL = 1e-5;
const RTOL = 1e-5;

function expectClose(what: string, got: ArrayLike<number>, want: Tensor): void {
  expect(got.length, `${what} length`).toBe(want.data.length);
  let worst = 0;
  let worstAt = -1;
  for (let i = 0; i < got.length; i++) {
    const excess = Math.abs(got[i] - want.data[i]) - (ATOL + RTOL * Math.abs(want.data[i]));
    if (!(excess <= worst)) {
      worst = excess;
      worstAt = i;
    }
  }
  const detail = worstAt < 0 ? '' : `${what}[${worstAt}]: got ${got[worstAt]}, torch ${want.data[worstAt]}`;
  expect(worstAt, detail).toBe(-1);
}

describe('rnn reference fixtures', () => {
  it('has fixtures', () => {
    expect(cases.length).toBeGreaterThanOrEqual(16);
  });

  it('gateCount', () => {
    expect([gateCount('rnn'), gateCount('lstm'), gateCount('gru')]).toEqual([1, 4, 3]);
  });

  for (const c of cases) {
    describe(c.name, () => {
      it('parameterShapes matches the state_dict keys, order and shapes', () => {
        const want = Object.entries(c.stateDict).map(([name, t]) => ({ name, shape: t.shape }));
        expect(parameterShapes(configOf(c))).toEqual(want);
      });

      it('forward matches PyTorch', () => {
        const r = rnnForwardRef(configOf(c), weightsOf(c), c.input.data, c.seqLen, c.batch, c.h0?.data, c.c0?.data);
        expectClose('output', r.output, c.output);
        expectClose('hN', r.hN, c.hN);
        if (c.cell === 'lstm') {
          expect(r.cN).toBeDefined();
          expectClose('cN', r.cN!, c.cN!);
        } else {
          expect(r.cN).toBeUndefined();
        }
      });
    });
  }
});

describe('rnn reference weight validation', () => {
  const c = cases.find((k) => k.cell === 'lstm' && k.numLayers >= 2 && k.bidirectional)!;
  const cfg = configOf(c);

  it('throws naming a missing key', () => {
    const w = weightsOf(c);
    delete w['bias_hh_l1_reverse'];
    expect(() => rnnForwardRef(cfg, w, c.input.data, c.seqLen, c.batch)).toThrow(/bias_hh_l1_reverse/);
    expect(() => rnnForwardRef(cfg, w, c.input.data, c.seqLen, c.batch)).toThrow(/missing/);
  });

  it('throws naming a wrong-length weight, with expected and actual length', () => {
    const w = weightsOf(c);
    const n = w['weight_ih_l1'].length;
    w['weight_ih_l1'] = w['weight_ih_l1'].slice(1);
    expect(() => rnnForwardRef(cfg, w, c.input.data, c.seqLen, c.batch)).toThrow(
      new RegExp(`weight_ih_l1.*expected ${n}, got ${n - 1}`),
    );
  });
});
