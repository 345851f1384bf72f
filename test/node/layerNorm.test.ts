// LayerNorm kernels (src/kernels/layerNorm.ts) vs the float64 references (src/reference/layerNorm.ts),
// and the references themselves vs central finite differences. Node + Dawn on SwiftShader.
//
// Tolerances (|got − want| ≤ rtol · scale, the scale being the size of the terms that make the value):
//   y      1e-4 · (|w|·(|x̂| + 1) + |b|)         mean 1e-4 · (|mean| + std)      rstd 1e-4 · rstd
//   dx     1e-3 · rstd·(|g| + mean|g| + |x̂|·mean|g·x̂|)
//   dW, dB 1e-3 · (Σ_r |dy·x̂| or Σ_r |dy|, + |initial value| when accumulating)
//   reference backward vs finite differences of the reference forward: 1e-7 of the same scales.
// Every output lives inside a larger buffer at an offset, with sentinel guards around it that
// must survive. Each comparison kind also has a "wrong reference" twin that must be rejected.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Dispatch, type Gpu, ArgumentError, ShapeError } from '../../src/index.js';
import { TENSOR_USAGE } from '../../src/gpu/flags.js';
import { layerNormDispatch, layerNormBackwardDispatches, type View } from '../../src/kernels/layerNorm.js';
import { layerNormRef, layerNormBackwardRef } from '../../src/reference/layerNorm.js';
import { rng, uniform, assertClose, CheckFailure } from '../checks/util.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

// ---------------------------------------------------------------- helpers

const GUARD = 7; // sentinel elements before and after every region
const SENTINEL = -12345.5;

const owned: GPUBuffer[] = [];
afterEach(() => {
  for (const b of owned.splice(0)) gpu.pool.release(b);
});

/** A buffer laid out as [guard | region 0 | guard | region 1 | guard …]; returns the views. */
function arena(regions: Array<ArrayLike<number> | number>): {
  buffer: GPUBuffer;
  views: View[];
  regions: Array<[number, number]>;
} {
  let n = GUARD;
  const at: Array<[number, number]> = [];
  for (const r of regions) {
    const len = typeof r === 'number' ? r : r.length;
    at.push([n, len]);
    n += len + GUARD;
  }
  const data = new Float32Array(n).fill(SENTINEL);
  regions.forEach((r, i) => {
    if (typeof r !== 'number') data.set(r, at[i][0]);
  });
  const buffer = gpu.pool.acquire(n * 4, TENSOR_USAGE, 'test.layerNorm');
  gpu.device.queue.writeBuffer(buffer, 0, data);
  owned.push(buffer);
  return { buffer, views: at.map(([offset]) => ({ buffer, offset })), regions: at };
}

/** Reads every region of an arena, and checks that the guards between them are untouched. */
async function readArena(
  a: { buffer: GPUBuffer; regions: Array<[number, number]> },
  what: string,
): Promise<Float32Array[]> {
  const [lastOff, lastLen] = a.regions[a.regions.length - 1];
  const all = new Float32Array(await gpu.readBuffer(a.buffer, 0, (lastOff + lastLen + GUARD) * 4));
  let prevEnd = 0;
  for (const [off, len] of [...a.regions, [all.length, 0] as [number, number]]) {
    for (let i = prevEnd; i < off; i++) {
      if (all[i] !== SENTINEL) throw new CheckFailure(`${what}: guard element ${i} was overwritten (${all[i]})`);
    }
    prevEnd = off + len;
  }
  return a.regions.map(([off, len]) => all.slice(off, off + len));
}

/** The check must reject `fn` (a comparison against a deliberately wrong reference). */
function mustFail(what: string, fn: () => void): void {
  try {
    fn();
  } catch (e) {
    if (e instanceof CheckFailure) return;
    throw e;
  }
  throw new Error(`${what}: a wrong reference was NOT detected — the check cannot fail`);
}

/** `want` with element `i` moved by `k` times its tolerance. */
function nudged(want: ArrayLike<number>, i: number, by: number): Float64Array {
  const w = Float64Array.from(want);
  w[i] += by;
  return w;
}

function sumAbsCol(rows: number, cols: number, f: (i: number) => number): Float64Array {
  const s = new Float64Array(cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) s[c] += Math.abs(f(r * cols + c));
  return s;
}

/** Per-element error scales of the forward outputs (see the header). */
function forwardScales(
  rows: number,
  cols: number,
  ref: ReturnType<typeof layerNormRef>,
  x: ArrayLike<number>,
  w?: ArrayLike<number>,
  b?: ArrayLike<number>,
) {
  const yScale = new Float64Array(rows * cols);
  const meanScale = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    meanScale[r] = Math.abs(ref.mean[r]) + 1 / ref.rstd[r];
    for (let c = 0; c < cols; c++) {
      const xhat = (x[r * cols + c] - ref.mean[r]) * ref.rstd[r];
      yScale[r * cols + c] = Math.abs(w ? w[c] : 1) * (Math.abs(xhat) + 1) + Math.abs(b ? b[c] : 0);
    }
  }
  return { yScale, meanScale, rstdScale: ref.rstd.map(Math.abs) };
}

/** Per-element error scales of the backward outputs (see the header). */
function backwardScales(
  rows: number,
  cols: number,
  eps: number,
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  w?: ArrayLike<number>,
) {
  const { mean, rstd } = layerNormRef(Float64Array.from(x), rows, cols, eps);
  const xhat = (i: number) => (x[i] - mean[Math.floor(i / cols)]) * rstd[Math.floor(i / cols)];
  const g = (i: number) => dy[i] * (w ? w[i % cols] : 1);
  const dxScale = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let mg = 0;
    let mgx = 0;
    for (let c = 0; c < cols; c++) {
      mg += Math.abs(g(r * cols + c)) / cols;
      mgx += Math.abs(g(r * cols + c) * xhat(r * cols + c)) / cols;
    }
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      dxScale[i] = rstd[r] * (Math.abs(g(i)) + mg + Math.abs(xhat(i)) * mgx);
    }
  }
  return {
    dxScale,
    dwScale: sumAbsCol(rows, cols, (i) => dy[i] * xhat(i)),
    dbScale: sumAbsCol(rows, cols, (i) => dy[i]),
  };
}

// ---------------------------------------------------------------- forward

interface FwdCase {
  rows: number;
  cols: number;
  weight: boolean;
  bias: boolean;
  eps?: number;
  seed: number;
  offset?: number;
  noise?: number;
  layout?: 'separate' | 'stats' | 'one';
}

async function runForward(c: FwdCase) {
  const { rows, cols } = c;
  const eps = c.eps ?? 1e-5;
  const rand = rng(c.seed);
  const x = uniform(rand, rows * cols, (c.offset ?? 0) - (c.noise ?? 2), (c.offset ?? 0) + (c.noise ?? 2));
  const w = c.weight ? uniform(rand, cols, -2, 2) : undefined;
  const b = c.bias ? uniform(rand, cols, -1, 1) : undefined;
  // x, weight and bias share one (read-only) buffer; the outputs are laid out per `layout`.
  const inp = arena([x, w ?? 1, b ?? 1]);
  let outs: { y: View; mean: View; rstd: View };
  let readOuts: () => Promise<{ y: Float32Array; mean: Float32Array; rstd: Float32Array }>;
  const layout = c.layout ?? 'separate';
  if (layout === 'one') {
    const o = arena([rows, rows * cols, rows]);
    outs = { rstd: o.views[0], y: o.views[1], mean: o.views[2] };
    readOuts = async () => {
      const [rstd, y, mean] = await readArena(o, 'outputs');
      return { y, mean, rstd };
    };
  } else if (layout === 'stats') {
    const oy = arena([rows * cols]);
    const os = arena([rows, rows]);
    outs = { y: oy.views[0], mean: os.views[0], rstd: os.views[1] };
    readOuts = async () => {
      const [y] = await readArena(oy, 'y');
      const [mean, rstd] = await readArena(os, 'stats');
      return { y, mean, rstd };
    };
  } else {
    const oy = arena([rows * cols]);
    const om = arena([rows]);
    const or = arena([rows]);
    outs = { y: oy.views[0], mean: om.views[0], rstd: or.views[0] };
    readOuts = async () => ({
      y: (await readArena(oy, 'y'))[0],
      mean: (await readArena(om, 'mean'))[0],
      rstd: (await readArena(or, 'rstd'))[0],
    });
  }
  gpu.run([
    layerNormDispatch(gpu, {
      rows,
      cols,
      eps,
      x: inp.views[0],
      weight: w && inp.views[1],
      bias: b && inp.views[2],
      ...outs,
    }),
  ]);
  const got = await readOuts();
  await gpu.sync();
  const ref = layerNormRef(Float64Array.from(x), rows, cols, eps, w, b);
  return { x, w, b, eps, got, ref };
}

function fwdName(c: FwdCase): string {
  const flags = [
    c.weight && 'weight',
    c.bias && 'bias',
    c.eps !== undefined && `eps ${c.eps}`,
    c.layout && c.layout !== 'separate' && `outputs: ${c.layout} buffer`,
    c.offset && `x ≈ ${c.offset} ± ${c.noise}`,
  ].filter(Boolean);
  return `${c.rows}×${c.cols}${flags.length ? ` (${flags.join(', ')})` : ''}`;
}

describe('layerNorm forward vs float64 reference', () => {
  const cases: FwdCase[] = [
    { rows: 1, cols: 1, weight: true, bias: true, seed: 1 },
    { rows: 1, cols: 7, weight: false, bias: false, seed: 2 },
    { rows: 5, cols: 1, weight: false, bias: true, seed: 3 },
    { rows: 3, cols: 64, weight: true, bias: false, seed: 4 },
    { rows: 7, cols: 65, weight: true, bias: true, seed: 5, layout: 'stats' },
    { rows: 2, cols: 129, weight: true, bias: true, seed: 6 },
    { rows: 2, cols: 256, weight: false, bias: false, seed: 7 },
    { rows: 3, cols: 257, weight: true, bias: true, seed: 8, layout: 'one' },
    { rows: 4, cols: 300, weight: true, bias: true, seed: 9 },
    { rows: 3, cols: 1031, weight: true, bias: false, seed: 10, eps: 0.1 },
    { rows: 300, cols: 33, weight: true, bias: true, seed: 11, layout: 'one' },
    { rows: 2, cols: 5, weight: true, bias: true, seed: 12, eps: 0 },
  ];
  for (const c of cases) {
    it(fwdName(c), async () => {
      const { x, w, b, got, ref } = await runForward(c);
      const s = forwardScales(c.rows, c.cols, ref, x, w, b);
      assertClose('y', got.y, ref.y, { rtol: 1e-4, scale: s.yScale });
      assertClose('mean', got.mean, ref.mean, { rtol: 1e-4, scale: s.meanScale });
      assertClose('rstd', got.rstd, ref.rstd, { rtol: 1e-4, scale: s.rstdScale });
      const last = c.rows * c.cols - 1;
      mustFail('y', () =>
        assertClose('y', got.y, nudged(ref.y, last, 3e-4 * s.yScale[last]), { rtol: 1e-4, scale: s.yScale }),
      );
      mustFail('rstd', () =>
        assertClose('rstd', got.rstd, nudged(ref.rstd, 0, 3e-4 * ref.rstd[0]), { rtol: 1e-4, scale: s.rstdScale }),
      );
    });
  }

  it('a constant row gives mean = the constant, y = bias, rstd = 1/√eps', async () => {
    const rows = 2;
    const cols = 300;
    const x = new Float32Array(rows * cols).fill(3.25);
    const b = uniform(rng(13), cols);
    const inp = arena([x, b]);
    const o = arena([rows * cols, rows, rows]);
    gpu.run([
      layerNormDispatch(gpu, {
        rows,
        cols,
        eps: 1e-5,
        x: inp.views[0],
        bias: inp.views[1],
        y: o.views[0],
        mean: o.views[1],
        rstd: o.views[2],
      }),
    ]);
    const [y, mean, rstd] = await readArena(o, 'outputs');
    expect([...mean]).toEqual([3.25, 3.25]);
    for (let i = 0; i < rows * cols; i++) expect(y[i]).toBe(b[i % cols]);
    assertClose('rstd', rstd, [1 / Math.sqrt(1e-5), 1 / Math.sqrt(1e-5)], { rtol: 1e-6 });
  });
});

describe('layerNorm with a large common offset (the variance stays accurate)', () => {
  // x = offset + noise: the f32 values are quantized to ulp(offset), but the reference uses the
  // same f32 values, so every statistic is well defined. E[x²] − E[x]² in f32 would lose all of
  // var (1000² = 1e6 has ulp 0.06 against var ≈ 3e-5), and a mean with a rounding error of
  // ulp(1000)/2 would move x̂ by 5e-3; the kernel's shifted Welford keeps all at ~1e-4.
  const cases: FwdCase[] = [
    { rows: 4, cols: 1031, weight: true, bias: true, seed: 21, offset: 1000, noise: 0.01 },
    { rows: 3, cols: 300, weight: false, bias: false, seed: 22, offset: -1e5, noise: 1 },
    { rows: 9, cols: 64, weight: true, bias: false, seed: 23, offset: 1e4, noise: 0.1 },
  ];
  for (const c of cases) {
    it(fwdName(c), async () => {
      const { x, w, b, got, ref } = await runForward(c);
      const s = forwardScales(c.rows, c.cols, ref, x, w, b);
      assertClose('rstd', got.rstd, ref.rstd, { rtol: 1e-4, scale: s.rstdScale });
      assertClose('y', got.y, ref.y, { rtol: 1e-4, scale: s.yScale });
      // The mean to a few ulps of the offset (an f32 cannot do better).
      assertClose('mean', got.mean, ref.mean, { rtol: 4 * 2 ** -24 });
      mustFail('rstd', () =>
        assertClose('rstd', got.rstd, nudged(ref.rstd, 1, 3e-4 * ref.rstd[1]), { rtol: 1e-4, scale: s.rstdScale }),
      );
    });
  }
});

// ---------------------------------------------------------------- backward

interface BwdCase {
  rows: number;
  cols: number;
  weight: boolean;
  dWeight: boolean;
  dBias: boolean;
  accumulate?: boolean;
  seed: number;
  eps?: number;
  offset?: number;
  /** 'arena': dx, dWeight and dBias in one buffer (a flat gradient buffer); 'grads': dWeight and dBias in one. */
  layout?: 'separate' | 'grads' | 'arena';
}

function bwdName(c: BwdCase): string {
  const flags = [
    c.weight && 'weight',
    c.dWeight && 'dWeight',
    c.dBias && 'dBias',
    c.accumulate && 'accumulate',
    c.layout && c.layout !== 'separate' && `outputs: ${c.layout}`,
    c.offset && `x ≈ ${c.offset} ± 1`,
  ].filter(Boolean);
  return `${c.rows}×${c.cols}${flags.length ? ` (${flags.join(', ')})` : ''}`;
}

async function runBackward(c: BwdCase, repeat = 1) {
  const { rows, cols } = c;
  const eps = c.eps ?? 1e-5;
  const rand = rng(c.seed);
  const x = uniform(rand, rows * cols, (c.offset ?? 0) - 1, (c.offset ?? 0) + 1);
  const dy = uniform(rand, rows * cols);
  const w = c.weight ? uniform(rand, cols, -2, 2) : undefined;
  // Initial gradient contents: values to add to when accumulating, NaN (must be overwritten) otherwise.
  const init = c.accumulate ? uniform(rand, 2 * cols, -3, 3) : new Float32Array(2 * cols).fill(NaN);
  const inp = arena([x, dy, w ?? 1]);
  const stats = arena([rows, rows]);
  const layout = c.layout ?? 'separate';
  let dxView: View;
  let dwView: View | undefined;
  let dbView: View | undefined;
  let read: () => Promise<{ dx: Float32Array; dW: Float32Array; dB: Float32Array }>;
  const initW = init.subarray(0, cols);
  const initB = init.subarray(cols);
  if (layout === 'arena') {
    const g = arena([initB, rows * cols, initW]);
    [dbView, dxView, dwView] = g.views;
    read = async () => {
      const [dB, dx, dW] = await readArena(g, 'grads');
      return { dx, dW, dB };
    };
  } else if (layout === 'grads') {
    const gx = arena([rows * cols]);
    const g = arena([initW, initB]);
    dxView = gx.views[0];
    [dwView, dbView] = g.views;
    read = async () => {
      const [dx] = await readArena(gx, 'dx');
      const [dW, dB] = await readArena(g, 'grads');
      return { dx, dW, dB };
    };
  } else {
    const gx = arena([rows * cols]);
    const gw = arena([initW]);
    const gb = arena([initB]);
    dxView = gx.views[0];
    dwView = gw.views[0];
    dbView = gb.views[0];
    read = async () => ({
      dx: (await readArena(gx, 'dx'))[0],
      dW: (await readArena(gw, 'dWeight'))[0],
      dB: (await readArena(gb, 'dBias'))[0],
    });
  }
  const fwdY = arena([rows * cols]);
  const dispatches: Dispatch[] = [
    layerNormDispatch(gpu, {
      rows,
      cols,
      eps,
      x: inp.views[0],
      weight: w && inp.views[2],
      y: fwdY.views[0],
      mean: stats.views[0],
      rstd: stats.views[1],
    }),
  ];
  for (let k = 0; k < repeat; k++) {
    dispatches.push(
      ...layerNormBackwardDispatches(gpu, {
        rows,
        cols,
        x: inp.views[0],
        dy: inp.views[1],
        weight: w && inp.views[2],
        mean: stats.views[0],
        rstd: stats.views[1],
        dx: dxView,
        dWeight: c.dWeight ? dwView : undefined,
        dBias: c.dBias ? dbView : undefined,
        accumulate: c.accumulate,
      }),
    );
  }
  gpu.run(dispatches);
  const got = await read();
  await gpu.sync();
  const ref = layerNormBackwardRef(Float64Array.from(x), dy, rows, cols, eps, w);
  const s = backwardScales(rows, cols, eps, x, dy, w);
  return { got, ref, s, initW, initB, dispatches: dispatches.length - 1 };
}

describe('layerNorm backward vs float64 reference', () => {
  const cases: BwdCase[] = [
    { rows: 1, cols: 1, weight: true, dWeight: true, dBias: true, seed: 31 },
    { rows: 1, cols: 9, weight: false, dWeight: false, dBias: false, seed: 32 },
    { rows: 6, cols: 1, weight: true, dWeight: true, dBias: true, accumulate: true, seed: 33 },
    { rows: 4, cols: 64, weight: true, dWeight: true, dBias: false, seed: 34 },
    { rows: 64, cols: 65, weight: true, dWeight: false, dBias: true, seed: 35, layout: 'grads' },
    { rows: 65, cols: 129, weight: true, dWeight: true, dBias: true, seed: 36, layout: 'grads' },
    { rows: 5, cols: 300, weight: false, dWeight: true, dBias: true, accumulate: true, seed: 37, layout: 'arena' },
    { rows: 3, cols: 1031, weight: true, dWeight: true, dBias: true, seed: 38, eps: 0.1 },
    { rows: 300, cols: 48, weight: true, dWeight: true, dBias: true, accumulate: true, seed: 39, layout: 'arena' },
    { rows: 5000, cols: 3, weight: true, dWeight: true, dBias: true, seed: 40 },
    { rows: 130, cols: 257, weight: false, dWeight: true, dBias: false, accumulate: true, seed: 41 },
    { rows: 40, cols: 300, weight: true, dWeight: true, dBias: true, seed: 42, offset: 1000 },
  ];
  for (const c of cases) {
    it(bwdName(c), async () => {
      const { got, ref, s, initW, initB } = await runBackward(c);
      assertClose('dx', got.dx, ref.dx, { rtol: 1e-3, scale: s.dxScale });
      const wantW = c.accumulate ? ref.dWeight.map((v, i) => v + initW[i]) : ref.dWeight;
      const wantB = c.accumulate ? ref.dBias.map((v, i) => v + initB[i]) : ref.dBias;
      const scaleW = s.dwScale.map((v, i) => v + (c.accumulate ? Math.abs(initW[i]) : 0));
      const scaleB = s.dbScale.map((v, i) => v + (c.accumulate ? Math.abs(initB[i]) : 0));
      // An output not asked for is left as it was (bit for bit; NaN stays NaN).
      if (c.dWeight) assertClose('dWeight', got.dW, wantW, { rtol: 1e-3, scale: scaleW });
      else expect(Array.from(got.dW)).toEqual(Array.from(initW));
      if (c.dBias) assertClose('dBias', got.dB, wantB, { rtol: 1e-3, scale: scaleB });
      else expect(Array.from(got.dB)).toEqual(Array.from(initB));
      const i = (c.rows * c.cols) >> 1;
      mustFail('dx', () =>
        assertClose('dx', got.dx, nudged(ref.dx, i, 3e-3 * s.dxScale[i]), { rtol: 1e-3, scale: s.dxScale }),
      );
      if (c.dWeight)
        mustFail('dWeight', () =>
          assertClose('dWeight', got.dW, nudged(wantW, c.cols - 1, 3e-3 * scaleW[c.cols - 1] || 1e-6), {
            rtol: 1e-3,
            scale: scaleW,
          }),
        );
    });
  }

  it(
    'without accumulate, dWeight/dBias are overwritten; with it, two runs add twice ' + '(multi-chunk, deterministic)',
    async () => {
      const base: BwdCase = {
        rows: 777,
        cols: 70,
        weight: true,
        dWeight: true,
        dBias: true,
        seed: 50,
        layout: 'grads',
      };
      const once = await runBackward(base);
      const twice = await runBackward(base, 2);
      expect(twice.dispatches).toBe(2 * once.dispatches);
      expect(once.dispatches).toBe(3); // dx, chunk partials, chunk sum
      // Overwriting: the second run writes the same bits as the first.
      expect(Array.from(twice.got.dW)).toEqual(Array.from(once.got.dW));
      expect(Array.from(twice.got.dB)).toEqual(Array.from(once.got.dB));
      expect(Array.from(twice.got.dx)).toEqual(Array.from(once.got.dx));
      const acc = await runBackward({ ...base, accumulate: true }, 2);
      const wantW = acc.ref.dWeight.map((v, i) => 2 * v + acc.initW[i]);
      const scaleW = acc.s.dwScale.map((v, i) => 2 * v + Math.abs(acc.initW[i]));
      assertClose('dWeight accumulated twice', acc.got.dW, wantW, { rtol: 1e-3, scale: scaleW });
      mustFail('dWeight accumulated once', () =>
        assertClose(
          'dWeight',
          acc.got.dW,
          acc.ref.dWeight.map((v, i) => v + acc.initW[i]),
          { rtol: 1e-3, scale: scaleW },
        ),
      );
    },
  );
});

// ---------------------------------------------------------------- reference vs finite differences

describe('layerNormBackwardRef vs central differences of layerNormRef (float64)', () => {
  // L = Σ y·dy; dL/dθ ≈ (L(θ + h) − L(θ − h)) / 2h with h = 1e-5: truncation O(h²) ≈ 1e-10,
  // rounding ≈ 1e-16·|L|/h ≈ 1e-10, both far below 1e-7 of the gradient's scale.
  const cases: Array<{ rows: number; cols: number; weight: boolean; bias: boolean; eps: number; seed: number }> = [
    { rows: 1, cols: 1, weight: true, bias: true, eps: 1e-5, seed: 61 },
    { rows: 3, cols: 2, weight: false, bias: false, eps: 1e-5, seed: 62 },
    { rows: 2, cols: 7, weight: true, bias: true, eps: 1e-5, seed: 63 },
    { rows: 4, cols: 13, weight: true, bias: false, eps: 0.5, seed: 64 },
  ];
  for (const c of cases) {
    it(`${c.rows}×${c.cols}${c.weight ? ' weight' : ''}${c.bias ? ' bias' : ''} eps ${c.eps}`, () => {
      const { rows, cols, eps } = c;
      const rand = rng(c.seed);
      const x = Float64Array.from(uniform(rand, rows * cols));
      const dy = Float64Array.from(uniform(rand, rows * cols));
      const w = c.weight ? Float64Array.from(uniform(rand, cols, -2, 2)) : undefined;
      const b = c.bias ? Float64Array.from(uniform(rand, cols)) : undefined;
      const loss = (xx: Float64Array, ww?: Float64Array, bb?: Float64Array) => {
        const { y } = layerNormRef(xx, rows, cols, eps, ww, bb);
        let l = 0;
        for (let i = 0; i < y.length; i++) l += y[i] * dy[i];
        return l;
      };
      const h = 1e-5;
      const fd = (v: Float64Array, i: number, f: () => number) => {
        const keep = v[i];
        v[i] = keep + h;
        const up = f();
        v[i] = keep - h;
        const down = f();
        v[i] = keep;
        return (up - down) / (2 * h);
      };
      const ref = layerNormBackwardRef(x, dy, rows, cols, eps, w);
      const s = backwardScales(rows, cols, eps, x, dy, w);
      const fdX = Float64Array.from(x, (_, i) => fd(x, i, () => loss(x, w, b)));
      // dx of a 1-column row is exactly 0 (y does not depend on x); the scale then is ~rstd·|g|.
      assertClose('dx', ref.dx, fdX, { rtol: 1e-7, atol: 1e-9, scale: s.dxScale });
      mustFail('dx', () =>
        assertClose('dx', nudged(ref.dx, 0, 1e-6 * s.dxScale[0] + 1e-8), fdX, {
          rtol: 1e-7,
          atol: 1e-9,
          scale: s.dxScale,
        }),
      );
      const wFull = w ?? new Float64Array(cols).fill(1);
      const bFull = b ?? new Float64Array(cols);
      const fdW = Float64Array.from(wFull, (_, i) => fd(wFull, i, () => loss(x, wFull, bFull)));
      const fdB = Float64Array.from(bFull, (_, i) => fd(bFull, i, () => loss(x, wFull, bFull)));
      assertClose('dWeight', ref.dWeight, fdW, { rtol: 1e-7, atol: 1e-9, scale: s.dwScale });
      assertClose('dBias', ref.dBias, fdB, { rtol: 1e-7, atol: 1e-9, scale: s.dbScale });
      mustFail('dWeight', () =>
        assertClose('dWeight', nudged(ref.dWeight, cols - 1, 1e-6 * s.dwScale[cols - 1] + 1e-8), fdW, {
          rtol: 1e-7,
          atol: 1e-9,
          scale: s.dwScale,
        }),
      );
    });
  }
});

// ---------------------------------------------------------------- argument checks

describe('layerNorm argument checks', () => {
  it('rejects bad sizes, eps, offsets, short buffers and aliased outputs', () => {
    const a = arena([64, 64, 64]);
    const [v0, v1, v2] = a.views;
    const b = arena([64, 64]);
    const fwd = (over: Record<string, unknown>) => () =>
      layerNormDispatch(gpu, {
        rows: 2,
        cols: 4,
        eps: 1e-5,
        x: v0,
        y: b.views[0],
        mean: v1,
        rstd: v2,
        ...over,
      } as never);
    expect(fwd({})).toThrow(ArgumentError); // mean/rstd share a buffer with x
    const ok = { mean: b.views[1], rstd: { buffer: b.buffer, offset: b.views[1].offset! + 2 } };
    expect(() => fwd(ok)().transient!.forEach((t) => gpu.pool.release(t))).not.toThrow();
    expect(fwd({ ...ok, rows: 0 })).toThrow(ShapeError);
    expect(fwd({ ...ok, cols: 2.5 })).toThrow(ShapeError);
    expect(fwd({ ...ok, rows: 1000 })).toThrow(ShapeError);
    expect(fwd({ ...ok, eps: -1 })).toThrow(/eps must be/);
    expect(fwd({ ...ok, eps: NaN })).toThrow(ArgumentError);
    expect(fwd({ ...ok, x: { buffer: a.buffer, offset: -1 } })).toThrow(/offset/);
    expect(fwd({ ...ok, y: v0 })).toThrow(/'y' must not share a buffer with input 'x'/);
    expect(fwd({ ...ok, rstd: { buffer: b.buffer, offset: b.views[1].offset! + 1 } })).toThrow(/overlap/);
    expect(fwd({ ...ok, weight: b.views[0] })).toThrow(ArgumentError);
    const bwd = (over: Record<string, unknown>) => () =>
      layerNormBackwardDispatches(gpu, {
        rows: 2,
        cols: 4,
        x: v0,
        dy: v1,
        mean: v2,
        rstd: v2,
        dx: b.views[0],
        ...over,
      } as never);
    expect(() => bwd({})().forEach((d) => d.transient!.forEach((t) => gpu.pool.release(t)))).not.toThrow();
    expect(bwd({ dx: v1 })).toThrow(/'dx' must not share a buffer with input 'x'/);
    expect(bwd({ dWeight: b.views[1], dBias: { buffer: b.buffer, offset: b.views[1].offset! + 3 } })).toThrow(
      /overlap/,
    );
    expect(bwd({ dWeight: b.views[0] })).toThrow(/overlap/);
    expect(bwd({ cols: 100 })).toThrow(ShapeError);
    expect(bwd({ accumulate: 1 })).toThrow(ArgumentError);
  });
});
