// Issue 20 item 1: loadTfjsModel vs TensorFlow.js. Fixtures (test/fixtures/tfjs/<name>/: model.json,
// weight shards, expected.json) come from test/fixtures/make_tfjs_fixtures.mjs (tfjs 4.22 CPU backend:
// model.save() artifacts and model.predict outputs) and, for the Keras-2-style GRUs with
// reset_after=true that tfjs refuses to run, from test/fixtures/make_tfjs_keras2_fixtures.py
// (PyTorch 1.13 nn.GRU, its own Keras → PyTorch conversion). Tolerance: |seqgpu − expected| ≤
// 1e-5 + 1e-5·|expected| per element (absolute + relative), at batch > 1 and at batch 1, length 1.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ArgumentError,
  KerasRecurrent,
  ShapeError,
  Tensor,
  UnsupportedError,
  loadTfjsModel,
  type Gpu,
  type Sequential,
} from '../../src/index.js';
import { gradCheck } from '../checks/moduleGrad.js';
import { testGpu } from './gpu.js';

interface Case {
  inputShape: number[];
  input: number[];
  outputShape: number[];
  output: number[];
}

const dir = (name: string) => new URL(`../fixtures/tfjs/${name}/`, import.meta.url);

/** model.json, the shards concatenated in manifest order (as tfjs's io hands them), and the expected outputs. */
function fixture(name: string): { modelJson: any; weights: ArrayBuffer; tokens: boolean; cases: Case[] } {
  const modelJson = JSON.parse(readFileSync(new URL('model.json', dir(name)), 'utf8'));
  const parts = modelJson.weightsManifest.flatMap((g: { paths: string[] }) =>
    g.paths.map((p) => readFileSync(new URL(p, dir(name)))),
  );
  const weights = new Uint8Array(parts.reduce((a: number, p: Buffer) => a + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    weights.set(p, at);
    at += p.byteLength;
  }
  const expected = JSON.parse(readFileSync(new URL('expected.json', dir(name)), 'utf8'));
  return { modelJson, weights: weights.buffer, tokens: expected.tokens, cases: expected.cases };
}

/** max over elements of |a − b| / (1e-5 + 1e-5·|b|): ≤ 1 passes the stated tolerance. */
function toleranceRatio(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / (1e-5 + 1e-5 * Math.abs(b[i])));
  return m;
}

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

async function run(model: Sequential, tokens: boolean, c: Case): Promise<Float32Array> {
  const x = Tensor.from(gpu, tokens ? Int32Array.from(c.input) : Float32Array.from(c.input), c.inputShape);
  const y = model.forward(x);
  expect(y.shape).toEqual(c.outputShape);
  const out = await y.read();
  x.destroy();
  y.destroy();
  return out;
}

// lstm, gru, gru_backwards_last, stacked: tfjs's defaults (hard_sigmoid gates, GRU reset_after=false).
const FIXTURES = [
  'lstm',
  'gru',
  'lstm_sigmoid_last',
  'lstm_backwards',
  'gru_backwards_last',
  'simple_rnn',
  'bidir_lstm_ave',
  'bidir_lstm_mul_sum',
  'dense_lstm_backwards',
  'stacked',
  'functional',
  'keras2_gru',
  'keras2_bigru',
];

describe('loadTfjsModel matches TensorFlow.js (and PyTorch for Keras 2 GRUs) within 1e-5', () => {
  for (const name of FIXTURES) {
    it(name, async () => {
      const f = fixture(name);
      const model = await loadTfjsModel(gpu, f.modelJson, f.weights);
      for (const c of f.cases) {
        const out = await run(model, f.tokens, c);
        const ratio = toleranceRatio(out, c.output);
        const maxAbs = Math.max(...Array.from(out, (v, i) => Math.abs(v - c.output[i])));
        console.log(`${name} ${JSON.stringify(c.inputShape)}: max |error| ${maxAbs.toExponential(2)}`);
        expect(ratio, `${name} ${JSON.stringify(c.inputShape)}: max error / tolerance`).toBeLessThanOrEqual(1);
      }
      model.destroy();
    });
  }

  it('names parameters as PyTorch does and accepts the JSON text and ArrayBuffer[]', async () => {
    const f = fixture('keras2_bigru');
    const bytes = new Uint8Array(f.weights);
    const halves = [bytes.slice(0, 100).buffer, bytes.slice(100).buffer];
    const model = await loadTfjsModel(gpu, JSON.stringify(f.modelJson), halves);
    expect(model.namedParameters().map((p) => `${p.name} ${JSON.stringify(p.shape)}`)).toEqual([
      '0.gru.weight_ih_l0 [9,2]',
      '0.gru.weight_hh_l0 [9,3]',
      '0.gru.bias_ih_l0 [9]',
      '0.gru.bias_hh_l0 [9]',
      '0.gru.weight_ih_l0_reverse [9,2]',
      '0.gru.weight_hh_l0_reverse [9,3]',
      '0.gru.bias_ih_l0_reverse [9]',
      '0.gru.bias_hh_l0_reverse [9]',
      '1.weight [2,6]',
      '1.bias [2]',
    ]);
    expect(model.layers[0]).toBeInstanceOf(KerasRecurrent);
    expect(model.layers.map((m) => m.constructor.name)).toEqual(['KerasRecurrent', 'Linear']);
    const c = f.cases[0];
    expect(toleranceRatio(await run(model, false, c), c.output)).toBeLessThanOrEqual(1);
    model.destroy();
  });

  it('the stacked model: PyTorch names, its layers, the JSON text', async () => {
    const f = fixture('stacked');
    const model = await loadTfjsModel(gpu, JSON.stringify(f.modelJson), f.weights);
    expect(model.namedParameters().map((p) => `${p.name} ${JSON.stringify(p.shape)}`)).toEqual([
      '0.weight [11,6]',
      '1.lstm.weight_ih_l0 [36,6]',
      '1.lstm.weight_hh_l0 [36,9]',
      '1.lstm.bias_ih_l0 [36]',
      '1.lstm.bias_hh_l0 [36]',
      '3.gru.weight_ih_l0 [15,9]',
      '3.gru.weight_hh_l0 [15,5]',
      '3.gru.bias_ih_l0 [15]',
      '3.gru.bias_hh_l0 [15]',
      '3.gru.weight_ih_l0_reverse [15,9]',
      '3.gru.weight_hh_l0_reverse [15,5]',
      '3.gru.bias_ih_l0_reverse [15]',
      '3.gru.bias_hh_l0_reverse [15]',
      '4.weight [4,10]',
      '4.bias [4]',
    ]);
    expect(model.layers.map((m) => m.constructor.name)).toEqual([
      'Embedding',
      'KerasRecurrent',
      'Dropout',
      'KerasRecurrent',
      'Linear',
      'Softmax',
    ]);
    const lstm = (model.layers[1] as KerasRecurrent).layer.config;
    const gru = (model.layers[3] as KerasRecurrent).layer.config;
    expect([lstm.recurrentActivation, gru.recurrentActivation, gru.resetAfter]).toEqual([
      'hard_sigmoid',
      'hard_sigmoid',
      false,
    ]);
    const c = f.cases[1];
    expect(toleranceRatio(await run(model, true, c), c.output)).toBeLessThanOrEqual(1);
    model.destroy();
  });
});

/** IEEE half bits of x, which must be exactly representable (a multiple of 2^-24 below 2). */
function halfBits(x: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a < 2 ** -14) return sign | (a / 2 ** -24);
  const e = Math.floor(Math.log2(a));
  return sign | ((e + 15) << 10) | ((a / 2 ** e - 1) * 1024);
}

describe("quantized weights (the tfjs converter's --quantize_uint8 / uint16 / float16)", () => {
  it('decode to q·scale + min (half: IEEE binary16): the same outputs as those values stored as float32', async () => {
    const f = fixture('lstm_sigmoid_last');
    const specs = f.modelJson.weightsManifest[0].weights as Array<{ name: string; shape: number[] }>;
    const floats = new Float32Array(f.weights);
    const quantized: Uint8Array[] = [];
    const dequantized: number[] = [];
    let at = 0;
    const manifest = specs.map((spec, i) => {
      const n = spec.shape.reduce((a, b) => a * b, 1);
      const w = floats.subarray(at, at + n);
      at += n;
      const dtype = (['uint8', 'uint16', 'float16'] as const)[i % 3];
      if (dtype === 'float16') {
        const v = Array.from(w, (x) => Math.round(x * 1024) / 1024);
        quantized.push(new Uint8Array(Uint16Array.from(v, halfBits).buffer));
        dequantized.push(...v);
        return { ...spec, dtype: 'float32', quantization: { dtype } };
      }
      const levels = dtype === 'uint8' ? 255 : 65535;
      const min = Math.min(...w);
      const scale = (Math.max(...w) - min) / levels;
      const q = Array.from(w, (x) => Math.round((x - min) / scale));
      quantized.push(new Uint8Array((dtype === 'uint8' ? Uint8Array.from(q) : Uint16Array.from(q)).buffer));
      dequantized.push(...q.map((k) => k * scale + min));
      return { ...spec, dtype: 'float32', quantization: { dtype, scale, min } };
    });
    expect(at).toBe(floats.length);
    const qJson = { ...f.modelJson, weightsManifest: [{ paths: ['q.bin'], weights: manifest }] };
    const qModel = await loadTfjsModel(
      gpu,
      qJson,
      quantized.map((b) => b.slice().buffer),
    );
    const fModel = await loadTfjsModel(gpu, f.modelJson, Float32Array.from(dequantized).buffer);
    const c = f.cases[0];
    const [a, b] = [await run(qModel, false, c), await run(fModel, false, c)];
    expect(Array.from(a)).toEqual(Array.from(b));
    // uint8 weights move the outputs by about the quantization step, far from tfjs's float32 outputs' 1e-5.
    expect(toleranceRatio(a, c.output)).toBeGreaterThan(1);
    qModel.destroy();
    fModel.destroy();
  });

  it('refuses an unknown quantization dtype, and a quantization without scale', async () => {
    const f = fixture('lstm_sigmoid_last');
    for (const [q, pattern] of [
      [{ dtype: 'int4' }, /'quantization.dtype' is "int4"; supported: 'uint8', 'uint16', 'float16'/],
      [{ dtype: 'uint8', min: 0 }, /needs finite numbers 'scale' and 'min' for uint8, got scale undefined/],
    ] as const) {
      const m = JSON.parse(JSON.stringify(f.modelJson));
      m.weightsManifest[0].weights[0].quantization = q;
      await expect(loadTfjsModel(gpu, m, f.weights)).rejects.toThrow(pattern);
    }
  });
});

describe('a loaded model trains: its backward vs finite differences of its loss', () => {
  // hard_sigmoid gates, go_backwards (the flip's backward), Bidirectional merges mul / sum / ave, the
  // last step (hN sliced). (A tfjs GRU, reset_after=false, is inference only.)
  for (const [name, shape, outShape] of [
    ['lstm', [2, 3, 3], [2, 3, 7]],
    ['lstm_backwards', [2, 4, 3], [2, 4, 5]],
    ['dense_lstm_backwards', [2, 4, 3], [2, 2]],
    ['bidir_lstm_mul_sum', [2, 3, 2], [2, 3, 2]],
    ['bidir_lstm_ave', [3, 3, 3], [3, 3]],
  ] as const)
    it(name, async () => {
      const f = fixture(name);
      const model = await loadTfjsModel(gpu, f.modelJson, f.weights);
      const n = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
      const x = Tensor.from(
        gpu,
        Float32Array.from({ length: n(shape) }, (_, i) => Math.sin(i + 1)),
        shape,
      );
      const y = Tensor.from(
        gpu,
        Float32Array.from({ length: n(outShape) }, (_, i) => Math.cos(i)),
        outShape,
      );
      const { checked } = await gradCheck(model, [x], y, { samples: 2, seed: 5, nonZero: true });
      expect(checked).toBe(2 * model.namedParameters().length);
      x.destroy();
      y.destroy();
      model.destroy();
    });
});

describe('loadTfjsModel refuses bad files before creating any GPU buffer', () => {
  /** Expects `load` to reject with `cls` whose message matches every pattern, with no buffer created. */
  async function refuses(load: () => Promise<unknown>, cls: typeof ArgumentError, patterns: RegExp[]) {
    const before = gpu.pool.stats.created;
    const live = gpu.memory().liveBuffers;
    const err = await load().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(cls);
    for (const p of patterns) expect((err as Error).message).toMatch(p);
    expect(gpu.pool.stats.created - before, 'buffers created').toBe(0);
    expect(gpu.memory().liveBuffers).toBe(live);
  }
  const clone = (o: unknown) => JSON.parse(JSON.stringify(o));

  it('truncated or overlong weight data (byte for byte against the manifest)', async () => {
    const f = fixture('lstm');
    await refuses(() => loadTfjsModel(gpu, f.modelJson, f.weights.slice(0, f.weights.byteLength - 4)), ShapeError, [
      /'weightData' has 1228 bytes but the manifest's 3 weights take 1232/,
      /ends inside .*'lstm_LSTM1\/bias'/,
    ]);
    const longer = new Uint8Array(f.weights.byteLength + 2);
    longer.set(new Uint8Array(f.weights));
    await refuses(() => loadTfjsModel(gpu, f.modelJson, longer.buffer), ShapeError, [/2 bytes past the last weight/]);
  });

  it('a functional model that is not one chain (a merge, a layer off the chain, two outputs)', async () => {
    const f = fixture('functional');
    const layers = (m: any) => m.modelTopology.config.layers;
    const edits: Array<[(m: any) => void, RegExp]> = [
      [
        (m) => layers(m)[3].inbound_nodes[0].push(['input1', 0, 0, {}]),
        /layer Dense 'dense_Dense\d+' of the functional model is called 1 time\(s\) on 2 input\(s\)/,
      ],
      [
        (m) => (layers(m)[3].inbound_nodes[0][0][0] = layers(m)[1].name),
        /layers off the input → output chain \('gru_GRU\d+'\)/,
      ],
      [
        (m) => m.modelTopology.config.output_layers.push(['gru', 0, 0]),
        /'output_layers' is .*; supported: one output_layer/,
      ],
    ];
    for (const [edit, pattern] of edits) {
      const m = clone(f.modelJson);
      edit(m);
      await refuses(() => loadTfjsModel(gpu, m, f.weights), UnsupportedError, [pattern]);
    }
  });

  it('a layer too large for the device (checked for every layer before the first is built)', async () => {
    const f = fixture('stacked');
    const saved = gpu.limits.maxStorageBufferBindingSize;
    try {
      // The Dense kernel [4, 10] takes 160 bytes; the LSTM's weight_ih [36, 6] 864.
      gpu.limits.maxStorageBufferBindingSize = 128;
      await refuses(() => loadTfjsModel(gpu, f.modelJson, f.weights), ShapeError, [
        /layer Embedding 'embedding_Embedding\d+': parameter 'weight' \[11, 6\] takes 264 bytes; the largest .* is 128/,
      ]);
      gpu.limits.maxStorageBufferBindingSize = 512;
      await refuses(() => loadTfjsModel(gpu, f.modelJson, f.weights), ShapeError, [/layer LSTM 'lstm_LSTM\d+'/, /512/]);
    } finally {
      gpu.limits.maxStorageBufferBindingSize = saved;
    }
  });

  it('a weight dtype other than float32', async () => {
    const f = fixture('gru');
    const m = clone(f.modelJson);
    m.weightsManifest[0].weights[1].dtype = 'int32';
    await refuses(() => loadTfjsModel(gpu, m, f.weights), ArgumentError, [
      /weights\[1\] \('gru_GRU\d+\/recurrent_kernel'\)/,
      /field 'dtype' is "int32"; allowed: 'float32'/,
    ]);
  });

  it('an unknown layer class, named with its name and the supported classes', async () => {
    const f = fixture('simple_rnn');
    const m = clone(f.modelJson);
    m.modelTopology.config.layers[1].class_name = 'Conv1D';
    await refuses(() => loadTfjsModel(gpu, m, f.weights), UnsupportedError, [
      /layer Conv1D 'time_distributed_TimeDistributed\d+'/,
      /class 'Conv1D' is not supported; supported: InputLayer, Embedding, LSTM, GRU/,
    ]);
  });

  it('an LSTM whose activation is relu (after an Embedding was read: still nothing built)', async () => {
    const f = fixture('stacked');
    const m = clone(f.modelJson);
    m.modelTopology.config.layers[1].config.activation = 'relu';
    await refuses(() => loadTfjsModel(gpu, m, f.weights), UnsupportedError, [
      /layer LSTM 'lstm_LSTM\d+': field 'activation' is "relu"; supported: 'tanh'/,
    ]);
  });

  it('return_state, stateful, mask_zero, a Dense activation, a merge mode, a shape that disagrees', async () => {
    const f = fixture('stacked');
    const edits: Array<[(m: any) => void, typeof ArgumentError, RegExp]> = [
      [
        (m) => (m.modelTopology.config.layers[1].config.return_state = true),
        UnsupportedError,
        /'return_state' is true/,
      ],
      [(m) => (m.modelTopology.config.layers[1].config.stateful = true), UnsupportedError, /'stateful' is true/],
      [(m) => (m.modelTopology.config.layers[0].config.mask_zero = true), UnsupportedError, /'mask_zero' is true/],
      [
        (m) => (m.modelTopology.config.layers[4].config.activation = 'elu'),
        UnsupportedError,
        /layer Dense 'dense_Dense\d+': field 'activation' is "elu"; supported: 'linear', 'relu'/,
      ],
      [
        (m) => (m.modelTopology.config.layers[3].config.merge_mode = null),
        UnsupportedError,
        /field 'merge_mode' is null; allowed: 'concat', 'sum', 'mul', 'ave'/,
      ],
      [
        (m) => (m.modelTopology.config.layers[4].config.units = 5),
        ShapeError,
        /weight 'dense_Dense\d+\/kernel' has shape \[10, 4\], expected \[inFeatures, 5\]/,
      ],
      [
        (m) => (m.weightsManifest[0].weights[3].name = 'other/bias'),
        ArgumentError,
        /'other\/bias' belongs to no layer/,
      ],
    ];
    for (const [edit, cls, pattern] of edits) {
      const m = clone(f.modelJson);
      edit(m);
      await refuses(() => loadTfjsModel(gpu, m, f.weights), cls, [pattern]);
    }
  });
});
