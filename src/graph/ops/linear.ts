// Linear (PyTorch nn.functional.linear): y = x·Wᵀ + b over the last dimension.
//   x [..., in] viewed as [rows, in], W [out, in], b [out], y [..., out]
//   backward: dx = dy·W (GEMM), dW = dyᵀ·x (GEMM), db = Σ_rows dy (column sum)
//
// Fused epilogue (linearActValue): y = act(x·Wᵀ + b) (+ r), ONE GEMM dispatch (shaders/matmul.wgsl
// applies act and adds r per output element). act: identity, relu, gelu (erf), gelu_tanh.
//   backward: dz = dy ⊙ act'(z), then dx, dW, db from dz as above; dr = dy.
//   relu: act'(z) = [z > 0] = [y > 0] (y = relu(z) when there is no residual): the mask comes
//     from the output, nothing else is kept.
//   gelu, gelu_tanh: act'(z) needs z itself (gelu is not invertible). In a graph that records a
//     backward, the same dispatch also writes z: the node's outputs are y and z, both views of one
//     [2·rows·out] buffer (the GEMM writes Z through C's binding), and the backward is the
//     elementwise geluGrad(z, dy) — the memory of the unfused linear + gelu pair (which keeps z for
//     gelu's backward too), one dispatch fewer forward. Without a backward only y is written.
//   act with a residual is refused: y = act(z) + r hides relu's mask, and no caller needs it (the
//     Transformer's linear1 has act without residual, linear2 residual without act).
import { ArgumentError, ShapeError, fmtShape } from '../../util/errors.js';
import { columnSumDispatch } from '../../kernels/columnSum.js';
import { elementwiseDispatch } from '../../kernels/elementwise.js';
import { checkGemmActivation, gemmDispatches, type GemmActivation } from '../../kernels/matmul.js';
import type { Value } from '../graph.js';
import { graphFor, record } from '../record.js';

/**
 * Records y = x·Wᵀ (+ b).
 * @param x - [..., inFeatures] f32.
 * @param weight - [outFeatures, inFeatures].
 * @param bias - [outFeatures] or null.
 * @param op - Names the node in labels and errors. Default `'linear'`.
 */
export function linearValue(x: Value, weight: Value, bias: Value | null, op = 'linear'): Value {
  return linearActValue(x, weight, bias, {}, op);
}

/** The fused epilogue of {@link linearActValue}. */
export interface LinearEpilogue {
  /** Applied to x·Wᵀ + b: `'identity'` (default), `'relu'`, `'gelu'` (exact) or `'gelu_tanh'`. */
  activation?: GemmActivation;
  /** [..., outFeatures] (the output's shape), added last; not with an activation. */
  residual?: Value | null;
}

/**
 * Records y = act(x·Wᵀ + b) (+ residual) as one GEMM dispatch, with its backward (see the file
 * comment: relu's mask from y, gelu's derivative from z written by the same dispatch).
 * @param x - [..., inFeatures] f32.
 * @param weight - [outFeatures, inFeatures].
 * @param bias - [outFeatures] or null.
 * @param epilogue - The activation and the residual (at most one of the two).
 * @param op - Names the node in labels and errors. Default `'linear'`.
 * @returns y, [..., outFeatures].
 * @throws ShapeError when x's last dimension is not inFeatures or the residual's shape is not the
 *   output's; ArgumentError for an unknown activation, or an activation together with a residual.
 */
export function linearActValue(
  x: Value,
  weight: Value,
  bias: Value | null,
  epilogue: LinearEpilogue = {},
  op = 'linear',
): Value {
  const [out, inF] = weight.shape;
  if (x.dtype !== 'f32' || x.shape.length < 1 || x.shape[x.shape.length - 1] !== inF) {
    throw new ShapeError(
      `${op}: input has shape ${fmtShape(x.shape)} (${x.dtype}), expected f32 [..., ${inF}] (inFeatures)`,
    );
  }
  const act = epilogue.activation ?? 'identity';
  checkGemmActivation(op, act);
  const residual = epilogue.residual ?? null;
  const yShape = [...x.shape.slice(0, -1), out];
  if (residual) {
    if (residual.dtype !== 'f32' || fmtShape(residual.shape) !== fmtShape(yShape))
      throw new ShapeError(
        `${op}: residual has shape ${fmtShape(residual.shape)} (${residual.dtype}), expected f32 ` +
          `${fmtShape(yShape)} (the output's shape)`,
      );
    if (act !== 'identity')
      throw new ArgumentError(
        `${op}: activation '${act}' with a residual is not supported; fuse one of the two ` +
          `(add the residual after the activation with a separate op)`,
      );
  }
  const rows = x.size / inF;
  const n = rows * out;
  const inputs = [x, weight, ...(bias ? [bias] : []), ...(residual ? [residual] : [])];
  const biasAt = bias ? 2 : -1;
  const residualAt = residual ? inputs.length - 1 : -1;
  // gelu's backward needs z: keep it when this node will have a backward (as Graph.add decides).
  const g = graphFor(op);
  const keepZ = (act === 'gelu' || act === 'gelu_tanh') && g.training && inputs.some((v) => v.requiresGrad);
  const outs = record({
    op,
    attrs: { kind: 'linear', activation: act, bias: !!bias, residual: !!residual },
    inputs,
    // y and z share one buffer: the third output holds both, y and z are views of it (below).
    outputs: keepZ ? [{ shape: yShape }, { shape: yShape }, { shape: [2 * n] }] : [{ shape: yShape }],
    build: (ins, [yv, zv], ctx) => {
      if (zv && (zv.buffer !== yv.buffer || zv.offset !== yv.offset + n))
        throw new ArgumentError(`${op}: the pre-activation must follow the output in its buffer`);
      return gemmDispatches(ctx.gpu, {
        M: rows,
        N: out,
        K: inF,
        transposeB: true,
        a: { ...ins[0], ld: inF },
        b: { ...ins[1], ld: inF },
        c: { ...yv, ld: out },
        bias: bias ? ins[biasAt] : undefined,
        activation: act === 'identity' ? undefined : act,
        residual: residual ? { ...ins[residualAt], ld: out } : undefined,
        preActivation: zv ? { offset: zv.offset, ld: out } : undefined,
        label: op,
      });
    },
    backward: ([dy], needs, [y, z]) => {
      if (!dy) return inputs.map(() => null);
      const dz =
        act === 'identity'
          ? dy
          : elementwiseGrad(
              act === 'relu' ? 'reluGrad' : act === 'gelu' ? 'geluGrad' : 'geluTanhGrad',
              act === 'relu' ? y : z,
              dy,
              op,
            );
      const grads: (Value | null)[] = [
        needs[0] ? linearGradInput(dz, weight, x.shape, op) : null,
        needs[1] ? linearGradWeight(dz, x, weight.shape, op) : null,
      ];
      if (bias) grads.push(needs[biasAt] ? columnSum(dz, out, `${op}.db`) : null);
      if (residual) grads.push(needs[residualAt] ? dy : null);
      return grads;
    },
  });
  if (keepZ) {
    const [y, z, yz] = outs;
    y.alias = { of: yz, offset: 0 };
    z.alias = { of: yz, offset: n };
  }
  return outs[0];
}

/** dz = dy ⊙ act'(·) from `from` (relu's output, gelu's input): one elementwise dispatch. */
function elementwiseGrad(
  grad: 'reluGrad' | 'geluGrad' | 'geluTanhGrad',
  from: Value | undefined,
  dy: Value,
  op: string,
): Value {
  if (!from) throw new ArgumentError(`${op}: the activation's backward has no saved value`);
  const label = `${op}.${grad}`;
  return record({
    op: label,
    inputs: [from, dy],
    outputs: [{ shape: dy.shape }],
    build: ([fv, gv], [dzv], ctx) => [
      elementwiseDispatch(ctx.gpu, { op: grad, n: dy.size, x: fv, b: gv, y: dzv, label }),
    ],
  })[0];
}

/** dx = dy·W: [rows, out]·[out, in]. */
function linearGradInput(dy: Value, weight: Value, xShape: readonly number[], op: string): Value {
  const [out, inF] = weight.shape;
  const rows = dy.size / out;
  return record({
    op: `${op}.dx`,
    inputs: [dy, weight],
    outputs: [{ shape: xShape }],
    build: ([gv, wv], [dxv], ctx) =>
      gemmDispatches(ctx.gpu, {
        M: rows,
        N: inF,
        K: out,
        a: { ...gv, ld: out },
        b: { ...wv, ld: inF },
        c: { ...dxv, ld: inF },
        label: `${op}.dx`,
      }),
  })[0];
}

/** dW = dyᵀ·x: [out, rows]·[rows, in]. */
function linearGradWeight(dy: Value, x: Value, wShape: readonly number[], op: string): Value {
  const [out, inF] = wShape;
  const rows = dy.size / out;
  return record({
    op: `${op}.dW`,
    inputs: [dy, x],
    outputs: [{ shape: wShape }],
    build: ([gv, xv], [dwv], ctx) =>
      gemmDispatches(ctx.gpu, {
        M: out,
        N: inF,
        K: rows,
        transposeA: true,
        a: { ...gv, ld: out },
        b: { ...xv, ld: inF },
        c: { ...dwv, ld: inF },
        label: `${op}.dW`,
      }),
  })[0];
}

/** Σ over rows of a [rows, cols] value: [cols]. */
export function columnSum(x: Value, cols: number, op: string): Value {
  return record({
    op,
    inputs: [x],
    outputs: [{ shape: [cols] }],
    build: ([xv], [yv], ctx) => [
      columnSumDispatch(ctx.gpu, { rows: x.size / cols, cols, x: { ...xv, ld: cols }, y: yv, label: op }),
    ],
  })[0];
}
