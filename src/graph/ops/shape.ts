// Shape ops: reshape (a view: no dispatch), slice / concat / transpose (strided copies,
// shaders/strided_copy.wgsl) and mean over one dimension (shaders/reduce_axis.wgsl).
//   slice(x, dim, start, end): y = x[..., start:end, ...]      dx = scatter dy into zeros
//   concat([a, b, …], dim): y = [a | b | …] along dim          da, db, … = slices of dy
//   transpose(x, d0, d1): y = x with d0 and d1 swapped           dx = transpose(dy)
//   mean(x, dim): y = Σ_k x[..k..] / n                          dx = dy broadcast / n
import { ShapeError, fmtShape } from '../../util/errors.js';
import { reduceAxisDispatch } from '../../kernels/reduceAxis.js';
import { stridedCopyDispatch } from '../../kernels/stridedCopy.js';
import type { Tensor } from '../../gpu/tensor.js';
import type { Value } from '../graph.js';
import { graphFor, record } from '../record.js';

/** Row-major strides of a shape. */
const stridesOf = (shape: readonly number[]) => shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));

/** Normalises a dimension index (negative counts from the end). */
function dimOf(op: string, shape: readonly number[], dim: number): number {
  const d = dim < 0 ? shape.length + dim : dim;
  if (!Number.isInteger(dim) || d < 0 || d >= shape.length)
    throw new ShapeError(`${op}: dim ${dim} is out of range for shape ${fmtShape(shape)} (rank ${shape.length})`);
  return d;
}

/** Collapses x to [outer, n, inner] around dimension d. */
function around(shape: readonly number[], d: number) {
  const outer = shape.slice(0, d).reduce((a, b) => a * b, 1);
  const inner = shape.slice(d + 1).reduce((a, b) => a * b, 1);
  return { outer, n: shape[d], inner };
}

/** A view of x with another shape (same element count). */
export function reshapeValue(x: Value, shape: readonly number[]): Value {
  const g = graphFor('reshape');
  const known = shape.filter((s) => s !== -1).reduce((a, b) => a * b, 1);
  const holes = shape.filter((s) => s === -1).length;
  const full = shape.map((s) => (s === -1 ? x.size / known : s));
  if (holes > 1 || full.some((s) => !Number.isInteger(s) || s <= 0) || full.reduce((a, b) => a * b, 1) !== x.size) {
    throw new ShapeError(`reshape: cannot view ${fmtShape(x.shape)} (${x.size} elements) as ${fmtShape(shape)}`);
  }
  const y = g.value(full, x.dtype, 'reshape');
  y.alias = { of: x, offset: 0 };
  y.requiresGrad = x.requiresGrad;
  // A view: its gradient is the gradient reshaped back.
  g.add({
    op: 'reshape',
    attrs: { kind: 'reshape' },
    inputs: [x],
    outputs: [y],
    build: () => [],
    backward: ([dy], needs) => [needs[0] && dy ? reshapeValue(dy, x.shape) : null],
  });
  return y;
}

/** Copies x[…, start:end, …] along d into a new value (accumulate: into `into`). */
function sliceValue(x: Value, d: number, start: number, end: number): Value {
  const { outer, n, inner } = around(x.shape, d);
  const len = end - start;
  const shape = x.shape.map((s, i) => (i === d ? len : s));
  return record({
    op: 'slice',
    attrs: { kind: 'slice', dim: d, start, end },
    inputs: [x],
    outputs: [{ shape }],
    build: ([xv], [yv], ctx) => [
      stridedCopyDispatch(ctx.gpu, {
        shape: [outer, len, inner],
        x: { ...xv, offset: xv.offset + start * inner, strides: [n * inner, inner, 1] },
        y: { ...yv, strides: [len * inner, inner, 1] },
        label: 'slice',
      }),
    ],
    backward: ([dy], needs) => [needs[0] && dy ? padValue(dy, d, start, n) : null],
  })[0];
}

/** dy of a slice placed into zeros of the full length n along d. */
function padValue(dy: Value, d: number, start: number, n: number): Value {
  const { outer, n: len, inner } = around(dy.shape, d);
  const shape = dy.shape.map((s, i) => (i === d ? n : s));
  return record({
    op: 'slice.backward',
    inputs: [dy],
    outputs: [{ shape }],
    build: ([gv], [yv], ctx) => [
      stridedCopyDispatch(ctx.gpu, {
        shape: [outer * n * inner],
        x: { ...gv, strides: [0] },
        y: { ...yv, strides: [1] },
        alpha: 0,
        label: 'slice.zero',
      }),
      stridedCopyDispatch(ctx.gpu, {
        shape: [outer, len, inner],
        x: { ...gv, strides: [len * inner, inner, 1] },
        y: { ...yv, offset: yv.offset + start * inner, strides: [n * inner, inner, 1] },
        label: 'slice.backward',
      }),
    ],
  })[0];
}

/** Concatenation along d. */
function concatValues(xs: readonly Value[], d: number): Value {
  const base = xs[0].shape;
  for (const [i, x] of xs.entries()) {
    if (x.shape.length !== base.length || x.shape.some((s, k) => k !== d && s !== base[k])) {
      throw new ShapeError(
        `concat: tensor ${i} has shape ${fmtShape(x.shape)}; every tensor must ` +
          `match ${fmtShape(base)} except along dim ${d}`,
      );
    }
  }
  const total = xs.reduce((a, x) => a + x.shape[d], 0);
  const shape = base.map((s, i) => (i === d ? total : s));
  const { outer, inner } = around(shape, d);
  const starts = xs.map((_, i) => xs.slice(0, i).reduce((a, x) => a + x.shape[d], 0));
  return record({
    op: 'concat',
    attrs: { kind: 'concat', dim: d },
    inputs: xs,
    outputs: [{ shape }],
    build: (ins, [yv], ctx) =>
      ins.map((xv, i) => {
        const len = xs[i].shape[d];
        return stridedCopyDispatch(ctx.gpu, {
          shape: [outer, len, inner],
          x: { ...xv, strides: [len * inner, inner, 1] },
          y: { ...yv, offset: yv.offset + starts[i] * inner, strides: [total * inner, inner, 1] },
          label: 'concat',
        });
      }),
    backward: ([dy], needs) =>
      xs.map((x, i) => (needs[i] && dy ? sliceValue(dy, d, starts[i], starts[i] + x.shape[d]) : null)),
  })[0];
}

/** x with dimensions d0 and d1 swapped (a copy). */
function transposeValue(x: Value, d0: number, d1: number): Value {
  const perm = x.shape.map((_, i) => (i === d0 ? d1 : i === d1 ? d0 : i));
  const shape = perm.map((p) => x.shape[p]);
  const xs = stridesOf(x.shape);
  if (shape.length > 4) throw new ShapeError(`transpose: rank ${shape.length} > 4 is not supported`);
  return record({
    op: 'transpose',
    attrs: { kind: 'transpose', perm },
    inputs: [x],
    outputs: [{ shape }],
    build: ([xv], [yv], ctx) => [
      stridedCopyDispatch(ctx.gpu, {
        shape,
        x: { ...xv, strides: perm.map((p) => xs[p]) },
        y: { ...yv, strides: stridesOf(shape) },
        label: 'transpose',
      }),
    ],
    backward: ([dy], needs) => [needs[0] && dy ? transposeValue(dy, d0, d1) : null],
  })[0];
}

/** Mean over dimension d (removed, or kept as size 1 with keepdim). */
function meanValue(x: Value, d: number, keepdim: boolean): Value {
  const { outer, n, inner } = around(x.shape, d);
  const shape = keepdim ? x.shape.map((s, i) => (i === d ? 1 : s)) : x.shape.filter((_, i) => i !== d);
  return record({
    op: 'mean',
    attrs: { kind: 'mean', dim: d, keepdim },
    inputs: [x],
    outputs: [{ shape: shape.length ? shape : [1] }],
    build: ([xv], [yv], ctx) => [
      reduceAxisDispatch(ctx.gpu, { outer, n, inner, x: xv, y: yv, alpha: 1 / n, label: 'mean' }),
    ],
    backward: ([dy], needs) => [
      needs[0] && dy
        ? record({
            op: 'mean.backward',
            inputs: [dy],
            outputs: [{ shape: x.shape }],
            build: ([gv], [dv], ctx) => [
              stridedCopyDispatch(ctx.gpu, {
                shape: [outer, n, inner],
                x: { ...gv, strides: [inner, 0, 1] },
                y: { ...dv, strides: [n * inner, inner, 1] },
                alpha: 1 / n,
                label: 'mean.backward',
              }),
            ],
          })[0]
        : null,
    ],
  })[0];
}

const valueOf = (op: string, t: Tensor, arg = 'x') => graphFor(op).of(op, arg, t);

/**
 * A view of `x` with another shape (one size may be −1), like `torch.reshape` / `Tensor.view`.
 * @param x - Any tensor.
 * @param shape - The new shape (same element count).
 */
export const reshape = (x: Tensor, shape: readonly number[]): Tensor =>
  reshapeValue(valueOf('reshape', x), shape).tensor;
/** Alias of {@link reshape}. */
export const view = reshape;

/**
 * `x` narrowed to [start, end) along `dim` (a copy), like `x[..., start:end, ...]`.
 * @param x - Any tensor.
 * @param dim - The dimension (negative counts from the end).
 * @param start - First index kept.
 * @param end - One past the last index kept (default: the size).
 */
export function slice(x: Tensor, dim: number, start: number, end?: number): Tensor {
  const v = valueOf('slice', x);
  const d = dimOf('slice', v.shape, dim);
  const stop = end ?? v.shape[d];
  if (!Number.isInteger(start) || !Number.isInteger(stop) || start < 0 || stop > v.shape[d] || start >= stop) {
    throw new ShapeError(`slice: [${start}, ${stop}) is not a non-empty range within dim ${dim} of size ${v.shape[d]}`);
  }
  return sliceValue(v, d, start, stop).tensor;
}

/**
 * Tensors joined along `dim` (`torch.cat`).
 * @param xs - Tensors of equal shapes except along `dim`.
 * @param dim - The dimension (default the last).
 */
export function concat(xs: readonly Tensor[], dim = -1): Tensor {
  if (!Array.isArray(xs) || xs.length === 0) throw new ShapeError('concat: expected a non-empty array of tensors');
  const vs = xs.map((t, i) => valueOf('concat', t, `xs[${i}]`));
  return concatValues(vs, dimOf('concat', vs[0].shape, dim)).tensor;
}

/**
 * `x` with two dimensions swapped (a copy), like `torch.transpose`.
 * @param x - Rank ≤ 4.
 * @param dim0 - First dimension.
 * @param dim1 - Second dimension.
 */
export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  const v = valueOf('transpose', x);
  return transposeValue(v, dimOf('transpose', v.shape, dim0), dimOf('transpose', v.shape, dim1)).tensor;
}

/**
 * Mean over one dimension (`torch.mean(x, dim, keepdim)`).
 * @param x - Any tensor.
 * @param dim - The dimension (negative counts from the end).
 * @param keepdim - Keep it with size 1. Default false.
 */
export function mean(x: Tensor, dim: number, keepdim = false): Tensor {
  const v = valueOf('mean', x);
  return meanValue(v, dimOf('mean', v.shape, dim), keepdim).tensor;
}
