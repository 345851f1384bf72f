// The recorded training step's contract: one submit per step, a deterministic dispatch count,
// nothing allocated after the first step, and truncated BPTT that carries the state exactly.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SequenceModel, ShapeError, type Gpu } from '../../src/index.js';
import { rng, uniform } from '../../src/util/random.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

function tokenBatch(rand: () => number, V: number, T: number, B: number) {
  const ids = (n: number) => Int32Array.from({ length: n }, () => Math.floor(rand() * V));
  return { inputs: ids(T * B), targets: ids(T * B), seqLen: T, batch: B };
}

describe('training step scheduler (Node, Dawn)', () => {
  it('is ONE submit with a deterministic dispatch count, and allocates nothing after the first step', async () => {
    const [V, E, H, L, D, T, B] = [11, 6, 9, 2, 2, 5, 3];
    const model = new SequenceModel(gpu, {
      cell: 'lstm',
      vocabSize: V,
      embeddingDim: E,
      hiddenSize: H,
      numLayers: L,
      bidirectional: true,
      dropout: 0.2,
      outputSize: V,
      mode: 'manyToMany',
      loss: 'crossEntropy',
    });
    // The step alone: the NaN/Inf guard (on by default) adds 2 dispatches and reads its 32-byte
    // record back in a copy-only submit now and then (test/node/nanGuard.test.ts counts those).
    model.configureTraining({ optimizer: { kind: 'adam', lr: 1e-3, clipNorm: 1 }, nanGuard: false });
    const rand = rng(1);
    await model.trainStep(tokenBatch(rand, V, T, B));
    await gpu.sync();
    const before = { ...gpu.stats };
    const created = gpu.pool.stats.created;
    for (let i = 0; i < 5; i++) await model.trainStep(tokenBatch(rand, V, T, B));
    await gpu.sync();
    expect(gpu.stats.submits - before.submits).toBe(5);
    expect(gpu.pool.stats.created).toBe(created);
    expect(gpu.stats.pipelinesCreated).toBe(before.pipelinesCreated);
    // forward: embedding 1, per layer-direction 1 GEMM + T steps, dropout 1 per layer above the first,
    //          head GEMM 1, cross-entropy 2 (count, rows), loss sum 1
    // backward: head dW, db, d output 3; per layer-direction T steps + dW_ih, dW_hh, db_ih, db_hh 4,
    //          d input 1 (every layer: layer 0 feeds the embedding), dropout 1 per layer above the first,
    //          embedding scatter-add 1
    // update: gradient norm 1 (one range ≤ 8192 elements), optimizer 1, W_hh repack 1 per layer-direction
    const forward = 1 + L * D * (1 + T) + (L - 1) + 1 + 2 + 1;
    const backward = 3 + L * D * (T + 4 + 1) + (L - 1) + 1;
    const update = 1 + 1 + L * D;
    expect(model.store.length).toBeLessThanOrEqual(8192);
    expect(model.lastRun).toEqual({ dispatches: forward + backward + update, submits: 1 });
    expect(gpu.stats.dispatches - before.dispatches).toBe(5 * (forward + backward + update));
    model.destroy();
  });

  it('truncated BPTT: with carryState the next window starts from the last final state', async () => {
    const [I, H, T, B, O] = [2, 7, 4, 3, 2];
    const rand = rng(2);
    const x = uniform(rand, 2 * T * B * I, -1, 1);
    const y = uniform(rand, 2 * T * B * O, -1, 1);
    const window = (w: number) => ({
      inputs: x.subarray(w * T * B * I, (w + 1) * T * B * I),
      targets: y.subarray(w * T * B * O, (w + 1) * T * B * O),
      seqLen: T,
      batch: B,
    });
    const lossOfSecondWindow = async (carryState: boolean) => {
      const model = new SequenceModel(gpu, {
        cell: 'gru',
        inputSize: I,
        hiddenSize: H,
        outputSize: O,
        mode: 'manyToMany',
        loss: 'mse',
        seed: 4,
      });
      model.configureTraining({ optimizer: { kind: 'sgd', lr: 0 }, carryState }); // lr 0: weights fixed
      await model.trainStep(window(0));
      const loss = (await model.trainStep(window(1), { readLoss: true }))!;
      // The same model over the whole 2T sequence: the second half's MSE, on the CPU.
      const pred = await model.predict(x, 2 * T, B);
      let sum = 0;
      for (let i = T * B * O; i < 2 * T * B * O; i++) sum += (pred[i] - y[i]) ** 2;
      model.destroy();
      return { loss, full: sum / (T * B * O) };
    };
    const carried = await lossOfSecondWindow(true);
    expect(Math.abs(carried.loss - carried.full)).toBeLessThan(1e-5 * Math.max(1, carried.full));
    const reset = await lossOfSecondWindow(false);
    expect(Math.abs(reset.loss - reset.full)).toBeGreaterThan(1e-3); // without carrying, window 2 starts from zeros
  });

  it('rejects bad batches with errors naming the argument, and stays usable', async () => {
    const model = new SequenceModel(gpu, {
      cell: 'rnn',
      vocabSize: 5,
      embeddingDim: 3,
      hiddenSize: 4,
      outputSize: 5,
      mode: 'manyToMany',
      loss: 'crossEntropy',
    });
    const good = { inputs: Int32Array.from([0, 1, 2, 3]), targets: Int32Array.from([1, 2, 3, 4]), seqLen: 2, batch: 2 };
    await expect(model.trainStep(good)).rejects.toThrow(/configureTraining/);
    model.configureTraining({ optimizer: { kind: 'sgd', lr: 0.1 } });
    await expect(model.trainStep({ ...good, inputs: Int32Array.from([0, 1, 2]) })).rejects.toThrow(
      /'inputs' has 3 token ids, expected seqLen·batch = 2·2 = 4/,
    );
    await expect(model.trainStep({ ...good, inputs: Int32Array.from([0, 1, 9, 3]) })).rejects.toThrow(
      /inputs\[2\] = 9 is not a token id in \[0, 5\)/,
    );
    await expect(model.trainStep({ ...good, targets: Int32Array.from([1, 2, 7, 4]) })).rejects.toThrow(
      /targets\[2\] = 7 is neither a class/,
    );
    await expect(model.trainStep({ ...good, seqLen: 0 })).rejects.toThrow(ShapeError);
    expect(
      () =>
        new SequenceModel(gpu, {
          cell: 'lstm',
          inputSize: 3,
          hiddenSize: 4,
          outputSize: 2,
          mode: 'manyToOne',
          loss: 'mse',
          dropout: 1.5,
          numLayers: 2,
        }),
    ).toThrow(/dropout must be a probability in \[0, 1\), got 1.5/);
    expect(
      () => new SequenceModel(gpu, { cell: 'lstm', hiddenSize: 4, outputSize: 2, mode: 'manyToOne', loss: 'mse' }),
    ).toThrow(/either vocabSize/);
    expect(await model.trainStep(good, { readLoss: true })).toBeGreaterThan(0);
    model.destroy();
  });
});
