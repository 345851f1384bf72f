// Linear (PyTorch nn.functional.linear): y = x·Wᵀ + b over the last dimension.
//   x [..., in] viewed as [rows, in], W [out, in], b [out], y [..., out]
//   backward: dx = dy·W (GEMM), dW = dyᵀ·x (GEMM), db = Σ_rows dy (column sum)
import { ShapeError, fmtShape } from '../../util/errors.js';
import { columnSumDispatch } from '../../kernels/columnSum.js';
import { gemmDispatches } from '../../kernels/matmul.js';
import type { Value } from '../graph.js';
import { record } from '../record.js';

/**
 * Records y = x·Wᵀ (+ b).
 * @param x - [..., inFeatures] f32.
 * @param weight - [outFeatures, inFeatures].
 * @param bias - [outFeatures] or null.
 */
export function linearValue(x: Value, weight: Value, bias: Value | null, op = 'linear'): Value {
  const [out, inF] = weight.shape;
  if (x.dtype !== 'f32' || x.shape.length < 1 || x.shape[x.shape.length - 1] !== inF) {
    throw new ShapeError(
      `${op}: input has shape ${fmtShape(x.shape)} (${x.dtype}), expected f32 [..., ${inF}] (inFeatures)`,
    );
  }
  const rows = x.size / inF;
  const inputs = bias ? [x, weight, bias] : [x, weight];
  return record({
    op,
    inputs,
    outputs: [{ shape: [...x.shape.slice(0, -1), out] }],
    build: ([xv, wv, bv], [yv], ctx) =>
      gemmDispatches(ctx.gpu, {
        M: rows,
        N: out,
        K: inF,
        transposeB: true,
        a: { ...xv, ld: inF },
        b: { ...wv, ld: inF },
        c: { ...yv, ld: out },
        bias: bias ? bv : undefined,
        label: op,
      }),
    backward: ([dy], needs) => {
      if (!dy) return inputs.map(() => null);
      const dx = needs[0] ? linearGradInput(dy, weight, x.shape, op) : null;
      const dW = needs[1] ? linearGradWeight(dy, x, weight.shape, op) : null;
      const db = bias && needs[2] ? columnSum(dy, out, `${op}.db`) : null;
      return bias ? [dx, dW, db] : [dx, dW];
    },
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
