// Gate variants of Keras / TensorFlow.js recurrent layers, on the GPU vs the float64 reference
// (src/reference/rnn.ts, rnnBackward.ts, themselves checked by finite differences in
// referenceGrad.test.ts):
// - recurrentActivation 'hard_sigmoid' (clip(0.2·x + 0.5, 0, 1), tfjs's default) for LSTM and GRU,
//   forward and BPTT, with the step kernels and the persistent kernel;
// - GRU resetAfter false (Keras' reset_after=False: n = tanh(a_n + W_hn (r ⊙ h) + b_hn)), inference
//   with two dispatches per step (shaders/gru_reset_before.wgsl, PHASE 0 and 1).
// Odd sizes, batch 1, length 1, stacked, bidirectional, batch-first, per-row lengths; the errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GRU, LSTM, RNN, Tensor, type Gpu } from '../../src/index.js';
import { ArgumentError, ShapeError } from '../../src/util/errors.js';
import { parameterShapes, type RecurrentConfig } from '../../src/kernels/recurrentConfig.js';
import { rnnForwardRef } from '../../src/reference/rnn.js';
import { rnnBackwardRef } from '../../src/reference/rnnBackward.js';
import { assertClose, rng, uniform } from '../checks/util.js';
import { gradTol } from '../checks/recurrentGrad.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

/** f32 forward vs float64: |err| ≤ 1e-4 + 1e-4·|want|. */
const TOL = { rtol: 1e-4, atol: 1e-4 };

interface Case {
  cfg: RecurrentConfig;
  T: number;
  B: number;
  /** Weight range ±w: 0.5 keeps most gates inside (0, 1), 3 clips most of them. */
  w: number;
  lengths?: number[];
  h0?: boolean;
  seed: number;
}

const name = (c: Case) =>
  `${c.cfg.cell}${c.cfg.recurrentActivation === 'hard_sigmoid' ? ' hard_sigmoid' : ''}` +
  `${c.cfg.resetAfter === false ? ' resetAfter=false' : ''} I${c.cfg.inputSize} H${c.cfg.hiddenSize} ` +
  `L${c.cfg.numLayers}${c.cfg.bidirectional ? ' bidir' : ''}${c.cfg.batchFirst ? ' batchFirst' : ''}` +
  `${c.cfg.bias ? '' : ' noBias'} T${c.T} B${c.B} ±${c.w}${c.lengths ? ` lengths [${c.lengths}]` : ''}` +
  `${c.h0 ? ' h0' : ''}`;

function data(c: Case) {
  const rand = rng(c.seed);
  const weights: Record<string, Float32Array> = {};
  for (const { name: n, shape } of parameterShapes(c.cfg))
    weights[n] = uniform(
      rand,
      shape.reduce((a, b) => a * b, 1),
      -c.w,
      c.w,
    );
  const D = c.cfg.bidirectional ? 2 : 1;
  const S = c.cfg.numLayers * D * c.B * c.cfg.hiddenSize;
  const x = uniform(rand, c.T * c.B * c.cfg.inputSize, -1, 1);
  const h0 = c.h0 ? uniform(rand, S, -1, 1) : undefined;
  const c0 = c.h0 && c.cfg.cell === 'lstm' ? uniform(rand, S, -1, 1) : undefined;
  const dOutput = uniform(rand, c.T * c.B * D * c.cfg.hiddenSize, -1, 1);
  return { weights, x, h0, c0, dOutput, stateShape: [c.cfg.numLayers * D, c.B, c.cfg.hiddenSize] };
}

function layerOf(cfg: RecurrentConfig, seed: number) {
  const { cell, ...rest } = cfg;
  const opts = { ...rest, seed };
  if (cell === 'lstm') return new LSTM(gpu, opts);
  if (cell === 'gru') return new GRU(gpu, opts);
  throw new Error(`no ${cell} here`);
}

async function checkForward(c: Case): Promise<void> {
  const d = data(c);
  const layer = layerOf(c.cfg, c.seed);
  layer.loadStateDict(d.weights);
  const I = c.cfg.inputSize;
  const x = Tensor.from(gpu, d.x, c.cfg.batchFirst ? [c.B, c.T, I] : [c.T, c.B, I]);
  const h0 = d.h0 && Tensor.from(gpu, d.h0, d.stateShape);
  const c0 = d.c0 && Tensor.from(gpu, d.c0, d.stateShape);
  const out = layer.forward(x, { h0, c0, lengths: c.lengths });
  const want = rnnForwardRef(c.cfg, d.weights, d.x, c.T, c.B, d.h0, d.c0, c.lengths);
  assertClose(`${name(c)}: output`, await out.output.read(), want.output, TOL);
  assertClose(`${name(c)}: hN`, await out.hN.read(), want.hN, TOL);
  if (want.cN) assertClose(`${name(c)}: cN`, await out.cN!.read(), want.cN, TOL);
  for (const t of [x, h0, c0, out.output, out.hN, out.cN]) t?.destroy();
  layer.destroy();
}

async function checkBackward(c: Case): Promise<void> {
  const d = data(c);
  const layer = layerOf(c.cfg, c.seed);
  layer.loadStateDict(d.weights);
  const I = c.cfg.inputSize;
  const D = c.cfg.bidirectional ? 2 : 1;
  const F = D * c.cfg.hiddenSize;
  const x = Tensor.from(gpu, d.x, c.cfg.batchFirst ? [c.B, c.T, I] : [c.T, c.B, I]);
  const dOut = Tensor.from(gpu, d.dOutput, c.cfg.batchFirst ? [c.B, c.T, F] : [c.T, c.B, F]);
  const out = layer.forwardBackward(x, { lengths: c.lengths }, { dOutput: dOut }, { inputGrad: true });
  const want = rnnBackwardRef(c.cfg, d.weights, d.x, c.T, c.B, undefined, undefined, { dOutput: d.dOutput }, c.lengths);
  assertClose(`${name(c)}: output`, await out.output.read(), want.output, TOL);
  assertClose(`${name(c)}: dInput`, await out.dInput!.read(), want.dInput, gradTol(want.dInput));
  const grads = await layer.gradients();
  for (const [key, g] of Object.entries(want.dWeights))
    assertClose(`${name(c)}: d${key}`, grads[key].data, g, gradTol(g));
  for (const t of [x, dOut, out.output, out.hN, out.cN, out.dInput]) t?.destroy();
  layer.destroy();
}

const base = { numLayers: 1, bias: true, batchFirst: false, bidirectional: false };
const hard = 'hard_sigmoid' as const;
const hardCases: Case[] = [
  {
    cfg: { ...base, cell: 'lstm', inputSize: 5, hiddenSize: 7, recurrentActivation: hard },
    T: 4,
    B: 3,
    w: 0.5,
    seed: 1,
  },
  { cfg: { ...base, cell: 'lstm', inputSize: 3, hiddenSize: 9, recurrentActivation: hard }, T: 3, B: 2, w: 3, seed: 2 },
  {
    cfg: {
      ...base,
      cell: 'lstm',
      inputSize: 6,
      hiddenSize: 5,
      numLayers: 2,
      bidirectional: true,
      recurrentActivation: hard,
    },
    T: 5,
    B: 1,
    w: 0.8,
    h0: true,
    seed: 3,
  },
  {
    cfg: { ...base, cell: 'gru', inputSize: 4, hiddenSize: 11, batchFirst: true, recurrentActivation: hard },
    T: 1,
    B: 5,
    w: 0.8,
    seed: 4,
  },
  {
    cfg: { ...base, cell: 'gru', inputSize: 7, hiddenSize: 6, bias: false, recurrentActivation: hard },
    T: 6,
    B: 2,
    w: 3,
    seed: 5,
  },
  {
    cfg: {
      ...base,
      cell: 'gru',
      inputSize: 2,
      hiddenSize: 13,
      numLayers: 2,
      bidirectional: true,
      recurrentActivation: hard,
    },
    T: 4,
    B: 3,
    w: 0.6,
    lengths: [4, 1, 2],
    seed: 6,
  },
];

describe("recurrentActivation 'hard_sigmoid' vs float64", () => {
  it('the cases reach the clipped region: the hard sigmoid differs from σ there (w 3 clips most gates)', () => {
    const c = hardCases[1];
    const d = data(c);
    const a = rnnForwardRef(c.cfg, d.weights, d.x, c.T, c.B).output;
    const b = rnnForwardRef({ ...c.cfg, recurrentActivation: 'sigmoid' }, d.weights, d.x, c.T, c.B).output;
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i] - b[i]));
    expect(diff).toBeGreaterThan(0.05);
  });
  for (const kernel of ['step', 'persistent'] as const)
    for (const c of hardCases) {
      it(`${kernel} kernels: forward ${name(c)}`, async () => {
        gpu.tuning.recurrentKernel = kernel;
        try {
          await checkForward(c);
        } finally {
          gpu.tuning.recurrentKernel = 'auto';
        }
      });
      it(`${kernel} kernels: BPTT ${name(c)}`, async () => {
        gpu.tuning.recurrentKernel = kernel;
        try {
          await checkBackward(c);
        } finally {
          gpu.tuning.recurrentKernel = 'auto';
        }
      });
    }
});

const resetBeforeCases: Case[] = [
  { cfg: { ...base, cell: 'gru', inputSize: 5, hiddenSize: 7, resetAfter: false }, T: 4, B: 3, w: 0.6, seed: 11 },
  {
    cfg: { ...base, cell: 'gru', inputSize: 3, hiddenSize: 8, resetAfter: false },
    T: 1,
    B: 1,
    w: 0.6,
    h0: true,
    seed: 12,
  },
  {
    cfg: { ...base, cell: 'gru', inputSize: 4, hiddenSize: 5, resetAfter: false, recurrentActivation: hard },
    T: 6,
    B: 2,
    w: 1.5,
    h0: true,
    seed: 13,
  },
  {
    cfg: {
      ...base,
      cell: 'gru',
      inputSize: 6,
      hiddenSize: 9,
      numLayers: 2,
      bidirectional: true,
      batchFirst: true,
      resetAfter: false,
    },
    T: 5,
    B: 3,
    w: 0.6,
    lengths: [5, 2, 1],
    h0: true,
    seed: 14,
  },
  {
    cfg: { ...base, cell: 'gru', inputSize: 9, hiddenSize: 33, bias: false, resetAfter: false },
    T: 3,
    B: 6,
    w: 0.3,
    seed: 15,
  },
];

describe('GRU resetAfter false (reset before the recurrent matmul) vs float64', () => {
  it('differs from resetAfter true on the same weights (the reference distinguishes them)', () => {
    const c = resetBeforeCases[0];
    const d = data(c);
    const a = rnnForwardRef(c.cfg, d.weights, d.x, c.T, c.B).output;
    const b = rnnForwardRef({ ...c.cfg, resetAfter: true }, d.weights, d.x, c.T, c.B).output;
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i] - b[i]));
    expect(diff).toBeGreaterThan(1e-2);
  });
  for (const c of resetBeforeCases) it(`forward ${name(c)}`, () => checkForward(c));

  it("f16 and int8 W_hh (gpu.tuning.recurrentWeights) stay within 5e-3 of float64's f32 weights", async () => {
    for (const weights of ['f16', 'int8'] as const) {
      gpu.tuning.recurrentWeights = weights;
      try {
        const c = resetBeforeCases[0];
        const d = data(c);
        const layer = layerOf(c.cfg, c.seed);
        layer.loadStateDict(d.weights);
        const x = Tensor.from(gpu, d.x, [c.T, c.B, c.cfg.inputSize]);
        const out = layer.forward(x);
        const want = rnnForwardRef(c.cfg, d.weights, d.x, c.T, c.B);
        assertClose(`${weights}: output`, await out.output.read(), want.output, { rtol: 5e-3, atol: 5e-3 });
        for (const t of [x, out.output, out.hN]) t.destroy();
        layer.destroy();
      } finally {
        gpu.tuning.recurrentWeights = 'f32';
      }
    }
  });

  it('a stepper (one step per call) reproduces forward(); 2 dispatches per step + the input GEMM', async () => {
    const [I, H, T, B] = [5, 7, 4, 2];
    const layer = new GRU(gpu, { inputSize: I, hiddenSize: H, resetAfter: false, seed: 21 });
    const xs = uniform(rng(21), T * B * I, -1, 1);
    const x = Tensor.from(gpu, xs, [T, B, I]);
    const full = layer.forward(x);
    expect(layer.lastRun!.dispatches).toBe(2 * T + 1);
    const want = await full.output.read();
    const stepper = layer.createStepper(B);
    for (let t = 0; t < T; t++) {
      const xt = Tensor.from(gpu, xs.subarray(t * B * I, (t + 1) * B * I), [B, I]);
      const h = stepper.step(xt);
      assertClose(`stepper t=${t}`, await h.read(), want.subarray(t * B * H, (t + 1) * B * H), TOL);
      xt.destroy();
      h.destroy();
    }
    stepper.destroy();
    for (const t of [x, full.output, full.hN]) t.destroy();
    layer.destroy();
  });
});

describe('gate options: errors, before anything is allocated', () => {
  it('training a resetAfter false GRU, or the persistent kernel forced on it: refused, nothing allocated', () => {
    const layer = new GRU(gpu, { inputSize: 3, hiddenSize: 4, resetAfter: false, seed: 1 });
    const x = Tensor.from(gpu, new Float32Array(2 * 3), [2, 1, 3]);
    const dOut = Tensor.from(gpu, new Float32Array(2 * 4), [2, 1, 4]);
    const created = gpu.pool.stats.created;
    expect(() => layer.forwardBackward(x, {}, { dOutput: dOut })).toThrow(ArgumentError);
    expect(() => layer.forwardBackward(x, {}, { dOutput: dOut })).toThrow(/resetAfter false runs inference .*training/);
    gpu.tuning.recurrentKernel = 'persistent';
    try {
      expect(() => layer.forward(x)).toThrow(ShapeError);
      expect(() => layer.forward(x)).toThrow(/cannot run a GRU with resetAfter false/);
    } finally {
      gpu.tuning.recurrentKernel = 'auto';
    }
    expect(gpu.pool.stats.created).toBe(created);
    for (const t of [x, dOut]) t.destroy();
    layer.destroy();
  });
  it('RNN + recurrentActivation, LSTM + resetAfter, an unknown activation: ArgumentErrors naming them', () => {
    const rnn = () => new RNN(gpu, { inputSize: 2, hiddenSize: 3, recurrentActivation: 'hard_sigmoid' });
    expect(rnn).toThrow(ArgumentError);
    expect(rnn).toThrow(/recurrentActivation/);
    const lstm = () => new LSTM(gpu, { inputSize: 2, hiddenSize: 3, resetAfter: false } as never);
    expect(lstm).toThrow(/resetAfter/);
    const bad = () => new GRU(gpu, { inputSize: 2, hiddenSize: 3, recurrentActivation: 'relu' as never });
    expect(bad).toThrow(ArgumentError);
    expect(bad).toThrow(/recurrentActivation.*relu.*sigmoid.*hard_sigmoid|recurrentActivation.*'sigmoid'/s);
  });
  it('the options round-trip through config (defaults leave the config as before: no new keys)', () => {
    const a = new GRU(gpu, { inputSize: 2, hiddenSize: 3, resetAfter: false, recurrentActivation: 'hard_sigmoid' });
    expect(a.config).toMatchObject({ resetAfter: false, recurrentActivation: 'hard_sigmoid' });
    const b = new GRU(gpu, { inputSize: 2, hiddenSize: 3, resetAfter: true, recurrentActivation: 'sigmoid' });
    expect(Object.keys(b.config)).not.toContain('resetAfter');
    expect(Object.keys(b.config)).not.toContain('recurrentActivation');
    a.destroy();
    b.destroy();
  });
});
