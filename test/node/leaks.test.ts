// No leaks: long loops leave the device's live buffer count and bytes flat (every createBuffer and
// destroy on the device is counted: gpu.memory()), nothing is created after warm-up, and
// destroying a model hands every buffer back to the pool (the live count returns to the baseline
// after pool.trim()).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  GRU,
  MultiHeadAttention,
  Seq2Seq,
  SequenceModel,
  Tensor,
  TOY_BOS,
  TOY_EOS,
  TOY_PAD,
  matmul,
  reversePair,
  softmax,
  type Gpu,
  type MemoryStats,
} from '../../src/index.js';
import { rng } from '../../src/util/random.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
  void gpu.dummyBuffer; // the Gpu's one buffer outside the pool (created at first use): part of every baseline
});
afterAll(() => gpu?.destroy());

/**
 * What must not change in a steady loop: live buffers and bytes (device and pool), buffers in use, and every
 * createBuffer.
 */
function footprint(m: MemoryStats) {
  return {
    liveBuffers: m.liveBuffers,
    liveBytes: m.liveBytes,
    created: m.created,
    destroyed: m.destroyed,
    poolLive: m.pool.live,
    poolBytes: m.pool.liveBytes,
    inUse: m.pool.inUse,
    poolCreated: m.pool.created,
  };
}

/** Waits for the GPU, then the footprint. */
async function settle(): Promise<ReturnType<typeof footprint>> {
  await gpu.sync();
  return footprint(gpu.memory());
}

/**
 * Destroys `dispose()`'s objects; then nothing may be in use beyond the baseline and, after trim, nothing live beyond
 * it.
 */
async function expectBackToBaseline(baseline: ReturnType<typeof footprint>, dispose: () => void): Promise<void> {
  dispose();
  await gpu.sync();
  expect(gpu.memory().pool.inUse).toBe(baseline.inUse);
  gpu.pool.trim();
  const m = gpu.memory();
  expect(m.liveBuffers).toBe(baseline.liveBuffers);
  expect(m.liveBytes).toBe(baseline.liveBytes);
}

describe('no GPU memory leaks (Node, Dawn)', () => {
  it('counts every buffer the device creates and destroys', async () => {
    const m0 = gpu.memory();
    const own = gpu.device.createBuffer({ size: 64, usage: 0x80 }); // a buffer outside the pool counts too
    const t = Tensor.zeros(gpu, [10]);
    const m1 = gpu.memory();
    expect(m1.created - m0.created).toBe(2);
    expect(m1.liveBuffers - m0.liveBuffers).toBe(2);
    expect(m1.liveBytes - m0.liveBytes).toBe(64 + 48);
    own.destroy();
    own.destroy(); // counted once
    t.destroy(); // back to the pool: still live
    expect(gpu.memory().liveBuffers - m0.liveBuffers).toBe(1);
    gpu.pool.trim();
    expect(footprint(gpu.memory()).liveBuffers).toBe(m0.liveBuffers);
    expect(gpu.memory().destroyed - m0.destroyed).toBe(2);
  });

  it('1,000 training steps (NaN guard on, evaluate / predict / generate every 100): flat after warm-up', async () => {
    // Warm-up is the first 100 steps: every kind of call has run by then (the extras first at step
    // 50), and from there the same pattern repeats every 100 steps.
    gpu.pool.trim();
    const baseline = await settle();
    const [V, T, B] = [11, 4, 2];
    const model = new SequenceModel(gpu, {
      cell: 'gru',
      vocabSize: V,
      embeddingDim: 4,
      hiddenSize: 8,
      outputSize: V,
      mode: 'manyToMany',
      loss: 'crossEntropy',
      seed: 1,
    });
    model.configureTraining({ optimizer: { kind: 'adam', lr: 1e-2, clipNorm: 1 }, nanGuard: true, carryState: true });
    const rand = rng(5);
    const batches = Array.from({ length: 10 }, () => ({
      inputs: Int32Array.from({ length: T * B }, () => Math.floor(rand() * V)),
      targets: Int32Array.from({ length: T * B }, () => Math.floor(rand() * V)),
      seqLen: T,
      batch: B,
    }));
    let at100: ReturnType<typeof footprint> | null = null;
    const losses: number[] = [];
    for (let step = 1; step <= 1000; step++) {
      const readLoss = step % 100 === 0;
      const loss = await model.trainStep(batches[step % 10], { readLoss });
      if (readLoss) losses.push(loss!);
      if (step % 100 === 50) {
        await model.evaluate(batches[0]);
        await model.predict(batches[1].inputs, T, B);
        await model.generate([1, 2], 3, { temperature: 0.5, seed: step });
      }
      if (step === 100) at100 = await settle();
    }
    const at1000 = await settle();
    expect(at1000).toEqual(at100);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]); // it trained
    await expectBackToBaseline(baseline, () => model.destroy());
  }, 120_000);

  it(
    '1,000 forward calls of a layer (outputs destroyed), a stepper, eager kernels ' +
      'and attention: flat after warm-up',
    async () => {
      gpu.pool.trim();
      const baseline = await settle();
      const gru = new GRU(gpu, { inputSize: 4, hiddenSize: 8, numLayers: 2, seed: 2 });
      const x = Tensor.from(
        gpu,
        Float32Array.from({ length: 5 * 3 * 4 }, (_, i) => Math.cos(i)),
        [5, 3, 4],
      );
      const stepper = gru.createStepper(3);
      const xt = Tensor.from(gpu, new Float32Array(3 * 4).fill(0.5), [3, 4]);
      const w = Tensor.from(
        gpu,
        Float32Array.from({ length: 4 * 5 }, (_, i) => i / 20),
        [4, 5],
      );
      const mha = new MultiHeadAttention(gpu, { embedDim: 8, numHeads: 2 });
      const q = Tensor.from(
        gpu,
        Float32Array.from({ length: 2 * 3 * 8 }, (_, i) => Math.sin(i)),
        [2, 3, 8],
      );
      let at100: ReturnType<typeof footprint> | null = null;
      let first: Float32Array | null = null;
      for (let i = 1; i <= 1000; i++) {
        const { output, hN } = gru.forward(x);
        if (i === 1) first = await output.read();
        output.destroy();
        hN.destroy();
        if (i % 10 === 0) {
          stepper.step(xt).destroy();
          const y = matmul(gpu, xt, w); // eager kernels: their uniforms are transient
          softmax(gpu, y).destroy();
          y.destroy();
        }
        // first at 50: warm-up ends with a full period
        if (i % 100 === 50) mha.forward(q, q, q, { causal: true }).destroy();
        if (i === 100) at100 = await settle();
      }
      const at1000 = await settle();
      expect(at1000).toEqual(at100);
      const { output, hN } = gru.forward(x);
      expect(Array.from(await output.read())).toEqual(Array.from(first!)); // and it still computes the same
      await expectBackToBaseline(baseline, () => {
        output.destroy();
        hN.destroy();
        x.destroy();
        xt.destroy();
        w.destroy();
        q.destroy();
        mha.destroy();
        stepper.destroy();
        gru.destroy();
      });
    },
    120_000,
  );

  it('100 Seq2Seq training steps with greedy and beam decodes: flat after warm-up', async () => {
    gpu.pool.trim();
    const baseline = await settle();
    const model = new Seq2Seq(gpu, {
      cell: 'lstm',
      srcVocab: 14,
      tgtVocab: 14,
      embeddingDim: 4,
      hiddenSize: 8,
      attention: 'general',
      bosToken: TOY_BOS,
      eosToken: TOY_EOS,
      padToken: TOY_PAD,
      seed: 3,
    });
    model.configureTraining({ optimizer: { kind: 'adam', lr: 1e-2 }, teacherForcingRatio: 0.5 });
    const rand = rng(8);
    // Fixed shapes (srcLen, tgtLen ≤ 4 plan keys each): plans are cached, so after warm-up nothing is created.
    const batches = Array.from({ length: 4 }, () => {
      const pairs = Array.from({ length: 3 }, () => reversePair(rand, 3, 4));
      return { src: pairs.map((p) => p.src), tgt: pairs.map((p) => p.tgt) };
    });
    let at20: ReturnType<typeof footprint> | null = null;
    for (let step = 1; step <= 100; step++) {
      const b = batches[step % 4];
      await model.trainStep(b, { readLoss: step % 10 === 0 });
      if (step % 10 === 0) {
        await model.greedyDecode(b.src, { maxLen: 5 });
        await model.beamSearch(b.src.slice(0, 2), { beamWidth: 2, maxLen: 5 });
      }
      if (step === 20) at20 = await settle();
    }
    expect(await settle()).toEqual(at20);
    await expectBackToBaseline(baseline, () => model.destroy());
  }, 120_000);
});
