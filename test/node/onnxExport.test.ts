// exportOnnx: each model is exported ONCE (dynamic batch and sequence axes) and run in
// onnxruntime-web's wasm backend at two batch sizes and two lengths; its outputs must be within
// 1e-5·(1 + |y|) of seqgpu's own forward on the same inputs (SwiftShader f32 vs ORT's CPU f32).
import { readFileSync, readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ArgumentError,
  ExportError,
  F,
  GELU,
  GLU,
  GRU,
  LayerNorm,
  LSTM,
  MultiheadAttention,
  RNN,
  Linear,
  Module,
  ReLU,
  Sequential,
  SequenceModel,
  Sigmoid,
  Softmax,
  Tanh,
  Tensor,
  Trainer,
  exportOnnx,
  TransformerEncoder,
  TransformerEncoderLayer,
  TransformerLM,
  loadTfjsModel,
  type Gpu,
} from '../../src/index.js';
import { rng, uniform } from '../checks/util.js';
import { testGpu } from './gpu.js';
import { readOnnx } from './onnxRead.js';
import { Tagger } from './tagger.js';

type Ort = typeof import('onnxruntime-web');
let gpu: Gpu;
let ort: Ort;
beforeAll(async () => {
  gpu = await testGpu();
  ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = 1;
});
afterAll(() => gpu?.destroy());

/** Deterministic values in [−1, 1). */
const values = (n: number, seed: number): Float32Array => uniform(rng(seed), n);

/** Token ids in [1, vocab). */
function ids(n: number, vocab: number, seed: number): Int32Array {
  return Int32Array.from(values(n, seed), (v) => 1 + Math.floor(((v + 1) / 2) * (vocab - 1)));
}

type Feed = { name: string; data: Float32Array | Int32Array; shape: number[] };

/** The ONNX model's outputs on `feeds` (onnxruntime-web, wasm). */
async function runOrt(bytes: Uint8Array, feeds: Feed[]): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
  try {
    const inputs = Object.fromEntries(
      feeds.map((f) => [
        f.name,
        f.data instanceof Int32Array
          ? new ort.Tensor('int32', f.data, f.shape)
          : new ort.Tensor('float32', f.data, f.shape),
      ]),
    );
    const out = await session.run(inputs);
    const res: Record<string, Float32Array> = {};
    for (const [k, t] of Object.entries(out)) res[k] = (await t.getData()) as Float32Array;
    return res;
  } finally {
    await session.release();
  }
}

/** seqgpu's forward on feeds (tensors in, results read back by output name). */
async function seqgpuOutputs(
  forward: (...xs: Tensor[]) => unknown,
  feeds: Feed[],
  names: string[],
): Promise<Record<string, Float32Array>> {
  const ts = feeds.map((f) => Tensor.from(gpu, f.data, f.shape));
  const r = forward(...ts);
  const list: Tensor[] = r instanceof Tensor ? [r] : names.map((n) => (r as Record<string, Tensor>)[n]);
  const out: Record<string, Float32Array> = {};
  for (const [i, t] of list.entries()) {
    const d = await t.read();
    out[names[i]] = d instanceof Float32Array ? d : Float32Array.from(d);
    t.destroy();
  }
  for (const t of ts) t.destroy();
  return out;
}

/** Exported once; compared at each of `cases` (feeds per case). Returns the largest error seen. */
async function matches(
  bytes: Uint8Array,
  forward: (...xs: Tensor[]) => unknown,
  cases: Feed[][],
  names: string[],
): Promise<number> {
  let worst = 0;
  for (const feeds of cases) {
    const want = await seqgpuOutputs(forward, feeds, names);
    const got = await runOrt(bytes, feeds);
    // max |ORT − seqgpu| / (1 + |seqgpu|) over every output element.
    for (const n of names) {
      const [a, b] = [got[n], want[n]];
      expect(a?.length, `output ${n}`).toBe(b.length);
      a.forEach((x, i) => (worst = Math.max(worst, Math.abs(x - b[i]) / (1 + Math.abs(b[i])))));
    }
  }
  expect(worst).toBeLessThan(1e-5);
  return worst;
}

const f32 = (name: string, shape: number[], seed: number): Feed => ({
  name,
  data: values(
    shape.reduce((a, b) => a * b, 1),
    seed,
  ),
  shape,
});

describe('exportOnnx', () => {
  it('an MLP (Linear, GELU erf / tanh, ReLU, Sigmoid, Tanh, Softmax) over [batch, seq, 6], dynamic axes', async () => {
    const mlp = new Sequential(gpu, [
      new Linear(gpu, { inFeatures: 6, outFeatures: 16 }),
      new GELU(gpu),
      new Linear(gpu, { inFeatures: 16, outFeatures: 12 }),
      new GELU(gpu, { approximate: 'tanh' }),
      new Linear(gpu, { inFeatures: 12, outFeatures: 10 }),
      new ReLU(gpu),
      new Sigmoid(gpu),
      new Tanh(gpu),
      new Linear(gpu, { inFeatures: 10, outFeatures: 4 }),
      new Softmax(gpu),
    ]);
    mlp.eval();
    const bytes = await exportOnnx(mlp, { inputs: [{ name: 'x', shape: ['batch', 'seq', 6] }] });
    const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
    expect(session.inputNames).toEqual(['x']);
    expect(session.outputNames).toEqual(['output']);
    await session.release();
    // The file read back: opset 13 (nothing newer needed), dynamic axes by name, PyTorch's weight names.
    const read = readOnnx(bytes);
    expect(read.opsets).toEqual([{ domain: '', version: 13 }]);
    expect(read.inputs).toEqual([{ name: 'x', elemType: 1, dims: ['batch', 'seq', 6] }]);
    expect(read.outputs).toEqual([{ name: 'output', elemType: 1, dims: ['batch', 'seq', 4] }]);
    const params = mlp.namedParameters().map((p) => p.name);
    expect(read.initializers.filter((i) => params.includes(i.name)).map((i) => i.name)).toEqual(params);
    expect(read.initializers.find((i) => i.name === '2.weight')!.dims).toEqual([12, 16]);
    expect(read.opTypes).toContain('Erf');
    const cases = [[f32('x', [1, 3, 6], 1)], [f32('x', [4, 7, 6], 2)]];
    const err = await matches(bytes, (x) => mlp.forward(x), cases, ['output']);
    console.log(`MLP max rel error ${err.toExponential(2)}`);
    // A matrix input: Gemm.
    const bytes2 = await exportOnnx(mlp, { inputs: [{ name: 'x', shape: ['batch', 6] }], opset: 20 });
    expect(readOnnx(bytes2).opsets).toEqual([{ domain: '', version: 20 }]);
    expect(readOnnx(bytes2).opTypes.filter((t) => t === 'Gelu' || t === 'Gemm')).toEqual([
      'Gemm',
      'Gelu',
      'Gemm',
      'Gelu',
      'Gemm',
      'Gemm',
    ]);
    await matches(bytes2, (x) => mlp.forward(x), [[f32('x', [1, 6], 3)], [f32('x', [9, 6], 4)]], ['output']);
    mlp.destroy();
  });

  it('F ops (sub, mul, scale, transpose, bmm, matmul, mean, slice, concat, reshape), opsets 13 and 18', async () => {
    class Ops extends Module {
      readonly lin = new Linear(gpu, { inFeatures: 4, outFeatures: 6 });
      forward(x: Tensor, y: Tensor) {
        const a = F.sub(F.mul(this.lin.forward(x), y), F.scale(y, 0.5)); // [B, T, 6]
        const scores = F.bmm(a, F.transpose(a, 1, 2)); // [B, T, T]
        const m = F.mean(scores, -1, true); // [B, T, 1]
        const c = F.concat([F.slice(a, 2, 1, 4), m, F.tanh(m)], -1); // [B, T, 5]
        const rows = F.reshape(c, [-1, 5]); // [B·T, 5]
        const gram = F.matmul(rows, rows, { transposeA: true }); // [5, 5]
        return { c: F.softmax(c), gram: F.mean(gram, 0), scores: F.relu(scores) };
      }
    }
    const m = new Ops(gpu);
    const inputs = [
      { name: 'x', shape: ['batch', 'seq', 4] },
      { name: 'y', shape: ['batch', 'seq', 6] },
    ];
    const cases = [
      [f32('x', [1, 2, 4], 21), f32('y', [1, 2, 6], 22)],
      [f32('x', [3, 5, 4], 23), f32('y', [3, 5, 6], 24)],
    ];
    for (const opset of [13, 18]) {
      const bytes = await exportOnnx(m, { inputs, opset });
      expect(readOnnx(bytes).outputs.map((o) => [o.name, o.dims])).toEqual([
        ['c', ['batch', 'seq', 5]],
        ['gram', [5]],
        ['scores', ['batch', 'seq', 'seq']],
      ]);
      const err = await matches(bytes, (x, y) => m.forward(x, y), cases, ['c', 'gram', 'scores']);
      console.log(`F ops at opset ${opset} max rel error ${err.toExponential(2)}`);
    }
    m.destroy();
  });

  it('SequenceModel: LSTM on tokens (logits, hN, cN); bidirectional GRU on values (many-to-one)', async () => {
    const lstm = new SequenceModel(gpu, {
      cell: 'lstm',
      vocabSize: 11,
      embeddingDim: 5,
      hiddenSize: 7,
      numLayers: 2,
      outputSize: 6,
      mode: 'manyToMany',
      loss: 'crossEntropy',
      seed: 3,
    });
    const net = lstm['net'];
    const inUse = gpu.memory().pool.inUse;
    const bytes = await exportOnnx(lstm, { inputs: [{ name: 'tokens', shape: ['seq', 'batch'], dtype: 'i32' }] });
    // The two traces' recurrent plans were released.
    expect(gpu.memory().pool.inUse).toBe(inUse);
    const tok = (T: number, B: number, seed: number): Feed[] => [
      { name: 'tokens', data: ids(T * B, 11, seed), shape: [T, B] },
    ];
    const names = ['logits', 'hN', 'cN'];
    const read = readOnnx(bytes);
    expect(read.inputs).toEqual([{ name: 'tokens', elemType: 6, dims: ['seq', 'batch'] }]);
    expect(read.outputs.map((o) => [o.name, o.dims])).toEqual([
      ['logits', ['seq', 'batch', 6]],
      ['hN', [2, 'batch', 7]],
      ['cN', [2, 'batch', 7]],
    ]);
    expect(read.opTypes.filter((t) => t === 'LSTM')).toHaveLength(2);
    expect(read.initializers.map((i) => i.name)).toEqual(expect.arrayContaining(Object.keys(await lstm.stateDict())));
    const err = await matches(bytes, (x) => net.forward(x), [tok(4, 1, 1), tok(9, 3, 2)], names);
    console.log(`SequenceModel LSTM max rel error ${err.toExponential(2)}`);
    lstm.destroy();

    const gru = new SequenceModel(gpu, {
      cell: 'gru',
      inputSize: 3,
      hiddenSize: 6,
      numLayers: 2,
      bidirectional: true,
      outputSize: 2,
      mode: 'manyToOne',
      loss: 'mse',
      seed: 5,
    });
    const gnet = gru['net'];
    const gbytes = await exportOnnx(gru, { inputs: [{ name: 'x', shape: ['seq', 'batch', 3] }] });
    const gerr = await matches(
      gbytes,
      (x) => gnet.forward(x),
      [[f32('x', [5, 1, 3], 3)], [f32('x', [8, 4, 3], 4)]],
      ['logits', 'hN'],
    );
    console.log(`SequenceModel GRU max rel error ${gerr.toExponential(2)}`);
    gru.destroy();
  });

  it('the Tagger (Embedding paddingIdx → bidirectional batchFirst LSTM → Dropout → Linear)', async () => {
    const tagger = new Tagger(gpu, 0.3);
    const bytes = await exportOnnx(tagger, { inputs: [{ name: 'tokens', shape: ['batch', 'seq'], dtype: 'i32' }] });
    tagger.eval();
    const tok = (B: number, T: number, seed: number): Feed[] => {
      const data = ids(B * T, 20, seed);
      data[0] = 0; // the padding row
      return [{ name: 'tokens', data, shape: [B, T] }];
    };
    const err = await matches(bytes, (x) => tagger.forward(x), [tok(1, 3, 5), tok(5, 8, 6)], ['output']);
    console.log(`Tagger max rel error ${err.toExponential(2)}`);
    tagger.destroy();
  });

  it('TransformerEncoder x2 + norm: batch-first post-norm ReLU; time-major causal pre-norm GELU', async () => {
    const encoder = (batchFirst: boolean, normFirst: boolean) => {
      const layer = new TransformerEncoderLayer(gpu, {
        dModel: 8,
        nhead: 2,
        dimFeedforward: 12,
        dropout: 0.1,
        batchFirst,
        normFirst,
        activation: normFirst ? 'gelu' : 'relu',
        seed: 7,
      });
      const norm = new LayerNorm(gpu, { normalizedShape: [8] });
      const enc = new TransformerEncoder(gpu, { layer, numLayers: 2, norm });
      layer.destroy();
      return enc.eval();
    };
    const post = encoder(true, false);
    const bytes = await exportOnnx(post, { inputs: [{ name: 'src', shape: ['batch', 'seq', 8] }] });
    const read = readOnnx(bytes);
    expect(read.opsets).toEqual([{ domain: '', version: 17 }]); // LayerNormalization
    expect(read.outputs).toEqual([{ name: 'output', elemType: 1, dims: ['batch', 'seq', 8] }]);
    expect(read.initializers.map((i) => i.name)).toEqual(expect.arrayContaining(Object.keys(await post.stateDict())));
    const err = await matches(
      bytes,
      (x) => post.forward(x),
      [[f32('src', [1, 4, 8], 7)], [f32('src', [3, 9, 8], 8)]],
      ['output'],
    );
    console.log(`TransformerEncoder max rel error ${err.toExponential(2)}`);
    post.destroy();

    // isCausal is a forward option: a wrapper passes it.
    class Causal extends Module {
      constructor(readonly enc: TransformerEncoder) {
        super(gpu);
      }
      forward(x: Tensor): Tensor {
        return this.enc.forward(x, { isCausal: true });
      }
    }
    const causal = new Causal(encoder(false, true)).eval();
    const cbytes = await exportOnnx(causal, { inputs: [{ name: 'src', shape: ['seq', 'batch', 8] }], outputs: ['y'] });
    const cerr = await matches(
      cbytes,
      (x) => causal.forward(x),
      [[f32('src', [4, 1, 8], 9)], [f32('src', [7, 3, 8], 10)]],
      ['y'],
    );
    console.log(`causal pre-norm TransformerEncoder max rel error ${cerr.toExponential(2)}`);
    causal.destroy();
  });

  it('TransformerLM: learned positions with a tied head, and sinusoidal positions with its own head', async () => {
    for (const [positional, tieWeights] of [
      ['learned', true],
      ['sinusoidal', false],
    ] as const) {
      const lm = new TransformerLM(gpu, {
        vocabSize: 13,
        dModel: 8,
        nhead: 2,
        numLayers: 2,
        dimFeedforward: 16,
        maxSeqLen: 16,
        dropout: 0.1,
        positional,
        tieWeights,
        seed: 11,
      }).eval();
      const bytes = await exportOnnx(lm, { inputs: [{ name: 'tokens', shape: ['batch', 'seq'], dtype: 'i32' }] });
      const tok = (B: number, T: number, seed: number): Feed[] => [
        { name: 'tokens', data: ids(B * T, 13, seed), shape: [B, T] },
      ];
      const err = await matches(bytes, (x) => lm.forward(x), [tok(1, 5, 11), tok(4, 12, 12)], ['output']);
      console.log(`TransformerLM (${positional}, tied ${tieWeights}) max rel error ${err.toExponential(2)}`);
      lm.destroy();
    }
  });

  it('RNN (relu, bidirectional, h0), LSTM (hard_sigmoid, batchFirst, h0, c0), GRU (reset_after=false)', async () => {
    class WithState extends Module {
      constructor(readonly rnn: RNN | LSTM | GRU) {
        super(gpu);
      }
      forward(x: Tensor, h0: Tensor, c0?: Tensor) {
        return this.rnn.forward(x, c0 ? { h0, c0 } : { h0 });
      }
    }
    const layers = [
      new RNN(gpu, { inputSize: 3, hiddenSize: 5, numLayers: 2, bidirectional: true, nonlinearity: 'relu' }),
      new LSTM(gpu, {
        inputSize: 3,
        hiddenSize: 5,
        numLayers: 2,
        batchFirst: true,
        recurrentActivation: 'hard_sigmoid',
      }),
      new GRU(gpu, { inputSize: 3, hiddenSize: 5, resetAfter: false } as never),
    ];
    for (const layer of layers) {
      const m = new WithState(layer).eval();
      const { numLayers: L, bidirectional, batchFirst } = layer.config;
      const D = bidirectional ? 2 : 1;
      const lstm = layer instanceof LSTM;
      const inputs = [
        { name: 'x', shape: batchFirst ? ['batch', 'seq', 3] : ['seq', 'batch', 3] },
        { name: 'h0', shape: [L * D, 'batch', 5] },
        ...(lstm ? [{ name: 'c0', shape: [L * D, 'batch', 5] }] : []),
      ];
      const bytes = await exportOnnx(m, { inputs });
      const feeds = (B: number, T: number, seed: number): Feed[] => [
        f32('x', batchFirst ? [B, T, 3] : [T, B, 3], seed),
        f32('h0', [L * D, B, 5], seed + 1),
        ...(lstm ? [f32('c0', [L * D, B, 5], seed + 2)] : []),
      ];
      const names = lstm ? ['output', 'hN', 'cN'] : ['output', 'hN'];
      const err = await matches(
        bytes,
        (...xs) => m.forward(xs[0], xs[1], xs[2]),
        [feeds(1, 4, 1), feeds(3, 7, 2)],
        names,
      );
      console.log(`${layer.constructor.name} with state max rel error ${err.toExponential(2)}`);
      m.destroy();
    }
  });

  it('MultiheadAttention: cross-attention with kdim / vdim, f32 attnMask + i32 keyPaddingMask, weights', async () => {
    class Cross extends Module {
      readonly mha = new MultiheadAttention(gpu, { embedDim: 8, numHeads: 2, kdim: 5, vdim: 6, seed: 4 });
      forward(q: Tensor, k: Tensor, v: Tensor, attnMask: Tensor, keyPaddingMask: Tensor) {
        return this.mha.forward(q, k, v, { attnMask, keyPaddingMask, needWeights: true });
      }
    }
    const m = new Cross(gpu).eval();
    const bytes = await exportOnnx(m, {
      inputs: [
        { name: 'q', shape: ['tq', 'batch', 8] },
        { name: 'k', shape: ['tk', 'batch', 5] },
        { name: 'v', shape: ['tk', 'batch', 6] },
        { name: 'attn_mask', shape: ['tq', 'tk'] },
        { name: 'key_padding_mask', shape: ['batch', 'tk'], dtype: 'i32' },
      ],
    });
    expect(readOnnx(bytes).outputs.map((o) => [o.name, o.dims])).toEqual([
      ['output', ['tq', 'batch', 8]],
      ['weights', ['batch', 'tq', 'tk']],
    ]);
    const feeds = (B: number, T: number, S: number, seed: number): Feed[] => {
      const pad = new Int32Array(B * S);
      for (let b = 0; b < B; b += 2) pad[b * S + S - 1] = 1; // the last key of every other row
      return [
        f32('q', [T, B, 8], seed),
        f32('k', [S, B, 5], seed + 1),
        f32('v', [S, B, 6], seed + 2),
        f32('attn_mask', [T, S], seed + 3),
        { name: 'key_padding_mask', data: pad, shape: [B, S] },
      ];
    };
    const err = await matches(
      bytes,
      (q, k, v, am, kpm) => m.forward(q, k, v, am, kpm),
      [feeds(1, 3, 4, 1), feeds(4, 6, 9, 2)],
      ['output', 'weights'],
    );
    console.log(`MultiheadAttention cross max rel error ${err.toExponential(2)}`);
    m.destroy();
  });

  it('MultiheadAttention: batch-first self-attention with a per-head f32 attnMask [B·H, T, T]', async () => {
    class Self extends Module {
      readonly mha = new MultiheadAttention(gpu, { embedDim: 8, numHeads: 2, batchFirst: true, seed: 6 });
      forward(x: Tensor, attnMask: Tensor) {
        return this.mha.forward(x, x, x, { attnMask }).output;
      }
    }
    const m = new Self(gpu).eval();
    const bytes = await exportOnnx(m, {
      inputs: [
        { name: 'x', shape: ['batch', 'seq', 8] },
        { name: 'mask', shape: ['2*batch', 'seq', 'seq'] },
      ],
    });
    const feeds = (B: number, T: number, seed: number) => [
      f32('x', [B, T, 8], seed),
      f32('mask', [2 * B, T, T], seed + 1),
    ];
    const err = await matches(bytes, (x, mask) => m.forward(x, mask), [feeds(1, 3, 3), feeds(3, 8, 4)], ['output']);
    console.log(`MultiheadAttention self, per-head mask max rel error ${err.toExponential(2)}`);
    m.destroy();
  });

  it('every TensorFlow.js fixture, loaded by loadTfjsModel, exported: ORT matches seqgpu and tfjs', async () => {
    const dir = new URL('../fixtures/tfjs/', import.meta.url);
    const names = readdirSync(dir);
    expect(names.length).toBeGreaterThanOrEqual(13);
    for (const name of names) {
      const at = (file: string) => new URL(`${name}/${file}`, dir);
      const modelJson = JSON.parse(readFileSync(at('model.json'), 'utf8'));
      const shards = modelJson.weightsManifest.flatMap((g: { paths: string[] }) => g.paths);
      const bytes = new Uint8Array(Buffer.concat(shards.map((p: string) => readFileSync(at(p))))).buffer;
      // Two cases each (tfjs 4.22's model.predict): [B, T(, F)] and [1, 1(, F)].
      const { tokens, cases } = JSON.parse(readFileSync(at('expected.json'), 'utf8'));
      const model = await loadTfjsModel(gpu, modelJson, bytes);
      const F = cases[0].inputShape[2];
      const bytesOnnx = await exportOnnx(model, {
        inputs: [{ name: 'x', shape: tokens ? ['batch', 'seq'] : ['batch', 'seq', F], dtype: tokens ? 'i32' : 'f32' }],
      });
      const feeds: Feed[][] = cases.map((c: { input: number[]; inputShape: number[] }) => [
        { name: 'x', data: tokens ? Int32Array.from(c.input) : Float32Array.from(c.input), shape: c.inputShape },
      ]);
      const err = await matches(bytesOnnx, (x) => model.forward(x), feeds, ['output']);
      // ORT against TensorFlow.js's own outputs, at the tfjs loader's tolerance (1e-5 abs + 1e-5 rel).
      let ratio = 0;
      for (const [i, c] of cases.entries()) {
        const got = (await runOrt(bytesOnnx, feeds[i])).output;
        expect(got.length).toBe(c.output.length);
        got.forEach(
          (y, j) => (ratio = Math.max(ratio, Math.abs(y - c.output[j]) / (1e-5 + 1e-5 * Math.abs(c.output[j])))),
        );
      }
      expect(ratio, name).toBeLessThanOrEqual(1);
      console.log(
        `tfjs ${name}: ORT vs seqgpu ${err.toExponential(2)}, ORT vs tfjs ${ratio.toFixed(3)} of the tolerance`,
      );
      model.destroy();
    }
  });

  it('Promise.all of an export and a Trainer step = the export awaited first (weights read at the call)', async () => {
    const make = () =>
      new Sequential(gpu, [
        new Linear(gpu, { inFeatures: 3, outFeatures: 4, seed: 1 }),
        new ReLU(gpu),
        new Linear(gpu, { inFeatures: 4, outFeatures: 2, seed: 2 }),
      ]);
    const r = rng(7);
    const batch = () => ({
      inputs: Tensor.from(gpu, uniform(r, 5 * 3, -1, 1), [5, 3]),
      targets: Tensor.from(gpu, uniform(r, 5 * 2, -1, 1), [5, 2]),
    });
    const b = batch();
    const opts = { inputs: [{ name: 'x', shape: ['batch', 3] as [string, number], dtype: 'f32' as const }] };
    const train = (m: Module) => new Trainer(m, { loss: 'mse', optimizer: { kind: 'sgd', lr: 0.5 } });
    const a = make();
    const ta = train(a);
    const first = await exportOnnx(a, opts);
    await ta.step(b);
    const c = make();
    const tc = train(c);
    const [both] = await Promise.all([exportOnnx(c, opts), tc.step(b)]);
    expect(Buffer.from(both).equals(Buffer.from(first))).toBe(true);
    const after = await exportOnnx(c, opts);
    expect(Buffer.from(after).equals(Buffer.from(first))).toBe(false); // the step did change the weights
    for (const m of [a, c]) m.destroy();
    b.inputs.destroy();
    b.targets.destroy();
  });

  it('no ONNX form: ExportError naming op and module; bad options: ArgumentError naming the field', async () => {
    const net = new Sequential(gpu, [new Linear(gpu, { inFeatures: 4, outFeatures: 6 }), new GLU(gpu)]);
    const err = await exportOnnx(net, { inputs: [{ name: 'x', shape: ['batch', 4] }] }).catch((e) => e);
    expect(err).toBeInstanceOf(ExportError);
    expect(err.name).toBe('ExportError');
    expect(err.message).toMatch(/op 'glu' in module '1' \(GLU\): no ONNX form/);
    expect([err.op, err.modulePath]).toEqual(['glu', '1']);

    const mlp = new Sequential(gpu, [
      new Linear(gpu, { inFeatures: 4, outFeatures: 2 }),
      new LayerNorm(gpu, { normalizedShape: [2] }),
    ]);
    const x = { name: 'x', shape: ['batch', 4] };
    const bad: Array<[unknown, RegExp]> = [
      [undefined, /option 'options'/],
      [{}, /option 'inputs' is undefined/],
      [{ inputs: [] }, /option 'inputs' is an array of 0/],
      [{ inputs: [x], opset: 12 }, /option 'opset' is 12; expected an integer in \[13, 21\]/],
      [{ inputs: [x], opset: 16 }, /option 'opset' is 16; this model needs opset ≥ 17 \(LayerNormalization\)/],
      [{ inputs: [{ ...x, name: '' }] }, /option 'inputs\[0\].name' is ''/],
      [{ inputs: [x, x] }, /option 'inputs\[1\].name' is 'x'; expected a non-empty string, unique/],
      [{ inputs: [{ ...x, shape: ['batch', -4] }] }, /option 'inputs\[0\].shape\[1\]' is -4/],
      [{ inputs: [{ ...x, shape: ['1b', 4] }] }, /option 'inputs\[0\].shape\[0\]' is '1b'/],
      [{ inputs: [{ ...x, shape: ['2*b', 4] }] }, /'inputs\[0\].shape\[0\]' is '2\*b'; the dynamic axis 'b' must/],
      [{ inputs: [{ ...x, dtype: 'f64' }] }, /option 'inputs\[0\].dtype' is 'f64'; expected 'f32' or 'i32'/],
      [{ inputs: [{ ...x, size: 3 }] }, /option 'inputs\[0\].size' is 3; expected no such field/],
      [{ inputs: [x], outputs: ['y', 'z'] }, /option 'outputs' names 2 outputs; forward returns 1/],
      [{ inputs: [x], output: ['y'] }, /option 'output' is an array of 1; expected no such option/],
    ];
    for (const [opts, want] of bad) {
      const e = await exportOnnx(mlp, opts as never).catch((e) => e);
      expect(e, String(want)).toBeInstanceOf(ArgumentError);
      expect(e.message).toMatch(want);
    }
    // A model that cannot take the trace sizes: the error says which sizes and what to do.
    const lm = new TransformerLM(gpu, { vocabSize: 5, dModel: 4, nhead: 1, numLayers: 1, maxSeqLen: 3 });
    const tokens = { name: 'tokens', shape: ['batch', 'seq'], dtype: 'i32' as const };
    const short = await exportOnnx(lm, { inputs: [tokens] }).catch((e) => e);
    expect(short).toBeInstanceOf(ExportError);
    expect(short.message).toMatch(
      /traced with the dynamic axes at batch = 3, seq = 4 .*fixed size in 'inputs'.*maxSeqLen 3/,
    );
    const fixed = await exportOnnx(lm, { inputs: [{ ...tokens, shape: ['batch', 3] }] });
    expect(readOnnx(fixed).inputs[0].dims).toEqual(['batch', 3]);
    lm.destroy();
    const e = await exportOnnx({} as never, { inputs: [x] as never }).catch((e) => e);
    expect(e.message).toMatch(/'model' must be a Module or a SequenceModel/);
    net.destroy();
    mlp.destroy();
  });
});
