// The NaN/Inf guard: the kernel vs its reference, and in SequenceModel / Seq2Seq training a
// non-finite loss or gradient norm stops training with a NonFiniteError while the weights and
// the optimizer state stay bit for bit those before the bad step. Without the guard (default) a
// non-finite step corrupts the weights: also shown here.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NonFiniteError, Seq2Seq, SequenceModel, TOY_BOS, TOY_EOS, TOY_PAD, reversePair, type Gpu, type NamedTensor, type SequenceModelOptions } from '../../src/index.js';
import { rng } from '../../src/util/random.js';
import { nanGuardChecks } from '../checks/nanGuard.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

function bits(dict: Record<string, NamedTensor>): Record<string, number[]> {
  return Object.fromEntries(Object.entries(dict).map(([k, v]) => [k, Array.from(new Uint32Array(Float32Array.from(v.data).buffer))]));
}

async function optimizerBits(model: { optimizerState: { readState(): Promise<{ step: number; buffers: Record<string, Float32Array> }> } | null }) {
  const s = await model.optimizerState!.readState();
  return { step: s.step, buffers: Object.fromEntries(Object.entries(s.buffers).map(([k, v]) => [k, Array.from(new Uint32Array(v.buffer))])) };
}

describe('NaN/Inf guard kernel vs reference (Node, Dawn)', () => {
  for (const check of nanGuardChecks) it(check.name, () => check.run(gpu));
});

describe('NaN/Inf guard in training (Node, Dawn)', () => {
  // A regression model (value inputs, MSE): a target of 1e30 is finite — it passes the input
  // checks — but its squared error overflows f32, a realistic divergence.
  const [I, T, B, O] = [3, 5, 2, 2];
  const opts: SequenceModelOptions = { cell: 'lstm', inputSize: I, hiddenSize: 6, outputSize: O, mode: 'manyToMany', loss: 'mse', seed: 7 };
  const rand = rng(3);
  const good = () => ({ inputs: Float32Array.from({ length: T * B * I }, () => rand() - 0.5), targets: Float32Array.from({ length: T * B * O }, () => rand() - 0.5), seqLen: T, batch: B });
  const huge = () => ({ ...good(), targets: new Float32Array(T * B * O).fill(1e30) });

  it('submits the step before trainStep returns (with and without the guard): a readback queued right after sees it', async () => {
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
  });

  it('adds one dispatch with clipNorm (two without: the norm) and changes nothing while steps are finite', async () => {
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
    const plain = await run({});
    const guarded = await run({ nanGuard: true });
    const clipped = await run({ optimizer: { kind: 'adam', lr: 1e-2, clipNorm: 1e6 } });
    const clippedGuarded = await run({ optimizer: { kind: 'adam', lr: 1e-2, clipNorm: 1e6 }, nanGuard: true });
    expect(guarded.dispatches).toBe(plain.dispatches + 2); // norm + guard
    expect(clippedGuarded.dispatches).toBe(clipped.dispatches + 1); // guard
    expect(guarded.losses).toEqual(plain.losses); // bit for bit: the guard only reads
    expect(guarded.weights).toEqual(plain.weights);
    expect(clippedGuarded.weights).toEqual(clipped.weights);
  });

  it('a step whose loss overflows rejects (readLoss) with NonFiniteError; weights and Adam state unchanged; training goes on', async () => {
    const model = new SequenceModel(gpu, opts);
    model.configureTraining({ optimizer: { kind: 'adam', lr: 1e-2 }, nanGuard: true });
    for (let i = 0; i < 2; i++) await model.trainStep(good(), { readLoss: true });
    const [w, o] = [bits(await model.stateDict()), await optimizerBits(model)];
    const err = await model.trainStep(huge(), { readLoss: true }).then(() => null, (e: unknown) => e);
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
  });

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
      err = await model.trainStep(good()).then(() => null, (e: unknown) => e);
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
    const model = new SequenceModel(gpu, { cell: 'rnn', vocabSize: 7, embeddingDim: 3, hiddenSize: 5, outputSize: 7, mode: 'manyToOne', loss: 'crossEntropy', seed: 2 });
    model.configureTraining({ optimizer: { kind: 'sgd', lr: 1e-3 }, nanGuard: true });
    model.store.write('head.weight', new Float32Array(7 * 5).fill(1e30).map((v, i) => (i % 3 === 0 ? -v : v)));
    const w = bits(await model.stateDict());
    const batch = { inputs: Int32Array.from({ length: 4 * 3 }, (_, i) => i % 7), targets: Int32Array.of(1, 2, 3), seqLen: 4, batch: 3 };
    const err = await model.trainStep(batch, { readLoss: true }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(NonFiniteError);
    const e = err as NonFiniteError;
    expect(Number.isFinite(e.loss)).toBe(true);
    expect(e.gradNorm).toBe(Infinity);
    expect(e.message).toMatch(/training step 1 gave a non-finite gradient norm \(loss [0-9.e+]+, gradient norm Infinity\)/);
    expect(bits(await model.stateDict())).toEqual(w);
    expect(model.optimizerState!.step).toBe(0);
    model.destroy();
  });

  it('a NaN written into a weight: NonFiniteError, and the weights keep their bits (the NaN included)', async () => {
    const model = new SequenceModel(gpu, { cell: 'rnn', vocabSize: 7, embeddingDim: 3, hiddenSize: 5, outputSize: 7, mode: 'manyToOne', loss: 'crossEntropy', seed: 2 });
    model.configureTraining({ optimizer: { kind: 'adamw', lr: 1e-2, clipNorm: 1 }, nanGuard: true });
    const batch = { inputs: Int32Array.from({ length: 4 * 3 }, (_, i) => i % 7), targets: Int32Array.of(1, 2, 3), seqLen: 4, batch: 3 };
    await model.trainStep(batch, { readLoss: true });
    const bias = new Float32Array(7);
    bias[4] = NaN;
    model.store.write('head.bias', bias);
    const before = await model.stateDict();
    const err = await model.trainStep(batch, { readLoss: true }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(NonFiniteError);
    expect((err as Error).message).toMatch(/non-finite loss and gradient norm \(loss (NaN|Infinity), gradient norm NaN\)/);
    expect(bits(await model.stateDict())).toEqual(bits(before));
    model.destroy();
  });

  it('without the guard the same steps corrupt the weights (documented default)', async () => {
    const model = new SequenceModel(gpu, opts);
    model.configureTraining({ optimizer: { kind: 'sgd', lr: 0.1 } });
    await model.trainStep(good(), { readLoss: true });
    const loss = await model.trainStep(huge(), { readLoss: true }); // no error: the update runs
    expect(Number.isFinite(loss)).toBe(false);
    const weights = Object.values(await model.stateDict()).flatMap((t) => Array.from(t.data));
    expect(weights.some((v) => !Number.isFinite(v) || Math.abs(v) > 1e20)).toBe(true);
    expect(Number.isFinite(await model.trainStep(good(), { readLoss: true }))).toBe(false);
    model.destroy();
  });

  it('Seq2Seq: a NaN loss rejects with NonFiniteError and leaves weights and optimizer state unchanged', async () => {
    const model = new Seq2Seq(gpu, { cell: 'gru', srcVocab: 14, tgtVocab: 14, embeddingDim: 4, hiddenSize: 8, attention: 'dot', bosToken: TOY_BOS, eosToken: TOY_EOS, padToken: TOY_PAD, seed: 4 });
    model.configureTraining({ optimizer: { kind: 'adam', lr: 1e-2 }, nanGuard: true });
    const r = rng(9);
    const pairs = Array.from({ length: 3 }, () => reversePair(r, 2, 4));
    const batch = { src: pairs.map((p) => p.src), tgt: pairs.map((p) => p.tgt) };
    expect(Number.isFinite(await model.trainStep(batch, { readLoss: true }))).toBe(true);
    const bias = new Float32Array(14);
    bias[5] = Infinity;
    model.store.write('decoder.out.bias', bias);
    const [w, o] = [bits(await model.stateDict()), await optimizerBits(model)];
    const err = await model.trainStep(batch, { readLoss: true }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(NonFiniteError);
    expect((err as Error).message).toMatch(/^Seq2Seq\.trainStep: training step 2 gave a non-finite/);
    expect(bits(await model.stateDict())).toEqual(w);
    expect(await optimizerBits(model)).toEqual(o);
    model.destroy();
  });
});
