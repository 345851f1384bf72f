// Host side of shaders/reduce_sum.wgsl: a deterministic sum of f32 values (optionally of
// clamped values, of squares) into one element of an output buffer.
//
//   out[offset] = alpha · Σ_{ranges} Σ_i f(x[i]),   f(v) = (clamp(v, ±clampValue))^(square ? 2 : 1)
//
// Dispatches per call:
//   one range of ≤ CHUNK (8192) elements:  1 dispatch, 1 workgroup of 256 threads
//   otherwise: one dispatch per range, G = min(256, ⌈len / 8192⌉) workgroups each writing a partial
//   sum (fixed chunks), then 1 dispatch, 1 workgroup summing all partials in order.
// The partition depends only on the sizes, so the same input gives the same bits every run.
// Cost: every element is read once; each thread sums ≤ ⌈len/(G·256)⌉ values serially (≤ 32 for
// ranges up to 2M elements), plus a log₂256-step tree per workgroup.
import type { Gpu } from '../gpu/device.js';
import type { Dispatch } from '../gpu/dispatch.js';
import { ArgumentError, ShapeError } from '../util/errors.js';
import { TENSOR_USAGE } from '../gpu/flags.js';
import { Tensor, expectRank } from '../gpu/tensor.js';
import { defineShader } from '../gpu/kernel.js';
import reduceSumWgsl from '../../shaders/reduce_sum.wgsl?raw';

const REDUCE_SUM_SHADER = /*#__PURE__*/ defineShader('reduce_sum.wgsl', reduceSumWgsl);

const WG = 256;
/** Elements per workgroup below which one workgroup does a range alone. */
const CHUNK = 8192;
/** Most partial sums (workgroups) per range. */
const MAX_GROUPS = 256;

/** An element range [offset, offset + length) of a flat buffer. */
export type ElementRange = readonly [offset: number, length: number];

/** Arguments of {@link reduceSumDispatches}; sizes and offsets in elements. */
export interface ReduceSumArgs {
  /** The f32 values to sum. */
  x: GPUBuffer;
  /** One range: n elements from `offset` (default 0). Give either n or ranges. */
  n?: number;
  /** First element of the single range (with `n`). Default 0. */
  offset?: number;
  /** Several ranges, summed together (e.g. the trainable parts of a flat gradient buffer). */
  ranges?: readonly ElementRange[];
  /** Where the sum goes (1 element). Must not be `x`'s buffer. */
  out: { buffer: GPUBuffer; offset?: number };
  /** Sum of squares (for a gradient norm). */
  square?: boolean;
  /** Clamp each value to [−clampValue, clampValue] first (before squaring). */
  clampValue?: number;
  /** Scales the result (e.g. 1/n for a mean). Default 1. */
  alpha?: number;
  /**
   * Scratch for the partial sums (≥ {@link reduceSumScratch} elements); absent: a pool buffer, listed in `transient`.
   */
  partials?: GPUBuffer;
  /** Names the dispatches in errors and profiles. Default `'reduceSum'`. */
  label?: string;
}

function groupsFor(len: number): number {
  return Math.max(1, Math.min(MAX_GROUPS, Math.ceil(len / CHUNK)));
}

/**
 * Elements of partial-sum scratch that {@link reduceSumDispatches} needs for these ranges (0: none).
 * @param ranges - The ranges that will be summed.
 */
export function reduceSumScratch(ranges: readonly ElementRange[]): number {
  const live = ranges.filter(([, len]) => len > 0);
  if (live.length <= 1 && groupsFor(live[0]?.[1] ?? 0) === 1) return 0;
  return live.reduce((s, [, len]) => s + groupsFor(len), 0);
}

/**
 * Prepares the reduction dispatches (see the file comment for how many). Uniforms and a pooled
 * partials buffer are `transient`: a plan that replays the dispatches takes them over.
 * @param gpu - The device.
 * @param args - The buffer, its range(s), the output element and the options.
 * @returns 1 dispatch for one range of ≤ 8192 elements, else one per range plus a final one.
 * @throws ShapeError when both or neither of `n` / `ranges` are given, a range runs past `x`, the
 *   output aliases `x`, `partials` is too small, `alpha` is not finite or `clampValue` is negative.
 */
export function reduceSumDispatches(gpu: Gpu, args: ReduceSumArgs): Dispatch[] {
  const label = args.label ?? 'reduceSum';
  if (!args.x) throw new ArgumentError(`${label}: buffer 'x' is required`);
  const total = args.x.size / 4;
  let ranges: readonly ElementRange[];
  if (args.ranges) {
    if (args.n !== undefined || args.offset !== undefined)
      throw new ArgumentError(`${label}: give either 'n' (and 'offset') or 'ranges', not both`);
    ranges = args.ranges;
  } else {
    if (args.n === undefined) throw new ArgumentError(`${label}: 'n' (element count) or 'ranges' is required`);
    ranges = [[args.offset ?? 0, args.n]];
  }
  ranges.forEach(([off, len], i) => {
    if (!Number.isInteger(off) || off < 0 || !Number.isInteger(len) || len < 0) {
      throw new ShapeError(`${label}: range ${i} [offset ${off}, length ${len}] must be non-negative integers`);
    }
    if (off + len > total)
      throw new ShapeError(
        `${label}: range ${i} [offset ${off}, length ${len}] runs past buffer 'x' (${total} elements)`,
      );
  });
  const outOffset = args.out?.offset ?? 0;
  if (
    !args.out?.buffer ||
    !Number.isInteger(outOffset) ||
    outOffset < 0 ||
    (outOffset + 1) * 4 > args.out.buffer.size
  ) {
    throw new ShapeError(
      `${label}: 'out' needs 1 element at offset ${outOffset}; its buffer holds ${(args.out?.buffer?.size ?? 0) / 4}`,
    );
  }
  if (args.out.buffer === args.x) throw new ArgumentError(`${label}: 'out' must not share a buffer with 'x'`);
  const alpha = args.alpha ?? 1;
  if (!Number.isFinite(alpha)) throw new ArgumentError(`${label}: alpha must be finite, got ${alpha}`);
  const clamp = args.clampValue !== undefined;
  if (clamp && !(args.clampValue! >= 0))
    throw new ArgumentError(`${label}: clampValue must be ≥ 0, got ${args.clampValue}`);
  const square = !!args.square;

  const transient: GPUBuffer[] = [];
  const dispatch = (
    x: GPUBuffer,
    out: GPUBuffer,
    v: { n: number; offsetX: number; offsetOut: number; chunk: number; alpha: number },
    groups: number,
    sq: boolean,
    cl: boolean,
    what: string,
  ): Dispatch => {
    const params = gpu.uniform(REDUCE_SUM_SHADER, 'params', { ...v, clampValue: args.clampValue ?? 0 });
    transient.push(params);
    return {
      label: what,
      pipeline: gpu.pipeline(REDUCE_SUM_SHADER, { WG, SQUARE: sq, CLAMP: cl }),
      bindGroup: gpu.bindGroup(REDUCE_SUM_SHADER, { x, sums: out, params }),
      workgroups: [groups, 1, 1],
    };
  };

  const live = ranges.filter(([, len]) => len > 0);
  const scratchLen = reduceSumScratch(live);
  const out: Dispatch[] = [];
  if (scratchLen === 0) {
    const [off, len] = live[0] ?? [0, 0];
    out.push(
      dispatch(
        args.x,
        args.out.buffer,
        { n: len, offsetX: off, offsetOut: outOffset, chunk: Math.max(len, 1), alpha },
        1,
        square,
        clamp,
        label,
      ),
    );
  } else {
    let partials = args.partials;
    if (partials) {
      if (partials.size < scratchLen * 4)
        throw new ShapeError(`${label}: 'partials' holds ${partials.size / 4} elements, needs ${scratchLen}`);
      if (partials === args.x || partials === args.out.buffer)
        throw new ArgumentError(`${label}: 'partials' must not be 'x' or 'out'`);
    } else {
      partials = gpu.pool.acquire(scratchLen * 4, TENSOR_USAGE, `${label}.partials`);
      transient.push(partials);
    }
    let at = 0;
    live.forEach(([off, len], i) => {
      const g = groupsFor(len);
      out.push(
        dispatch(
          args.x,
          partials!,
          { n: len, offsetX: off, offsetOut: at, chunk: Math.ceil(len / g), alpha: 1 },
          g,
          square,
          clamp,
          `${label}.partial${i}`,
        ),
      );
      at += g;
    });
    out.push(
      dispatch(
        partials,
        args.out.buffer,
        { n: scratchLen, offsetX: 0, offsetOut: outOffset, chunk: scratchLen, alpha },
        1,
        false,
        false,
        label,
      ),
    );
  }
  out[out.length - 1] = { ...out[out.length - 1], transient };
  return out;
}

/**
 * Σ x (or Σ x² with `square`), times `alpha`, as a 1-element tensor. Runs now (one submit).
 * @param gpu - The device `x` lives on.
 * @param x - Any shape of rank 1 to 6; all its elements are summed.
 * @param opts - `square`: sum of squares; `alpha`: scale of the result (default 1).
 * @returns A [1] tensor.
 * @throws ShapeError when `x` is not a live tensor.
 */
export function reduceSum(gpu: Gpu, x: Tensor, opts: { square?: boolean; alpha?: number } = {}): Tensor {
  expectRank('reduceSum', 'x', x, [1, 2, 3, 4, 5, 6], gpu);
  if (opts.alpha !== undefined && !Number.isFinite(opts.alpha))
    throw new ArgumentError(`reduceSum: alpha must be finite, got ${opts.alpha}`);
  const out = Tensor.empty(gpu, [1], 'reduceSum.out');
  gpu.run(
    reduceSumDispatches(gpu, {
      x: x.buffer,
      n: x.size,
      out: { buffer: out.buffer },
      square: opts.square,
      alpha: opts.alpha,
    }),
  );
  return out;
}
