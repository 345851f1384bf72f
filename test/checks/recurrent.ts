// Recurrent-layer checks, run in Node and in Chromium: PyTorch fixtures (test/fixtures/rnn.json,
// made by make_rnn_fixtures.py with torch 1.13) and random odd shapes vs the float64 reference.
import type { Gpu } from '../../src/gpu/device.js';
import { Tensor } from '../../src/tensor.js';
import { RNN, LSTM, GRU, type RecurrentLayer, type RecurrentOptions } from '../../src/nn/recurrent.js';
import { parameterShapes, type CellKind } from '../../src/nn/recurrentConfig.js';
import { rnnForwardRef } from '../../src/reference/rnn.js';
import fixtures from '../fixtures/rnn.json';
import { rng, uniform, randInt, assertClose, assert } from './util.js';
import type { Check } from './kernels.js';

/** GPU (f32) vs PyTorch (f32) or the float64 reference: |err| ≤ 1e-4 + 1e-4·|want|. */
const TOL = { rtol: 1e-4, atol: 1e-4 };

type Data = { shape: number[]; data: number[] };
interface FixtureCase {
  name: string; cell: CellKind; inputSize: number; hiddenSize: number; numLayers: number; bias: boolean;
  batchFirst: boolean; bidirectional: boolean; nonlinearity: 'tanh' | 'relu'; seqLen: number; batch: number;
  stateDict: Record<string, Data>; input: Data; h0: Data | null; c0: Data | null; output: Data; hN: Data; cN: Data | null;
}

export function makeLayer(gpu: Gpu, cell: CellKind, opts: RecurrentOptions & { nonlinearity?: 'tanh' | 'relu' }): RecurrentLayer {
  if (cell === 'lstm') return new LSTM(gpu, opts);
  if (cell === 'gru') return new GRU(gpu, opts);
  return new RNN(gpu, opts);
}

async function checkFixture(gpu: Gpu, c: FixtureCase): Promise<void> {
  const layer = makeLayer(gpu, c.cell, c);
  layer.loadStateDict(c.stateDict);
  const input = Tensor.from(gpu, c.input.data, c.input.shape);
  const h0 = c.h0 ? Tensor.from(gpu, c.h0.data, c.h0.shape) : undefined;
  const c0 = c.c0 ? Tensor.from(gpu, c.c0.data, c.c0.shape) : undefined;
  const out = layer.forward(input, { h0, c0 });
  assert(out.output.shape.join() === c.output.shape.join(), `${c.name}: output shape ${out.output.shape} != torch ${c.output.shape}`);
  assert(out.hN.shape.join() === c.hN.shape.join(), `${c.name}: hN shape ${out.hN.shape} != torch ${c.hN.shape}`);
  assertClose(`${c.name}: output`, await out.output.read(), c.output.data, TOL);
  assertClose(`${c.name}: hN`, await out.hN.read(), c.hN.data, TOL);
  if (c.cN) assertClose(`${c.name}: cN`, await out.cN!.read(), c.cN.data, TOL);
  else assert(out.cN === undefined, `${c.name}: cN returned for a ${c.cell}`);
  for (const t of [input, h0, c0, out.output, out.hN, out.cN]) t?.destroy();
  layer.destroy();
}

async function checkRandom(gpu: Gpu, cell: CellKind, seed: number, aligned = false): Promise<void> {
  const rand = rng(seed);
  const cfg = {
    cell, inputSize: randInt(rand, 1, 40), hiddenSize: aligned ? 4 * randInt(rand, 1, 17) : randInt(rand, 1, 70), numLayers: randInt(rand, 1, 3),
    bias: rand() < 0.8, batchFirst: rand() < 0.5, bidirectional: rand() < 0.5,
    nonlinearity: (cell === 'rnn' && rand() < 0.5 ? 'relu' : 'tanh') as 'tanh' | 'relu',
  };
  const T = randInt(rand, 1, 9);
  const B = aligned ? randInt(rand, 7, 19) : randInt(rand, 1, 6);
  const weights: Record<string, Float32Array> = {};
  for (const { name, shape } of parameterShapes(cfg)) weights[name] = uniform(rand, shape.reduce((a, b) => a * b, 1), -0.4, 0.4);
  const x = uniform(rand, T * B * cfg.inputSize, -1, 1);
  const S = cfg.numLayers * (cfg.bidirectional ? 2 : 1) * B * cfg.hiddenSize;
  const h0 = rand() < 0.5 ? uniform(rand, S, -1, 1) : undefined;
  const c0 = cell === 'lstm' && rand() < 0.5 ? uniform(rand, S, -1, 1) : undefined;
  const what = `${cell} ${JSON.stringify({ ...cfg, T, B, h0: !!h0, c0: !!c0 })}`;

  const layer = makeLayer(gpu, cell, { ...cfg, seed });
  layer.loadStateDict(weights);
  const stateShape = [S / B / cfg.hiddenSize, B, cfg.hiddenSize];
  const xt = Tensor.from(gpu, x, cfg.batchFirst ? [B, T, cfg.inputSize] : [T, B, cfg.inputSize]);
  const h0t = h0 && Tensor.from(gpu, h0, stateShape);
  const c0t = c0 && Tensor.from(gpu, c0, stateShape);
  const out = layer.forward(xt, { h0: h0t, c0: c0t });
  const want = rnnForwardRef(cfg, weights, x, T, B, h0, c0);
  assertClose(`${what}: output`, await out.output.read(), want.output, TOL);
  assertClose(`${what}: hN`, await out.hN.read(), want.hN, TOL);
  if (want.cN) assertClose(`${what}: cN`, await out.cN!.read(), want.cN, TOL);
  for (const t of [xt, h0t, c0t, out.output, out.hN, out.cN]) t?.destroy();
  layer.destroy();
}

/** Step-wise inference, one timestep per call, must reproduce forward() over the sequence. */
async function checkStepper(gpu: Gpu, cell: CellKind, seed: number): Promise<void> {
  const rand = rng(seed);
  const [I, H, L, T, B] = [7, 19, 2, 5, 3];
  const layer = makeLayer(gpu, cell, { inputSize: I, hiddenSize: H, numLayers: L, seed });
  const x = uniform(rand, T * B * I, -1, 1);
  const full = layer.forward(Tensor.from(gpu, x, [T, B, I]));
  const want = await full.output.read();
  const stepper = layer.createStepper(B);
  for (let t = 0; t < T; t++) {
    const xt = Tensor.from(gpu, x.subarray(t * B * I, (t + 1) * B * I), [B, I]);
    const h = stepper.step(xt);
    assertClose(`${cell} stepper t=${t}`, await h.read(), want.subarray(t * B * H, (t + 1) * B * H), TOL);
    xt.destroy();
    h.destroy();
  }
  assertClose(`${cell} stepper final h`, await stepper.state.h.read(), await full.hN.read(), TOL);
  stepper.destroy();
  layer.destroy();
}

export const recurrentChecks: Check[] = [
  ...(fixtures.cases as unknown as FixtureCase[]).map((c) => ({ name: `torch fixture: ${c.name}`, run: (gpu: Gpu) => checkFixture(gpu, c) })),
  ...(['rnn', 'lstm', 'gru'] as const).flatMap((cell, i) =>
    [0, 1, 2].map((k) => ({ name: `${cell} random shape #${k} vs float64`, run: (gpu: Gpu) => checkRandom(gpu, cell, 1000 + 10 * i + k) })),
  ),
  // hiddenSize a multiple of 4 (vec4 h_prev loads) and batch 7…19 (8 rows per thread + remainder).
  ...(['rnn', 'lstm', 'gru'] as const).map((cell, i) => ({ name: `${cell} random aligned shape vs float64`, run: (gpu: Gpu) => checkRandom(gpu, cell, 3000 + i, true) })),
  ...(['rnn', 'lstm', 'gru'] as const).map((cell, i) => ({ name: `${cell} step-wise inference == forward`, run: (gpu: Gpu) => checkStepper(gpu, cell, 2000 + i) })),
];
