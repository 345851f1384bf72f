// The wavefront forward (shaders/recurrent_wavefront.wgsl), forced through gpu.tuning.recurrentKernel
// = 'wavefront' (on SwiftShader 'auto' never picks it): random odd shapes of every cell vs the
// float64 reference (1 … 4 layers, batch 1, length 1, both layouts, no bias, h0/c0, ReLU, the hard
// sigmoid, per-row lengths), the dispatch count (T + L), the 'auto' rule, the errors where it
// cannot run, training (step kernels) unchanged, and weights updated by a Trainer read in place.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GRU, LSTM, Module, RNN, Tensor, Trainer, type Gpu } from '../../src/index.js';
import { ArgumentError, ShapeError } from '../../src/util/errors.js';
import { RecurrentPlan, type PersistentChoice } from '../../src/graph/recurrentPlan.js';
import { defaultStepTile } from '../../src/kernels/cellStep.js';
import { parameterShapes, type CellKind, type RecurrentConfig } from '../../src/kernels/recurrentConfig.js';
import { rnnForwardRef } from '../../src/reference/rnn.js';
import { wavefrontChoice } from '../../src/kernels/recurrentWavefront.js';
import { assertClose, randInt, rng, uniform } from '../checks/util.js';
import { recurrentChecks } from '../checks/recurrent.js';
import fixtures from '../fixtures/rnn.json';
import { testGpu } from './gpu.js';

const TOL = { rtol: 1e-4, atol: 1e-4 };
let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

async function withKernel<T>(kernel: 'auto' | 'step' | 'wavefront', f: () => Promise<T>): Promise<T> {
  gpu.tuning.recurrentKernel = kernel;
  try {
    return await f();
  } finally {
    gpu.tuning.recurrentKernel = 'auto';
  }
}

interface Case extends RecurrentConfig {
  T: number;
  B: number;
  seed: number;
  state: boolean;
  lengths?: number[];
  /** The step tile (threads × rows per thread); the adapter's default when absent. */
  tile?: { wg: number; bt: number };
}

function randomCase(cell: CellKind, seed: number, over: Partial<Case> = {}): Case {
  const rand = rng(seed);
  const aligned = rand() < 0.4;
  const B = randInt(rand, 1, 11);
  const T = randInt(rand, 1, 9);
  const c: Case = {
    cell,
    inputSize: randInt(rand, 1, 23),
    hiddenSize: aligned ? 4 * randInt(rand, 1, 12) : randInt(rand, 1, 45),
    numLayers: randInt(rand, 1, 4),
    bias: rand() < 0.8,
    batchFirst: rand() < 0.5,
    bidirectional: false,
    nonlinearity: cell === 'rnn' && rand() < 0.5 ? 'relu' : 'tanh',
    recurrentActivation: cell !== 'rnn' && rand() < 0.3 ? 'hard_sigmoid' : 'sigmoid',
    T,
    B,
    seed,
    state: rand() < 0.5,
    ...over,
  };
  return c;
}

const caseName = (c: Case) =>
  `${c.cell}${c.nonlinearity === 'relu' ? '(relu)' : ''}` +
  `${c.recurrentActivation === 'hard_sigmoid' ? '(hard σ)' : ''} ` +
  `I${c.inputSize} H${c.hiddenSize} L${c.numLayers} T${c.T} B${c.B}${c.batchFirst ? ' batchFirst' : ''}` +
  `${c.bias ? '' : ' no bias'}${c.state ? ' h0' : ''}${c.lengths ? ` lengths ${c.lengths.join(',')}` : ''}` +
  `${c.tile ? ` tile ${c.tile.wg}×${c.tile.bt}` : ''}`;

/** The wavefront forward of case `c` vs float64; returns the run's dispatch count. */
async function checkCase(c: Case): Promise<number> {
  const rand = rng(c.seed + 1);
  const weights: Record<string, Float32Array> = {};
  for (const { name, shape } of parameterShapes(c))
    weights[name] = uniform(
      rand,
      shape.reduce((a, b) => a * b, 1),
      -0.5,
      0.5,
    );
  const { T, B } = c;
  const x = uniform(rand, T * B * c.inputSize, -1, 1);
  const S = c.numLayers * B * c.hiddenSize;
  const h0 = c.state ? uniform(rand, S, -1, 1) : undefined;
  const c0 = c.state && c.cell === 'lstm' ? uniform(rand, S, -1, 1) : undefined;
  const opts = {
    inputSize: c.inputSize,
    hiddenSize: c.hiddenSize,
    numLayers: c.numLayers,
    bias: c.bias,
    batchFirst: c.batchFirst,
    seed: c.seed,
    ...(c.tile ? { stepTile: c.tile } : {}),
  };
  const layer =
    c.cell === 'rnn'
      ? new RNN(gpu, { ...opts, nonlinearity: c.nonlinearity })
      : c.cell === 'lstm'
        ? new LSTM(gpu, { ...opts, recurrentActivation: c.recurrentActivation })
        : new GRU(gpu, { ...opts, recurrentActivation: c.recurrentActivation });
  layer.loadStateDict(weights);
  const stateShape = [c.numLayers, B, c.hiddenSize];
  const xt = Tensor.from(gpu, x, c.batchFirst ? [B, T, c.inputSize] : [T, B, c.inputSize]);
  const h0t = h0 && Tensor.from(gpu, h0, stateShape);
  const c0t = c0 && Tensor.from(gpu, c0, stateShape);
  const out = layer.forward(xt, { h0: h0t, c0: c0t, lengths: c.lengths });
  const dispatches = layer.lastRun!.dispatches;
  const want = rnnForwardRef(c, weights, x, T, B, h0, c0, c.lengths);
  const what = caseName(c);
  assertClose(`${what}: output`, await out.output.read(), want.output, TOL);
  assertClose(`${what}: hN`, await out.hN.read(), want.hN, TOL);
  if (want.cN) assertClose(`${what}: cN`, await out.cN!.read(), want.cN, TOL);
  for (const t of [xt, h0t, c0t, out.output, out.hN, out.cN]) t?.destroy();
  layer.destroy();
  return dispatches;
}

describe('wavefront forward vs float64', () => {
  const cells = ['rnn', 'lstm', 'gru'] as const;
  for (const [i, cell] of cells.entries())
    for (let k = 0; k < 4; k++) {
      const c = randomCase(cell, 7100 + 10 * i + k);
      it(caseName(c), () => withKernel('wavefront', () => checkCase(c)));
    }
  const edge: Case[] = [
    { ...randomCase('lstm', 7201), numLayers: 3, T: 1, B: 1 },
    { ...randomCase('gru', 7202), numLayers: 4, T: 2, B: 1, hiddenSize: 33 },
    { ...randomCase('rnn', 7203), numLayers: 2, T: 7, B: 9, hiddenSize: 64, nonlinearity: 'relu' },
    { ...randomCase('lstm', 7204), numLayers: 2, T: 6, B: 5, hiddenSize: 129, bias: false, state: true },
    { ...randomCase('gru', 7205), numLayers: 3, T: 5, B: 4, batchFirst: true, recurrentActivation: 'hard_sigmoid' },
    { ...randomCase('lstm', 7206), numLayers: 2, T: 4, B: 7, hiddenSize: 40, tile: { wg: 128, bt: 1 } },
    { ...randomCase('gru', 7207), numLayers: 3, T: 3, B: 10, hiddenSize: 37, tile: { wg: 32, bt: 3 } },
  ];
  for (const c of edge) it(`edge: ${caseName(c)}`, () => withKernel('wavefront', () => checkCase(c)));
  const withLengths: Case[] = [
    { ...randomCase('lstm', 7301), numLayers: 3, T: 5, B: 4, lengths: [5, 1, 3, 2], state: true },
    { ...randomCase('gru', 7302), numLayers: 2, T: 4, B: 3, batchFirst: true, lengths: [2, 4, 1] },
    { ...randomCase('rnn', 7303), numLayers: 2, T: 6, B: 5, hiddenSize: 20, lengths: [6, 2, 1, 5, 3] },
  ];
  for (const c of withLengths) it(`per-row lengths: ${caseName(c)}`, () => withKernel('wavefront', () => checkCase(c)));
});

describe('wavefront forward vs PyTorch 1.13 (the unidirectional fixtures of test/fixtures/rnn.json)', () => {
  const names = new Set(
    (fixtures.cases as Array<{ name: string; bidirectional: boolean }>)
      .filter((c) => !c.bidirectional)
      .map((c) => `torch fixture: ${c.name}`),
  );
  const picked = recurrentChecks.filter((c) => names.has(c.name));
  it('picks every unidirectional fixture (1 to 3 layers)', () => expect(picked.length).toBe(names.size));
  for (const check of picked) it(check.name, () => withKernel('wavefront', () => check.run(gpu)));
});

describe('wavefront plans', () => {
  it('LSTM T 100, 3 layers: T + 3 dispatches (input GEMM, T + 2 waves; T·3 + 3 with the step kernels)', async () => {
    const c: Case = { ...randomCase('lstm', 7401), numLayers: 3, T: 100, B: 3, hiddenSize: 12, inputSize: 5 };
    expect(await withKernel('wavefront', () => checkCase(c))).toBe(103);
    expect(await withKernel('step', () => checkCase(c))).toBe(303);
  });

  it('GRU T 7, 5 layers: T + 5 dispatches', async () => {
    const c: Case = { ...randomCase('gru', 7402), numLayers: 5, T: 7, B: 2 };
    expect(await withKernel('wavefront', () => checkCase(c))).toBe(12);
  });

  it("training keeps the step kernels: forwardBackward under 'wavefront' = under 'step', bit for bit", async () => {
    const run = async (kernel: 'step' | 'wavefront') =>
      withKernel(kernel, async () => {
        const layer = new LSTM(gpu, { inputSize: 3, hiddenSize: 7, numLayers: 2, seed: 5 });
        const x = Tensor.from(gpu, uniform(rng(3), 4 * 2 * 3, -1, 1), [4, 2, 3]);
        const dOutput = Tensor.from(gpu, uniform(rng(4), 4 * 2 * 7, -1, 1), [4, 2, 7]);
        const out = layer.forwardBackward(x, {}, { dOutput });
        const values = [await out.output.read(), ...Object.values(await layer.gradients()).map((g) => g.data)];
        for (const t of [x, dOutput, out.output, out.hN, out.cN]) t?.destroy();
        layer.destroy();
        return values;
      });
    const step = await run('step');
    const wave = await run('wavefront');
    expect(wave.length).toBe(9);
    for (const [i, v] of wave.entries()) expect(Array.from(v)).toEqual(Array.from(step[i]));
  });

  it('reads the weights a Trainer updated in its own buffer (nothing repacked)', async () => {
    class Net extends Module {
      gru: GRU;
      constructor() {
        super(gpu);
        this.gru = new GRU(gpu, { inputSize: 4, hiddenSize: 6, numLayers: 2, seed: 8 });
      }
      forward(x: Tensor): Tensor {
        return this.gru.forward(x).output;
      }
    }
    await withKernel('wavefront', async () => {
      const model = new Net();
      const x = Tensor.from(gpu, uniform(rng(4), 3 * 2 * 4, -1, 1), [3, 2, 4]);
      const targets = Tensor.from(gpu, uniform(rng(5), 3 * 2 * 6, -1, 1), [3, 2, 6]);
      const before = await model.gru.stateDict();
      const trainer = new Trainer(model, { loss: 'mse', optimizer: { kind: 'sgd', lr: 0.5 } });
      await trainer.step({ inputs: x, targets });
      const sd = await model.gru.stateDict();
      const weights = Object.fromEntries(Object.entries(sd).map(([k, v]) => [k, v.data]));
      expect(Math.abs(weights.weight_hh_l1[0] - before.weight_hh_l1.data[0])).toBeGreaterThan(1e-6);
      const out = model.gru.forward(x);
      expect(model.gru.lastRun!.dispatches).toBe(1 + 3 + 2 - 1);
      const want = rnnForwardRef({ ...model.gru.config }, weights, await x.read(), 3, 2);
      assertClose('after a Trainer step: output', await out.output.read(), want.output, TOL);
      trainer.destroy();
      for (const t of [x, targets, out.output, out.hN]) t.destroy();
      model.destroy();
    });
  });
});

describe('wavefront: where it cannot run', () => {
  const x = () => Tensor.from(gpu, new Float32Array(3 * 2 * 4), [3, 2, 4]);
  const cases: Array<[string, () => LSTM | GRU, RegExp]> = [
    [
      'bidirectional',
      () => new LSTM(gpu, { inputSize: 4, hiddenSize: 5, numLayers: 2, bidirectional: true }),
      /LSTM.forward: gpu.tuning.recurrentKernel 'wavefront' cannot run a bidirectional stack/,
    ],
    [
      'projSize',
      () => new LSTM(gpu, { inputSize: 4, hiddenSize: 5, numLayers: 2, projSize: 3 }),
      /cannot run an LSTM with projSize 3/,
    ],
    [
      'resetAfter false',
      () => new GRU(gpu, { inputSize: 4, hiddenSize: 5, resetAfter: false }),
      /cannot run a GRU with resetAfter false/,
    ],
  ];
  for (const [name, make, message] of cases)
    it(`${name}: a ShapeError naming it, before any allocation`, async () => {
      const layer = make();
      const input = x();
      await withKernel('wavefront', async () => {
        const created = gpu.pool.stats.created;
        expect(() => layer.forward(input)).toThrow(ShapeError);
        expect(() => layer.forward(input)).toThrow(message);
        expect(gpu.pool.stats.created).toBe(created);
      });
      input.destroy();
      layer.destroy();
    });

  it('f16 weights: a ShapeError; an unknown recurrentKernel: an ArgumentError naming the values', async () => {
    const layer = new GRU(gpu, { inputSize: 4, hiddenSize: 5, numLayers: 2 });
    const input = x();
    gpu.tuning.recurrentWeights = 'f16';
    try {
      await withKernel('wavefront', async () => {
        expect(() => layer.forward(input)).toThrow(/cannot run W_hh read as 'f16'/);
      });
    } finally {
      gpu.tuning.recurrentWeights = 'f32';
    }
    (gpu.tuning as { recurrentKernel: string }).recurrentKernel = 'waves';
    try {
      expect(() => layer.forward(input)).toThrow(
        /gpu.tuning.recurrentKernel must be 'auto', 'step', 'persistent' or 'wavefront', got waves/,
      );
    } finally {
      gpu.tuning.recurrentKernel = 'auto';
    }
    input.destroy();
    layer.destroy();
  });

  it('RecurrentPlan itself refuses inconsistent kernel options before its first allocation', () => {
    const lstm = new LSTM(gpu, { inputSize: 4, hiddenSize: 5, numLayers: 2 });
    const bi = new LSTM(gpu, { inputSize: 4, hiddenSize: 5, numLayers: 2, bidirectional: true });
    const tile = defaultStepTile(3, gpu.adapterInfo.isFallbackAdapter);
    const persistent = { steps: 4, tile } as unknown as PersistentChoice;
    const cases: [string, () => RecurrentPlan, RegExp][] = [
      [
        'wavefront + training',
        () =>
          new RecurrentPlan(gpu, lstm.config, lstm.directionParams, 6, 3, tile, true, null, false, { wavefront: true }),
        /wavefront plan is an inference forward/,
      ],
      [
        'wavefront + bidirectional',
        () =>
          new RecurrentPlan(gpu, bi.config, bi.directionParams, 6, 3, tile, false, null, false, { wavefront: true }),
        /unidirectional stack/,
      ],
      [
        'wavefront + f16',
        () =>
          new RecurrentPlan(gpu, lstm.config, lstm.directionParams, 6, 3, tile, false, null, false, {
            wavefront: true,
            weights: 'f16',
          }),
        /with f32 weights/,
      ],
      [
        'persistent + step-wise',
        () => new RecurrentPlan(gpu, lstm.config, lstm.directionParams, 6, 3, tile, false, null, true, { persistent }),
        /persistent recurrent kernel runs neither step-wise/,
      ],
      [
        'int8 + training',
        () =>
          new RecurrentPlan(gpu, lstm.config, lstm.directionParams, 6, 3, tile, true, null, false, { weights: 'int8' }),
        /recurrent weights 'int8' are for inference plans/,
      ],
    ];
    for (const [name, make, message] of cases) {
      const created = gpu.pool.stats.created;
      const inUse = gpu.pool.stats.inUse;
      expect(make, name).toThrow(ArgumentError);
      expect(make, name).toThrow(message);
      expect(gpu.pool.stats.created, name).toBe(created);
      expect(gpu.pool.stats.inUse, name).toBe(inUse);
    }
    lstm.destroy();
    bi.destroy();
  });
});

describe("wavefront: the 'auto' rule", () => {
  const views = () => {
    const buffer = { size: 1024 } as GPUBuffer;
    const v = { buffer, offset: 0 };
    return [0, 1].map(() => ({ wih: v, whh: v, bih: v, bhh: { buffer, offset: 0 } }));
  };
  const fake = (software: boolean, recurrentMeasured: Record<string, string> = {}) =>
    ({
      software,
      tuning: { recurrentKernel: 'auto', recurrentMeasured },
      limits: { maxStorageBufferBindingSize: 1 << 27 },
    }) as unknown as Gpu;
  const cfg = { cell: 'lstm' as const, hiddenSize: 8, numLayers: 2 };
  const choose = (
    gpu: Gpu,
    c: Parameters<typeof wavefrontChoice>[1] = cfg,
    opts: { weights?: string; training?: boolean; persistent?: boolean; params?: ReturnType<typeof views> } = {},
  ) =>
    wavefrontChoice(gpu, c, 4, opts.params ?? views(), opts.weights ?? 'f32', !!opts.training, !!opts.persistent, 'x');
  it('on a GPU: stacks of ≥ 2 layers the persistent kernel does not run; not training, not one layer', () => {
    expect(choose(fake(false))).toBe(true);
    expect(choose(fake(false), cfg, { persistent: true })).toBe(false);
    expect(choose(fake(false), cfg, { training: true })).toBe(false);
    expect(choose(fake(false), { ...cfg, numLayers: 1 }, { params: views().slice(0, 1) })).toBe(false);
    expect(choose(fake(false), { ...cfg, bidirectional: true })).toBe(false);
    expect(choose(fake(false), cfg, { weights: 'int8' })).toBe(false);
  });
  it('never on a software adapter; parameters in two buffers: never', () => {
    expect(choose(fake(true))).toBe(false);
    const split = views();
    split[1] = { ...split[1], whh: { buffer: { size: 8 } as GPUBuffer, offset: 0 } };
    expect(choose(fake(false), cfg, { params: split })).toBe(false);
  });
  it("follows calibrateRecurrent's measurement of this stack (cell, hidden, batch, layers) where there is one", () => {
    expect(choose(fake(true, { 'lstm H8 B4 L2': 'wavefront' }))).toBe(true);
    expect(choose(fake(false, { 'lstm H8 B4 L2': 'step' }))).toBe(false);
    expect(choose(fake(false, { 'lstm H8 B4 L2': 'persistent' }))).toBe(false);
    // Another batch, another depth, or the one-layer entry: not this stack's measurement.
    expect(choose(fake(true, { 'lstm H8 B5 L2': 'wavefront', 'lstm H8 B4 L3': 'wavefront' }))).toBe(false);
    expect(choose(fake(false, { 'lstm H8 B4': 'step' }))).toBe(true);
    // Measured, but it cannot run here (int8 weights) or this is training: no.
    expect(choose(fake(true, { 'lstm H8 B4 L2': 'wavefront' }), cfg, { weights: 'int8' })).toBe(false);
    expect(choose(fake(true, { 'lstm H8 B4 L2': 'wavefront' }), cfg, { training: true })).toBe(false);
  });
});
