// calibrateRecurrent (src/nn/calibrate.ts): the one-time timed probe of the step and persistent
// recurrent kernels (and, for a stack, the wavefront) on this adapter. Which kernel wins on
// SwiftShader is a measurement, so the tests assert what follows from it, whichever it is: the
// choice is the fastest one, it is stored in gpu.tuning.recurrentMeasured and followed by 'auto'
// (the dispatch count of a layer of that shape says which kernel ran), a second call measures
// nothing, a forced kernel wins over it, concurrent calls run one after the other, and bad
// options are refused before any GPU work.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GRU, LSTM, Tensor, calibrateRecurrent, recurrentChoiceKey, type Gpu } from '../../src/index.js';
import { ArgumentError } from '../../src/util/errors.js';
import { assertClose } from '../checks/util.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

describe('calibrateRecurrent', () => {
  it('records the faster kernel; auto follows it; a second call is cached; forcing wins', async () => {
    const r = await calibrateRecurrent(gpu, { cell: 'lstm', hiddenSize: 12, batch: 3, seqLen: 6, reps: 1 });
    expect(r.key).toBe('lstm H12 B3');
    expect(r.key).toBe(recurrentChoiceKey('lstm', 12, 3));
    expect(r.stepMs).toBeGreaterThan(0);
    expect(r.persistentMs).toBeGreaterThan(0);
    expect(r.wavefrontMs).toBe(Infinity); // one layer: not timed
    expect(r.choice).toBe(r.persistentMs < r.stepMs ? 'persistent' : 'step');
    expect(r.cached).toBe(false);
    expect(gpu.tuning.recurrentMeasured[r.key]).toBe(r.choice);
    expect(gpu.tuning.recurrentKernel).toBe('auto'); // restored

    const submits = gpu.stats.submits;
    const again = await calibrateRecurrent(gpu, { cell: 'lstm', hiddenSize: 12, batch: 3 });
    expect(again).toEqual({ ...r, cached: true });
    expect(gpu.stats.submits).toBe(submits);

    const T = 9;
    const x = Tensor.from(gpu, new Float32Array(T * 3 * 4).fill(0.5), [T, 3, 4]);
    const layer = new LSTM(gpu, { inputSize: 4, hiddenSize: 12, seed: 2 });
    layer.forward(x).output.destroy();
    expect(layer.lastRun!.dispatches).toBe(r.choice === 'persistent' ? 2 : 1 + T);
    // The other batch size is not measured: the static model (software adapter: step kernels).
    const x2 = Tensor.from(gpu, new Float32Array(T * 2 * 4).fill(0.5), [T, 2, 4]);
    layer.forward(x2).output.destroy();
    expect(layer.lastRun!.dispatches).toBe(1 + T);
    gpu.tuning.recurrentKernel = r.choice === 'persistent' ? 'step' : 'persistent';
    try {
      layer.forward(x).output.destroy();
      expect(layer.lastRun!.dispatches).toBe(r.choice === 'persistent' ? 1 + T : 2);
    } finally {
      gpu.tuning.recurrentKernel = 'auto';
    }
    for (const t of [x, x2]) t.destroy();
    layer.destroy();
  });

  it('a stack of 2 layers: the wavefront is timed too, under its own key; auto follows the fastest', async () => {
    const r = await calibrateRecurrent(gpu, {
      cell: 'gru',
      hiddenSize: 10,
      batch: 3,
      numLayers: 2,
      seqLen: 5,
      reps: 1,
    });
    expect(r.key).toBe('gru H10 B3 L2');
    expect(r.key).toBe(recurrentChoiceKey('gru', 10, 3, 2));
    for (const ms of [r.stepMs, r.persistentMs, r.wavefrontMs]) expect(ms).toBeGreaterThan(0);
    expect(Number.isFinite(r.wavefrontMs)).toBe(true);
    const fastest = Math.min(r.stepMs, r.persistentMs, r.wavefrontMs);
    expect(r.choice).toBe(r.stepMs === fastest ? 'step' : r.persistentMs === fastest ? 'persistent' : 'wavefront');
    expect(gpu.tuning.recurrentMeasured[r.key]).toBe(r.choice);
    expect(gpu.tuning.recurrentMeasured['gru H10 B3']).toBeUndefined(); // the one-layer key is not touched
    expect(gpu.tuning.recurrentKernel).toBe('auto');
    // Dispatches of a 2-layer GRU forward at T 9 say which kernel 'auto' ran: step 2·(1 + T),
    // persistent 2·2 (input GEMM + one chunk per layer), wavefront 1 + T + 1.
    const T = 9;
    const x = Tensor.from(gpu, new Float32Array(T * 3 * 4).fill(0.25), [T, 3, 4]);
    const stack = new GRU(gpu, { inputSize: 4, hiddenSize: 10, numLayers: 2, seed: 3 });
    stack.forward(x).output.destroy();
    expect(stack.lastRun!.dispatches).toBe({ step: 2 * (1 + T), persistent: 4, wavefront: T + 2 }[r.choice]);
    // Each measured kernel is followed, the wavefront included (also on this software adapter,
    // where the static rule never picks it), with the step kernels' output.
    const expected = { step: 2 * (1 + T), persistent: 4, wavefront: T + 2 };
    try {
      for (const kernel of ['wavefront', 'step', 'persistent'] as const) {
        gpu.tuning.recurrentMeasured[r.key] = kernel;
        stack.forward(x).output.destroy();
        expect(stack.lastRun!.dispatches, kernel).toBe(expected[kernel]);
      }
      gpu.tuning.recurrentMeasured[r.key] = 'wavefront';
      const want = stack.forward(x);
      gpu.tuning.recurrentMeasured[r.key] = 'step';
      const ref = stack.forward(x);
      assertClose('measured wavefront vs step kernels', await want.output.read(), await ref.output.read(), {
        rtol: 1e-5,
        atol: 1e-6,
      });
      for (const o of [want, ref]) for (const t of [o.output, o.hN]) t.destroy();
    } finally {
      gpu.tuning.recurrentMeasured[r.key] = r.choice;
    }
    x.destroy();
    stack.destroy();
  });

  it('a shape the persistent kernel cannot run measures it as Infinity and keeps the step kernels', async () => {
    const H = gpu.limits.maxComputeWorkgroupStorageSize / 8 + 1;
    const r = await calibrateRecurrent(gpu, { cell: 'gru', hiddenSize: H, batch: 1, inputSize: 2, seqLen: 2, reps: 1 });
    expect(r.persistentMs).toBe(Infinity);
    expect(r.choice).toBe('step');
  });

  it('concurrent calls run one after the other (each restores the tuning it found)', async () => {
    const [a, b] = await Promise.all([
      calibrateRecurrent(gpu, { cell: 'gru', hiddenSize: 5, batch: 2, seqLen: 3, reps: 1 }),
      calibrateRecurrent(gpu, { cell: 'rnn', hiddenSize: 7, batch: 1, seqLen: 3, reps: 1 }),
    ]);
    expect([a.cached, b.cached]).toEqual([false, false]);
    expect(gpu.tuning.recurrentMeasured['gru H5 B2']).toBe(a.choice);
    expect(gpu.tuning.recurrentMeasured['rnn H7 B1']).toBe(b.choice);
    expect(gpu.tuning.recurrentKernel).toBe('auto');
    const gru = new GRU(gpu, { inputSize: 5, hiddenSize: 5, seed: 1 });
    gru.forward(Tensor.from(gpu, new Float32Array(3 * 2 * 5), [3, 2, 5])).output.destroy();
    expect(gru.lastRun!.dispatches).toBe(a.choice === 'persistent' ? 2 : 4);
    gru.destroy();
  });

  it('bad options are ArgumentErrors naming the option, before any GPU work', () => {
    const submits = gpu.stats.submits;
    const measured = { ...gpu.tuning.recurrentMeasured };
    const bad: Array<[unknown, RegExp]> = [
      [{ cell: 'transformer', hiddenSize: 4, batch: 1 }, /cell must be 'rnn', 'lstm' or 'gru', got transformer/],
      [{ cell: 'lstm', hiddenSize: 0, batch: 1 }, /hiddenSize must be an integer in \[1, \d+\], got 0/],
      [{ cell: 'lstm', hiddenSize: 4, batch: 1.5 }, /batch must be an integer in \[1, \d+\], got 1.5/],
      [{ cell: 'lstm', hiddenSize: 4, batch: 1, reps: 0 }, /reps must be an integer in \[1, 1000\], got 0/],
      [{ cell: 'lstm', hiddenSize: 4, batch: 1, seqLen: -1 }, /seqLen must be an integer/],
      [{ cell: 'lstm', hiddenSize: 4, batch: 1, numLayers: 0 }, /numLayers must be an integer in \[1, 16\], got 0/],
      [{ cell: 'gru', hiddenSize: 4, batch: 1, numLayers: 17 }, /numLayers must be an integer in \[1, 16\], got 17/],
      [null, /options must be an object/],
    ];
    for (const [opts, msg] of bad) {
      expect(() => calibrateRecurrent(gpu, opts as never)).toThrow(ArgumentError);
      expect(() => calibrateRecurrent(gpu, opts as never)).toThrow(msg);
    }
    expect(gpu.stats.submits).toBe(submits);
    expect(gpu.tuning.recurrentMeasured).toEqual(measured);
  });
});
