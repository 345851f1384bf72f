// Issue 16: what the graph and the Trainer promise, as counts and equalities: one submit per step,
// nothing compiled or allocated by a replay, buffers shared by lifetime, dropout masks per replay,
// gradients summed where a tensor is used twice, custom losses, checkpoints, SequenceModel parity.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ArgumentError,
  Dropout,
  Embedding,
  F,
  LayerNorm,
  Linear,
  LSTM,
  Module,
  ReLU,
  Sequential,
  SequenceModel,
  Tensor,
  Trainer,
  loadTfjsModel,
  rng,
  type Gpu,
} from '../../src/index.js';
import { gradCheck } from '../checks/moduleGrad.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

const ids = (rand: () => number, n: number, V: number) => Int32Array.from({ length: n }, () => Math.floor(rand() * V));
const floats = (rand: () => number, n: number) => Array.from({ length: n }, () => rand() * 2 - 1);

/** Embedding → LSTM (2 layers) → LayerNorm → Linear, time-major. */
class Stacked extends Module {
  embed: Embedding;
  lstm: LSTM;
  norm: LayerNorm;
  head: Linear;
  constructor(gpu: Gpu) {
    super(gpu);
    this.embed = new Embedding(gpu, { numEmbeddings: 11, embeddingDim: 6, seed: 1 });
    this.lstm = new LSTM(gpu, { inputSize: 6, hiddenSize: 7, numLayers: 2, seed: 2 });
    this.norm = new LayerNorm(gpu, { normalizedShape: 7 });
    this.head = new Linear(gpu, { inFeatures: 7, outFeatures: 11, seed: 3 });
  }
  forward(tokens: Tensor): Tensor {
    return this.head.forward(this.norm.forward(this.lstm.forward(this.embed.forward(tokens)).output));
  }
}

/** Embedding → LSTM → Linear under SequenceModel's parameter names (embedding, rnn, head). */
class LanguageModel extends Module {
  embedding: Embedding;
  rnn: LSTM;
  head: Linear;
  constructor(gpu: Gpu) {
    super(gpu);
    this.embedding = new Embedding(gpu, { numEmbeddings: 11, embeddingDim: 4 });
    this.rnn = new LSTM(gpu, { inputSize: 4, hiddenSize: 6, numLayers: 2 });
    this.head = new Linear(gpu, { inFeatures: 6, outFeatures: 11 });
  }
  forward(tokens: Tensor): Tensor {
    return this.head.forward(this.rnn.forward(this.embedding.forward(tokens)).output);
  }
}

describe('Trainer: one submit per step', () => {
  const cases: Array<[string, () => { model: Module; inputs: Tensor; targets: Tensor; loss: 'mse' | 'crossEntropy' }]> =
    [
      [
        'Sequential MLP',
        () => {
          const r = rng(1);
          const model = new Sequential(gpu, [
            new Linear(gpu, { inFeatures: 5, outFeatures: 9 }),
            new ReLU(gpu),
            new Linear(gpu, { inFeatures: 9, outFeatures: 3 }),
          ]);
          return {
            model,
            inputs: Tensor.from(gpu, floats(r, 4 * 5), [4, 5]),
            targets: Tensor.from(gpu, floats(r, 12), [4, 3]),
            loss: 'mse',
          };
        },
      ],
      [
        'Tagger (Embedding → BiLSTM → Dropout → Linear)',
        () => {
          const r = rng(2);
          class Tagger extends Module {
            embed = new Embedding(gpu, { numEmbeddings: 9, embeddingDim: 5, paddingIdx: 0 });
            lstm = new LSTM(gpu, { inputSize: 5, hiddenSize: 6, batchFirst: true, bidirectional: true });
            drop = new Dropout(gpu, { p: 0.25 });
            head = new Linear(gpu, { inFeatures: 12, outFeatures: 4 });
            forward(t: Tensor): Tensor {
              return this.head.forward(this.drop.forward(this.lstm.forward(this.embed.forward(t)).output));
            }
          }
          return {
            model: new Tagger(gpu),
            inputs: Tensor.from(gpu, ids(r, 15, 9), [3, 5]),
            targets: Tensor.from(gpu, ids(r, 15, 4), [3, 5]),
            loss: 'crossEntropy',
          };
        },
      ],
      [
        'stacked Embedding → 2-layer LSTM → LayerNorm → Linear',
        () => {
          const r = rng(3);
          return {
            model: new Stacked(gpu),
            inputs: Tensor.from(gpu, ids(r, 8, 11), [4, 2]),
            targets: Tensor.from(gpu, ids(r, 8, 11), [4, 2]),
            loss: 'crossEntropy',
          };
        },
      ],
    ];
  for (const [name, make] of cases) {
    it(`${name}: 1 submit, the plan's dispatches, no pipeline or buffer created after the first step`, async () => {
      const { model, inputs, targets, loss } = make();
      const trainer = new Trainer(model, { loss, optimizer: { kind: 'adam', lr: 1e-2 }, clipGradNorm: 1 });
      await trainer.step({ inputs, targets });
      await gpu.sync();
      const before = { ...gpu.stats };
      const poolBefore = { ...gpu.pool.stats };
      await trainer.step({ inputs, targets });
      expect(gpu.stats.submits - before.submits).toBe(1);
      expect(gpu.stats.dispatches - before.dispatches).toBe(trainer.lastRun!.dispatches);
      expect(gpu.stats.pipelinesCreated).toBe(before.pipelinesCreated);
      expect(gpu.pool.stats.created).toBe(poolBefore.created);
      console.log(`${name}: ${JSON.stringify(trainer.lastRun)}`);
      trainer.destroy();
      model.destroy();
    });
  }

  it(
    'the SequenceModel topology as a Module: same losses as SequenceModel, ' + 'dispatches ≤ its hand-wired step',
    async () => {
      const r = rng(4);
      const T = 5,
        B = 3;
      const seq = new SequenceModel(gpu, {
        cell: 'lstm',
        vocabSize: 11,
        embeddingDim: 4,
        hiddenSize: 6,
        numLayers: 2,
        outputSize: 11,
        mode: 'manyToMany',
        loss: 'crossEntropy',
        seed: 9,
      });
      seq.configureTraining({ optimizer: { kind: 'adam', lr: 0.01 } });
      const mine = new LanguageModel(gpu);
      const sd = await seq.stateDict();
      mine.loadStateDict(sd);
      const trainer = new Trainer(mine, { loss: 'crossEntropy', optimizer: { kind: 'adam', lr: 0.01 } });
      for (let s = 0; s < 3; s++) {
        const x = ids(r, T * B, 11),
          y = ids(r, T * B, 11);
        const a = (await seq.trainStep({ inputs: x, targets: y, seqLen: T, batch: B }, { readLoss: true }))!;
        const b = (await trainer.step(
          { inputs: Tensor.from(gpu, x, [T, B]), targets: Tensor.from(gpu, y, [T, B]) },
          { readLoss: true },
        ))!;
        expect(Math.abs(a - b), `step ${s}: SequenceModel ${a} vs Module ${b}`).toBeLessThan(1e-5);
      }
      console.log(
        `SequenceModel step: ${seq.lastRun!.dispatches} dispatches; the same model as a ` +
          `Module: ${trainer.lastRun!.dispatches}`,
      );
      expect(trainer.lastRun!.dispatches).toBeLessThanOrEqual(seq.lastRun!.dispatches);
      const after = await seq.stateDict();
      for (const p of mine.namedParameters()) {
        const got = await p.read();
        const want = after[p.name].data as Float32Array;
        for (let i = 0; i < got.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThan(1e-5);
      }
      trainer.destroy();
      mine.destroy();
      seq.destroy();
    },
  );
});

describe('the graph', () => {
  it('two replays draw different dropout masks; evaluate (dropout off) is repeatable', async () => {
    const r = rng(5);
    const model = new Sequential(gpu, [
      new Linear(gpu, { inFeatures: 6, outFeatures: 32 }),
      new Dropout(gpu, { p: 0.5 }),
      new Linear(gpu, { inFeatures: 32, outFeatures: 2 }),
    ]);
    const trainer = new Trainer(model, { loss: 'mse', optimizer: { kind: 'sgd', lr: 0 } });
    const batch = { inputs: Tensor.from(gpu, floats(r, 24), [4, 6]), targets: Tensor.from(gpu, floats(r, 8), [4, 2]) };
    const a = await trainer.step(batch, { readLoss: true });
    const b = await trainer.step(batch, { readLoss: true });
    expect(a).not.toBe(b);
    const e1 = await trainer.evaluate(batch);
    const e2 = await trainer.evaluate(batch);
    expect(e1).toBe(e2);
    trainer.destroy();
    model.destroy();
  });

  it('a layer used twice gets the sum of both gradients (vs finite differences)', async () => {
    const r = rng(6);
    class Twice extends Module {
      lin = new Linear(gpu, { inFeatures: 4, outFeatures: 4, seed: 7 });
      forward(x: Tensor): Tensor {
        return this.lin.forward(F.tanh(this.lin.forward(x)));
      }
    }
    const model = new Twice(gpu);
    const x = Tensor.from(gpu, floats(r, 12), [3, 4]);
    const y = Tensor.from(gpu, floats(r, 12), [3, 4]);
    const { checked } = await gradCheck(model, [x], y, { indices: (n) => [0, n - 1], atol: 2e-3 });
    expect(checked).toBe(4);
    model.destroy();
  });

  it('a custom loss built from F ops equals the fused mse (loss and gradients)', async () => {
    const r = rng(7);
    const make = () =>
      new Sequential(gpu, [
        new Linear(gpu, { inFeatures: 3, outFeatures: 5, seed: 1 }),
        new ReLU(gpu),
        new Linear(gpu, { inFeatures: 5, outFeatures: 2, seed: 2 }),
      ]);
    const a = make(),
      b = make();
    const x = Tensor.from(gpu, floats(r, 21), [7, 3]);
    const y = Tensor.from(gpu, floats(r, 14), [7, 2]);
    const fused = new Trainer(a, { loss: 'mse', optimizer: { kind: 'sgd', lr: 0.1 } });
    const custom = new Trainer(b, {
      loss: (pred, target) => {
        const d = F.sub(pred, target);
        return F.mean(F.reshape(F.mul(d, d), [-1]), 0);
      },
      optimizer: { kind: 'sgd', lr: 0.1 },
    });
    for (let s = 0; s < 2; s++) {
      const la = (await fused.step({ inputs: x, targets: y }, { readLoss: true }))!;
      const lb = (await custom.step({ inputs: x, targets: y }, { readLoss: true }))!;
      expect(Math.abs(la - lb)).toBeLessThan(1e-6);
    }
    const pa = a.namedParameters(),
      pb = b.namedParameters();
    for (let k = 0; k < pa.length; k++) {
      const ga = await pa[k].grad.read(),
        gb = await pb[k].grad.read();
      ga.forEach((v, i) => expect(Math.abs(v - gb[i])).toBeLessThan(1e-6));
    }
    expect(() => new Trainer(make(), { loss: 'hinge' as never, optimizer: { kind: 'sgd', lr: 0.1 } })).toThrow(
      /options.loss must be 'crossEntropy', 'mse' or a function/,
    );
    fused.destroy();
    custom.destroy();
    a.destroy();
    b.destroy();
  });

  it('intermediate buffers are shared by lifetime (inference of a deep MLP)', async () => {
    const layers = [];
    for (let i = 0; i < 8; i++) layers.push(new Linear(gpu, { inFeatures: 16, outFeatures: 16 }), new ReLU(gpu));
    const model = new Sequential(gpu, layers);
    const r = rng(8);
    const x = Tensor.from(gpu, floats(r, 48), [3, 16]);
    const trainer = new Trainer(model, { loss: 'mse', optimizer: { kind: 'sgd', lr: 0 } });
    await trainer.evaluate({ inputs: x, targets: Tensor.from(gpu, floats(r, 48), [3, 16]) });
    const evalRun = trainer.lastRun!;
    // 16 activations + the inputs and the loss's outputs: the activations ping-pong between 2 buffers.
    expect(evalRun.planned).toBeGreaterThanOrEqual(20);
    expect(evalRun.buffers).toBeLessThanOrEqual(6);
    await trainer.step({ inputs: x, targets: Tensor.from(gpu, floats(r, 48), [3, 16]) });
    const stepRun = trainer.lastRun!;
    expect(stepRun.buffers).toBeLessThan(stepRun.planned);
    console.log(
      `deep MLP: evaluate ${evalRun.planned} values in ${evalRun.buffers} buffers; ` +
        `step ${stepRun.planned} values in ${stepRun.buffers} buffers`,
    );
    trainer.destroy();
    model.destroy();
  });

  it('reading a tensor inside forward, or using one from outside, is an error naming it', async () => {
    class Peek extends Module {
      lin = new Linear(gpu, { inFeatures: 2, outFeatures: 2 });
      outside: Tensor | null = null;
      forward(x: Tensor): Tensor {
        const y = this.lin.forward(x);
        if (this.outside) return F.add(y, this.outside);
        void y.read();
        return y;
      }
    }
    const m = new Peek(gpu);
    const x = Tensor.from(gpu, [1, 2], [1, 2]);
    expect(() => m.forward(x)).toThrow(/the output of 'Linear' \[1, 2\] is a traced placeholder inside forward/);
    m.outside = Tensor.from(gpu, [1, 2], [1, 2]);
    expect(() => m.forward(x)).toThrow(ArgumentError);
    expect(() => m.forward(x)).toThrow(/is a tensor from outside this forward/);
    m.destroy();
  });

  it('forward outside a Trainer: one submit per call, replayed per key (shapes, train/eval)', async () => {
    const model = new Sequential(gpu, [new Linear(gpu, { inFeatures: 3, outFeatures: 4 }), new ReLU(gpu)]);
    const x = Tensor.from(gpu, [1, 2, 3, 4, 5, 6], [2, 3]);
    model.forward(x).destroy();
    const before = { ...gpu.stats };
    const y = model.forward(x);
    expect(gpu.stats.submits - before.submits).toBe(1);
    expect(gpu.stats.pipelinesCreated).toBe(before.pipelinesCreated);
    expect(y.shape).toEqual([2, 4]);
    const z = model.forward(Tensor.from(gpu, [1, 2, 3], [1, 3]));
    expect(z.shape).toEqual([1, 4]);
    expect(Array.from(await z.read())).toEqual(Array.from(await y.read()).slice(0, 4));
    model.destroy();
  });
});

describe('a Trainer gathers the parameters of a model already run eagerly', () => {
  // The Trainer moves every parameter into one store and the old buffers go back to the pool. A
  // container's cached forward plan (made by the first call) must follow: it once kept reading
  // the old buffers, which the pool then handed out again (examples/interchange.mjs: outputs off
  // by 1e-2 after a forward at another batch size) or destroyed (trim: a validation error).
  it("the container's cached forward reads the gathered parameters, not the pool's old buffers", async () => {
    // Embedding(11, 6) → LSTM(9) → Dropout → Bidirectional(GRU) → Dense(4, softmax), from TensorFlow.js.
    const dir = new URL('../fixtures/tfjs/stacked/', import.meta.url);
    const modelJson = JSON.parse(readFileSync(new URL('model.json', dir), 'utf8'));
    const paths: string[] = modelJson.weightsManifest.flatMap((g: { paths: string[] }) => g.paths);
    const model = await loadTfjsModel(
      gpu,
      modelJson,
      paths.map((p) => new Uint8Array(readFileSync(new URL(p, dir))).buffer),
    );
    const r = rng(21);
    const x = Tensor.from(gpu, ids(r, 64 * 9, 11), [64, 9]);
    const x5 = Tensor.from(gpu, ids(r, 5 * 9, 11), [5, 9]);
    const before = await (model.forward(x) as Tensor).read();
    new Trainer(model, { loss: 'mse', optimizer: { kind: 'sgd', lr: 0.1 } });
    await (model.forward(x5) as Tensor).read();
    gpu.pool.trim(); // the pool destroys its free buffers: the old parameter buffers among them
    expect(Array.from(await (model.forward(x) as Tensor).read())).toEqual(Array.from(before));
    for (const t of [x, x5]) t.destroy();
    model.destroy();
  });
});

describe('calls on one model run in call order', () => {
  it('Promise.all of stateDict() and a Trainer step = stateDict() awaited first', async () => {
    const make = () =>
      new Sequential(gpu, [
        new Linear(gpu, { inFeatures: 3, outFeatures: 4, seed: 1 }),
        new Linear(gpu, { inFeatures: 4, outFeatures: 2, seed: 2 }),
      ]);
    const b = {
      inputs: Tensor.from(gpu, new Float32Array(15).fill(0.5), [5, 3]),
      targets: Tensor.from(gpu, new Float32Array(10).fill(-1), [5, 2]),
    };
    const a = make();
    const ta = new Trainer(a, { loss: 'mse', optimizer: { kind: 'sgd', lr: 0.5 } });
    const first = await a.stateDict();
    await ta.step(b);
    const c = make();
    const tc = new Trainer(c, { loss: 'mse', optimizer: { kind: 'sgd', lr: 0.5 } });
    const [both] = await Promise.all([c.stateDict(), tc.step(b)]);
    for (const k of Object.keys(first)) expect(Array.from(both[k].data), k).toEqual(Array.from(first[k].data));
    expect(Array.from((await c.stateDict())['1.bias'].data)).not.toEqual(Array.from(first['1.bias'].data));
    for (const m of [a, c]) m.destroy();
    for (const t of [b.inputs, b.targets]) t.destroy();
  });
});

describe('Trainer state', () => {
  it('saveCheckpoint / loadCheckpoint and snapshot / recover continue training bit for bit', async () => {
    const r = rng(9);
    const batches = Array.from({ length: 5 }, () => ({
      inputs: Tensor.from(gpu, ids(r, 8, 11), [4, 2]),
      targets: Tensor.from(gpu, ids(r, 8, 11), [4, 2]),
    }));
    const a = new Stacked(gpu);
    const ta = new Trainer(a, { loss: 'crossEntropy', optimizer: { kind: 'adam', lr: 0.02 }, clipGradNorm: 1 });
    for (const b of batches.slice(0, 3)) await ta.step(b);
    const file = await ta.saveCheckpoint();
    const snap = await ta.snapshot();
    const rest: number[] = [];
    for (const b of batches.slice(3)) rest.push((await ta.step(b, { readLoss: true }))!);
    // A fresh model and trainer from the file.
    const c = new Stacked(gpu);
    const tc = new Trainer(c, { loss: 'crossEntropy', optimizer: { kind: 'sgd', lr: 0.5 } });
    await tc.loadCheckpoint(file);
    for (const [i, b] of batches.slice(3).entries()) expect(await tc.step(b, { readLoss: true })).toBe(rest[i]);
    // The same trainer rewound to its snapshot.
    await ta.recover(snap);
    for (const [i, b] of batches.slice(3).entries()) expect(await ta.step(b, { readLoss: true })).toBe(rest[i]);
    // A corrupt file changes nothing.
    const bad = file.slice();
    bad[bad.length - 3] ^= 0xff;
    const before = await ta.snapshot();
    await expect(ta.loadCheckpoint(bad)).rejects.toThrow();
    const after = await ta.snapshot();
    expect(after.step).toBe(before.step);
    for (const k of Object.keys(before.parameters)) expect(after.parameters[k].data).toEqual(before.parameters[k].data);
    ta.destroy();
    tc.destroy();
    a.destroy();
    c.destroy();
  });
});

describe('Module and Trainer: bad input names the argument and changes nothing; calls run in call order', () => {
  it('options with typos, wrong types and bad batches are clear errors', async () => {
    expect(() => new Linear(gpu, { inFeature: 3, outFeatures: 2 } as never)).toThrow(/inFeature.*inFeatures/);
    expect(() => new Linear(gpu, { inFeatures: 0, outFeatures: 2 })).toThrow(ArgumentError);
    expect(() => new Embedding(gpu, { numEmbeddings: 5, embeddingDim: 2, paddingIdx: 5 })).toThrow(
      /paddingIdx 5 must be in \[−5, 5\)/,
    );
    expect(() => new LayerNorm(gpu, { normalizedShape: [0] })).toThrow(/normalizedShape/);
    expect(() => new Sequential(gpu, [new ReLU(gpu), {} as never])).toThrow(/layers\[1\] is not a Module/);
    const model = new Sequential(gpu, [new Linear(gpu, { inFeatures: 3, outFeatures: 2 })]);
    expect(
      () => new Trainer(model, { loss: 'mse', optimizer: { kind: 'adam', lr: 0.1 }, clipGradNrm: 1 } as never),
    ).toThrow(/clipGradNrm.*clipGradNorm/);
    expect(() => new Trainer(model, { loss: 'mse', optimizer: { kind: 'adam', lr: -1 } })).toThrow(ArgumentError);
    const trainer = new Trainer(model, { loss: 'mse', optimizer: { kind: 'adam', lr: 0.1 } });
    const x = Tensor.from(gpu, [1, 2, 3], [1, 3]);
    const y = Tensor.from(gpu, [1, 2], [1, 2]);
    await trainer.step({ inputs: x, targets: y });
    const before = await trainer.snapshot();
    await expect(trainer.step({ inputs: Tensor.from(gpu, [1, 2], [1, 2]), targets: y })).rejects.toThrow(
      /Linear: input has shape \[1, 2\] \(f32\), expected f32 \[\.\.\., 3\] \(inFeatures\)/,
    );
    await expect(trainer.step({ inputs: x, targets: Tensor.from(gpu, [1, 2, 3], [1, 3]) })).rejects.toThrow(
      /mse: targets have shape \[1, 3\]/,
    );
    await expect(trainer.step({ inputs: x, targets: Tensor.from(gpu, Int32Array.of(1, 2), [1, 2]) })).rejects.toThrow(
      /mse: targets have shape \[1, 2\] \(i32\)/,
    );
    await expect(trainer.step({ inputs: x } as never)).rejects.toThrow(/batch.targets must be a Tensor/);
    await expect(trainer.step({ inputs: x, targets: y, extra: 1 } as never)).rejects.toThrow(
      /unknown key\(s\) 'extra'/,
    );
    await expect(trainer.step({ inputs: x, targets: y }, { readLos: true } as never)).rejects.toThrow(
      /readLos.*readLoss/,
    );
    const after = await trainer.snapshot();
    expect(after.step).toBe(before.step);
    for (const k of Object.keys(before.parameters)) expect(after.parameters[k].data).toEqual(before.parameters[k].data);
    expect(after.optimizer).toEqual(before.optimizer);
    trainer.destroy();
    await expect(trainer.step({ inputs: x, targets: y })).rejects.toThrow(/this Trainer was destroyed/);
    model.destroy();
    expect(() => model.forward(x)).toThrow(/destroyed/);
  });

  it('a trace that fails after a recurrent layer recorded its plan leaves nothing allocated', async () => {
    class Broken extends Module {
      lstm = new LSTM(gpu, { inputSize: 3, hiddenSize: 4 });
      head = new Linear(gpu, { inFeatures: 5, outFeatures: 2 });
      forward(x: Tensor): Tensor {
        return this.head.forward(this.lstm.forward(x).output); // 4 features into a 5-feature Linear
      }
    }
    const m = new Broken(gpu);
    const t = new Trainer(m, { loss: 'mse', optimizer: { kind: 'sgd', lr: 0.1 } });
    const x = Tensor.from(gpu, new Float32Array(2 * 3 * 3), [2, 3, 3]);
    const y = Tensor.from(gpu, new Float32Array(12), [2, 3, 2]);
    const inUse = gpu.pool.stats.inUse;
    await expect(t.step({ inputs: x, targets: y })).rejects.toThrow(/Linear: input has shape \[2, 3, 4\]/);
    expect(() => m.forward(x)).toThrow(/Linear: input has shape \[2, 3, 4\]/);
    expect(gpu.pool.stats.inUse).toBe(inUse);
    t.destroy();
    m.destroy();
  });

  it('Promise.all of steps, evaluate and snapshot equals awaiting them in turn', async () => {
    const r = rng(10);
    const batches = Array.from({ length: 3 }, () => ({
      inputs: Tensor.from(gpu, ids(r, 8, 11), [4, 2]),
      targets: Tensor.from(gpu, ids(r, 8, 11), [4, 2]),
    }));
    const run = async (concurrent: boolean) => {
      const m = new Stacked(gpu);
      const t = new Trainer(m, { loss: 'crossEntropy', optimizer: { kind: 'adam', lr: 0.05 } });
      const calls = () => [
        t.step(batches[0], { readLoss: true }),
        t.evaluate(batches[1]),
        t.step(batches[1], { readLoss: true }),
        t.snapshot(),
        t.step(batches[2], { readLoss: true }),
      ];
      let out: unknown[];
      if (concurrent) out = await Promise.all(calls());
      else {
        out = [];
        out.push(
          await t.step(batches[0], { readLoss: true }),
          await t.evaluate(batches[1]),
          await t.step(batches[1], { readLoss: true }),
          await t.snapshot(),
          await t.step(batches[2], { readLoss: true }),
        );
      }
      const final = await t.snapshot();
      t.destroy();
      m.destroy();
      return { out, final };
    };
    const a = await run(false);
    const b = await run(true);
    expect(b.out.filter((v) => typeof v === 'number')).toEqual(a.out.filter((v) => typeof v === 'number'));
    expect(b.final.step).toBe(a.final.step);
    for (const k of Object.keys(a.final.parameters))
      expect(b.final.parameters[k].data).toEqual(a.final.parameters[k].data);
  });
});
