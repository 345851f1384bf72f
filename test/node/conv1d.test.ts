// conv1d kernels (forward, dx, dWeight, dBias) against the float64 reference, the reference's
// backward against central differences of its forward, and the argument checks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/index.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { ArgumentError, ShapeError } from '../../src/util/errors.js';
import { BufferUsage } from '../../src/gpu/flags.js';
import { conv1dBackwardDispatches, conv1dDispatch, conv1dOutputLength, type View } from '../../src/kernels/conv1d.js';
import { conv1dBackwardRef, conv1dRef, type Conv1dDims } from '../../src/reference/conv1d.js';
import { assertClose, CheckFailure, randInt, rng, uniform } from '../checks/util.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

const FWD_RTOL = 1e-4;
const GRAD_RTOL = 1e-3;
/** What the guard elements around every view hold; a kernel writing outside its view changes them. */
const GUARD = 12345;
/** What output views hold before a non-accumulating kernel runs: it must overwrite every element. */
const STALE = -777;

interface Case extends Required<Conv1dDims> {
  bias: boolean;
  /** Element offset of every view in its buffer (guards before and after). */
  offset: number;
  accumulate: boolean;
  seed: number;
}

function name(c: Case): string {
  return (
    `N${c.batch} Cin${c.inChannels} Cout${c.outChannels} L${c.length} ` +
    `K${c.kernelSize} s${c.stride} p${c.padding} d${c.dilation}` +
    `${c.bias ? ' bias' : ''}${c.offset ? ` off${c.offset}` : ''}${c.accumulate ? ' acc' : ''}`
  );
}

function lout(c: Conv1dDims): number {
  return (
    Math.floor((c.length + 2 * (c.padding ?? 0) - (c.dilation ?? 1) * (c.kernelSize - 1) - 1) / (c.stride ?? 1)) + 1
  );
}

/** A tensor holding GUARD · offset, `data`, GUARD · 3; its view starts at `offset`. */
function guarded(data: ArrayLike<number>, offset: number): { t: Tensor; view: View; n: number; offset: number } {
  const all = new Float32Array(offset + data.length + 3).fill(GUARD);
  all.set(data, offset);
  const t = Tensor.from(gpu, all, [all.length], 'conv1d.test');
  return { t, view: { buffer: t.buffer, offset }, n: data.length, offset };
}

/** The view's elements; throws if a guard element changed. */
async function readView(what: string, g: { t: Tensor; n: number; offset: number }): Promise<Float32Array> {
  const all = await g.t.read();
  for (let i = 0; i < all.length; i++) {
    if ((i < g.offset || i >= g.offset + g.n) && all[i] !== GUARD)
      throw new CheckFailure(`${what}: guard element ${i} outside the view changed to ${all[i]}`);
  }
  return all.slice(g.offset, g.offset + g.n);
}

const abs = (a: ArrayLike<number>): Float64Array => Float64Array.from(a as ArrayLike<number>, Math.abs);

async function checkCase(c: Case): Promise<void> {
  const what = name(c);
  const Lout = lout(c);
  expect(conv1dOutputLength(c.length, c.kernelSize, c.stride, c.padding, c.dilation)).toBe(Lout);
  const rand = rng(c.seed);
  const x = uniform(rand, c.batch * c.inChannels * c.length);
  const w = uniform(rand, c.outChannels * c.inChannels * c.kernelSize);
  const b = uniform(rand, c.outChannels);
  const dy = uniform(rand, c.batch * c.outChannels * Lout);
  const dW0 = uniform(rand, w.length);
  const dB0 = uniform(rand, b.length);
  const o = c.offset;
  const xg = guarded(x, o);
  const wg = guarded(w, o);
  const bg = guarded(b, o);
  const yg = guarded(new Float32Array(dy.length).fill(STALE), o);
  const dyg = guarded(dy, o);
  const dxg = guarded(new Float32Array(x.length).fill(STALE), o);
  const dWg = guarded(c.accumulate ? dW0 : new Float32Array(w.length).fill(STALE), o);
  const dBg = guarded(c.accumulate ? dB0 : new Float32Array(b.length).fill(STALE), o);
  const sizes = {
    batch: c.batch,
    inChannels: c.inChannels,
    outChannels: c.outChannels,
    length: c.length,
    kernelSize: c.kernelSize,
    stride: c.stride,
    padding: c.padding,
    dilation: c.dilation,
  };
  gpu.run([
    conv1dDispatch(gpu, { ...sizes, x: xg.view, weight: wg.view, bias: c.bias ? bg.view : undefined, y: yg.view }),
    ...conv1dBackwardDispatches(gpu, {
      ...sizes,
      x: xg.view,
      weight: wg.view,
      dy: dyg.view,
      dx: dxg.view,
      dWeight: dWg.view,
      dBias: dBg.view,
      accumulate: c.accumulate,
    }),
  ]);
  const bias = c.bias ? b : undefined;
  const yWant = conv1dRef(x, w, bias, c);
  const yScale = conv1dRef(abs(x), abs(w), bias && abs(bias), c);
  assertClose(`${what}: y`, await readView(`${what}: y`, yg), yWant, { rtol: FWD_RTOL, scale: yScale });

  const want = conv1dBackwardRef(x, w, dy, c);
  const scale = conv1dBackwardRef(abs(x), abs(w), abs(dy), c);
  if (c.accumulate) {
    for (let i = 0; i < w.length; i++) {
      want.dWeight[i] += dW0[i];
      scale.dWeight[i] += Math.abs(dW0[i]);
    }
    for (let i = 0; i < b.length; i++) {
      want.dBias[i] += dB0[i];
      scale.dBias[i] += Math.abs(dB0[i]);
    }
  }
  // A scale of 0 (dx where no output reads the position) demands exactly 0.
  assertClose(`${what}: dx`, await readView(`${what}: dx`, dxg), want.dx, { rtol: GRAD_RTOL, scale: scale.dx });
  assertClose(`${what}: dWeight`, await readView(`${what}: dWeight`, dWg), want.dWeight, {
    rtol: GRAD_RTOL,
    scale: scale.dWeight,
  });
  assertClose(`${what}: dBias`, await readView(`${what}: dBias`, dBg), want.dBias, {
    rtol: GRAD_RTOL,
    scale: scale.dBias,
  });
  for (const g of [xg, wg, bg, yg, dyg, dxg, dWg, dBg]) g.t.destroy();
}

function mk(
  p: Partial<Case> & Pick<Case, 'batch' | 'inChannels' | 'outChannels' | 'length' | 'kernelSize'>,
  seed: number,
): Case {
  return { stride: 1, padding: 0, dilation: 1, bias: true, offset: 0, accumulate: false, seed, ...p };
}

const fixedCases: Case[] = [
  mk({ batch: 1, inChannels: 1, outChannels: 1, length: 1, kernelSize: 1 }, 1),
  // L = 1, only the centre tap reads x
  mk({ batch: 1, inChannels: 3, outChannels: 5, length: 1, kernelSize: 3, padding: 1 }, 2),
  mk({ batch: 2, inChannels: 5, outChannels: 3, length: 1, kernelSize: 5, padding: 2, bias: false }, 3),
  mk({ batch: 3, inChannels: 4, outChannels: 7, length: 17, kernelSize: 1 }, 4), // K = 1: a per-position matmul
  // dx zero between the strided taps
  mk({ batch: 2, inChannels: 3, outChannels: 2, length: 16, kernelSize: 1, stride: 3 }, 5),
  mk({ batch: 2, inChannels: 3, outChannels: 5, length: 23, kernelSize: 3, stride: 2, padding: 1 }, 6),
  mk({ batch: 1, inChannels: 7, outChannels: 3, length: 31, kernelSize: 4, stride: 3, padding: 2, offset: 5 }, 7),
  // "same" length, dilated
  mk({ batch: 2, inChannels: 5, outChannels: 5, length: 29, kernelSize: 3, dilation: 2, padding: 2 }, 8),
  mk(
    {
      batch: 3,
      inChannels: 3,
      outChannels: 7,
      length: 20,
      kernelSize: 3,
      stride: 2,
      padding: 3,
      dilation: 2,
      offset: 3,
      accumulate: true,
    },
    9,
  ),
  // outputs that see only padding: y = bias
  mk({ batch: 1, inChannels: 1, outChannels: 1, length: 3, kernelSize: 2, padding: 4 }, 10),
  mk({ batch: 2, inChannels: 2, outChannels: 3, length: 9, kernelSize: 9 }, 11), // one window: Lout = 1
  // tail position 9 never read... and 2,3,4
  mk({ batch: 2, inChannels: 2, outChannels: 3, length: 10, kernelSize: 2, stride: 5, padding: 0 }, 12),
  // N·Lout > 1024: 256-thread reductions
  mk({ batch: 8, inChannels: 3, outChannels: 5, length: 300, kernelSize: 3, padding: 1, accumulate: true }, 13),
  mk({ batch: 4, inChannels: 16, outChannels: 24, length: 70, kernelSize: 5, padding: 2, stride: 2, offset: 1 }, 14),
];

function randomCases(count: number): Case[] {
  const rand = rng(777);
  const out: Case[] = [];
  while (out.length < count) {
    const c = mk(
      {
        batch: randInt(rand, 1, 3),
        inChannels: randInt(rand, 1, 7),
        outChannels: randInt(rand, 1, 7),
        length: randInt(rand, 1, 40),
        kernelSize: randInt(rand, 1, 5),
        stride: randInt(rand, 1, 3),
        padding: randInt(rand, 0, 3),
        dilation: randInt(rand, 1, 3),
        bias: rand() < 0.7,
        offset: rand() < 0.3 ? randInt(rand, 1, 9) : 0,
        accumulate: rand() < 0.3,
      },
      1000 + out.length,
    );
    if (lout(c) >= 1) out.push(c);
  }
  return out;
}

describe('conv1d kernels vs the float64 reference', () => {
  for (const c of [...fixedCases, ...randomCases(24)]) {
    it(name(c), async () => {
      await checkCase(c);
      await gpu.sync();
    });
  }

  it('the check fails on a wrong answer (the reference at padding + 1)', async () => {
    const c = mk({ batch: 2, inChannels: 3, outChannels: 4, length: 12, kernelSize: 3, padding: 1 }, 50);
    const rand = rng(c.seed);
    const x = uniform(rand, c.batch * c.inChannels * c.length);
    const w = uniform(rand, c.outChannels * c.inChannels * c.kernelSize);
    const xt = Tensor.from(gpu, x, [x.length]);
    const wt = Tensor.from(gpu, w, [w.length]);
    const yt = Tensor.empty(gpu, [c.batch * c.outChannels * lout(c)]);
    gpu.run([
      conv1dDispatch(gpu, {
        ...c,
        bias: undefined,
        x: { buffer: xt.buffer },
        weight: { buffer: wt.buffer },
        y: { buffer: yt.buffer },
      }),
    ]);
    const got = await yt.read();
    assertClose('right', got, conv1dRef(x, w, undefined, c), {
      rtol: FWD_RTOL,
      scale: conv1dRef(abs(x), abs(w), undefined, c),
    });
    const shifted = conv1dRef(x, w, undefined, { ...c, padding: 2 }).slice(1, 1 + got.length);
    expect(() => assertClose('wrong', got, shifted, { rtol: FWD_RTOL })).toThrow(CheckFailure);
    for (const t of [xt, wt, yt]) t.destroy();
  });

  it('is deterministic: the same call twice gives the same bits', async () => {
    const c = mk({ batch: 6, inChannels: 5, outChannels: 6, length: 250, kernelSize: 5, padding: 2, dilation: 2 }, 60);
    const rand = rng(c.seed);
    const Lout = lout(c);
    const x = Tensor.from(gpu, uniform(rand, c.batch * c.inChannels * c.length), [c.batch * c.inChannels * c.length]);
    const w = Tensor.from(gpu, uniform(rand, c.outChannels * c.inChannels * c.kernelSize), [
      c.outChannels * c.inChannels * c.kernelSize,
    ]);
    const dy = Tensor.from(gpu, uniform(rand, c.batch * c.outChannels * Lout), [c.batch * c.outChannels * Lout]);
    const runOnce = async (): Promise<Float32Array[]> => {
      const dx = Tensor.empty(gpu, x.shape);
      const dW = Tensor.empty(gpu, w.shape);
      const dB = Tensor.empty(gpu, [c.outChannels]);
      gpu.run(
        conv1dBackwardDispatches(gpu, {
          ...c,
          x: { buffer: x.buffer },
          weight: { buffer: w.buffer },
          dy: { buffer: dy.buffer },
          dx: { buffer: dx.buffer },
          dWeight: { buffer: dW.buffer },
          dBias: { buffer: dB.buffer },
        }),
      );
      const r = [await dx.read(), await dW.read(), await dB.read()];
      for (const t of [dx, dW, dB]) t.destroy();
      return r;
    };
    const a = await runOnce();
    const b = await runOnce();
    for (let i = 0; i < a.length; i++) expect(Buffer.from(b[i].buffer).equals(Buffer.from(a[i].buffer))).toBe(true);
    for (const t of [x, w, dy]) t.destroy();
  });

  it('computes only the gradients asked for, in the order dx, dWeight, dBias', () => {
    const x = Tensor.zeros(gpu, [2 * 3 * 8]);
    const w = Tensor.zeros(gpu, [4 * 3 * 3]);
    const dy = Tensor.zeros(gpu, [2 * 4 * 6]);
    const g = Tensor.zeros(gpu, [200]);
    const base = {
      batch: 2,
      inChannels: 3,
      outChannels: 4,
      length: 8,
      kernelSize: 3,
      x: { buffer: x.buffer },
      weight: { buffer: w.buffer },
      dy: { buffer: dy.buffer },
    };
    expect(conv1dBackwardDispatches(gpu, base)).toEqual([]);
    const all = conv1dBackwardDispatches(gpu, {
      ...base,
      dx: { buffer: g.buffer },
      dWeight: { buffer: g.buffer, offset: 48 },
      dBias: { buffer: g.buffer, offset: 84 },
      label: 'c',
    });
    expect(all.map((d) => d.label)).toEqual(['c.dx', 'c.dWeight', 'c.dBias']);
    const only = conv1dBackwardDispatches(gpu, { ...base, dBias: { buffer: g.buffer } });
    expect(only.map((d) => d.label)).toEqual(['conv1dBackward.dBias']);
    gpu.run([...all, ...only]);
    for (const t of [x, w, dy, g]) t.destroy();
  });
});

describe('conv1d reference backward vs central differences of the reference forward', () => {
  const fdCases: Array<Conv1dDims & { seed: number }> = [
    { batch: 2, inChannels: 3, outChannels: 2, length: 7, kernelSize: 3, stride: 2, padding: 1, dilation: 1, seed: 1 },
    { batch: 1, inChannels: 2, outChannels: 3, length: 9, kernelSize: 2, stride: 3, padding: 2, dilation: 2, seed: 2 },
    { batch: 2, inChannels: 1, outChannels: 2, length: 1, kernelSize: 3, stride: 1, padding: 1, dilation: 1, seed: 3 },
    { batch: 1, inChannels: 2, outChannels: 2, length: 6, kernelSize: 1, stride: 2, padding: 0, dilation: 1, seed: 4 },
  ];
  for (const c of fdCases) {
    it(
      `N${c.batch} Cin${c.inChannels} Cout${c.outChannels} L${c.length} ` +
        `K${c.kernelSize} s${c.stride} p${c.padding} d${c.dilation}`,
      () => {
        const rand = rng(c.seed);
        const f64 = (n: number): Float64Array => Float64Array.from(uniform(rand, n));
        const x = f64(c.batch * c.inChannels * c.length);
        const w = f64(c.outChannels * c.inChannels * c.kernelSize);
        const b = f64(c.outChannels);
        const g = f64(c.batch * c.outChannels * lout(c)); // loss = Σ g · y, so ∂loss/∂y = g
        const loss = (): number => conv1dRef(x, w, b, c).reduce((s, y, i) => s + y * g[i], 0);
        const { dx, dWeight, dBias } = conv1dBackwardRef(x, w, g, c);
        const h = 1e-6;
        for (const [what, p, analytic] of [
          ['x', x, dx],
          ['weight', w, dWeight],
          ['bias', b, dBias],
        ] as const) {
          const numeric = new Float64Array(p.length);
          for (let i = 0; i < p.length; i++) {
            const v = p[i];
            p[i] = v + h;
            const up = loss();
            p[i] = v - h;
            const down = loss();
            p[i] = v;
            numeric[i] = (up - down) / (2 * h);
          }
          assertClose(`d${what}`, analytic, numeric, { rtol: 1e-6, atol: 1e-7 });
        }
      },
    );
  }
});

describe('conv1d argument checks', () => {
  it('conv1dOutputLength: the PyTorch formula, ShapeError naming the sizes when Lout < 1', () => {
    expect(conv1dOutputLength(10, 3)).toBe(8);
    expect(conv1dOutputLength(10, 3, 2, 1, 1)).toBe(5);
    expect(conv1dOutputLength(10, 3, 1, 2, 2)).toBe(10);
    expect(conv1dOutputLength(1, 3, 1, 1, 1)).toBe(1);
    expect(conv1dOutputLength(7, 3, 3, 0, 1)).toBe(2);
    expect(() => conv1dOutputLength(2, 5)).toThrow(ShapeError);
    expect(() => conv1dOutputLength(2, 5)).toThrow(/length 2.*kernelSize 5/);
    expect(() => conv1dOutputLength(4, 3, 1, 0, 2)).toThrow(/dilation 2/);
    expect(() => conv1dOutputLength(4, 3, 0)).toThrow(/stride must be an integer ≥ 1, got 0/);
    expect(() => conv1dOutputLength(4, 3, 1, -1)).toThrow(/padding must be an integer ≥ 0, got -1/);
    expect(() => conv1dOutputLength(4.5, 3)).toThrow(ShapeError);
    expect(() => conv1dOutputLength(0, 1)).toThrow(/length/);
  });

  it('conv1dDispatch / conv1dBackwardDispatches reject bad sizes, small buffers and aliasing before allocating', () => {
    const raw = (elements: number): GPUBuffer =>
      gpu.device.createBuffer({ size: elements * 4, usage: BufferUsage.STORAGE | BufferUsage.COPY_DST });
    const dims = { batch: 2, inChannels: 3, outChannels: 4, length: 10, kernelSize: 3, padding: 1 }; // Lout = 10
    const x = raw(60);
    const w = raw(36);
    const b = raw(4);
    const y = raw(80);
    const dx = raw(60);
    const dW = raw(36);
    const dB = raw(4);
    const inUse = gpu.memory().pool.inUse;
    const fwd = { ...dims, x: { buffer: x }, weight: { buffer: w }, bias: { buffer: b }, y: { buffer: y } };
    const bwd = {
      ...dims,
      x: { buffer: x },
      weight: { buffer: w },
      dy: { buffer: y },
      dx: { buffer: dx },
      dWeight: { buffer: dW },
      dBias: { buffer: dB },
    };

    expect(() => conv1dDispatch(gpu, { ...fwd, length: 1, padding: 0 })).toThrow(ShapeError);
    expect(() => conv1dDispatch(gpu, { ...fwd, length: 1, padding: 0 })).toThrow(
      /conv1d: length 1.*kernelSize 3.*output length would be -1/,
    );
    expect(() => conv1dDispatch(gpu, { ...fwd, x: { buffer: x, offset: 1 } })).toThrow(
      /'x' needs \[2, 3, 10\] = 60 elements from offset 1; its buffer holds 60/,
    );
    expect(() => conv1dDispatch(gpu, { ...fwd, weight: { buffer: b } })).toThrow(ShapeError);
    expect(() => conv1dDispatch(gpu, { ...fwd, bias: { buffer: b, offset: 2 } })).toThrow(/'bias'/);
    expect(() => conv1dDispatch(gpu, { ...fwd, stride: 2, y: { buffer: b } })).toThrow(
      /'y' needs \[2, 4, 5\] = 40 elements/,
    );
    expect(() => conv1dDispatch(gpu, { ...fwd, outChannels: 0 })).toThrow(/outChannels must be an integer ≥ 1, got 0/);
    expect(() => conv1dDispatch(gpu, { ...fwd, dilation: 0 })).toThrow(/dilation/);
    expect(() => conv1dDispatch(gpu, { ...fwd, x: { buffer: x, offset: -1 } })).toThrow(ArgumentError);
    expect(() => conv1dDispatch(gpu, { ...fwd, y: { buffer: y }, x: { buffer: y } })).toThrow(
      /'y' must not share a buffer with 'x'/,
    );
    expect(() => conv1dDispatch(gpu, { ...fwd, label: 'enc.conv', length: 1, padding: 0 })).toThrow(/^enc\.conv: /);

    expect(() => conv1dBackwardDispatches(gpu, { ...bwd, kernelSize: 12 })).toThrow(ShapeError);
    expect(() => conv1dBackwardDispatches(gpu, { ...bwd, dy: { buffer: dx } })).toThrow(
      /'dy' needs \[2, 4, 10\] = 80 elements/,
    );
    expect(() => conv1dBackwardDispatches(gpu, { ...bwd, dWeight: { buffer: dB } })).toThrow(
      /'dWeight' needs \[4, 3, 3\] = 36 elements/,
    );
    expect(() => conv1dBackwardDispatches(gpu, { ...bwd, dBias: { buffer: dB, offset: 1 } })).toThrow(/'dBias'/);
    expect(() => conv1dBackwardDispatches(gpu, { ...bwd, dx: { buffer: dx, offset: 3 } })).toThrow(/'dx'/);
    expect(() => conv1dBackwardDispatches(gpu, { ...bwd, dx: { buffer: y } })).toThrow(
      /'dx' must not share a buffer with 'dy'/,
    );
    expect(() => conv1dBackwardDispatches(gpu, { ...bwd, dWeight: { buffer: x } })).toThrow(
      /'dWeight' must not share a buffer with 'x'/,
    );
    expect(() =>
      conv1dBackwardDispatches(gpu, { ...bwd, dWeight: { buffer: dx }, dBias: { buffer: dx, offset: 35 } }),
    ).toThrow(/overlap/);
    expect(() => conv1dBackwardDispatches(gpu, { ...bwd, accumulate: 1 as unknown as boolean })).toThrow(ArgumentError);
    expect(gpu.memory().pool.inUse).toBe(inUse); // no uniform was taken by a rejected call
    for (const buf of [x, w, b, y, dx, dW, dB]) buf.destroy();
  });
});
