// RNN attention (src/kernels/rnnAttention.ts: Luong dot / general, Bahdanau additive) on the GPU vs
// the float64 reference (src/reference/rnnAttention.ts, whose backward is checked by finite
// differences in test/node/rnnAttentionReference.test.ts). Runs in Node and in Chromium.
// Forward: context and α (1e-4); step-wise (t0 = 0…seqLenQ−1, steps 1, one submit) == one-shot;
// backward: dQuery, dKeys (written, or accumulated onto random contents), every parameter gradient
// (written over garbage) within 1e-3. Shapes: odd sizes, batch 1, seqLenQ 1, seqLenS 1, sources of
// 300+ and 1025 keys, dims up to 1024, key masks with a fully masked batch row, time-major
// [T, B, H], batch-first [B, T, H] and padded (non-packed rows, misaligned offsets) views; the
// Seq2Seq training configuration (time-major views with a batch-first α, one forward call per
// decoder step, dQuery accumulated). Each case runs with the adapter's thread layout (one thread
// per row on a software adapter); the 'gpu tiling' cases force the cooperative layout of a GPU
// (several threads per key, per row and per column, several rows per workgroup).
import type { Gpu } from '../../src/gpu/device.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { ParameterStore, type BufferView } from '../../src/io/parameters.js';
import { RnnAttentionPlan, type AttentionScore, type SeqView } from '../../src/kernels/rnnAttention.js';
import { rnnAttentionRef, rnnAttentionBackwardRef } from '../../src/reference/rnnAttention.js';
import { rng, uniform, assertClose, assert } from './util.js';
import type { Check } from './kernels.js';

type Layout = 'batchFirst' | 'timeMajor' | 'padded';

interface RnnAttentionCase {
  score: AttentionScore;
  B: number;
  Tq: number;
  Ts: number;
  Hq: number;
  Hk: number;
  A?: number;
  mask?: boolean;
  layout: Layout;
  /** Also run the forward step by step and compare with the one-shot forward. */
  stepwise?: boolean;
  backward?: boolean;
  /** Backward adds into dQuery and dKeys (pre-filled with random values), or only into dQuery. */
  accumulate?: boolean | 'dQuery';
  /** The forward checked vs float64 (whose α the backward reads) is recorded one step per call, as a decoder does. */
  stepwiseForward?: boolean;
  /** α in this layout instead of `layout` (Seq2Seq: batch-first α, time-major sequences). */
  alphaLayout?: Layout;
  /** Views at offset 0 (else odd offsets, so GEMMs take their unaligned path too). */
  aligned?: boolean;
  /** Force the thread layout of a software adapter (true) or a GPU (false); default: the adapter's. */
  software?: boolean;
  amp?: number;
  seed: number;
}

function caseName(c: RnnAttentionCase): string {
  const flags = [
    c.mask && 'keyMask',
    c.layout,
    c.alphaLayout && `α ${c.alphaLayout}`,
    c.aligned && 'aligned',
    c.stepwiseForward && 'forward per step',
    c.stepwise && 'step-wise',
    c.backward && (c.accumulate ? `backward (accumulate${c.accumulate === 'dQuery' ? ' dQuery' : ''})` : 'backward'),
    c.software === false && 'gpu tiling',
    c.software === true && 'software tiling',
  ].filter(Boolean);
  return (
    `rnnAttention ${c.score} B${c.B} Tq${c.Tq} Ts${c.Ts} Hq${c.Hq} ` +
    `Hk${c.Hk}${c.A ? ` A${c.A}` : ''} ${flags.join(', ')}`
  );
}

/** A [B, T, W] view in one of the layouts; offsets are odd so GEMMs take their unaligned path too. */
function viewOf(
  layout: Layout,
  B: number,
  T: number,
  W: number,
  offset: number,
): { strideBatch: number; strideTime: number; offset: number; size: number } {
  if (layout === 'batchFirst') return { strideBatch: T * W, strideTime: W, offset, size: offset + B * T * W };
  if (layout === 'timeMajor') return { strideBatch: W, strideTime: B * W, offset, size: offset + B * T * W };
  const st = W + 3;
  const sb = T * st + 5;
  return { strideBatch: sb, strideTime: st, offset, size: offset + (B - 1) * sb + (T - 1) * st + W + 2 };
}

type Placed = { view: SeqView; tensor: Tensor; layout: ReturnType<typeof viewOf> };

/** Uploads x (batch-first, contiguous [B, T, W]) in `layout`, filling the gaps with `fill`. */
function place(
  gpu: Gpu,
  x: ArrayLike<number> | null,
  layout: ReturnType<typeof viewOf>,
  B: number,
  T: number,
  W: number,
  fill: () => number,
): Placed {
  const data = Float32Array.from({ length: layout.size }, fill);
  if (x)
    for (let b = 0; b < B; b++)
      for (let t = 0; t < T; t++)
        for (let w = 0; w < W; w++)
          data[layout.offset + b * layout.strideBatch + t * layout.strideTime + w] = x[(b * T + t) * W + w];
  const tensor = Tensor.from(gpu, data, [layout.size]);
  return {
    tensor,
    layout,
    view: {
      buffer: tensor.buffer,
      offset: layout.offset,
      strideBatch: layout.strideBatch,
      strideTime: layout.strideTime,
    },
  };
}

/** Reads a placed [B, T, W] sequence back as batch-first contiguous. */
async function readSeq(p: Placed, B: number, T: number, W: number): Promise<Float32Array> {
  const all = await p.tensor.read();
  const out = new Float32Array(B * T * W);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++)
      for (let w = 0; w < W; w++)
        out[(b * T + t) * W + w] = all[p.layout.offset + b * p.layout.strideBatch + t * p.layout.strideTime + w];
  return out;
}

/** f32 GPU gradients vs float64: 1e-3 relative plus 1e-3 of the tensor's mean magnitude. */
function gradTol(want: ArrayLike<number>): { rtol: number; atol: number } {
  let s = 0;
  for (let i = 0; i < want.length; i++) s += Math.abs(want[i]);
  return { rtol: 1e-3, atol: 1e-3 * (s / Math.max(1, want.length)) + 1e-7 };
}

/** max |got − want| / max |want|, for the log. */
function relErr(got: ArrayLike<number>, want: ArrayLike<number>): string {
  let e = 0;
  for (let i = 0; i < got.length; i++) e = Math.max(e, Math.abs(got[i] - want[i]));
  return (e / Math.max(1e-30, maxAbs(want))).toExponential(1);
}

function maxAbs(x: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]));
  return m;
}

async function checkRnnAttention(gpu: Gpu, c: RnnAttentionCase): Promise<void> {
  const name = caseName(c);
  const rand = rng(c.seed);
  const { B, Tq, Ts, Hq, Hk } = c;
  const amp = c.amp ?? 1;
  const garbage = () => 1e3 * (rand() - 0.5);
  const query = uniform(rand, B * Tq * Hq, -amp, amp);
  const keys = uniform(rand, B * Ts * Hk, -amp, amp);
  // Key mask: batch row b keeps a random prefix (≥ 1 key); with B > 1 the last row keeps none.
  const mask = c.mask
    ? Float32Array.from({ length: B * Ts }, (_, i) => {
        const b = Math.floor(i / Ts);
        const keep = 1 + ((b * 7919 + 13) % Ts);
        return B > 1 && b === B - 1 ? 0 : i % Ts < keep ? 1 : 0;
      })
    : undefined;
  const plan = new RnnAttentionPlan(
    gpu,
    { score: c.score, batch: B, seqLenQ: Tq, seqLenS: Ts, queryDim: Hq, keyDim: Hk, attnDim: c.A },
    { software: c.software },
  );
  const store = new ParameterStore(gpu);
  const paramData: Record<string, Float32Array> = {};
  for (const p of plan.parameterShapes) {
    store.add(p.name, p.shape);
    const fanIn = p.shape.length > 1 ? p.shape[1] : 1;
    paramData[p.name] = uniform(
      rand,
      p.shape.reduce((x, y) => x * y, 1),
      -2 / Math.sqrt(fanIn),
      2 / Math.sqrt(fanIn),
    );
  }
  store.allocate();
  for (const [k, v] of Object.entries(paramData)) store.write(k, v);
  const params: Record<string, BufferView> = Object.fromEntries(
    plan.parameterShapes.map((p) => [p.name, store.view(p.name)]),
  );
  const off = (n: number) => (c.aligned ? 0 : n);
  const layoutQ = viewOf(c.layout, B, Tq, Hq, off(3));
  const layoutK = viewOf(c.layout, B, Ts, Hk, off(5));
  const layoutC = viewOf(c.layout, B, Tq, Hk, off(1));
  const layoutA = viewOf(c.alphaLayout ?? c.layout, B, Tq, Ts, off(2));
  const q = place(gpu, query, layoutQ, B, Tq, Hq, garbage);
  const k = place(gpu, keys, layoutK, B, Ts, Hk, garbage);
  const ctx = place(gpu, null, layoutC, B, Tq, Hk, garbage);
  const alpha = place(gpu, null, layoutA, B, Tq, Ts, garbage);
  const maskT = mask && Tensor.from(gpu, mask, [B, Ts]);
  const owned: Array<Tensor | undefined> = [q.tensor, k.tensor, ctx.tensor, alpha.tensor, maskT];
  const errors: string[] = [];
  try {
    const fwdArgs = {
      query: q.view,
      keys: k.view,
      keyMask: maskT?.buffer,
      params,
      context: ctx.view,
      alpha: alpha.view,
    };
    const forward = c.stepwiseForward
      ? Array.from({ length: Tq }, (_, t) => plan.forwardDispatches({ t0: t, steps: 1, ...fwdArgs })).flat()
      : plan.forwardDispatches({ t0: 0, steps: Tq, ...fwdArgs });
    gpu.run([...plan.prepareDispatches({ keys: k.view, params }), ...forward]);
    const want = rnnAttentionRef(
      query,
      keys,
      paramData,
      { score: c.score, batch: B, seqLenQ: Tq, seqLenS: Ts, queryDim: Hq, keyDim: Hk, attnDim: c.A },
      mask,
    );
    const gotAlpha = await readSeq(alpha, B, Tq, Ts);
    const gotCtx = await readSeq(ctx, B, Tq, Hk);
    assertClose(`${name}: α`, gotAlpha, want.alpha, { rtol: 1e-4, atol: 1e-6 });
    assertClose(`${name}: context`, gotCtx, want.context, { rtol: 1e-4, atol: 1e-4 * maxAbs(keys) });
    errors.push(`α ${relErr(gotAlpha, want.alpha)}`, `context ${relErr(gotCtx, want.context)}`);
    if (mask && B > 1) {
      // the fully masked batch row: α = 0 and c = 0 exactly
      const rowA = gotAlpha.subarray((B - 1) * Tq * Ts);
      const rowC = gotCtx.subarray((B - 1) * Tq * Hk);
      assert(
        rowA.every((x) => x === 0) && rowC.every((x) => x === 0),
        `${name}: the fully masked row must give α = 0 and c = 0`,
      );
    }

    if (c.stepwise) {
      // the other way of recording: one-shot when the checked forward was step-wise, else step-wise
      const ctx2 = place(gpu, null, layoutC, B, Tq, Hk, garbage);
      const alpha2 = place(gpu, null, layoutA, B, Tq, Ts, garbage);
      owned.push(ctx2.tensor, alpha2.tensor);
      const other = { ...fwdArgs, context: ctx2.view, alpha: alpha2.view };
      const steps = c.stepwiseForward
        ? plan.forwardDispatches({ t0: 0, steps: Tq, ...other })
        : Array.from({ length: Tq }, (_, t) => plan.forwardDispatches({ t0: t, steps: 1, ...other })).flat();
      gpu.run([...plan.prepareDispatches({ keys: k.view, params }), ...steps]);
      // the same computation per row: equal up to f32 rounding of the projection GEMM (≤ 1e-6)
      assertClose(`${name}: step-wise α vs one-shot`, await readSeq(alpha2, B, Tq, Ts), gotAlpha, {
        rtol: 1e-6,
        atol: 1e-7,
      });
      assertClose(`${name}: step-wise context vs one-shot`, await readSeq(ctx2, B, Tq, Hk), gotCtx, {
        rtol: 1e-6,
        atol: 1e-6 * maxAbs(keys),
      });
    }

    if (c.backward) {
      const dContext = uniform(rand, B * Tq * Hk, -1, 1);
      const dQ0 = c.accumulate ? uniform(rand, B * Tq * Hq, -1, 1) : null;
      const dK0 = c.accumulate === true ? uniform(rand, B * Ts * Hk, -1, 1) : null;
      const dc = place(gpu, dContext, layoutC, B, Tq, Hk, garbage);
      const dq = place(gpu, dQ0, layoutQ, B, Tq, Hq, garbage);
      const dk = place(gpu, dK0, layoutK, B, Ts, Hk, garbage);
      owned.push(dc.tensor, dq.tensor, dk.tensor);
      // gradients are written, not accumulated: start from garbage
      gpu.device.queue.writeBuffer(store.grads, 0, Float32Array.from({ length: store.length }, garbage));
      const grads = Object.fromEntries(plan.parameterShapes.map((p) => [p.name, store.gradView(p.name)]));
      gpu.run(
        plan.backwardDispatches({
          query: q.view,
          keys: k.view,
          keyMask: maskT?.buffer,
          params,
          alpha: alpha.view,
          dContext: dc.view,
          dQuery: { ...dq.view, accumulate: !!c.accumulate },
          dKeys: { ...dk.view, accumulate: c.accumulate === true },
          grads,
        }),
      );
      const wantB = rnnAttentionBackwardRef(
        query,
        keys,
        paramData,
        dContext,
        { score: c.score, batch: B, seqLenQ: Tq, seqLenS: Ts, queryDim: Hq, keyDim: Hk, attnDim: c.A },
        mask,
      );
      const wantDQ = dQ0 ? wantB.dQuery.map((x, i) => x + dQ0[i]) : wantB.dQuery;
      const wantDK = dK0 ? wantB.dKeys.map((x, i) => x + dK0[i]) : wantB.dKeys;
      const gotDQ = await readSeq(dq, B, Tq, Hq);
      const gotDK = await readSeq(dk, B, Ts, Hk);
      assertClose(`${name}: dQuery`, gotDQ, wantDQ, gradTol(wantB.dQuery));
      assertClose(`${name}: dKeys`, gotDK, wantDK, gradTol(wantB.dKeys));
      errors.push(`dQuery ${relErr(gotDQ, wantDQ)}`, `dKeys ${relErr(gotDK, wantDK)}`);
      for (const p of plan.parameterShapes) {
        const want = wantB.grads[p.name];
        // with one key α ≡ 1 and the score gets no gradient; otherwise a zero gradient would make the check vacuous
        assert(
          Ts === 1 || maxAbs(want) > 0,
          `${name}: the reference gradient of '${p.name}' is all zero (the check would be vacuous)`,
        );
        const got = await store.readGrad(p.name);
        assertClose(`${name}: d${p.name}`, got, want, gradTol(want));
        errors.push(`d${p.name} ${relErr(got, want)}`);
      }
    }
    console.log(`${name}: max |gpu − float64| / max |float64|: ${errors.join(', ')}`);
  } finally {
    plan.destroy();
    store.destroy();
    for (const t of owned) t?.destroy();
  }
}

const cases: RnnAttentionCase[] = [
  { score: 'dot', B: 1, Tq: 1, Ts: 1, Hq: 8, Hk: 8, layout: 'batchFirst', backward: true, seed: 1 },
  {
    score: 'dot',
    B: 3,
    Tq: 5,
    Ts: 7,
    Hq: 17,
    Hk: 17,
    mask: true,
    layout: 'timeMajor',
    stepwise: true,
    backward: true,
    accumulate: true,
    seed: 2,
  },
  {
    score: 'dot',
    B: 2,
    Tq: 3,
    Ts: 1025,
    Hq: 64,
    Hk: 64,
    mask: true,
    layout: 'batchFirst',
    backward: true,
    amp: 0.5,
    seed: 3,
  },
  { score: 'dot', B: 4, Tq: 2, Ts: 9, Hq: 5, Hk: 5, layout: 'padded', backward: true, amp: 3, seed: 4 },
  {
    score: 'general',
    B: 2,
    Tq: 6,
    Ts: 9,
    Hq: 13,
    Hk: 7,
    mask: true,
    layout: 'padded',
    stepwise: true,
    backward: true,
    seed: 5,
  },
  {
    score: 'general',
    B: 3,
    Tq: 4,
    Ts: 5,
    Hq: 5,
    Hk: 11,
    layout: 'timeMajor',
    backward: true,
    accumulate: true,
    seed: 6,
  },
  { score: 'general', B: 1, Tq: 1, Ts: 1, Hq: 3, Hk: 2, layout: 'batchFirst', backward: true, seed: 7 },
  {
    score: 'general',
    B: 2,
    Tq: 2,
    Ts: 17,
    Hq: 1024,
    Hk: 1030,
    mask: true,
    layout: 'timeMajor',
    backward: true,
    amp: 0.5,
    seed: 8,
  },
  {
    score: 'additive',
    B: 3,
    Tq: 5,
    Ts: 7,
    Hq: 9,
    Hk: 6,
    A: 10,
    mask: true,
    layout: 'timeMajor',
    stepwise: true,
    backward: true,
    accumulate: true,
    seed: 9,
  },
  { score: 'additive', B: 1, Tq: 1, Ts: 1, Hq: 3, Hk: 4, A: 5, layout: 'batchFirst', backward: true, seed: 10 },
  {
    score: 'additive',
    B: 2,
    Tq: 3,
    Ts: 333,
    Hq: 33,
    Hk: 65,
    A: 17,
    mask: true,
    layout: 'padded',
    backward: true,
    seed: 11,
  },
  {
    score: 'additive',
    B: 5,
    Tq: 1,
    Ts: 12,
    Hq: 7,
    Hk: 7,
    A: 3,
    mask: true,
    layout: 'timeMajor',
    stepwise: true,
    backward: true,
    seed: 12,
  },
  {
    score: 'additive',
    B: 2,
    Tq: 4,
    Ts: 50,
    Hq: 300,
    Hk: 257,
    A: 1024,
    layout: 'batchFirst',
    stepwise: true,
    backward: true,
    accumulate: true,
    seed: 13,
  },
  {
    score: 'additive',
    B: 1,
    Tq: 9,
    Ts: 3,
    Hq: 4,
    Hk: 6,
    A: 2,
    mask: true,
    layout: 'batchFirst',
    backward: true,
    amp: 3,
    seed: 14,
  },
  // Seq2Seq training (src/models/seq2seqPlan.ts): batch 32, 9 decoder steps recorded one per call, 8 source
  // steps, hidden 64, encoder output 128 (bidirectional), time-major sequences, batch-first α.
  {
    score: 'general',
    B: 32,
    Tq: 9,
    Ts: 8,
    Hq: 64,
    Hk: 128,
    mask: true,
    layout: 'timeMajor',
    alphaLayout: 'batchFirst',
    aligned: true,
    stepwiseForward: true,
    stepwise: true,
    backward: true,
    accumulate: 'dQuery',
    seed: 15,
  },
  {
    score: 'additive',
    B: 32,
    Tq: 9,
    Ts: 8,
    Hq: 64,
    Hk: 64,
    A: 64,
    mask: true,
    layout: 'timeMajor',
    alphaLayout: 'batchFirst',
    aligned: true,
    stepwiseForward: true,
    backward: true,
    accumulate: 'dQuery',
    seed: 16,
  },
  // ≥ 32 query and/or key rows per batch row: on a GPU the backward's per-batch products are batched GEMMs
  {
    score: 'dot',
    B: 3,
    Tq: 33,
    Ts: 40,
    Hq: 8,
    Hk: 8,
    mask: true,
    layout: 'timeMajor',
    backward: true,
    accumulate: true,
    seed: 17,
  },
  { score: 'general', B: 2, Tq: 40, Ts: 7, Hq: 9, Hk: 6, mask: true, layout: 'padded', backward: true, seed: 18 },
  {
    score: 'additive',
    B: 2,
    Tq: 36,
    Ts: 34,
    Hq: 5,
    Hk: 7,
    A: 6,
    layout: 'batchFirst',
    backward: true,
    accumulate: true,
    seed: 19,
  },
];

// The cooperative thread layout of a GPU, whatever the adapter: several threads per key (KL), per
// row (up to 256) and per column slice, several rows per workgroup with a partial last workgroup,
// keys in several passes (Ts 333, 1025) and columns in several passes (1030); the batched GEMMs of
// the backward instead of the fused products (Ts ≥ 32: 3, 11, 17, 19; Tq ≥ 32: 17, 18, 19).
const gpuTiled = [2, 3, 5, 8, 9, 10, 11, 15, 17, 18, 19];
cases.push(...cases.filter((c) => gpuTiled.includes(c.seed)).map((c) => ({ ...c, software: false })));

export const rnnAttentionChecks: Check[] = cases.map((c) => ({
  name: caseName(c),
  run: (gpu: Gpu) => checkRnnAttention(gpu, c),
}));
