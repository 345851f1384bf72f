import { epilogueActRef, type EpilogueActivation } from './linear.js';

/**
 * Float64 reference GEMM, the spec for shaders/matmul.wgsl:
 *   Z[b] = alpha · op(A[b]) · op(B[b]) + bias
 *   C[b] = act(Z[b]) + residual[b] + beta · C0[b]
 * A is [batchA, M, K] (or [batchA, K, M] when transposeA), B is [batchB, K, N] (or [batchB, N, K]),
 * batchA / batchB are 1 (broadcast) or `batch`; the residual is [batch, M, N]. Row-major, no padding.
 * act is the identity unless `activation` is given.
 */
export function matmulRef(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  dims: { M: number; N: number; K: number; batch?: number; batchA?: number; batchB?: number },
  opts: {
    transposeA?: boolean;
    transposeB?: boolean;
    bias?: ArrayLike<number>;
    alpha?: number;
    beta?: number;
    c0?: ArrayLike<number>;
    activation?: EpilogueActivation;
    residual?: ArrayLike<number>;
  } = {},
): Float64Array {
  const { M, N, K } = dims;
  const batch = dims.batch ?? 1;
  const sa = (dims.batchA ?? batch) > 1 ? M * K : 0;
  const sb = (dims.batchB ?? batch) > 1 ? K * N : 0;
  const alpha = opts.alpha ?? 1;
  const c = new Float64Array(batch * M * N);
  for (let p = 0; p < batch; p++) {
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const av = a[p * sa + (opts.transposeA ? k * M + i : i * K + k)];
          const bv = b[p * sb + (opts.transposeB ? j * K + k : k * N + j)];
          s += av * bv;
        }
        const o = p * M * N + i * N + j;
        const z = alpha * s + (opts.bias ? opts.bias[j] : 0);
        c[o] =
          epilogueActRef(opts.activation ?? 'identity', z) +
          (opts.residual ? opts.residual[o] : 0) +
          (opts.beta !== undefined && opts.c0 ? opts.beta * opts.c0[o] : 0);
      }
    }
  }
  return c;
}

/**
 * Σₖ |op(A)ᵢₖ|·|op(B)ₖⱼ| for every output: the scale of the rounding error a dot product of
 * length K can make. Tests divide |gpu − reference| by it ("relative, scaled by K").
 */
export function matmulErrorScale(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  dims: { M: number; N: number; K: number; batch?: number; batchA?: number; batchB?: number },
  opts: { transposeA?: boolean; transposeB?: boolean; alpha?: number } = {},
): Float64Array {
  const abs = (x: ArrayLike<number>) => Float64Array.from(x as ArrayLike<number>, Math.abs);
  const s = matmulRef(abs(a), abs(b), dims, { transposeA: opts.transposeA, transposeB: opts.transposeB });
  const alpha = Math.abs(opts.alpha ?? 1);
  return s.map((v) => alpha * v);
}
