// LSTM with projSize (PyTorch's proj_size): h_t = W_hr·(o_t ⊙ tanh(c_t)).
//   - the float64 reference (src/reference/rnn.ts, rnnBackward.ts) vs PyTorch 1.13
//     (test/fixtures/lstm_proj.json from make_lstm_proj_fixture.py) and vs central finite differences;
//   - the GPU forward and BPTT (eager) vs the reference (forward 1e-4, gradients 1e-3) and vs PyTorch;
//   - the traced path: LSTM({ projSize }) inside a Module trained by a Trainer vs finite differences;
//   - dispatch counts, the W_hr repack, the stepper, option errors.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ArgumentError,
  F,
  GRU,
  LSTM,
  Linear,
  Module,
  RNN,
  ShapeError,
  Tensor,
  Trainer,
  type Gpu,
} from '../../src/index.js';
import { parameterShapes, realHiddenSize, type RecurrentConfig } from '../../src/kernels/recurrentConfig.js';
import { rnnForwardRef } from '../../src/reference/rnn.js';
import { rnnBackwardRef } from '../../src/reference/rnnBackward.js';
import { dropoutKeep } from '../../src/kernels/dropout.js';
import { assertClose, rng, uniform } from '../checks/util.js';
import { testGpu } from './gpu.js';

type Rec = { shape: number[]; data: number[] };
interface FixtureCase {
  name: string;
  config: {
    inputSize: number;
    hiddenSize: number;
    projSize: number;
    numLayers: number;
    bias: boolean;
    batchFirst: boolean;
    bidirectional: boolean;
  };
  seqLen: number;
  batch: number;
  state_dict: Record<string, Rec>;
  input: Rec;
  h0?: Rec;
  c0?: Rec;
  dOutput: Rec;
  dhN: Rec;
  dcN: Rec;
  output: Rec;
  hN: Rec;
  cN: Rec;
  grads: Record<string, Rec>;
  dInput: Rec;
  dh0?: Rec;
  dc0?: Rec;
}
const fixture = JSON.parse(readFileSync(new URL('../fixtures/lstm_proj.json', import.meta.url), 'utf8')) as {
  torch: string;
  cases: FixtureCase[];
};
const fixtureCase = (name: string): FixtureCase => {
  const c = fixture.cases.find((f) => f.name === name);
  if (!c) throw new Error(`no fixture case '${name}' in lstm_proj.json`);
  return c;
};

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

const lstmConfig = (
  c: Partial<RecurrentConfig> & { inputSize: number; hiddenSize: number; projSize: number },
): RecurrentConfig => ({
  cell: 'lstm',
  numLayers: 1,
  bias: true,
  batchFirst: false,
  bidirectional: false,
  ...c,
});

/** As test/checks/recurrentGrad.ts: 1e-3 relative, with a floor at 1e-3 of the tensor's mean magnitude. */
function gradTol(want: ArrayLike<number>): { rtol: number; atol: number } {
  let s = 0;
  for (let i = 0; i < want.length; i++) s += Math.abs(want[i]);
  return { rtol: 1e-3, atol: 1e-3 * (s / Math.max(1, want.length)) + 1e-7 };
}
const FWD = { rtol: 1e-4, atol: 1e-4 };

describe('LSTM projSize: float64 reference', () => {
  it("parameter names, shapes and order are PyTorch's (weight_hr after the biases)", () => {
    for (const c of fixture.cases) {
      const cfg = lstmConfig(c.config);
      expect(parameterShapes(cfg).map((p) => [p.name, p.shape])).toEqual(
        Object.entries(c.state_dict).map(([k, v]) => [k, v.shape]),
      );
    }
  });

  for (const c of fixture.cases) {
    it(`vs PyTorch ${fixture.torch}: ${c.name} (forward, every gradient)`, () => {
      const cfg = lstmConfig(c.config);
      const w = Object.fromEntries(Object.entries(c.state_dict).map(([k, v]) => [k, v.data]));
      const fwd = rnnForwardRef(cfg, w, c.input.data, c.seqLen, c.batch, c.h0?.data, c.c0?.data);
      const EXACT = { rtol: 1e-9, atol: 1e-12 };
      assertClose(`${c.name}: output`, fwd.output, c.output.data, EXACT);
      assertClose(`${c.name}: hN`, fwd.hN, c.hN.data, EXACT);
      assertClose(`${c.name}: cN`, fwd.cN!, c.cN.data, EXACT);
      const bwd = rnnBackwardRef(cfg, w, c.input.data, c.seqLen, c.batch, c.h0?.data, c.c0?.data, {
        dOutput: c.dOutput.data,
        dhN: c.dhN.data,
        dcN: c.dcN.data,
      });
      assertClose(`${c.name}: dInput`, bwd.dInput, c.dInput.data, EXACT);
      if (c.dh0) assertClose(`${c.name}: dh0`, bwd.dh0, c.dh0.data, EXACT);
      if (c.dc0) assertClose(`${c.name}: dc0`, bwd.dc0!, c.dc0.data, EXACT);
      for (const [k, v] of Object.entries(c.grads)) assertClose(`${c.name}: grad ${k}`, bwd.dWeights[k], v.data, EXACT);
    });
  }

  for (const lengths of [undefined, [3, 1]]) {
    it(
      `backward vs central finite differences: 2 layers, bidirectional, H5 ` +
        `P3${lengths ? `, lengths [${lengths}]` : ''}`,
      () => {
        const rand = rng(lengths ? 32 : 31);
        const cfg = lstmConfig({ inputSize: 2, hiddenSize: 5, projSize: 3, numLayers: 2, bidirectional: true });
        const [T, B, S, P, H] = [3, 2, 4, 3, 5];
        const w: Record<string, Float64Array> = {};
        for (const { name, shape } of parameterShapes(cfg))
          w[name] = Float64Array.from(
            uniform(
              rand,
              shape.reduce((a, b) => a * b, 1),
              -0.7,
              0.7,
            ),
          );
        const x = Float64Array.from(uniform(rand, T * B * 2, -1, 1));
        const h0 = Float64Array.from(uniform(rand, S * B * P, -1, 1));
        const c0 = Float64Array.from(uniform(rand, S * B * H, -1, 1));
        const dOutput = Float64Array.from(uniform(rand, T * B * 2 * P, -1, 1));
        const dhN = Float64Array.from(uniform(rand, S * B * P, -1, 1));
        const dcN = Float64Array.from(uniform(rand, S * B * H, -1, 1));
        const loss = () => {
          const r = rnnForwardRef(cfg, w, x, T, B, h0, c0, lengths);
          let s = 0;
          r.output.forEach((v, i) => (s += v * dOutput[i]));
          r.hN.forEach((v, i) => (s += v * dhN[i]));
          r.cN!.forEach((v, i) => (s += v * dcN[i]));
          return s;
        };
        const g = rnnBackwardRef(cfg, w, x, T, B, h0, c0, { dOutput, dhN, dcN }, lengths);
        const check = (what: string, v: Float64Array, grad: Float64Array) => {
          const eps = 1e-6;
          for (let i = 0; i < v.length; i++) {
            const keep = v[i];
            v[i] = keep + eps;
            const up = loss();
            v[i] = keep - eps;
            const down = loss();
            v[i] = keep;
            const fd = (up - down) / (2 * eps);
            expect(
              Math.abs(fd - grad[i]),
              `${what}[${i}]: finite difference ${fd} vs backward ${grad[i]}`,
            ).toBeLessThan(1e-7 + 1e-6 * Math.abs(fd));
          }
        };
        for (const { name } of parameterShapes(cfg)) check(name, w[name], g.dWeights[name]);
        check('input', x, g.dInput);
        check('h0', h0, g.dh0);
        check('c0', c0, g.dc0!);
      },
    );
  }
});

interface GpuCase {
  inputSize: number;
  hiddenSize: number;
  projSize: number;
  numLayers: number;
  bidirectional?: boolean;
  batchFirst?: boolean;
  bias?: boolean;
  T: number;
  B: number;
  state: boolean;
  seed: number;
  tile?: { wg: number; bt: number };
  lengths?: number[];
}

const caseName = (c: GpuCase) =>
  `I${c.inputSize} H${c.hiddenSize} P${c.projSize} ` +
  (`L${c.numLayers}${c.bidirectional ? ' bidir' : ''}` +
    `${c.batchFirst ? ' batchFirst' : ''}${c.bias === false ? ' noBias' : ''} `) +
  (`T${c.T} B${c.B}${c.state ? ' h0c0' : ''}` +
    `${c.tile ? ` tile ${c.tile.wg}×${c.tile.bt}` : ''}` +
    `${c.lengths ? ` lengths [${c.lengths}]` : ''}`);

async function checkGpu(c: GpuCase): Promise<void> {
  const rand = rng(c.seed);
  const cfg = lstmConfig({
    inputSize: c.inputSize,
    hiddenSize: c.hiddenSize,
    projSize: c.projSize,
    numLayers: c.numLayers,
    bidirectional: !!c.bidirectional,
    batchFirst: !!c.batchFirst,
    bias: c.bias ?? true,
  });
  const { T, B } = c;
  const [H, P, D] = [c.hiddenSize, c.projSize, c.bidirectional ? 2 : 1];
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
  const h0 = c.state ? uniform(rand, S * B * P, -1, 1) : undefined;
  const c0 = c.state ? uniform(rand, S * B * H, -1, 1) : undefined;
  const dOutput = uniform(rand, T * B * D * P, -1, 1);
  const dhN = c.state ? uniform(rand, S * B * P, -1, 1) : undefined;
  const dcN = c.state ? uniform(rand, S * B * H, -1, 1) : undefined;
  const want = rnnBackwardRef(cfg, weights, x, T, B, h0, c0, { dOutput, dhN, dcN }, c.lengths);

  const layer = new LSTM(gpu, {
    inputSize: c.inputSize,
    hiddenSize: H,
    projSize: P,
    numLayers: c.numLayers,
    bidirectional: c.bidirectional,
    batchFirst: c.batchFirst,
    bias: c.bias,
    stepTile: c.tile,
  });
  layer.loadStateDict(weights);
  const seq = (f: number) => (c.batchFirst ? [B, T, f] : [T, B, f]);
  const t = {
    x: Tensor.from(gpu, x, seq(c.inputSize)),
    h0: h0 && Tensor.from(gpu, h0, [S, B, P]),
    c0: c0 && Tensor.from(gpu, c0, [S, B, H]),
    dOutput: Tensor.from(gpu, dOutput, seq(D * P)),
    dhN: dhN && Tensor.from(gpu, dhN, [S, B, P]),
    dcN: dcN && Tensor.from(gpu, dcN, [S, B, H]),
  };
  const what = caseName(c);
  // Inference plan (forward()).
  const inf = layer.forward(t.x, { h0: t.h0, c0: t.c0, lengths: c.lengths });
  expect(inf.output.shape).toEqual(seq(D * P));
  expect(inf.hN.shape).toEqual([S, B, P]);
  expect(inf.cN!.shape).toEqual([S, B, H]);
  assertClose(`${what}: forward() output`, await inf.output.read(), want.output, FWD);
  assertClose(`${what}: forward() hN`, await inf.hN.read(), want.hN, FWD);
  assertClose(`${what}: forward() cN`, await inf.cN!.read(), want.cN!, FWD);
  expect(layer.lastRun!.dispatches, 'forward dispatches: per layer-direction 1 GEMM + 2 per step').toBe(
    S * (1 + 2 * T),
  );
  // Training plan (forwardBackward()).
  const out = layer.forwardBackward(
    t.x,
    { h0: t.h0, c0: t.c0, lengths: c.lengths },
    { dOutput: t.dOutput, dhN: t.dhN, dcN: t.dcN },
    { inputGrad: true, initialStateGrad: true },
  );
  assertClose(`${what}: output`, await out.output.read(), want.output, FWD);
  assertClose(`${what}: hN`, await out.hN.read(), want.hN, FWD);
  assertClose(`${what}: cN`, await out.cN!.read(), want.cN!, FWD);
  assertClose(`${what}: dInput`, await out.dInput!.read(), want.dInput, gradTol(want.dInput));
  assertClose(`${what}: dh0`, await out.dh0!.read(), want.dh0, gradTol(want.dh0));
  assertClose(`${what}: dc0`, await out.dc0!.read(), want.dc0!, gradTol(want.dc0!));
  const grads = await layer.gradients();
  expect(Object.keys(grads)).toEqual(parameterShapes(cfg).map((p) => p.name));
  for (const { name } of parameterShapes(cfg))
    assertClose(`${what}: grad ${name}`, grads[name].data, want.dWeights[name], gradTol(want.dWeights[name]));
  for (const v of [
    ...Object.values(t),
    inf.output,
    inf.hN,
    inf.cN,
    out.output,
    out.hN,
    out.cN,
    out.dInput,
    out.dh0,
    out.dc0,
  ])
    v?.destroy();
  layer.destroy();
}

const gpuCases: GpuCase[] = [
  { inputSize: 3, hiddenSize: 5, projSize: 3, numLayers: 1, T: 4, B: 2, state: true, seed: 1 },
  { inputSize: 4, hiddenSize: 7, projSize: 3, numLayers: 2, bidirectional: true, T: 4, B: 3, state: true, seed: 2 },
  { inputSize: 3, hiddenSize: 9, projSize: 5, numLayers: 2, batchFirst: true, T: 5, B: 2, state: false, seed: 3 },
  {
    inputSize: 2,
    hiddenSize: 6,
    projSize: 1,
    numLayers: 1,
    bidirectional: true,
    bias: false,
    T: 1,
    B: 1,
    state: true,
    seed: 4,
  },
  {
    inputSize: 5,
    hiddenSize: 8,
    projSize: 4,
    numLayers: 2,
    bidirectional: true,
    batchFirst: true,
    T: 3,
    B: 1,
    state: true,
    seed: 5,
  },
  { inputSize: 7, hiddenSize: 33, projSize: 13, numLayers: 1, T: 1, B: 5, state: true, seed: 6 },
  { inputSize: 5, hiddenSize: 16, projSize: 8, numLayers: 2, bidirectional: true, T: 6, B: 10, state: true, seed: 7 },
  // The real-GPU tile (128 threads, 1 row each) and 8 rows per thread with a remainder, on any adapter.
  {
    inputSize: 5,
    hiddenSize: 130,
    projSize: 67,
    numLayers: 2,
    bidirectional: true,
    T: 3,
    B: 5,
    state: true,
    seed: 8,
    tile: { wg: 128, bt: 1 },
  },
  {
    inputSize: 4,
    hiddenSize: 41,
    projSize: 20,
    numLayers: 1,
    batchFirst: true,
    T: 4,
    B: 11,
    state: true,
    seed: 9,
    tile: { wg: 32, bt: 8 },
  },
  // Per-row lengths (packed sequences).
  {
    inputSize: 3,
    hiddenSize: 5,
    projSize: 3,
    numLayers: 2,
    bidirectional: true,
    T: 5,
    B: 4,
    state: true,
    seed: 10,
    lengths: [5, 1, 3, 2],
  },
  {
    inputSize: 4,
    hiddenSize: 9,
    projSize: 4,
    numLayers: 1,
    bidirectional: true,
    batchFirst: true,
    T: 4,
    B: 3,
    state: true,
    seed: 11,
    lengths: [2, 4, 1],
  },
];

describe('LSTM projSize on the GPU vs the float64 reference (forward 1e-4, gradients 1e-3)', () => {
  for (const c of gpuCases) it(caseName(c), () => checkGpu(c));
});

describe(`LSTM projSize on the GPU vs PyTorch ${fixture.torch} (test/fixtures/lstm_proj.json)`, () => {
  for (const name of [
    'L1 H5 P3 h0c0',
    'L2 bidir batchFirst H7 P3 h0c0',
    'L2 H9 P5 noState',
    'L1 bidir noBias H6 P1 seqLen1 batch1 h0c0',
    'L3 batchFirst H8 P4 h0c0',
  ]) {
    it(name, async () => {
      const c = fixtureCase(name);
      const layer = new LSTM(gpu, c.config);
      layer.loadStateDict(c.state_dict);
      const tensor = (r: Rec | undefined) => r && Tensor.from(gpu, r.data, r.shape);
      const t = {
        x: tensor(c.input)!,
        h0: tensor(c.h0),
        c0: tensor(c.c0),
        dOutput: tensor(c.dOutput)!,
        dhN: tensor(c.dhN)!,
        dcN: tensor(c.dcN)!,
      };
      const out = layer.forwardBackward(
        t.x,
        { h0: t.h0, c0: t.c0 },
        { dOutput: t.dOutput, dhN: t.dhN, dcN: t.dcN },
        { inputGrad: true, initialStateGrad: true },
      );
      expect(out.output.shape).toEqual(c.output.shape);
      expect(out.hN.shape).toEqual(c.hN.shape);
      expect(out.cN!.shape).toEqual(c.cN.shape);
      assertClose(`${name}: output`, await out.output.read(), c.output.data, FWD);
      assertClose(`${name}: hN`, await out.hN.read(), c.hN.data, FWD);
      assertClose(`${name}: cN`, await out.cN!.read(), c.cN.data, FWD);
      assertClose(`${name}: dInput`, await out.dInput!.read(), c.dInput.data, gradTol(c.dInput.data));
      if (c.dh0) assertClose(`${name}: dh0`, await out.dh0!.read(), c.dh0.data, gradTol(c.dh0.data));
      if (c.dc0) assertClose(`${name}: dc0`, await out.dc0!.read(), c.dc0.data, gradTol(c.dc0.data));
      const grads = await layer.gradients();
      expect(Object.keys(grads)).toEqual(Object.keys(c.grads));
      for (const [k, v] of Object.entries(c.grads))
        assertClose(`${name}: grad ${k}`, grads[k].data, v.data, gradTol(v.data));
      for (const v of [...Object.values(t), out.output, out.hN, out.cN, out.dInput, out.dh0, out.dc0]) v?.destroy();
      layer.destroy();
    });
  }
});

describe('LSTM projSize: plans, repack, stepper, init', () => {
  it(
    'dropout between layers (training): forward + BPTT vs the float64 reference ' +
      'composed layer by layer with the same mask',
    async () => {
      const rand = rng(61);
      const [I, H, P, T, B, p, counter] = [3, 6, 4, 4, 3, 0.4, 7];
      const DP = 2 * P;
      const cfg = lstmConfig({ inputSize: I, hiddenSize: H, projSize: P, numLayers: 2, bidirectional: true });
      const weights: Record<string, Float32Array> = {};
      for (const { name, shape } of parameterShapes(cfg))
        weights[name] = uniform(
          rand,
          shape.reduce((a, b) => a * b, 1),
          -0.5,
          0.5,
        );
      const x = uniform(rand, T * B * I, -1, 1);
      const dOutput = uniform(rand, T * B * DP, -1, 1);
      const layer = new LSTM(gpu, {
        inputSize: I,
        hiddenSize: H,
        projSize: P,
        numLayers: 2,
        bidirectional: true,
        dropout: p,
        seed: 2,
      });
      layer.loadStateDict(weights);
      const dropout = layer.dropout!;
      dropout.setStep(counter);
      const t = { x: Tensor.from(gpu, x, [T, B, I]), dOutput: Tensor.from(gpu, dOutput, [T, B, DP]) };
      const out = layer.forwardBackward(t.x, {}, { dOutput: t.dOutput }, { inputGrad: true });
      const layerWeights = (l: number) =>
        Object.fromEntries(
          Object.entries(weights)
            .filter(([k]) => k.includes(`_l${l}`))
            .map(([k, v]) => [k.replace(`_l${l}`, '_l0'), v]),
        );
      const cfg0 = { ...cfg, numLayers: 1 };
      const cfg1 = { ...cfg, numLayers: 1, inputSize: DP };
      const mask = Float64Array.from({ length: T * B * DP }, (_, i) =>
        dropoutKeep(dropout.seed, counter, 1, i, p) ? 1 / (1 - p) : 0,
      );
      const ref0 = rnnBackwardRef(cfg0, layerWeights(0), x, T, B, undefined, undefined, {});
      const ref1 = rnnBackwardRef(
        cfg1,
        layerWeights(1),
        ref0.output.map((v, i) => v * mask[i]),
        T,
        B,
        undefined,
        undefined,
        { dOutput },
      );
      const ref0b = rnnBackwardRef(cfg0, layerWeights(0), x, T, B, undefined, undefined, {
        dOutput: ref1.dInput.map((v, i) => v * mask[i]),
      });
      assertClose('dropout: output', await out.output.read(), ref1.output, FWD);
      assertClose('dropout: hN', await out.hN.read(), [...ref0.hN, ...ref1.hN], FWD);
      assertClose('dropout: dInput', await out.dInput!.read(), ref0b.dInput, gradTol(ref0b.dInput));
      const grads = await layer.gradients();
      for (const [l, ref] of [
        [0, ref0b],
        [1, ref1],
      ] as const) {
        for (const [k, want] of Object.entries(ref.dWeights))
          assertClose(
            `dropout: grad ${k.replace('_l0', `_l${l}`)}`,
            grads[k.replace('_l0', `_l${l}`)].data,
            want,
            gradTol(want),
          );
      }
      for (const v of [...Object.values(t), out.output, out.hN, out.cN, out.dInput]) v?.destroy();
      layer.destroy();
    },
  );

  it('dispatches per step: 1 without a projection, 2 with one (forward and BPTT)', () => {
    const [T, B] = [6, 3];
    const x = Tensor.from(gpu, new Float32Array(T * B * 4), [T, B, 4]);
    const counts: Record<string, { forward: number; train: number }> = {};
    for (const projSize of [0, 3]) {
      const layer = new LSTM(gpu, {
        inputSize: 4,
        hiddenSize: 8,
        projSize,
        numLayers: 2,
        bidirectional: true,
        seed: 1,
      });
      const out = layer.forward(x);
      const forward = layer.lastRun!.dispatches;
      const tr = layer.forwardBackward(x, {}, {});
      counts[projSize] = { forward, train: layer.lastRun!.dispatches };
      for (const v of [out.output, out.hN, out.cN, tr.output, tr.hN, tr.cN]) v?.destroy();
      layer.destroy();
    }
    const LD = 4;
    expect(counts[0].forward).toBe(LD * (1 + T));
    expect(counts[3].forward).toBe(LD * (1 + 2 * T));
    // BPTT adds T more step dispatches and one dW_hr GEMM per layer-direction (≥ 1 dispatch).
    expect(counts[3].train - counts[3].forward - (counts[0].train - counts[0].forward)).toBeGreaterThanOrEqual(
      LD * (T + 1),
    );
    console.log(`LSTM L2 bidir T${T}: dispatches ${JSON.stringify(counts)}`);
    x.destroy();
  });

  it(
    'the GPU repack of W_hh [4H, P] and W_hr [P, H] (after optimizer updates) ' +
      'equals the CPU repack of loadStateDict',
    async () => {
      for (const [H, P] of [
        [5, 3],
        [33, 17],
        [8, 4],
      ]) {
        const rand = rng(H);
        const layer = new LSTM(gpu, { inputSize: 3, hiddenSize: H, projSize: P, numLayers: 2, bidirectional: true });
        const weights: Record<string, Float32Array> = {};
        for (const { name, shape } of layer.parameterShapes())
          weights[name] = uniform(
            rand,
            shape.reduce((a, b) => a * b, 1),
            -1,
            1,
          );
        layer.loadStateDict(weights);
        const buffers = layer.directionParams.flatMap((p) => [p.wp, p.wb, p.proj!.wrp, p.proj!.wrb]);
        const cpu = await Promise.all(buffers.map(async (b) => new Float32Array(await gpu.readBuffer(b))));
        for (const b of buffers) gpu.device.queue.writeBuffer(b, 0, new Float32Array(b.size / 4).fill(7));
        gpu.run(layer.repackDispatches());
        expect(layer.repackDispatches().length).toBe(2 * 4);
        for (const [i, b] of buffers.entries())
          assertClose(`H${H} P${P} repacked buffer ${i}`, new Float32Array(await gpu.readBuffer(b)), cpu[i], {
            rtol: 0,
            atol: 0,
          });
        layer.destroy();
      }
    },
  );

  it("a stepper (one timestep per call) gives the sequence forward's outputs, [batch, projSize]", async () => {
    const [T, B, I, H, P] = [4, 3, 3, 7, 2];
    const rand = rng(5);
    const layer = new LSTM(gpu, { inputSize: I, hiddenSize: H, projSize: P, numLayers: 2, seed: 3 });
    const xs = uniform(rand, T * B * I, -1, 1);
    const x = Tensor.from(gpu, xs, [T, B, I]);
    const want = layer.forward(x);
    const wantOut = await want.output.read();
    const stepper = layer.createStepper(B);
    expect(stepper.state.h.shape).toEqual([2, B, P]);
    expect(stepper.state.c!.shape).toEqual([2, B, H]);
    for (let t = 0; t < T; t++) {
      const xt = Tensor.from(gpu, xs.subarray(t * B * I, (t + 1) * B * I), [B, I]);
      const h = stepper.step(xt);
      expect(h.shape).toEqual([B, P]);
      assertClose(`step ${t}`, await h.read(), wantOut.subarray(t * B * P, (t + 1) * B * P), {
        rtol: 1e-5,
        atol: 1e-6,
      });
      xt.destroy();
      h.destroy();
    }
    assertClose('stepper h = hN', await stepper.state.h.read(), await want.hN.read(), { rtol: 1e-5, atol: 1e-6 });
    assertClose('stepper c = cN', await stepper.state.c!.read(), await want.cN!.read(), { rtol: 1e-5, atol: 1e-6 });
    for (const v of [x, want.output, want.hN, want.cN]) v?.destroy();
    stepper.destroy();
    layer.destroy();
  });

  it(
    'init: every parameter, weight_hr included, is U(−1/√H, 1/√H); a checkpoint ' +
      'round-trips and names projSize on a mismatch',
    async () => {
      const layer = new LSTM(gpu, { inputSize: 3, hiddenSize: 9, projSize: 4, bidirectional: true, seed: 7 });
      const sd = await layer.stateDict();
      expect(Object.keys(sd)).toEqual([
        'weight_ih_l0',
        'weight_hh_l0',
        'bias_ih_l0',
        'bias_hh_l0',
        'weight_hr_l0',
        'weight_ih_l0_reverse',
        'weight_hh_l0_reverse',
        'bias_ih_l0_reverse',
        'bias_hh_l0_reverse',
        'weight_hr_l0_reverse',
      ]);
      expect(sd.weight_hr_l0.shape).toEqual([4, 9]);
      expect(sd.weight_hh_l0.shape).toEqual([36, 4]);
      for (const [k, v] of Object.entries(sd)) {
        const m = Math.max(...Array.from(v.data, Math.abs));
        expect(m, k).toBeLessThanOrEqual(1 / 3);
        expect(m, k).toBeGreaterThan(0.2);
      }
      const file = await layer.saveCheckpoint();
      const again = new LSTM(gpu, { inputSize: 3, hiddenSize: 9, projSize: 4, bidirectional: true, seed: 8 });
      again.loadCheckpoint(file);
      const back = await again.stateDict();
      for (const [k, v] of Object.entries(sd)) expect(Array.from(back[k].data), k).toEqual(Array.from(v.data));
      const other = new LSTM(gpu, { inputSize: 3, hiddenSize: 9, projSize: 3, bidirectional: true });
      expect(() => other.loadCheckpoint(file)).toThrow(/projSize/);
      for (const l of [layer, again, other]) l.destroy();
    },
  );

  it(
    'bad projSize: ≥ hiddenSize, negative, not an integer, on a GRU or RNN: ' +
      'ArgumentError naming the option; state shapes name projSize',
    () => {
      expect(() => new LSTM(gpu, { inputSize: 3, hiddenSize: 5, projSize: 5 })).toThrow(ArgumentError);
      expect(() => new LSTM(gpu, { inputSize: 3, hiddenSize: 5, projSize: 5 })).toThrow(
        /projSize.*smaller than hiddenSize/,
      );
      expect(() => new LSTM(gpu, { inputSize: 3, hiddenSize: 5, projSize: 9 })).toThrow(/projSize/);
      expect(() => new LSTM(gpu, { inputSize: 3, hiddenSize: 5, projSize: -1 })).toThrow(/projSize/);
      expect(() => new LSTM(gpu, { inputSize: 3, hiddenSize: 5, projSize: 1.5 })).toThrow(/projSize/);
      expect(() => new LSTM(gpu, { inputSize: 3, hiddenSize: 5, projSize: '2' as unknown as number })).toThrow(
        /projSize/,
      );
      expect(() => new GRU(gpu, { inputSize: 3, hiddenSize: 5, projSize: 2 })).toThrow(ArgumentError);
      expect(() => new GRU(gpu, { inputSize: 3, hiddenSize: 5, projSize: 2 })).toThrow(
        /GRU: option 'projSize' is only supported for LSTM/,
      );
      expect(() => new RNN(gpu, { inputSize: 3, hiddenSize: 5, projSize: 2 })).toThrow(
        /RNN: option 'projSize' is only supported for LSTM/,
      );
      // projSize 0 is no projection (PyTorch's default).
      const plain = new LSTM(gpu, { inputSize: 3, hiddenSize: 5, projSize: 0 });
      expect(plain.parameterShapes().map((p) => p.name)).toEqual([
        'weight_ih_l0',
        'weight_hh_l0',
        'bias_ih_l0',
        'bias_hh_l0',
      ]);
      expect('projSize' in plain.config).toBe(false);
      plain.destroy();
      const layer = new LSTM(gpu, { inputSize: 3, hiddenSize: 5, projSize: 2 });
      expect(realHiddenSize(layer.config)).toBe(2);
      const x = Tensor.zeros(gpu, [4, 2, 3]);
      const wrongH0 = Tensor.zeros(gpu, [1, 2, 5]);
      expect(() => layer.forward(x, { h0: wrongH0 })).toThrow(ShapeError);
      expect(() => layer.forward(x, { h0: wrongH0 })).toThrow(/projSize/);
      const wrongC0 = Tensor.zeros(gpu, [1, 2, 2]);
      expect(() => layer.forward(x, { c0: wrongC0 })).toThrow(/hiddenSize/);
      for (const v of [x, wrongH0, wrongC0]) v.destroy();
      layer.destroy();
    },
  );
});

/** LSTM(projSize) → [mean over time of the output | hN | cN] → Linear, with h0, c0 as forward arguments. */
class ProjModel extends Module {
  lstm: LSTM;
  head: Linear;
  constructor(
    gpu: Gpu,
    readonly B: number,
  ) {
    super(gpu);
    this.lstm = new LSTM(gpu, {
      inputSize: 3,
      hiddenSize: 5,
      projSize: 3,
      numLayers: 2,
      bidirectional: true,
      batchFirst: true,
      seed: 4,
    });
    this.head = new Linear(gpu, { inFeatures: 6 + 12 + 20, outFeatures: 2, seed: 6 });
  }
  forward(x: Tensor, h0: Tensor, c0: Tensor): Tensor {
    const { output, hN, cN } = this.lstm.forward(x, { h0, c0 }); // [B, T, 6], [4, B, 3], [4, B, 5]
    const flat = (s: Tensor, n: number) => F.reshape(F.transpose(s, 0, 1), [this.B, n]);
    return this.head.forward(F.concat([F.mean(output, 1), flat(hN, 12), flat(cN!, 20)], 1));
  }
}

describe('LSTM projSize traced inside a Module (Trainer)', () => {
  it(
    "every parameter's gradient vs central finite differences of the Trainer's " +
      'loss; an SGD step matches the eager layer on the new weights',
    async () => {
      const [B, T] = [3, 4];
      const rand = rng(21);
      const model = new ProjModel(gpu, B);
      expect(model.namedParameters().map((p) => p.name)).toEqual([
        ...parameterShapes(
          lstmConfig({ inputSize: 3, hiddenSize: 5, projSize: 3, numLayers: 2, bidirectional: true }),
        ).map((p) => `lstm.${p.name}`),
        'head.weight',
        'head.bias',
      ]);
      const x = Tensor.from(gpu, uniform(rand, B * T * 3, -1, 1), [B, T, 3]);
      const h0 = Tensor.from(gpu, uniform(rand, 4 * B * 3, -1, 1), [4, B, 3]);
      const c0 = Tensor.from(gpu, uniform(rand, 4 * B * 5, -1, 1), [4, B, 5]);
      const y = Tensor.from(gpu, uniform(rand, B * 2, -1, 1), [B, 2]);
      const batch = { inputs: [x, h0, c0], targets: y };
      const trainer = new Trainer(model, { loss: 'mse', optimizer: { kind: 'sgd', lr: 0 }, nanGuard: false });
      await trainer.step(batch);
      const base = await model.stateDict();
      const pick = rng(3);
      let checked = 0;
      for (const p of model.namedParameters()) {
        const grad = await p.grad.read();
        const samples = p.name.startsWith('lstm.') ? 3 : 2;
        for (let s = 0; s < samples; s++) {
          const i = Math.floor(pick() * grad.length);
          const at = (delta: number) => {
            const data = Float32Array.from(base[p.name].data);
            data[i] += delta;
            model.loadStateDict({ ...base, [p.name]: { shape: base[p.name].shape, data } });
            return trainer.evaluate(batch);
          };
          const eps = 1e-2;
          const fd = ((await at(eps)) - (await at(-eps))) / (2 * eps);
          expect(
            Math.abs(fd - grad[i]),
            `${p.name}[${i}]: finite difference ${fd} vs backward ${grad[i]}`,
          ).toBeLessThan(3e-3 + 0.03 * Math.abs(fd));
          checked++;
        }
      }
      model.loadStateDict(base);
      console.log(`ProjModel: ${checked} parameter entries checked against finite differences`);
      trainer.destroy();

      // A real SGD step: the fused backward's gradients update W_hh and W_hr, and the repack after
      // the update must give the forward kernels the new weights (checked via the eager layer).
      const sgd = new Trainer(model, { loss: 'mse', optimizer: { kind: 'sgd', lr: 0.5 }, nanGuard: false });
      await sgd.step(batch);
      await sgd.step(batch);
      const after = await model.stateDict();
      const lstmWeights = Object.fromEntries(
        Object.entries(after)
          .filter(([k]) => k.startsWith('lstm.'))
          .map(([k, v]) => [k.slice(5), v.data]),
      );
      expect(Array.from(after['lstm.weight_hr_l1'].data)).not.toEqual(Array.from(base['lstm.weight_hr_l1'].data));
      const cfg = lstmConfig({
        inputSize: 3,
        hiddenSize: 5,
        projSize: 3,
        numLayers: 2,
        bidirectional: true,
        batchFirst: true,
      });
      const want = rnnForwardRef(cfg, lstmWeights, await x.read(), T, B, await h0.read(), await c0.read());
      const got = model.lstm.forward(x, { h0, c0 });
      assertClose('eager forward after 2 SGD steps: output', await got.output.read(), want.output, FWD);
      assertClose('eager forward after 2 SGD steps: hN', await got.hN.read(), want.hN, FWD);
      for (const v of [got.output, got.hN, got.cN]) v?.destroy();
      sgd.destroy();
      for (const v of [x, h0, c0, y]) v.destroy();
      model.destroy();
    },
  );
});
