import type { Gpu } from '../gpu/device.js';
import type { Dispatch } from '../gpu/dispatch.js';
import { ArgumentError, ShapeError, fmtShape } from '../util/errors.js';
import { Tensor, expectRank, expectShape } from '../gpu/tensor.js';
import { defineShader } from '../gpu/kernel.js';
import { gemmTile, gemmTileSize, type GemmTile } from './matmulTile.js';
import matmulWgsl from '../../shaders/matmul.wgsl?raw';
import matmulRegistersWgsl from '../../shaders/matmul_registers.wgsl?raw';
import matmulSubgroupsWgsl from '../../shaders/matmul_subgroups.wgsl?raw';
import matmulCommonWgsl from '../../shaders/matmul_common.wgsl?raw';
import matmulOperandsWgsl from '../../shaders/matmul_operands.wgsl?raw';
import activationsWgsl from '../../shaders/activations.wgsl?raw';

const MATMUL_SHADER = /*#__PURE__*/ defineShader('matmul.wgsl', matmulWgsl, {
  'activations.wgsl': activationsWgsl,
  'matmul_common.wgsl': matmulCommonWgsl,
});
const MATMUL_REGISTERS_SHADER = /*#__PURE__*/ defineShader('matmul_registers.wgsl', matmulRegistersWgsl, {
  'activations.wgsl': activationsWgsl,
  'matmul_common.wgsl': matmulCommonWgsl,
  'matmul_operands.wgsl': matmulOperandsWgsl,
});
const MATMUL_SUBGROUPS_SHADER = /*#__PURE__*/ defineShader('matmul_subgroups.wgsl', matmulSubgroupsWgsl, {
  'activations.wgsl': activationsWgsl,
  'matmul_common.wgsl': matmulCommonWgsl,
  'matmul_operands.wgsl': matmulOperandsWgsl,
});
const SHADERS = { workgroup: MATMUL_SHADER, registers: MATMUL_REGISTERS_SHADER, subgroups: MATMUL_SUBGROUPS_SHADER };

/** Activation codes of the GEMM epilogue (shaders/activations.wgsl `activate`). */
export const GEMM_ACTIVATIONS = { identity: 0, relu: 3, gelu: 4, gelu_tanh: 5 } as const;

/**
 * An activation of the GEMM epilogue: `'identity'`, `'relu'`, `'gelu'` (exact, erf form, as
 * PyTorch's default) or `'gelu_tanh'` (PyTorch's `approximate='tanh'`).
 */
export type GemmActivation = keyof typeof GEMM_ACTIVATIONS;

/**
 * Checks an epilogue activation name.
 * @param label - Names the caller in the error.
 * @param act - The name to check.
 * @throws ArgumentError naming the value and the allowed names when `act` is not one of them.
 */
export function checkGemmActivation(label: string, act: unknown): asserts act is GemmActivation {
  if (typeof act !== 'string' || !Object.hasOwn(GEMM_ACTIVATIONS, act))
    throw new ArgumentError(
      `${label}: unknown activation ${typeof act === 'string' ? `'${act}'` : String(act)}; ` +
        `use ${Object.keys(GEMM_ACTIVATIONS)
          .map((a) => `'${a}'`)
          .join(', ')}`,
    );
}

/** A matrix operand in a buffer: element offset, row stride and per-batch stride (0 = shared). */
export interface MatrixView {
  /** The buffer holding the matrix (f32, row-major). */
  buffer: GPUBuffer;
  /** Element offset of the first element of batch 0. Default 0. */
  offset?: number;
  /** Row stride in elements (≥ the stored row length). */
  ld: number;
  /** Elements between consecutive batches; 0 (the default) shares one matrix across the batch. */
  batchStride?: number;
}

/**
 * Raw GEMM arguments, in elements: `Z[b] = alpha·op(A[b])·op(B[b]) (+ bias)`,
 * `C[b] = act(Z[b]) (+ R[b]) (+ beta·C[b])` (act, R and Z optional: without them
 * `C[b] = alpha·op(A[b])·op(B[b]) (+ bias) (+ beta·C[b])`).
 */
export interface GemmArgs {
  /** Rows of op(A) and C. */
  M: number;
  /** Columns of op(B) and C. */
  N: number;
  /** Columns of op(A) = rows of op(B). */
  K: number;
  /** Number of independent products. Default 1. */
  batch?: number;
  /** A, stored [M, K] (or [K, M] with `transposeA`). */
  a: MatrixView;
  /** B, stored [K, N] (or [N, K] with `transposeB`). */
  b: MatrixView;
  /** C [M, N]; must not share a buffer with A or B. */
  c: MatrixView;
  /** N bias values at `offset`, broadcast over rows and batches. */
  bias?: { buffer: GPUBuffer; offset?: number };
  /** op(A) = Aᵀ. */
  transposeA?: boolean;
  /** op(B) = Bᵀ. */
  transposeB?: boolean;
  /** Scale of the product. Default 1. */
  alpha?: number;
  /** When set, C is read and `beta·C` added (accumulation); otherwise C is only written. */
  beta?: number;
  /** Epilogue activation applied to `alpha·op(A)·op(B) + bias`, before R and beta·C. Default `'identity'`. */
  activation?: GemmActivation;
  /**
   * Residual R [M, N] added after the activation. It may share a buffer with A, B or the bias; in
   * C's buffer it must be exactly C's view (`offset`, `ld`, `batchStride`): the residual is then
   * accumulated in place (WebGPU cannot bind one buffer for reading and writing in a dispatch).
   */
  residual?: MatrixView;
  /**
   * Where to write the pre-activation values Z = alpha·op(A)·op(B) + bias ([M, N]), e.g. for the
   * backward of gelu: a view of C's buffer (written through C's binding) that must not overlap C.
   */
  preActivation?: Omit<MatrixView, 'buffer'>;
  /** Kernel and workgroup shape; see {@link GemmTile}. Default: chosen per adapter and shape. */
  tile?: GemmTile;
  /** Names the dispatch in errors and profiles. Default `'matmul'`. */
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
    throw new ShapeError(
      `${label}: ${name} spans elements up to ${end}, but its buffer holds ${v.buffer.size / FLOAT}`,
    );
  }
}

function sameView(a: MatrixView, b: MatrixView): boolean {
  return (a.offset ?? 0) === (b.offset ?? 0) && a.ld === b.ld && (a.batchStride ?? 0) === (b.batchStride ?? 0);
}

function aligned(v: MatrixView): boolean {
  return (v.offset ?? 0) % 4 === 0 && v.ld % 4 === 0 && (v.batchStride ?? 0) % 4 === 0;
}

/**
 * Prepares GEMM dispatches: one, or, when a grid dimension would exceed the device's
 * maxComputeWorkgroupsPerDimension, one per block of at most that many tiles along M and N and
 * batches. Buffers and sizes are checked here, before any GPU work. The uniforms are `transient`.
 * @param gpu - The device (its limits bound the tile and the grid).
 * @param args - Sizes, operand views and options, in elements.
 * @returns The dispatches to run in order (with {@link Gpu.run} or recorded in a plan).
 * @throws ShapeError when a size is not a positive integer, a view's `ld` is shorter than its rows,
 *   an operand runs past its buffer, or the tile does not fit the device's workgroup limits.
 * @throws ArgumentError when C shares a buffer with A or B, a residual in C's buffer is not C's
 *   own view, alpha/beta are not finite, or the activation is unknown.
 */
export function gemmDispatches(gpu: Gpu, args: GemmArgs): Dispatch[] {
  const label = args.label ?? 'matmul';
  const { M, N, K } = args;
  const batch = args.batch ?? 1;
  for (const [k, v] of Object.entries({ M, N, K, batch })) {
    if (!Number.isInteger(v) || v <= 0) throw new ShapeError(`${label}: ${k} must be a positive integer, got ${v}`);
  }
  const tile = gemmTile(gpu, args.tile, label, { M, N });
  const { wgX, wgY } = tile;
  const shader = SHADERS[tile.variant];
  const tA = !!args.transposeA;
  const tB = !!args.transposeB;
  checkExtent(label, 'a', args.a, batch, tA ? K : M, tA ? M : K);
  checkExtent(label, 'b', args.b, batch, tB ? N : K, tB ? K : N);
  checkExtent(label, 'c', args.c, batch, M, N);
  if (args.c.buffer === args.a.buffer || args.c.buffer === args.b.buffer) {
    throw new ArgumentError(`${label}: the output must not share a buffer with an input`);
  }
  if (args.bias && ((args.bias.offset ?? 0) + N) * FLOAT > args.bias.buffer.size) {
    throw new ShapeError(
      `${label}: bias needs ${N} elements from offset ${args.bias.offset ?? 0}; its buffer is too small`,
    );
  }
  if (!Number.isFinite(args.alpha ?? 1) || !Number.isFinite(args.beta ?? 0)) {
    throw new ArgumentError(
      `${label}: alpha and beta must be finite numbers, got alpha ${args.alpha}, beta ${args.beta}`,
    );
  }
  const act = args.activation ?? 'identity';
  checkGemmActivation(label, act);
  // A residual that is C itself is accumulated in place: beta (default 0) grows by 1.
  let residual = args.residual;
  let beta = args.beta;
  if (residual) {
    checkExtent(label, 'residual', residual, batch, M, N);
    if (residual.buffer === args.c.buffer) {
      if (!sameView(residual, args.c))
        throw new ArgumentError(
          `${label}: the residual lies in C's buffer at offset ${residual.offset ?? 0}, ld ${residual.ld}, ` +
            `batchStride ${residual.batchStride ?? 0}; there it must be C's own view (offset ` +
            `${args.c.offset ?? 0}, ld ${args.c.ld}, batchStride ${args.c.batchStride ?? 0}: in place) or ` +
            `live in another buffer`,
        );
      beta = (beta ?? 0) + 1;
      residual = undefined;
    }
  }
  const pre = args.preActivation;
  if (pre) checkExtent(label, 'preActivation', { ...pre, buffer: args.c.buffer }, batch, M, N);
  const { rows: tm, cols: tn } = gemmTileSize(tile);
  // A grid wider than maxComputeWorkgroupsPerDimension is split into blocks of at most that many
  // tiles along M and N (offsets moved to each block's first row / column); batches likewise.
  const maxWg = gpu.limits.maxComputeWorkgroupsPerDimension;
  const mBlock = maxWg * tm;
  const nBlock = maxWg * tn;
  const pipeline = gpu.pipeline(shader, {
    WG_X: wgX,
    WG_Y: wgY,
    ...(tile.variant === 'workgroup' ? { TILE_K: tile.tileK } : {}),
    // Barrier-free kernels: unchecked vec4 runs where every run is aligned and inside its operand.
    ...(tile.variant !== 'workgroup'
      ? {
          FAST_A: aligned(args.a) && (!tA || M % 4 === 0),
          FAST_B: aligned(args.b) && (tB || N % 4 === 0),
          K_TAIL: K % 4 !== 0,
        }
      : {}),
    TRANS_A: tA,
    TRANS_B: tB,
    VEC_A: aligned(args.a),
    VEC_B: aligned(args.b),
    HAS_BIAS: !!args.bias,
    EDGES: M % tm !== 0 || N % tn !== 0,
    ACCUMULATE: beta !== undefined,
    // The epilogue's switches join the key only when used: a plain GEMM keeps its pipeline.
    ...(act !== 'identity' ? { ACT: GEMM_ACTIVATIONS[act] } : {}),
    ...(residual ? { HAS_RESIDUAL: true } : {}),
    ...(pre ? { STORE_PRE: true } : {}),
  });
  const dispatches: Dispatch[] = [];
  const sa = args.a.batchStride ?? 0;
  const sb = args.b.batchStride ?? 0;
  const sc = args.c.batchStride ?? 0;
  const sr = residual?.batchStride ?? 0;
  const sz = pre?.batchStride ?? 0;
  for (let b0 = 0; b0 < batch; b0 += maxWg) {
    const nb = Math.min(maxWg, batch - b0);
    for (let m0 = 0; m0 < M; m0 += mBlock) {
      const Mb = Math.min(mBlock, M - m0);
      for (let n0 = 0; n0 < N; n0 += nBlock) {
        const Nb = Math.min(nBlock, N - n0);
        const params = gpu.uniform(shader, 'params', {
          M: Mb,
          N: Nb,
          K,
          lda: args.a.ld,
          ldb: args.b.ld,
          ldc: args.c.ld,
          offsetA: (args.a.offset ?? 0) + b0 * sa + (tA ? m0 : m0 * args.a.ld),
          offsetB: (args.b.offset ?? 0) + b0 * sb + (tB ? n0 * args.b.ld : n0),
          offsetC: (args.c.offset ?? 0) + b0 * sc + m0 * args.c.ld + n0,
          offsetBias: (args.bias?.offset ?? 0) + n0,
          batchStrideA: sa,
          batchStrideB: sb,
          batchStrideC: sc,
          alpha: args.alpha ?? 1,
          beta: beta ?? 0,
          offsetR: residual ? (residual.offset ?? 0) + b0 * sr + m0 * residual.ld + n0 : 0,
          ldr: residual?.ld ?? 0,
          batchStrideR: sr,
          offsetZ: pre ? (pre.offset ?? 0) + b0 * sz + m0 * pre.ld + n0 : 0,
          ldz: pre?.ld ?? 0,
          batchStrideZ: sz,
        });
        const bindGroup = gpu.bindGroup(shader, {
          A: args.a.buffer,
          B: args.b.buffer,
          bias: args.bias?.buffer ?? gpu.dummyBuffer,
          C: args.c.buffer,
          params,
          R: residual?.buffer ?? gpu.dummyBuffer,
        });
        dispatches.push({
          label,
          pipeline,
          bindGroup,
          workgroups: [Math.ceil(Nb / tn), Math.ceil(Mb / tm), nb],
          transient: [params],
        });
      }
    }
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
 * @param gpu - The device `a` and `b` live on.
 * @param a - [M, K] or [batch, M, K] ([K, M] / [batch, K, M] with `transposeA`).
 * @param b - [K, N] or [batch, K, N] ([N, K] / [batch, N, K] with `transposeB`).
 * @param opts - Transposes, bias, alpha, beta and an output tensor.
 * @returns C: [M, N], or [batch, M, N] when either operand has a batch (`opts.out` when given).
 * @throws ShapeError naming the argument and both shapes when ranks, batches or inner dimensions
 *   disagree, `bias` is not [N], `out` has the wrong shape or is an input, or `beta` is given
 *   without `out`.
 * @example
 * ```ts
 * const c = matmul(gpu, a, b);                                  // [M, K]·[K, N]
 * const d = matmul(gpu, x, w, { transposeB: true, bias });      // x·wᵀ + bias, w [N, K]
 * matmul(gpu, a, b, { out: c, alpha: 0.5, beta: 1 });           // c += 0.5·a·b
 * ```
 */
export function matmul(gpu: Gpu, a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  expectRank('matmul', 'a', a, [2, 3], gpu);
  expectRank('matmul', 'b', b, [2, 3], gpu);
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
      `matmul: inner dimensions differ: op(a) is ${M}×${K} ` +
        `(a ${fmtShape(a.shape)}${opts.transposeA ? ', transposed' : ''}) ` +
        `but op(b) is ${Kb}×${N} (b ${fmtShape(b.shape)}${opts.transposeB ? ', transposed' : ''})`,
    );
  }
  const outShape = a.shape.length === 3 || b.shape.length === 3 ? [batch, M, N] : [M, N];
  if (opts.bias) expectShape('matmul', 'bias', opts.bias, [N], 'one value per output column', gpu);
  if (opts.beta !== undefined && !opts.out)
    throw new ArgumentError("matmul: 'beta' accumulates into 'out', which was not given");
  if (opts.out) {
    expectShape('matmul', 'out', opts.out, outShape, '', gpu);
    if (opts.out === a || opts.out === b) throw new ArgumentError("matmul: 'out' must not be one of the inputs");
  }
  const out = opts.out ?? Tensor.empty(gpu, outShape, 'matmul.out');
  gpu.run(
    gemmDispatches(gpu, {
      M,
      N,
      K,
      batch,
      a: { buffer: a.buffer, ld: ac, batchStride: batchA > 1 ? ar * ac : 0 },
      b: { buffer: b.buffer, ld: bc, batchStride: batchB > 1 ? br * bc : 0 },
      c: { buffer: out.buffer, ld: N, batchStride: M * N },
      bias: opts.bias ? { buffer: opts.bias.buffer } : undefined,
      transposeA: opts.transposeA,
      transposeB: opts.transposeB,
      alpha: opts.alpha,
      beta: opts.beta,
    }),
  );
  return out;
}
