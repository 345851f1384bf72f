// Host side of shaders/conv1d.wgsl, conv1d_backward_input.wgsl and conv1d_backward_weight.wgsl:
// 1-D convolution as PyTorch's nn.Conv1d (groups = 1, zero padding), forward and backward.
//
//   x [N, Cin, L], weight [Cout, Cin, K], bias [Cout], y [N, Cout, Lout]
//   Lout = ⌊(L + 2·padding − dilation·(K − 1) − 1) / stride⌋ + 1
//   y[n, o, t] = bias[o] + Σ_{c, k} weight[o, c, k] · x[n, c, t·stride − padding + k·dilation]
//
// Every output element is summed in a fixed order (no atomics): same inputs, same bits.
import type { Gpu } from '../gpu/device.js';
import type { Dispatch } from '../gpu/dispatch.js';
import { ArgumentError, ShapeError } from '../util/errors.js';
import { defineShader } from '../gpu/kernel.js';
import { grid2d } from './grid.js';
import conv1dWgsl from '../../shaders/conv1d.wgsl?raw';
import conv1dBackwardInputWgsl from '../../shaders/conv1d_backward_input.wgsl?raw';
import conv1dBackwardWeightWgsl from '../../shaders/conv1d_backward_weight.wgsl?raw';

const CONV1D_SHADER = /*#__PURE__*/ defineShader('conv1d.wgsl', conv1dWgsl);
const CONV1D_DX_SHADER = /*#__PURE__*/ defineShader('conv1d_backward_input.wgsl', conv1dBackwardInputWgsl);
const CONV1D_DW_SHADER = /*#__PURE__*/ defineShader('conv1d_backward_weight.wgsl', conv1dBackwardWeightWgsl);

/** Threads per workgroup of the forward and input-gradient kernels (one element per thread). */
const FLAT_WG = 128;

/** A run of f32 elements in a GPU buffer, from element `offset` (default 0). */
export type View = { buffer: GPUBuffer; offset?: number };

/** Sizes and hyper-parameters of a 1-D convolution, shared by the forward and backward arguments. */
export interface Conv1dGeometry {
  /** N: sequences in the batch (a positive integer). */
  batch: number;
  /** Cin: channels of `x` (a positive integer). */
  inChannels: number;
  /** Cout: channels of `y` (a positive integer). */
  outChannels: number;
  /** L: positions of each input sequence (a positive integer). */
  length: number;
  /** K: taps of the filter (a positive integer). */
  kernelSize: number;
  /** Step between output windows, a positive integer (default 1). */
  stride?: number;
  /** Zeros added at both ends of every sequence, an integer ≥ 0 (default 0). */
  padding?: number;
  /** Step between the taps of a window, a positive integer (default 1). */
  dilation?: number;
}

/** Arguments of {@link conv1dDispatch}: sizes, hyper-parameters and buffers (all row-major). */
export interface Conv1dArgs extends Conv1dGeometry {
  /** Input [N, Cin, L]. */
  x: View;
  /** Filters [Cout, Cin, K]. */
  weight: View;
  /** Bias [Cout]; none when absent. */
  bias?: View;
  /** Output [N, Cout, Lout], written; must not share a buffer with `x`, `weight` or `bias`. */
  y: View;
  /** Names the dispatch in errors and profiles. Default `'conv1d'`. */
  label?: string;
}

/** Arguments of {@link conv1dBackwardDispatches}: the forward's sizes and inputs, `dy`, and the gradients wanted. */
export interface Conv1dBackwardArgs extends Conv1dGeometry {
  /** The forward's input [N, Cin, L] (read for `dWeight`). */
  x: View;
  /** The forward's filters [Cout, Cin, K] (read for `dx`). */
  weight: View;
  /** ∂loss/∂y [N, Cout, Lout]. */
  dy: View;
  /**
   * ∂loss/∂x [N, Cin, L]: always written (0 where no output reads the position), never accumulated. Not in the buffer
   * of `dy` or `weight`.
   */
  dx?: View;
  /** ∂loss/∂weight [Cout, Cin, K]: written, or added to with `accumulate`. Not in the buffer of `dy` or `x`. */
  dWeight?: View;
  /** ∂loss/∂bias [Cout]: written, or added to with `accumulate`. Not in the buffer of `dy`. */
  dBias?: View;
  /** Add `dWeight` and `dBias` to the values already there instead of overwriting them (default false). */
  accumulate?: boolean;
  /**
   * Names the dispatches (`label.dx`, `label.dWeight`, `label.dBias`) in errors and profiles. Default
   * `'conv1dBackward'`.
   */
  label?: string;
}

/** Validated sizes shared by the three kernels. */
interface Conv1dShape {
  batch: number;
  inChannels: number;
  outChannels: number;
  length: number;
  kernelSize: number;
  stride: number;
  padding: number;
  dilation: number;
  outLength: number;
}

function checkInteger(label: string, name: string, v: unknown, min: number): asserts v is number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new ShapeError(`${label}: ${name} must be an integer ≥ ${min}, got ${String(v)}`);
  }
}

function outputLength(label: string, L: number, K: number, stride: number, padding: number, dilation: number): number {
  checkInteger(label, 'length', L, 1);
  checkInteger(label, 'kernelSize', K, 1);
  checkInteger(label, 'stride', stride, 1);
  checkInteger(label, 'padding', padding, 0);
  checkInteger(label, 'dilation', dilation, 1);
  // Every index the kernels form stays below L + 2·padding (and dilation·(K−1)): keep it in u32.
  if (L + 2 * padding >= 2 ** 31 || dilation * (K - 1) >= 2 ** 31) {
    throw new ShapeError(
      `${label}: length ${L} + 2·padding ${padding} and ` +
        `dilation ${dilation}·(kernelSize ${K} − 1) must each be below 2³¹`,
    );
  }
  const span = dilation * (K - 1) + 1;
  const lout = Math.floor((L + 2 * padding - span) / stride) + 1;
  if (lout < 1) {
    throw new ShapeError(
      `${label}: length ${L} + 2·padding ${padding} = ${L + 2 * padding} is shorter ` +
        `than one window of kernelSize ${K} at dilation ${dilation} (${span} positions): ` +
        `the output length would be ${lout}, it must be ≥ 1`,
    );
  }
  return lout;
}

/**
 * The output length of a 1-D convolution (PyTorch nn.Conv1d):
 * `⌊(L + 2·padding − dilation·(kernelSize − 1) − 1) / stride⌋ + 1`.
 * @param L - Input positions, an integer ≥ 1.
 * @param kernelSize - Filter taps, an integer ≥ 1.
 * @param stride - Step between windows, an integer ≥ 1 (default 1).
 * @param padding - Zeros at each end, an integer ≥ 0 (default 0).
 * @param dilation - Step between taps, an integer ≥ 1 (default 1).
 * @returns Lout, at least 1.
 * @throws ShapeError naming the sizes when Lout < 1 or a size is not an integer in range.
 */
export function conv1dOutputLength(L: number, kernelSize: number, stride = 1, padding = 0, dilation = 1): number {
  return outputLength('conv1dOutputLength', L, kernelSize, stride, padding, dilation);
}

function checkShape(label: string, a: Omit<Conv1dArgs, 'x' | 'weight' | 'y'>): Conv1dShape {
  checkInteger(label, 'batch', a.batch, 1);
  checkInteger(label, 'inChannels', a.inChannels, 1);
  checkInteger(label, 'outChannels', a.outChannels, 1);
  const stride = a.stride ?? 1;
  const padding = a.padding ?? 0;
  const dilation = a.dilation ?? 1;
  const outLength = outputLength(label, a.length, a.kernelSize, stride, padding, dilation);
  return {
    batch: a.batch,
    inChannels: a.inChannels,
    outChannels: a.outChannels,
    length: a.length,
    kernelSize: a.kernelSize,
    stride,
    padding,
    dilation,
    outLength,
  };
}

/** Checks that `v` holds `count` elements from its offset; returns the offset. */
function checkView(label: string, name: string, v: View | undefined, count: number, dims: string): number {
  if (!v || typeof v !== 'object' || !v.buffer)
    throw new ArgumentError(`${label}: '${name}' must be { buffer: GPUBuffer, offset? }, got ${String(v)}`);
  const offset = v.offset ?? 0;
  if (!Number.isInteger(offset) || offset < 0)
    throw new ArgumentError(`${label}: '${name}'.offset must be an integer ≥ 0, got ${String(offset)}`);
  if ((offset + count) * 4 > v.buffer.size) {
    throw new ShapeError(
      `${label}: '${name}' needs ${dims} = ${count} elements from offset ${offset}; ` +
        `its buffer holds ${Math.floor(v.buffer.size / 4)}`,
    );
  }
  return offset;
}

/** Throws unless the written view `out` is in another buffer than every view in `inputs`. */
function checkNoAlias(label: string, outName: string, out: View, inputs: Array<[string, View | undefined]>): void {
  for (const [name, v] of inputs) {
    if (v && v.buffer === out.buffer)
      throw new ArgumentError(
        `${label}: '${outName}' must not share a buffer with '${name}' (it is written while '${name}' is read)`,
      );
  }
}

/**
 * Prepares the conv1d forward (PyTorch nn.Conv1d, groups = 1, zero padding):
 * `y[n, o, t] = bias[o] + Σ_{c,k} weight[o, c, k] · x[n, c, t·stride − padding + k·dilation]`,
 * x outside [0, L) being 0. One thread per output element, summed c outer, k inner.
 * @param gpu - The device.
 * @param args - Sizes, hyper-parameters and buffers (see {@link Conv1dArgs}).
 * @returns One dispatch writing `y`; its uniform is `transient`.
 * @throws ShapeError for a size that is not a positive integer (padding: ≥ 0), an output length
 *   below 1, a buffer too small from its offset, or more workgroups than the device allows;
 *   ArgumentError for a bad view or `y` sharing a buffer with an input.
 */
export function conv1dDispatch(gpu: Gpu, args: Conv1dArgs): Dispatch {
  const label = args.label ?? 'conv1d';
  const s = checkShape(label, args);
  const offX = checkView(
    label,
    'x',
    args.x,
    s.batch * s.inChannels * s.length,
    `[${s.batch}, ${s.inChannels}, ${s.length}]`,
  );
  const offW = checkView(
    label,
    'weight',
    args.weight,
    s.outChannels * s.inChannels * s.kernelSize,
    `[${s.outChannels}, ${s.inChannels}, ${s.kernelSize}]`,
  );
  const offB = args.bias ? checkView(label, 'bias', args.bias, s.outChannels, `[${s.outChannels}]`) : 0;
  const total = s.batch * s.outChannels * s.outLength;
  const offY = checkView(label, 'y', args.y, total, `[${s.batch}, ${s.outChannels}, ${s.outLength}]`);
  checkNoAlias(label, 'y', args.y, [
    ['x', args.x],
    ['weight', args.weight],
    ['bias', args.bias],
  ]);
  const { gridX, workgroups } = grid2d(gpu, Math.ceil(total / FLAT_WG), label);
  const params = gpu.uniform(CONV1D_SHADER, 'params', {
    ...s,
    offsetX: offX,
    offsetW: offW,
    offsetB: offB,
    offsetY: offY,
    gridX,
  });
  return {
    label,
    pipeline: gpu.pipeline(CONV1D_SHADER, { WG: FLAT_WG, HAS_BIAS: !!args.bias }),
    bindGroup: gpu.bindGroup(CONV1D_SHADER, {
      x: args.x.buffer,
      w: args.weight.buffer,
      bias: args.bias?.buffer ?? gpu.dummyBuffer,
      y: args.y.buffer,
      params,
    }),
    workgroups,
    transient: [params],
  };
}

/**
 * Prepares the conv1d backward: one dispatch for each gradient asked for, in the order dx,
 * dWeight, dBias (none when none is asked for).
 * - `dx[n, c, j] = Σ_{o,k} dy[n, o, t] · weight[o, c, k]` over the (o, k) whose output t
 *   (t·stride = j + padding − k·dilation, 0 ≤ t < Lout) reads position j: gathered, one thread
 *   per element, always written (0 where no output reads j).
 * - `dWeight[o, c, k] = Σ_{n,t} dy[n, o, t] · x[n, c, t·stride − padding + k·dilation]` and
 *   `dBias[o] = Σ_{n,t} dy[n, o, t]`: one workgroup per element (a fixed-order tree over its
 *   threads' partial sums, written by one thread), written or, with `accumulate`, added to.
 *
 * Deterministic: no atomics, every element summed in an order fixed by the sizes.
 * @param gpu - The device.
 * @param args - Sizes, hyper-parameters, the forward's inputs, `dy` and the gradients wanted
 *   (see {@link Conv1dBackwardArgs}).
 * @returns The dispatches, to run in one `gpu.run` or a plan; their uniforms are `transient`.
 * @throws ShapeError for a size that is not a positive integer (padding: ≥ 0), an output length
 *   below 1, a buffer too small from its offset, or more workgroups than the device allows;
 *   ArgumentError for a bad view, a gradient sharing a buffer with an input its kernel reads, or
 *   two gradients overlapping in one buffer.
 */
export function conv1dBackwardDispatches(gpu: Gpu, args: Conv1dBackwardArgs): Dispatch[] {
  const label = args.label ?? 'conv1dBackward';
  const s = checkShape(label, args);
  const xCount = s.batch * s.inChannels * s.length;
  const wCount = s.outChannels * s.inChannels * s.kernelSize;
  const xDims = `[${s.batch}, ${s.inChannels}, ${s.length}]`;
  const wDims = `[${s.outChannels}, ${s.inChannels}, ${s.kernelSize}]`;
  const offX = checkView(label, 'x', args.x, xCount, xDims);
  const offW = checkView(label, 'weight', args.weight, wCount, wDims);
  const offDy = checkView(
    label,
    'dy',
    args.dy,
    s.batch * s.outChannels * s.outLength,
    `[${s.batch}, ${s.outChannels}, ${s.outLength}]`,
  );
  const outs: Array<[string, View, number, number]> = [];
  if (args.dx) {
    outs.push(['dx', args.dx, checkView(label, 'dx', args.dx, xCount, xDims), xCount]);
    checkNoAlias(label, 'dx', args.dx, [
      ['dy', args.dy],
      ['weight', args.weight],
    ]);
  }
  if (args.dWeight) {
    outs.push(['dWeight', args.dWeight, checkView(label, 'dWeight', args.dWeight, wCount, wDims), wCount]);
    checkNoAlias(label, 'dWeight', args.dWeight, [
      ['dy', args.dy],
      ['x', args.x],
    ]);
  }
  if (args.dBias) {
    outs.push([
      'dBias',
      args.dBias,
      checkView(label, 'dBias', args.dBias, s.outChannels, `[${s.outChannels}]`),
      s.outChannels,
    ]);
    checkNoAlias(label, 'dBias', args.dBias, [['dy', args.dy]]);
  }
  for (let i = 0; i < outs.length; i++) {
    for (let j = i + 1; j < outs.length; j++) {
      const [na, va, oa, ca] = outs[i];
      const [nb, vb, ob, cb] = outs[j];
      if (va.buffer === vb.buffer && oa < ob + cb && ob < oa + ca) {
        throw new ArgumentError(
          `${label}: '${na}' (elements ${oa}…${oa + ca - 1}) and '${nb}' ` +
            `(elements ${ob}…${ob + cb - 1}) overlap in one buffer`,
        );
      }
    }
  }
  const accumulate = args.accumulate ?? false;
  if (typeof accumulate !== 'boolean')
    throw new ArgumentError(`${label}: accumulate must be a boolean, got ${String(accumulate)}`);

  // Every grid is checked before the first uniform is taken: a bad call allocates nothing.
  const dxGrid = args.dx ? grid2d(gpu, Math.ceil(xCount / FLAT_WG), `${label}.dx`) : undefined;
  const dwGrid = args.dWeight ? grid2d(gpu, wCount, `${label}.dWeight`) : undefined;
  const dbGrid = args.dBias ? grid2d(gpu, s.outChannels, `${label}.dBias`) : undefined;
  const dispatches: Dispatch[] = [];
  if (args.dx && dxGrid) {
    const { gridX, workgroups } = dxGrid;
    const params = gpu.uniform(CONV1D_DX_SHADER, 'params', {
      ...s,
      offsetDy: offDy,
      offsetW: offW,
      offsetDx: args.dx.offset ?? 0,
      gridX,
    });
    dispatches.push({
      label: `${label}.dx`,
      pipeline: gpu.pipeline(CONV1D_DX_SHADER, { WG: FLAT_WG }),
      bindGroup: gpu.bindGroup(CONV1D_DX_SHADER, {
        dy: args.dy.buffer,
        w: args.weight.buffer,
        dx: args.dx.buffer,
        params,
      }),
      workgroups,
      transient: [params],
    });
  }
  // Threads per gradient element: the reduction runs over up to N·Lout pairs.
  const wg = Math.min(s.batch * s.outLength > 1024 ? 256 : 64, gpu.limits.maxComputeInvocationsPerWorkgroup);
  const reduce = (name: string, view: View, count: number, bias: boolean, grid: ReturnType<typeof grid2d>): void => {
    const { gridX, workgroups } = grid;
    const params = gpu.uniform(CONV1D_DW_SHADER, 'params', {
      ...s,
      offsetDy: offDy,
      offsetX: bias ? 0 : offX,
      offsetG: view.offset ?? 0,
      count,
      gridX,
    });
    dispatches.push({
      label: `${label}.${name}`,
      pipeline: gpu.pipeline(CONV1D_DW_SHADER, { WG: wg, BIAS: bias, ACCUMULATE: accumulate }),
      bindGroup: gpu.bindGroup(CONV1D_DW_SHADER, {
        dy: args.dy.buffer,
        x: bias ? gpu.dummyBuffer : args.x.buffer,
        grad: view.buffer,
        params,
      }),
      workgroups,
      transient: [params],
    });
  };
  if (args.dWeight && dwGrid) reduce('dWeight', args.dWeight, wCount, false, dwGrid);
  if (args.dBias && dbGrid) reduce('dBias', args.dBias, s.outChannels, true, dbGrid);
  return dispatches;
}
