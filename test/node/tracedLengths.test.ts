// Per-row lengths (PyTorch's packed sequences) inside a traced forward: an Int32Array argument is
// host data — not part of the key, checked and written at every replay — so one plan serves every
// batch of the same shape. Compared with the layer's own eager forward, and by finite differences.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LSTM, Linear, Module, Tensor, Trainer, rng, type Gpu } from '../../src/index.js';
import { gradCheck } from '../checks/moduleGrad.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

class Padded extends Module {
  lstm: LSTM;
  head: Linear;
  constructor(gpu: Gpu) {
    super(gpu);
    this.lstm = new LSTM(gpu, {
      inputSize: 3,
      hiddenSize: 5,
      batchFirst: true,
      bidirectional: true,
      numLayers: 2,
      seed: 11,
    });
    this.head = new Linear(gpu, { inFeatures: 10, outFeatures: 2, seed: 12 });
  }
  forward(x: Tensor, lengths: Int32Array): Tensor {
    return this.head.forward(this.lstm.forward(x, { lengths }).output);
  }
}

const B = 3,
  T = 6;

describe('lengths inside a traced forward', () => {
  it('equals the eager forward with lengths, for new lengths at every replay (one plan)', async () => {
    const r = rng(21);
    const model = new Padded(gpu);
    const x = Tensor.from(
      gpu,
      Array.from({ length: B * T * 3 }, () => r() * 2 - 1),
      [B, T, 3],
    );
    for (const [i, lens] of [
      [6, 2, 4],
      [1, 6, 3],
      [5, 5, 5],
    ].entries()) {
      const before = { ...gpu.stats };
      const y = model.forward(x, Int32Array.from(lens)) as Tensor;
      if (i > 0) expect(gpu.stats.pipelinesCreated).toBe(before.pipelinesCreated);
      const eager = model.lstm.forward(x, { lengths: lens }).output;
      const ref = model.head.forward(eager);
      const a = await y.read(),
        b = await ref.read();
      a.forEach((v, k) => expect(Math.abs(v - b[k]), `lengths ${lens} at ${k}`).toBeLessThan(1e-5));
      y.destroy();
      eager.destroy();
      ref.destroy();
    }
    expect(() => model.forward(x, Int32Array.of(0, 2, 3))).toThrow(
      /lengths\[0\] is 0, expected an integer in \[1, seqLen=6\]/,
    );
    expect(() => model.forward(x, Int32Array.of(2, 3))).toThrow(
      /'lengths' has 2 entries: expected one per batch row \(3\)/,
    );
    model.destroy();
  });

  it('trains through the Trainer: gradients vs finite differences; bad lengths change nothing', async () => {
    const r = rng(22);
    const model = new Padded(gpu);
    const x = Tensor.from(
      gpu,
      Array.from({ length: B * T * 3 }, () => r() * 2 - 1),
      [B, T, 3],
    );
    const y = Tensor.from(
      gpu,
      Array.from({ length: B * T * 2 }, () => r() * 2 - 1),
      [B, T, 2],
    );
    const lengths = Int32Array.of(6, 2, 4);
    const { checked } = await gradCheck(model, [x, lengths], y, { indices: (n) => [0, Math.floor(n / 2), n - 1] });
    const trainer = new Trainer(model, { loss: 'mse', optimizer: { kind: 'sgd', lr: 0 } });
    await trainer.step({ inputs: [x, lengths], targets: y });
    const snap = await trainer.snapshot();
    await expect(trainer.step({ inputs: [x, Int32Array.of(6, 7, 4)], targets: y })).rejects.toThrow(
      /lengths\[1\] is 7/,
    );
    expect((await trainer.snapshot()).step).toBe(snap.step);
    console.log(`lengths: ${checked} gradient entries vs finite differences; step ${JSON.stringify(trainer.lastRun)}`);
    trainer.destroy();
    model.destroy();
  });
});
