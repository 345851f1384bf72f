// Issue 16: Module, layers, Trainer vs PyTorch 1.13 (float64 fixtures from
// test/fixtures/make_module_fixtures.py): outputs, loss, every gradient, parameters after 3 Adam steps.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Linear, Module, ReLU, Sequential, Tensor, Trainer, type Gpu } from '../../src/index.js';
import { testGpu } from './gpu.js';
import { Tagger } from './tagger.js';

type Rec = { shape: number[]; data: number[] };
const fx = JSON.parse(readFileSync(new URL('../fixtures/modules.json', import.meta.url), 'utf8'));

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

/** max |a − b| / (1 + |b|) over the elements. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])));
  return m;
}

async function checkAgainstFixture(
  model: Module,
  f: any,
  input: Tensor,
  target: Tensor,
  loss: 'mse' | 'crossEntropy',
  extra: Partial<ConstructorParameters<typeof Trainer>[1]> = {},
) {
  model.loadStateDict(f.state_dict);
  const out = (model.forward as (x: Tensor) => Tensor)(input);
  expect(out.shape).toEqual(f.output.shape);
  expect(relErr(await out.read(), f.output.data)).toBeLessThan(1e-4);
  out.destroy();
  const trainer = new Trainer(model, {
    loss,
    optimizer: {
      kind: 'adam',
      lr: f.optimizer.lr,
      beta1: f.optimizer.betas[0],
      beta2: f.optimizer.betas[1],
      eps: f.optimizer.eps,
    },
    ...extra,
  });
  const losses: number[] = [];
  for (let s = 0; s < 3; s++) {
    losses.push((await trainer.step({ inputs: input, targets: target }, { readLoss: true }))!);
    if (s === 0) {
      for (const p of model.namedParameters()) {
        expect(f.grads[p.name], p.name).toBeTruthy();
        expect(relErr(await p.grad.read(), f.grads[p.name].data), `grad ${p.name}`).toBeLessThan(1e-3);
      }
    }
  }
  losses.forEach((l, i) => expect(Math.abs(l - f.losses[i]) / f.losses[i], `loss ${i}`).toBeLessThan(1e-4));
  const after = await model.stateDict();
  expect(Object.keys(after)).toEqual(Object.keys(f.after_adam));
  for (const [k, v] of Object.entries(after))
    expect(relErr(v.data, (f.after_adam[k] as Rec).data), `after Adam ${k}`).toBeLessThan(1e-4);
  expect(trainer.lastRun!.submits).toBe(1);
  return trainer;
}

describe('Module and Trainer vs PyTorch 1.13', () => {
  it(
    'Tagger (Embedding paddingIdx → BiLSTM batchFirst → Dropout → Linear), ' +
      'cross-entropy with ignoreIndex: output, loss, gradients, 3 Adam steps',
    async () => {
      const f = fx.tagger;
      const model = new Tagger(gpu, f.dropout_p);
      expect(model.namedParameters().map((p) => p.name)).toEqual(Object.keys(f.state_dict));
      const tokens = Tensor.from(gpu, Int32Array.from(f.input.data), f.input.shape);
      const targets = Tensor.from(gpu, Int32Array.from(f.target.data), f.target.shape);
      const trainer = await checkAgainstFixture(model, f, tokens, targets, 'crossEntropy', {
        ignoreIndex: f.ignore_index,
      });
      console.log(`Tagger step: ${JSON.stringify(trainer.lastRun)}`);
      trainer.destroy();
      model.destroy();
    },
  );

  it('Sequential(Linear(8,16), ReLU(), Linear(16,4)) with MSE: output, loss, gradients, 3 Adam steps', async () => {
    const f = fx.sequential;
    const model = new Sequential(gpu, [
      new Linear(gpu, { inFeatures: 8, outFeatures: 16 }),
      new ReLU(gpu),
      new Linear(gpu, { inFeatures: 16, outFeatures: 4 }),
    ]);
    expect(model.namedParameters().map((p) => p.name)).toEqual(['0.weight', '0.bias', '2.weight', '2.bias']);
    const x = Tensor.from(gpu, f.input.data, f.input.shape);
    const y = Tensor.from(gpu, f.target.data, f.target.shape);
    const before = gpu.stats.submits;
    const trainer = await checkAgainstFixture(model, f, x, y, 'mse');
    expect(gpu.stats.submits - before).toBeGreaterThan(0);
    trainer.destroy();
    model.destroy();
  });
});
