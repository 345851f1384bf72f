import type { Gpu } from '../gpu/device.js';
import type { Dispatch } from '../gpu/dispatch.js';
import { ArgumentError, ShapeError } from '../gpu/errors.js';
import { Tensor, expectRank, expectShape } from '../tensor.js';
import { grid2d } from './grid.js';
import { defineShader } from '../gpu/kernel.js';
import elementwiseWgsl from '../../shaders/elementwise.wgsl?raw';
import activationsWgsl from '../../shaders/activations.wgsl?raw';

const ELEMENTWISE_SHADER = /*#__PURE__*/ defineShader('elementwise.wgsl', elementwiseWgsl, { 'activations.wgsl': activationsWgsl });

/** Ops of shaders/elementwise.wgsl, by their OP code. */
export const ELEMENTWISE_OPS = { add: 0, mul: 1, scale: 2, sigmoid: 3, tanh: 4, relu: 5, tanhGrad: 6 } as const;
/** The name of an elementwise op: a key of {@link ELEMENTWISE_OPS}. */
export type ElementwiseOp = keyof typeof ELEMENTWISE_OPS;

const WG = 256;

type View = { buffer: GPUBuffer; offset?: number };

function checkView(label: string, name: string, v: View, n: number): void {
  if (((v.offset ?? 0) + n) * 4 > v.buffer.size) throw new ShapeError(`${label}: buffer '${name}' is smaller than ${n} elements from its offset`);
}

/**
 * Prepares `y = op(x, b)` over n elements (b only for add, mul and tanhGrad: y = b ⊙ (1 − x²)).
 * @param gpu - The device.
 * @param args - `op`; `n` elements; views `x`, `b` (second operand) and `y` (output, not aliasing
 *   an input) with element offsets; `alpha` for `scale`; `label` for errors and profiles.
 * @returns One dispatch; its uniform is `transient`.
 * @throws ShapeError for an unknown op, a missing `b`, a view too small or an aliased output.
 */
export function elementwiseDispatch(
  gpu: Gpu,
  args: { op: ElementwiseOp; n: number; x: View; b?: View; y: View; alpha?: number; label?: string },
): Dispatch {
  const label = args.label ?? args.op;
  const binary = args.op === 'add' || args.op === 'mul' || args.op === 'tanhGrad';
  if (typeof args.op !== 'string' || !Object.hasOwn(ELEMENTWISE_OPS, args.op)) throw new ArgumentError(`elementwise: unknown op '${String(args.op)}'; use ${Object.keys(ELEMENTWISE_OPS).join(', ')}`);
  if (binary && !args.b) throw new ArgumentError(`${label}: needs a second operand 'b'`);
  checkView(label, 'x', args.x, args.n);
  checkView(label, 'y', args.y, args.n);
  if (args.b) checkView(label, 'b', args.b, args.n);
  if (args.y.buffer === args.x.buffer || args.y.buffer === args.b?.buffer) throw new ArgumentError(`${label}: output must not share a buffer with an input`);
  const { gridX, workgroups } = grid2d(gpu, Math.ceil(args.n / WG), label);
  const params = gpu.uniform(ELEMENTWISE_SHADER, 'params', {
    n: args.n, offsetX: args.x.offset ?? 0, offsetB: args.b?.offset ?? 0, offsetY: args.y.offset ?? 0, gridX, alpha: args.alpha ?? 1,
  });
  return {
    label,
    pipeline: gpu.pipeline(ELEMENTWISE_SHADER, { OP: ELEMENTWISE_OPS[args.op], WG }),
    bindGroup: gpu.bindGroup(ELEMENTWISE_SHADER, { x: args.x.buffer, b: args.b?.buffer ?? gpu.dummyBuffer, y: args.y.buffer, params }),
    workgroups,
    transient: [params],
  };
}

function run(gpu: Gpu, op: ElementwiseOp, x: Tensor, b: Tensor | undefined, alpha: number | undefined, out?: Tensor, names: readonly [string, string] = ['x', 'b']): Tensor {
  expectRank(op, names[0], x, [1, 2, 3, 4, 5, 6], gpu);
  if (b) expectShape(op, names[1], b, x.shape, `must match '${names[0]}'`, gpu);
  if (out) {
    expectShape(op, 'out', out, x.shape, '', gpu);
    if (out === x || out === b) throw new ArgumentError(`${op}: 'out' must not be an input`);
  }
  if (alpha !== undefined && !Number.isFinite(alpha)) throw new ArgumentError(`${op}: 'alpha' must be finite, got ${alpha}`);
  const y = out ?? Tensor.empty(gpu, x.shape, `${op}.out`);
  gpu.run([elementwiseDispatch(gpu, { op, n: x.size, x: { buffer: x.buffer }, b: b && { buffer: b.buffer }, y: { buffer: y.buffer }, alpha })]);
  return y;
}

/** y = x + b (same shapes). */
export const add = (gpu: Gpu, x: Tensor, b: Tensor, out?: Tensor) => run(gpu, 'add', x, b, undefined, out);
/** y = x ⊙ b (same shapes). */
export const mul = (gpu: Gpu, x: Tensor, b: Tensor, out?: Tensor) => run(gpu, 'mul', x, b, undefined, out);
/** y = alpha · x. */
export const scale = (gpu: Gpu, x: Tensor, alpha: number, out?: Tensor) => run(gpu, 'scale', x, undefined, alpha, out);
/** y = 1 / (1 + e^{−x}). */
export const sigmoid = (gpu: Gpu, x: Tensor, out?: Tensor) => run(gpu, 'sigmoid', x, undefined, undefined, out);
/** y = tanh(x). */
export const tanh = (gpu: Gpu, x: Tensor, out?: Tensor) => run(gpu, 'tanh', x, undefined, undefined, out);
/** y = max(x, 0). */
export const relu = (gpu: Gpu, x: Tensor, out?: Tensor) => run(gpu, 'relu', x, undefined, undefined, out);
/** Backward of tanh: dx = dy ⊙ (1 − y²), from its output y and the gradient dy of its output. */
export const tanhGrad = (gpu: Gpu, y: Tensor, dy: Tensor, out?: Tensor) => run(gpu, 'tanhGrad', y, dy, undefined, out, ['y', 'dy']);
