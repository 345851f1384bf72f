// Whole models on the GPU (SequenceModel: embedding → stacked/bidirectional recurrent → head →
// loss) vs the float64 whole-model reference (src/reference/sequenceModel.ts, itself checked by
// finite differences in test/node/modelReference.test.ts): loss and every parameter's gradient.
import type { Gpu } from '../../src/gpu/device.js';
import { SequenceModel } from '../../src/models/sequenceModel.js';
import { sequenceModelRef, type SequenceModelRefConfig } from '../../src/reference/sequenceModel.js';
import { rng, uniform, assertClose } from './util.js';
import type { Check } from './kernels.js';

export interface ModelCase {
  name: string;
  cfg: SequenceModelRefConfig;
  T: number;
  B: number;
  seed: number;
}

/** Random parameters, inputs and targets for a case (targets include ignored rows for CE). */
export function modelCaseData(c: ModelCase, shapes: Record<string, number[]>) {
  const rand = rng(c.seed);
  const params: Record<string, Float32Array> = {};
  for (const [name, shape] of Object.entries(shapes))
    params[name] = uniform(
      rand,
      shape.reduce((a, b) => a * b, 1),
      -0.6,
      0.6,
    );
  const { cfg, T, B } = c;
  const rows = cfg.mode === 'manyToMany' ? T * B : B;
  const inputs = cfg.vocabSize
    ? Int32Array.from({ length: T * B }, () => Math.floor(rand() * cfg.vocabSize!))
    : uniform(rand, T * B * cfg.inputSize!, -1, 1);
  const targets =
    cfg.loss === 'crossEntropy'
      ? Int32Array.from({ length: rows }, (_, i) => (i % 5 === 3 ? -100 : Math.floor(rand() * cfg.outputSize)))
      : uniform(rand, rows * cfg.outputSize, -1, 1);
  return { params, inputs, targets };
}

export const modelCases: ModelCase[] = [
  {
    name: 'lstm tokens many-to-many CE, 2 layers bidirectional',
    cfg: {
      cell: 'lstm',
      vocabSize: 9,
      embeddingDim: 4,
      paddingIdx: 0,
      hiddenSize: 5,
      numLayers: 2,
      bidirectional: true,
      outputSize: 9,
      mode: 'manyToMany',
      loss: 'crossEntropy',
    },
    T: 4,
    B: 3,
    seed: 1,
  },
  {
    name: 'gru values many-to-one MSE, 2 layers bidirectional',
    cfg: {
      cell: 'gru',
      inputSize: 3,
      hiddenSize: 6,
      numLayers: 2,
      bidirectional: true,
      outputSize: 2,
      mode: 'manyToOne',
      loss: 'mse',
    },
    T: 5,
    B: 2,
    seed: 2,
  },
  {
    name: 'rnn tokens many-to-one CE, batch 1',
    cfg: {
      cell: 'rnn',
      vocabSize: 7,
      embeddingDim: 3,
      hiddenSize: 4,
      numLayers: 1,
      bidirectional: false,
      outputSize: 3,
      mode: 'manyToOne',
      loss: 'crossEntropy',
    },
    T: 3,
    B: 1,
    seed: 3,
  },
  {
    name: 'lstm values many-to-many MSE, seqLen 1, H 33',
    cfg: {
      cell: 'lstm',
      inputSize: 2,
      hiddenSize: 33,
      numLayers: 1,
      bidirectional: false,
      outputSize: 3,
      mode: 'manyToMany',
      loss: 'mse',
    },
    T: 1,
    B: 4,
    seed: 4,
  },
];

function gradTol(want: ArrayLike<number>): { rtol: number; atol: number } {
  let s = 0;
  for (let i = 0; i < want.length; i++) s += Math.abs(want[i]);
  return { rtol: 1e-3, atol: 1e-3 * (s / Math.max(1, want.length)) + 1e-8 };
}

async function checkModel(gpu: Gpu, c: ModelCase): Promise<void> {
  const model = new SequenceModel(gpu, { ...c.cfg, seed: c.seed });
  const shapes = Object.fromEntries(model.store.names.map((n) => [n, model.store.slot(n).shape]));
  const { params, inputs, targets } = modelCaseData(c, shapes);
  model.loadStateDict(params);
  model.configureTraining({ optimizer: { kind: 'sgd', lr: 0 } });
  const loss = await model.trainStep({ inputs, targets, seqLen: c.T, batch: c.B }, { readLoss: true });
  const want = sequenceModelRef(c.cfg, params, inputs, targets, c.T, c.B);
  assertClose(`${c.name}: loss`, [loss!], [want.loss], { rtol: 1e-4, atol: 1e-6 });
  const grads = await model.gradients();
  for (const [name, g] of Object.entries(want.grads))
    assertClose(`${c.name}: grad ${name}`, grads[name].data, g, gradTol(g));
  model.destroy();
}

export const modelGradChecks: Check[] = modelCases.map((c) => ({
  name: `whole-model gradients vs float64: ${c.name}`,
  run: (gpu: Gpu) => checkModel(gpu, c),
}));
