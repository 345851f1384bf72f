// The recurrent step kernels with 4 hidden units per thread and with one, each forced through
// gpu.tuning.forwardUnits (LSTM / GRU forward steps: QUAD in shaders/recurrent_matvec.wgsl, each
// h_{t−1} load serving 4 units) and gpu.tuning.backwardUnits (BPTT steps: QUAD in
// shaders/recurrent_matvec_backward.wgsl, W_hh read as PyTorch stores it), vs the float64
// reference: random shapes with a hidden size that is a multiple of 4 (4·k with k odd, not a
// multiple of the workgroup) of every cell, batch 1, length 1, bidirectional, batch-first,
// per-row lengths, f16 / int8 weights, the persistent BPTT; the 'auto' rules; the grids; and the
// errors where 4 cannot run, before any allocation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GRU, LSTM, RNN, Tensor, type Gpu } from '../../src/index.js';
import { ArgumentError, ShapeError } from '../../src/util/errors.js';
import { backwardQuad } from '../../src/kernels/cellStepBackward.js';
import {
  cellStepDispatch,
  defaultStepTile,
  forwardQuad,
  gruRows,
  stepUnitThreads,
} from '../../src/kernels/cellStep.js';
import { recurrentChecks } from '../checks/recurrent.js';
import type { CellKind } from '../../src/kernels/recurrentConfig.js';
import { bpttCheck, type GradCase } from '../checks/recurrentGrad.js';
import { assertClose, randInt, rng, uniform } from '../checks/util.js';
import { expectShapeRefusals, testGpu, withTuning } from './gpu.js';

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

function withUnits(
  units: 'auto' | 1 | 4,
  f: () => Promise<void>,
  { persistent = false, forward = units }: { persistent?: boolean; forward?: 'auto' | 1 | 4 } = {},
): Promise<void> {
  const kernel = persistent
    ? { recurrentKernel: 'persistent' as const, persistentSteps: 2 } // a chunk boundary inside the longer sequences
    : { recurrentKernel: 'step' as const }; // B32 H ≥ 128 inference would take the persistent kernel
  return withTuning(gpu, { backwardUnits: units, forwardUnits: forward, recurrentWeights: 'f32', ...kernel }, f);
}

describe('training (forward + BPTT) with 4 units per thread and with 1, vs float64', () => {
  for (const units of [4, 1] as const)
    for (const c of cases) {
      const check = bpttCheck(c);
      // An RNN's forward kernel has no 4-unit variant (it computes 4 units per thread already).
      const forward = c.cell === 'rnn' ? 'auto' : units;
      it(`units ${units}: ${check.name}`, () => withUnits(units, () => check.run(gpu), { forward }));
    }
  // Forward 4 with backward 1 and the other way round (each reads what the other saved or wrote).
  for (const [forward, backward] of [
    [4, 1],
    [1, 4],
  ] as const)
    for (const c of [cases[2], cases[6]]) {
      const check = bpttCheck(c);
      it(`forward units ${forward}, backward units ${backward}: ${check.name}`, () =>
        withUnits(backward, () => check.run(gpu), { forward }));
    }
  for (const c of [cases[2], cases[4], cases[7], cases[3]]) {
    const check = bpttCheck(c);
    it(`units 4, persistent BPTT in chunks of 2: ${check.name}`, () =>
      withUnits(4, () => check.run(gpu), { persistent: true, forward: 'auto' }));
  }
});

describe('inference forward with 4 units per thread and with 1, vs float64 and PyTorch', () => {
  // The recurrent checks whose LSTM / GRU have a hidden size that is a multiple of 4 (random
  // aligned shapes, per-row lengths; the PyTorch fixtures' sizes are odd).
  const picked = recurrentChecks.filter((c) =>
    /^(lstm|gru) random aligned|lengths.*(lstm I3 H16|gru I2 H12)/.test(c.name),
  );
  it('picks 4 checks', () => expect(picked.length).toBe(4));
  for (const units of [4, 1] as const)
    for (const check of picked) it(`units ${units}: ${check.name}`, () => withUnits(units, () => check.run(gpu)));
  it('a GRU with 4 units per thread reads W_hh by rows from the parameters (f32); every layer-direction', async () => {
    expect(gruRows('gru', true, 'f32')).toBe(true);
    expect(gruRows('gru', true, 'f16')).toBe(false);
    expect(gruRows('gru', false, 'f32')).toBe(false);
    expect(gruRows('lstm', true, 'f32')).toBe(false);
    // 2 bidirectional layers: W_hh of l1d1 sits deep in the parameter buffer; batch 1 and 5 rows
    // with per-row lengths; H 20 (5 vec4s per row, not a multiple of the workgroup).
    const layer = new GRU(gpu, { inputSize: 3, hiddenSize: 20, numLayers: 2, bidirectional: true, seed: 9 });
    for (const [B, lengths] of [
      [1, undefined],
      [5, [4, 1, 3, 4, 2]],
    ] as const) {
      const x = Tensor.from(gpu, uniform(rng(B), 4 * B * 3, -1, 1), [4, B, 3]);
      const out: Float32Array[] = [];
      for (const units of [4, 1] as const)
        await withUnits(units, async () => {
          const y = layer.forward(x, lengths ? { lengths: [...lengths] } : {});
          out.push(await y.output.read(), await y.hN.read());
          for (const t of [y.output, y.hN]) t.destroy();
        });
      assertClose(`B${B}: output, units 4 vs 1`, out[0], out[2], { rtol: 1e-6, atol: 1e-7 });
      assertClose(`B${B}: hN, units 4 vs 1`, out[1], out[3], { rtol: 1e-6, atol: 1e-7 });
      x.destroy();
    }
    expect(() =>
      cellStepDispatch(
        gpu,
        'lstm',
        { hidden: 8, batch: 1, tile: { wg: 8, bt: 1 }, label: 'x', quad: true, rows: true },
        {} as never,
      ),
    ).toThrow(/x: W_hh by rows \(rows\) is for a GRU step with quad and f32 weights, got cell 'lstm', quad true/);
    layer.destroy();
  });

  // Batch 3 (one thread takes 3 rows) and batch 1 (one row: the kernels' named-sum path, BT = 1).
  for (const weights of ['f16', 'int8'] as const)
    for (const [Cell, B] of [
      [GRU, 3],
      [LSTM, 1],
      [GRU, 1],
    ] as const)
      it(`units 4 = units 1 with ${weights} W_hh (the same quantized copy): ${Cell.name} B${B}`, async () => {
        const layer = new Cell(gpu, { inputSize: 5, hiddenSize: 20, numLayers: 2, seed: 4 });
        const x = Tensor.from(gpu, uniform(rng(5), 6 * B * 5, -1, 1), [6, B, 5]);
        const out: Float32Array[] = [];
        for (const units of [4, 1] as const)
          await withUnits(units, async () => {
            gpu.tuning.recurrentWeights = weights;
            const y = layer.forward(x);
            out.push(await y.output.read());
            for (const t of [y.output, y.hN, y.cN]) t?.destroy();
          });
        assertClose(`${weights} ${Cell.name} B${B}: units 4 vs 1`, out[0], out[1], { rtol: 1e-6, atol: 1e-7 });
        x.destroy();
        layer.destroy();
      });
});

describe('forwardUnits and backwardUnits: the rules, the grids and the errors', () => {
  const fake = (software: boolean, backwardUnits: unknown = 'auto') =>
    ({ software, tuning: { backwardUnits } }) as never;
  it("forward 'auto': 4 on a software adapter for an LSTM / GRU whose hidden size allows it, 1 on a GPU", () => {
    const fake = (software: boolean, forwardUnits: unknown = 'auto') =>
      ({ software, tuning: { forwardUnits } }) as never;
    const lstm = { cell: 'lstm' as const, hiddenSize: 256 };
    expect(forwardQuad(fake(true), lstm, 'x')).toBe(true);
    expect(forwardQuad(fake(true), { cell: 'gru', hiddenSize: 12 }, 'x')).toBe(true);
    expect(forwardQuad(fake(true), { cell: 'rnn', hiddenSize: 256 }, 'x')).toBe(false);
    expect(forwardQuad(fake(true), { cell: 'gru', hiddenSize: 12, resetAfter: false }, 'x')).toBe(false);
    expect(forwardQuad(fake(true), { ...lstm, hiddenSize: 10 }, 'x')).toBe(false);
    expect(forwardQuad(fake(true), { ...lstm, projSize: 8 }, 'x')).toBe(false);
    expect(forwardQuad(fake(false), lstm, 'x')).toBe(false);
    expect(forwardQuad(fake(false, 4), lstm, 'x')).toBe(true);
    expect(forwardQuad(fake(true, 1), lstm, 'x')).toBe(false);
    expect(() => forwardQuad(fake(true, 2), lstm, 'LSTM.forward')).toThrow(
      /LSTM.forward: gpu.tuning.forwardUnits must be 'auto', 1 or 4, got 2/,
    );
  });

  it('forward units 4 forced where it cannot run: a ShapeError naming it, before any allocation', () => {
    const x = Tensor.from(gpu, new Float32Array(3 * 2 * 3).fill(0.5), [3, 2, 3]);
    const layers: [{ forward: (x: Tensor) => unknown; destroy(): void }, RegExp][] = [
      [new RNN(gpu, { inputSize: 3, hiddenSize: 8 }), /forwardUnits 4 cannot run an RNN/],
      [
        new LSTM(gpu, { inputSize: 3, hiddenSize: 6 }),
        /forwardUnits 4 cannot run hiddenSize 6 \(not a multiple of 4\)/,
      ],
      [
        new LSTM(gpu, { inputSize: 3, hiddenSize: 8, projSize: 4 }),
        /forwardUnits 4 cannot run an LSTM with projSize 4/,
      ],
      [
        new GRU(gpu, { inputSize: 3, hiddenSize: 8, resetAfter: false }),
        /forwardUnits 4 cannot run a GRU with resetAfter false/,
      ],
    ];
    gpu.tuning.forwardUnits = 4;
    try {
      expectShapeRefusals(
        gpu,
        layers.map(([layer, message]) => [() => layer.forward(x), message] as const),
      );
    } finally {
      gpu.tuning.forwardUnits = 'auto';
    }
    x.destroy();
    for (const [layer] of layers) layer.destroy();
  });

  it('the default step tile on a software adapter: at least 4 workgroups per step where the threads allow it', () => {
    // 8 rows per thread; 64 threads per workgroup, halved (down to 8) until a step has 4 workgroups.
    expect(defaultStepTile(1, true, 64)).toEqual({ wg: 16, bt: 1 }); // LSTM B1 H256, 4 units per thread
    expect(defaultStepTile(1, true, 256)).toEqual({ wg: 64, bt: 1 });
    expect(defaultStepTile(2, true, 24)).toEqual({ wg: 8, bt: 2 });
    expect(defaultStepTile(32, true, 64)).toEqual({ wg: 64, bt: 8 }); // 4 row groups already
    expect(defaultStepTile(12, true, 64)).toEqual({ wg: 32, bt: 8 }); // 2 row groups × 2
    expect(defaultStepTile(3, true, 5)).toEqual({ wg: 8, bt: 3 }); // never below 8 threads
    expect(defaultStepTile(1, false, 64)).toEqual({ wg: 128, bt: 1 }); // a GPU: one row per thread
    expect(stepUnitThreads('lstm', 256, true)).toBe(64);
    expect(stepUnitThreads('gru', 10, false)).toBe(10);
    expect(stepUnitThreads('rnn', 10, false)).toBe(3);
    // A B1 LSTM plan on this adapter: ⌈threads / wg⌉ workgroups per step.
    const H = 256;
    const layer = new LSTM(gpu, { inputSize: 3, hiddenSize: H, seed: 1 });
    const plan = layer.createPlan('x', 2, 1);
    const step = plan.dispatches.find((d) => /\.step\d+$/.test(d.label ?? ''));
    const threads = stepUnitThreads('lstm', H, forwardQuad(gpu, layer.config, 'x'));
    const { wg } = defaultStepTile(1, gpu.adapterInfo.isFallbackAdapter, threads);
    expect(step?.workgroups).toEqual([Math.ceil(threads / wg), 1, 1]);
    if (gpu.adapterInfo.isFallbackAdapter) expect(step?.workgroups[0]).toBe(4);
    plan.destroy();
    layer.destroy();
  });

  it('forward units 4: ⌈H / (4·WG)⌉ workgroups along the units per step, ⌈H / WG⌉ with 1', () => {
    const H = 256;
    const layer = new LSTM(gpu, { inputSize: 3, hiddenSize: H, seed: 1 });
    // The default tile follows the threads along the units (defaultStepTile).
    const wgFor = (quad: boolean) =>
      defaultStepTile(2, gpu.adapterInfo.isFallbackAdapter, stepUnitThreads('lstm', H, quad)).wg;
    const grids: (readonly number[])[] = [];
    for (const units of [4, 1] as const) {
      gpu.tuning.forwardUnits = units;
      try {
        const plan = layer.createPlan('x', 4, 2);
        const steps = plan.dispatches.filter((d) => /\.step\d+$/.test(d.label ?? ''));
        expect(steps.length).toBe(4);
        grids.push(steps[0].workgroups);
        plan.destroy();
      } finally {
        gpu.tuning.forwardUnits = 'auto';
      }
    }
    expect(grids[0][0]).toBe(Math.ceil(H / (4 * wgFor(true))));
    expect(grids[1][0]).toBe(Math.ceil(H / wgFor(false)));
    layer.destroy();
  });

  it("backward 'auto': 4 on a software adapter where the hidden size allows it, 1 on a GPU", () => {
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
      expectShapeRefusals(gpu, cases);
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
    // The backward runs on the forward's tile, which follows the forward's units per thread.
    const threads = stepUnitThreads('lstm', H, forwardQuad(gpu, layer.config, 'x'));
    const { wg } = defaultStepTile(2, gpu.adapterInfo.isFallbackAdapter, threads);
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
