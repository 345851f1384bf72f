import type { Gpu } from '../gpu/device.js';
import type { Dispatch } from '../gpu/dispatch.js';
import { ArgumentError, ShapeError } from '../util/errors.js';
import { Tensor, expectRank, expectShape } from '../gpu/tensor.js';
import { grid2d } from './grid.js';
import { defineShader } from '../gpu/kernel.js';
import biasActWgsl from '../../shaders/bias_act.wgsl?raw';
import activationsWgsl from '../../shaders/activations.wgsl?raw';

const BIAS_ACT_SHADER = /*#__PURE__*/ defineShader('bias_act.wgsl', biasActWgsl, {
  'activations.wgsl': activationsWgsl,
});

/** Activation codes shared by kernels (shaders/activations.wgsl). */
export const ACTIVATIONS = { identity: 0, sigmoid: 1, tanh: 2, relu: 3 } as const;
/** An activation name: `'identity'`, `'sigmoid'`, `'tanh'` or `'relu'`. */
export type Activation = keyof typeof ACTIVATIONS;

const WG = 256;

function checkActivation(label: string, act: Activation): void {
  if (typeof act !== 'string' || !Object.hasOwn(ACTIVATIONS, act))
    throw new ArgumentError(
      `${label}: unknown activation '${String(act)}'; use ${Object.keys(ACTIVATIONS).join(', ')}`,
    );
}

/**
 * Prepares `y[r, c] = act(x[r, c] + b[c])` over a rows × cols matrix.
 * @param gpu - The device.
 * @param args - `rows` × `cols` sizes, the activation, buffers `x` [rows, cols], `b` [cols] and `y`
 *   [rows, cols] (not aliasing an input), optional element offsets into them, and a `label`.
 * @returns One dispatch; its uniform is `transient`.
 * @throws ShapeError for an unknown activation, a buffer too small or an aliased output.
 */
export function biasActDispatch(
  gpu: Gpu,
  args: {
    rows: number;
    cols: number;
    act: Activation;
    x: GPUBuffer;
    b: GPUBuffer;
    y: GPUBuffer;
    offsets?: { x?: number; b?: number; y?: number };
    label?: string;
  },
): Dispatch {
  const label = args.label ?? 'biasAct';
  checkActivation(label, args.act);
  const n = args.rows * args.cols;
  const { x: offsetX = 0, b: offsetB = 0, y: offsetY = 0 } = args.offsets ?? {};
  if ((offsetX + n) * 4 > args.x.size || (offsetY + n) * 4 > args.y.size || (offsetB + args.cols) * 4 > args.b.size)
    throw new ShapeError(`${label}: a buffer is smaller than ${args.rows}×${args.cols} from its offset`);
  if (args.y === args.x || args.y === args.b)
    throw new ArgumentError(`${label}: output must not share a buffer with an input`);
  const { gridX, workgroups } = grid2d(gpu, Math.ceil(n / WG), label);
  const params = gpu.uniform(BIAS_ACT_SHADER, 'params', {
    n,
    cols: args.cols,
    offsetX,
    offsetB,
    offsetY,
    gridX,
  });
  return {
    label,
    pipeline: gpu.pipeline(BIAS_ACT_SHADER, { ACT: ACTIVATIONS[args.act], WG }),
    bindGroup: gpu.bindGroup(BIAS_ACT_SHADER, { x: args.x, b: args.b, y: args.y, params }),
    workgroups,
    transient: [params],
  };
}

/**
 * Fused `y = act(x + b)`, `b` broadcast over the last dimension of `x`. Runs now and returns y.
 * @param gpu - The device the tensors live on.
 * @param x - Any shape of rank 1 to 6.
 * @param b - [last dimension of x].
 * @param act - The activation applied after the bias.
 * @param out - A tensor of `x`'s shape to write into (not an input).
 * @returns A tensor of `x`'s shape.
 * @throws ShapeError when `b` or `out` has the wrong shape or `out` is an input.
 */
export function biasAct(gpu: Gpu, x: Tensor, b: Tensor, act: Activation, out?: Tensor): Tensor {
  expectRank('biasAct', 'x', x, [1, 2, 3, 4, 5, 6], gpu);
  const cols = x.shape[x.shape.length - 1];
  expectShape('biasAct', 'b', b, [cols], "one value per element of x's last dimension", gpu);
  checkActivation('biasAct', act);
  if (out) {
    expectShape('biasAct', 'out', out, x.shape, '', gpu);
    if (out === x || out === b) throw new ArgumentError("biasAct: 'out' must not be an input");
  }
  const y = out ?? Tensor.empty(gpu, x.shape, 'biasAct.out');
  gpu.run([biasActDispatch(gpu, { rows: x.size / cols, cols, act, x: x.buffer, b: b.buffer, y: y.buffer })]);
  return y;
}
