// Device loss (simulated with device.destroy(), what a lost device looks like to the library):
// reported through gpu.lost / gpu.onLost, every call fails fast with GpuLostError (no hang, no
// unhandled rejection), and recover() brings models and layers back on a new device with their
// snapshot bit for bit — training then continues exactly as it would have.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  GpuLostError,
  LSTM,
  MultiHeadAttention,
  Seq2Seq,
  SequenceModel,
  Tensor,
  TOY_BOS,
  TOY_EOS,
  TOY_PAD,
  add,
  reversePair,
  type Gpu,
  type ModelSnapshot,
  type NamedTensor,
  type RecurrentStepper,
} from '../../src/index.js';
import { rng } from '../../src/util/random.js';
import { testGpu } from './gpu.js';

/** Rejects if `p` takes longer than `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    p,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what} took more than ${ms} ms`)), ms)),
  ]);
}

/** Destroys the device and waits (≤ 5 s) for the lost promise; returns its info. */
async function loseDevice(gpu: Gpu): Promise<GPUDeviceLostInfo> {
  gpu.device.destroy();
  return within(gpu.lost, 5000, 'gpu.lost');
}

/** Expects `run()` to reject with a GpuLostError within 500 ms. */
async function expectLostFast(run: () => Promise<unknown>, what: string): Promise<void> {
  const t0 = performance.now();
  const err = await within(
    run().then(
      () => null,
      (e: unknown) => e,
    ),
    2000,
    what,
  );
  expect(err, what).toBeInstanceOf(GpuLostError);
  expect((err as Error).message, what).toMatch(/lost/);
  expect(performance.now() - t0, what).toBeLessThan(500);
}

/** The raw bits of every parameter, to compare bit for bit. */
function bits(dict: Record<string, NamedTensor>): Record<string, number[]> {
  return Object.fromEntries(
    Object.entries(dict).map(([k, v]) => [k, Array.from(new Uint32Array(Float32Array.from(v.data).buffer))]),
  );
}

function tokenBatch(rand: () => number, V: number, T: number, B: number) {
  const ids = (n: number) => Int32Array.from({ length: n }, () => Math.floor(rand() * V));
  return { inputs: ids(T * B), targets: ids(T * B), seqLen: T, batch: B };
}

describe('device loss: the Gpu (Node, Dawn)', () => {
  it('is reported by gpu.lost and onLost; calls fail fast; gpu.recover() opens a new device', async () => {
    const gpu = await testGpu();
    const seen: string[] = [];
    gpu.onLost((info) => seen.push(info.reason));
    expect(await gpu.recover()).toBe(false); // nothing lost: nothing done
    const a = Tensor.from(gpu, [1, 2, 3, 4], [2, 2]);
    const info = await loseDevice(gpu);
    expect(info.reason).toBe('destroyed');
    expect(seen).toEqual(['destroyed']);
    expect(gpu.isLost).toBe(true);
    expect(() => add(gpu, a, a)).toThrow(GpuLostError);
    expect(() => Tensor.zeros(gpu, [3])).toThrow(GpuLostError);
    await expectLostFast(() => a.read(), 'tensor.read');
    await expectLostFast(() => gpu.sync(), 'gpu.sync');

    const [r1, r2] = await Promise.all([gpu.recover(), gpu.recover()]); // concurrent calls share one recovery
    expect(r1 && r2).toBe(true);
    expect(gpu.generation).toBe(1);
    expect(gpu.isLost).toBe(false);
    expect(gpu.memory().liveBuffers).toBe(0); // the old device's buffers went with it
    expect(() => a.buffer).toThrow(GpuLostError); // a tensor of the old device cannot be used…
    a.destroy(); // …but destroying it is harmless
    const b = Tensor.from(gpu, [1, 2, 3, 4], [2, 2]);
    expect(Array.from(await add(gpu, b, b).read())).toEqual([2, 4, 6, 8]);
    expect((await loseDevice(gpu)).reason).toBe('destroyed'); // a second loss is reported too
    expect(seen).toEqual(['destroyed', 'destroyed']);
    gpu.destroy();
    await expect(gpu.recover()).rejects.toThrow(/destroyed/);
  });

  it('an in-flight readback rejects with GpuLostError instead of hanging', async () => {
    const gpu = await testGpu();
    const t = Tensor.from(gpu, new Float32Array(1 << 16).fill(1), [1 << 16]);
    const pending = t.read();
    gpu.device.destroy();
    const err = await within(
      pending.then(
        () => null,
        (e: unknown) => e,
      ),
      3000,
      'read during the loss',
    );
    // Dawn may finish the copy before the loss; if it does not, the error must be GpuLostError.
    if (err !== null) expect(err).toBeInstanceOf(GpuLostError);
    await expectLostFast(() => t.read(), 'read after the loss');
    gpu.destroy();
  });
});

// One Gpu, three models on it, one loss: every pipeline is compiled twice (before and after),
// which is most of this file's time on SwiftShader.
describe('device loss: models and layers recover (Node, Dawn)', () => {
  const [V, T, B] = [12, 6, 3];
  let gpu: Gpu;
  let lm: SequenceModel;
  let s2s: Seq2Seq;
  let lstm: LSTM;
  let mha: MultiHeadAttention;
  const qData = Float32Array.from({ length: 2 * 3 * 8 }, (_, i) => Math.cos(i));
  let stepper: RecurrentStepper;
  let x: Tensor;
  const xData = Float32Array.from({ length: 5 * 2 * 4 }, (_, i) => Math.sin(i));
  const rand = rng(11);
  const lmBatches = Array.from({ length: 7 }, () => tokenBatch(rand, V, T, B));
  const s2sBatches = Array.from({ length: 6 }, () => {
    const pairs = Array.from({ length: 3 }, () => reversePair(rand, 2, 5));
    return { src: pairs.map((p) => p.src), tgt: pairs.map((p) => p.tgt) };
  });
  const healthy: {
    lm: number[];
    sample: number[];
    s2s: number[];
    decoded: unknown;
    out: Float32Array;
    hN: Float32Array;
    mha: Float32Array;
  } = {
    lm: [],
    sample: [],
    s2s: [],
    decoded: null,
    out: new Float32Array(),
    hN: new Float32Array(),
    mha: new Float32Array(),
  };
  const snap: { lm?: ModelSnapshot; s2s?: ModelSnapshot; lstm?: ModelSnapshot; mha?: ModelSnapshot } = {};
  const lostSeen: string[] = [];

  beforeAll(async () => {
    gpu = await testGpu();
    gpu.onLost((info) => lostSeen.push(info.reason));
    lm = new SequenceModel(gpu, {
      cell: 'lstm',
      vocabSize: V,
      embeddingDim: 4,
      hiddenSize: 8,
      numLayers: 2,
      dropout: 0.25,
      outputSize: V,
      mode: 'manyToMany',
      loss: 'crossEntropy',
      seed: 3,
    });
    lm.configureTraining({ optimizer: { kind: 'adam', lr: 1e-2, clipNorm: 1 }, nanGuard: true });
    s2s = new Seq2Seq(gpu, {
      cell: 'gru',
      srcVocab: 16,
      tgtVocab: 16,
      embeddingDim: 4,
      hiddenSize: 8,
      bidirectional: true,
      attention: 'additive',
      bosToken: TOY_BOS,
      eosToken: TOY_EOS,
      padToken: TOY_PAD,
      seed: 2,
    });
    s2s.configureTraining({ optimizer: { kind: 'adamw', lr: 5e-3 }, teacherForcingRatio: 0.5 });
    lstm = new LSTM(gpu, { inputSize: 4, hiddenSize: 8, numLayers: 2, bidirectional: true, seed: 9 });
    stepper = new LSTM(gpu, { inputSize: 4, hiddenSize: 8 }).createStepper(2);
    x = Tensor.from(gpu, xData, [5, 2, 4]);
    mha = new MultiHeadAttention(gpu, { embedDim: 8, numHeads: 2, seed: 1 });
  });
  afterAll(() => {
    lm?.destroy();
    s2s?.destroy();
    lstm?.destroy();
    mha?.destroy();
    gpu?.destroy();
  });

  it('trains, snapshots, and records what the healthy device computes after the snapshot', async () => {
    for (let i = 0; i < 3; i++) await lm.trainStep(lmBatches[i]);
    snap.lm = await lm.snapshot();
    expect(snap.lm.step).toBe(3);
    expect(snap.lm.optimizer!.step).toBe(3);
    healthy.lm = [
      (await lm.trainStep(lmBatches[3], { readLoss: true }))!,
      (await lm.trainStep(lmBatches[4], { readLoss: true }))!,
    ];
    healthy.sample = await lm.generate([1, 2], 5, { temperature: 0 });

    for (let i = 0; i < 2; i++) await s2s.trainStep(s2sBatches[i]);
    snap.s2s = await s2s.snapshot();
    healthy.s2s = [
      (await s2s.trainStep(s2sBatches[2], { readLoss: true }))!,
      (await s2s.trainStep(s2sBatches[3], { readLoss: true }))!,
    ];
    healthy.decoded = await s2s.greedyDecode(s2sBatches[0].src, { maxLen: 6 });

    const { output, hN } = lstm.forward(x);
    [healthy.out, healthy.hN] = [await output.read(), await hN.read()];
    snap.lstm = await lstm.snapshot();
    const q = Tensor.from(gpu, qData, [2, 3, 8]);
    healthy.mha = await mha.forward(q, q, q, { causal: true }).read();
    snap.mha = await mha.snapshot();
  });

  it('the loss resolves gpu.lost and calls onLost; every call then rejects fast with GpuLostError', async () => {
    expect((await loseDevice(gpu)).reason).toBe('destroyed');
    expect(lostSeen).toEqual(['destroyed']);
    await expectLostFast(() => lm.trainStep(lmBatches[5]), 'SequenceModel.trainStep');
    await expectLostFast(() => lm.evaluate(lmBatches[5]), 'SequenceModel.evaluate');
    await expectLostFast(() => lm.predict(lmBatches[5].inputs, T, B), 'SequenceModel.predict');
    await expectLostFast(() => lm.generate([1], 3), 'SequenceModel.generate');
    await expectLostFast(() => lm.stateDict(), 'SequenceModel.stateDict');
    await expectLostFast(() => lm.snapshot(), 'SequenceModel.snapshot');
    await expectLostFast(() => s2s.trainStep(s2sBatches[4]), 'Seq2Seq.trainStep');
    await expectLostFast(() => s2s.greedyDecode(s2sBatches[0].src, { maxLen: 6 }), 'Seq2Seq.greedyDecode');
    await expectLostFast(() => s2s.beamSearch(s2sBatches[0].src, { beamWidth: 2, maxLen: 6 }), 'Seq2Seq.beamSearch');
    expect(() => lstm.forward(x)).toThrow(GpuLostError);
    await expectLostFast(() => lstm.stateDict(), 'LSTM.stateDict');
    // recover() checks what it restores before it touches anything: the device stays lost.
    const bad = { ...snap.lm!.parameters, 'head.bias': { shape: [3], data: new Float32Array(3) } };
    await expect(lm.recover(bad)).rejects.toThrow(/head\.bias/);
    expect(gpu.isLost).toBe(true);
  });

  it('SequenceModel.recover(): weights and optimizer state bit-exact, training continues identically', async () => {
    await within(lm.recover(), 10000, 'SequenceModel.recover');
    expect(gpu.generation).toBe(1);
    expect(bits(await lm.stateDict())).toEqual(bits(snap.lm!.parameters));
    const opt = await lm.optimizerState!.readState();
    expect(opt.step).toBe(3);
    for (const k of ['m', 'v'])
      expect(Array.from(new Uint32Array(opt.buffers[k].buffer))).toEqual(
        Array.from(new Uint32Array(snap.lm!.optimizer!.buffers[k].buffer)),
      );
    // The same batches from the snapshot: the same losses, bit for bit (optimizer step, dropout step, guard).
    expect([
      (await lm.trainStep(lmBatches[3], { readLoss: true }))!,
      (await lm.trainStep(lmBatches[4], { readLoss: true }))!,
    ]).toEqual(healthy.lm);
    expect(await lm.generate([1, 2], 5, { temperature: 0 })).toEqual(healthy.sample);
    for (const b of lmBatches.slice(5)) await lm.trainStep(b);
    expect(Number.isFinite(await lm.evaluate(lmBatches[0]))).toBe(true);
  });

  it(
    'Seq2Seq: calls say to recover (the device is already new); recover() → ' +
      'bit-exact, training and decoding identical',
    async () => {
      await expect(s2s.trainStep(s2sBatches[4])).rejects.toThrow(/call its `await recover\(\)`/);
      await within(s2s.recover(), 10000, 'Seq2Seq.recover');
      expect(bits(await s2s.stateDict())).toEqual(bits(snap.s2s!.parameters));
      expect(s2s.optimizerState!.step).toBe(2);
      // The teacher-forcing coin was restored too.
      expect([
        (await s2s.trainStep(s2sBatches[2], { readLoss: true }))!,
        (await s2s.trainStep(s2sBatches[3], { readLoss: true }))!,
      ]).toEqual(healthy.s2s);
      expect(await s2s.greedyDecode(s2sBatches[0].src, { maxLen: 6 })).toEqual(healthy.decoded);
      expect((await s2s.beamSearch(s2sBatches[0].src, { beamWidth: 2, maxLen: 6 })).tokens.length).toBe(3);
      expect(Number.isFinite((await s2s.trainStep(s2sBatches[5], { readLoss: true }))!)).toBe(true);
    },
  );

  it('a bare LSTM layer recovers bit-exact; tensors and steppers of the lost device refuse to run', async () => {
    await lstm.recover();
    expect(() => lstm.forward(x)).toThrow(GpuLostError); // x lived on the lost device
    expect(() => stepper.step(Tensor.zeros(gpu, [2, 4]))).toThrow(/create a new stepper/);
    expect(bits(await lstm.stateDict())).toEqual(bits(snap.lstm!.parameters));
    x = Tensor.from(gpu, xData, [5, 2, 4]);
    const after = lstm.forward(x);
    expect(Array.from(await after.output.read())).toEqual(Array.from(healthy.out));
    expect(Array.from(await after.hN.read())).toEqual(Array.from(healthy.hN));
    const { dInput } = lstm.forwardBackward(x, {}, { dOutput: after.output }, { inputGrad: true });
    expect(Array.from(await dInput!.read()).every(Number.isFinite)).toBe(true);
    await expect(lm.rnn.recover()).rejects.toThrow(/belongs to a model/);
  });

  it('MultiHeadAttention recovers bit-exact', async () => {
    expect(() => mha.forward(x, x, x)).toThrow(GpuLostError);
    await mha.recover();
    expect(bits(await mha.stateDict())).toEqual(bits(snap.mha!.parameters));
    const q = Tensor.from(gpu, qData, [2, 3, 8]);
    expect(Array.from(await mha.forward(q, q, q, { causal: true }).read())).toEqual(Array.from(healthy.mha));
  });

  it('recover(from) without a loss restores a state dict (fresh optimizer) or checkpoint bytes in place', async () => {
    const fresh = new SequenceModel(gpu, {
      cell: 'gru',
      inputSize: 3,
      hiddenSize: 5,
      outputSize: 2,
      mode: 'manyToOne',
      loss: 'mse',
      seed: 5,
    });
    await expect(fresh.recover()).rejects.toThrow(/nothing to restore: call model.snapshot\(\)/);
    fresh.destroy();
    const dict = await lm.stateDict();
    const file = await lm.saveCheckpoint();
    const step = lm.optimizerState!.step;
    await lm.trainStep(lmBatches[0]);
    await lm.recover(dict);
    expect(bits(await lm.stateDict())).toEqual(bits(dict));
    expect(lm.optimizerState!.step).toBe(0);
    await lm.trainStep(lmBatches[1]);
    await lm.recover(file);
    expect(bits(await lm.stateDict())).toEqual(bits(dict));
    expect(lm.optimizerState!.step).toBe(step);
    expect(Number.isFinite((await lm.trainStep(lmBatches[2], { readLoss: true }))!)).toBe(true);
  });
});
