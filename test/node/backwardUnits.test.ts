// The BPTT step kernels with 4 hidden units per thread (QUAD in shaders/recurrent_matvec_backward.wgsl,
// W_hh read as PyTorch stores it) and with one (W_hh repacked), each forced through
// gpu.tuning.backwardUnits, vs the float64 reference: random shapes with a hidden size that is a
// multiple of 4 (odd otherwise: 4·k with k odd, not multiples of the workgroup) of every cell,
// batch 1, length 1, bidirectional, batch-first, per-row lengths, the persistent BPTT; the 'auto'
// rule; the grid; and the errors where 4 cannot run, before any allocation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LSTM, RNN, Tensor, type Gpu } from '../../src/index.js';
import { ArgumentError, ShapeError } from '../../src/util/errors.js';
import { backwardQuad } from '../../src/kernels/cellStepBackward.js';
import { defaultStepTile } from '../../src/kernels/cellStep.js';
import type { CellKind } from '../../src/kernels/recurrentConfig.js';
import { bpttCheck, type GradCase } from '../checks/recurrentGrad.js';
import { randInt, rng } from '../checks/util.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

function randomCase(cell: CellKind, seed: number, over: Partial<GradCase> = {}): GradCase {
  const rand = rng(seed);
  const B = randInt(rand, 1, 9);
  const T = randInt(rand, 1, 6);
  const c: GradCase = {
    cell,
    inputSize: randInt(rand, 1, 9),
    hiddenSize: 4 * (2 * randInt(rand, 0, 9) + 1), // 4, 12, …, 76: multiples of 4, not of 8
    numLayers: randInt(rand, 1, 2),
    bidirectional: rand() < 0.4,
    batchFirst: rand() < 0.5,
    bias: rand() < 0.8,
    nonlinearity: cell === 'rnn' && rand() < 0.5 ? 'relu' : 'tanh',
    T,
    B,
    state: rand() < 0.7,
    seed,
    ...over,
  };
  return c;
}

const cases: GradCase[] = [
  randomCase('lstm', 1),
  randomCase('lstm', 2, { B: 1, T: 1 }),
  randomCase('lstm', 3, { hiddenSize: 132, bidirectional: true, B: 3, T: 4 }),
  randomCase('lstm', 4, { B: 5, T: 5, lengths: [5, 1, 3, 2, 4] }),
  randomCase('gru', 5),
  randomCase('gru', 6, { B: 1, T: 1, hiddenSize: 4 }),
  randomCase('gru', 7, { bidirectional: true, B: 4, T: 3, lengths: [3, 2, 1, 3] }),
  randomCase('rnn', 8),
  randomCase('rnn', 9, { bidirectional: true, B: 6, T: 4, lengths: [4, 4, 1, 2, 3, 1] }),
  randomCase('lstm', 10, { tile: { wg: 32, bt: 3 }, B: 7, T: 3 }),
];

async function withUnits(units: 'auto' | 1 | 4, f: () => Promise<void>, persistent = false): Promise<void> {
  gpu.tuning.backwardUnits = units;
  if (persistent) {
    gpu.tuning.recurrentKernel = 'persistent';
    gpu.tuning.persistentSteps = 2; // a chunk boundary inside the longer sequences
  }
  try {
    await f();
  } finally {
    gpu.tuning.backwardUnits = 'auto';
    gpu.tuning.recurrentKernel = 'auto';
    gpu.tuning.persistentSteps = 1024;
  }
}

describe('BPTT with 4 units per thread and with 1, vs float64', () => {
  for (const units of [4, 1] as const)
    for (const c of cases) {
      const check = bpttCheck(c);
      it(`units ${units}: ${check.name}`, () => withUnits(units, () => check.run(gpu)));
    }
  for (const c of [cases[2], cases[4], cases[7], cases[3]]) {
    const check = bpttCheck(c);
    it(`units 4, persistent BPTT in chunks of 2: ${check.name}`, () => withUnits(4, () => check.run(gpu), true));
  }
});

describe('backwardUnits: the rule, the grid and the errors', () => {
  const fake = (software: boolean, backwardUnits: unknown = 'auto') =>
    ({ software, tuning: { backwardUnits } }) as never;
  it("'auto': 4 on a software adapter where the hidden size allows it, 1 on a GPU", () => {
    expect(backwardQuad(fake(true), { hiddenSize: 256 }, 'x')).toBe(true);
    expect(backwardQuad(fake(true), { hiddenSize: 6 }, 'x')).toBe(false);
    expect(backwardQuad(fake(true), { hiddenSize: 8, projSize: 4 }, 'x')).toBe(false);
    expect(backwardQuad(fake(false), { hiddenSize: 256 }, 'x')).toBe(false);
    expect(backwardQuad(fake(false, 4), { hiddenSize: 256 }, 'x')).toBe(true);
    expect(backwardQuad(fake(true, 1), { hiddenSize: 256 }, 'x')).toBe(false);
  });

  it('forced 4 where it cannot run: a ShapeError naming it, before any allocation; unknown: an ArgumentError', () => {
    const x = Tensor.from(gpu, new Float32Array(3 * 2 * 3).fill(0.5), [3, 2, 3]);
    const odd = new RNN(gpu, { inputSize: 3, hiddenSize: 6 });
    const proj = new LSTM(gpu, { inputSize: 3, hiddenSize: 8, projSize: 4 });
    const dOdd = Tensor.from(gpu, new Float32Array(3 * 2 * 6), [3, 2, 6]);
    const dProj = Tensor.from(gpu, new Float32Array(3 * 2 * 4), [3, 2, 4]);
    const cases: [() => unknown, RegExp][] = [
      [
        () => odd.forwardBackward(x, {}, { dOutput: dOdd }),
        /backwardUnits 4 cannot run hiddenSize 6 \(not a multiple of 4\)/,
      ],
      [() => proj.forwardBackward(x, {}, { dOutput: dProj }), /backwardUnits 4 cannot run an LSTM with projSize 4/],
    ];
    gpu.tuning.backwardUnits = 4;
    try {
      for (const [call, message] of cases) {
        const { created, inUse } = gpu.pool.stats;
        expect(call).toThrow(ShapeError);
        expect(call).toThrow(message);
        expect(gpu.pool.stats.created).toBe(created);
        expect(gpu.pool.stats.inUse).toBe(inUse);
      }
      (gpu.tuning as { backwardUnits: unknown }).backwardUnits = 2;
      expect(() => backwardQuad(gpu, { hiddenSize: 8 }, 'RNN.forwardBackward')).toThrow(ArgumentError);
      expect(() => backwardQuad(gpu, { hiddenSize: 8 }, 'RNN.forwardBackward')).toThrow(
        /RNN.forwardBackward: gpu.tuning.backwardUnits must be 'auto', 1 or 4, got 2/,
      );
    } finally {
      gpu.tuning.backwardUnits = 'auto';
    }
    for (const t of [x, dOdd, dProj, odd, proj]) t.destroy();
  });

  it('4 units per thread: ⌈H / (4·WG)⌉ workgroups along the units per step, ⌈H / WG⌉ with 1', () => {
    const H = 256;
    const layer = new LSTM(gpu, { inputSize: 3, hiddenSize: H, seed: 1 });
    const { wg } = defaultStepTile(2, gpu.adapterInfo.isFallbackAdapter);
    const grids: (readonly number[])[] = [];
    for (const units of [4, 1] as const) {
      gpu.tuning.backwardUnits = units;
      try {
        const plan = layer.createTrainingPlan('x', 4, 2);
        const steps = plan.backward.dispatches.filter((d) => /backstep/.test(d.label ?? ''));
        expect(steps.length).toBe(4);
        grids.push(steps[0].workgroups);
        plan.destroy();
      } finally {
        gpu.tuning.backwardUnits = 'auto';
      }
    }
    expect(grids[0][0]).toBe(Math.ceil(H / (4 * wg)));
    expect(grids[1][0]).toBe(Math.ceil(H / wg));
    expect(grids[0][1]).toBe(grids[1][1]);
    layer.destroy();
  });
});
