// Batched matrix product (torch.matmul / torch.bmm for rank 2 and 3) with its gradient, all GEMMs
// (shaders/matmul.wgsl):
//   C[b] = op(A[b])·op(B[b])       op(X) = X or Xᵀ (transposeA / transposeB)
//   d op(A)[b] = dC[b]·op(B[b])ᵀ    d op(B)[b] = op(A[b])ᵀ·dC[b]
// A rank-2 `b` is shared by every batch of a rank-3 `a`: its gradient is the sum over the batch
// (one GEMM over the stacked rows when `a` is not transposed, else one accumulating GEMM per batch).
import { ShapeError, fmtShape } from '../../util/errors.js';
import type { Dispatch } from '../../gpu/dispatch.js';
import { gemmDispatches } from '../../kernels/matmul.js';
import type { Tensor } from '../../gpu/tensor.js';
import type { BufferRef, BuildContext, Value } from '../graph.js';
import { graphFor, record } from '../record.js';

/** Options of {@link matmul}. */
export interface MatmulOpOptions {
  /** Use the transpose of `a`'s last two dimensions. Default false. */
  transposeA?: boolean;
  /** Use the transpose of `b`'s last two dimensions. Default false. */
  transposeB?: boolean;
}

/** Sizes of one product: batch (1 for rank 2), M, N, K, and whether b is one matrix shared by the batch. */
interface Dims {
  batch: number;
  M: number;
  N: number;
  K: number;
  shared: boolean;
  tA: boolean;
  tB: boolean;
}

/** A [rows, cols] matrix per batch, at a planned view: its row stride and batch stride. */
const mat = (v: BufferRef, rows: number, cols: number, batched: boolean) => ({
  buffer: v.buffer,
  offset: v.offset,
  ld: cols,
  batchStride: batched ? rows * cols : 0,
});

/** Checks the operands and works out the sizes (the message names the argument and both shapes). */
function dimsOf(op: string, a: Value, b: Value, tA: boolean, tB: boolean): Dims {
  for (const [name, v] of [
    ['a', a],
    ['b', b],
  ] as const) {
    if (v.dtype !== 'f32' || (v.shape.length !== 2 && v.shape.length !== 3)) {
      throw new ShapeError(
        `${op}: argument '${name}' has shape ${fmtShape(v.shape)} (${v.dtype}); ` +
          `expected f32 of rank 2 [rows, cols] or 3 [batch, rows, cols]`,
      );
    }
  }
  if (a.shape.length === 2 && b.shape.length === 3) {
    throw new ShapeError(
      `${op}: argument 'a' ${fmtShape(a.shape)} is rank 2 but ` +
        `'b' ${fmtShape(b.shape)} is rank 3; only a rank-2 'b' is shared over a batch ` +
        `(reshape or transpose so that the batched operand is 'a')`,
    );
  }
  const batch = a.shape.length === 3 ? a.shape[0] : 1;
  if (b.shape.length === 3 && b.shape[0] !== batch) {
    throw new ShapeError(
      `${op}: batch sizes differ: argument 'a' ${fmtShape(a.shape)} vs ` +
        `'b' ${fmtShape(b.shape)} (no broadcasting beyond a shared rank-2 'b')`,
    );
  }
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const [M, K] = tA ? [ac, ar] : [ar, ac];
  const [Kb, N] = tB ? [bc, br] : [br, bc];
  if (K !== Kb) {
    throw new ShapeError(
      `${op}: inner dimensions differ: op(a) is ${M}×${K} (argument ` +
        `'a' ${fmtShape(a.shape)}${tA ? ', transposed' : ''}) but op(b) is ${Kb}×${N} ` +
        `(argument 'b' ${fmtShape(b.shape)}${tB ? ', transposed' : ''})`,
    );
  }
  return { batch, M, N, K, shared: b.shape.length === 2 && a.shape.length === 3, tA, tB };
}

/** Forward GEMMs: C = op(A)·op(B) (a shared, untransposed-A product is one GEMM over all B·M rows). */
function forwardDispatches(
  ctx: BuildContext,
  d: Dims,
  av: BufferRef,
  bv: BufferRef,
  cv: BufferRef,
  label: string,
): Dispatch[] {
  const { batch, M, N, K, shared, tA, tB } = d;
  const bMat = mat(bv, tB ? N : K, tB ? K : N, !shared);
  if (shared && !tA) {
    return gemmDispatches(ctx.gpu, {
      M: batch * M,
      N,
      K,
      a: mat(av, batch * M, K, false),
      b: bMat,
      c: mat(cv, batch * M, N, false),
      transposeB: tB,
      label,
    });
  }
  return gemmDispatches(ctx.gpu, {
    M,
    N,
    K,
    batch,
    a: mat(av, tA ? K : M, tA ? M : K, true),
    b: bMat,
    c: mat(cv, M, N, true),
    transposeA: tA,
    transposeB: tB,
    label,
  });
}

/** dA (stored like A): dC·op(B)ᵀ, or op(B)·dCᵀ when A is transposed. */
function gradA(ctx: BuildContext, d: Dims, gv: BufferRef, bv: BufferRef, dav: BufferRef, label: string): Dispatch[] {
  const { batch, M, N, K, shared, tA, tB } = d;
  const bMat = mat(bv, tB ? N : K, tB ? K : N, !shared);
  const dC = mat(gv, M, N, true);
  if (!tA) {
    if (shared)
      return gemmDispatches(ctx.gpu, {
        M: batch * M,
        N: K,
        K: N,
        a: mat(gv, batch * M, N, false),
        b: bMat,
        c: mat(dav, batch * M, K, false),
        transposeB: !tB,
        label,
      });
    return gemmDispatches(ctx.gpu, {
      M,
      N: K,
      K: N,
      batch,
      a: dC,
      b: bMat,
      c: mat(dav, M, K, true),
      transposeB: !tB,
      label,
    });
  }
  return gemmDispatches(ctx.gpu, {
    M: K,
    N: M,
    K: N,
    batch,
    a: bMat,
    b: dC,
    c: mat(dav, K, M, true),
    transposeA: tB,
    transposeB: true,
    label,
  });
}

/** dB (stored like B): op(A)ᵀ·dC, or dCᵀ·op(A) when B is transposed; summed over the batch when B is shared. */
function gradB(ctx: BuildContext, d: Dims, gv: BufferRef, av: BufferRef, dbv: BufferRef, label: string): Dispatch[] {
  const { batch, M, N, K, shared, tA, tB } = d;
  const [bRows, bCols] = tB ? [N, K] : [K, N];
  if (shared && !tA) {
    // Σ_b A[b]ᵀ·dC[b] = (stacked A)ᵀ·(stacked dC): one GEMM over the batch·M rows.
    const A = mat(av, batch * M, K, false);
    const dC = mat(gv, batch * M, N, false);
    const c = mat(dbv, bRows, bCols, false);
    return tB
      ? gemmDispatches(ctx.gpu, { M: N, N: K, K: batch * M, a: dC, b: A, c, transposeA: true, label })
      : gemmDispatches(ctx.gpu, { M: K, N, K: batch * M, a: A, b: dC, c, transposeA: true, label });
  }
  const one = (i: number, n: number, c: ReturnType<typeof mat>, beta: number | undefined): Dispatch[] => {
    const at = (m: ReturnType<typeof mat>) => ({ ...m, offset: m.offset + i * m.batchStride });
    const A = at(mat(av, tA ? K : M, tA ? M : K, true));
    const dC = at(mat(gv, M, N, true));
    const cc = shared ? c : at(c);
    const B = shared ? 1 : n;
    return tB
      ? gemmDispatches(ctx.gpu, {
          M: N,
          N: K,
          K: M,
          batch: B,
          a: dC,
          b: A,
          c: cc,
          transposeA: true,
          transposeB: tA,
          beta,
          label,
        })
      : gemmDispatches(ctx.gpu, { M: K, N, K: M, batch: B, a: A, b: dC, c: cc, transposeA: !tA, beta, label });
  };
  const c = mat(dbv, bRows, bCols, !shared);
  if (!shared) return one(0, batch, c, undefined);
  // Shared B with a transposed A: one accumulating GEMM per batch.
  const out: Dispatch[] = [];
  for (let i = 0; i < batch; i++) out.push(...one(i, 1, c, i > 0 ? 1 : undefined));
  return out;
}

/**
 * Records C = op(a)·op(b) as a graph value (see {@link matmul}).
 * @param op - Name in errors and labels.
 */
export function matmulValue(a: Value, b: Value, opts: MatmulOpOptions = {}, op = 'matmul'): Value {
  const d = dimsOf(op, a, b, !!opts.transposeA, !!opts.transposeB);
  const outShape = a.shape.length === 3 ? [d.batch, d.M, d.N] : [d.M, d.N];
  return record({
    op,
    attrs: { kind: 'matmul', transposeA: d.tA, transposeB: d.tB },
    inputs: [a, b],
    outputs: [{ shape: outShape }],
    build: ([av, bv], [cv], ctx) => forwardDispatches(ctx, d, av, bv, cv, op),
    backward: ([dc], needs) => {
      if (!dc) return [null, null];
      const da = needs[0]
        ? record({
            op: `${op}.da`,
            inputs: [dc, b],
            outputs: [{ shape: a.shape }],
            build: ([gv, bv], [dav], ctx) => gradA(ctx, d, gv, bv, dav, `${op}.da`),
          })[0]
        : null;
      const db = needs[1]
        ? record({
            op: `${op}.db`,
            inputs: [dc, a],
            outputs: [{ shape: b.shape }],
            build: ([gv, av], [dbv], ctx) => gradB(ctx, d, gv, av, dbv, `${op}.db`),
          })[0]
        : null;
      return [da, db];
    },
  })[0];
}

/**
 * Matrix product like `torch.matmul` for rank 2 and 3, inside a traced forward, with its gradient:
 * [M, K]·[K, N] → [M, N]; [B, M, K]·[B, K, N] → [B, M, N]; [B, M, K]·[K, N] → [B, M, N] (a rank-2
 * `b` is shared by the batch). No other broadcasting; rank 1 is not supported.
 * @param a - [M, K] or [batch, M, K] ([..., K, M] with `transposeA`).
 * @param b - [K, N] or [batch, K, N] ([..., N, K] with `transposeB`).
 * @param opts - `transposeA` / `transposeB`: use the transpose of the last two dimensions (no copy).
 * @returns [M, N] or [batch, M, N].
 * @throws ShapeError naming the argument and both shapes when ranks, batches or inner sizes disagree.
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOpOptions = {}): Tensor {
  const g = graphFor('matmul');
  return matmulValue(g.of('matmul', 'a', a), g.of('matmul', 'b', b), opts).tensor;
}

/**
 * Batched matrix product like `torch.bmm`: [B, M, K]·[B, K, N] → [B, M, N] (both rank 3).
 * @param a - [batch, M, K] ([batch, K, M] with `transposeA`).
 * @param b - [batch, K, N] ([batch, N, K] with `transposeB`).
 * @param opts - Transposes, as {@link matmul}.
 */
export function bmm(a: Tensor, b: Tensor, opts: MatmulOpOptions = {}): Tensor {
  const g = graphFor('bmm');
  const av = g.of('bmm', 'a', a);
  const bv = g.of('bmm', 'b', b);
  for (const [name, v] of [
    ['a', av],
    ['b', bv],
  ] as const) {
    if (v.shape.length !== 3)
      throw new ShapeError(
        `bmm: argument '${name}' has shape ${fmtShape(v.shape)}; expected rank 3 ` +
          `[batch, rows, cols] (F.matmul takes rank 2)`,
      );
  }
  return matmulValue(av, bv, opts, 'bmm').tensor;
}
