// seqgpu's output against the float64 reference (src/reference/) at the run's shape, on the lab's
// own random inputs: the row functions compare every peer with seqgpu on the same inputs, and this
// check says whether seqgpu itself is right at that shape. |got − want| ÷ max |want| past 1e-3 (the
// bench's threshold for a peer) is a wrong output: no ratio is shown for the row (metrics.ts).
// Checked: matmul (any batch, transposes, bias), row softmax, the attention forward. The
// recurrent, model and training rows are checked by the test suite (test/checks/recurrent.ts,
// test/node/*), not here; a call over 2 GFLOP is not checked (the CPU reference would take
// seconds in the page).
import { Tensor, matmul, softmax, scaledDotProductAttention, type Gpu } from '../../src/index.js';
import { matmulRef } from '../../src/reference/matmul.js';
import { softmaxRef } from '../../src/reference/softmax.js';
import { attentionRef } from '../../src/reference/attention.js';
import { gemmShapes } from '../../bench/gemm.js';
import { seededRandom } from '../../bench/stats.js';
import type { Params } from './kernels.js';

/** The bench's threshold for a wrong output, relative to the largest |reference|. */
export const WRONG_OUTPUT = 1e-3;
/** Work past which the page does not run the CPU reference. */
export const MAX_REFERENCE_FLOP = 2e9;

export type ReferenceCheck =
  { checked: true; what: string; maxRel: number; wrong?: string } | { checked: false; why: string };

const n = (p: Params, k: string) => p[k] as number;

function random(length: number, seed: number): Float32Array {
  const r = seededRandom(seed);
  return Float32Array.from({ length }, () => r() * 2 - 1);
}

function compare(what: string, got: Float32Array, want: Float64Array): ReferenceCheck {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  const maxRel = Number.isFinite(diff) ? diff / (scale || 1) : Infinity;
  const out: ReferenceCheck = { checked: true, what, maxRel };
  if (!(maxRel <= WRONG_OUTPUT)) out.wrong = `max |seqgpu − float64| ÷ max |float64| = ${maxRel.toExponential(2)}`;
  return out;
}

/** The matmul case the panel's parameters describe (sizes, batch, transposes). */
export function matmulCase(p: Params) {
  return {
    M: n(p, 'M'),
    N: n(p, 'N'),
    K: n(p, 'K'),
    batch: n(p, 'batch'),
    transposeA: p.transposeA === true,
    transposeB: p.transposeB === true,
  };
}

async function checkMatmul(gpu: Gpu, p: Params): Promise<ReferenceCheck> {
  const c = matmulCase(p);
  if (2 * c.batch * c.M * c.N * c.K > MAX_REFERENCE_FLOP)
    return { checked: false, why: `over ${MAX_REFERENCE_FLOP / 1e9} GFLOP: not run on the CPU in the page` };
  const s = gemmShapes(c);
  const size = (shape: number[]) => shape.reduce((x, y) => x * y, 1);
  const a = random(size(s.a), 1);
  const b = random(size(s.b), 2);
  const bias = p.bias === true ? random(c.N, 3) : undefined;
  const ta = Tensor.from(gpu, a, s.a);
  const tb = Tensor.from(gpu, b, s.b);
  const tbias = bias ? Tensor.from(gpu, bias, [c.N]) : undefined;
  try {
    const out = matmul(gpu, ta, tb, { transposeA: c.transposeA, transposeB: c.transposeB, bias: tbias });
    const got = await out.read();
    out.destroy();
    const want = matmulRef(a, b, c, { transposeA: c.transposeA, transposeB: c.transposeB, bias });
    return compare('matmul vs src/reference/matmul.ts', got, want);
  } finally {
    for (const t of [ta, tb, tbias]) t?.destroy();
  }
}

async function checkSoftmax(gpu: Gpu, p: Params): Promise<ReferenceCheck> {
  const [rows, cols] = [n(p, 'rows'), n(p, 'cols')];
  if (5 * rows * cols > MAX_REFERENCE_FLOP)
    return { checked: false, why: `over ${MAX_REFERENCE_FLOP / 1e9} GFLOP: not run on the CPU in the page` };
  const x = random(rows * cols, 4).map((v) => 8 * v);
  const tx = Tensor.from(gpu, x, [rows, cols]);
  try {
    const y = softmax(gpu, tx);
    const got = await y.read();
    y.destroy();
    return compare('softmax vs src/reference/softmax.ts', got, softmaxRef(x, cols));
  } finally {
    tx.destroy();
  }
}

async function checkAttention(gpu: Gpu, p: Params): Promise<ReferenceCheck> {
  const [B, H, T, D] = [n(p, 'batch'), n(p, 'heads'), n(p, 'seqLen'), n(p, 'headDim')];
  if (p.backward === true)
    return { checked: false, why: 'the backward is checked by the test suite (test/checks/kernels.ts), not here' };
  if (4 * B * H * T * T * D > MAX_REFERENCE_FLOP)
    return { checked: false, why: `over ${MAX_REFERENCE_FLOP / 1e9} GFLOP: not run on the CPU in the page` };
  const shape = [B, H, T, D];
  const [q, k, v] = [5, 6, 7].map((seed) => random(B * H * T * D, seed));
  const [tq, tk, tv] = [q, k, v].map((d) => Tensor.from(gpu, d, shape));
  try {
    const { output, lse } = scaledDotProductAttention(gpu, tq, tk, tv, { causal: p.causal === true });
    const got = await output.read();
    output.destroy();
    lse.destroy();
    const want = attentionRef(
      q,
      k,
      v,
      { batch: B, heads: H, seqLenQ: T, seqLenK: T, headDim: D },
      { causal: p.causal === true },
    );
    return compare('attention forward vs src/reference/attention.ts', got, want.output);
  } finally {
    for (const t of [tq, tk, tv]) t.destroy();
  }
}

/**
 * seqgpu's output for `kernel` at `params` against the float64 reference.
 * @param gpu - The lab's device.
 * @param kernel - The lab kernel's key.
 * @param params - Its fields (already checked by limits.ts).
 * @returns What was compared and the error, or why nothing was.
 */
export async function referenceCheck(gpu: Gpu, kernel: string, params: Params): Promise<ReferenceCheck> {
  if (kernel === 'matmul') return checkMatmul(gpu, params);
  if (kernel === 'softmax') return checkSoftmax(gpu, params);
  if (kernel === 'attention') return checkAttention(gpu, params);
  return {
    checked: false,
    why: 'checked against float64 by the test suite (test/checks/recurrent.ts, test/node/*), not in the page',
  };
}
