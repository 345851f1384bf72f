// The NaN/Inf guard: the kernels (nan_guard.wgsl, optimizer.wgsl's check pass) vs their
// references, and in SequenceModel / Seq2Seq training a non-finite loss, gradient norm or update
// stops training with a NonFiniteError (naming the step and the source) while the weights and the
// optimizer state stay bit for bit those before the bad step — also with several unawaited
// trainStep calls in flight. Without the guard (default) a non-finite step corrupts the weights:
// also shown here. And the optimizer's option checks: hyperparameters that cannot give finite
// updates, unknown keys and wrong types are ArgumentErrors that change nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ArgumentError,
  NonFiniteError,
  Seq2Seq,
  SequenceModel,
  TOY_BOS,
  TOY_EOS,
  TOY_PAD,
  Tensor,
  reversePair,
  type Gpu,
  type NamedTensor,
  type SequenceModelOptions,
} from '../../src/index.js';
import {
  NAN_GUARD_UPDATE,
  decodeGuardRecord,
  nanGuardDispatch,
  NAN_GUARD_RECORD_BYTES,
  NAN_GUARD_STEP_OFFSET,
} from '../../src/kernels/nanGuard.js';
import { NanGuard } from '../../src/train/nanGuard.js';
import { Optimizer, type OptimizerOptions } from '../../src/kernels/optimizer.js';
import { nanGuardReference } from '../../src/reference/nanGuard.js';
import { kernelHyperRef, updateNonFiniteRef, type KernelOptionsRef } from '../../src/reference/optim.js';
import { TENSOR_USAGE } from '../../src/gpu/flags.js';
import { rng } from '../../src/util/random.js';
import { nanGuardChecks } from '../checks/nanGuard.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

function bits(dict: Record<string, NamedTensor>): Record<string, number[]> {
  return Object.fromEntries(
    Object.entries(dict).map(([k, v]) => [k, Array.from(new Uint32Array(Float32Array.from(v.data).buffer))]),
  );
}

async function optimizerBits(model: {
  optimizerState: { readState(): Promise<{ step: number; buffers: Record<string, Float32Array> }> } | null;
}) {
  const s = await model.optimizerState!.readState();
  return {
    step: s.step,
    buffers: Object.fromEntries(Object.entries(s.buffers).map(([k, v]) => [k, Array.from(new Uint32Array(v.buffer))])),
  };
}

const F32_MAX = 3.4028234663852886e38;

function u32bits(a: Float32Array): number[] {
  return Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
}

describe('NaN/Inf guard kernel vs reference (Node, Dawn)', () => {
  for (const check of nanGuardChecks) it(check.name, () => check.run(gpu));

  it(
    'nan_guard with the update flag: flag 4 when only the update is bad, the flag ' +
      "word is cleared, the step's own loss is kept",
    async () => {
      const [loss, normSq, record, flag] = [16, 16, NAN_GUARD_RECORD_BYTES, 16].map((b) =>
        gpu.pool.acquire(b, TENSOR_USAGE, 'test.guard'),
      );
      try {
        const q = gpu.device.queue;
        q.writeBuffer(record, 0, new Uint32Array(NAN_GUARD_RECORD_BYTES / 4));
        const d = nanGuardDispatch(gpu, { loss, normSq, record, updateFlag: flag });
        let state = { loss: 0, normSq: 0, flags: 0, badStep: 0, step: 0 };
        const steps: Array<[number, number, boolean]> = [
          [0.5, 2, false],
          [0.25, 3, true],
          [NaN, 1, false],
          [0.75, 4, true],
        ];
        for (const [i, [l, n, upd]] of steps.entries()) {
          q.writeBuffer(loss, 0, Float32Array.of(l));
          q.writeBuffer(normSq, 0, Float32Array.of(n, 0));
          q.writeBuffer(flag, 0, Uint32Array.of(upd ? 1 : 0));
          q.writeBuffer(record, NAN_GUARD_STEP_OFFSET, Uint32Array.of(i + 1));
          gpu.run([d]);
          const want = nanGuardReference({ ...state, step: i + 1 }, l, n, upd);
          const got = decodeGuardRecord(await gpu.readBuffer(record));
          expect({ flags: got.flags, badStep: got.badStep, loss: got.loss, stepLoss: got.stepLoss }).toEqual({
            flags: want.state.flags,
            badStep: want.state.badStep,
            loss: want.state.loss,
            stepLoss: want.state.stepLoss,
          });
          expect(new Uint32Array(await gpu.readBuffer(flag, 0, 4))[0]).toBe(0);
          expect(new Float32Array(await gpu.readBuffer(normSq, 0, 8))[1]).toBe(want.skip ? 1 : 0);
          state = want.state;
        }
        expect(state.flags).toBe(NAN_GUARD_UPDATE); // sticky from step 2: the later NaN loss does not replace it
        expect(state.badStep).toBe(2);
      } finally {
        for (const b of [loss, normSq, record, flag]) gpu.pool.release(b);
      }
    },
  );

  // The check pass (optimizer.wgsl, CHECK) raises the update flag exactly when the f32 reference
  // of the update (same operations, same order) gives a non-finite weight or kept moment.
  const n = 300;
  interface CheckCase {
    name: string;
    o: OptimizerOptions;
    bad: boolean;
    theta?: Record<number, number>;
    grad?: Record<number, number>;
    state?: { step: number; m1?: Record<number, number>; m2?: Record<number, number> };
  }
  const cases: CheckCase[] = [
    { name: 'sgd, finite', o: { kind: 'sgd', lr: 0.1 }, bad: false },
    { name: 'sgd, θ overflows', o: { kind: 'sgd', lr: 10 }, theta: { 17: 3e38 }, grad: { 17: -1e37 }, bad: true },
    {
      name: 'sgd, θ = f32 max stays finite (lr·g below half an ulp)',
      o: { kind: 'sgd', lr: 1e6 },
      theta: { 17: F32_MAX },
      grad: { 17: -1e19 },
      bad: false,
    },
    {
      name: 'sgd weight decay, lr 1e6 on θ = 1e35',
      o: { kind: 'sgd', lr: 1e6, weightDecay: 0.01 },
      theta: { 250: 1e35 },
      bad: true,
    },
    {
      name: 'sgd momentum 2: the momentum buffer overflows',
      o: { kind: 'sgd', lr: 1e-30, momentum: 2 },
      state: { step: 3, m1: { 40: 3e38 } },
      bad: true,
    },
    {
      name: 'sgd nesterov, finite',
      o: { kind: 'sgd', lr: 0.05, momentum: 0.9, nesterov: true },
      state: { step: 2, m1: { 40: 1e30 } },
      bad: false,
    },
    { name: 'adam: v overflows, θ stays finite', o: { kind: 'adam', lr: 1e-3 }, grad: { 5: 1e25 }, bad: true },
    {
      name: 'adam: large but finite',
      o: { kind: 'adam', lr: 1e-3 },
      theta: { 5: 1e30 },
      grad: { 5: 1e15 },
      bad: false,
    },
    {
      name: 'adam: loaded m / ε overflows θ',
      o: { kind: 'adam', lr: 1e-2 },
      state: { step: 4, m1: { 99: 3e38 } },
      grad: { 99: 0 },
      bad: true,
    },
    {
      name: 'adamw clipNorm + clipValue, finite',
      o: { kind: 'adamw', lr: 1e-2, clipNorm: 1, clipValue: 0.5 },
      theta: { 7: 1e38 },
      bad: false,
    },
    { name: 'sgd: a NaN gradient', o: { kind: 'sgd', lr: 0.1 }, grad: { 123: NaN }, bad: true },
    {
      name: 'sgd, two ranges: overflow in the frozen gap is ignored',
      o: {
        kind: 'sgd',
        lr: 10,
        ranges: [
          [0, 100],
          [200, 100],
        ],
      },
      theta: { 150: 3e38 },
      grad: { 150: -1e37 },
      bad: false,
    },
    {
      name: 'sgd, two ranges: overflow in the second range',
      o: {
        kind: 'sgd',
        lr: 10,
        ranges: [
          [0, 100],
          [200, 100],
        ],
      },
      theta: { 250: 3e38 },
      grad: { 250: -1e37 },
      bad: true,
    },
  ];
  for (const c of cases) {
    it(`check pass vs f32 reference: ${c.name}`, async () => {
      const rand = rng(c.name.length);
      const theta = Float32Array.from({ length: n }, () => rand() * 2 - 1);
      const grad = Float32Array.from({ length: n }, () => rand() * 2 - 1);
      for (const [i, v] of Object.entries(c.theta ?? {})) theta[+i] = v;
      for (const [i, v] of Object.entries(c.grad ?? {})) grad[+i] = v;
      const pt = Tensor.from(gpu, theta, [n]);
      const gt = Tensor.from(gpu, grad, [n]);
      const opt = new Optimizer(gpu, c.o, pt.buffer, gt.buffer, n, { guard: true });
      try {
        expect(opt.dispatches().length).toBe(opt.guardIndex + opt.ranges.length);
        const adam = c.o.kind !== 'sgd';
        const m1 = new Float32Array(n);
        const m2 = new Float32Array(n);
        if (c.state) {
          for (const [i, v] of Object.entries(c.state.m1 ?? {})) m1[+i] = v;
          for (const [i, v] of Object.entries(c.state.m2 ?? {})) m2[+i] = v;
          opt.loadState({ step: c.state.step, buffers: adam ? { m: m1, v: m2 } : { momentum: m1 } });
        }
        opt.beforeStep();
        gpu.run(opt.dispatches());
        const flag = new Uint32Array(await gpu.readBuffer(opt.updateFlagBuffer, 0, 4))[0];
        // The reference over the trained elements only.
        const idx = opt.ranges.flatMap(([off, len]) => Array.from({ length: len }, (_, k) => off + k));
        let normSq = 0;
        for (const i of idx)
          normSq += Math.min(Math.max(grad[i], -(c.o.clipValue ?? Infinity)), c.o.clipValue ?? Infinity) ** 2;
        const pick = (a: Float32Array) => idx.map((i) => a[i]);
        const want = updateNonFiniteRef(
          c.o as KernelOptionsRef,
          kernelHyperRef(c.o as KernelOptionsRef, opt.step),
          pick(theta),
          pick(grad),
          pick(m1),
          pick(m2),
          normSq,
        );
        expect(want, 'the reference agrees with the case').toBe(c.bad);
        expect(flag !== 0).toBe(want);
      } finally {
        opt.destroy();
        pt.destroy();
        gt.destroy();
      }
    });
  }

  it(
    'NanGuard + guarded optimizer on raw buffers: a bad update leaves θ and the ' +
      'moments bit-identical, source update',
    async () => {
      const rand = rng(5);
      const theta = Float32Array.from({ length: n }, () => rand() * 2 - 1);
      theta[200] = 1e35;
      const pt = Tensor.from(gpu, theta, [n]);
      const gt = Tensor.from(
        gpu,
        Float32Array.from({ length: n }, () => rand() - 0.5),
        [n],
      );
      const lt = Tensor.from(gpu, [0.5], [1]);
      const o: OptimizerOptions = { kind: 'sgd', lr: 0.01, momentum: 0.9, weightDecay: 0.01 };
      const opt = new Optimizer(gpu, o, pt.buffer, gt.buffer, n, { guard: true });
      const guard = new NanGuard(gpu, opt, 'test');
      try {
        const step = (lr: number) => {
          opt.beforeStep(lr);
          guard.beforeSubmit();
          gpu.run(guard.arrange(lt.buffer));
          guard.afterSubmit();
          return guard.readNow();
        };
        expect((await step(0.01)).loss).toBe(0.5);
        const before = { theta: u32bits(await pt.read()), state: await opt.readState() };
        const err = await step(1e6).then(
          () => null,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(NonFiniteError);
        expect((err as NonFiniteError).source).toBe('update');
        expect((err as NonFiniteError).step).toBe(2);
        expect((err as Error).message).toMatch(
          new RegExp(
            String.raw`^test: training step 2 gave a non-finite update \(source 'update'\): ` +
              String.raw`its loss 0\.5 and gradient norm [0-9.]+ are finite`,
          ),
        );
        expect(u32bits(await pt.read())).toEqual(before.theta);
        const after = await opt.readState();
        expect(after.step).toBe(1);
        expect(u32bits(after.buffers.momentum)).toEqual(u32bits(before.state.buffers.momentum));
        const r = await step(0.01); // goes on: step 2 again, now finite
        expect(r.skipped).toBe(false);
        expect(opt.step).toBe(2);
        expect(u32bits(await pt.read())).not.toEqual(before.theta);
      } finally {
        guard.destroy();
        opt.destroy();
        for (const t of [pt, gt, lt]) t.destroy();
      }
    },
  );
});

describe('NaN/Inf guard in training (Node, Dawn)', () => {
  // A regression model (value inputs, MSE): a target of 1e30 is finite — it passes the input
  // checks — but its squared error overflows f32, a realistic divergence.
  const [I, T, B, O] = [3, 5, 2, 2];
  const opts: SequenceModelOptions = {
    cell: 'lstm',
    inputSize: I,
    hiddenSize: 6,
    outputSize: O,
    mode: 'manyToMany',
    loss: 'mse',
    seed: 7,
  };
  const rand = rng(3);
  const good = () => ({
    inputs: Float32Array.from({ length: T * B * I }, () => rand() - 0.5),
    targets: Float32Array.from({ length: T * B * O }, () => rand() - 0.5),
    seqLen: T,
    batch: B,
  });
  const huge = () => ({ ...good(), targets: new Float32Array(T * B * O).fill(1e30) });

  it(
    'submits the step before trainStep returns (with and without the guard): a ' +
      'readback queued right after sees it',
    async () => {
      for (const nanGuard of [false, true]) {
        const model = new SequenceModel(gpu, opts);
        model.configureTraining({ optimizer: { kind: 'adam', lr: 1e-2, trackGradNorm: true }, nanGuard });
        for (let i = 0; i < 3; i++) {
          const step = model.trainStep(good(), { readLoss: true });
          const norm = await model.optimizerState!.gradNorm(); // queued before awaiting the step
          await step;
          // A stale read would be the previous step's norm (0 before the first step).
          expect(norm, `step ${i} (nanGuard ${nanGuard})`).toBe(await model.optimizerState!.gradNorm());
          expect(norm).toBeGreaterThan(0);
        }
        model.destroy();
      }
    },
  );

  it(
    'adds two dispatches with clipNorm (check pass + guard; three without: the ' +
      'norm) and changes nothing while steps are finite',
    async () => {
      const batches = [good(), good(), good()];
      const run = async (train: object) => {
        const model = new SequenceModel(gpu, opts);
        model.configureTraining({ optimizer: { kind: 'adam', lr: 1e-2 }, ...train });
        const losses = [];
        for (const b of batches) losses.push(await model.trainStep(b, { readLoss: true }));
        const out = { losses, dispatches: model.lastRun!.dispatches, weights: bits(await model.stateDict()) };
        model.destroy();
        return out;
      };
      const plain = await run({ nanGuard: false });
      const guarded = await run({});
      const clipped = await run({ optimizer: { kind: 'adam', lr: 1e-2, clipNorm: 1e6 }, nanGuard: false });
      const clippedGuarded = await run({ optimizer: { kind: 'adam', lr: 1e-2, clipNorm: 1e6 }, nanGuard: true });
      expect(guarded.dispatches).toBe(plain.dispatches + 3); // norm + check pass + guard
      expect(clippedGuarded.dispatches).toBe(clipped.dispatches + 2); // check pass + guard
      expect(guarded.losses).toEqual(plain.losses); // bit for bit: the guard only reads
      expect(guarded.weights).toEqual(plain.weights);
      expect(clippedGuarded.weights).toEqual(clipped.weights);
    },
  );

  it(
    'a step whose loss overflows rejects (readLoss) with NonFiniteError; weights ' +
      'and Adam state unchanged; training goes on',
    async () => {
      const model = new SequenceModel(gpu, opts);
      model.configureTraining({ optimizer: { kind: 'adam', lr: 1e-2 }, nanGuard: true });
      for (let i = 0; i < 2; i++) await model.trainStep(good(), { readLoss: true });
      const [w, o] = [bits(await model.stateDict()), await optimizerBits(model)];
      const err = await model.trainStep(huge(), { readLoss: true }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(NonFiniteError);
      const e = err as NonFiniteError;
      expect(e.step).toBe(3);
      expect(Number.isFinite(e.loss)).toBe(false);
      expect(e.message).toMatch(/training step 3 gave a non-finite loss/);
      expect(e.message).toMatch(/weights and optimizer state are those after step 2/);
      expect(e.message).toMatch(/Lower the learning rate \(lr 0\.01\), clip the gradients/);
      expect(bits(await model.stateDict())).toEqual(w);
      expect(await optimizerBits(model)).toEqual(o); // step count rewound to 2, moments untouched
      // Training continues from there: a good step now is step 3 again and changes the weights.
      const loss = await model.trainStep(good(), { readLoss: true });
      expect(Number.isFinite(loss)).toBe(true);
      expect(model.optimizerState!.step).toBe(3);
      expect(bits(await model.stateDict())).not.toEqual(w);
      model.destroy();
    },
  );

  it('without readLoss: a later trainStep rejects; the steps queued after the bad one were skipped too', async () => {
    const model = new SequenceModel(gpu, { ...opts, cell: 'gru' });
    model.configureTraining({ optimizer: { kind: 'sgd', lr: 0.1, momentum: 0.9 }, nanGuard: true });
    await model.trainStep(good(), { readLoss: true });
    const w = bits(await model.stateDict());
    const o = await optimizerBits(model);
    await model.trainStep(huge()); // step 2: bad, nothing waits for it
    await model.trainStep(good()); // step 3: queued before the host saw step 2; skipped on the GPU
    let err: unknown = null;
    for (let i = 0; i < 20 && !err; i++) {
      await gpu.sync(); // let the readback settle; the next trainStep reports it
      err = await model.trainStep(good()).then(
        () => null,
        (e: unknown) => e,
      );
    }
    expect(err).toBeInstanceOf(NonFiniteError);
    expect((err as NonFiniteError).step).toBe(2);
    expect((err as Error).message).toMatch(/and those of the \d+ step\(s\) queued after it/);
    expect(bits(await model.stateDict())).toEqual(w);
    expect(await optimizerBits(model)).toEqual(o);
    expect(Number.isFinite(await model.trainStep(good(), { readLoss: true }))).toBe(true);
    expect(model.optimizerState!.step).toBe(2);
    model.destroy();
  });

  it('a finite loss with an overflowing gradient norm is caught too (gradient norm only)', async () => {
    // Cross-entropy with head weights of 1e30: the logits (tanh states · 1e30, ≤ 5e30) and the
    // loss (a log-sum-exp of them) are finite, but the gradient flowing back into the recurrent
    // layer is dlogits · W_head ≈ 1e30, so Σ g² overflows.
    const model = new SequenceModel(gpu, {
      cell: 'rnn',
      vocabSize: 7,
      embeddingDim: 3,
      hiddenSize: 5,
      outputSize: 7,
      mode: 'manyToOne',
      loss: 'crossEntropy',
      seed: 2,
    });
    model.configureTraining({ optimizer: { kind: 'sgd', lr: 1e-3 }, nanGuard: true });
    model.store.write(
      'head.weight',
      new Float32Array(7 * 5).fill(1e30).map((v, i) => (i % 3 === 0 ? -v : v)),
    );
    const w = bits(await model.stateDict());
    const batch = {
      inputs: Int32Array.from({ length: 4 * 3 }, (_, i) => i % 7),
      targets: Int32Array.of(1, 2, 3),
      seqLen: 4,
      batch: 3,
    };
    const err = await model.trainStep(batch, { readLoss: true }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(NonFiniteError);
    const e = err as NonFiniteError;
    expect(Number.isFinite(e.loss)).toBe(true);
    expect(e.gradNorm).toBe(Infinity);
    expect(e.message).toMatch(
      /training step 1 gave a non-finite gradient norm \(loss [0-9.e+]+, gradient norm Infinity\)/,
    );
    expect(bits(await model.stateDict())).toEqual(w);
    expect(model.optimizerState!.step).toBe(0);
    model.destroy();
  });

  it('a NaN written into a weight: NonFiniteError, and the weights keep their bits (the NaN included)', async () => {
    const model = new SequenceModel(gpu, {
      cell: 'rnn',
      vocabSize: 7,
      embeddingDim: 3,
      hiddenSize: 5,
      outputSize: 7,
      mode: 'manyToOne',
      loss: 'crossEntropy',
      seed: 2,
    });
    model.configureTraining({ optimizer: { kind: 'adamw', lr: 1e-2, clipNorm: 1 }, nanGuard: true });
    const batch = {
      inputs: Int32Array.from({ length: 4 * 3 }, (_, i) => i % 7),
      targets: Int32Array.of(1, 2, 3),
      seqLen: 4,
      batch: 3,
    };
    await model.trainStep(batch, { readLoss: true });
    const bias = new Float32Array(7);
    bias[4] = NaN;
    model.store.write('head.bias', bias);
    const before = await model.stateDict();
    const err = await model.trainStep(batch, { readLoss: true }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(NonFiniteError);
    expect((err as Error).message).toMatch(
      /non-finite loss and gradient norm \(loss (NaN|Infinity), gradient norm NaN\)/,
    );
    expect(bits(await model.stateDict())).toEqual(bits(before));
    model.destroy();
  });

  it('with the guard turned off (nanGuard: false) the same steps corrupt the weights', async () => {
    const model = new SequenceModel(gpu, opts);
    model.configureTraining({ optimizer: { kind: 'sgd', lr: 0.1 }, nanGuard: false });
    await model.trainStep(good(), { readLoss: true });
    const loss = await model.trainStep(huge(), { readLoss: true }); // no error: the update runs
    expect(Number.isFinite(loss)).toBe(false);
    const weights = Object.values(await model.stateDict()).flatMap((t) => Array.from(t.data));
    expect(weights.some((v) => !Number.isFinite(v) || Math.abs(v) > 1e20)).toBe(true);
    expect(Number.isFinite(await model.trainStep(good(), { readLoss: true }))).toBe(false);
    model.destroy();
  });

  it('Seq2Seq: a NaN loss rejects with NonFiniteError and leaves weights and optimizer state unchanged', async () => {
    const model = new Seq2Seq(gpu, {
      cell: 'gru',
      srcVocab: 14,
      tgtVocab: 14,
      embeddingDim: 4,
      hiddenSize: 8,
      attention: 'dot',
      bosToken: TOY_BOS,
      eosToken: TOY_EOS,
      padToken: TOY_PAD,
      seed: 4,
    });
    model.configureTraining({ optimizer: { kind: 'adam', lr: 1e-2 }, nanGuard: true });
    const r = rng(9);
    const pairs = Array.from({ length: 3 }, () => reversePair(r, 2, 4));
    const batch = { src: pairs.map((p) => p.src), tgt: pairs.map((p) => p.tgt) };
    expect(Number.isFinite(await model.trainStep(batch, { readLoss: true }))).toBe(true);
    const bias = new Float32Array(14);
    bias[5] = Infinity;
    model.store.write('decoder.out.bias', bias);
    const [w, o] = [bits(await model.stateDict()), await optimizerBits(model)];
    const err = await model.trainStep(batch, { readLoss: true }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(NonFiniteError);
    expect((err as Error).message).toMatch(/^Seq2Seq\.trainStep: training step 2 gave a non-finite/);
    expect(bits(await model.stateDict())).toEqual(w);
    expect(await optimizerBits(model)).toEqual(o);
    model.destroy();
  });
});

describe('NaN/Inf guard: the update source and concurrent readbacks (Node, Dawn)', () => {
  // A language model whose embedding row 6 is never looked up (tokens 0…5): its gradient is 0, so
  // a huge value there changes neither the loss nor the gradient norm, but weight decay (or a
  // loaded moment) still moves it — an update can overflow with everything else finite.
  const lmOpts: SequenceModelOptions = {
    cell: 'lstm',
    vocabSize: 7,
    embeddingDim: 3,
    hiddenSize: 6,
    outputSize: 7,
    mode: 'manyToMany',
    loss: 'crossEntropy',
    seed: 11,
  };
  const [T, B] = [4, 3];
  const batchOf = (k: number) => ({
    inputs: Int32Array.from({ length: T * B }, (_, i) => (i * 5 + k) % 6),
    targets: Int32Array.from({ length: T * B }, (_, i) => (i * 3 + k + 1) % 6),
    seqLen: T,
    batch: B,
  });

  async function withRow6(model: SequenceModel, value: number): Promise<void> {
    const dict = await model.stateDict();
    const emb = Float32Array.from(dict['embedding.weight'].data);
    emb.fill(value, 6 * 3, 7 * 3);
    model.loadStateDict({ ...dict, 'embedding.weight': { shape: dict['embedding.weight'].shape, data: emb } });
  }

  it(
    'SGD, weight decay, a schedule reaching lr 1e6 on a weight of 1e35: ' +
      "NonFiniteError source 'update' at the right step; weights and momentum " +
      'bit-identical',
    async () => {
      const model = new SequenceModel(gpu, lmOpts);
      await withRow6(model, 1e35);
      model.configureTraining({
        optimizer: { kind: 'sgd', lr: 0.01, momentum: 0.9, weightDecay: 0.01 },
        schedule: (base, step) => (step < 2 ? base : 1e6),
        nanGuard: true,
      });
      for (let k = 0; k < 2; k++)
        expect(Number.isFinite(await model.trainStep(batchOf(k), { readLoss: true }))).toBe(true);
      const [w, o] = [bits(await model.stateDict()), await optimizerBits(model)];
      expect(o.step).toBe(2);
      const err = await model.trainStep(batchOf(2), { readLoss: true }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(NonFiniteError);
      const e = err as NonFiniteError;
      expect(e.source).toBe('update');
      expect(e.step).toBe(3);
      expect(Number.isFinite(e.loss)).toBe(true);
      expect(Number.isFinite(e.gradNorm)).toBe(true);
      expect(e.message).toMatch(
        new RegExp(
          String.raw`training step 3 gave a non-finite update \(source 'update'\): its ` +
            String.raw`loss [0-9.]+ and gradient norm [0-9.]+ are finite, but the sgd update ` +
            String.raw`would make a weight or an optimizer moment NaN or ±Inf`,
        ),
      );
      expect(e.message).toMatch(/weights and optimizer state are those after step 2/);
      expect(bits(await model.stateDict())).toEqual(w);
      expect(await optimizerBits(model)).toEqual(o);
      model.destroy();
    },
  );

  it(
    'Adam with a loaded first moment of 3e38 on that row: m / ε overflows the ' +
      "weight; source 'update', m and v bit-identical",
    async () => {
      const model = new SequenceModel(gpu, lmOpts);
      model.configureTraining({ optimizer: { kind: 'adam', lr: 1e-2 }, nanGuard: true });
      expect(Number.isFinite(await model.trainStep(batchOf(0), { readLoss: true }))).toBe(true);
      const opt = model.optimizerState!;
      const state = await opt.readState();
      const emb = model.store.slot('embedding.weight');
      state.buffers.m.fill(3e38, emb.offset + 6 * 3, emb.offset + 7 * 3);
      state.buffers.v.fill(0, emb.offset + 6 * 3, emb.offset + 7 * 3);
      opt.loadState(state);
      const [w, o] = [bits(await model.stateDict()), await optimizerBits(model)];
      const err = await model.trainStep(batchOf(1), { readLoss: true }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(NonFiniteError);
      expect((err as NonFiniteError).source).toBe('update');
      expect((err as NonFiniteError).step).toBe(2);
      expect(bits(await model.stateDict())).toEqual(w);
      expect(await optimizerBits(model)).toEqual(o);
      model.destroy();
    },
  );

  it('the loss and gradient-norm sources are named in the error (source field)', async () => {
    const reg = new SequenceModel(gpu, {
      cell: 'gru',
      inputSize: 2,
      hiddenSize: 4,
      outputSize: 1,
      mode: 'manyToMany',
      loss: 'mse',
      seed: 3,
    });
    reg.configureTraining({ optimizer: { kind: 'sgd', lr: 0.1 }, nanGuard: true });
    const err = await reg
      .trainStep(
        {
          inputs: new Float32Array(3 * 2 * 2).fill(0.5),
          targets: new Float32Array(3 * 2).fill(1e30),
          seqLen: 3,
          batch: 2,
        },
        { readLoss: true },
      )
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect((err as NonFiniteError).source).toBe('loss');
    expect((err as Error).message).toMatch(/source 'loss'/);
    reg.destroy();
  });

  it(
    "NanGuard alone: unawaited readNow calls each get their own step's loss; a bad " +
      'step is reported once, to its own caller; later ones are skipped',
    async () => {
      const m = 64;
      const pt = Tensor.from(
        gpu,
        Float32Array.from({ length: m }, (_, i) => Math.sin(i)),
        [m],
      );
      const gt = Tensor.from(
        gpu,
        Float32Array.from({ length: m }, (_, i) => Math.cos(i)),
        [m],
      );
      const lt = Tensor.from(gpu, [0], [1]);
      const opt = new Optimizer(gpu, { kind: 'adam', lr: 1e-2 }, pt.buffer, gt.buffer, m, { guard: true });
      let trips = 0;
      let skippedSteps = 0;
      const guard = new NanGuard(gpu, opt, 'test', (s) => {
        trips++;
        skippedSteps = s;
      });
      try {
        const losses = [0.5, 0.25, NaN, 0.125, 0.0625, 1];
        const weightsAfter: number[][] = [];
        const calls: Array<Promise<unknown>> = [];
        for (const [i, l] of losses.entries()) {
          lt.write([l]);
          opt.beforeStep();
          guard.beforeSubmit();
          gpu.run(guard.arrange(lt.buffer));
          guard.afterSubmit();
          calls.push(guard.readNow());
          if (i === 1) weightsAfter.push(u32bits(await pt.read())); // (queued: the readback follows step 2)
        }
        const settled = await Promise.allSettled(calls);
        const results = settled.map((r) =>
          r.status === 'fulfilled' ? (r.value as { loss: number; skipped: boolean; step: number }) : r.reason,
        );
        expect(results.slice(0, 2).map((r) => r.loss)).toEqual([0.5, 0.25]);
        expect(results.slice(0, 2).map((r) => r.step)).toEqual([1, 2]);
        expect(results[2]).toBeInstanceOf(NonFiniteError);
        expect((results[2] as NonFiniteError).step).toBe(3);
        expect((results[2] as NonFiniteError).source).toBe('loss');
        expect((results[2] as Error).message).toMatch(/and those of the 3 step\(s\) queued after it/);
        // Steps 4…6 were queued before the host saw step 3: skipped, each with its own loss.
        expect(results.slice(3).map((r) => [r.loss, r.skipped, r.step])).toEqual([
          [0.125, true, 4],
          [0.0625, true, 5],
          [1, true, 6],
        ]);
        expect(trips).toBe(1);
        expect(skippedSteps).toBe(4);
        expect(opt.step).toBe(2);
        expect(u32bits(await pt.read())).toEqual(weightsAfter[0]);
        expect(() => guard.check()).not.toThrow(); // reported once
        // Training goes on from step 3.
        lt.write([0.3]);
        opt.beforeStep();
        guard.beforeSubmit();
        gpu.run(guard.arrange(lt.buffer));
        guard.afterSubmit();
        const r = await guard.readNow();
        expect([r.loss, r.skipped, r.step]).toEqual([Math.fround(0.3), false, 3]);
      } finally {
        guard.destroy();
        opt.destroy();
        for (const t of [pt, gt, lt]) t.destroy();
      }
    },
  );

  /** A guarded SGD optimizer over 16 weights (0.5, gradients 0.25) and `submit(loss)`, one guarded step per call. */
  function sgdGuard(onTrip?: () => void) {
    const m = 16;
    const pt = Tensor.from(gpu, new Float32Array(m).fill(0.5), [m]);
    const gt = Tensor.from(gpu, new Float32Array(m).fill(0.25), [m]);
    const lt = Tensor.from(gpu, [0], [1]);
    const opt = new Optimizer(gpu, { kind: 'sgd', lr: 0.1 }, pt.buffer, gt.buffer, m, { guard: true });
    const guard = new NanGuard(gpu, opt, 'test', onTrip);
    const submit = (l: number) => {
      lt.write([l]);
      opt.beforeStep();
      guard.beforeSubmit();
      gpu.run(guard.arrange(lt.buffer));
      guard.afterSubmit();
    };
    const finish = () => {
      guard.destroy();
      opt.destroy();
      for (const t of [pt, gt, lt]) t.destroy();
    };
    return { pt, opt, guard, submit, finish };
  }

  it(
    'NanGuard alone: a bad step found by a background readback is reported by the ' +
      'next readNow that sees it (not twice)',
    async () => {
      const { opt, guard, submit, finish } = sgdGuard();
      try {
        submit(1);
        submit(Infinity); // step 2: bad; no readNow
        await Promise.resolve(); // the background readback starts (queued after step 2)
        submit(2); // step 3: skipped on the GPU
        const err = await guard.readNow().then(
          () => null,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(NonFiniteError);
        expect((err as NonFiniteError).step).toBe(2);
        expect(opt.step).toBe(1);
        expect(() => guard.check()).not.toThrow();
        submit(3);
        expect((await guard.readNow()).loss).toBe(3);
      } finally {
        finish();
      }
    },
  );

  it(
    'NanGuard alone: a bad step seen only by the background readback is handled by ' + 'check() — not before, and once',
    async () => {
      let trips = 0;
      const { pt, opt, guard, submit, finish } = sgdGuard(() => trips++);
      try {
        submit(1);
        expect((await guard.readNow()).loss).toBe(1);
        const w = u32bits(await pt.read());
        submit(NaN); // step 2
        submit(2); // step 3, skipped
        let err: unknown = null;
        for (let i = 0; i < 50 && !err; i++) {
          await gpu.sync();
          await new Promise((r) => setTimeout(r, 10));
          expect(opt.step).toBe(3); // nothing is rewound outside a call
          expect(trips).toBe(0);
          try {
            guard.check();
          } catch (e) {
            err = e;
          }
        }
        expect(err).toBeInstanceOf(NonFiniteError);
        expect((err as NonFiniteError).step).toBe(2);
        expect((err as NonFiniteError).source).toBe('loss');
        expect(trips).toBe(1);
        expect(opt.step).toBe(1);
        expect(() => guard.check()).not.toThrow();
        expect(u32bits(await pt.read())).toEqual(w);
      } finally {
        finish();
      }
    },
  );

  it(
    'unawaited trainStep({ readLoss: true }) calls under Promise.all with the ' +
      'guard: the same losses as awaited calls, no TypeError',
    async () => {
      const batches = Array.from({ length: 6 }, (_, k) => batchOf(k));
      const run = async (concurrent: boolean) => {
        const model = new SequenceModel(gpu, lmOpts);
        model.configureTraining({ optimizer: { kind: 'adam', lr: 1e-2, clipNorm: 1 }, nanGuard: true });
        const losses: Array<number | undefined> = [];
        if (concurrent) losses.push(...(await Promise.all(batches.map((b) => model.trainStep(b, { readLoss: true })))));
        else for (const b of batches) losses.push(await model.trainStep(b, { readLoss: true }));
        const out = { losses, weights: bits(await model.stateDict()), step: model.optimizerState!.step };
        model.destroy();
        return out;
      };
      const awaited = await run(false);
      const concurrent = await run(true);
      expect(awaited.losses.every((l) => Number.isFinite(l))).toBe(true);
      expect(new Set(awaited.losses).size).toBe(6);
      expect(concurrent).toEqual(awaited);
    },
  );

  it(
    'Promise.all with a bad step in the middle: one NonFiniteError naming it, no ' +
      'TypeError, weights those before it',
    async () => {
      const model = new SequenceModel(gpu, lmOpts);
      await withRow6(model, 1e35);
      // lr 1e6 only at scheduler step 2 (the third call): its update overflows row 6.
      model.configureTraining({
        optimizer: { kind: 'sgd', lr: 0.01, weightDecay: 0.01 },
        schedule: (base, step) => (step === 2 ? 1e6 : base),
        nanGuard: true,
      });
      const calls = Array.from({ length: 5 }, (_, k) => model.trainStep(batchOf(k), { readLoss: true }));
      const settled = await Promise.allSettled(calls);
      const errors = settled.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason);
      expect(errors.every((e) => e instanceof NonFiniteError)).toBe(true);
      expect(errors.length).toBeGreaterThanOrEqual(1);
      expect((errors[0] as NonFiniteError).step).toBe(3);
      expect((errors[0] as NonFiniteError).source).toBe('update');
      expect(settled.slice(0, 2).every((r) => r.status === 'fulfilled' && Number.isFinite(r.value))).toBe(true);
      model.destroy();
    },
  );
});

describe('optimizer options: values that cannot give finite updates, unknown keys and wrong types (Node, Dawn)', () => {
  const bad: Array<[string, unknown, RegExp]> = [
    ['lr 1e39', { kind: 'sgd', lr: 1e39 }, /lr must be a finite number in \[0, 1e6\], got 1e\+39/],
    ['lr NaN', { kind: 'adam', lr: NaN }, /lr must be a finite number in \[0, 1e6\], got NaN/],
    ['lr −1', { kind: 'adam', lr: -1 }, /lr must be a finite number in \[0, 1e6\], got -1/],
    ['eps 0', { kind: 'adam', lr: 0.01, eps: 0 }, /eps must be a finite number > 0, got 0/],
    ['eps −1', { kind: 'adamw', lr: 0.01, eps: -1 }, /eps must be a finite number > 0, got -1/],
    ['beta1 1', { kind: 'adam', lr: 0.01, beta1: 1 }, /beta1 must be in \[0, 1\), got 1/],
    ['beta2 −0.5', { kind: 'adam', lr: 0.01, beta2: -0.5 }, /beta2 must be in \[0, 1\), got -0.5/],
    [
      'momentum Infinity',
      { kind: 'sgd', lr: 0.01, momentum: Infinity },
      /momentum must be a finite number ≥ 0, got Infinity/,
    ],
    [
      'dampening −0.1',
      { kind: 'sgd', lr: 0.01, momentum: 0.9, dampening: -0.1 },
      /dampening must be a finite number ≥ 0, got -0.1/,
    ],
    [
      'weightDecay NaN',
      { kind: 'adamw', lr: 0.01, weightDecay: NaN },
      /weightDecay must be a finite number ≥ 0, got NaN/,
    ],
    ['clipNorm 0', { kind: 'sgd', lr: 0.01, clipNorm: 0 }, /clipNorm must be a finite number > 0, got 0/],
    ['clipValue −1', { kind: 'sgd', lr: 0.01, clipValue: -1 }, /clipValue must be a finite number > 0, got -1/],
    ['unknown key lrr', { kind: 'adam', lrr: 0.1 }, /unknown option 'lrr' \(did you mean 'lr'\?\)/],
    [
      'unknown key weight_decay',
      { kind: 'adam', lr: 0.1, weight_decay: 0.1 },
      /unknown option 'weight_decay' \(did you mean 'weightDecay'\?\)/,
    ],
    [
      'lr the string 0.1',
      { kind: 'adam', lr: '0.1' },
      /lr must be a number \(a finite number in \[0, 1e6\]\), got '0.1'/,
    ],
    [
      'nesterov the string false',
      { kind: 'sgd', lr: 0.1, momentum: 0.9, nesterov: 'false' },
      /nesterov must be a boolean \(true or false\), got 'false'/,
    ],
    ['eps for SGD', { kind: 'sgd', lr: 0.1, eps: 1e-8 }, /'eps' does not apply to kind 'sgd'/],
  ];

  it(
    'the Optimizer constructor and checkOptions reject them with ArgumentError ' +
      'naming the entry point; nothing is allocated',
    async () => {
      const p = Tensor.from(gpu, new Float32Array(8), [8]);
      const g = Tensor.from(gpu, new Float32Array(8), [8]);
      try {
        for (const [what, o, message] of bad) {
          const before = { ...gpu.pool.stats };
          let err: unknown = null;
          try {
            new Optimizer(gpu, o as OptimizerOptions, p.buffer, g.buffer, 8);
          } catch (e) {
            err = e;
          }
          expect(err, what).toBeInstanceOf(ArgumentError);
          expect((err as Error).message, what).toMatch(/^Optimizer: /);
          expect((err as Error).message, what).toMatch(message);
          expect(gpu.pool.stats.inUse, what).toBe(before.inUse);
          expect(() => Optimizer.checkOptions(o as OptimizerOptions, 8, 'Caller.configure'), what).toThrow(
            /^Caller\.configure: /,
          );
        }
      } finally {
        p.destroy();
        g.destroy();
      }
    },
  );

  it(
    'configureTraining with each keeps the current optimizer, weights and moments; ' +
      'loadState and beforeStep check lr too',
    async () => {
      const model = new SequenceModel(gpu, {
        cell: 'gru',
        vocabSize: 7,
        embeddingDim: 3,
        hiddenSize: 5,
        outputSize: 7,
        mode: 'manyToOne',
        loss: 'crossEntropy',
        seed: 2,
      });
      model.configureTraining({ optimizer: { kind: 'adam', lr: 1e-2 }, nanGuard: true });
      const batch = {
        inputs: Int32Array.from({ length: 4 * 3 }, (_, i) => i % 7),
        targets: Int32Array.of(1, 2, 3),
        seqLen: 4,
        batch: 3,
      };
      await model.trainStep(batch, { readLoss: true });
      const opt = model.optimizerState!;
      const [w, o] = [bits(await model.stateDict()), await optimizerBits(model)];
      for (const [what, bo, message] of bad) {
        let err: unknown = null;
        try {
          model.configureTraining({ optimizer: bo as OptimizerOptions, nanGuard: true });
        } catch (e) {
          err = e;
        }
        expect(err, what).toBeInstanceOf(ArgumentError);
        expect((err as Error).message, what).toMatch(message);
        expect(model.optimizerState, what).toBe(opt);
      }
      const state = await opt.readState();
      expect(() => opt.loadState({ ...state, lr: 1e39 })).toThrow(ArgumentError);
      expect(() => opt.loadState({ ...state, lr: 1e39 })).toThrow(
        /Optimizer\.loadState: lr must be a finite number in \[0, 1e6\], got 1e\+39/,
      );
      expect(() => opt.beforeStep(NaN)).toThrow(
        new RegExp(
          String.raw`Optimizer\.beforeStep: lr must be a finite number in \[0, 1e6\], got ` +
            String.raw`NaN for step 2 \(options\.lr is 0\.01: check the learning-rate ` +
            String.raw`schedule\)`,
        ),
      );
      expect(() => opt.beforeStep(2e6, 'X.trainStep')).toThrow(/^X\.trainStep: lr must be/);
      expect(opt.step).toBe(1);
      expect(bits(await model.stateDict())).toEqual(w);
      expect(await optimizerBits(model)).toEqual(o);
      expect(Number.isFinite(await model.trainStep(batch, { readLoss: true }))).toBe(true); // still trains
      expect(opt.step).toBe(2);
      model.destroy();
    },
  );

  it('a schedule returning NaN fails the step naming it; nothing changes', async () => {
    const model = new SequenceModel(gpu, {
      cell: 'rnn',
      vocabSize: 7,
      embeddingDim: 3,
      hiddenSize: 5,
      outputSize: 7,
      mode: 'manyToOne',
      loss: 'crossEntropy',
      seed: 2,
    });
    model.configureTraining({ optimizer: { kind: 'sgd', lr: 0.1 }, schedule: (base, step) => (step < 1 ? base : NaN) });
    const batch = {
      inputs: Int32Array.from({ length: 4 * 3 }, (_, i) => i % 7),
      targets: Int32Array.of(1, 2, 3),
      seqLen: 4,
      batch: 3,
    };
    await model.trainStep(batch, { readLoss: true });
    const w = bits(await model.stateDict());
    const err = await model.trainStep(batch, { readLoss: true }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ArgumentError);
    expect((err as Error).message).toMatch(/NaN/);
    expect((err as Error).message).toMatch(/step (1|2)\b/);
    expect(model.optimizerState!.step).toBe(1);
    expect(bits(await model.stateDict())).toEqual(w);
    model.destroy();
  });
});
