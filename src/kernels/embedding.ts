// Host side of shaders/embedding.wgsl and shaders/embedding_backward.wgsl (PyTorch nn.Embedding).
//
//   forward:   y[n, :] = W[idx[n], :]                    idx i32 [N], W [V, E], y [N, E]
//   backward:  dW[v, :] = Σ_{n: idx[n] = v} dY[n, :]     dW[paddingIdx, :] = 0
//
// One dispatch each. An out-of-range index (< 0 or ≥ V) reads nothing: its output row is ZERO
// and it adds no gradient (PyTorch raises instead; the eager helpers here check indices on the
// host and throw a ShapeError). The backward is deterministic without float atomics: one
// workgroup per (block of rows, chunk of ≤ 256 columns) scans all N indices in tiles, in order
// (see the shader for the cost: ⌈V/R⌉·chunks·⌈N/WG⌉ tiles of two barriers, plus WG compares
// per thread for the tiles that hit — fine for character- and small word-level vocabularies).
import type { Gpu } from '../gpu/device.js';
import type { Dispatch } from '../gpu/dispatch.js';
import { ArgumentError, ShapeError, fmtShape } from '../util/errors.js';
import { TENSOR_USAGE } from '../gpu/flags.js';
import { Tensor, expectRank } from '../gpu/tensor.js';
import { grid2d } from './grid.js';
import { defineShader } from '../gpu/kernel.js';
import embeddingWgsl from '../../shaders/embedding.wgsl?raw';
import embeddingBackwardWgsl from '../../shaders/embedding_backward.wgsl?raw';
import { checkView, type View } from './view.js';

const EMBEDDING_SHADER = /*#__PURE__*/ defineShader('embedding.wgsl', embeddingWgsl);
const EMBEDDING_BACKWARD_SHADER = /*#__PURE__*/ defineShader('embedding_backward.wgsl', embeddingBackwardWgsl);

const WG = 256;
/** Workgroup of the backward: 64 threads when the embedding is narrow, else 256. */
const backwardWG = (dim: number) => (dim <= 64 ? 64 : WG);

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

function checkSizes(label: string, s: { tokens: number; vocab: number; dim: number }): void {
  for (const [k, v] of Object.entries(s)) {
    if (!Number.isInteger(v) || v <= 0) throw new ShapeError(`${label}: ${k} must be a positive integer, got ${v}`);
  }
  if (s.vocab > 0x7fffffff) throw new ShapeError(`${label}: vocab ${s.vocab} exceeds the i32 index range`);
}

/** Raw arguments of {@link embeddingDispatch}; sizes and offsets in elements. */
export interface EmbeddingArgs {
  /** N indices. */
  tokens: number;
  /** V rows of the table. */
  vocab: number;
  /** E columns. */
  dim: number;
  /** [N] i32 indices. */
  indices: View;
  /** [V, E] table. */
  weight: View;
  /** [N, E] output. */
  y: View;
  /** Names the dispatch in errors and profiles. Default `'embedding'`. */
  label?: string;
}

/**
 * Prepares the gather y = W[idx]. Its uniform is `transient`.
 * An index outside [0, V) gives a zero row (the eager {@link embedding} checks indices instead).
 * @param gpu - The device.
 * @param args - Sizes and views (see {@link EmbeddingArgs}).
 * @throws ShapeError for non-positive sizes, a missing or too small buffer, or `y` aliasing an
 *   input.
 */
export function embeddingDispatch(gpu: Gpu, args: EmbeddingArgs): Dispatch {
  const label = args.label ?? 'embedding';
  const { tokens, vocab, dim } = args;
  checkSizes(label, { tokens, vocab, dim });
  checkView(label, 'indices', args.indices, tokens);
  checkView(label, 'weight', args.weight, vocab * dim);
  checkView(label, 'y', args.y, tokens * dim);
  if (args.y.buffer === args.weight.buffer || args.y.buffer === args.indices.buffer)
    throw new ArgumentError(`${label}: output 'y' must not share a buffer with 'weight' or 'indices'`);
  const { gridX, workgroups } = grid2d(gpu, Math.ceil((tokens * dim) / WG), label);
  const params = gpu.uniform(EMBEDDING_SHADER, 'params', {
    tokens,
    dim,
    vocab,
    offsetIdx: args.indices.offset ?? 0,
    offsetW: args.weight.offset ?? 0,
    offsetY: args.y.offset ?? 0,
    gridX,
  });
  return {
    label,
    pipeline: gpu.pipeline(EMBEDDING_SHADER, { WG }),
    bindGroup: gpu.bindGroup(EMBEDDING_SHADER, {
      indices: args.indices.buffer,
      weight: args.weight.buffer,
      y: args.y.buffer,
      params,
    }),
    workgroups,
    transient: [params],
  };
}

/** Raw arguments of {@link embeddingBackwardDispatch}; sizes and offsets in elements. */
export interface EmbeddingBackwardArgs {
  /** N indices. */
  tokens: number;
  /** V rows of the weight gradient. */
  vocab: number;
  /** E columns. */
  dim: number;
  /** [N] i32 indices (as in the forward). */
  indices: View;
  /** [N, E] gradient of the output. */
  dY: View;
  /** [V, E] weight gradient (written, or added to with `accumulate`). */
  dW: View;
  /** Row that gets no gradient (PyTorch padding_idx; negative counts from V). */
  paddingIdx?: number;
  /** dW += Σ instead of dW = Σ (the padding row is then left unchanged). */
  accumulate?: boolean;
  /** Names the dispatch in errors and profiles. Default `'embeddingBackward'`. */
  label?: string;
}

/** Normalises a PyTorch padding_idx (negative counts from V); undefined → −1 (none). */
function paddingRow(label: string, paddingIdx: number | undefined, vocab: number): number {
  if (paddingIdx === undefined) return -1;
  const p = paddingIdx < 0 ? vocab + paddingIdx : paddingIdx;
  if (!Number.isInteger(paddingIdx) || p < 0 || p >= vocab)
    throw new ShapeError(`${label}: paddingIdx ${paddingIdx} is not in [−${vocab}, ${vocab})`);
  return p;
}

/**
 * Prepares the deterministic scatter-add dW[idx[n]] += dY[n]. Its uniform is `transient`.
 * @param gpu - The device.
 * @param args - Sizes and views (see {@link EmbeddingBackwardArgs}).
 * @throws ShapeError for non-positive sizes, a missing or too small buffer, `dW` aliasing an input,
 *   or a `paddingIdx` outside [−V, V).
 */
export function embeddingBackwardDispatch(gpu: Gpu, args: EmbeddingBackwardArgs): Dispatch {
  const label = args.label ?? 'embeddingBackward';
  const { tokens, vocab, dim } = args;
  checkSizes(label, { tokens, vocab, dim });
  checkView(label, 'indices', args.indices, tokens);
  checkView(label, 'dY', args.dY, tokens * dim);
  checkView(label, 'dW', args.dW, vocab * dim);
  if (args.dW.buffer === args.dY.buffer || args.dW.buffer === args.indices.buffer)
    throw new ArgumentError(`${label}: output 'dW' must not share a buffer with 'dY' or 'indices'`);
  const wg = backwardWG(dim);
  const ep = Math.min(wg, nextPow2(dim));
  const chunks = Math.ceil(dim / ep);
  const groups = Math.ceil(vocab / (wg / ep)) * chunks;
  const { gridX, workgroups } = grid2d(gpu, groups, label);
  const params = gpu.uniform(EMBEDDING_BACKWARD_SHADER, 'params', {
    tokens,
    dim,
    vocab,
    offsetIdx: args.indices.offset ?? 0,
    offsetDY: args.dY.offset ?? 0,
    offsetDW: args.dW.offset ?? 0,
    gridX,
    chunks,
    groups,
    paddingIdx: paddingRow(label, args.paddingIdx, vocab),
  });
  return {
    label,
    pipeline: gpu.pipeline(EMBEDDING_BACKWARD_SHADER, { WG: wg, EP: ep, ACCUMULATE: !!args.accumulate }),
    bindGroup: gpu.bindGroup(EMBEDDING_BACKWARD_SHADER, {
      indices: args.indices.buffer,
      dY: args.dY.buffer,
      dW: args.dW.buffer,
      params,
    }),
    workgroups,
    transient: [params],
  };
}

/** Checks indices on the host and uploads them as i32 into a pool buffer (caller releases it). */
function uploadIndices(gpu: Gpu, label: string, indices: ArrayLike<number>, vocab: number): GPUBuffer {
  if (!indices || indices.length === 0)
    throw new ShapeError(`${label}: argument 'indices' must be a non-empty array of integers`);
  for (let n = 0; n < indices.length; n++) {
    const v = indices[n];
    if (!Number.isInteger(v) || v < 0 || v >= vocab)
      throw new ShapeError(`${label}: indices[${n}] = ${v} is not in [0, ${vocab})`);
  }
  const data = Int32Array.from(indices);
  const b = gpu.pool.acquire(data.byteLength, TENSOR_USAGE, `${label}.indices`);
  gpu.device.queue.writeBuffer(b, 0, data);
  return b;
}

/**
 * y [N, E] = weight [V, E] rows picked by `indices` (N integers in [0, V)). Runs now.
 * @param gpu - The device `weight` lives on.
 * @param weight - The table [V, E].
 * @param indices - N row indices, each an integer in [0, V).
 * @returns y [N, E].
 * @throws ShapeError when `weight` is not rank 2 or an index is out of range (naming it).
 */
export function embedding(gpu: Gpu, weight: Tensor, indices: ArrayLike<number>): Tensor {
  expectRank('embedding', 'weight', weight, [2], gpu);
  const [vocab, dim] = weight.shape;
  const idx = uploadIndices(gpu, 'embedding', indices, vocab);
  const y = Tensor.empty(gpu, [indices.length, dim], 'embedding.out');
  const d = embeddingDispatch(gpu, {
    tokens: indices.length,
    vocab,
    dim,
    indices: { buffer: idx },
    weight: { buffer: weight.buffer },
    y: { buffer: y.buffer },
  });
  gpu.run([{ ...d, transient: [...(d.transient ?? []), idx] }]);
  return y;
}

/**
 * dW [V, E] from dY [N, E] and the forward's `indices`; the paddingIdx row gets zero. Runs now.
 * @param gpu - The device `dY` lives on.
 * @param indices - The N indices of the forward, each in [0, vocab).
 * @param dY - Gradient of the forward's output, [N, E].
 * @param vocab - V, rows of the table.
 * @param opts - `paddingIdx`: a row that gets no gradient (negative counts from V).
 * @returns dW [V, E].
 * @throws ShapeError when `dY` is not [N, E], `vocab` is not a positive integer, or an index or
 *   `paddingIdx` is out of range.
 */
export function embeddingBackward(
  gpu: Gpu,
  indices: ArrayLike<number>,
  dY: Tensor,
  vocab: number,
  opts: { paddingIdx?: number } = {},
): Tensor {
  expectRank('embeddingBackward', 'dY', dY, [2], gpu);
  if (!Number.isInteger(vocab) || vocab <= 0)
    throw new ShapeError(`embeddingBackward: vocab must be a positive integer, got ${vocab}`);
  if (indices?.length !== dY.shape[0]) {
    throw new ShapeError(
      `embeddingBackward: argument 'dY' has shape ${fmtShape(dY.shape)}, expected ` +
        `[${indices?.length}, E] (one row per index)`,
    );
  }
  const dim = dY.shape[1];
  const idx = uploadIndices(gpu, 'embeddingBackward', indices, vocab);
  const dW = Tensor.empty(gpu, [vocab, dim], 'embedding.dW');
  const d = embeddingBackwardDispatch(gpu, {
    tokens: indices.length,
    vocab,
    dim,
    indices: { buffer: idx },
    dY: { buffer: dY.buffer },
    dW: { buffer: dW.buffer },
    paddingIdx: opts.paddingIdx,
  });
  gpu.run([{ ...d, transient: [...(d.transient ?? []), idx] }]);
  return dW;
}
