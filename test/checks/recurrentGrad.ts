// Backpropagation through time on the GPU vs the float64 reference (src/reference/rnnBackward.ts,
// itself checked against finite differences in test/node/referenceGrad.test.ts). Runs in Node and
// in Chromium. Random odd shapes, stacked + bidirectional, batch-first, seqLen 1, batch 1.
import type { Gpu } from '../../src/gpu/device.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { parameterShapes, type CellKind } from '../../src/kernels/recurrentConfig.js';
import { rnnBackwardRef } from '../../src/reference/rnnBackward.js';
import { rng, uniform, assertClose, assert } from './util.js';
import { RecurrentPlan } from '../../src/graph/recurrentPlan.js';
import { defaultStepTile } from '../../src/kernels/cellStep.js';
import { dropoutKeep } from '../../src/kernels/dropout.js';
import { makeLayer, sequenceRow, stateRow } from './recurrent.js';
import type { Check } from './kernels.js';

/**
 * f32 GPU gradients vs float64: |err| ≤ 1e-3·|want| + 1e-3·mean|want| (1e-3 relative, with an
 * absolute floor at 1e-3 of the tensor's typical magnitude for elements that cancel to ~0).
 */
export function gradTol(want: ArrayLike<number>): { rtol: number; atol: number } {
  let s = 0;
  for (let i = 0; i < want.length; i++) s += Math.abs(want[i]);
  return { rtol: 1e-3, atol: 1e-3 * (s / Math.max(1, want.length)) + 1e-7 };
}

export interface GradCase {
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
  /** Per-row sequence lengths (packed sequences), B of them. */
  lengths?: number[];
}

function caseName(c: GradCase): string {
  return (
    `${c.cell}${c.nonlinearity === 'relu' ? '(relu)' : ''}${c.tile ? ` tile ${c.tile.wg}×${c.tile.bt}` : ''} ` +
    `I${c.inputSize} H${c.hiddenSize} ` +
    `L${c.numLayers}${c.bidirectional ? ' bidir' : ''}${c.batchFirst ? ' batchFirst' : ''}${c.bias ? '' : ' noBias'} ` +
    `T${c.T} B${c.B}${c.state ? ' h0/dhN' : ''}${c.lengths ? ` lengths [${c.lengths}]` : ''}`
  );
}

async function checkGrad(gpu: Gpu, c: GradCase): Promise<void> {
  const rand = rng(c.seed);
  const cfg = {
    cell: c.cell,
    inputSize: c.inputSize,
    hiddenSize: c.hiddenSize,
    numLayers: c.numLayers,
    bias: c.bias,
    batchFirst: c.batchFirst,
    bidirectional: c.bidirectional,
    nonlinearity: c.nonlinearity ?? 'tanh',
  };
  const { T, B } = c;
  const D = c.bidirectional ? 2 : 1;
  const weights: Record<string, Float32Array> = {};
  for (const { name, shape } of parameterShapes(cfg))
    weights[name] = uniform(
      rand,
      shape.reduce((a, b) => a * b, 1),
      -0.5,
      0.5,
    );
  const x = uniform(rand, T * B * c.inputSize, -1, 1);
  const S = c.numLayers * D * B * c.hiddenSize;
  const stateShape = [c.numLayers * D, B, c.hiddenSize];
  const h0 = c.state ? uniform(rand, S, -1, 1) : undefined;
  const c0 = c.state && c.cell === 'lstm' ? uniform(rand, S, -1, 1) : undefined;
  const dOutput = uniform(rand, T * B * D * c.hiddenSize, -1, 1);
  const dhN = c.state ? uniform(rand, S, -1, 1) : undefined;
  const dcN = c.state && c.cell === 'lstm' ? uniform(rand, S, -1, 1) : undefined;
  const want = rnnBackwardRef(cfg, weights, x, T, B, h0, c0, { dOutput, dhN, dcN }, c.lengths);

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
  const out = layer.forwardBackward(
    t.x,
    { h0: t.h0, c0: t.c0, lengths: c.lengths },
    { dOutput: t.dOutput, dhN: t.dhN, dcN: t.dcN },
    { inputGrad: true, initialStateGrad: true },
  );
  const what = caseName(c);
  assertClose(`${what}: dh0`, await out.dh0!.read(), want.dh0, gradTol(want.dh0));
  if (want.dc0) assertClose(`${what}: dc0`, await out.dc0!.read(), want.dc0, gradTol(want.dc0));
  assertClose(`${what}: output`, await out.output.read(), want.output, { rtol: 1e-4, atol: 1e-4 });
  assertClose(`${what}: hN`, await out.hN.read(), want.hN, { rtol: 1e-4, atol: 1e-4 });
  if (want.cN) assertClose(`${what}: cN`, await out.cN!.read(), want.cN, { rtol: 1e-4, atol: 1e-4 });
  const dInput = await out.dInput!.read();
  assertClose(`${what}: dInput`, dInput, want.dInput, gradTol(want.dInput));
  if (c.lengths) {
    // Padded positions: exactly 0 (dgates are 0 there), whatever dOutput held there.
    for (let i = 0; i < want.dInput.length; i++)
      if (want.dInput[i] === 0)
        assert(
          dInput[i] === 0,
          `${what}: dInput element ${i} at a padded position is ${dInput[i]}, expected exactly 0`,
        );
  }
  const grads = await layer.gradients();
  for (const { name } of parameterShapes(cfg)) {
    assertClose(`${what}: grad ${name}`, grads[name].data, want.dWeights[name], gradTol(want.dWeights[name]));
  }
  for (const v of [...Object.values(t), out.output, out.hN, out.cN, out.dInput, out.dh0, out.dc0]) v?.destroy();
  layer.destroy();
}

const cases: GradCase[] = [
  {
    cell: 'lstm',
    inputSize: 3,
    hiddenSize: 5,
    numLayers: 2,
    bidirectional: true,
    batchFirst: false,
    bias: true,
    T: 4,
    B: 3,
    state: true,
    seed: 11,
  },
  {
    cell: 'gru',
    inputSize: 3,
    hiddenSize: 5,
    numLayers: 2,
    bidirectional: true,
    batchFirst: true,
    bias: true,
    T: 4,
    B: 3,
    state: true,
    seed: 12,
  },
  {
    cell: 'rnn',
    inputSize: 3,
    hiddenSize: 5,
    numLayers: 2,
    bidirectional: true,
    batchFirst: false,
    bias: true,
    T: 4,
    B: 3,
    state: true,
    seed: 13,
  },
  {
    cell: 'rnn',
    nonlinearity: 'relu',
    inputSize: 4,
    hiddenSize: 7,
    numLayers: 1,
    bidirectional: false,
    batchFirst: true,
    bias: true,
    T: 5,
    B: 2,
    state: false,
    seed: 14,
  },
  {
    cell: 'lstm',
    inputSize: 7,
    hiddenSize: 33,
    numLayers: 1,
    bidirectional: false,
    batchFirst: false,
    bias: false,
    T: 1,
    B: 1,
    state: true,
    seed: 15,
  },
  {
    cell: 'gru',
    inputSize: 5,
    hiddenSize: 67,
    numLayers: 3,
    bidirectional: false,
    batchFirst: false,
    bias: true,
    T: 3,
    B: 9,
    state: false,
    seed: 16,
  },
  {
    cell: 'lstm',
    inputSize: 8,
    hiddenSize: 16,
    numLayers: 1,
    bidirectional: true,
    batchFirst: true,
    bias: true,
    T: 6,
    B: 10,
    state: true,
    seed: 17,
  },
  {
    cell: 'gru',
    inputSize: 2,
    hiddenSize: 1,
    numLayers: 1,
    bidirectional: false,
    batchFirst: false,
    bias: false,
    T: 2,
    B: 1,
    state: true,
    seed: 18,
  },
  // The real-GPU tile (128 threads, 1 row each) and 8 rows per thread with a remainder, on any adapter.
  {
    cell: 'lstm',
    inputSize: 5,
    hiddenSize: 130,
    numLayers: 2,
    bidirectional: true,
    batchFirst: false,
    bias: true,
    T: 3,
    B: 5,
    state: true,
    seed: 19,
    tile: { wg: 128, bt: 1 },
  },
  {
    cell: 'gru',
    inputSize: 5,
    hiddenSize: 129,
    numLayers: 1,
    bidirectional: true,
    batchFirst: true,
    bias: true,
    T: 3,
    B: 11,
    state: true,
    seed: 20,
    tile: { wg: 128, bt: 1 },
  },
  {
    cell: 'rnn',
    inputSize: 5,
    hiddenSize: 40,
    numLayers: 2,
    bidirectional: false,
    batchFirst: false,
    bias: true,
    T: 4,
    B: 11,
    state: true,
    seed: 21,
    tile: { wg: 32, bt: 8 },
  },
  // Per-row lengths (packed sequences): rows of full length, of length 1 and in between; dOutput
  // is random at the padded positions too (it must be ignored there).
  {
    cell: 'lstm',
    inputSize: 3,
    hiddenSize: 5,
    numLayers: 2,
    bidirectional: true,
    batchFirst: false,
    bias: true,
    T: 5,
    B: 4,
    state: true,
    seed: 81,
    lengths: [5, 1, 3, 2],
  },
  {
    cell: 'gru',
    inputSize: 3,
    hiddenSize: 7,
    numLayers: 2,
    bidirectional: true,
    batchFirst: true,
    bias: true,
    T: 4,
    B: 3,
    state: true,
    seed: 82,
    lengths: [2, 4, 1],
  },
  {
    cell: 'rnn',
    inputSize: 3,
    hiddenSize: 5,
    numLayers: 2,
    bidirectional: true,
    batchFirst: false,
    bias: true,
    T: 4,
    B: 3,
    state: true,
    seed: 83,
    lengths: [1, 3, 4],
  },
  {
    cell: 'rnn',
    nonlinearity: 'relu',
    inputSize: 4,
    hiddenSize: 9,
    numLayers: 1,
    bidirectional: false,
    batchFirst: true,
    bias: true,
    T: 5,
    B: 2,
    state: true,
    seed: 84,
    lengths: [5, 2],
  },
  {
    cell: 'lstm',
    inputSize: 7,
    hiddenSize: 33,
    numLayers: 1,
    bidirectional: true,
    batchFirst: true,
    bias: false,
    T: 4,
    B: 1,
    state: true,
    seed: 85,
    lengths: [2],
  },
  {
    cell: 'gru',
    inputSize: 5,
    hiddenSize: 67,
    numLayers: 3,
    bidirectional: false,
    batchFirst: false,
    bias: true,
    T: 3,
    B: 9,
    state: false,
    seed: 86,
    lengths: [3, 1, 2, 3, 1, 2, 2, 3, 1],
  },
  {
    cell: 'lstm',
    inputSize: 8,
    hiddenSize: 16,
    numLayers: 2,
    bidirectional: true,
    batchFirst: true,
    bias: true,
    T: 6,
    B: 10,
    state: true,
    seed: 87,
    lengths: [6, 1, 2, 3, 4, 5, 6, 5, 1, 2],
  },
  {
    cell: 'gru',
    inputSize: 2,
    hiddenSize: 1,
    numLayers: 1,
    bidirectional: true,
    batchFirst: false,
    bias: true,
    T: 3,
    B: 2,
    state: true,
    seed: 88,
    lengths: [1, 3],
  },
  {
    cell: 'lstm',
    inputSize: 5,
    hiddenSize: 130,
    numLayers: 2,
    bidirectional: true,
    batchFirst: false,
    bias: true,
    T: 3,
    B: 5,
    state: true,
    seed: 89,
    tile: { wg: 128, bt: 1 },
    lengths: [3, 1, 2, 3, 2],
  },
  {
    cell: 'gru',
    inputSize: 5,
    hiddenSize: 129,
    numLayers: 1,
    bidirectional: true,
    batchFirst: true,
    bias: true,
    T: 3,
    B: 11,
    state: true,
    seed: 90,
    tile: { wg: 128, bt: 1 },
    lengths: [1, 2, 3, 3, 2, 1, 1, 2, 3, 2, 1],
  },
  {
    cell: 'rnn',
    inputSize: 5,
    hiddenSize: 40,
    numLayers: 2,
    bidirectional: true,
    batchFirst: false,
    bias: true,
    T: 4,
    B: 11,
    state: true,
    seed: 91,
    tile: { wg: 32, bt: 8 },
    lengths: [4, 1, 2, 3, 4, 3, 2, 1, 4, 2, 3],
  },
];

/** The BPTT check of one case: outputs and every gradient vs the float64 reference. */
export function bpttCheck(c: GradCase): Check {
  return { name: `BPTT gradients vs float64: ${caseName(c)}`, run: (gpu: Gpu) => checkGrad(gpu, c) };
}

export const recurrentGradChecks: Check[] = cases.map(bpttCheck);

/**
 * Per-row lengths, the defining property: each row run alone on the GPU (batch 1, seqLen = its
 * length, no lengths) gives what the same row gives inside the padded batch with lengths: output
 * prefix (0 after it), hN, cN, dInput (0 after it), dh0, dc0; and the batch's weight gradients
 * are the sum of the rows' (padding contributes nothing).
 */
async function checkGradAlone(
  gpu: Gpu,
  cell: CellKind,
  bidirectional: boolean,
  batchFirst: boolean,
  T: number,
  lengths: number[],
  seed: number,
): Promise<void> {
  const rand = rng(seed);
  const cfg = {
    cell,
    inputSize: 4,
    hiddenSize: 6,
    numLayers: 2,
    bias: true,
    batchFirst,
    bidirectional,
    nonlinearity: 'tanh' as const,
  };
  const B = lengths.length;
  const [I, H] = [cfg.inputSize, cfg.hiddenSize];
  const D = bidirectional ? 2 : 1;
  const S = cfg.numLayers * D;
  const lstm = cell === 'lstm';
  const layer = makeLayer(gpu, cell, { ...cfg, seed });
  const x = uniform(rand, T * B * I, -1, 1);
  const h0 = uniform(rand, S * B * H, -1, 1);
  const c0 = lstm ? uniform(rand, S * B * H, -1, 1) : undefined;
  const dOutput = uniform(rand, T * B * D * H, -1, 1);
  const dhN = uniform(rand, S * B * H, -1, 1);
  const dcN = lstm ? uniform(rand, S * B * H, -1, 1) : undefined;
  const made: Array<Tensor | undefined> = [];
  const tensor = (data: Float32Array | undefined, shape: number[]) => {
    const t = data && Tensor.from(gpu, data, shape);
    made.push(t);
    return t;
  };
  const seq = (t: number, b: number, f: number) => (batchFirst ? [b, t, f] : [t, b, f]);
  const run = async (
    xs: Float32Array,
    t: number,
    b: number,
    st: Array<Float32Array | undefined>,
    dOut: Float32Array,
    lens?: number[],
  ) => {
    const out = layer.forwardBackward(
      tensor(xs, seq(t, b, I))!,
      { h0: tensor(st[0], [S, b, H]), c0: tensor(st[1], [S, b, H]), lengths: lens },
      { dOutput: tensor(dOut, seq(t, b, D * H)), dhN: tensor(st[2], [S, b, H]), dcN: tensor(st[3], [S, b, H]) },
      { inputGrad: true, initialStateGrad: true },
    );
    made.push(out.output, out.hN, out.cN, out.dInput, out.dh0, out.dc0);
    const grads = await layer.gradients();
    return {
      output: await out.output.read(),
      hN: await out.hN.read(),
      cN: await out.cN?.read(),
      dInput: await out.dInput!.read(),
      dh0: await out.dh0!.read(),
      dc0: await out.dc0?.read(),
      grads: Object.fromEntries(Object.entries(grads).map(([k, v]) => [k, v.data])),
    };
  };
  const batch = await run(x, T, B, [h0, c0, dhN, dcN], dOutput, lengths);
  const what = `${cell}${bidirectional ? ' bidir' : ''}${batchFirst ? ' batchFirst' : ''} T${T} lengths [${lengths}]`;
  const summed: Record<string, Float64Array> = Object.fromEntries(
    Object.entries(batch.grads).map(([k, v]) => [k, new Float64Array(v.length)]),
  );
  const EQ = { rtol: 1e-5, atol: 1e-6 };
  for (let b = 0; b < B; b++) {
    const len = lengths[b];
    const row = (v: Float32Array | undefined) => v && stateRow(v, S, B, H, b);
    const alone = await run(
      sequenceRow(x, T, B, I, batchFirst, b, len),
      len,
      1,
      [row(h0), row(c0), row(dhN), row(dcN)],
      sequenceRow(dOutput, T, B, D * H, batchFirst, b, len),
    );
    const at = `${what}: row ${b} (length ${len}) alone vs in the padded batch`;
    const pad = (v: Float32Array, n: number) => {
      const out = new Float32Array(n);
      out.set(v);
      return out;
    };
    assertClose(
      `${at}: output`,
      sequenceRow(batch.output, T, B, D * H, batchFirst, b, T),
      pad(alone.output, T * D * H),
      EQ,
    );
    assertClose(`${at}: hN`, row(batch.hN)!, alone.hN, EQ);
    if (lstm) assertClose(`${at}: cN`, row(batch.cN)!, alone.cN!, EQ);
    assertClose(
      `${at}: dInput`,
      sequenceRow(batch.dInput, T, B, I, batchFirst, b, T),
      pad(alone.dInput, T * I),
      gradTol(alone.dInput),
    );
    assertClose(`${at}: dh0`, row(batch.dh0)!, alone.dh0, gradTol(alone.dh0));
    if (lstm) assertClose(`${at}: dc0`, row(batch.dc0)!, alone.dc0!, gradTol(alone.dc0!));
    for (const [k, v] of Object.entries(alone.grads)) v.forEach((g, i) => (summed[k][i] += g));
  }
  for (const [k, v] of Object.entries(batch.grads))
    assertClose(`${what}: grad ${k} == Σ over the rows alone`, v, summed[k], gradTol(summed[k]));
  for (const t of made) t?.destroy();
  layer.destroy();
}

recurrentGradChecks.push(
  ...(
    [
      ['lstm', true, true, 5, [3, 5, 1, 4]],
      ['gru', true, false, 4, [4, 1, 2]],
      ['rnn', true, true, 4, [2, 4, 1]],
      ['lstm', false, false, 3, [1, 3]],
      ['gru', false, true, 5, [2]],
    ] as const
  ).map(([cell, bidir, bf, T, lens], i) => ({
    name:
      `per-row lengths: each row alone == the row in the padded batch (forward + ` +
      `BPTT): ${cell}${bidir ? ' bidir' : ''}${bf ? ' batchFirst' : ''} T${T} lengths [${lens}]`,
    run: (gpu: Gpu) => checkGradAlone(gpu, cell, bidir, bf, T, [...lens], 95 + i),
  })),
);

/** The GPU repack of W_hh (run after every optimizer update) equals the CPU repack of loadStateDict. */
async function checkRepack(gpu: Gpu, cell: CellKind, hiddenSize: number, seed: number): Promise<void> {
  const rand = rng(seed);
  const cfg = {
    cell,
    inputSize: 3,
    hiddenSize,
    numLayers: 2,
    bias: true,
    batchFirst: false,
    bidirectional: true,
    nonlinearity: 'tanh' as const,
  };
  const layer = makeLayer(gpu, cell, { ...cfg, seed });
  const weights: Record<string, Float32Array> = {};
  for (const { name, shape } of parameterShapes(cfg))
    weights[name] = uniform(
      rand,
      shape.reduce((a, b) => a * b, 1),
      -1,
      1,
    );
  layer.loadStateDict(weights);
  const cpu = await Promise.all(
    layer.directionParams.map(async (p) => [
      new Float32Array(await gpu.readBuffer(p.wp)),
      new Float32Array(await gpu.readBuffer(p.wb)),
    ]),
  );
  for (const p of layer.directionParams)
    for (const b of [p.wp, p.wb]) gpu.device.queue.writeBuffer(b, 0, new Float32Array(b.size / 4).fill(7));
  gpu.run(layer.repackDispatches());
  for (const [i, p] of layer.directionParams.entries()) {
    assertClose(
      `${cell} H${hiddenSize} repack ${p.names.whh} (forward)`,
      new Float32Array(await gpu.readBuffer(p.wp)),
      cpu[i][0],
      { rtol: 0, atol: 0 },
    );
    assertClose(
      `${cell} H${hiddenSize} repack ${p.names.whh} (backward)`,
      new Float32Array(await gpu.readBuffer(p.wb)),
      cpu[i][1],
      { rtol: 0, atol: 0 },
    );
  }
  layer.destroy();
}

recurrentGradChecks.push(
  ...(['rnn', 'lstm', 'gru'] as const).flatMap((cell, i) =>
    [1, 6, 33].map((H) => ({
      name: `W_hh repack on the GPU == CPU repack: ${cell} H${H}`,
      run: (gpu: Gpu) => checkRepack(gpu, cell, H, 40 + i),
    })),
  ),
);

/**
 * Dropout between layers (training): GPU forward + BPTT vs the float64 reference composed layer
 * by layer, with the mask rebuilt on the CPU from the same hash (dropoutKeep): the forward drops
 * layer 0's output, the backward applies the same mask to the gradient flowing back into it.
 */
async function checkDropout(gpu: Gpu, cell: CellKind, seed: number): Promise<void> {
  const rand = rng(seed);
  const [I, H, T, B, p, counter] = [3, 5, 4, 3, 0.4, 7];
  const cfg = {
    cell,
    inputSize: I,
    hiddenSize: H,
    numLayers: 2,
    bias: true,
    batchFirst: false,
    bidirectional: true,
    nonlinearity: 'tanh' as const,
  };
  const DH = 2 * H;
  const weights: Record<string, Float32Array> = {};
  for (const { name, shape } of parameterShapes(cfg))
    weights[name] = uniform(
      rand,
      shape.reduce((a, b) => a * b, 1),
      -0.5,
      0.5,
    );
  const x = uniform(rand, T * B * I, -1, 1);
  const dOutput = uniform(rand, T * B * DH, -1, 1);
  const layer = makeLayer(gpu, cell, { ...cfg, dropout: p, seed });
  layer.loadStateDict(weights);
  const dropout = layer.dropout!;
  dropout.setStep(counter);
  const t = { x: Tensor.from(gpu, x, [T, B, I]), dOutput: Tensor.from(gpu, dOutput, [T, B, DH]) };
  const out = layer.forwardBackward(t.x, {}, { dOutput: t.dOutput }, { inputGrad: true });

  const layerWeights = (l: number) =>
    Object.fromEntries(
      Object.entries(weights)
        .filter(([k]) => k.includes(`_l${l}`))
        .map(([k, v]) => [k.replace(`_l${l}`, '_l0'), v]),
    );
  const cfg0 = { ...cfg, numLayers: 1 };
  const cfg1 = { ...cfg, numLayers: 1, inputSize: DH };
  const mask = Float64Array.from({ length: T * B * DH }, (_, i) =>
    dropoutKeep(dropout.seed, counter, 1, i, p) ? 1 / (1 - p) : 0,
  );
  const kept = mask.filter((m) => m > 0).length / mask.length;
  const ref0 = rnnBackwardRef(cfg0, layerWeights(0), x, T, B, undefined, undefined, {});
  const dropped = ref0.output.map((v, i) => v * mask[i]);
  const ref1 = rnnBackwardRef(cfg1, layerWeights(1), dropped, T, B, undefined, undefined, { dOutput });
  const ref0b = rnnBackwardRef(cfg0, layerWeights(0), x, T, B, undefined, undefined, {
    dOutput: ref1.dInput.map((v, i) => v * mask[i]),
  });
  const what = `${cell} dropout ${p} (kept ${kept.toFixed(2)})`;
  assertClose(`${what}: output`, await out.output.read(), ref1.output, { rtol: 1e-4, atol: 1e-4 });
  assertClose(`${what}: hN`, await out.hN.read(), [...ref0.hN, ...ref1.hN], { rtol: 1e-4, atol: 1e-4 });
  assertClose(`${what}: dInput`, await out.dInput!.read(), ref0b.dInput, gradTol(ref0b.dInput));
  const grads = await layer.gradients();
  for (const [l, ref] of [
    [0, ref0b],
    [1, ref1],
  ] as const) {
    for (const [k, want] of Object.entries(ref.dWeights)) {
      const name = k.replace('_l0', `_l${l}`);
      assertClose(`${what}: grad ${name}`, grads[name].data, want, gradTol(want));
    }
  }
  for (const v of [...Object.values(t), out.output, out.hN, out.cN, out.dInput, out.dh0, out.dc0]) v?.destroy();
  layer.destroy();
}

recurrentGradChecks.push(
  ...(['lstm', 'gru', 'rnn'] as const).map((cell, i) => ({
    name: `BPTT with dropout between layers vs float64 (same mask forward and backward): ${cell}`,
    run: (gpu: Gpu) => checkDropout(gpu, cell, 60 + i),
  })),
);

/**
 * A step-wise plan (time-major recording: each step's slice of the input GEMM right before its
 * cell step, as a decoder that feeds its own output back needs) computes what the layer-major
 * plan computes, in both layouts and in training mode (saved activations included).
 */
async function checkStepwise(
  gpu: Gpu,
  cell: CellKind,
  batchFirst: boolean,
  T: number,
  B: number,
  seed: number,
): Promise<void> {
  const rand = rng(seed);
  const cfg = {
    cell,
    inputSize: 5,
    hiddenSize: 13,
    numLayers: 2,
    bias: true,
    batchFirst,
    bidirectional: false,
    nonlinearity: 'tanh' as const,
  };
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
    assert(
      plan.dispatches.length === plan.stepGroups.flat().length,
      'step-wise plan: dispatches are not the concatenation of its step groups',
    );
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
  ...(
    [
      ['lstm', false, 5, 3],
      ['gru', true, 4, 1],
      ['rnn', false, 1, 2],
      ['lstm', true, 3, 7],
    ] as const
  ).map(([cell, bf, T, B], i) => ({
    name: `step-wise recurrent plan equals the layer-major plan: ${cell}${bf ? ' batchFirst' : ''} T${T} B${B}`,
    run: (gpu: Gpu) => checkStepwise(gpu, cell, bf, T, B, 70 + i),
  })),
);
