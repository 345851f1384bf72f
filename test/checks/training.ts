// One whole training step on the GPU vs PyTorch 1.13 (test/fixtures/train.json, made by
// make_train_fixtures.py in float64): loss, every parameter's gradient after loss.backward(),
// and every parameter after clip_grad_norm_ + one optimizer step. Runs in Node and in Chromium.
import type { Gpu } from '../../src/gpu/device.js';
import { SequenceModel } from '../../src/models/sequenceModel.js';
import type { OptimizerOptions } from '../../src/kernels/optimizer.js';
import fixtures from '../fixtures/train.json';
import { assert, assertClose } from './util.js';
import type { Check } from './kernels.js';

type Data = { shape: number[]; data: number[] };
interface TrainCase {
  name: string;
  cell: 'lstm' | 'gru';
  config: { inputSize: number; hiddenSize: number; numLayers: number; bidirectional: boolean };
  embedding: { numEmbeddings: number; embeddingDim: number } | null;
  head: { inFeatures: number; outFeatures: number };
  mode: 'manyToMany' | 'manyToOne';
  loss: 'crossEntropy' | 'mse';
  ignoreIndex: number | null;
  seqLen: number;
  batch: number;
  input: Data;
  targets: Data;
  stateDict: Record<string, Data>;
  lossValue: number;
  grads: Record<string, Data>;
  maxNorm: number;
  gradNorm: number;
  optimizer: {
    kind: 'adam' | 'adamw' | 'sgd';
    lr: number;
    betas?: [number, number];
    eps?: number;
    weight_decay: number;
    momentum?: number;
    dampening?: number;
    nesterov?: boolean;
  };
  paramsAfter: Record<string, Data>;
}

/**
 * Gradients (f32 GPU vs float64 PyTorch on these small models): 1e-4 relative, with a floor at
 * 1e-4 of the tensor's mean magnitude for elements that cancel to ~0.
 */
function gradTol(want: ArrayLike<number>): { rtol: number; atol: number } {
  let s = 0;
  for (let i = 0; i < want.length; i++) s += Math.abs(want[i]);
  return { rtol: 1e-4, atol: 1e-4 * (s / Math.max(1, want.length)) + 1e-9 };
}

function optimizerOptions(c: TrainCase): OptimizerOptions {
  const o = c.optimizer;
  const common = { lr: o.lr, weightDecay: o.weight_decay, clipNorm: c.maxNorm, trackGradNorm: true };
  if (o.kind === 'sgd')
    return { kind: 'sgd', ...common, momentum: o.momentum, dampening: o.dampening, nesterov: o.nesterov };
  return { kind: o.kind, ...common, beta1: o.betas![0], beta2: o.betas![1], eps: o.eps };
}

export function modelFor(gpu: Gpu, c: TrainCase): SequenceModel {
  return new SequenceModel(gpu, {
    cell: c.cell,
    ...(c.embedding
      ? { vocabSize: c.embedding.numEmbeddings, embeddingDim: c.embedding.embeddingDim }
      : { inputSize: c.config.inputSize }),
    hiddenSize: c.config.hiddenSize,
    numLayers: c.config.numLayers,
    bidirectional: c.config.bidirectional,
    outputSize: c.head.outFeatures,
    mode: c.mode,
    loss: c.loss,
    ignoreIndex: c.ignoreIndex ?? undefined,
  });
}

async function checkTrainStep(gpu: Gpu, c: TrainCase): Promise<void> {
  const model = modelFor(gpu, c);
  model.loadStateDict(c.stateDict);
  model.configureTraining({ optimizer: optimizerOptions(c) });
  const ints = c.embedding !== null;
  const batch = {
    inputs: ints ? Int32Array.from(c.input.data) : Float32Array.from(c.input.data),
    targets: c.loss === 'crossEntropy' ? Int32Array.from(c.targets.data) : Float32Array.from(c.targets.data),
    seqLen: c.seqLen,
    batch: c.batch,
  };
  const loss = await model.trainStep(batch, { readLoss: true });
  assert(model.lastRun?.submits === 1, `${c.name}: a training step is one submit`);
  assertClose(`${c.name}: loss`, [loss!], [c.lossValue], { rtol: 1e-4, atol: 1e-6 });
  const norm = await model.optimizerState!.gradNorm();
  assertClose(`${c.name}: gradient norm`, [norm], [c.gradNorm], { rtol: 1e-4 });
  const grads = await model.gradients();
  for (const [name, want] of Object.entries(c.grads))
    assertClose(`${c.name}: grad ${name}`, grads[name].data, want.data, gradTol(want.data));
  const after = await model.stateDict();
  for (const [name, want] of Object.entries(c.paramsAfter))
    assertClose(`${c.name}: ${name} after one ${c.optimizer.kind} step`, after[name].data, want.data, {
      rtol: 1e-4,
      atol: 2e-5,
    });
  model.destroy();
}

export const trainingChecks: Check[] = (fixtures.cases as unknown as TrainCase[]).map((c) => ({
  name: `training step vs PyTorch: ${c.name} (${c.optimizer.kind}, clip_grad_norm_ ${c.maxNorm})`,
  run: (gpu: Gpu) => checkTrainStep(gpu, c),
}));
