// The recurrent layers' scheduler and API contract: dispatch and submit counts, no allocation
// in steady state, PyTorch state_dict names, and clear errors on bad input (layer usable after).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Gpu, LSTM, GRU, RNN, Tensor, ArgumentError, repackWhh, unpackWhh } from '../../src/index.js';
import { uniform, rng } from '../../src/util/random.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

describe('recording scheduler', () => {
  it('runs a 3-layer bidirectional LSTM forward as L·D·(1 GEMM + T steps) dispatches in ONE submit', async () => {
    const [L, D, T, B, I, H] = [3, 2, 7, 3, 5, 11];
    const lstm = new LSTM(gpu, { inputSize: I, hiddenSize: H, numLayers: L, bidirectional: true, seed: 1 });
    const x = Tensor.from(gpu, uniform(rng(1), T * B * I), [T, B, I]);
    const before = { ...gpu.stats };
    const out = lstm.forward(x);
    expect(gpu.stats.submits - before.submits).toBe(1);
    expect(gpu.stats.dispatches - before.dispatches).toBe(L * D * (1 + T));
    expect(lstm.lastRun).toEqual({ seqLen: T, batch: B, dispatches: L * D * (1 + T), submits: 1 });
    expect(out.output.shape).toEqual([T, B, D * H]);
    expect(out.hN.shape).toEqual([L * D, B, H]);
    expect(out.cN!.shape).toEqual([L * D, B, H]);
    for (const t of [x, out.output, out.hN, out.cN]) t?.destroy();
    lstm.destroy();
  });

  it('allocates no buffer, pipeline or plan on a repeated forward of the same shape', async () => {
    const gru = new GRU(gpu, { inputSize: 6, hiddenSize: 9, numLayers: 2, batchFirst: true, seed: 2 });
    const x = Tensor.from(gpu, uniform(rng(2), 4 * 5 * 6), [4, 5, 6]);
    const run = async () => {
      const { output, hN } = gru.forward(x);
      const v = await output.read();
      output.destroy();
      hN.destroy();
      return v;
    };
    const first = await run();
    const created = gpu.pool.stats.created;
    const pipelines = gpu.stats.pipelinesCreated;
    for (let i = 0; i < 5; i++) expect(await run()).toEqual(first);
    expect(gpu.pool.stats.created).toBe(created);
    expect(gpu.stats.pipelinesCreated).toBe(pipelines);
    x.destroy();
    gru.destroy();
  });

  it('step-wise inference is one dispatch pair and one submit per token', () => {
    const rnn = new RNN(gpu, { inputSize: 3, hiddenSize: 8, numLayers: 2, seed: 3 });
    const stepper = rnn.createStepper(1);
    const x = Tensor.from(gpu, [0.1, 0.2, 0.3], [1, 3]);
    stepper.step(x).destroy();
    const before = { ...gpu.stats };
    stepper.step(x).destroy();
    expect(gpu.stats.submits - before.submits).toBe(1);
    expect(gpu.stats.dispatches - before.dispatches).toBe(2 * 2); // 2 layers × (GEMM + 1 step)
    stepper.destroy();
    x.destroy();
    rnn.destroy();
  });

  it('destroying a layer returns all its buffers to the pool', async () => {
    const inUse = gpu.pool.stats.inUse;
    const lstm = new LSTM(gpu, { inputSize: 4, hiddenSize: 4, numLayers: 2, bidirectional: true });
    const x = Tensor.zeros(gpu, [3, 2, 4]);
    const out = lstm.forward(x);
    for (const t of [x, out.output, out.hN, out.cN]) t?.destroy();
    lstm.destroy();
    expect(gpu.pool.stats.inUse).toBe(inUse);
  });
});

describe('PyTorch weight layout', () => {
  it('repacks W_hh for the kernels and back, losslessly, for every cell and odd sizes', () => {
    for (const cell of ['rnn', 'lstm', 'gru'] as const) {
      for (const H of [1, 5, 33]) {
        const G = { rnn: 1, lstm: 4, gru: 3 }[cell];
        const w = uniform(rng(H), G * H * H);
        expect(unpackWhh(cell, repackWhh(cell, w, H), H)).toEqual(w);
      }
    }
  });

  it('LSTM repack puts gates i,f,g,o of unit j in one vec4', () => {
    const H = 2;
    const w = Float32Array.from({ length: 4 * H * H }, (_, i) => i); // row r = gate·H + j, column k
    const p = repackWhh('lstm', w, H);
    // Wp[k=1, j=0] = (W[0,1], W[2,1], W[4,1], W[6,1])
    expect(Array.from(p.subarray(8, 12))).toEqual([1, 5, 9, 13]);
  });

  it('stateDict() returns exactly what loadStateDict() loaded, under PyTorch names and shapes', async () => {
    const lstm = new LSTM(gpu, { inputSize: 3, hiddenSize: 5, numLayers: 2, bidirectional: true, seed: 4 });
    const sd = await lstm.stateDict();
    expect(Object.keys(sd)).toEqual([
      'weight_ih_l0',
      'weight_hh_l0',
      'bias_ih_l0',
      'bias_hh_l0',
      'weight_ih_l0_reverse',
      'weight_hh_l0_reverse',
      'bias_ih_l0_reverse',
      'bias_hh_l0_reverse',
      'weight_ih_l1',
      'weight_hh_l1',
      'bias_ih_l1',
      'bias_hh_l1',
      'weight_ih_l1_reverse',
      'weight_hh_l1_reverse',
      'bias_ih_l1_reverse',
      'bias_hh_l1_reverse',
    ]);
    expect(sd.weight_ih_l1.shape).toEqual([20, 10]);
    expect(sd.weight_hh_l0_reverse.shape).toEqual([20, 5]);
    // PyTorch init bound 1/√H
    expect(Math.max(...sd.weight_hh_l0.data.map(Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(5));
    const other = new LSTM(gpu, { inputSize: 3, hiddenSize: 5, numLayers: 2, bidirectional: true, seed: 99 });
    other.loadStateDict(sd);
    const back = await other.stateDict();
    for (const k of Object.keys(sd)) expect(back[k].data).toEqual(sd[k].data);
    lstm.destroy();
    other.destroy();
  });

  it('accepts nested arrays (tensor.tolist() exported to JSON)', async () => {
    const rnn = new RNN(gpu, { inputSize: 2, hiddenSize: 1, bias: false });
    rnn.loadStateDict({ weight_ih_l0: [[0.5, -0.25]], weight_hh_l0: [[0.75]] });
    const sd = await rnn.stateDict();
    expect(Array.from(sd.weight_ih_l0.data)).toEqual([0.5, -0.25]);
    expect(Array.from(sd.weight_hh_l0.data)).toEqual([0.75]);
    rnn.destroy();
  });
});

describe('bad input: clear errors before GPU work, layer still usable', () => {
  let lstm: LSTM;
  let x: Tensor;
  let reference: Float32Array;
  const made: Tensor[] = [];
  const T = (shape: number[]) => {
    const t = Tensor.zeros(gpu, shape);
    made.push(t);
    return t;
  };
  beforeAll(async () => {
    lstm = new LSTM(gpu, { inputSize: 4, hiddenSize: 3, numLayers: 2, seed: 5 });
    x = Tensor.from(gpu, uniform(rng(5), 2 * 3 * 4), [2, 3, 4]);
    const out = lstm.forward(x);
    reference = await out.output.read();
  });
  afterAll(() => {
    made.forEach((t) => t.destroy());
    x.destroy();
    lstm.destroy();
  });

  const good = () => lstm.stateDict();
  const cases: Array<[string, () => unknown, RegExp]> = [
    [
      'input rank',
      () => lstm.forward(T([3, 4])),
      /LSTM.forward: argument 'input' has shape \[3, 4\] \(rank 2\), expected rank 3/,
    ],
    [
      'input size',
      () => lstm.forward(T([2, 3, 5])),
      /last dimension must be inputSize=4 \(layout \[seqLen, batch, inputSize\]\)/,
    ],
    [
      'h0 shape',
      () => lstm.forward(x, { h0: T([2, 2, 3]) }),
      /argument 'h0' has shape \[2, 2, 3\], expected \[2, 3, 3\]/,
    ],
    [
      'c0 shape',
      () => lstm.forward(x, { c0: T([1, 3, 3]) }),
      /argument 'c0' has shape \[1, 3, 3\], expected \[2, 3, 3\]/,
    ],
    [
      'hiddenSize 0',
      () => new LSTM(gpu, { inputSize: 4, hiddenSize: 0 }),
      /LSTM: option 'hiddenSize' must be a positive integer, got 0/,
    ],
    [
      'inputSize -1',
      () => new GRU(gpu, { inputSize: -1, hiddenSize: 3 }),
      /GRU: option 'inputSize' must be a positive integer, got -1/,
    ],
    [
      'numLayers 1.5',
      () => new GRU(gpu, { inputSize: 1, hiddenSize: 3, numLayers: 1.5 }),
      /option 'numLayers' must be a positive integer, got 1.5/,
    ],
    [
      'nonlinearity',
      () => new RNN(gpu, { inputSize: 1, hiddenSize: 3, nonlinearity: 'gelu' as 'tanh' }),
      /nonlinearity must be 'tanh' or 'relu', got 'gelu'/,
    ],
    [
      'stepper on bidirectional',
      () => new GRU(gpu, { inputSize: 1, hiddenSize: 1, bidirectional: true }).createStepper(1),
      /bidirectional layer needs the whole sequence/,
    ],
  ];
  for (const [name, f, message] of cases) {
    it(name, () => {
      const submits = gpu.stats.submits;
      expect(f).toThrow(ArgumentError);
      expect(f).toThrow(message);
      expect(gpu.stats.submits).toBe(submits);
    });
  }

  const dictCases: Array<[string, (sd: Record<string, { shape: number[]; data: Float32Array }>) => void, RegExp]> = [
    [
      'missing key',
      (sd) => delete (sd as Record<string, unknown>).bias_hh_l1,
      /state_dict is missing 'bias_hh_l1' \(expected shape \[12\]\)/,
    ],
    [
      'misshaped key',
      (sd) => (sd.weight_ih_l1 = { shape: [12, 4], data: new Float32Array(48) }),
      /state_dict\['weight_ih_l1'\] has shape \[12, 4\], expected \[12, 3\]/,
    ],
    [
      'wrong length',
      (sd) => (sd.weight_hh_l0 = { shape: [12, 3], data: new Float32Array(35) }),
      /state_dict\['weight_hh_l0'\] has 35 values, expected 36/,
    ],
    [
      'NaN weight',
      (sd) => (sd.weight_hh_l1.data[7] = NaN),
      /state_dict\['weight_hh_l1'\] holds NaN at index 7: weights must be finite/,
    ],
    ['Inf bias', (sd) => (sd.bias_ih_l0.data[0] = Infinity), /state_dict\['bias_ih_l0'\] holds Infinity at index 0/],
    [
      'unexpected key',
      (sd) => ((sd as Record<string, unknown>).weight_ih_l2 = sd.weight_ih_l1),
      /unexpected key\(s\) 'weight_ih_l2'/,
    ],
  ];
  for (const [name, corrupt, message] of dictCases) {
    it(`loadStateDict: ${name}`, async () => {
      const sd = await good();
      corrupt(sd);
      const submits = gpu.stats.submits;
      expect(() => lstm.loadStateDict(sd)).toThrow(message);
      expect(gpu.stats.submits).toBe(submits);
      // Weights unchanged: the next valid call gives the same output as before.
      const out = lstm.forward(x);
      expect(await out.output.read()).toEqual(reference);
      out.output.destroy();
      out.hN.destroy();
      out.cN?.destroy();
    });
  }
});
