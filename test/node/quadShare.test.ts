// Loads shared by the 4 threads of a quad (quadBroadcast) in the recurrent step kernels with 4
// units per thread, each forced through gpu.tuning and compared with the loads it replaces, vs the
// float64 reference:
// - backwardGates (BPTT steps): 'loads' (every thread loads all gate gradients of a row) and
//   'subgroups' (one gate each, shaders/backward_gates_subgroups.wgsl);
// - forwardRows (forward steps, 2 or more rows per thread): 'loads' and 'subgroups' (one or two
//   rows of h_{t−1} each, shaders/step_rows_subgroups.wgsl), training and inference, f32 / f16 / int8.
// LSTM and GRU, hidden sizes whose quad threads do not fill the workgroup (threads past the last
// unit run the shared loads and write nothing), batch 1, length 1, bidirectional, per-row lengths,
// forced tiles, the persistent BPTT; the 'auto' rules; the kernels a plan records; and the errors
// where 'subgroups' cannot run, before any allocation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GRU, LSTM, RNN, Tensor, type Gpu } from '../../src/index.js';
import { ArgumentError, ShapeError } from '../../src/util/errors.js';
import { backwardSharedGates } from '../../src/kernels/cellStepBackward.js';
import { forwardSharedRows } from '../../src/kernels/cellStep.js';
import { bpttCheck, type GradCase } from '../checks/recurrentGrad.js';
import { recurrentChecks } from '../checks/recurrent.js';
import { assertClose, rng, uniform } from '../checks/util.js';
import { expectShapeRefusals, testGpu, withTuning } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

// With gpu.tuning[key] forced to 'subgroups': each call throws a ShapeError matching its message
// and leaves the buffer pool as it was (nothing allocated).
function expectRefused(key: 'backwardGates' | 'forwardRows', cases: [() => unknown, RegExp][]): void {
  gpu.tuning[key] = 'subgroups';
  try {
    expectShapeRefusals(gpu, cases);
  } finally {
    gpu.tuning[key] = 'auto';
  }
}

interface FakeOptions {
  software?: boolean;
  subgroups?: boolean;
  min?: number;
  mode?: unknown;
}

// A GPU as the rules read it: software or not, subgroups (min size), gpu.tuning[key] = mode.
function fakeGpu(key: 'backwardGates' | 'forwardRows', over: FakeOptions): never {
  return {
    software: over.software ?? true,
    features: { subgroups: over.subgroups ?? true },
    adapterInfo: { subgroupMinSize: over.min ?? 4, subgroupMaxSize: 4 },
    tuning: { [key]: over.mode ?? 'auto' },
  } as never;
}

const base = { inputSize: 5, numLayers: 1, bidirectional: false, batchFirst: false, bias: true, state: true };
const cases: GradCase[] = [
  // 17 quad threads (H 68) in a workgroup of 64: 47 past the last unit, one quad half inside.
  { ...base, cell: 'lstm', hiddenSize: 68, T: 3, B: 5, seed: 1 },
  { ...base, cell: 'lstm', hiddenSize: 4, T: 1, B: 1, seed: 2 },
  { ...base, cell: 'lstm', hiddenSize: 20, T: 4, B: 3, seed: 3, bidirectional: true, numLayers: 2, batchFirst: true },
  { ...base, cell: 'lstm', hiddenSize: 12, T: 5, B: 5, seed: 4, lengths: [5, 1, 3, 2, 4], bias: false },
  { ...base, cell: 'lstm', hiddenSize: 28, T: 3, B: 7, seed: 5, tile: { wg: 8, bt: 3 } },
  { ...base, cell: 'gru', hiddenSize: 44, T: 3, B: 9, seed: 6, state: false },
  { ...base, cell: 'gru', hiddenSize: 4, T: 1, B: 1, seed: 7 },
  { ...base, cell: 'gru', hiddenSize: 36, T: 3, B: 4, seed: 8, bidirectional: true, lengths: [3, 2, 1, 3] },
];

function withGates(mode: 'loads' | 'subgroups', f: () => Promise<void>, persistent = false): Promise<void> {
  const kernel = persistent
    ? { recurrentKernel: 'persistent' as const, persistentSteps: 2 } // a chunk boundary inside the longer sequences
    : { recurrentKernel: 'step' as const };
  return withTuning(gpu, { backwardGates: mode, backwardUnits: 4, ...kernel }, f);
}

const subgroupsOk = () =>
  backwardSharedGates(
    { software: true, features: gpu.features, adapterInfo: gpu.adapterInfo, tuning: { backwardGates: 'auto' } },
    'lstm',
    true,
    'x',
  );

describe("BPTT with gate loads shared by a quad ('subgroups') and without ('loads'), vs float64", () => {
  it('this adapter can share them (SwiftShader: subgroups of 4)', () => expect(subgroupsOk()).toBe(true));
  for (const mode of ['subgroups', 'loads'] as const)
    for (const c of cases) {
      const check = bpttCheck(c);
      it(`${mode}: ${check.name}`, () => withGates(mode, () => check.run(gpu)));
    }
  for (const c of [cases[0], cases[3], cases[5]]) {
    const check = bpttCheck(c);
    it(`subgroups, persistent BPTT in chunks of 2: ${check.name}`, () =>
      withGates('subgroups', () => check.run(gpu), true));
  }
});

describe('backwardGates: the rule, the kernel recorded, the errors', () => {
  const fake = (over: FakeOptions = {}) => fakeGpu('backwardGates', over);

  it("'auto': shared on a software adapter with subgroups ≥ 4 for an LSTM / GRU with 4 units per thread", () => {
    expect(backwardSharedGates(fake(), 'lstm', true, 'x')).toBe(true);
    expect(backwardSharedGates(fake(), 'gru', true, 'x')).toBe(true);
    expect(backwardSharedGates(fake({ min: 8 }), 'gru', true, 'x')).toBe(true);
    expect(backwardSharedGates(fake(), 'rnn', true, 'x')).toBe(false);
    expect(backwardSharedGates(fake(), 'lstm', false, 'x')).toBe(false);
    expect(backwardSharedGates(fake({ software: false }), 'lstm', true, 'x')).toBe(false);
    expect(backwardSharedGates(fake({ subgroups: false }), 'lstm', true, 'x')).toBe(false);
    expect(backwardSharedGates(fake({ min: 2 }), 'lstm', true, 'x')).toBe(false);
    expect(backwardSharedGates(fake({ mode: 'loads' }), 'lstm', true, 'x')).toBe(false);
    expect(backwardSharedGates(fake({ software: false, mode: 'subgroups' }), 'lstm', true, 'x')).toBe(true);
    const forced = fake({ mode: 'subgroups' });
    const refused: [Parameters<typeof backwardSharedGates>, RegExp][] = [
      [[forced, 'rnn', true, 'RNN.forwardBackward'], /RNN.forwardBackward: .*'subgroups' cannot run an RNN/],
      [[forced, 'lstm', false, 'x'], /cannot run BPTT steps with 1 unit per thread/],
      [[fake({ mode: 'subgroups', subgroups: false }), 'gru', true, 'x'], /cannot run a device without subgroups/],
      [
        [fake({ mode: 'subgroups', min: 2 }), 'gru', true, 'x'],
        /cannot run subgroups of 2 invocations \(quads need 4\)/,
      ],
    ];
    for (const [args, message] of refused) {
      expect(() => backwardSharedGates(...args)).toThrow(ShapeError);
      expect(() => backwardSharedGates(...args)).toThrow(message);
    }
    expect(() => backwardSharedGates(fake({ mode: 'quads' }), 'lstm', true, 'LSTM.x')).toThrow(ArgumentError);
    expect(() => backwardSharedGates(fake({ mode: 'quads' }), 'lstm', true, 'LSTM.x')).toThrow(
      /LSTM.x: gpu.tuning.backwardGates must be 'auto', 'loads' or 'subgroups', got quads/,
    );
  });

  it("a training plan's BPTT steps run the kernel the tuning names ('auto': shared on SwiftShader)", () => {
    if (gpu.software) expect(backwardSharedGates(gpu, 'gru', true, 'x')).toBe(true);
    const layer = new GRU(gpu, { inputSize: 3, hiddenSize: 8, seed: 1 });
    const kernels = (mode: 'auto' | 'loads' | 'subgroups') => {
      gpu.tuning.backwardGates = mode;
      gpu.tuning.recurrentKernel = 'step';
      try {
        const plan = layer.createTrainingPlan('x', 3, 2);
        const labels = plan.backward.dispatches
          .filter((d) => /backstep\d+$/.test(d.label ?? ''))
          .map((d) => d.pipeline.label);
        plan.destroy();
        return labels;
      } finally {
        gpu.tuning.backwardGates = 'auto';
        gpu.tuning.recurrentKernel = 'auto';
      }
    };
    for (const [mode, shared] of [
      ['subgroups', true],
      ['loads', false],
      ['auto', backwardSharedGates(gpu, 'gru', true, 'x')],
    ] as const) {
      const labels = kernels(mode);
      expect(labels).toHaveLength(3);
      for (const l of labels) expect(l.startsWith(`gru_step_backward.wgsl${shared ? '#subgroups' : ''}|`)).toBe(true);
    }
    layer.destroy();
  });

  it("'subgroups' forced where it cannot run: a ShapeError naming it, before any allocation", () => {
    const x = Tensor.from(gpu, new Float32Array(3 * 2 * 3).fill(0.5), [3, 2, 3]);
    const rnn = new RNN(gpu, { inputSize: 3, hiddenSize: 8 });
    const odd = new LSTM(gpu, { inputSize: 3, hiddenSize: 6 });
    const d8 = Tensor.from(gpu, new Float32Array(3 * 2 * 8), [3, 2, 8]);
    const d6 = Tensor.from(gpu, new Float32Array(3 * 2 * 6), [3, 2, 6]);
    const cases: [() => unknown, RegExp][] = [
      [() => rnn.forwardBackward(x, {}, { dOutput: d8 }), /backwardGates 'subgroups' cannot run an RNN/],
      [() => odd.forwardBackward(x, {}, { dOutput: d6 }), /cannot run BPTT steps with 1 unit per thread/],
    ];
    expectRefused('backwardGates', cases);
    for (const t of [x, d8, d6, rnn, odd]) t.destroy();
  });
});

function withRows(
  mode: 'auto' | 'loads' | 'subgroups',
  f: () => Promise<void>,
  weights: 'f32' | 'f16' | 'int8' = 'f32',
): Promise<void> {
  return withTuning(gpu, { forwardRows: mode, forwardUnits: 4, recurrentKernel: 'step', recurrentWeights: weights }, f);
}

describe("forward steps with h_{t−1} loads shared by a quad ('subgroups') and without ('loads'), vs float64", () => {
  // Training forwards (their saved activations feed the BPTT the checks compare), 2 or more rows per
  // thread: every case but batch 1 (cases[1], cases[6]: 1 row per thread, nothing to share).
  const training = cases.filter((c) => c.B > 1);
  for (const mode of ['subgroups', 'loads'] as const)
    for (const c of training) {
      const check = bpttCheck(c);
      it(`${mode}: ${check.name}`, () => withRows(mode, () => check.run(gpu)));
    }
  // Inference: the LSTM / GRU checks with a hidden size that is a multiple of 4 (random aligned
  // shapes; per-row lengths, whose "each row alone" runs have 1 row per thread: those with 'auto',
  // which shares where 2 or more rows are, on SwiftShader).
  const picked = recurrentChecks.filter((c) =>
    /^(lstm|gru) random aligned|lengths.*(lstm I3 H16|gru I2 H12)/.test(c.name),
  );
  it('picks 4 inference checks', () => expect(picked.length).toBe(4));
  for (const check of picked) {
    const mode = /lengths/.test(check.name) ? 'auto' : 'subgroups';
    it(`${mode}: ${check.name}`, () => withRows(mode, () => check.run(gpu)));
    it(`loads: ${check.name}`, () => withRows('loads', () => check.run(gpu)));
  }
  // f16 / int8 W_hh: shared = each thread's own loads, on the same quantized copy.
  for (const weights of ['f16', 'int8'] as const)
    for (const [Cell, B] of [
      [LSTM, 3],
      [GRU, 6],
    ] as const)
      it(`subgroups = loads with ${weights} W_hh: ${Cell.name} B${B}`, async () => {
        const layer = new Cell(gpu, { inputSize: 5, hiddenSize: 20, numLayers: 2, seed: 4 });
        const x = Tensor.from(gpu, uniform(rng(5), 6 * B * 5, -1, 1), [6, B, 5]);
        const out: Float32Array[] = [];
        for (const mode of ['subgroups', 'loads'] as const)
          await withRows(
            mode,
            async () => {
              const y = layer.forward(x);
              out.push(await y.output.read());
              for (const t of [y.output, y.hN, y.cN]) t?.destroy();
            },
            weights,
          );
        assertClose(`${weights} ${Cell.name} B${B}: subgroups vs loads`, out[0], out[1], { rtol: 1e-6, atol: 1e-7 });
        x.destroy();
        layer.destroy();
      });
});

describe('forwardRows: the rule, the kernel recorded, the errors', () => {
  const fake = (over: FakeOptions = {}) => fakeGpu('forwardRows', over);

  it("'auto': shared on a software adapter with subgroups ≥ 4 for LSTM / GRU quads with 2 or more rows", () => {
    expect(forwardSharedRows(fake(), 'lstm', true, 8, 'x')).toBe(true);
    expect(forwardSharedRows(fake(), 'gru', true, 2, 'x')).toBe(true);
    expect(forwardSharedRows(fake(), 'gru', true, 1, 'x')).toBe(false);
    expect(forwardSharedRows(fake(), 'rnn', true, 8, 'x')).toBe(false);
    expect(forwardSharedRows(fake(), 'lstm', false, 8, 'x')).toBe(false);
    expect(forwardSharedRows(fake({ software: false }), 'lstm', true, 8, 'x')).toBe(false);
    expect(forwardSharedRows(fake({ subgroups: false }), 'lstm', true, 8, 'x')).toBe(false);
    expect(forwardSharedRows(fake({ min: 2 }), 'lstm', true, 8, 'x')).toBe(false);
    expect(forwardSharedRows(fake({ mode: 'loads' }), 'lstm', true, 8, 'x')).toBe(false);
    expect(forwardSharedRows(fake({ software: false, mode: 'subgroups' }), 'lstm', true, 8, 'x')).toBe(true);
    const forced = fake({ mode: 'subgroups' });
    const refused: [Parameters<typeof forwardSharedRows>, RegExp][] = [
      [[forced, 'rnn', true, 8, 'RNN.forward'], /RNN.forward: gpu.tuning.forwardRows 'subgroups' cannot run an RNN/],
      [[forced, 'lstm', false, 8, 'x'], /cannot run steps with 1 unit per thread/],
      [[forced, 'gru', true, 1, 'x'], /cannot run 1 batch row per thread \(nothing to share\)/],
      [[fake({ mode: 'subgroups', subgroups: false }), 'gru', true, 4, 'x'], /cannot run a device without subgroups/],
      [[fake({ mode: 'subgroups', min: 2 }), 'gru', true, 4, 'x'], /subgroups of 2 invocations \(quads need 4\)/],
    ];
    for (const [args, message] of refused) {
      expect(() => forwardSharedRows(...args)).toThrow(ShapeError);
      expect(() => forwardSharedRows(...args)).toThrow(message);
    }
    expect(() => forwardSharedRows(fake({ mode: 2 }), 'lstm', true, 8, 'LSTM.forward')).toThrow(
      /LSTM.forward: gpu.tuning.forwardRows must be 'auto', 'loads' or 'subgroups', got 2/,
    );
  });

  it("a plan's steps run the kernel the tuning names ('auto': shared on SwiftShader)", () => {
    if (gpu.software) expect(forwardSharedRows(gpu, 'lstm', true, 3, 'x')).toBe(true);
    const layer = new LSTM(gpu, { inputSize: 3, hiddenSize: 8, seed: 1, stepTile: { wg: 8, bt: 3 } });
    for (const [mode, shared] of [
      ['subgroups', true],
      ['loads', false],
      ['auto', forwardSharedRows(gpu, 'lstm', true, 3, 'x')],
    ] as const) {
      gpu.tuning.forwardRows = mode;
      gpu.tuning.forwardUnits = 4;
      gpu.tuning.recurrentKernel = 'step';
      try {
        const plan = layer.createPlan('x', 3, 5);
        const labels = plan.dispatches.filter((d) => /\.step\d+$/.test(d.label ?? '')).map((d) => d.pipeline.label);
        plan.destroy();
        expect(labels).toHaveLength(3);
        for (const l of labels) expect(l.startsWith(`lstm_step.wgsl${shared ? '#subgroups' : ''}|`)).toBe(true);
      } finally {
        gpu.tuning.forwardRows = 'auto';
        gpu.tuning.forwardUnits = 'auto';
        gpu.tuning.recurrentKernel = 'auto';
      }
    }
    layer.destroy();
  });

  it("'subgroups' forced where it cannot run: a ShapeError naming it, before any allocation", () => {
    const x = Tensor.from(gpu, new Float32Array(3 * 1 * 3).fill(0.5), [3, 1, 3]);
    const lstm = new LSTM(gpu, { inputSize: 3, hiddenSize: 8 });
    const rnn = new RNN(gpu, { inputSize: 3, hiddenSize: 8 });
    const x2 = Tensor.from(gpu, new Float32Array(3 * 2 * 3).fill(0.5), [3, 2, 3]);
    const cases: [() => unknown, RegExp][] = [
      [() => lstm.forward(x), /forwardRows 'subgroups' cannot run 1 batch row per thread/],
      [() => rnn.forward(x2), /forwardRows 'subgroups' cannot run an RNN/],
    ];
    expectRefused('forwardRows', cases);
    for (const t of [x, x2, lstm, rnn]) t.destroy();
  });
});
