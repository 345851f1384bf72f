// The persistent recurrent kernels, forced through gpu.tuning.recurrentKernel = 'persistent' (on
// SwiftShader 'auto' picks the step kernels): the forward (shaders/recurrent_persistent.wgsl) and
// BPTT (the step backward kernels with PERSISTENT: a chunk of steps per dispatch). Every recurrent
// check (PyTorch fixtures, random odd shapes vs float64, batch 1, length 1, per-row lengths, both
// layouts, bidirectional, stacked) and every BPTT check (gradients vs float64 and finite
// differences) runs again with them, the BPTT ones also in chunks of 2 steps; the dispatch counts
// of a plan; chunked runs equal whole-sequence runs bit for bit; the errors where they cannot run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GRU, LSTM, RNN, Tensor, type Gpu } from '../../src/index.js';
import { ArgumentError, ShapeError } from '../../src/util/errors.js';
import { persistentChoice } from '../../src/kernels/recurrentPersistent.js';
import { recurrentChecks } from '../checks/recurrent.js';
import { recurrentGradChecks } from '../checks/recurrentGrad.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
  gpu.tuning.recurrentKernel = 'persistent';
});
afterAll(() => gpu?.destroy());

describe('persistent kernel: the recurrent checks', () => {
  for (const check of [...recurrentChecks, ...recurrentGradChecks]) {
    it(check.name, async () => {
      await check.run(gpu);
      await gpu.sync();
    });
  }
});

const input = (T: number, B: number, I: number) =>
  Tensor.from(
    gpu,
    Float32Array.from({ length: T * B * I }, (_, i) => Math.sin(i * 0.37) * 1.5),
    [T, B, I],
  );

describe('persistent kernel: BPTT in chunks of 2 steps (a chunk boundary inside every sequence)', () => {
  const picked = recurrentGradChecks.filter((c) => /bidir|lengths|T5|T6/.test(c.name)).slice(0, 8);
  for (const check of picked) {
    it(check.name, async () => {
      gpu.tuning.persistentSteps = 2;
      try {
        await check.run(gpu);
        await gpu.sync();
      } finally {
        gpu.tuning.persistentSteps = 1024;
      }
    });
  }
});

describe("persistent forward, step-kernel BPTT (gpu.tuning.persistentBackward 'step')", () => {
  const picked = recurrentGradChecks.filter((c) => /bidir|lengths|T5|T6|batchFirst/.test(c.name)).slice(0, 8);
  for (const check of picked) {
    it(check.name, async () => {
      gpu.tuning.persistentBackward = 'step';
      try {
        await check.run(gpu);
        await gpu.sync();
      } finally {
        gpu.tuning.persistentBackward = 'auto';
      }
    });
  }
  it('LSTM T 9: the forward in 1 chunk, the BPTT a dispatch per step; gradients = the step kernels', async () => {
    const T = 9;
    const x = input(T, 3, 5);
    const dOutput = input(T, 3, 6);
    const run = async (kernel: 'step' | 'persistent', backward: 'step' | 'persistent') => {
      gpu.tuning.recurrentKernel = kernel;
      gpu.tuning.persistentBackward = backward;
      const layer = new LSTM(gpu, { inputSize: 5, hiddenSize: 6, seed: 2 });
      const out = layer.forwardBackward(x, {}, { dOutput });
      const n = layer.lastRun!.dispatches;
      const grads = Object.values(await layer.gradients()).map((g) => Array.from(g.data));
      for (const t of [out.output, out.hN, out.cN]) t?.destroy();
      layer.destroy();
      return { n, grads };
    };
    try {
      const step = await run('step', 'persistent');
      const mixed = await run('persistent', 'step');
      const chunked = await run('persistent', 'persistent');
      expect(mixed.n).toBe(step.n - (T - 1));
      expect(chunked.n).toBe(step.n - 2 * (T - 1));
      // The same BPTT kernels on what two forward kernels saved (their sums differ in order only).
      mixed.grads.forEach((g, i) => g.forEach((v, j) => expect(Math.abs(v - step.grads[i][j])).toBeLessThan(1e-5)));
    } finally {
      gpu.tuning.recurrentKernel = 'persistent';
      gpu.tuning.persistentBackward = 'auto';
    }
    for (const t of [x, dOutput]) t.destroy();
  });
  it('an unknown persistentBackward: an ArgumentError naming the values', () => {
    const x = input(3, 2, 3);
    const layer = new GRU(gpu, { inputSize: 3, hiddenSize: 4, seed: 1 });
    (gpu.tuning as { persistentBackward: string }).persistentBackward = 'chunks';
    try {
      expect(() => layer.forwardBackward(x, {}, {})).toThrow(ArgumentError);
      expect(() => layer.forwardBackward(x, {}, {})).toThrow(
        /gpu.tuning.persistentBackward must be 'auto', 'persistent' or 'step', got chunks/,
      );
    } finally {
      gpu.tuning.persistentBackward = 'auto';
    }
    layer.destroy();
    x.destroy();
  });
});

describe('persistent kernel: split-K (lanes per W_hh column) vs float64, both ways of summing', () => {
  // SwiftShader's subgroups hold 4 invocations: subgroup sums run at split 2 and 4.
  const variants: Array<[number, 'workgroup' | 'subgroups']> = [
    [2, 'workgroup'],
    [4, 'workgroup'],
    [8, 'workgroup'],
    [2, 'subgroups'],
    [4, 'subgroups'],
  ];
  const picked = recurrentChecks.filter((c) => /random shape|lengths \(packed\)|batch1|H33|H130/.test(c.name));
  for (const [split, reduce] of variants)
    it(`split ${split}, ${reduce} sums: the recurrent checks of random shapes, lengths, batch 1`, async () => {
      if (reduce === 'subgroups') expect(gpu.features.subgroups && split <= gpu.adapterInfo.subgroupMinSize).toBe(true);
      expect(picked.length).toBeGreaterThan(8);
      gpu.tuning.persistentSplit = split;
      gpu.tuning.persistentSplitReduce = reduce;
      try {
        for (const check of picked) {
          await check.run(gpu);
          await gpu.sync();
        }
      } finally {
        gpu.tuning.persistentSplit = 'auto';
        gpu.tuning.persistentSplitReduce = 'auto';
      }
    });
  it("subgroup sums wider than the adapter's subgroups, or a split not dividing wg: ShapeErrors", () => {
    const x = input(3, 2, 3);
    const layer = new LSTM(gpu, { inputSize: 3, hiddenSize: 5, seed: 1 });
    gpu.tuning.persistentSplit = 2 * gpu.adapterInfo.subgroupMinSize;
    gpu.tuning.persistentSplitReduce = 'subgroups';
    const created = gpu.pool.stats.created; // refused before the plan allocates anything
    try {
      expect(() => layer.forward(x)).toThrow(ShapeError);
      expect(() => layer.forward(x)).toThrow(/split ≤ the adapter's smallest subgroup \(\d+\), got split \d+/);
      gpu.tuning.persistentSplit = 3;
      gpu.tuning.persistentSplitReduce = 'workgroup';
      expect(() => layer.forward(x)).toThrow(/split \(lanes per column\) must be a power of two dividing wg 64, got 3/);
      expect(gpu.pool.stats.created).toBe(created);
    } finally {
      gpu.tuning.persistentSplit = 'auto';
      gpu.tuning.persistentSplitReduce = 'auto';
    }
    layer.destroy();
    x.destroy();
  });
});

describe('persistent kernel: plans', () => {
  it('LSTM T 100 forward + BPTT: 2·99 fewer dispatches than the step kernels (one chunk each way)', () => {
    const T = 100;
    const x = input(T, 3, 5);
    const run = (kernel: 'step' | 'persistent') => {
      gpu.tuning.recurrentKernel = kernel;
      const layer = new LSTM(gpu, { inputSize: 5, hiddenSize: 6, seed: 2 });
      layer.forwardBackward(x, {}, {});
      const n = layer.lastRun!.dispatches;
      layer.destroy();
      return n;
    };
    try {
      const step = run('step');
      expect(run('persistent')).toBe(step - 2 * (T - 1));
    } finally {
      gpu.tuning.recurrentKernel = 'persistent';
    }
    x.destroy();
  });

  it('LSTM T 100: 2 dispatches per layer (GEMM + chunk), bidir 3 (a chunk both ways), 3 layers 6', async () => {
    const x = input(100, 3, 7);
    const one = new LSTM(gpu, { inputSize: 7, hiddenSize: 9, seed: 3 });
    one.forward(x);
    expect(one.lastRun?.dispatches).toBe(2);
    const bi = new LSTM(gpu, { inputSize: 7, hiddenSize: 9, bidirectional: true, seed: 3 });
    bi.forward(x);
    expect(bi.lastRun?.dispatches).toBe(3); // 2 GEMMs + recurrent_persistent_bidir.wgsl
    gpu.tuning.persistentDirections = 'separate';
    try {
      bi.forward(x);
      expect(bi.lastRun?.dispatches).toBe(4); // a chunk per direction
    } finally {
      gpu.tuning.persistentDirections = 'auto';
    }
    const stack = new LSTM(gpu, { inputSize: 7, hiddenSize: 9, numLayers: 3, seed: 3 });
    stack.forward(x);
    expect(stack.lastRun?.dispatches).toBe(6);
    gpu.tuning.recurrentKernel = 'step';
    try {
      const step = new LSTM(gpu, { inputSize: 7, hiddenSize: 9, numLayers: 3, seed: 3 });
      step.forward(x);
      expect(step.lastRun?.dispatches).toBe(3 * 101);
      step.destroy();
    } finally {
      gpu.tuning.recurrentKernel = 'persistent';
    }
    for (const l of [one, bi, stack]) l.destroy();
    x.destroy();
  });

  it('chunks of 7 steps (⌈19 / 7⌉ = 3 dispatches per direction) equal one chunk bit for bit', async () => {
    const x = input(19, 5, 4);
    for (const Layer of [LSTM, GRU, RNN]) {
      const make = () => new Layer(gpu, { inputSize: 4, hiddenSize: 13, numLayers: 2, bidirectional: true, seed: 5 });
      const whole = make();
      const a = whole.forward(x);
      const [ao, ah] = [await a.output.read(), await a.hN.read()];
      gpu.tuning.persistentSteps = 7;
      try {
        // Both directions per chunk dispatch (2 layers × (2 GEMMs + 3)), then a dispatch per direction.
        for (const [directions, dispatches] of [
          ['together', 2 * (2 + 3)],
          ['separate', 2 * 2 * (1 + 3)],
        ] as const) {
          gpu.tuning.persistentDirections = directions;
          const chunked = make();
          const b = chunked.forward(x);
          expect(chunked.lastRun?.dispatches).toBe(dispatches);
          expect(Array.from(await b.output.read())).toEqual(Array.from(ao));
          expect(Array.from(await b.hN.read())).toEqual(Array.from(ah));
          if (a.cN) expect(Array.from(await b.cN!.read())).toEqual(Array.from(await a.cN.read()));
          chunked.destroy();
        }
      } finally {
        gpu.tuning.persistentSteps = 1024;
        gpu.tuning.persistentDirections = 'auto';
      }
      whole.destroy();
    }
    x.destroy();
  });

  it("where it cannot run, forcing it is a ShapeError naming why; what 'auto' picks on SwiftShader", () => {
    const x = input(4, 2, 3);
    const proj = new LSTM(gpu, { inputSize: 3, hiddenSize: 8, projSize: 3, seed: 1 });
    expect(() => proj.forward(x)).toThrow(ShapeError);
    expect(() => proj.forward(x)).toThrow(/'persistent' cannot run an LSTM with projSize 3/);
    // One row's double-buffered h: 2 · ⌈H/4⌉ vec4s, one vec4 past the device's workgroup storage.
    const H = gpu.limits.maxComputeWorkgroupStorageSize / 8 + 1;
    const wide = new GRU(gpu, { inputSize: 3, hiddenSize: H, seed: 1 });
    expect(() => wide.forward(x)).toThrow(
      new RegExp(`hiddenSize ${H}: one row's double-buffered h needs ${32 * Math.ceil(H / 4)} bytes, more than`),
    );
    gpu.tuning.persistentSteps = 0;
    const small = new RNN(gpu, { inputSize: 3, hiddenSize: 4, seed: 1 });
    try {
      expect(() => small.forward(x)).toThrow(ArgumentError);
      expect(() => small.forward(x)).toThrow(/persistentSteps must be an integer ≥ 1, got 0/);
    } finally {
      gpu.tuning.persistentSteps = 1024;
    }
    gpu.tuning.recurrentKernel = 'auto';
    try {
      expect(gpu.software).toBe(true);
      small.forward(x);
      expect(small.lastRun?.dispatches).toBe(1 + 4);
      proj.forward(x); // the step kernels run what the persistent one cannot
      expect(proj.lastRun?.dispatches).toBe(1 + 2 * 4);
      // An inference forward of ≥ 32 rows at hidden ≥ 128: the step kernels with 4 units per thread
      // (measured faster there); with one unit per thread (H % 4 ≠ 0, or forced) the persistent kernel.
      const big = new LSTM(gpu, { inputSize: 3, hiddenSize: 128, seed: 1 });
      const odd = new LSTM(gpu, { inputSize: 3, hiddenSize: 130, seed: 1 });
      const x32 = input(4, 32, 3);
      big.forward(x32);
      expect(big.lastRun?.dispatches).toBe(1 + 4);
      odd.forward(x32);
      expect(odd.lastRun?.dispatches).toBe(1 + 1);
      gpu.tuning.forwardUnits = 1;
      try {
        big.forward(x32);
        expect(big.lastRun?.dispatches).toBe(1 + 1);
      } finally {
        gpu.tuning.forwardUnits = 'auto';
      }
      for (const t of [big, odd, x32]) t.destroy();
    } finally {
      gpu.tuning.recurrentKernel = 'persistent';
    }
    for (const l of [proj, wide, small]) l.destroy();
    x.destroy();
  });
});

describe("persistent kernel: a bidirectional layer's directions in separate dispatches (forced)", () => {
  // With 'auto' the checks above run both directions in one dispatch (SwiftShader allows 12 storage
  // buffers per stage); here each direction has its own, as on a device that allows fewer.
  const bidir = (c: { name: string }) => /bidir/.test(c.name);
  const picked = [...recurrentChecks.filter(bidir).slice(0, 6), ...recurrentGradChecks.filter(bidir).slice(0, 4)];
  for (const check of picked)
    it(check.name, async () => {
      gpu.tuning.persistentDirections = 'separate';
      try {
        await check.run(gpu);
        await gpu.sync();
      } finally {
        gpu.tuning.persistentDirections = 'auto';
      }
    });
});

describe('persistent kernel: both directions in one dispatch, where the device allows it', () => {
  const fake = (storage: number, directions: 'auto' | 'together' | 'separate', weights = 'f32') =>
    ({
      software: false,
      tuning: {
        recurrentKernel: 'persistent',
        persistentSteps: 1024,
        recurrentMeasured: {},
        persistentSplit: 'auto',
        persistentSplitReduce: 'auto',
        persistentDirections: directions,
        persistentBackward: 'auto',
        recurrentWeights: weights,
      },
      limits: { maxComputeWorkgroupStorageSize: 16384, maxStorageBuffersPerShaderStage: storage },
      features: { subgroups: false },
      adapterInfo: { subgroupMinSize: 4 },
    }) as unknown as Gpu;
  const bi = { cell: 'gru' as const, hiddenSize: 64, bidirectional: true };
  it("'auto': 12 storage buffers and f32 weights pair them; fewer, f16 or one direction do not", () => {
    expect(persistentChoice(fake(12, 'auto'), bi, 4, 'x')?.pairDirections).toBe(true);
    expect(persistentChoice(fake(10, 'auto'), bi, 4, 'x')?.pairDirections).toBe(false);
    expect(persistentChoice(fake(12, 'auto'), bi, 4, 'x', 'f16')?.pairDirections).toBe(false);
    expect(persistentChoice(fake(12, 'auto'), { ...bi, bidirectional: false }, 4, 'x')?.pairDirections).toBe(false);
    expect(persistentChoice(fake(12, 'separate'), bi, 4, 'x')?.pairDirections).toBe(false);
  });
  it("'together' where it cannot run: a ShapeError naming the limit or the weights; a bad value: ArgumentError", () => {
    expect(() => persistentChoice(fake(10, 'together'), bi, 4, 'x')).toThrow(
      /'together' cannot run here: it binds 12 storage buffers, this device allows 10 per stage/,
    );
    expect(() => persistentChoice(fake(12, 'together'), bi, 4, 'x', 'int8')).toThrow(ShapeError);
    expect(() => persistentChoice(fake(12, 'both' as never), bi, 4, 'x')).toThrow(ArgumentError);
  });
  it('here, together: LSTM / GRU / RNN bidir with lengths equal separate dispatches bit for bit', async () => {
    const x = input(6, 3, 5);
    for (const Layer of [LSTM, GRU, RNN]) {
      const layer = new Layer(gpu, { inputSize: 5, hiddenSize: 7, bidirectional: true, numLayers: 2, seed: 9 });
      const run = async (directions: 'together' | 'separate') => {
        gpu.tuning.persistentDirections = directions;
        try {
          const out = layer.forward(x, { lengths: [6, 2, 1] });
          const r = [await out.output.read(), await out.hN.read()].map((a) => Array.from(a));
          for (const t of [out.output, out.hN, out.cN]) t?.destroy();
          return r;
        } finally {
          gpu.tuning.persistentDirections = 'auto';
        }
      };
      expect(await run('together')).toEqual(await run('separate'));
      layer.destroy();
    }
    x.destroy();
  });
});

describe('persistent kernel: the cost model', () => {
  it("'auto': a GPU gets it where it fits (a row per workgroup, a thread per column ≤ 256), software at B ≥ 32", () => {
    const adapter = (
      software: boolean,
      kernel: 'auto' | 'step' | 'persistent' = 'auto',
      forwardUnits: 'auto' | 1 = 'auto',
    ) =>
      ({
        software,
        tuning: {
          forwardUnits,
          reductionWidth: 'auto',
          recurrentKernel: kernel,
          persistentSteps: 1024,
          recurrentMeasured: {},
          persistentSplit: 'auto',
          persistentSplitReduce: 'auto',
          persistentDirections: 'auto',
          persistentBackward: 'auto',
        },
        limits: { maxComputeWorkgroupStorageSize: 16384, maxStorageBuffersPerShaderStage: 8 },
        features: { subgroups: true },
        adapterInfo: { subgroupMinSize: 32 },
      }) as unknown as Gpu;
    const lstm = { cell: 'lstm' as const, hiddenSize: 256 };
    expect(persistentChoice(adapter(false), lstm, 32, 'x')).toEqual({
      tile: { wg: 256, bt: 1, split: 1, reduce: 'subgroups' },
      steps: 1024,
      pairDirections: false,
      stepBackward: false,
    });
    // 25 vec4 columns: 8 lanes each (split-K), 200 → 224 threads, summed by subgroup shuffles.
    expect(persistentChoice(adapter(false), { cell: 'rnn', hiddenSize: 100 }, 32, 'x')?.tile).toEqual({
      wg: 224,
      bt: 1,
      split: 8,
      reduce: 'subgroups',
    });
    expect(persistentChoice(adapter(false), { ...lstm, hiddenSize: 2049 }, 1, 'x')).toBeNull();
    expect(persistentChoice(adapter(false), { ...lstm, projSize: 8 }, 1, 'x')).toBeNull();
    expect(persistentChoice(adapter(false, 'step'), lstm, 32, 'x')).toBeNull();
    // Software: the step kernels, except an inference forward of ≥ 32 rows and hidden ≥ 128 whose
    // step kernels run one unit per thread (measured faster there); with 4 per thread they win.
    expect(persistentChoice(adapter(true), lstm, 16, 'x')).toBeNull();
    expect(persistentChoice(adapter(true), { ...lstm, hiddenSize: 64 }, 32, 'x')).toBeNull();
    expect(persistentChoice(adapter(true), lstm, 32, 'x', 'f32', true)).toBeNull();
    expect(persistentChoice(adapter(true), lstm, 32, 'x')).toBeNull();
    expect(persistentChoice(adapter(true), { cell: 'gru', hiddenSize: 128 }, 32, 'x')).toBeNull();
    expect(persistentChoice(adapter(true), { ...lstm, hiddenSize: 130 }, 32, 'x')?.tile.bt).toBe(8);
    expect(persistentChoice(adapter(true), { cell: 'rnn', hiddenSize: 256 }, 32, 'x')).not.toBeNull();
    expect(persistentChoice(adapter(true, 'auto', 1), lstm, 32, 'x')?.tile).toEqual({
      wg: 64,
      bt: 8,
      split: 1,
      reduce: 'subgroups',
    });
    // Forced on a software adapter: 8 rows per workgroup where they fit (2·8·64·16 = 16 KiB), fewer past that.
    expect(persistentChoice(adapter(true, 'persistent'), lstm, 32, 'x')?.tile).toEqual({
      wg: 64,
      bt: 8,
      split: 1,
      reduce: 'subgroups',
    });
    expect(persistentChoice(adapter(true, 'persistent'), { ...lstm, hiddenSize: 1000 }, 32, 'x')?.tile.bt).toBe(2);
  });
});
