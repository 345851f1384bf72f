import type { Gpu } from '../gpu/device.js';
import type { Dispatch } from '../gpu/dispatch.js';
import { ArgumentError, ShapeError } from '../util/errors.js';
import { Tensor, expectRank, expectShape } from '../gpu/tensor.js';
import { grid2d } from './grid.js';
import { defineShader } from '../gpu/kernel.js';
import elementwiseWgsl from '../../shaders/elementwise.wgsl?raw';
import activationsWgsl from '../../shaders/activations.wgsl?raw';

const ELEMENTWISE_SHADER = /*#__PURE__*/ defineShader('elementwise.wgsl', elementwiseWgsl, {
  'activations.wgsl': activationsWgsl,
});

/**
 * Ops of shaders/elementwise.wgsl, by their OP code. Binary ops (they read `b`): add, mul,
 * tanhGrad, reluGrad, sigmoidGrad, geluGrad, geluTanhGrad, sub. The gradient ops take the
 * gradient of the op's output as `b`: tanhGrad `b·(1 − x²)` and sigmoidGrad `b·x·(1 − x)` from the
 * op's output x, reluGrad `x > 0 ? b : 0` from its input or output, geluGrad and geluTanhGrad
 * `b·gelu'(x)` from its input x. gelu is the exact `½x(1 + erf(x/√2))`, geluTanh the tanh form
 * `½x(1 + tanh(√(2/π)(x + 0.044715x³)))`; sub is `x − b`.
 */
export const ELEMENTWISE_OPS = {
  add: 0,
  mul: 1,
  scale: 2,
  sigmoid: 3,
  tanh: 4,
  relu: 5,
  tanhGrad: 6,
  reluGrad: 7,
  sigmoidGrad: 8,
  gelu: 9,
  geluTanh: 10,
  geluGrad: 11,
  geluTanhGrad: 12,
  sub: 13,
} as const;
/** The name of an elementwise op: a key of {@link ELEMENTWISE_OPS}. */
export type ElementwiseOp = keyof typeof ELEMENTWISE_OPS;

const WG = 256;

/** Ops that read the second operand `b`. */
const BINARY_OPS: ReadonlySet<ElementwiseOp> = new Set<ElementwiseOp>([
  'add',
  'mul',
  'tanhGrad',
  'reluGrad',
  'sigmoidGrad',
  'geluGrad',
  'geluTanhGrad',
  'sub',
]);

type View = { buffer: GPUBuffer; offset?: number };

function checkView(label: string, name: string, v: View, n: number): void {
  if (((v.offset ?? 0) + n) * 4 > v.buffer.size)
    throw new ShapeError(`${label}: buffer '${name}' is smaller than ${n} elements from its offset`);
}

/**
 * Prepares `y = op(x, b)` over n elements (b only for the binary ops of {@link ELEMENTWISE_OPS}:
 * add, mul, sub and the gradient ops, e.g. tanhGrad y = b ⊙ (1 − x²)).
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
  if (typeof args.op !== 'string' || !Object.hasOwn(ELEMENTWISE_OPS, args.op))
    throw new ArgumentError(
      `elementwise: unknown op '${String(args.op)}'; use ${Object.keys(ELEMENTWISE_OPS).join(', ')}`,
    );
  const binary = BINARY_OPS.has(args.op);
  if (binary && !args.b) throw new ArgumentError(`${label}: needs a second operand 'b'`);
  checkView(label, 'x', args.x, args.n);
  checkView(label, 'y', args.y, args.n);
  if (args.b) checkView(label, 'b', args.b, args.n);
  if (args.y.buffer === args.x.buffer || args.y.buffer === args.b?.buffer)
    throw new ArgumentError(`${label}: output must not share a buffer with an input`);
  const { gridX, workgroups } = grid2d(gpu, Math.ceil(args.n / WG), label);
  const params = gpu.uniform(ELEMENTWISE_SHADER, 'params', {
    n: args.n,
    offsetX: args.x.offset ?? 0,
    offsetB: args.b?.offset ?? 0,
    offsetY: args.y.offset ?? 0,
    gridX,
    alpha: args.alpha ?? 1,
  });
  return {
    label,
    pipeline: gpu.pipeline(ELEMENTWISE_SHADER, { OP: ELEMENTWISE_OPS[args.op], WG }),
    bindGroup: gpu.bindGroup(ELEMENTWISE_SHADER, {
      x: args.x.buffer,
      b: args.b?.buffer ?? gpu.dummyBuffer,
      y: args.y.buffer,
      params,
    }),
    workgroups,
    transient: [params],
  };
}

function run(
  gpu: Gpu,
  op: ElementwiseOp,
  x: Tensor,
  b: Tensor | undefined,
  alpha: number | undefined,
  out?: Tensor,
  names: readonly [string, string] = ['x', 'b'],
): Tensor {
  expectRank(op, names[0], x, [1, 2, 3, 4, 5, 6], gpu);
  if (b) expectShape(op, names[1], b, x.shape, `must match '${names[0]}'`, gpu);
  if (out) {
    expectShape(op, 'out', out, x.shape, '', gpu);
    if (out === x || out === b) throw new ArgumentError(`${op}: 'out' must not be an input`);
  }
  if (alpha !== undefined && !Number.isFinite(alpha))
    throw new ArgumentError(`${op}: 'alpha' must be finite, got ${alpha}`);
  const y = out ?? Tensor.empty(gpu, x.shape, `${op}.out`);
  gpu.run([
    elementwiseDispatch(gpu, {
      op,
      n: x.size,
      x: { buffer: x.buffer },
      b: b && { buffer: b.buffer },
      y: { buffer: y.buffer },
      alpha,
    }),
  ]);
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
export const tanhGrad = (gpu: Gpu, y: Tensor, dy: Tensor, out?: Tensor) =>
  run(gpu, 'tanhGrad', y, dy, undefined, out, ['y', 'dy']);
/** y = x − b (same shapes). */
export const sub = (gpu: Gpu, x: Tensor, b: Tensor, out?: Tensor) => run(gpu, 'sub', x, b, undefined, out);
/** Exact GELU: y = ½·x·(1 + erf(x/√2)). */
export const gelu = (gpu: Gpu, x: Tensor, out?: Tensor) => run(gpu, 'gelu', x, undefined, undefined, out);
/** Tanh GELU: y = ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
export const geluTanh = (gpu: Gpu, x: Tensor, out?: Tensor) => run(gpu, 'geluTanh', x, undefined, undefined, out);
/** Backward of relu: dx = dy where x > 0, else 0 (x: relu's input or output). */
export const reluGrad = (gpu: Gpu, x: Tensor, dy: Tensor, out?: Tensor) =>
  run(gpu, 'reluGrad', x, dy, undefined, out, ['x', 'dy']);
/** Backward of sigmoid: dx = dy ⊙ y ⊙ (1 − y), from its output y. */
export const sigmoidGrad = (gpu: Gpu, y: Tensor, dy: Tensor, out?: Tensor) =>
  run(gpu, 'sigmoidGrad', y, dy, undefined, out, ['y', 'dy']);
/** Backward of exact GELU: dx = dy ⊙ (Φ(x) + x·φ(x)), from its input x. */
export const geluGrad = (gpu: Gpu, x: Tensor, dy: Tensor, out?: Tensor) =>
  run(gpu, 'geluGrad', x, dy, undefined, out, ['x', 'dy']);
/** Backward of tanh GELU: dx = dy ⊙ geluTanh'(x), from its input x. */
export const geluTanhGrad = (gpu: Gpu, x: Tensor, dy: Tensor, out?: Tensor) =>
  run(gpu, 'geluTanhGrad', x, dy, undefined, out, ['x', 'dy']);
