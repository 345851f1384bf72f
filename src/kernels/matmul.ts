import type { Gpu } from '../gpu/device.js';
import type { Dispatch } from '../gpu/dispatch.js';
import { ShapeError, fmtShape } from '../gpu/errors.js';
import { Tensor, expectRank, expectShape } from '../tensor.js';

/** A matrix operand in a buffer: element offset, row stride and per-batch stride (0 = shared). */
export interface MatrixView {
  buffer: GPUBuffer;
  offset?: number;
  ld: number;
  batchStride?: number;
}

/** Raw GEMM arguments, in elements: `C[b] = alpha·op(A[b])·op(B[b]) (+ bias) (+ beta·C[b])`. */
export interface GemmArgs {
  M: number;
  N: number;
  K: number;
  batch?: number;
  a: MatrixView;
  b: MatrixView;
  c: MatrixView;
  /** N bias values at `offset`, broadcast over rows and batches. */
  bias?: { buffer: GPUBuffer; offset?: number };
  transposeA?: boolean;
  transposeB?: boolean;
  alpha?: number;
  /** When set, C is read and `beta·C` added (accumulation); otherwise C is only written. */
  beta?: number;
  /** Workgroup shape; the defaults suit real GPUs (16×16 threads, 4×4 outputs each, TILE_K 16). */
  tile?: { wgX?: number; wgY?: number; tileK?: number };
  label?: string;
}

const FLOAT = 4;

/** Elements a view spans: the last element touched is base + (batch−1)·stride + (rows−1)·ld + cols − 1. */
function checkExtent(label: string, name: string, v: MatrixView, batch: number, rows: number, cols: number): void {
  const offset = v.offset ?? 0;
  const bs = v.batchStride ?? 0;
  if (v.ld < cols) throw new ShapeError(`${label}: ${name}.ld (${v.ld}) is smaller than its row length (${cols})`);
  const end = offset + (batch - 1) * bs + (rows - 1) * v.ld + cols;
  if (end * FLOAT > v.buffer.size) {
    throw new ShapeError(`${label}: ${name} spans elements up to ${end}, but its buffer holds ${v.buffer.size / FLOAT}`);
  }
}

function aligned(v: MatrixView): boolean {
  return (v.offset ?? 0) % 4 === 0 && v.ld % 4 === 0 && (v.batchStride ?? 0) % 4 === 0;
}

/**
 * Prepares GEMM dispatches (one per chunk of at most maxComputeWorkgroupsPerDimension batches).
 * Buffers and sizes are checked here, before any GPU work. The uniforms are `transient`.
 */
export function gemmDispatches(gpu: Gpu, args: GemmArgs): Dispatch[] {
  const label = args.label ?? 'matmul';
  const { M, N, K } = args;
  const batch = args.batch ?? 1;
  for (const [k, v] of Object.entries({ M, N, K, batch })) {
    if (!Number.isInteger(v) || v <= 0) throw new ShapeError(`${label}: ${k} must be a positive integer, got ${v}`);
  }
  const wgX = args.tile?.wgX ?? 16;
  const wgY = args.tile?.wgY ?? 16;
  const tileK = args.tile?.tileK ?? 16;
  if (tileK % 4 !== 0 || wgX * wgY > gpu.limits.maxComputeInvocationsPerWorkgroup) {
    throw new ShapeError(`${label}: tile ${wgX}×${wgY} threads, TILE_K ${tileK} is invalid (TILE_K multiple of 4, ≤ ${gpu.limits.maxComputeInvocationsPerWorkgroup} threads)`);
  }
  const tA = !!args.transposeA;
  const tB = !!args.transposeB;
  checkExtent(label, 'a', args.a, batch, tA ? K : M, tA ? M : K);
  checkExtent(label, 'b', args.b, batch, tB ? N : K, tB ? K : N);
  checkExtent(label, 'c', args.c, batch, M, N);
  if (args.c.buffer === args.a.buffer || args.c.buffer === args.b.buffer) {
    throw new ShapeError(`${label}: the output must not share a buffer with an input`);
  }
  if (args.bias && ((args.bias.offset ?? 0) + N) * FLOAT > args.bias.buffer.size) {
    throw new ShapeError(`${label}: bias needs ${N} elements from offset ${args.bias.offset ?? 0}; its buffer is too small`);
  }
  const tm = 4 * wgY;
  const tn = 4 * wgX;
  const gx = Math.ceil(N / tn);
  const gy = Math.ceil(M / tm);
  const maxWg = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (gx > maxWg || gy > maxWg) {
    throw new ShapeError(`${label}: M=${M}, N=${N} need a ${gx}×${gy} grid, beyond maxComputeWorkgroupsPerDimension (${maxWg})`);
  }
  const pipeline = gpu.pipeline('matmul.wgsl', {
    WG_X: wgX, WG_Y: wgY, TILE_K: tileK,
    TRANS_A: tA, TRANS_B: tB,
    VEC_A: aligned(args.a), VEC_B: aligned(args.b),
    HAS_BIAS: !!args.bias, ACCUMULATE: args.beta !== undefined,
  });
  const dispatches: Dispatch[] = [];
  for (let b0 = 0; b0 < batch; b0 += maxWg) {
    const nb = Math.min(maxWg, batch - b0);
    const sa = args.a.batchStride ?? 0;
    const sb = args.b.batchStride ?? 0;
    const sc = args.c.batchStride ?? 0;
    const params = gpu.uniform('matmul.wgsl', 'params', {
      M, N, K,
      lda: args.a.ld, ldb: args.b.ld, ldc: args.c.ld,
      offsetA: (args.a.offset ?? 0) + b0 * sa,
      offsetB: (args.b.offset ?? 0) + b0 * sb,
      offsetC: (args.c.offset ?? 0) + b0 * sc,
      offsetBias: args.bias?.offset ?? 0,
      batchStrideA: sa, batchStrideB: sb, batchStrideC: sc,
      alpha: args.alpha ?? 1, beta: args.beta ?? 0,
    });
    const bindGroup = gpu.bindGroup('matmul.wgsl', {
      A: args.a.buffer,
      B: args.b.buffer,
      bias: args.bias?.buffer ?? gpu.dummyBuffer,
      C: args.c.buffer,
      params,
    });
    dispatches.push({ label, pipeline, bindGroup, workgroups: [gx, gy, nb], transient: [params] });
  }
  return dispatches;
}

/** Options of {@link matmul}. */
export interface MatmulOptions {
  /** Use Aᵀ: `a` is [K, M] (or [batch, K, M]). */
  transposeA?: boolean;
  /** Use Bᵀ: `b` is [N, K] (or [batch, N, K]). */
  transposeB?: boolean;
  /** [N], added to every row. */
  bias?: Tensor;
  /** Scales the product: alpha·op(A)·op(B). Default 1. */
  alpha?: number;
  /** Accumulate into `out`: out = alpha·op(A)·op(B) (+ bias) + beta·out. Requires `out`. */
  beta?: number;
  /** Output tensor [M, N] or [batch, M, N]; allocated when absent. */
  out?: Tensor;
}

/**
 * `C = alpha·op(A)·op(B) (+ bias) (+ beta·C)` on the GPU. `a` and `b` are rank 2 or 3; a rank-2
 * operand is broadcast over the other's batch. Runs now (one submit) and returns C.
 */
export function matmul(gpu: Gpu, a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  expectRank('matmul', 'a', a, [2, 3]);
  expectRank('matmul', 'b', b, [2, 3]);
  const batchA = a.shape.length === 3 ? a.shape[0] : 1;
  const batchB = b.shape.length === 3 ? b.shape[0] : 1;
  if (a.shape.length === 3 && b.shape.length === 3 && batchA !== batchB) {
    throw new ShapeError(`matmul: batch sizes differ: a ${fmtShape(a.shape)} vs b ${fmtShape(b.shape)}`);
  }
  const batch = Math.max(batchA, batchB);
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const [M, K] = opts.transposeA ? [ac, ar] : [ar, ac];
  const [Kb, N] = opts.transposeB ? [bc, br] : [br, bc];
  if (K !== Kb) {
    throw new ShapeError(
      `matmul: inner dimensions differ: op(a) is ${M}×${K} (a ${fmtShape(a.shape)}${opts.transposeA ? ', transposed' : ''}) ` +
        `but op(b) is ${Kb}×${N} (b ${fmtShape(b.shape)}${opts.transposeB ? ', transposed' : ''})`,
    );
  }
  const outShape = a.shape.length === 3 || b.shape.length === 3 ? [batch, M, N] : [M, N];
  if (opts.bias) expectShape('matmul', 'bias', opts.bias, [N], 'one value per output column');
  if (opts.beta !== undefined && !opts.out) throw new ShapeError("matmul: 'beta' accumulates into 'out', which was not given");
  if (opts.out) {
    expectShape('matmul', 'out', opts.out, outShape);
    if (opts.out === a || opts.out === b) throw new ShapeError("matmul: 'out' must not be one of the inputs");
  }
  const out = opts.out ?? Tensor.empty(gpu, outShape, 'matmul.out');
  gpu.run(
    gemmDispatches(gpu, {
      M, N, K, batch,
      a: { buffer: a.buffer, ld: ac, batchStride: batchA > 1 ? ar * ac : 0 },
      b: { buffer: b.buffer, ld: bc, batchStride: batchB > 1 ? br * bc : 0 },
      c: { buffer: out.buffer, ld: N, batchStride: M * N },
      bias: opts.bias ? { buffer: opts.bias.buffer } : undefined,
      transposeA: opts.transposeA, transposeB: opts.transposeB,
      alpha: opts.alpha, beta: opts.beta,
    }),
  );
  return out;
}
