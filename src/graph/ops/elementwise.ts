// Elementwise graph ops and their gradients (shaders/elementwise.wgsl):
//   add: y = a + b          da = dy, db = dy
//   sub: y = a − b          da = dy, db = −dy
//   mul: y = a ⊙ b          da = dy ⊙ b, db = dy ⊙ a
//   scale: y = α·x          dx = α·dy
//   relu, sigmoid, tanh (gradients from the output), gelu / gelu_tanh (gradient from the input).
import { ShapeError, fmtShape } from '../../util/errors.js';
import { elementwiseDispatch, type ElementwiseOp } from '../../kernels/elementwise.js';
import type { Tensor } from '../../gpu/tensor.js';
import type { BufferRef, BuildContext, Value } from '../graph.js';
import { graphFor, record } from '../record.js';

/** One elementwise dispatch over n elements. */
function ew(
  ctx: BuildContext,
  op: ElementwiseOp,
  label: string,
  x: BufferRef,
  b: BufferRef | undefined,
  y: BufferRef,
  n: number,
  alpha?: number,
) {
  return [elementwiseDispatch(ctx.gpu, { op, n, x, b, y, alpha, label })];
}

function sameShape(op: string, a: Value, b: Value): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new ShapeError(
      `${op}: the operands have shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)}; ` +
        `they must be equal (no broadcasting)`,
    );
  }
}

function unary(op: ElementwiseOp, label: string, x: Value, alpha?: number): Value {
  return record({
    op: label,
    inputs: [x],
    outputs: [{ shape: x.shape }],
    build: ([xv], [yv], ctx) => ew(ctx, op, label, xv, undefined, yv, x.size, alpha),
  })[0];
}

function binary(op: ElementwiseOp, label: string, a: Value, b: Value): Value {
  return record({
    op: label,
    inputs: [a, b],
    outputs: [{ shape: a.shape }],
    build: ([av, bv], [yv], ctx) => ew(ctx, op, label, av, bv, yv, a.size),
  })[0];
}

/** a + b as a graph value (also used to sum gradient contributions). */
export function addValues(a: Value, b: Value, op = 'add'): Value {
  sameShape(op, a, b);
  const [y] = record({
    op,
    attrs: { kind: 'add' },
    inputs: [a, b],
    outputs: [{ shape: a.shape }],
    build: ([av, bv], [yv], ctx) => ew(ctx, 'add', op, av, bv, yv, a.size),
    backward: ([g], needs) => [needs[0] ? g : null, needs[1] ? g : null],
  });
  return y;
}

/** Copies `x` into a fixed place (a parameter's gradient slot): y = x. */
export function copyInto(x: Value, target: () => BufferRef, op: string): Value {
  const y = unary('scale', op, x, 1);
  y.fixed = target;
  y.pinned = true;
  return y;
}

/** Shared implementation of the tensor-level ops below: value in, value out. */
function lift(op: string, fn: (...vs: Value[]) => Value, ...ts: Tensor[]): Tensor {
  const g = graphFor(op);
  return fn(...ts.map((t, i) => g.of(op, ['a', 'b'][i] ?? `arg${i}`, t))).tensor;
}

/** y = a + b (same shapes), inside a traced forward. */
export function add(a: Tensor, b: Tensor): Tensor {
  return lift('add', (x, y) => addValues(x, y), a, b);
}

/** y = a − b (same shapes). */
export function sub(a: Tensor, b: Tensor): Tensor {
  return lift(
    'sub',
    (x, y) => {
      sameShape('sub', x, y);
      return record({
        op: 'sub',
        attrs: { kind: 'sub' },
        inputs: [x, y],
        outputs: [{ shape: x.shape }],
        build: ([av, bv], [yv], ctx) => ew(ctx, 'sub', 'sub', av, bv, yv, x.size),
        backward: ([g], needs) => [needs[0] ? g : null, needs[1] && g ? scaleValue(g, -1) : null],
      })[0];
    },
    a,
    b,
  );
}

/** y = a ⊙ b (same shapes). */
export function mul(a: Tensor, b: Tensor): Tensor {
  return lift(
    'mul',
    (x, y) => {
      sameShape('mul', x, y);
      return record({
        op: 'mul',
        attrs: { kind: 'mul' },
        inputs: [x, y],
        outputs: [{ shape: x.shape }],
        build: ([av, bv], [yv], ctx) => ew(ctx, 'mul', 'mul', av, bv, yv, x.size),
        backward: ([g], needs) => [
          needs[0] && g ? binary('mul', 'mul.grad', g, y) : null,
          needs[1] && g ? binary('mul', 'mul.grad', g, x) : null,
        ],
      })[0];
    },
    a,
    b,
  );
}

/** y = α·x as a value. */
export function scaleValue(x: Value, alpha: number): Value {
  if (!Number.isFinite(alpha)) throw new ShapeError(`scale: alpha must be finite, got ${alpha}`);
  return record({
    op: 'scale',
    attrs: { kind: 'scale', alpha },
    inputs: [x],
    outputs: [{ shape: x.shape }],
    build: ([xv], [yv], ctx) => ew(ctx, 'scale', 'scale', xv, undefined, yv, x.size, alpha),
    backward: ([g], needs) => [needs[0] && g ? scaleValue(g, alpha) : null],
  })[0];
}

/** y = α·x. */
export function scale(x: Tensor, alpha: number): Tensor {
  return lift('scale', (v) => scaleValue(v, alpha), x);
}

/** Activations whose gradient is computed from the output y (relu, sigmoid, tanh) or the input x (gelu). */
const ACTIVATION_GRADS = {
  relu: { grad: 'reluGrad', from: 'output' },
  sigmoid: { grad: 'sigmoidGrad', from: 'output' },
  tanh: { grad: 'tanhGrad', from: 'output' },
  gelu: { grad: 'geluGrad', from: 'input' },
  geluTanh: { grad: 'geluTanhGrad', from: 'input' },
} as const;

/** The name of an activation op of {@link activationValue}. */
export type ActivationName = keyof typeof ACTIVATION_GRADS;

/** y = act(x) as a value, with its gradient. */
export function activationValue(act: ActivationName, x: Value): Value {
  const { grad, from } = ACTIVATION_GRADS[act];
  return record({
    op: act,
    attrs: { kind: act },
    inputs: [x],
    outputs: [{ shape: x.shape }],
    build: ([xv], [yv], ctx) => ew(ctx, act, act, xv, undefined, yv, x.size),
    // tanhGrad/sigmoidGrad/reluGrad: x = the saved output or input, b = dy.
    backward: ([g], needs, [y]) => [
      needs[0] && g ? binary(grad as ElementwiseOp, `${act}.grad`, from === 'output' ? y : x, g) : null,
    ],
  })[0];
}

/** max(x, 0). */
export const relu = (x: Tensor): Tensor => lift('relu', (v) => activationValue('relu', v), x);
/** 1 / (1 + e^−x). */
export const sigmoid = (x: Tensor): Tensor => lift('sigmoid', (v) => activationValue('sigmoid', v), x);
/** tanh(x). */
export const tanh = (x: Tensor): Tensor => lift('tanh', (v) => activationValue('tanh', v), x);
/**
 * GELU: exact `0.5·x·(1 + erf(x/√2))`, or PyTorch's `approximate='tanh'` form.
 * @param x - Any shape.
 * @param approximate - `'none'` (default) or `'tanh'`.
 */
export const gelu = (x: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor =>
  lift('gelu', (v) => activationValue(approximate === 'tanh' ? 'geluTanh' : 'gelu', v), x);
