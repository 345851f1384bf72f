// Recurrent-layer checks, run in Node and in Chromium: PyTorch fixtures (test/fixtures/rnn.json,
// made by make_rnn_fixtures.py with torch 1.13) and random odd shapes vs the float64 reference.
import type { Gpu } from '../../src/gpu/device.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { ShapeError } from '../../src/util/errors.js';
import { RNN, LSTM, GRU, type RecurrentLayer, type RecurrentOptions } from '../../src/nn/recurrent.js';
import { parameterShapes, type CellKind } from '../../src/kernels/recurrentConfig.js';
import { rnnForwardRef } from '../../src/reference/rnn.js';
import fixtures from '../fixtures/rnn.json';
import { rng, uniform, randInt, assertClose, assert } from './util.js';
import type { Check } from './kernels.js';

/** GPU (f32) vs PyTorch (f32) or the float64 reference: |err| ≤ 1e-4 + 1e-4·|want|. */
const TOL = { rtol: 1e-4, atol: 1e-4 };

type Data = { shape: number[]; data: number[] };
/** One case of test/fixtures/rnn.json (PyTorch 1.13's layer, input and outputs). */
export interface FixtureCase {
  name: string;
  cell: CellKind;
  inputSize: number;
  hiddenSize: number;
  numLayers: number;
  bias: boolean;
  batchFirst: boolean;
  bidirectional: boolean;
  nonlinearity: 'tanh' | 'relu';
  seqLen: number;
  batch: number;
  stateDict: Record<string, Data>;
  input: Data;
  h0: Data | null;
  c0: Data | null;
  output: Data;
  hN: Data;
  cN: Data | null;
}

const LAYER_KEYS = [
  'inputSize',
  'hiddenSize',
  'numLayers',
  'bias',
  'batchFirst',
  'bidirectional',
  'dropout',
  'seed',
  'stepTile',
  'store',
  'prefix',
  'nonlinearity',
];

/**
 * The layer of `cell` built from the layer options found in `config` (a case or a RecurrentConfig may hold more keys,
 * which the layers reject).
 */
export function makeLayer(
  gpu: Gpu,
  cell: CellKind,
  config: RecurrentOptions & { nonlinearity?: 'tanh' | 'relu' },
): RecurrentLayer {
  const opts = Object.fromEntries(
    Object.entries(config).filter(([k]) => LAYER_KEYS.includes(k) && (k !== 'nonlinearity' || cell === 'rnn')),
  ) as RecurrentOptions & { nonlinearity?: 'tanh' | 'relu' };
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
  assert(
    out.output.shape.join() === c.output.shape.join(),
    `${c.name}: output shape ${out.output.shape} != torch ${c.output.shape}`,
  );
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
    cell,
    inputSize: randInt(rand, 1, 40),
    hiddenSize: aligned ? 4 * randInt(rand, 1, 17) : randInt(rand, 1, 70),
    numLayers: randInt(rand, 1, 3),
    bias: rand() < 0.8,
    batchFirst: rand() < 0.5,
    bidirectional: rand() < 0.5,
    nonlinearity: (cell === 'rnn' && rand() < 0.5 ? 'relu' : 'tanh') as 'tanh' | 'relu',
  };
  const T = randInt(rand, 1, 9);
  const B = aligned ? randInt(rand, 7, 19) : randInt(rand, 1, 6);
  const weights: Record<string, Float32Array> = {};
  for (const { name, shape } of parameterShapes(cfg))
    weights[name] = uniform(
      rand,
      shape.reduce((a, b) => a * b, 1),
      -0.4,
      0.4,
    );
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

interface LengthsCase {
  cell: CellKind;
  inputSize: number;
  hiddenSize: number;
  numLayers: number;
  bidirectional: boolean;
  batchFirst: boolean;
  nonlinearity?: 'tanh' | 'relu';
  T: number;
  lengths: number[];
  /** Random h0 (and c0). */
  state: boolean;
  seed: number;
  tile?: { wg: number; bt: number };
}

export function lengthsCaseName(c: Omit<LengthsCase, 'state'> & { state?: boolean }): string {
  return (
    `${c.cell}${c.nonlinearity === 'relu' ? '(relu)' : ''}${c.tile ? ` tile ${c.tile.wg}×${c.tile.bt}` : ''} ` +
    `I${c.inputSize} H${c.hiddenSize} ` +
    `L${c.numLayers}${c.bidirectional ? ' bidir' : ''}${c.batchFirst ? ' batchFirst' : ''} ` +
    `T${c.T} lengths [${c.lengths}]${c.state ? ' h0' : ''}`
  );
}

/** Row b of a [T, B, F] (or [B, T, F] batch-first) sequence, its first `len` steps. */
export function sequenceRow(
  x: ArrayLike<number>,
  T: number,
  B: number,
  F: number,
  batchFirst: boolean,
  b: number,
  len: number,
): Float32Array {
  const out = new Float32Array(len * F);
  for (let t = 0; t < len; t++)
    for (let k = 0; k < F; k++) out[t * F + k] = x[(batchFirst ? b * T + t : t * B + b) * F + k];
  return out;
}

/** Row b of a [S, B, H] state. */
export function stateRow(x: ArrayLike<number>, S: number, B: number, H: number, b: number): Float32Array {
  const out = new Float32Array(S * H);
  for (let s = 0; s < S; s++) for (let j = 0; j < H; j++) out[s * H + j] = x[(s * B + b) * H + j];
  return out;
}

/**
 * Per-row lengths (packed sequences): the GPU forward vs the float64 reference with the same
 * lengths (padded outputs exactly 0), and each row run alone (batch 1, seqLen = its length) on the
 * GPU vs the same row inside the padded batch: output prefix, hN, cN.
 */
async function checkLengthsForward(gpu: Gpu, c: LengthsCase): Promise<void> {
  const rand = rng(c.seed);
  const cfg = {
    cell: c.cell,
    inputSize: c.inputSize,
    hiddenSize: c.hiddenSize,
    numLayers: c.numLayers,
    bias: true,
    batchFirst: c.batchFirst,
    bidirectional: c.bidirectional,
    nonlinearity: c.nonlinearity ?? 'tanh',
  };
  const { T, lengths } = c;
  const B = lengths.length;
  const H = c.hiddenSize;
  const D = c.bidirectional ? 2 : 1;
  const S = c.numLayers * D;
  const weights: Record<string, Float32Array> = {};
  for (const { name, shape } of parameterShapes(cfg))
    weights[name] = uniform(
      rand,
      shape.reduce((a, b) => a * b, 1),
      -0.5,
      0.5,
    );
  const x = uniform(rand, T * B * c.inputSize, -1, 1);
  const h0 = c.state ? uniform(rand, S * B * H, -1, 1) : undefined;
  const c0 = c.state && c.cell === 'lstm' ? uniform(rand, S * B * H, -1, 1) : undefined;
  const layer = makeLayer(gpu, c.cell, { ...cfg, seed: c.seed, stepTile: c.tile });
  layer.loadStateDict(weights);
  const what = lengthsCaseName(c);
  const seqShape = (t: number, b: number, f: number) => (c.batchFirst ? [b, t, f] : [t, b, f]);
  const made: Array<Tensor | undefined> = [];
  const tensor = (data: Float32Array | undefined, shape: number[]) => {
    const t = data && Tensor.from(gpu, data, shape);
    made.push(t);
    return t;
  };
  const run = (
    input: Float32Array,
    t: number,
    b: number,
    h: Float32Array | undefined,
    cc: Float32Array | undefined,
    lens?: number[],
  ) => {
    const out = layer.forward(tensor(input, seqShape(t, b, c.inputSize))!, {
      h0: tensor(h, [S, b, H]),
      c0: tensor(cc, [S, b, H]),
      lengths: lens,
    });
    made.push(out.output, out.hN, out.cN);
    return out;
  };
  const out = run(x, T, B, h0, c0, lengths);
  const want = rnnForwardRef(cfg, weights, x, T, B, h0, c0, lengths);
  const got = { output: await out.output.read(), hN: await out.hN.read(), cN: await out.cN?.read() };
  assertClose(`${what}: output`, got.output, want.output, TOL);
  assertClose(`${what}: hN`, got.hN, want.hN, TOL);
  if (want.cN) assertClose(`${what}: cN`, got.cN!, want.cN, TOL);
  for (let i = 0; i < want.output.length; i++)
    if (want.output[i] === 0)
      assert(
        got.output[i] === 0,
        `${what}: output element ${i} at a padded position is ${got.output[i]}, expected exactly 0`,
      );
  // Each row alone, unpadded, on the GPU.
  const ROW_TOL = { rtol: 1e-5, atol: 1e-6 };
  for (let b = 0; b < B; b++) {
    const len = lengths[b];
    const st = (v: Float32Array | undefined) => v && stateRow(v, S, B, H, b);
    const alone = run(sequenceRow(x, T, B, c.inputSize, c.batchFirst, b, len), len, 1, st(h0), st(c0));
    const row = `${what}: row ${b} (length ${len}) alone vs in the padded batch`;
    const padded = new Float32Array(T * D * H);
    padded.set(await alone.output.read());
    assertClose(`${row}: output`, sequenceRow(got.output, T, B, D * H, c.batchFirst, b, T), padded, ROW_TOL);
    assertClose(`${row}: hN`, stateRow(got.hN, S, B, H, b), await alone.hN.read(), ROW_TOL);
    if (got.cN) assertClose(`${row}: cN`, stateRow(got.cN, S, B, H, b), await alone.cN!.read(), ROW_TOL);
  }
  // The same layer without lengths still runs every step (a separate cached plan).
  const plain = run(x, T, B, h0, c0);
  assertClose(
    `${what}: without lengths`,
    await plain.output.read(),
    rnnForwardRef(cfg, weights, x, T, B, h0, c0).output,
    TOL,
  );
  for (const t of made) t?.destroy();
  layer.destroy();
}

const lengthsCases: LengthsCase[] = [
  {
    cell: 'lstm',
    inputSize: 5,
    hiddenSize: 7,
    numLayers: 2,
    bidirectional: true,
    batchFirst: false,
    T: 6,
    lengths: [6, 1, 4, 2, 5],
    state: true,
    seed: 5001,
  },
  {
    cell: 'gru',
    inputSize: 3,
    hiddenSize: 33,
    numLayers: 2,
    bidirectional: true,
    batchFirst: true,
    T: 5,
    lengths: [1, 5, 3],
    state: true,
    seed: 5002,
  },
  {
    cell: 'rnn',
    nonlinearity: 'relu',
    inputSize: 4,
    hiddenSize: 9,
    numLayers: 3,
    bidirectional: false,
    batchFirst: false,
    T: 4,
    lengths: [2, 4, 1, 3],
    state: false,
    seed: 5003,
  },
  {
    cell: 'rnn',
    inputSize: 6,
    hiddenSize: 5,
    numLayers: 1,
    bidirectional: true,
    batchFirst: true,
    T: 5,
    lengths: [3],
    state: true,
    seed: 5004,
  },
  // hiddenSize a multiple of 4 (vec4 loads), batch 11 (8 rows per thread + remainder on a software adapter).
  {
    cell: 'lstm',
    inputSize: 3,
    hiddenSize: 16,
    numLayers: 1,
    bidirectional: true,
    batchFirst: true,
    T: 7,
    lengths: [7, 1, 2, 3, 4, 5, 6, 7, 1, 3, 5],
    state: true,
    seed: 5005,
  },
  {
    cell: 'gru',
    inputSize: 2,
    hiddenSize: 12,
    numLayers: 2,
    bidirectional: false,
    batchFirst: false,
    T: 1,
    lengths: [1, 1],
    state: false,
    seed: 5006,
  },
  // The real-GPU tile (128 threads, 1 row each) on any adapter, and 8 rows per thread.
  {
    cell: 'lstm',
    inputSize: 4,
    hiddenSize: 130,
    numLayers: 1,
    bidirectional: true,
    batchFirst: false,
    T: 4,
    lengths: [3, 4, 1],
    state: true,
    seed: 5007,
    tile: { wg: 128, bt: 1 },
  },
  {
    cell: 'rnn',
    inputSize: 4,
    hiddenSize: 41,
    numLayers: 2,
    bidirectional: true,
    batchFirst: false,
    T: 5,
    lengths: [5, 2, 1, 4, 3, 5, 2, 1, 3],
    state: true,
    seed: 5008,
    tile: { wg: 32, bt: 8 },
  },
];

/** Bad lengths: a ShapeError naming 'lengths', before any GPU work; the layer works afterwards. */
async function checkLengthsErrors(gpu: Gpu): Promise<void> {
  const [I, H, T, B] = [3, 4, 5, 2];
  const layer = makeLayer(gpu, 'gru', { inputSize: I, hiddenSize: H, seed: 9 });
  const x = Tensor.from(gpu, uniform(rng(9), T * B * I, -1, 1), [T, B, I]);
  const good = layer.forward(x, { lengths: [5, 2] });
  const want = await good.output.read();
  const bad: Array<[unknown, RegExp]> = [
    [[5], /GRU.forward: argument 'lengths' has 1 entries: expected one per batch row \(2\), each in \[1, 5\]/],
    [[5, 0], /argument 'lengths' \[2\]: lengths\[1\] is 0, expected an integer in \[1, seqLen=5\]/],
    [[6, 1], /lengths\[0\] is 6, expected an integer in \[1, seqLen=5\]/],
    [[2.5, 1], /lengths\[0\] is 2.5/],
    [[NaN, 1], /lengths\[0\] is NaN/],
    [7, /argument 'lengths' must be an array of 2 integers in \[1, 5\]/],
  ];
  const submits = gpu.stats.submits;
  for (const [lengths, message] of bad) {
    for (const f of [
      () => layer.forward(x, { lengths: lengths as number[] }),
      () => layer.forwardBackward(x, { lengths: lengths as number[] }, {}),
    ]) {
      let err: unknown = null;
      try {
        f();
      } catch (e) {
        err = e;
      }
      assert(
        err instanceof ShapeError,
        `lengths ${JSON.stringify(lengths)}: expected a ShapeError, got ${String(err)}`,
      );
      const msg = (err as Error).message.replace('GRU.forwardBackward', 'GRU.forward');
      assert(
        message.test(msg),
        `lengths ${JSON.stringify(lengths)}: error '${(err as Error).message}' does not match ${message}`,
      );
    }
  }
  assert(gpu.stats.submits === submits, 'a rejected lengths argument submitted GPU work');
  const again = layer.forward(x, { lengths: [5, 2] });
  assertClose('after bad lengths: output', await again.output.read(), want, { rtol: 0, atol: 0 });
  for (const t of [x, good.output, good.hN, again.output, again.hN]) t.destroy();
  layer.destroy();
}

export const recurrentChecks: Check[] = [
  ...(fixtures.cases as unknown as FixtureCase[]).map((c) => ({
    name: `torch fixture: ${c.name}`,
    run: (gpu: Gpu) => checkFixture(gpu, c),
  })),
  ...(['rnn', 'lstm', 'gru'] as const).flatMap((cell, i) =>
    [0, 1, 2].map((k) => ({
      name: `${cell} random shape #${k} vs float64`,
      run: (gpu: Gpu) => checkRandom(gpu, cell, 1000 + 10 * i + k),
    })),
  ),
  // hiddenSize a multiple of 4 (vec4 h_prev loads) and batch 7…19 (8 rows per thread + remainder).
  ...(['rnn', 'lstm', 'gru'] as const).map((cell, i) => ({
    name: `${cell} random aligned shape vs float64`,
    run: (gpu: Gpu) => checkRandom(gpu, cell, 3000 + i, true),
  })),
  ...(['rnn', 'lstm', 'gru'] as const).map((cell, i) => ({
    name: `${cell} step-wise inference == forward`,
    run: (gpu: Gpu) => checkStepper(gpu, cell, 2000 + i),
  })),
  ...lengthsCases.map((c) => ({
    name: `per-row lengths (packed) vs float64 and each row alone: ${lengthsCaseName(c)}`,
    run: (gpu: Gpu) => checkLengthsForward(gpu, c),
  })),
  { name: 'per-row lengths: bad lengths throw a ShapeError naming them, before GPU work', run: checkLengthsErrors },
];
