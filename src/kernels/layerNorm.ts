// Host side of shaders/layer_norm.wgsl, shaders/layer_norm_backward.wgsl and
// shaders/layer_norm_param_grad.wgsl: PyTorch nn.LayerNorm over the last dimension.
//
//   forward   mean_r, rstd_r = 1/√(var_r + eps) (biased var), y = (x − mean)·rstd·weight + bias
//   backward  x̂ = (x − mean)·rstd, g = dy·weight (dy without weight)
//             dx = rstd·(g − mean_c(g) − x̂·mean_c(g·x̂))
//             dWeight[c] (+)= Σ_r dy·x̂,  dBias[c] (+)= Σ_r dy
//
// Every dispatch's uniform (and any scratch it allocates) is `transient`: a plan that keeps the
// dispatches takes them over. Outputs may share a buffer with each other (disjoint ranges; such a
// buffer is bound once) but not with an input of the same dispatch (WebGPU forbids a written
// binding aliasing another binding).
import type { Gpu } from '../gpu/device.js';
import type { Dispatch } from '../gpu/dispatch.js';
import { ArgumentError, ShapeError } from '../util/errors.js';
import { TENSOR_USAGE } from '../gpu/flags.js';
import { defineShader } from '../gpu/kernel.js';
import { reductionWidth } from '../gpu/tuning.js';
import { grid2d } from './grid.js';
import layerNormWgsl from '../../shaders/layer_norm.wgsl?raw';
import layerNormBackwardWgsl from '../../shaders/layer_norm_backward.wgsl?raw';
import layerNormParamGradWgsl from '../../shaders/layer_norm_param_grad.wgsl?raw';

const LAYER_NORM_SHADER = /*#__PURE__*/ defineShader('layer_norm.wgsl', layerNormWgsl);
const LAYER_NORM_BACKWARD_SHADER = /*#__PURE__*/ defineShader('layer_norm_backward.wgsl', layerNormBackwardWgsl);
const LAYER_NORM_PARAM_GRAD_SHADER = /*#__PURE__*/ defineShader('layer_norm_param_grad.wgsl', layerNormParamGradWgsl);

/** A buffer and an offset into it, in f32 elements (default 0). */
export type View = { buffer: GPUBuffer; offset?: number };

/** Arguments of {@link layerNormDispatch}; sizes and offsets in elements. */
export interface LayerNormArgs {
  /** Number of rows (one workgroup each). */
  rows: number;
  /** Elements per row: the normalized (last) dimension. */
  cols: number;
  /** Added to the variance before the square root (PyTorch `eps`, e.g. 1e-5); finite, ≥ 0. */
  eps: number;
  /** Input [rows, cols], row-major. */
  x: View;
  /** Scale [cols]. Absent: 1 (PyTorch `elementwise_affine=False`). */
  weight?: View;
  /** Shift [cols]. Absent: 0 (`bias=False`). */
  bias?: View;
  /** Output [rows, cols]; must not share a buffer with x, weight or bias. */
  y: View;
  /** Output [rows]: each row's mean (for the backward). */
  mean: View;
  /** Output [rows]: each row's 1/√(var + eps) (for the backward). */
  rstd: View;
  /** Names the dispatch in errors and profiles. Default `'layerNorm'`. */
  label?: string;
}

/** Arguments of {@link layerNormBackwardDispatches}; sizes and offsets in elements. */
export interface LayerNormBackwardArgs {
  /** Number of rows. */
  rows: number;
  /** Elements per row (the normalized dimension). */
  cols: number;
  /** The forward's input [rows, cols]. */
  x: View;
  /** Gradient of the loss with respect to y [rows, cols]. */
  dy: View;
  /** The forward's weight [cols]; absent when the forward had none. */
  weight?: View;
  /** The forward's mean output [rows]. */
  mean: View;
  /** The forward's rstd output [rows]. */
  rstd: View;
  /** Output [rows, cols]: the input gradient, written (never added to). */
  dx: View;
  /** Output [cols]: Σ_r dy·x̂. Absent: not computed. */
  dWeight?: View;
  /** Output [cols]: Σ_r dy. Absent: not computed. */
  dBias?: View;
  /** Add dWeight and dBias to the values already in those buffers instead of overwriting them. Default false. */
  accumulate?: boolean;
  /** Names the dispatches in errors and profiles. Default `'layerNormBackward'`. */
  label?: string;
}

/** Threads per row: enough for the row, at most 256. */
/** Threads per row: 64–256 by width, capped by the adapter's reduction width (src/gpu/tuning.ts). */
function rowWorkgroup(gpu: Gpu, cols: number): number {
  return reductionWidth(gpu, cols <= 64 ? 64 : cols <= 128 ? 128 : 256);
}

function checkSizes(label: string, rows: number, cols: number): void {
  for (const [k, v] of Object.entries({ rows, cols })) {
    if (!Number.isInteger(v) || v <= 0) throw new ShapeError(`${label}: ${k} must be a positive integer, got ${v}`);
  }
  if (rows * cols > 0xffffffff)
    throw new ShapeError(`${label}: rows × cols (${rows}×${cols}) exceeds 2³² − 1 elements`);
}

/** Checks a view's presence, offset and extent; returns its offset. */
function checkView(label: string, name: string, v: View | undefined, n: number): number {
  if (!v || !v.buffer) throw new ArgumentError(`${label}: buffer '${name}' is required`);
  const off = v.offset ?? 0;
  if (!Number.isInteger(off) || off < 0 || off > 0xffffffff)
    throw new ArgumentError(`${label}: '${name}' offset must be a non-negative integer (u32), got ${off}`);
  if ((off + n) * 4 > v.buffer.size) {
    throw new ShapeError(
      `${label}: buffer '${name}' holds ${v.buffer.size / 4} elements, needs ${n} from offset ${off}`,
    );
  }
  return off;
}

type Named = [name: string, view: View | undefined, n: number];

/**
 * Throws unless no output shares a buffer with an input, and outputs sharing a buffer occupy
 * disjoint ranges. Returns the distinct output buffers (first use first) and, for each output,
 * the index of its buffer in that list (its `out` binding slot).
 */
function assignOutputs(label: string, inputs: Named[], outputs: Named[]): { buffers: GPUBuffer[]; slots: number[] } {
  for (const [on, ov] of outputs) {
    if (!ov) continue;
    for (const [inName, iv] of inputs) {
      if (iv && iv.buffer === ov.buffer)
        throw new ArgumentError(
          `${label}: output '${on}' must not share a buffer with input '${inName}' (a ` +
            `written binding may not alias another)`,
        );
    }
  }
  for (let i = 0; i < outputs.length; i++) {
    for (let j = i + 1; j < outputs.length; j++) {
      const [an, av, alen] = outputs[i];
      const [bn, bv, blen] = outputs[j];
      if (!av || !bv || av.buffer !== bv.buffer) continue;
      const a0 = av.offset ?? 0;
      const b0 = bv.offset ?? 0;
      if (a0 < b0 + blen && b0 < a0 + alen) {
        throw new ArgumentError(
          `${label}: outputs '${an}' [${a0}, ${a0 + alen}) and '${bn}' [${b0}, ${b0 + blen}) overlap in one buffer`,
        );
      }
    }
  }
  const buffers: GPUBuffer[] = [];
  const slots = outputs.map(([, v]) => {
    if (!v) return 0;
    let i = buffers.indexOf(v.buffer);
    if (i < 0) i = buffers.push(v.buffer) - 1;
    return i;
  });
  return { buffers, slots };
}

/**
 * Prepares the LayerNorm forward (PyTorch `nn.LayerNorm` over the last dimension), one
 * workgroup per row: `y = (x − mean)·rstd·weight + bias`, with `rstd = 1/√(var + eps)` and the
 * biased variance; also writes `mean` and `rstd` per row for {@link layerNormBackwardDispatches}.
 * The statistics are a Welford/Chan reduction of x shifted by the row's first element, so a large
 * common offset costs no precision.
 * @param gpu - The device.
 * @param args - Sizes, eps and views (see {@link LayerNormArgs}).
 * @returns One dispatch; its uniform (and 16-byte stand-ins for unused output slots) is `transient`.
 * @throws ShapeError for non-positive sizes, too many rows for the grid or a view too small.
 * @throws ArgumentError for a bad offset or eps, a missing view, an output sharing a buffer with
 *   an input, or outputs overlapping in one buffer.
 */
export function layerNormDispatch(gpu: Gpu, args: LayerNormArgs): Dispatch {
  const label = args.label ?? 'layerNorm';
  const { rows, cols, eps } = args;
  checkSizes(label, rows, cols);
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps < 0)
    throw new ArgumentError(`${label}: eps must be a finite number ≥ 0, got ${eps}`);
  const offsetX = checkView(label, 'x', args.x, rows * cols);
  const offsetW = args.weight ? checkView(label, 'weight', args.weight, cols) : 0;
  const offsetB = args.bias ? checkView(label, 'bias', args.bias, cols) : 0;
  const offsetY = checkView(label, 'y', args.y, rows * cols);
  const offsetMean = checkView(label, 'mean', args.mean, rows);
  const offsetRstd = checkView(label, 'rstd', args.rstd, rows);
  const { buffers, slots } = assignOutputs(
    label,
    [
      ['x', args.x, rows * cols],
      ['weight', args.weight, cols],
      ['bias', args.bias, cols],
    ],
    [
      ['y', args.y, rows * cols],
      ['mean', args.mean, rows],
      ['rstd', args.rstd, rows],
    ],
  );
  const transient: GPUBuffer[] = [];
  while (buffers.length < 3) {
    const b = gpu.pool.acquire(16, TENSOR_USAGE, `${label}.unusedOut`);
    transient.push(b);
    buffers.push(b);
  }
  const wg = rowWorkgroup(gpu, cols);
  const { gridX, workgroups } = grid2d(gpu, rows, label);
  const params = gpu.uniform(LAYER_NORM_SHADER, 'params', {
    rows,
    cols,
    offsetX,
    offsetW,
    offsetB,
    offsetY,
    offsetMean,
    offsetRstd,
    gridX,
    eps,
  });
  transient.push(params);
  return {
    label,
    pipeline: gpu.pipeline(LAYER_NORM_SHADER, {
      WG: wg,
      HAS_WEIGHT: !!args.weight,
      HAS_BIAS: !!args.bias,
      MEAN_SLOT: slots[1],
      RSTD_SLOT: slots[2],
    }),
    bindGroup: gpu.bindGroup(LAYER_NORM_SHADER, {
      x: args.x.buffer,
      weight: args.weight?.buffer ?? gpu.dummyBuffer,
      bias: args.bias?.buffer ?? gpu.dummyBuffer,
      out0: buffers[0],
      out1: buffers[1],
      out2: buffers[2],
      params,
    }),
    workgroups,
    transient,
  };
}

/**
 * Prepares the LayerNorm backward: `dx` (one workgroup per row), then, when `dWeight` or `dBias`
 * is given, their column sums over the rows (deterministic: a fixed order, no atomics; rows are
 * summed in chunks of ≥ 64 into a pool scratch, then the chunks in order).
 * With x̂ = (x − mean)·rstd and g = dy·weight (dy without weight):
 * `dx = rstd·(g − mean_c(g) − x̂·mean_c(g·x̂))`, `dWeight[c] = Σ_r dy·x̂`, `dBias[c] = Σ_r dy`
 * (added to the existing values when `accumulate`; dx is always written).
 * @param gpu - The device.
 * @param args - Sizes and views (see {@link LayerNormBackwardArgs}); mean and rstd as written by
 *   {@link layerNormDispatch}.
 * @returns One to three dispatches, to run in order; uniforms and scratch are `transient`.
 * @throws ShapeError for non-positive sizes, too many rows or columns for the grid or a view too small.
 * @throws ArgumentError for a bad offset, a missing view, an output sharing a buffer with an
 *   input, or outputs overlapping in one buffer.
 */
export function layerNormBackwardDispatches(gpu: Gpu, args: LayerNormBackwardArgs): Dispatch[] {
  const label = args.label ?? 'layerNormBackward';
  const { rows, cols } = args;
  checkSizes(label, rows, cols);
  if (args.accumulate !== undefined && typeof args.accumulate !== 'boolean') {
    throw new ArgumentError(`${label}: accumulate must be a boolean, got ${String(args.accumulate)}`);
  }
  const offsetX = checkView(label, 'x', args.x, rows * cols);
  const offsetDy = checkView(label, 'dy', args.dy, rows * cols);
  const offsetW = args.weight ? checkView(label, 'weight', args.weight, cols) : 0;
  const offsetMean = checkView(label, 'mean', args.mean, rows);
  const offsetRstd = checkView(label, 'rstd', args.rstd, rows);
  const offsetDx = checkView(label, 'dx', args.dx, rows * cols);
  const offsetDW = args.dWeight ? checkView(label, 'dWeight', args.dWeight, cols) : 0;
  const offsetDB = args.dBias ? checkView(label, 'dBias', args.dBias, cols) : 0;
  const inputs: Named[] = [
    ['x', args.x, rows * cols],
    ['dy', args.dy, rows * cols],
    ['weight', args.weight, cols],
    ['mean', args.mean, rows],
    ['rstd', args.rstd, rows],
  ];
  const outputs: Named[] = [
    ['dx', args.dx, rows * cols],
    ['dWeight', args.dWeight, cols],
    ['dBias', args.dBias, cols],
  ];
  assignOutputs(label, inputs, outputs);

  const wg = rowWorkgroup(gpu, cols);
  const rowGrid = grid2d(gpu, rows, label);
  const dxParams = gpu.uniform(LAYER_NORM_BACKWARD_SHADER, 'params', {
    rows,
    cols,
    offsetX,
    offsetDy,
    offsetW,
    offsetMean,
    offsetRstd,
    offsetDx,
    gridX: rowGrid.gridX,
  });
  const dispatches: Dispatch[] = [
    {
      label,
      pipeline: gpu.pipeline(LAYER_NORM_BACKWARD_SHADER, { WG: wg, HAS_WEIGHT: !!args.weight }),
      bindGroup: gpu.bindGroup(LAYER_NORM_BACKWARD_SHADER, {
        x: args.x.buffer,
        dy: args.dy.buffer,
        weight: args.weight?.buffer ?? gpu.dummyBuffer,
        mean: args.mean.buffer,
        rstd: args.rstd.buffer,
        dx: args.dx.buffer,
        params: dxParams,
      }),
      workgroups: rowGrid.workgroups,
      transient: [dxParams],
    },
  ];
  if (!args.dWeight && !args.dBias) return dispatches;

  // Weight/bias gradients: PASS 0 sums chunks of rows (straight into the outputs when one chunk
  // covers all rows), PASS 1 adds the chunks in order.
  const colBlocks = Math.ceil(cols / 32);
  const maxDim = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (colBlocks > maxDim)
    throw new ShapeError(
      `${label}: ${cols} columns need ${colBlocks} workgroups for dWeight/dBias, more ` +
        `than maxComputeWorkgroupsPerDimension (${maxDim}); at most ${maxDim * 32} columns`,
    );
  const chunkRows = Math.max(64, Math.ceil(rows / 256));
  const nChunks = Math.ceil(rows / chunkRows);
  const direct = nChunks === 1;
  const transient: GPUBuffer[] = [];
  const scratch = (bytes: number, what: string) => {
    const b = gpu.pool.acquire(bytes, TENSOR_USAGE, `${label}.${what}`);
    transient.push(b);
    return b;
  };
  // dx has a dispatch of its own: it may share a buffer with dWeight/dBias (disjoint, checked above).
  const { buffers: outBuffers, slots: gradSlots } = assignOutputs(label, [], outputs.slice(1));
  while (outBuffers.length < 2) outBuffers.push(scratch(16, 'unusedOut'));
  const partial = direct ? scratch(16, 'noPartial') : scratch(2 * nChunks * cols * 4, 'partial');
  const finalGrid = grid2d(gpu, Math.ceil(cols / 256), label);
  const params = gpu.uniform(LAYER_NORM_PARAM_GRAD_SHADER, 'params', {
    rows,
    cols,
    offsetX,
    offsetDy,
    offsetMean,
    offsetRstd,
    offsetDW,
    offsetDB,
    chunkRows,
    nChunks,
    gridX: finalGrid.gridX,
  });
  transient.push(params);
  const bindGroup = gpu.bindGroup(LAYER_NORM_PARAM_GRAD_SHADER, {
    x: args.x.buffer,
    dy: args.dy.buffer,
    mean: args.mean.buffer,
    rstd: args.rstd.buffer,
    partial,
    out0: outBuffers[0],
    out1: outBuffers[1],
    params,
  });
  const common = {
    DIRECT: direct,
    HAS_DW: !!args.dWeight,
    HAS_DB: !!args.dBias,
    ACCUMULATE: args.accumulate ?? false,
    DW_SLOT: gradSlots[0],
    DB_SLOT: gradSlots[1],
  };
  dispatches.push({
    label: `${label}.paramGrad`,
    pipeline: gpu.pipeline(LAYER_NORM_PARAM_GRAD_SHADER, { ...common, PASS: 0 }),
    bindGroup,
    workgroups: [colBlocks, nChunks, 1],
    transient: direct ? transient : undefined,
  });
  if (!direct) {
    dispatches.push({
      label: `${label}.paramGradSum`,
      pipeline: gpu.pipeline(LAYER_NORM_PARAM_GRAD_SHADER, { ...common, PASS: 1 }),
      bindGroup,
      workgroups: finalGrid.workgroups,
      transient,
    });
  }
  return dispatches;
}
