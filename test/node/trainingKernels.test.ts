// Training kernels vs the float64 references (src/reference/{loss,optim,embedding}.ts):
// cross-entropy, MSE, reduce_sum, the fused optimizer (SGD / momentum / Nesterov / Adam / AdamW
// with clipping), LR schedules, embedding forward/backward and dropout. Node + Dawn on SwiftShader.
//
// Tolerances (|got − want| ≤ atol + rtol·|want| unless stated):
//   forward values 1e-5 relative; gradients 1e-4 relative (+ 1e-6 of the gradient's natural
//   scale, 1/M or 2/K, for entries that cancel to ~0); sums 1e-5 of Σ|terms|; optimizer params
//   1e-5 relative + 1e-6 absolute per step; gathers and masks exact.
// Every comparison also has a "wrong reference" twin that must be rejected, so the checks can fail.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type Dispatch,
  type Gpu,
  ShapeError,
  Tensor,
  crossEntropy,
  crossEntropyDispatches,
  mse,
  mseDispatch,
  reduceSum,
  reduceSumDispatches,
  embedding,
  embeddingBackward,
  embeddingDispatch,
  embeddingBackwardDispatch,
  DropoutKernel as Dropout,
  dropoutKeep,
  Optimizer,
  type OptimizerOptions,
  constantLR,
  stepLR,
  exponentialLR,
  cosineLR,
} from '../../src/index.js';
import { TENSOR_USAGE } from '../../src/gpu/flags.js';
import { crossEntropyRef, mseRef } from '../../src/reference/loss.js';
import {
  sgdStepRef,
  adamStepRef,
  newAdamState,
  clipGradNormRef,
  clipGradValueRef,
  type SgdState,
  type AdamState,
  stepLR as stepLRRef,
  exponentialLR as exponentialLRRef,
  cosineLR as cosineLRRef,
} from '../../src/reference/optim.js';
import { embeddingRef, embeddingBackwardRef } from '../../src/reference/embedding.js';
import { rng, uniform, randInt, assertClose, assert, CheckFailure } from '../checks/util.js';
import { testGpu } from './gpu.js';

let gpu: Gpu; // swapped for a default-limits device in one test
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => {
  const rows = [...worst.entries()].map(
    ([k, v]) =>
      `  ${k.padEnd(44)} max|err| ${v.abs.toExponential(2)}  max ` +
      `rel ${v.rel.toExponential(2)}  (${(v.ratio * 100).toFixed(1)}% of tolerance)`,
  );
  console.log(`worst errors per kernel:\n${rows.join('\n')}`);
  gpu?.destroy();
});

// ---------------------------------------------------------------- helpers

/** Worst errors per kernel family, printed at the end. */
const worst = new Map<string, { abs: number; rel: number; ratio: number }>();

function close(
  family: string,
  what: string,
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  tol: { rtol: number; atol?: number; scale?: ArrayLike<number> },
): void {
  const { worst: ratio } = assertClose(`${family} ${what}`, got, want, tol);
  let abs = 0;
  let rel = 0;
  const floor = (tol.atol ?? 0) / tol.rtol;
  for (let i = 0; i < got.length; i++) {
    const e = Math.abs(got[i] - want[i]);
    abs = Math.max(abs, e);
    const s = tol.scale ? tol.scale[i] : Math.abs(want[i]);
    if (s > floor && s > 0) rel = Math.max(rel, e / s);
  }
  const w = worst.get(family) ?? { abs: 0, rel: 0, ratio: 0 };
  worst.set(family, { abs: Math.max(w.abs, abs), rel: Math.max(w.rel, rel), ratio: Math.max(w.ratio, ratio) });
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

const owned: Array<Tensor | GPUBuffer> = [];
function f32(data: ArrayLike<number>, shape?: number[]): Tensor {
  const t = Tensor.from(gpu, data, shape ?? [data.length]);
  owned.push(t);
  return t;
}
function i32(data: ArrayLike<number>): GPUBuffer {
  const arr = Int32Array.from(data);
  const b = gpu.pool.acquire(Math.max(arr.byteLength, 4), TENSOR_USAGE, 'test.i32');
  gpu.device.queue.writeBuffer(b, 0, arr);
  owned.push(b);
  return b;
}
function empty(n: number): Tensor {
  const t = Tensor.empty(gpu, [n], 'test.out');
  owned.push(t);
  return t;
}
function freeAll(): void {
  for (const x of owned.splice(0)) {
    if (x instanceof Tensor) x.destroy();
    else gpu.pool.release(x);
  }
}
// A failed check leaves its buffers behind: release them so the next test starts clean.
afterEach(() => {
  try {
    freeAll();
  } catch {
    owned.length = 0;
  }
});
async function read(b: GPUBuffer | Tensor, n: number, offset = 0): Promise<Float32Array> {
  const buf = b instanceof Tensor ? b.buffer : b;
  return new Float32Array(await gpu.readBuffer(buf, offset * 4, n * 4));
}
function sumAbs(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]);
  return s;
}

// ---------------------------------------------------------------- reduce_sum

describe('reduce_sum', () => {
  const cases: Array<[number, number]> = [
    [1, 1],
    [1000, 2],
    [8192, 3],
    [8193, 4],
    [100003, 5],
  ];
  for (const [n, seed] of cases) {
    it(`Σx and Σx² over n = ${n}, deterministic`, async () => {
      const x = uniform(rng(seed), n, -2, 2);
      const xt = f32(x);
      const out = empty(4);
      const d1 = reduceSumDispatches(gpu, { x: xt.buffer, n, out: { buffer: out.buffer, offset: 1 } });
      const d2 = reduceSumDispatches(gpu, {
        x: xt.buffer,
        n,
        out: { buffer: out.buffer, offset: 2 },
        square: true,
        alpha: 0.5,
      });
      const d3 = reduceSumDispatches(gpu, {
        x: xt.buffer,
        n,
        out: { buffer: out.buffer, offset: 3 },
        square: true,
        clampValue: 1,
      });
      expect(d1.length).toBe(n <= 8192 ? 1 : 2);
      gpu.run([...d1, ...d2, ...d3]);
      const got = await read(out, 3, 1);
      let s = 0,
        s2 = 0,
        s3 = 0,
        abs = 0;
      for (const v of x) {
        s += v;
        s2 += v * v;
        s3 += Math.min(1, v * v);
        abs += Math.abs(v);
      }
      close('reduce_sum', `n=${n} Σx`, [got[0]], [s], { rtol: 1e-5, scale: [abs] });
      close('reduce_sum', `n=${n} ½Σx²`, [got[1]], [0.5 * s2], { rtol: 1e-5 });
      close('reduce_sum', `n=${n} Σclamp(x,±1)²`, [got[2]], [s3], { rtol: 1e-5 });
      mustFail('reduce_sum wrong ref', () => assertClose('Σx²', [got[1]], [0.5 * s2 * (1 + 1e-4)], { rtol: 1e-5 }));
      // Same bits on a second run.
      gpu.run(reduceSumDispatches(gpu, { x: xt.buffer, n, out: { buffer: out.buffer, offset: 0 } }));
      const again = await read(out, 2);
      expect(again[0]).toBe(again[1]);
      freeAll();
    });
  }

  it('several ranges of one buffer (frozen parts skipped), eager reduceSum', async () => {
    const x = uniform(rng(9), 30000, -1, 1);
    const xt = f32(x);
    const out = empty(1);
    const ranges = [
      [5, 10000],
      [12000, 3],
      [15000, 15000],
    ] as const;
    const d = reduceSumDispatches(gpu, { x: xt.buffer, ranges, out: { buffer: out.buffer }, square: true });
    expect(d.length).toBe(4); // one partial pass per range + the final sum
    gpu.run(d);
    let want = 0;
    for (const [o, l] of ranges) for (let i = o; i < o + l; i++) want += x[i] * x[i];
    close('reduce_sum', 'ranges Σx²', await read(out, 1), [want], { rtol: 1e-5 });
    const e = reduceSum(gpu, xt);
    owned.push(e);
    let s = 0;
    for (const v of x) s += v;
    close('reduce_sum', 'eager Σx', await e.read(), [s], { rtol: 1e-5, scale: [sumAbs(x)] });
    freeAll();
  });

  it('rejects bad arguments before GPU work', () => {
    const xt = f32([1, 2, 3]);
    const out = empty(1);
    expect(() => reduceSumDispatches(gpu, { x: xt.buffer, n: 5, out: { buffer: out.buffer } })).toThrow(ShapeError);
    expect(() => reduceSumDispatches(gpu, { x: xt.buffer, n: 3, out: { buffer: out.buffer, offset: 4 } })).toThrow(
      /'out' needs 1 element/,
    );
    expect(() => reduceSumDispatches(gpu, { x: xt.buffer, n: 3, out: { buffer: xt.buffer } })).toThrow(
      /must not share/,
    );
    freeAll();
  });
});

// ---------------------------------------------------------------- cross-entropy

interface CeCase {
  N: number;
  C: number;
  amp: number;
  ignore?: number[];
  mask?: boolean;
  seed: number;
}

async function checkCrossEntropy(c: CeCase): Promise<void> {
  const rand = rng(c.seed);
  const logits = uniform(rand, c.N * c.C, -c.amp, c.amp);
  const ignoreIndex = -100;
  const targets = Array.from({ length: c.N }, () => randInt(rand, 0, c.C - 1));
  for (const r of c.ignore ?? []) if (r < c.N) targets[r] = ignoreIndex;
  const mask = c.mask ? Array.from({ length: c.N }, (_, i) => (i % 3 === 1 ? 0 : 1)) : undefined;
  const want = crossEntropyRef(logits, targets, { ignoreIndex, weightMask: mask });
  const counted = (n: number) => targets[n] !== ignoreIndex && (!mask || mask[n] !== 0);
  let M = 0;
  for (let n = 0; n < c.N; n++) if (counted(n)) M++;

  const lt = f32(logits);
  const tb = i32(targets);
  const rowLoss = empty(c.N + 3);
  const dLogits = empty(c.N * c.C + 5);
  const loss = empty(1);
  const d = crossEntropyDispatches(gpu, {
    rows: c.N,
    cols: c.C,
    logits: { buffer: lt.buffer },
    targets: { buffer: tb },
    rowLoss: { buffer: rowLoss.buffer, offset: 3 },
    dLogits: { buffer: dLogits.buffer, offset: 5 },
    rowMask: mask ? { buffer: f32(mask).buffer } : undefined,
  });
  expect(d.length).toBe(2);
  const s = reduceSumDispatches(gpu, { x: rowLoss.buffer, offset: 3, n: c.N, out: { buffer: loss.buffer } });
  gpu.run([...d, ...s]);
  const name = `${c.N}×${c.C} ±${c.amp}${c.ignore ? ' ignored' : ''}${mask ? ' masked' : ''}`;
  const gotLoss = (await read(loss, 1))[0];
  if (M === 0) {
    expect(gotLoss).toBe(0); // documented: PyTorch gives NaN here
  } else {
    close('cross_entropy loss', name, [gotLoss], [want.loss], { rtol: 1e-5 });
    const wrongLoss = M > 1 && want.loss > 0 ? want.loss * M : want.loss + 1e-3; // reduction='sum'
    mustFail('cross_entropy wrong loss', () => assertClose(name, [gotLoss], [wrongLoss], { rtol: 1e-5 }));
  }
  // Per-row losses: each row's share of the mean.
  const rows = await read(rowLoss, c.N, 3);
  const wantRows = Array.from({ length: c.N }, (_, n) =>
    counted(n) ? crossEntropyRef(logits.subarray(n * c.C, (n + 1) * c.C), [targets[n]]).loss / M : 0,
  );
  close('cross_entropy rowLoss', name, rows, wantRows, { rtol: 1e-5, atol: 1e-7 });
  const grad = await read(dLogits, c.N * c.C, 5);
  const gtol = { rtol: 1e-4, atol: M ? 1e-6 / M : 1e-12 };
  close('cross_entropy dLogits', name, grad, want.dLogits, gtol);
  if (M > 0) {
    const wrong = Float64Array.from(want.dLogits); // softmax / M without the −onehot / M
    for (let n = 0; n < c.N; n++) if (counted(n)) wrong[n * c.C + targets[n]] += 1 / M;
    mustFail('cross_entropy gradient without −onehot', () => assertClose(name, grad, wrong, gtol));
  }
  // Gradient rows sum to zero (softmax − onehot).
  for (let n = 0; n < c.N; n++) {
    let sum = 0;
    for (let j = 0; j < c.C; j++) sum += grad[n * c.C + j];
    assert(Math.abs(sum) <= 1e-5, `${name}: dLogits row ${n} sums to ${sum}`);
  }
  freeAll();
}

describe('cross_entropy (fused softmax + NLL, mean over counted rows)', () => {
  const cases: CeCase[] = [
    { N: 1, C: 1, amp: 3, seed: 1 },
    { N: 1, C: 5, amp: 3, seed: 2 },
    { N: 1, C: 300, amp: 3, seed: 12 },
    { N: 7, C: 1, amp: 3, ignore: [6], seed: 13 },
    { N: 7, C: 5, amp: 3, ignore: [2], seed: 3 },
    { N: 7, C: 300, amp: 3, seed: 4 },
    { N: 33, C: 300, amp: 3, ignore: [0, 32], seed: 5 },
    { N: 33, C: 1, amp: 3, seed: 6 },
    { N: 33, C: 5, amp: 1e4, ignore: [7], seed: 7 },
    { N: 7, C: 300, amp: 1e4, ignore: [3], seed: 8 },
    { N: 33, C: 700, amp: 20, seed: 9 }, // rows longer than the workgroup
    { N: 300, C: 17, amp: 5, mask: true, ignore: [4], seed: 10 },
    { N: 5, C: 9, amp: 2, ignore: [0, 1, 2, 3, 4], seed: 11 }, // every row ignored: M = 0
  ];
  for (const c of cases) {
    it(`${c.N}×${c.C} ±${c.amp}${c.ignore ? ` ignore ${c.ignore.length}` : ''}${c.mask ? ' rowMask' : ''}`, () =>
      checkCrossEntropy(c));
  }

  it('eager crossEntropy; out-of-range targets never read out of bounds', async () => {
    const logits = uniform(rng(12), 4 * 6, -2, 2);
    const t = [0, 5, -100, 3];
    const lt = f32(logits, [4, 6]);
    const { loss, dLogits } = crossEntropy(gpu, lt, t);
    owned.push(loss, dLogits);
    const want = crossEntropyRef(logits, t);
    close('cross_entropy loss', 'eager 4×6', await loss.read(), [want.loss], { rtol: 1e-5 });
    close('cross_entropy dLogits', 'eager 4×6', await dLogits.read(), want.dLogits, { rtol: 1e-4, atol: 1e-6 / 3 });
    expect(() => crossEntropy(gpu, lt, [0, 6, 1, 1])).toThrow(/targets\[1\] = 6 is not a class in \[0, 6\)/);
    expect(() => crossEntropy(gpu, lt, [0, 1])).toThrow(/'targets' has 2 elements, expected 4/);
    // Raw dispatch with a bad target: that row is skipped (not read), the rest is the mean over 3.
    const tb = i32([0, 99, 2, 3]);
    const rl = empty(4);
    const dl = empty(24);
    gpu.run(
      crossEntropyDispatches(gpu, {
        rows: 4,
        cols: 6,
        logits: { buffer: lt.buffer },
        targets: { buffer: tb },
        rowLoss: { buffer: rl.buffer },
        dLogits: { buffer: dl.buffer },
      }),
    );
    const wantSkip = crossEntropyRef(logits, [0, -100, 2, 3]);
    close('cross_entropy dLogits', 'bad target skipped', await dl.read(), wantSkip.dLogits, {
      rtol: 1e-4,
      atol: 1e-6 / 3,
    });
    expect(() =>
      crossEntropyDispatches(gpu, {
        rows: 4,
        cols: 7,
        logits: { buffer: lt.buffer },
        targets: { buffer: tb },
        rowLoss: { buffer: rl.buffer },
      }),
    ).toThrow(/buffer 'logits' holds 24 elements, needs 28/);
    freeAll();
  });
});

// ---------------------------------------------------------------- MSE

describe('mse', () => {
  const shapes: Array<[number, number]> = [
    [1, 1],
    [7, 5],
    [33, 300],
    [1, 1000],
    [300, 1],
  ];
  shapes.forEach(([R, C], i) => {
    it(`${R}×${C}`, async () => {
      const rand = rng(20 + i);
      const p = uniform(rand, R * C, -3, 3);
      const t = uniform(rand, R * C, -3, 3);
      const want = mseRef(p, t);
      const pt = f32(p, [R, C]);
      const tt = f32(t, [R, C]);
      const rowLoss = empty(R);
      const dPred = empty(R * C);
      const loss = empty(1);
      gpu.run([
        mseDispatch(gpu, {
          rows: R,
          cols: C,
          pred: { buffer: pt.buffer },
          target: { buffer: tt.buffer },
          rowLoss: { buffer: rowLoss.buffer },
          dPred: { buffer: dPred.buffer },
        }),
        ...reduceSumDispatches(gpu, { x: rowLoss.buffer, n: R, out: { buffer: loss.buffer } }),
      ]);
      close('mse loss', `${R}×${C}`, await read(loss, 1), [want.loss], { rtol: 1e-5 });
      const K = R * C;
      const wantRows = Array.from({ length: R }, (_, r) => {
        let s = 0;
        for (let c = 0; c < C; c++) s += (p[r * C + c] - t[r * C + c]) ** 2;
        return s / K;
      });
      close('mse rowLoss', `${R}×${C}`, await read(rowLoss, R), wantRows, { rtol: 1e-5 });
      const g = await read(dPred, K);
      close('mse dPred', `${R}×${C}`, g, want.dPred, { rtol: 1e-4, atol: 2e-6 / K });
      mustFail('mse gradient without the 2', () =>
        assertClose(
          'mse',
          g,
          want.dPred.map((v) => v / 2),
          { rtol: 1e-4, atol: 2e-6 / K },
        ),
      );
      // Eager API.
      const e = mse(gpu, pt, tt);
      owned.push(e.loss, e.dPred);
      close('mse loss', `eager ${R}×${C}`, await e.loss.read(), [want.loss], { rtol: 1e-5 });
      freeAll();
    });
  });
  it('rejects mismatched shapes', () => {
    const a = f32([1, 2, 3, 4], [2, 2]);
    const b = f32([1, 2, 3], [3]);
    expect(() => mse(gpu, a, b)).toThrow(/argument 'target' has shape \[3\] \(rank 1\), expected rank 2/);
    freeAll();
  });
});

// ---------------------------------------------------------------- optimizer

type Clip = { clipNorm?: number; clipValue?: number };

/** One float64 reference step on the trained ranges (as param groups), clipping first. Returns the norm. */
function refStep(
  kind: OptimizerOptions['kind'],
  o: OptimizerOptions,
  lr: number,
  theta: Float64Array,
  g32: Float32Array,
  ranges: ReadonlyArray<readonly [number, number]>,
  state: { sgd: SgdState; adam: AdamState },
  clip: Clip,
  swapClipOrder = false,
): number {
  const g = Float64Array.from(g32);
  const ps = ranges.map(([off, len]) => theta.subarray(off, off + len));
  const gs = ranges.map(([off, len]) => g.subarray(off, off + len));
  let norm = NaN;
  const byValue = () => {
    if (clip.clipValue !== undefined) clipGradValueRef(gs, clip.clipValue);
  };
  const byNorm = () => {
    if (clip.clipNorm !== undefined) norm = clipGradNormRef(gs, clip.clipNorm);
    else norm = clipGradNormRef(gs, Infinity);
  };
  if (swapClipOrder) {
    byNorm();
    byValue();
  } else {
    byValue();
    byNorm();
  }
  if (kind === 'sgd')
    sgdStepRef(ps, gs, state.sgd, {
      lr,
      momentum: o.momentum,
      dampening: o.dampening,
      nesterov: o.nesterov,
      weightDecay: o.weightDecay,
    });
  else
    adamStepRef(ps, gs, state.adam, {
      lr,
      beta1: o.beta1 ?? 0.9,
      beta2: o.beta2 ?? 0.999,
      eps: o.eps ?? 1e-8,
      weightDecay: o.weightDecay ?? (kind === 'adamw' ? 1e-2 : 0),
      decoupled: kind === 'adamw',
    });
  return norm;
}

const KINDS: Array<[string, OptimizerOptions]> = [
  ['sgd', { kind: 'sgd', lr: 0.1 }],
  ['sgd momentum+dampening', { kind: 'sgd', lr: 0.05, momentum: 0.9, dampening: 0.1 }],
  ['sgd nesterov+weightDecay', { kind: 'sgd', lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 0.01 }],
  ['adam (L2 weightDecay)', { kind: 'adam', lr: 0.01, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.01 }],
  ['adamw', { kind: 'adamw', lr: 0.01, weightDecay: 0.1 }],
];
const CLIPS: Array<[string, Clip]> = [
  ['no clip', {}],
  ['clipNorm', { clipNorm: 5 }],
  ['clipValue', { clipValue: 1.5 }],
  ['clipValue+clipNorm', { clipValue: 1.5, clipNorm: 5 }],
];

async function checkOptimizer(kname: string, kopts: OptimizerOptions, cname: string, clip: Clip): Promise<void> {
  const n = 1237;
  const pad = 13; // trailing padding: θ = 0, g = 0, must stay 0
  const rand = rng(kname.length * 31 + cname.length);
  const theta0 = uniform(rand, n, -1, 1);
  theta0.fill(0, n - pad);
  const pt = f32(theta0);
  const gt = f32(new Float32Array(n));
  const opt = new Optimizer(gpu, { ...kopts, ...clip, trackGradNorm: true }, pt.buffer, gt.buffer, n);
  expect(opt.dispatches().length).toBe(2); // norm reduction (1 workgroup: n ≤ 8192) + update
  const theta = Float64Array.from(theta0);
  const wrong = Float64Array.from(theta0);
  const state = { sgd: {}, adam: newAdamState() };
  const wrongState = { sgd: {}, adam: newAdamState() };
  const schedule = cosineLR(10, 1e-3);
  let createdAfterFirst = 0;
  let got: Float32Array = new Float32Array(0);
  for (let step = 0; step < 3; step++) {
    const g = uniform(rand, n, -3, 3);
    g.fill(0, n - pad);
    gt.write(g);
    const lr = schedule(kopts.lr, step);
    opt.beforeStep(lr);
    gpu.run(opt.dispatches());
    const norm = refStep(kopts.kind, kopts, lr, theta, g, [[0, n]], state, clip);
    if (clip.clipNorm !== undefined) assert(norm > clip.clipNorm * 2, `norm ${norm} does not clip`);
    got = await pt.read();
    close(`optimizer ${kopts.kind} params`, `${kname} ${cname} step ${step + 1}`, got, theta, {
      rtol: 1e-5,
      atol: 1e-6,
    });
    close('optimizer gradNorm', `${kname} ${cname} step ${step + 1}`, [await opt.gradNorm()], [norm], { rtol: 1e-5 });
    for (let i = n - pad; i < n; i++) assert(got[i] === 0, `padding element ${i} changed to ${got[i]}`);
    if (clip.clipNorm !== undefined && clip.clipValue !== undefined) {
      // The other clipping order (norm, then value) must be told apart (Adam's first step is
      // scale-invariant, so the trajectories are compared after the last step).
      refStep(kopts.kind, kopts, lr, wrong, g, [[0, n]], wrongState, clip, true);
      if (step === 2)
        mustFail('optimizer clip order', () => assertClose('clip order', got, wrong, { rtol: 1e-5, atol: 1e-6 }));
    }
    if (step === 0) createdAfterFirst = gpu.pool.stats.created;
    else expect(gpu.pool.stats.created).toBe(createdAfterFirst); // nothing allocated per step
  }
  // Moment buffers against the reference state.
  const st = await opt.readState();
  expect(st.step).toBe(3);
  if (kopts.kind === 'sgd' && kopts.momentum) {
    const ref = (state.sgd as SgdState).momentumBuffer![0];
    close('optimizer state', `${kname} ${cname} momentum`, st.buffers.momentum, ref, { rtol: 1e-5, atol: 1e-6 });
  } else if (kopts.kind !== 'sgd') {
    close('optimizer state', `${kname} ${cname} m`, st.buffers.m, state.adam.m[0], { rtol: 1e-5, atol: 1e-7 });
    close('optimizer state', `${kname} ${cname} v`, st.buffers.v, state.adam.v[0], { rtol: 1e-5, atol: 1e-8 });
  } else {
    expect(Object.keys(st.buffers)).toEqual([]);
  }
  if (kopts.kind === 'adam') {
    // Treating Adam's weight decay as decoupled (AdamW) must be told apart.
    const w = Float64Array.from(theta0);
    const ws = { sgd: {}, adam: newAdamState() };
    const r2 = rng(kname.length * 31 + cname.length);
    uniform(r2, n);
    for (let s = 0; s < 3; s++) {
      const g = uniform(r2, n, -3, 3);
      g.fill(0, n - pad);
      refStep('adamw', { ...kopts, kind: 'adamw' }, schedule(kopts.lr, s), w, g, [[0, n]], ws, clip);
    }
    mustFail('adam vs adamw', () => assertClose('adam', got, w, { rtol: 1e-5, atol: 1e-6 }));
  }
  opt.destroy();
  freeAll();
}

describe('optimizer (fused clipping + SGD / Adam / AdamW) vs torch formulas in float64', () => {
  const n = 1237;
  for (const [kname, kopts] of KINDS) {
    for (const [cname, clip] of CLIPS) {
      it(`${kname}, ${cname}: 3 steps with a cosine lr schedule`, () => checkOptimizer(kname, kopts, cname, clip));
    }
  }

  it('frozen ranges: only the listed ranges train, the norm covers only them', async () => {
    const rand = rng(77);
    const ranges = [
      [0, 500],
      [700, 537],
    ] as const;
    const theta0 = uniform(rand, n, -1, 1);
    const pt = f32(theta0);
    const gt = f32(new Float32Array(n));
    const o: OptimizerOptions = { kind: 'adam', lr: 0.02, clipNorm: 3, ranges };
    const opt = new Optimizer(gpu, o, pt.buffer, gt.buffer, n);
    expect(opt.dispatches().length).toBe(3 + 2); // 2 partial sums + final, 2 updates
    const theta = Float64Array.from(theta0);
    const state = { sgd: {}, adam: newAdamState() };
    for (let step = 0; step < 3; step++) {
      const g = uniform(rand, n, -3, 3); // the frozen middle has non-zero gradients too
      gt.write(g);
      opt.beforeStep();
      gpu.run(opt.dispatches());
      const norm = refStep('adam', o, o.lr, theta, g, ranges, state, { clipNorm: 3 });
      const got = await pt.read();
      close('optimizer adam params', `ranges step ${step + 1}`, got, theta, { rtol: 1e-5, atol: 1e-6 });
      close('optimizer gradNorm', `ranges step ${step + 1}`, [await opt.gradNorm()], [norm], { rtol: 1e-5 });
      for (let i = 500; i < 700; i++) assert(got[i] === theta0[i], `frozen element ${i} changed`);
    }
    opt.destroy();
    freeAll();
  });

  it('readState / loadState resume bit-identically', async () => {
    const rand = rng(88);
    const theta0 = uniform(rand, 301, -1, 1);
    const grads = [uniform(rand, 301, -1, 1), uniform(rand, 301, -1, 1), uniform(rand, 301, -1, 1)];
    for (const o of [
      { kind: 'adamw', lr: 0.01 },
      { kind: 'sgd', lr: 0.1, momentum: 0.8 },
    ] as OptimizerOptions[]) {
      const pa = f32(theta0);
      const ga = f32(grads[0]);
      const a = new Optimizer(gpu, { ...o, clipNorm: 1 }, pa.buffer, ga.buffer, 301);
      for (const g of grads.slice(0, 2)) {
        ga.write(g);
        a.beforeStep();
        gpu.run(a.dispatches());
      }
      const saved = await a.readState();
      const pb = f32(await pa.read());
      const gb = f32(grads[2]);
      const b = new Optimizer(gpu, { ...o, clipNorm: 1 }, pb.buffer, gb.buffer, 301);
      b.loadState(saved);
      expect(b.step).toBe(2);
      ga.write(grads[2]);
      a.beforeStep();
      gpu.run(a.dispatches());
      b.beforeStep();
      gpu.run(b.dispatches());
      expect(Array.from(await pb.read())).toEqual(Array.from(await pa.read()));
      expect(() => b.loadState({ step: 1, buffers: {} })).toThrow(/buffers \{\} given, expected/);
      a.destroy();
      b.destroy();
      freeAll();
    }
  });

  it('rejects bad options and sizes', async () => {
    const p = f32(new Float32Array(10));
    const g = f32(new Float32Array(10));
    // (pool buffers are rounded up to 16 bytes: 10 floats → 12)
    expect(() => new Optimizer(gpu, { kind: 'sgd', lr: 0.1 }, p.buffer, g.buffer, 13)).toThrow(
      /buffer 'params' holds 12 elements, needs n = 13/,
    );
    expect(() => new Optimizer(gpu, { kind: 'sgd', lr: 0.1, nesterov: true }, p.buffer, g.buffer, 10)).toThrow(
      /nesterov needs momentum > 0/,
    );
    expect(() => new Optimizer(gpu, { kind: 'adam', lr: 0.1, momentum: 0.9 }, p.buffer, g.buffer, 10)).toThrow(
      /'momentum' does not apply to kind 'adam'/,
    );
    expect(
      () =>
        new Optimizer(
          gpu,
          {
            kind: 'adam',
            lr: 0.1,
            ranges: [
              [0, 6],
              [5, 2],
            ],
          },
          p.buffer,
          g.buffer,
          10,
        ),
    ).toThrow(/overlap/);
    expect(() => new Optimizer(gpu, { kind: 'adam', lr: 0.1, beta2: 1 }, p.buffer, g.buffer, 10)).toThrow(
      /beta2 must be in \[0, 1\)/,
    );
    const plain = new Optimizer(gpu, { kind: 'sgd', lr: 0.1 }, p.buffer, g.buffer, 10);
    expect(plain.dispatches().length).toBe(1);
    await expect(plain.lastGradNorm()).rejects.toThrow(/only computed with clipNorm/);
    plain.destroy();
    freeAll();
  });
});

describe('learning-rate schedules (closed forms)', () => {
  it('match the references for steps 0…30', () => {
    const base = 0.1;
    for (let s = 0; s <= 30; s++) {
      expect(stepLR(7, 0.5)(base, s)).toBeCloseTo(stepLRRef(base, s, 7, 0.5), 15);
      expect(exponentialLR(0.9)(base, s)).toBeCloseTo(exponentialLRRef(base, s, 0.9), 15);
      expect(cosineLR(20, 1e-3)(base, s)).toBeCloseTo(cosineLRRef(base, s, 20, 1e-3), 15);
      expect(constantLR()(base, s)).toBe(base);
      expect(constantLR(0.5, 4)(base, s)).toBe(s < 4 ? 0.05 : 0.1);
    }
    expect(cosineLR(20, 1e-3)(base, 20)).toBeCloseTo(1e-3, 15);
    expect(stepLR(7, 0.5)(base, 14)).toBe(0.025);
    expect(() => stepLR(0, 0.5)).toThrow(/stepSize must be a positive integer/);
  });
});

// ---------------------------------------------------------------- embedding

type EmbCase = { N: number; V: number; E: number; pad?: number; seed: number };

async function checkEmbedding(c: EmbCase): Promise<void> {
  const rand = rng(40 + c.seed);
  const W = uniform(rand, c.V * c.E, -1, 1);
  const idx = Array.from({ length: c.N }, () => randInt(rand, 0, c.V - 1));
  if (c.pad !== undefined && c.N > 2) idx[1] = (c.pad + c.V) % c.V; // the padding row is used
  const dY = uniform(rand, c.N * c.E, -1, 1);
  const wt = f32(W, [c.V, c.E]);
  const y = embedding(gpu, wt, idx);
  owned.push(y);
  const gotY = await y.read();
  close('embedding forward', `N=${c.N} V=${c.V} E=${c.E}`, gotY, embeddingRef(W, idx, c.E), { rtol: 0 }); // exact copy
  const dyt = f32(dY, [c.N, c.E]);
  const dW = embeddingBackward(gpu, idx, dyt, c.V, { paddingIdx: c.pad });
  owned.push(dW);
  const got = await dW.read();
  const want = embeddingBackwardRef(c.V, c.E, idx, dY, c.pad);
  const scale = new Float64Array(c.V * c.E);
  for (let n = 0; n < c.N; n++) for (let e = 0; e < c.E; e++) scale[idx[n] * c.E + e] += Math.abs(dY[n * c.E + e]);
  for (let i = 0; i < scale.length; i++) scale[i] += 1e-30;
  close('embedding backward', `N=${c.N} V=${c.V} E=${c.E}`, got, want, { rtol: 1e-5, scale });
  if (c.pad !== undefined && c.N > 2) {
    const noPad = embeddingBackwardRef(c.V, c.E, idx, dY);
    mustFail('embedding without paddingIdx', () => assertClose('emb', got, noPad, { rtol: 1e-5, scale }));
  }
  // Deterministic: a second run gives the same bits.
  const again = embeddingBackward(gpu, idx, dyt, c.V, { paddingIdx: c.pad });
  owned.push(again);
  expect(Array.from(await again.read())).toEqual(Array.from(got));
  freeAll();
}

describe('embedding', () => {
  const cases: EmbCase[] = [
    { N: 1, V: 1, E: 1, seed: 1 },
    { N: 7, V: 5, E: 3, pad: 0, seed: 2 },
    { N: 33, V: 11, E: 300, pad: -1, seed: 3 }, // E > workgroup: two column chunks
    { N: 1000, V: 7, E: 65, pad: 3, seed: 4 }, // many tiles of indices, heavy repetition
    { N: 300, V: 70, E: 33, seed: 5 },
  ];
  for (const c of cases) {
    it(`N=${c.N} V=${c.V} E=${c.E}${c.pad !== undefined ? ` paddingIdx ${c.pad}` : ''}`, () => checkEmbedding(c));
  }

  it('raw dispatches: offsets, accumulate, out-of-range indices read nothing', async () => {
    const V = 4,
      E = 3,
      N = 5;
    const W = uniform(rng(50), V * E, -1, 1);
    const idx = [2, -1, 4, 2, 0]; // -1 and 4 are out of range
    const wt = f32([9, 9, ...W]); // offset 2
    const ib = i32([7, ...idx]); // offset 1
    const y = empty(N * E);
    gpu.run([
      embeddingDispatch(gpu, {
        tokens: N,
        vocab: V,
        dim: E,
        indices: { buffer: ib, offset: 1 },
        weight: { buffer: wt.buffer, offset: 2 },
        y: { buffer: y.buffer },
      }),
    ]);
    const gotY = await y.read();
    const want = new Float64Array(N * E);
    idx.forEach((v, n) => {
      if (v >= 0 && v < V) for (let e = 0; e < E; e++) want[n * E + e] = W[v * E + e];
    });
    close('embedding forward', 'offsets + out of range → 0', gotY, want, { rtol: 0 });
    const dY = uniform(rng(51), N * E, -1, 1);
    const dyt = f32(dY);
    const dW0 = uniform(rng(52), V * E, -1, 1);
    const dW = f32(dW0);
    gpu.run([
      embeddingBackwardDispatch(gpu, {
        tokens: N,
        vocab: V,
        dim: E,
        indices: { buffer: ib, offset: 1 },
        dY: { buffer: dyt.buffer },
        dW: { buffer: dW.buffer },
        accumulate: true,
        paddingIdx: 0,
      }),
    ]);
    const clamped = embeddingBackwardRef(V, E, [2, 0, 3, 2, 0], dY, 0).map((v, i) => v + dW0[i]); // wrong: clamping
    // rows 1 and 2 (out of range) add nothing: use a reference over the in-range tokens only
    const inRange = new Float64Array(V * E);
    idx.forEach((v, n) => {
      if (v >= 1 && v < V) for (let e = 0; e < E; e++) inRange[v * E + e] += dY[n * E + e];
    });
    const wantAcc = inRange.map((v, i) => v + dW0[i]);
    const gotDW = await dW.read();
    close('embedding backward', 'accumulate + padding row kept + out of range skipped', gotDW, wantAcc, {
      rtol: 1e-5,
      atol: 1e-6,
    });
    mustFail('embedding clamped-index reference', () => assertClose('emb', gotDW, clamped, { rtol: 1e-5, atol: 1e-6 }));
    expect(() => embedding(gpu, f32(W, [V, E]), [0, 4])).toThrow(/indices\[1\] = 4 is not in \[0, 4\)/);
    expect(() => embeddingBackward(gpu, [0, 1], dyt as Tensor, V)).toThrow(/rank 2/);
    expect(() => embeddingBackward(gpu, [0], f32(dY, [N, E]), V, { paddingIdx: 9 })).toThrow(
      /'dY' has shape \[5, 3\], expected \[1, E\]/,
    );
    freeAll();
  });
});

// ---------------------------------------------------------------- dropout

describe('dropout (counter-based hash mask)', () => {
  it('p = 0 is the identity; p = 1 zeroes', async () => {
    const x = uniform(rng(60), 1001, -5, 5);
    const xt = f32(x);
    const d0 = new Dropout(gpu, { p: 0, seed: 1 });
    const y0 = d0.apply(xt);
    owned.push(y0);
    expect(Array.from(await y0.read())).toEqual(Array.from(x));
    const d1 = new Dropout(gpu, { p: 1, seed: 1 });
    const y1 = d1.apply(xt);
    owned.push(y1);
    expect((await y1.read()).every((v) => v === 0)).toBe(true);
    d0.destroy();
    d1.destroy();
    freeAll();
  });

  it('p = 0.3 over 100k elements: CPU-replicated mask, same counter same mask, backward uses it', async () => {
    const n = 100_000;
    const p = 0.3;
    const x = uniform(rng(61), n, 0.5, 2); // no zeros: a zero output means dropped
    const dy = uniform(rng(62), n, 0.5, 2);
    const xt = f32(x);
    const dyt = f32(dy);
    const y = empty(n),
      y2 = empty(n),
      y3 = empty(n),
      dx = empty(n),
      ys = empty(n);
    const drop = new Dropout(gpu, { p, seed: 1234 });
    const fwd = drop.forwardDispatch({ n, x: { buffer: xt.buffer }, y: { buffer: y.buffer } });
    const fwd2 = drop.dispatch({ n, x: { buffer: xt.buffer }, y: { buffer: y2.buffer } });
    const bwd = drop.backwardDispatch({ n, x: { buffer: dyt.buffer }, y: { buffer: dx.buffer } });
    const salted = drop.dispatch({ n, x: { buffer: xt.buffer }, y: { buffer: ys.buffer }, salt: 1 });
    drop.setStep(5);
    gpu.run([fwd, fwd2, bwd, salted]);
    const [gy, gy2, gdx, gys] = [await y.read(), await y2.read(), await dx.read(), await ys.read()];
    drop.setStep(6);
    gpu.run([drop.dispatch({ n, x: { buffer: xt.buffer }, y: { buffer: y3.buffer } })]);
    const gy3 = await y3.read();
    const scale = Math.fround(1 / (1 - p));
    let kept = 0,
      agree = 0,
      saltAgree = 0;
    for (let i = 0; i < n; i++) {
      const k = gy[i] !== 0;
      kept += k ? 1 : 0;
      assert(k === dropoutKeep(1234, 5, 0, i, p), `element ${i}: GPU mask differs from the CPU replica`);
      assert(
        gy[i] === (k ? Math.fround(x[i] * scale) : 0),
        `element ${i}: y = ${gy[i]}, expected ${k ? x[i] * scale : 0}`,
      );
      assert(gy2[i] === gy[i], `element ${i}: same counter, different mask`);
      assert((gdx[i] !== 0) === k, `element ${i}: backward mask differs from forward`);
      if (k) assert(gdx[i] === Math.fround(dy[i] * scale), `element ${i}: dX = ${gdx[i]}`);
      agree += (gy3[i] !== 0) === k ? 1 : 0;
      saltAgree += (gys[i] !== 0) === k ? 1 : 0;
    }
    const sigma = Math.sqrt((p * (1 - p)) / n);
    const frac = kept / n;
    console.log(
      `dropout p=${p}: kept ${frac.toFixed(5)} (1−p = ${1 - p}, 3σ ` +
        `= ${(3 * sigma).toExponential(2)}); agreement with ` +
        `counter+1 ${(agree / n).toFixed(4)}, with salt 1 ${(saltAgree / n).toFixed(4)} ` +
        `(independent: ${p * p + (1 - p) * (1 - p)})`,
    );
    assert(Math.abs(frac - (1 - p)) <= 3 * sigma, `kept fraction ${frac} is not within 3σ of ${1 - p}`);
    // Independent masks agree on p² + (1−p)² of the elements.
    const indep = p * p + (1 - p) * (1 - p);
    const s2 = Math.sqrt((indep * (1 - indep)) / n);
    assert(
      Math.abs(agree / n - indep) <= 4 * s2,
      `counter 6 mask agrees with counter 5 on ${agree / n}, expected ≈ ${indep}`,
    );
    assert(
      Math.abs(saltAgree / n - indep) <= 4 * s2,
      `salt 1 mask agrees with salt 0 on ${saltAgree / n}, expected ≈ ${indep}`,
    );
    // A wrong replica (another seed) must be detected.
    let diff = 0;
    for (let i = 0; i < 1000; i++) diff += dropoutKeep(1235, 5, 0, i, p) !== (gy[i] !== 0) ? 1 : 0;
    assert(diff > 100, 'a different seed gave the same mask');
    expect(() => drop.setStep(-1)).toThrow(/counter must be an integer/);
    drop.destroy();
    freeAll();
  });

  it('rejects bad arguments', () => {
    expect(() => new Dropout(gpu, { p: 1.5 })).toThrow(/p must be a probability/);
    const d = new Dropout(gpu, { p: 0.5 });
    const x = f32([1, 2, 3]);
    expect(() => d.dispatch({ n: 5, x: { buffer: x.buffer }, y: { buffer: empty(5).buffer } })).toThrow(
      /buffer 'x' needs 5 elements from offset 0; it holds 4/,
    );
    d.destroy();
    freeAll();
  });
});

describe('shared contract', () => {
  it('dispatches from these kernels carry no unexpected transient buffers when owned by a class', () => {
    const p = f32(new Float32Array(8));
    const g = f32(new Float32Array(8));
    const o = new Optimizer(gpu, { kind: 'adam', lr: 1e-3, clipNorm: 1 }, p.buffer, g.buffer, 8);
    expect(o.dispatches().every((d: Dispatch) => !d.transient)).toBe(true);
    o.destroy();
    freeAll();
  });
});

describe('WebGPU default limits and 2-D grids', () => {
  it('runs on a device with default limits (16 KiB workgroup storage, 8 storage buffers)', async () => {
    const small = await testGpu({ limits: 'default' });
    expect(small.limits.maxComputeWorkgroupStorageSize).toBe(16384);
    expect(small.limits.maxStorageBuffersPerShaderStage).toBe(8);
    const saved = gpu;
    gpu = small;
    try {
      await checkCrossEntropy({ N: 33, C: 700, amp: 20, ignore: [3], mask: true, seed: 90 });
      await checkOptimizer('adam', KINDS[3][1], 'clipValue+clipNorm', CLIPS[3][1]);
      await checkOptimizer('sgd nesterov', KINDS[2][1], 'clipNorm', CLIPS[1][1]);
      await checkEmbedding({ N: 300, V: 70, E: 300, pad: 2, seed: 91 });
      await small.sync();
    } finally {
      try {
        freeAll();
      } catch {
        owned.length = 0;
      }
      gpu = saved;
      small.destroy();
    }
  });

  it(
    'more than 65535 workgroups (dropout over 16.8M elements, 2-D grid); embedding ' + 'backward over 66000 rows',
    async () => {
      const n = 65535 * 256 + 777;
      const x = new Float32Array(n).fill(1);
      const xt = f32(x);
      const y = empty(n);
      const drop = new Dropout(gpu, { p: 0.5, seed: 7 });
      const d = drop.dispatch({ n, x: { buffer: xt.buffer }, y: { buffer: y.buffer } });
      expect(d.workgroups[1]).toBe(2);
      gpu.run([d]);
      const tailLen = 300_000;
      const got = await read(y, tailLen, n - tailLen);
      for (let k = 0; k < tailLen; k++) {
        const i = n - tailLen + k;
        assert((got[k] === 2) === dropoutKeep(7, 0, 0, i, 0.5), `element ${i}: mask differs from the CPU replica`);
      }
      drop.destroy();

      const V = 66000,
        E = 2,
        N = 40;
      const rand = rng(92);
      const idx = Array.from({ length: N }, (_, k) => (k < 20 ? V - 1 - k : randInt(rand, 0, V - 1)));
      const dY = uniform(rand, N * E, -1, 1);
      const dW = embeddingBackward(gpu, idx, f32(dY, [N, E]), V);
      owned.push(dW);
      close('embedding backward', `V=${V} (2-D grid)`, await dW.read(), embeddingBackwardRef(V, E, idx, dY), {
        rtol: 1e-5,
        atol: 1e-6,
      });
      freeAll();
    },
  );
});
