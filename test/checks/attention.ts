// Fused attention (shaders/attention.wgsl) vs the naive float64 reference: random shapes incl.
// seqLen 1, 7, 129 and 1000, headDim 8/64/128, causal and key-padding masks, inputs up to ±30.
import type { Gpu } from '../../src/gpu/device.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { scaledDotProductAttention, scaledDotProductAttentionBackward } from '../../src/kernels/attention.js';
import { attentionRef, attentionBackwardRef } from '../../src/reference/attention.js';
import { rng, uniform, assertClose, assert } from './util.js';
import type { Check } from './kernels.js';

interface AttentionCase {
  batch: number;
  heads: number;
  seqLenQ: number;
  seqLenK: number;
  headDim: number;
  causal?: boolean;
  mask?: boolean;
  amp: number;
  seed: number;
}

function caseName(c: AttentionCase): string {
  return (
    `attention B${c.batch} H${c.heads} Tq${c.seqLenQ} Tk${c.seqLenK} ` +
    `D${c.headDim}${c.causal ? ' causal' : ''}${c.mask ? ' keyMask' : ''} ±${c.amp}`
  );
}

async function checkAttention(gpu: Gpu, c: AttentionCase): Promise<void> {
  const rand = rng(c.seed);
  const { batch: B, heads: H, seqLenQ: Tq, seqLenK: Tk, headDim: D } = c;
  const q = uniform(rand, B * H * Tq * D, -c.amp, c.amp);
  const k = uniform(rand, B * H * Tk * D, -c.amp, c.amp);
  const v = uniform(rand, B * H * Tk * D, -1, 1);
  // Key padding: every batch row keeps a random prefix (at least one key), one row keeps none.
  const mask = c.mask
    ? Float32Array.from({ length: B * Tk }, (_, i) =>
        Math.floor(i / Tk) === B - 1 && B > 1 ? 0 : i % Tk < 1 + Math.floor(rand() * Tk) ? 1 : 0,
      )
    : undefined;
  const t = {
    q: Tensor.from(gpu, q, [B, H, Tq, D]),
    k: Tensor.from(gpu, k, [B, H, Tk, D]),
    v: Tensor.from(gpu, v, [B, H, Tk, D]),
    mask: mask && Tensor.from(gpu, mask, [B, Tk]),
  };
  const before = gpu.pool.stats.liveBytes;
  const { output, lse } = scaledDotProductAttention(gpu, t.q, t.k, t.v, { causal: c.causal, keyPaddingMask: t.mask });
  // No Tq×Tk buffer: the call allocates only its output and LSE (and a uniform).
  const grew = gpu.pool.stats.liveBytes - before;
  assert(grew < (B * H * Tq * (D + 1) + 64) * 4 + 256, `${caseName(c)}: the call allocated ${grew} bytes`);
  const want = attentionRef(q, k, v, c, { causal: c.causal, keyMask: mask });
  // Output rows are convex combinations of V rows (|v| ≤ 1): 1e-4 absolute + 1e-4 relative.
  assertClose(`${caseName(c)}: output`, await output.read(), want.output, { rtol: 1e-4, atol: 1e-4 });
  const gotLse = await lse.read();
  const wantLse = Array.from(want.lse, (x) => (x === -Infinity ? -3e38 : x));
  // LSE of scores up to ±30²·D/√D: relative 1e-5 of |LSE| plus 1e-4.
  assertClose(`${caseName(c)}: log-sum-exp`, gotLse, wantLse, { rtol: 1e-5, atol: 1e-4 });
  for (const x of [...Object.values(t), output, lse]) x?.destroy();
}

const cases: AttentionCase[] = [
  { batch: 1, heads: 1, seqLenQ: 1, seqLenK: 1, headDim: 8, amp: 1, seed: 1 },
  { batch: 2, heads: 3, seqLenQ: 7, seqLenK: 7, headDim: 8, causal: true, amp: 1, seed: 2 },
  { batch: 2, heads: 2, seqLenQ: 129, seqLenK: 129, headDim: 64, causal: true, mask: true, amp: 1, seed: 3 },
  { batch: 1, heads: 2, seqLenQ: 7, seqLenK: 129, headDim: 128, mask: true, amp: 1, seed: 4 },
  { batch: 3, heads: 1, seqLenQ: 33, seqLenK: 65, headDim: 17, mask: true, amp: 30, seed: 5 },
  { batch: 1, heads: 1, seqLenQ: 1000, seqLenK: 1000, headDim: 8, causal: true, amp: 30, seed: 6 },
  { batch: 1, heads: 1, seqLenQ: 65, seqLenK: 1000, headDim: 64, amp: 3, seed: 7 },
];

export const attentionChecks: Check[] = cases.map((c) => ({
  name: caseName(c),
  run: (gpu: Gpu) => checkAttention(gpu, c),
}));

/** GPU dQ, dK, dV vs the float64 backward (itself checked by finite differences): 1e-3 relative. */
async function checkAttentionBackward(gpu: Gpu, c: AttentionCase): Promise<void> {
  const rand = rng(c.seed + 100);
  const { batch: B, heads: H, seqLenQ: Tq, seqLenK: Tk, headDim: D } = c;
  const q = uniform(rand, B * H * Tq * D, -c.amp, c.amp);
  const k = uniform(rand, B * H * Tk * D, -c.amp, c.amp);
  const v = uniform(rand, B * H * Tk * D, -1, 1);
  const dO = uniform(rand, B * H * Tq * D, -1, 1);
  const mask = c.mask
    ? Float32Array.from({ length: B * Tk }, (_, i) => (i % Tk < 1 + ((i * 7) % Tk) ? 1 : 0))
    : undefined;
  const t = {
    q: Tensor.from(gpu, q, [B, H, Tq, D]),
    k: Tensor.from(gpu, k, [B, H, Tk, D]),
    v: Tensor.from(gpu, v, [B, H, Tk, D]),
    dO: Tensor.from(gpu, dO, [B, H, Tq, D]),
    mask: mask && Tensor.from(gpu, mask, [B, Tk]),
  };
  const opts = { causal: c.causal, keyPaddingMask: t.mask };
  const fwd = scaledDotProductAttention(gpu, t.q, t.k, t.v, opts);
  const g = scaledDotProductAttentionBackward(gpu, t.q, t.k, t.v, fwd.output, fwd.lse, t.dO, opts);
  const want = attentionBackwardRef(q, k, v, dO, c, { causal: c.causal, keyMask: mask });
  const tol = (w: ArrayLike<number>) => {
    let s = 0;
    for (let i = 0; i < w.length; i++) s += Math.abs(w[i]);
    return { rtol: 1e-3, atol: 1e-3 * (s / Math.max(1, w.length)) + 1e-6 };
  };
  assertClose(`${caseName(c)} backward: dQ`, await g.dq.read(), want.dq, tol(want.dq));
  assertClose(`${caseName(c)} backward: dK`, await g.dk.read(), want.dk, tol(want.dk));
  assertClose(`${caseName(c)} backward: dV`, await g.dv.read(), want.dv, tol(want.dv));
  for (const x of [...Object.values(t), fwd.output, fwd.lse, g.dq, g.dk, g.dv]) x?.destroy();
}

const backwardCases: AttentionCase[] = [
  { batch: 1, heads: 1, seqLenQ: 1, seqLenK: 1, headDim: 8, amp: 1, seed: 11 },
  { batch: 2, heads: 3, seqLenQ: 7, seqLenK: 7, headDim: 8, causal: true, amp: 1, seed: 12 },
  { batch: 2, heads: 1, seqLenQ: 70, seqLenK: 129, headDim: 64, mask: true, amp: 1, seed: 13 },
  { batch: 1, heads: 2, seqLenQ: 33, seqLenK: 33, headDim: 128, causal: true, mask: true, amp: 1, seed: 14 },
  { batch: 1, heads: 1, seqLenQ: 129, seqLenK: 129, headDim: 17, causal: true, amp: 3, seed: 15 },
];

attentionChecks.push(
  ...backwardCases.map((c) => ({
    name: `${caseName(c)} backward (dQ, dK, dV)`,
    run: (gpu: Gpu) => checkAttentionBackward(gpu, c),
  })),
);
