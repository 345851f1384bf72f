// Issue 14 (reliability): plan caches bounded and never stale, calls on one object in call order,
// all-or-nothing recovery, options checked by one table, DestroyedError, limits that name the
// largest value that fits. Each case below failed on the main before the issue.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ArgumentError,
  DestroyedError,
  LSTM,
  Seq2Seq,
  SequenceModel,
  ShapeError,
  Tensor,
  parseSafetensors,
  readCheckpoint,
  requestGpu,
  type Gpu,
  type ModelSnapshot,
} from '../../src/index.js';
import { SEQUENCE_MODEL_STEP_CACHE } from '../../src/models/sequenceModel.js';
import { MAX_RECORDED_STEPS } from '../../src/graph/recurrentLimits.js';
import { rng } from '../../src/util/random.js';
import { LM_OPTIONS, LM_TRAIN, S2S_OPTIONS, S2S_TRAIN } from '../checks/badInput.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

const V = LM_OPTIONS.vocabSize;
function lmBatch(rand: () => number, T: number, B: number) {
  const ids = (n: number) => Int32Array.from({ length: n }, () => Math.floor(rand() * V));
  return { inputs: ids(T * B), targets: ids(T * B), seqLen: T, batch: B };
}

/** Every value as raw bits (numbers, typed arrays, state dicts, snapshots, errors by class). */
function bits(x: unknown): unknown {
  if (x instanceof Error) return `${x.name}`;
  if (typeof x === 'number')
    return Array.from(new Uint32Array(Float32Array.of(x).buffer))[0] + (Number.isNaN(x) ? 'nan' : '');
  if (x instanceof Float32Array) return Array.from(new Uint32Array(x.buffer, x.byteOffset, x.length));
  if (ArrayBuffer.isView(x)) return Array.from(x as Uint8Array);
  if (Array.isArray(x)) return x.map(bits);
  if (x && typeof x === 'object')
    return Object.fromEntries(
      Object.entries(x)
        .filter(([k]) => k !== 'generation')
        .map(([k, v]) => [k, bits(v)]),
    );
  return x;
}

async function modelState(m: SequenceModel | Seq2Seq): Promise<unknown> {
  const s = await m.snapshot();
  return bits(s);
}

/**
 * Trains one model over `order` and, before each step, a fresh model loaded from its checkpoint on
 * the same batch; both stay alive until both have stepped. The losses and the checkpoints after
 * the step must be equal bit for bit. Returns the number of steps compared.
 */
async function trainAgainstFresh(order: readonly (readonly [number, number])[], rand: () => number): Promise<number> {
  const options = { ...LM_OPTIONS, numLayers: 1 };
  const model = new SequenceModel(gpu, options);
  model.configureTraining(LM_TRAIN);
  let compared = 0;
  try {
    for (const [T, B] of order) {
      const batch = lmBatch(rand, T, B);
      const fresh = new SequenceModel(gpu, options);
      try {
        fresh.configureTraining(LM_TRAIN);
        fresh.loadCheckpoint(await model.saveCheckpoint());
        const expected = await fresh.trainStep(batch, { readLoss: true });
        const loss = await model.trainStep(batch, { readLoss: true });
        expect(Object.is(loss, expected), `seqLen ${T} batch ${B}: loss ${loss} vs a fresh model's ${expected}`).toBe(
          true,
        );
        expect(await model.saveCheckpoint(), `seqLen ${T} batch ${B}: state after the step`).toEqual(
          await fresh.saveCheckpoint(),
        );
      } finally {
        fresh.destroy();
      }
      compared++;
    }
  } finally {
    model.destroy();
  }
  return compared;
}

describe('plan caches: LRU, keyed by shape, never stale', () => {
  it(
    `trains on 20 (seqLen, batch) shapes in a shuffled, repeated order: every loss ` +
      `and state equals a fresh model's (cache ${SEQUENCE_MODEL_STEP_CACHE})`,
    async () => {
      const rand = rng(14);
      const shapes = Array.from({ length: 20 }, (_, i) => [1 + (i % 7) * 2 + Math.floor(i / 7), 1 + (i % 3)] as const);
      const order = [...shapes, ...shapes].sort(() => rand() - 0.5);
      const compared = await trainAgainstFresh(order, rand);
      console.log(`plan cache: ${compared} steps over ${shapes.length} shapes matched fresh models bit for bit`);
      expect(compared).toBe(40);
    },
  );

  it(
    'a shape whose layer plan was evicted while the model kept its step, then ' +
      'reused by a plan of the same seqLen, still trains right',
    async () => {
      // On the main before issue 14 (model: 4 steps FIFO, layer: 8 plans FIFO, the layer destroying
      // a plan the model still ran), this order made seqLen 5 batch 1 run on buffers handed to the
      // seqLen 5 batch 2 plan (its per-step uniforms say batch 2): the last step's loss was
      // 2.3903 instead of 2.3122.
      const others = [1, 2, 3, 4, 6, 7, 8].map((T) => [T, 1] as const);
      const order = [[5, 1], ...others, [5, 1], [9, 1], [5, 2], [5, 1]] as const;
      expect(await trainAgainstFresh(order, rng(14))).toBe(order.length);
    },
  );
});

describe('calls on one model run in call order', () => {
  it('two generate() under Promise.all equal the same calls one after the other', async () => {
    const a = new SequenceModel(gpu, { ...LM_OPTIONS });
    const b = new SequenceModel(gpu, { ...LM_OPTIONS });
    try {
      const both = await Promise.all([a.generate([1, 2, 3], 6, { seed: 1 }), a.generate([4], 6, { seed: 2 })]);
      const seq = [await b.generate([1, 2, 3], 6, { seed: 1 }), await b.generate([4], 6, { seed: 2 })];
      expect(both).toEqual(seq);
    } finally {
      a.destroy();
      b.destroy();
    }
  });

  it('concurrent Seq2Seq decodes keep their own results', async () => {
    const m = new Seq2Seq(gpu, { ...S2S_OPTIONS });
    try {
      const srcA = [
        [3, 4, 5],
        [6, 7],
      ];
      const srcB = [[8, 3], [4]];
      const [ga, gb, bb] = await Promise.all([
        m.greedyDecode(srcA, { maxLen: 5 }),
        m.greedyDecode(srcB, { maxLen: 5 }),
        m.beamSearch(srcB, { beamWidth: 2, maxLen: 4 }),
      ]);
      expect(ga).toEqual(await m.greedyDecode(srcA, { maxLen: 5 }));
      expect(gb).toEqual(await m.greedyDecode(srcB, { maxLen: 5 }));
      expect(bb).toEqual(await m.beamSearch(srcB, { beamWidth: 2, maxLen: 4 }));
    } finally {
      m.destroy();
    }
  });

  it('snapshot() after an unawaited trainStep sees the whole step (parameters, moments and step count)', async () => {
    const rand = rng(3);
    const batch = lmBatch(rand, 4, 2);
    const a = new SequenceModel(gpu, { ...LM_OPTIONS });
    const b = new SequenceModel(gpu, { ...LM_OPTIONS });
    a.configureTraining(LM_TRAIN);
    b.configureTraining(LM_TRAIN);
    try {
      const step = a.trainStep(batch);
      const snap = await a.snapshot();
      await step;
      await b.trainStep(batch);
      expect(bits(snap)).toEqual(await modelState(b));
      expect(snap.optimizer!.step).toBe(1);
    } finally {
      a.destroy();
      b.destroy();
    }
  });

  it('a loss read pending when recover() is called resolves to the real loss (recover waits for it)', async () => {
    const batch = lmBatch(rng(4), 3, 2);
    const a = new SequenceModel(gpu, { ...LM_OPTIONS });
    const b = new SequenceModel(gpu, { ...LM_OPTIONS });
    a.configureTraining(LM_TRAIN);
    b.configureTraining(LM_TRAIN);
    try {
      const snap = await a.snapshot();
      const [loss] = await Promise.all([a.trainStep(batch, { readLoss: true }), a.recover(snap)]);
      const expected = await b.trainStep(batch, { readLoss: true });
      expect(loss).not.toBe(0);
      expect(Object.is(loss, expected)).toBe(true);
      expect(await modelState(a)).toEqual(bits(snap));
    } finally {
      a.destroy();
      b.destroy();
    }
  });

  // Every async entry point paired with every other: Promise.all on one model equals the same
  // two calls awaited in turn on a twin — results (or error classes) and the final state.
  type Op<M> = { name: string; run(m: M, ctx: { snap: ModelSnapshot; file: Uint8Array }): Promise<unknown> | unknown };
  async function pairwise<M extends SequenceModel | Seq2Seq>(
    make: () => Promise<{ m: M; snap: ModelSnapshot; file: Uint8Array }>,
    ops: Op<M>[],
  ): Promise<number> {
    let pairs = 0;
    for (const x of ops) {
      for (const y of ops) {
        const p = await make();
        const q = await make();
        const settle = (run: () => unknown): Promise<unknown> => {
          try {
            return Promise.resolve(run()).then(
              (r) => r,
              (e: unknown) => e,
            );
          } catch (e) {
            return Promise.resolve(e); // a synchronous entry point that threw
          }
        };
        const together = await Promise.all([settle(() => x.run(p.m, p)), settle(() => y.run(p.m, p))]);
        const inTurn = [await settle(() => x.run(q.m, q)), await settle(() => y.run(q.m, q))];
        expect(bits(together), `${x.name} ‖ ${y.name}`).toEqual(bits(inTurn));
        const destroyed = x.name === 'destroy' || y.name === 'destroy';
        if (!destroyed) expect(await modelState(p.m), `${x.name} ‖ ${y.name}: state`).toEqual(await modelState(q.m));
        p.m.destroy();
        q.m.destroy();
        pairs++;
      }
    }
    return pairs;
  }

  /** The entry points both models share: snapshot, recover, saveCheckpoint, loadCheckpoint, destroy. */
  function lifecycleOps<M extends SequenceModel | Seq2Seq>(): Op<M>[] {
    return [
      { name: 'snapshot', run: (m) => m.snapshot() },
      { name: 'recover', run: (m, c) => m.recover(c.snap) },
      { name: 'saveCheckpoint', run: (m) => m.saveCheckpoint() },
      { name: 'loadCheckpoint', run: (m, c) => m.loadCheckpoint(c.file) },
      { name: 'destroy', run: (m) => m.destroy() },
    ];
  }

  /**
   * Each model of a pair starts from one trained state: `steps[0]`, then a snapshot and a
   * checkpoint (what recover / loadCheckpoint restore), then `steps[1]` (the state it starts from).
   */
  async function pairStart<M extends SequenceModel | Seq2Seq>(
    create: () => M,
    steps: [(m: M) => Promise<unknown>, (m: M) => Promise<unknown>],
  ) {
    const base = create();
    await steps[0](base);
    const snap = await base.snapshot();
    const file = await base.saveCheckpoint();
    await steps[1](base);
    const current = await base.saveCheckpoint();
    base.destroy();
    return async () => {
      const m = create();
      m.loadCheckpoint(current);
      return { m, snap, file };
    };
  }

  it(
    'SequenceModel: every pair of generate, trainStep, evaluate, snapshot, recover, ' +
      'saveCheckpoint, loadCheckpoint, destroy',
    async () => {
      const rand = rng(9);
      const batches = [lmBatch(rand, 3, 2), lmBatch(rand, 5, 1)];
      const make = await pairStart(() => {
        const m = new SequenceModel(gpu, { ...LM_OPTIONS, numLayers: 1 });
        m.configureTraining(LM_TRAIN);
        return m;
      }, [(m) => m.trainStep(batches[1]), (m) => m.trainStep(batches[0])]);
      const ops: Op<SequenceModel>[] = [
        { name: 'generate', run: (m) => m.generate([1, 2], 4, { seed: 3 }) },
        { name: 'trainStep', run: (m) => m.trainStep(batches[0], { readLoss: true }) },
        { name: 'evaluate', run: (m) => m.evaluate(batches[1]) },
        ...lifecycleOps<SequenceModel>(),
      ];
      const pairs = await pairwise(make, ops);
      console.log(`SequenceModel: ${pairs} ordered pairs of async calls, Promise.all = in turn, bit for bit`);
      expect(pairs).toBe(64);
    },
  );

  it(
    'Seq2Seq: every pair of greedyDecode, beamSearch, trainStep, evaluate, ' +
      'snapshot, recover, saveCheckpoint, loadCheckpoint, destroy',
    async () => {
      const batch = {
        src: [[3, 4, 5], [6]],
        tgt: [
          [4, 3],
          [5, 6, 7],
        ],
      };
      const make = await pairStart(() => {
        const m = new Seq2Seq(gpu, { ...S2S_OPTIONS });
        m.configureTraining({ ...S2S_TRAIN, teacherForcingRatio: 0.5 });
        return m;
      }, [(m) => m.trainStep(batch), (m) => m.trainStep(batch)]);
      const ops: Op<Seq2Seq>[] = [
        { name: 'greedyDecode', run: (m) => m.greedyDecode(batch.src, { maxLen: 4 }) },
        { name: 'beamSearch', run: (m) => m.beamSearch(batch.src, { beamWidth: 2, maxLen: 3 }) },
        { name: 'trainStep', run: (m) => m.trainStep(batch, { readLoss: true }) },
        { name: 'evaluate', run: (m) => m.evaluate(batch) },
        ...lifecycleOps<Seq2Seq>(),
      ];
      const pairs = await pairwise(make, ops);
      console.log(`Seq2Seq: ${pairs} ordered pairs of async calls, Promise.all = in turn, bit for bit`);
      expect(pairs).toBe(81);
    },
  );
});

describe('recovery is all or nothing', () => {
  it('recover(corrupt bytes) and recover(a snapshot of another shape) change nothing', async () => {
    const m = new SequenceModel(gpu, { ...LM_OPTIONS });
    m.configureTraining(LM_TRAIN);
    const other = new SequenceModel(gpu, { ...LM_OPTIONS, hiddenSize: 7 });
    other.configureTraining(LM_TRAIN);
    try {
      await m.trainStep(lmBatch(rng(1), 3, 2));
      const before = await modelState(m);
      const file = await m.saveCheckpoint();
      const corrupt = file.slice();
      corrupt[corrupt.length - 3] ^= 0x40;
      await expect(m.recover(corrupt)).rejects.toThrow(ArgumentError);
      expect(await modelState(m)).toEqual(before);
      await expect(m.recover(await other.snapshot())).rejects.toThrow(/has shape \[.*\], expected|unexpected key/);
      expect(await modelState(m)).toEqual(before);
      const partial = await m.snapshot();
      partial.optimizer!.buffers = { m: partial.optimizer!.buffers.m };
      await expect(m.recover(partial)).rejects.toThrow(/optimizer holds buffers \{m\}/);
      expect(await modelState(m)).toEqual(before);
    } finally {
      m.destroy();
      other.destroy();
    }
  });

  it('recover() of a Seq2Seq snapshot whose coin has drawn 2^30 times is O(1)', async () => {
    const m = new Seq2Seq(gpu, { ...S2S_OPTIONS });
    m.configureTraining({ ...S2S_TRAIN, teacherForcingRatio: 0.5 });
    try {
      const snap = await m.snapshot();
      snap.counters = { teacherForcingSeed: 7, teacherForcingDraws: 2 ** 30 };
      const t0 = performance.now();
      await m.recover(snap);
      expect(performance.now() - t0).toBeLessThan(2000);
      expect((await m.snapshot()).counters).toEqual({ teacherForcingSeed: 7, teacherForcingDraws: 2 ** 30 });
    } finally {
      m.destroy();
    }
  });
});

describe('options, errors and limits', () => {
  it('unknown keys name the nearest valid one; wrong types name the key; null options are defaults', async () => {
    expect(() => new SequenceModel(gpu, { ...LM_OPTIONS, hiddenSzie: 64 } as never)).toThrow(
      /unknown option 'hiddenSzie' in 'options' \(did you mean 'hiddenSize'\?\)/,
    );
    expect(() => new SequenceModel(gpu, { ...LM_OPTIONS, bidirectional: 'false' } as never)).toThrow(
      /option 'bidirectional' must be true or false \(a boolean\), got 'false'/,
    );
    const m = new SequenceModel(gpu, { ...LM_OPTIONS });
    try {
      expect(() => m.configureTraining({ ...LM_TRAIN, schedule: 5 } as never)).toThrow(
        /option 'schedule' must be a function, got 5/,
      );
      expect(() => m.configureTraining({ ...LM_TRAIN, nanGuard: 'yes' } as never)).toThrow(ArgumentError);
      m.configureTraining(LM_TRAIN);
      const batch = lmBatch(rng(2), 2, 2);
      expect(await m.trainStep(batch, null as never)).toBeUndefined();
      await expect(m.trainStep(batch, { readloss: true } as never)).rejects.toThrow(
        /unknown option 'readloss' .*did you mean 'readLoss'/,
      );
      await expect(m.generate([1, 2n] as never, 2)).rejects.toThrow(/prompt\[1\] = 2n is not a token id/);
      await expect(m.generate([1, null] as never, 2)).rejects.toThrow(/prompt\[1\] = null is not a token id/);
      await expect(m.generate([1], 2, { temprature: 1 } as never)).rejects.toThrow(/did you mean 'temperature'/);
    } finally {
      m.destroy();
    }
    const s = new Seq2Seq(gpu, { ...S2S_OPTIONS });
    try {
      // The index named is the source's, not its row among the replicated beams.
      await expect(
        s.beamSearch(
          [
            [3, 4],
            [5, 99],
          ],
          { beamWidth: 3, maxLen: 2 },
        ),
      ).rejects.toThrow(/src\[1\]\[1\] = 99 is not a token id/);
      await expect(s.greedyDecode([[3]], { maxLen: 2, beamWidth: 2 } as never)).rejects.toThrow(
        /unknown option 'beamWidth'/,
      );
    } finally {
      s.destroy();
    }
  });

  it("a file whose dtype is '__proto__' is refused naming the dtype", () => {
    const header = JSON.stringify({ w: { dtype: '__proto__', shape: [1], data_offsets: [0, 4] } });
    const file = new Uint8Array(8 + header.length + 4);
    new DataView(file.buffer).setBigUint64(0, BigInt(header.length), true);
    file.set(new TextEncoder().encode(header), 8);
    expect(() => parseSafetensors(file)).toThrow(/'w' has dtype "__proto__"; seqgpu reads F32, F64, F16, BF16/);
    expect(() => readCheckpoint(file)).toThrow(/'w' has dtype "__proto__"; seqgpu reads F32, F64, F16, BF16/);
  });

  it('error classes keep their names when minified and print as such', () => {
    for (const [cls, name] of [
      [ArgumentError, 'ArgumentError'],
      [ShapeError, 'ShapeError'],
      [DestroyedError, 'DestroyedError'],
    ] as const) {
      const e = new cls('x');
      expect(e.name).toBe(name);
      expect(cls.name).toBe(name);
      expect(String(e)).toBe(`${name}: x`);
    }
    expect(new ShapeError('s')).toBeInstanceOf(ArgumentError);
  });

  /** Pool buffers in use once the GPU is idle and readbacks in flight (a guard's record) settled. */
  async function inUseAtRest(): Promise<number> {
    await gpu.sync();
    let last = -1;
    for (let i = 0; i < 40 && gpu.memory().pool.inUse !== last; i++) {
      last = gpu.memory().pool.inUse;
      await new Promise((r) => setTimeout(r, 50));
    }
    return gpu.memory().pool.inUse;
  }

  it('a destroyed model throws DestroyedError from every entry point and releases its buffers', async () => {
    const base = await inUseAtRest();
    const m = new SequenceModel(gpu, { ...LM_OPTIONS });
    m.configureTraining(LM_TRAIN);
    await m.trainStep(lmBatch(rng(5), 3, 2));
    await m.generate([1], 2);
    m.destroy();
    m.destroy();
    // The NaN/Inf guard's last record readback may still be in flight: its staging buffer returns
    // to the pool when it settles.
    expect(await inUseAtRest()).toBe(base);
    const batch = lmBatch(rng(5), 3, 2);
    for (const call of [
      () => m.trainStep(batch),
      () => m.evaluate(batch),
      () => m.generate([1], 2),
      () => m.snapshot(),
      () => m.recover(),
      () => m.saveCheckpoint(),
      () => m.stateDict(),
    ]) {
      await expect(call()).rejects.toThrow(DestroyedError);
    }
    for (const call of [
      () => m.loadStateDict({}),
      () => m.configureTraining(LM_TRAIN),
      () => m.resetState(),
      () => m.loadCheckpoint(new Uint8Array(8)),
    ]) {
      expect(call).toThrow(DestroyedError);
    }
    const s = new Seq2Seq(gpu, { ...S2S_OPTIONS });
    s.destroy();
    await expect(s.greedyDecode([[3]], { maxLen: 2 })).rejects.toThrow(
      /Seq2Seq.greedyDecode: this Seq2Seq was destroyed/,
    );
    expect(await inUseAtRest()).toBe(base);
  });

  it('a tensor of another Gpu is an ArgumentError', async () => {
    const other = await requestGpu();
    const lstm = new LSTM(gpu, { inputSize: 2, hiddenSize: 3 });
    try {
      const x = Tensor.zeros(other, [2, 1, 2]);
      expect(() => lstm.forward(x)).toThrow(/LSTM.forward: argument 'input' is a Tensor of another Gpu/);
      x.destroy();
    } finally {
      lstm.destroy();
      other.destroy();
    }
  });

  it(
    `a 2-layer model at seqLen 70,000 runs (no call-stack overflow); seqLen 10^6 is ` +
      `rejected before any allocation, naming the largest that fits`,
    async () => {
      const m = new SequenceModel(gpu, {
        cell: 'rnn',
        inputSize: 1,
        hiddenSize: 1,
        numLayers: 2,
        outputSize: 1,
        mode: 'manyToOne',
        loss: 'mse',
      });
      try {
        const T = 70_000;
        const out = await m.predict(new Float32Array(T), T, 1);
        expect(out.length).toBe(1);
        expect(Number.isFinite(out[0])).toBe(true);
        const before = gpu.memory();
        const big = 10 ** 6;
        const err = await m.predict(new Float32Array(big), big, 1).then(
          () => null,
          (e: unknown) => e as Error,
        );
        expect(err).toBeInstanceOf(ShapeError);
        expect(err!.message).toMatch(
          new RegExp(
            `^SequenceModel.predict: seqLen 1000000 × batch 1 needs .*; the largest seqLen ` +
              `that fits with batch 1 is ${MAX_RECORDED_STEPS / 2}$`,
          ),
        );
        const after = gpu.memory();
        expect(after.created).toBe(before.created);
        expect(after.pool.inUse).toBe(before.pool.inUse);
      } finally {
        m.destroy();
      }
    },
  );
});
