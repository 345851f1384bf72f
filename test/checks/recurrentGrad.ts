// Backpropagation through time on the GPU vs the float64 reference (src/reference/rnnBackward.ts,
// itself checked against finite differences in test/node/referenceGrad.test.ts). Runs in Node and
// in Chromium. Random odd shapes, stacked + bidirectional, batch-first, seqLen 1, batch 1.
import type { Gpu } from '../../src/gpu/device.js';
import { Tensor } from '../../src/tensor.js';
import { parameterShapes, type CellKind } from '../../src/nn/recurrentConfig.js';
import { rnnBackwardRef } from '../../src/reference/rnnBackward.js';
import { rng, uniform, assertClose, assert } from './util.js';
import { RecurrentPlan } from '../../src/plan/recurrentPlan.js';
import { defaultStepTile } from '../../src/kernels/cellStep.js';
import { dropoutKeep } from '../../src/kernels/dropout.js';
import { makeLayer } from './recurrent.js';
import type { Check } from './kernels.js';

/**
 * f32 GPU gradients vs float64: |err| ≤ 1e-3·|want| + 1e-3·mean|want| (1e-3 relative, with an
 * absolute floor at 1e-3 of the tensor's typical magnitude for elements that cancel to ~0).
 */
function gradTol(want: ArrayLike<number>): { rtol: number; atol: number } {
  let s = 0;
  for (let i = 0; i < want.length; i++) s += Math.abs(want[i]);
  return { rtol: 1e-3, atol: 1e-3 * (s / Math.max(1, want.length)) + 1e-7 };
}

interface GradCase {
  cell: CellKind;
  inputSize: number;
  hiddenSize: number;
  numLayers: number;
  bidirectional: boolean;
  batchFirst: boolean;
  bias: boolean;
  nonlinearity?: 'tanh' | 'relu';
  T: number;
  B: number;
  state: boolean;
  seed: number;
  /** Force a step tile (default: the adapter's, see defaultStepTile). */
  tile?: { wg: number; bt: number };
}

function caseName(c: GradCase): string {
  return `${c.cell}${c.nonlinearity === 'relu' ? '(relu)' : ''}${c.tile ? ` tile ${c.tile.wg}×${c.tile.bt}` : ''} I${c.inputSize} H${c.hiddenSize} L${c.numLayers}${c.bidirectional ? ' bidir' : ''}${c.batchFirst ? ' batchFirst' : ''}${c.bias ? '' : ' noBias'} T${c.T} B${c.B}${c.state ? ' h0/dhN' : ''}`;
}

async function checkGrad(gpu: Gpu, c: GradCase): Promise<void> {
  const rand = rng(c.seed);
  const cfg = { cell: c.cell, inputSize: c.inputSize, hiddenSize: c.hiddenSize, numLayers: c.numLayers, bias: c.bias, batchFirst: c.batchFirst, bidirectional: c.bidirectional, nonlinearity: c.nonlinearity ?? 'tanh' };
  const { T, B } = c;
  const D = c.bidirectional ? 2 : 1;
  const weights: Record<string, Float32Array> = {};
  for (const { name, shape } of parameterShapes(cfg)) weights[name] = uniform(rand, shape.reduce((a, b) => a * b, 1), -0.5, 0.5);
  const x = uniform(rand, T * B * c.inputSize, -1, 1);
  const S = c.numLayers * D * B * c.hiddenSize;
  const stateShape = [c.numLayers * D, B, c.hiddenSize];
  const h0 = c.state ? uniform(rand, S, -1, 1) : undefined;
  const c0 = c.state && c.cell === 'lstm' ? uniform(rand, S, -1, 1) : undefined;
  const dOutput = uniform(rand, T * B * D * c.hiddenSize, -1, 1);
  const dhN = c.state ? uniform(rand, S, -1, 1) : undefined;
  const dcN = c.state && c.cell === 'lstm' ? uniform(rand, S, -1, 1) : undefined;
  const want = rnnBackwardRef(cfg, weights, x, T, B, h0, c0, { dOutput, dhN, dcN });

  const layer = makeLayer(gpu, c.cell, { ...cfg, seed: c.seed, stepTile: c.tile });
  layer.loadStateDict(weights);
  const inShape = c.batchFirst ? [B, T, c.inputSize] : [T, B, c.inputSize];
  const outShape = c.batchFirst ? [B, T, D * c.hiddenSize] : [T, B, D * c.hiddenSize];
  const t = {
    x: Tensor.from(gpu, x, inShape),
    h0: h0 && Tensor.from(gpu, h0, stateShape),
    c0: c0 && Tensor.from(gpu, c0, stateShape),
    dOutput: Tensor.from(gpu, dOutput, outShape),
    dhN: dhN && Tensor.from(gpu, dhN, stateShape),
    dcN: dcN && Tensor.from(gpu, dcN, stateShape),
  };
  const out = layer.forwardBackward(t.x, { h0: t.h0, c0: t.c0 }, { dOutput: t.dOutput, dhN: t.dhN, dcN: t.dcN }, { inputGrad: true, initialStateGrad: true });
  const what = caseName(c);
  assertClose(`${what}: dh0`, await out.dh0!.read(), want.dh0, gradTol(want.dh0));
  if (want.dc0) assertClose(`${what}: dc0`, await out.dc0!.read(), want.dc0, gradTol(want.dc0));
  assertClose(`${what}: output`, await out.output.read(), want.output, { rtol: 1e-4, atol: 1e-4 });
  assertClose(`${what}: hN`, await out.hN.read(), want.hN, { rtol: 1e-4, atol: 1e-4 });
  assertClose(`${what}: dInput`, await out.dInput!.read(), want.dInput, gradTol(want.dInput));
  const grads = await layer.gradients();
  for (const { name } of parameterShapes(cfg)) {
    assertClose(`${what}: grad ${name}`, grads[name].data, want.dWeights[name], gradTol(want.dWeights[name]));
  }
  for (const v of [...Object.values(t), out.output, out.hN, out.cN, out.dInput, out.dh0, out.dc0]) v?.destroy();
  layer.destroy();
}

const cases: GradCase[] = [
  { cell: 'lstm', inputSize: 3, hiddenSize: 5, numLayers: 2, bidirectional: true, batchFirst: false, bias: true, T: 4, B: 3, state: true, seed: 11 },
  { cell: 'gru', inputSize: 3, hiddenSize: 5, numLayers: 2, bidirectional: true, batchFirst: true, bias: true, T: 4, B: 3, state: true, seed: 12 },
  { cell: 'rnn', inputSize: 3, hiddenSize: 5, numLayers: 2, bidirectional: true, batchFirst: false, bias: true, T: 4, B: 3, state: true, seed: 13 },
  { cell: 'rnn', nonlinearity: 'relu', inputSize: 4, hiddenSize: 7, numLayers: 1, bidirectional: false, batchFirst: true, bias: true, T: 5, B: 2, state: false, seed: 14 },
  { cell: 'lstm', inputSize: 7, hiddenSize: 33, numLayers: 1, bidirectional: false, batchFirst: false, bias: false, T: 1, B: 1, state: true, seed: 15 },
  { cell: 'gru', inputSize: 5, hiddenSize: 67, numLayers: 3, bidirectional: false, batchFirst: false, bias: true, T: 3, B: 9, state: false, seed: 16 },
  { cell: 'lstm', inputSize: 8, hiddenSize: 16, numLayers: 1, bidirectional: true, batchFirst: true, bias: true, T: 6, B: 10, state: true, seed: 17 },
  { cell: 'gru', inputSize: 2, hiddenSize: 1, numLayers: 1, bidirectional: false, batchFirst: false, bias: false, T: 2, B: 1, state: true, seed: 18 },
  // The real-GPU tile (128 threads, 1 row each) and 8 rows per thread with a remainder, on any adapter.
  { cell: 'lstm', inputSize: 5, hiddenSize: 130, numLayers: 2, bidirectional: true, batchFirst: false, bias: true, T: 3, B: 5, state: true, seed: 19, tile: { wg: 128, bt: 1 } },
  { cell: 'gru', inputSize: 5, hiddenSize: 129, numLayers: 1, bidirectional: true, batchFirst: true, bias: true, T: 3, B: 11, state: true, seed: 20, tile: { wg: 128, bt: 1 } },
  { cell: 'rnn', inputSize: 5, hiddenSize: 40, numLayers: 2, bidirectional: false, batchFirst: false, bias: true, T: 4, B: 11, state: true, seed: 21, tile: { wg: 32, bt: 8 } },
];

export const recurrentGradChecks: Check[] = cases.map((c) => ({ name: `BPTT gradients vs float64: ${caseName(c)}`, run: (gpu: Gpu) => checkGrad(gpu, c) }));

/** The GPU repack of W_hh (run after every optimizer update) equals the CPU repack of loadStateDict. */
async function checkRepack(gpu: Gpu, cell: CellKind, hiddenSize: number, seed: number): Promise<void> {
  const rand = rng(seed);
  const cfg = { cell, inputSize: 3, hiddenSize, numLayers: 2, bias: true, batchFirst: false, bidirectional: true, nonlinearity: 'tanh' as const };
  const layer = makeLayer(gpu, cell, { ...cfg, seed });
  const weights: Record<string, Float32Array> = {};
  for (const { name, shape } of parameterShapes(cfg)) weights[name] = uniform(rand, shape.reduce((a, b) => a * b, 1), -1, 1);
  layer.loadStateDict(weights);
  const cpu = await Promise.all(layer.directionParams.map(async (p) => [new Float32Array(await gpu.readBuffer(p.wp)), new Float32Array(await gpu.readBuffer(p.wb))]));
  for (const p of layer.directionParams) for (const b of [p.wp, p.wb]) gpu.device.queue.writeBuffer(b, 0, new Float32Array(b.size / 4).fill(7));
  gpu.run(layer.repackDispatches());
  for (const [i, p] of layer.directionParams.entries()) {
    assertClose(`${cell} H${hiddenSize} repack ${p.names.whh} (forward)`, new Float32Array(await gpu.readBuffer(p.wp)), cpu[i][0], { rtol: 0, atol: 0 });
    assertClose(`${cell} H${hiddenSize} repack ${p.names.whh} (backward)`, new Float32Array(await gpu.readBuffer(p.wb)), cpu[i][1], { rtol: 0, atol: 0 });
  }
  layer.destroy();
}

recurrentGradChecks.push(
  ...(['rnn', 'lstm', 'gru'] as const).flatMap((cell, i) => [1, 6, 33].map((H) => ({ name: `W_hh repack on the GPU == CPU repack: ${cell} H${H}`, run: (gpu: Gpu) => checkRepack(gpu, cell, H, 40 + i) }))),
);

/**
 * Dropout between layers (training): GPU forward + BPTT vs the float64 reference composed layer
 * by layer, with the mask rebuilt on the CPU from the same hash (dropoutKeep): the forward drops
 * layer 0's output, the backward applies the same mask to the gradient flowing back into it.
 */
async function checkDropout(gpu: Gpu, cell: CellKind, seed: number): Promise<void> {
  const rand = rng(seed);
  const [I, H, T, B, p, counter] = [3, 5, 4, 3, 0.4, 7];
  const cfg = { cell, inputSize: I, hiddenSize: H, numLayers: 2, bias: true, batchFirst: false, bidirectional: true, nonlinearity: 'tanh' as const };
  const DH = 2 * H;
  const weights: Record<string, Float32Array> = {};
  for (const { name, shape } of parameterShapes(cfg)) weights[name] = uniform(rand, shape.reduce((a, b) => a * b, 1), -0.5, 0.5);
  const x = uniform(rand, T * B * I, -1, 1);
  const dOutput = uniform(rand, T * B * DH, -1, 1);
  const layer = makeLayer(gpu, cell, { ...cfg, dropout: p, seed });
  layer.loadStateDict(weights);
  const dropout = layer.dropout!;
  dropout.setStep(counter);
  const t = { x: Tensor.from(gpu, x, [T, B, I]), dOutput: Tensor.from(gpu, dOutput, [T, B, DH]) };
  const out = layer.forwardBackward(t.x, {}, { dOutput: t.dOutput }, { inputGrad: true });

  const layerWeights = (l: number) => Object.fromEntries(Object.entries(weights).filter(([k]) => k.includes(`_l${l}`)).map(([k, v]) => [k.replace(`_l${l}`, '_l0'), v]));
  const cfg0 = { ...cfg, numLayers: 1 };
  const cfg1 = { ...cfg, numLayers: 1, inputSize: DH };
  const mask = Float64Array.from({ length: T * B * DH }, (_, i) => (dropoutKeep(dropout.seed, counter, 1, i, p) ? 1 / (1 - p) : 0));
  const kept = mask.filter((m) => m > 0).length / mask.length;
  const ref0 = rnnBackwardRef(cfg0, layerWeights(0), x, T, B, undefined, undefined, {});
  const dropped = ref0.output.map((v, i) => v * mask[i]);
  const ref1 = rnnBackwardRef(cfg1, layerWeights(1), dropped, T, B, undefined, undefined, { dOutput });
  const ref0b = rnnBackwardRef(cfg0, layerWeights(0), x, T, B, undefined, undefined, { dOutput: ref1.dInput.map((v, i) => v * mask[i]) });
  const what = `${cell} dropout ${p} (kept ${kept.toFixed(2)})`;
  assertClose(`${what}: output`, await out.output.read(), ref1.output, { rtol: 1e-4, atol: 1e-4 });
  assertClose(`${what}: hN`, await out.hN.read(), [...ref0.hN, ...ref1.hN], { rtol: 1e-4, atol: 1e-4 });
  assertClose(`${what}: dInput`, await out.dInput!.read(), ref0b.dInput, gradTol(ref0b.dInput));
  const grads = await layer.gradients();
  for (const [l, ref] of [[0, ref0b], [1, ref1]] as const) {
    for (const [k, want] of Object.entries(ref.dWeights)) {
      const name = k.replace('_l0', `_l${l}`);
      assertClose(`${what}: grad ${name}`, grads[name].data, want, gradTol(want));
    }
  }
  for (const v of [...Object.values(t), out.output, out.hN, out.cN, out.dInput, out.dh0, out.dc0]) v?.destroy();
  layer.destroy();
}

recurrentGradChecks.push(...(['lstm', 'gru', 'rnn'] as const).map((cell, i) => ({ name: `BPTT with dropout between layers vs float64 (same mask forward and backward): ${cell}`, run: (gpu: Gpu) => checkDropout(gpu, cell, 60 + i) })));

/**
 * A step-wise plan (time-major recording: each step's slice of the input GEMM right before its
 * cell step, as a decoder that feeds its own output back needs) computes what the layer-major
 * plan computes, in both layouts and in training mode (saved activations included).
 */
async function checkStepwise(gpu: Gpu, cell: CellKind, batchFirst: boolean, T: number, B: number, seed: number): Promise<void> {
  const rand = rng(seed);
  const cfg = { cell, inputSize: 5, hiddenSize: 13, numLayers: 2, bias: true, batchFirst, bidirectional: false, nonlinearity: 'tanh' as const };
  const layer = makeLayer(gpu, cell, { ...cfg, seed });
  const x = uniform(rand, T * B * cfg.inputSize, -1, 1);
  const input = Tensor.from(gpu, x, batchFirst ? [B, T, cfg.inputSize] : [T, B, cfg.inputSize]);
  const outShape = batchFirst ? [B, T, cfg.hiddenSize] : [T, B, cfg.hiddenSize];
  const stateShape = [cfg.numLayers, B, cfg.hiddenSize];
  const want = layer.forward(input);
  const tile = { ...defaultStepTile(B, gpu.adapterInfo.isFallbackAdapter) };
  for (const training of [false, true]) {
    const plan = new RecurrentPlan(gpu, layer.config, layer.directionParams, T, B, tile, training, null, true);
    assert(plan.stepGroups.length === T, `step-wise plan has ${plan.stepGroups.length} step groups, expected ${T}`);
    assert(plan.dispatches.length === plan.stepGroups.flat().length, 'step-wise plan: dispatches are not the concatenation of its step groups');
    const got = plan.run(input.buffer, null, null, outShape, stateShape);
    const what = `${cell} step-wise plan${batchFirst ? ' batchFirst' : ''} T${T} B${B}${training ? ' (training)' : ''}`;
    assertClose(`${what}: output`, await got.output.read(), await want.output.read(), { rtol: 1e-5, atol: 1e-6 });
    assertClose(`${what}: hN`, await got.hN.read(), await want.hN.read(), { rtol: 1e-5, atol: 1e-6 });
    for (const v of [got.output, got.hN, got.cN]) v?.destroy();
    plan.destroy();
  }
  for (const v of [input, want.output, want.hN, want.cN]) v?.destroy();
  layer.destroy();
}

recurrentGradChecks.push(
  ...([['lstm', false, 5, 3], ['gru', true, 4, 1], ['rnn', false, 1, 2], ['lstm', true, 3, 7]] as const).map(([cell, bf, T, B], i) => ({
    name: `step-wise recurrent plan equals the layer-major plan: ${cell}${bf ? ' batchFirst' : ''} T${T} B${B}`,
    run: (gpu: Gpu) => checkStepwise(gpu, cell, bf, T, B, 70 + i),
  })),
);
