// The ONNX form of each traced op kind (Node.attrs.kind), one emitter per kind:
//   linear          Gemm(x, W, b, transB=1) for a matrix x, else MatMul(x, Transpose(W)) + b; the
//                   fused activation (Relu, GELU) and residual (Add) after it
//   add/sub/mul     Add/Sub/Mul; scale: Mul by a constant; relu/sigmoid/tanh: Relu/Sigmoid/Tanh
//   gelu, geluTanh  Gelu (opset ≥ 20) or its formula: 0.5·x·(1 + Erf(x/√2)), or
//                   0.5·x·(1 + Tanh(√(2/π)·(x + 0.044715·x³)))
//   reshape, slice, concat, transpose, mean: Reshape (dynamic dims as 0 / −1 / symbols), Slice,
//                   Concat, Transpose, ReduceMean; flip: Slice with step −1
//   layerNorm       LayerNormalization (opset 17) over the trailing dims that hold `cols`
//   embedding       Gather(W, ids); softmax: Softmax(axis −1); dropout: Identity (inference)
//   addBroadcast    Add (numpy broadcasting over the leading dims)
//   matmul          MatMul (with Transposes of the last two dims)
//   finalStateLinear  the top layer's hN rows, directions side by side, then Gemm
// Recurrent stacks: onnxRecurrent.ts; multi-head attention: onnxAttention.ts.
import type { Node, Value } from '../graph/graph.js';
import type { OnnxAttributeValue } from '../io/onnxProto.js';
import type { OnnxBuilder } from './onnxGraph.js';

/** What an emitter sees: the builder, the names of traced values, the node's place in the model. */
export interface EmitContext {
  readonly b: OnnxBuilder;
  /** The ONNX name of a traced value (already emitted). */
  name(v: Value): string;
  /** Names the ONNX tensor holding a traced value. */
  set(v: Value, name: string): void;
  /**
   * An attention in_proj's projections (query, key, value) by its packed value; the attention
   * node adds its probabilities (index 3) for the weights node.
   */
  readonly packed: Map<Value, readonly string[]>;
  /** The full parameter name of a traced parameter value (`rnn.weight_ih_l0`), or null. */
  paramName(v: Value): string | null;
  /** Throws an ExportError naming the node and its module. */
  fail(message: string): never;
}

/** One op kind's ONNX form: reads the node's inputs and names its outputs. */
export type Emitter = (node: Node, ctx: EmitContext) => void;

/** The node's i-th attribute, typed by the caller. */
export const attr = <T>(node: Node, key: string): T => node.attrs![key] as T;

/** The weight transposed once ([in, out]) for MatMul, shared by its uses. */
export function transposed(ctx: EmitContext, w: string): string {
  return ctx.b.once(`T:${w}`, () => ctx.b.node('Transpose', [w], { perm: { ints: [1, 0] } }));
}

/** x·Wᵀ + b: Gemm for a matrix x, else MatMul + Add. */
export function linearOnnx(ctx: EmitContext, x: string, rank: number, w: string, bias: string | null): string {
  if (rank === 2) return ctx.b.node('Gemm', bias ? [x, w, bias] : [x, w], { transB: { int: 1 } });
  const y = ctx.b.node('MatMul', [x, transposed(ctx, w)]);
  return bias ? ctx.b.node('Add', [y, bias]) : y;
}

/** ReduceMean over one axis (axes an input from opset 18, an attribute before). */
export function reduceMean(ctx: EmitContext, x: string, axis: number, keepdims: boolean): string {
  const keep = { int: keepdims ? 1 : 0 };
  return ctx.b.opset >= 18
    ? ctx.b.node('ReduceMean', [x, ctx.b.ints([axis])], { keepdims: keep })
    : ctx.b.node('ReduceMean', [x], { axes: { ints: [axis] }, keepdims: keep });
}

/** GELU, exact (erf) or the tanh form. */
function gelu(ctx: EmitContext, x: string, approximate: 'none' | 'tanh'): string {
  const b = ctx.b;
  if (b.opset >= 20) {
    b.need(20, 'Gelu');
    return b.node('Gelu', [x], { approximate: { string: approximate } });
  }
  let inner: string;
  if (approximate === 'none') inner = b.node('Erf', [b.node('Div', [x, b.float(Math.SQRT2)])]);
  else {
    const cube = b.node('Mul', [b.node('Mul', [x, x]), x]);
    const sum = b.node('Add', [x, b.node('Mul', [cube, b.float(0.044715)])]);
    inner = b.node('Tanh', [b.node('Mul', [sum, b.float(Math.sqrt(2 / Math.PI))])]);
  }
  return b.node('Mul', [b.node('Mul', [x, b.float(0.5)]), b.node('Add', [inner, b.float(1)])]);
}

/** An activation by seqgpu's name. */
function activation(ctx: EmitContext, act: string, x: string): string {
  switch (act) {
    case 'identity':
      return x;
    case 'relu':
      return ctx.b.node('Relu', [x]);
    case 'sigmoid':
      return ctx.b.node('Sigmoid', [x]);
    case 'tanh':
      return ctx.b.node('Tanh', [x]);
    case 'gelu':
      return gelu(ctx, x, 'none');
    case 'gelu_tanh':
    case 'geluTanh':
      return gelu(ctx, x, 'tanh');
  }
  return ctx.fail(`activation '${act}' has no ONNX form`);
}

const one = (op: string, n = 2): Emitter => {
  return (node, ctx) =>
    ctx.set(
      node.outputs[0],
      ctx.b.node(
        op,
        node.inputs.slice(0, n).map((v) => ctx.name(v)),
      ),
    );
};
const unary =
  (act: string): Emitter =>
  (node, ctx) =>
    ctx.set(node.outputs[0], activation(ctx, act, ctx.name(node.inputs[0])));

/** The op kinds of one or a few ONNX ops (recurrent and attention: their own files). */
export const OP_EMITTERS: Record<string, Emitter> = {
  linear: (node, ctx) => {
    const [x, w] = node.inputs;
    const bias = attr<boolean>(node, 'bias') ? ctx.name(node.inputs[2]) : null;
    const residual = attr<boolean>(node, 'residual') ? ctx.name(node.inputs[node.inputs.length - 1]) : null;
    let y = linearOnnx(ctx, ctx.name(x), x.shape.length, ctx.name(w), bias);
    y = activation(ctx, attr<string>(node, 'activation'), y);
    if (residual) y = ctx.b.node('Add', [y, residual]);
    ctx.set(node.outputs[0], y);
  },
  add: one('Add'),
  sub: one('Sub'),
  mul: one('Mul'),
  scale: (node, ctx) =>
    ctx.set(node.outputs[0], ctx.b.node('Mul', [ctx.name(node.inputs[0]), ctx.b.float(attr<number>(node, 'alpha'))])),
  relu: unary('relu'),
  sigmoid: unary('sigmoid'),
  tanh: unary('tanh'),
  gelu: unary('gelu'),
  geluTanh: unary('geluTanh'),
  dropout: one('Identity', 1),
  softmax: (node, ctx) =>
    ctx.set(node.outputs[0], ctx.b.node('Softmax', [ctx.name(node.inputs[0])], { axis: { int: -1 } })),
  addBroadcast: one('Add'),
  embedding: (node, ctx) =>
    ctx.set(
      node.outputs[0],
      ctx.b.node('Gather', [ctx.name(node.inputs[1]), ctx.name(node.inputs[0])], { axis: { int: 0 } }),
    ),
  reshape: (node, ctx) => {
    const [x] = node.inputs;
    const y = node.outputs[0];
    ctx.set(
      y,
      ctx.b.reshape(ctx.name(x), ctx.b.dims(x), ctx.b.dims(y), (m) => ctx.fail(m)),
    );
  },
  slice: (node, ctx) => {
    const [d, start, end] = ['dim', 'start', 'end'].map((k) => attr<number>(node, k));
    const x = ctx.name(node.inputs[0]);
    ctx.set(node.outputs[0], ctx.b.node('Slice', [x, ctx.b.ints([start]), ctx.b.ints([end]), ctx.b.ints([d])]));
  },
  flip: (node, ctx) => {
    // Slice with step −1 from the last index to before the first (ends = INT64_MIN).
    const b = ctx.b;
    const x = ctx.name(node.inputs[0]);
    const [starts, ends] = [b.ints([-1]), b.ints([-(2 ** 63)])];
    ctx.set(node.outputs[0], b.node('Slice', [x, starts, ends, b.ints([attr<number>(node, 'dim')]), b.ints([-1])]));
  },
  concat: (node, ctx) =>
    ctx.set(
      node.outputs[0],
      ctx.b.node(
        'Concat',
        node.inputs.map((v) => ctx.name(v)),
        { axis: { int: attr<number>(node, 'dim') } },
      ),
    ),
  transpose: (node, ctx) =>
    ctx.set(
      node.outputs[0],
      ctx.b.node('Transpose', [ctx.name(node.inputs[0])], { perm: { ints: attr(node, 'perm') } }),
    ),
  mean: (node, ctx) => {
    // A rank-1 input's mean is [1] in seqgpu (a scalar in ONNX without keepdims).
    const keep = attr<boolean>(node, 'keepdim') || node.inputs[0].shape.length === 1;
    ctx.set(node.outputs[0], reduceMean(ctx, ctx.name(node.inputs[0]), attr<number>(node, 'dim'), keep));
  },
  layerNorm: (node, ctx) => {
    const x = node.inputs[0];
    const cols = attr<number>(node, 'cols');
    let k = 0;
    for (let p = 1; p < cols; k++) p *= x.shape[x.shape.length - 1 - k];
    const axis = x.shape.length - Math.max(k, 1);
    const normShape = x.shape.slice(axis);
    let i = 1;
    const param = (present: boolean, fill: number) =>
      present
        ? ctx.name(node.inputs[i++])
        : ctx.b.init(`LayerNorm_${fill}`, normShape, new Float32Array(cols).fill(fill));
    const w = param(attr<boolean>(node, 'weight'), 1);
    const bias = param(attr<boolean>(node, 'bias'), 0);
    ctx.b.need(17, 'LayerNormalization');
    const attrs: Record<string, OnnxAttributeValue> = {
      axis: { int: axis },
      epsilon: { float: attr<number>(node, 'eps') },
    };
    ctx.set(node.outputs[0], ctx.b.node('LayerNormalization', [ctx.name(x), w, bias], attrs));
  },
  matmul: (node, ctx) => {
    const [a, b] = node.inputs;
    const t = (v: Value, on: boolean) => {
      const n = ctx.name(v);
      if (!on) return n;
      const perm = v.shape.map((_, i) => i);
      [perm[perm.length - 2], perm[perm.length - 1]] = [perm[perm.length - 1], perm[perm.length - 2]];
      return ctx.b.node('Transpose', [n], { perm: { ints: perm } });
    };
    const y = ctx.b.node('MatMul', [t(a, attr(node, 'transposeA')), t(b, attr(node, 'transposeB'))]);
    ctx.set(node.outputs[0], y);
  },
  finalStateLinear: (node, ctx) => {
    const [hN, w] = node.inputs;
    const D = attr<number>(node, 'numDirections');
    const LD = hN.shape[0];
    const b = ctx.b;
    const top = b.node('Slice', [ctx.name(hN), b.ints([LD - D]), b.ints([LD]), b.ints([0])]);
    const rows = b.node('Reshape', [b.node('Transpose', [top], { perm: { ints: [1, 0, 2] } }), b.ints([0, -1])]);
    const bias = attr<boolean>(node, 'bias') ? ctx.name(node.inputs[2]) : null;
    ctx.set(node.outputs[0], linearOnnx(ctx, rows, 2, ctx.name(w), bias));
  },
};
