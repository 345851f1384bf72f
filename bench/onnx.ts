// ONNX models for the benchmark peer: one LSTM or GRU node (opset 14), one com.microsoft
// MultiHeadAttention node, or a Transformer encoder in standard ops (opset 17), weights/masks as
// initializers, built in the page so no model file is committed. The protobuf encoding is
// src/io/onnxProto.ts (shared with the exporter, exportOnnx).

import {
  ProtoWriter as Writer,
  onnxInt64Tensor as int64Initializer,
  onnxAttribute,
  onnxModel,
  onnxNode,
  type OnnxAttributeValue,
  onnxTensor as initializer,
  onnxValueInfo as valueInfo,
} from '../src/io/onnxProto.js';

/**
 * An ONNX model with one LSTM (gates i,o,f,c) or GRU (z,r,h; linear_before_reset=1, PyTorch's
 * semantics) node, time-major X [seqLen, batch, inputSize], random weights. Outputs Y, Y_h.
 */
export function recurrentOnnxModel(
  cell: 'lstm' | 'gru',
  seqLen: number,
  batch: number,
  inputSize: number,
  hidden: number,
): Uint8Array {
  const G = cell === 'lstm' ? 4 : 3;
  const rand = (n: number) => Float32Array.from({ length: n }, () => (Math.random() * 2 - 1) / Math.sqrt(hidden));
  const node = new Writer()
    .str(1, 'X')
    .str(1, 'W')
    .str(1, 'R')
    .str(1, 'B')
    .str(2, 'Y')
    .str(2, 'Y_h')
    .str(3, 'rnn')
    .str(4, cell === 'lstm' ? 'LSTM' : 'GRU');
  node.msg(5, onnxAttribute('hidden_size', { int: hidden }));
  if (cell === 'gru') node.msg(5, onnxAttribute('linear_before_reset', { int: 1 }));
  const graph = new Writer()
    .msg(1, node)
    .str(2, `${cell}_bench`)
    .msg(5, initializer('W', [1, G * hidden, inputSize], rand(G * hidden * inputSize)))
    .msg(5, initializer('R', [1, G * hidden, hidden], rand(G * hidden * hidden)))
    .msg(5, initializer('B', [1, 2 * G * hidden], rand(2 * G * hidden)))
    .msg(11, valueInfo('X', [seqLen, batch, inputSize]))
    .msg(12, valueInfo('Y', [seqLen, 1, batch, hidden]))
    .msg(12, valueInfo('Y_h', [1, batch, hidden]));
  return onnxModel(graph, [{ domain: '', version: 14 }], 'seqgpu-bench');
}

const MS_DOMAIN = 'com.microsoft';

/**
 * An ONNX model with one `com.microsoft` MultiHeadAttention node (opset 14 + com.microsoft 1):
 * inputs query, key, value [batch, seqLen, heads·headDim] (ORT's BSD layout), output
 * [batch, seqLen, heads·headDim], scale 1/√headDim (the op's default). `causal` adds an
 * `attention_bias` initializer [1, 1, seqLen, seqLen]: 0 on and below the diagonal, −∞ above
 * (ORT's WebGPU MultiHeadAttention rejects `unidirectional=1`).
 */
export function attentionOnnxModel(
  batch: number,
  heads: number,
  seqLen: number,
  headDim: number,
  causal: boolean,
): Uint8Array {
  const hidden = heads * headDim;
  // Inputs 3 (bias) and 4 (key_padding_mask) are absent: empty names.
  const node = new Writer().str(1, 'query').str(1, 'key').str(1, 'value');
  if (causal) node.str(1, '').str(1, '').str(1, 'attention_bias');
  node.str(2, 'output').str(3, 'mha').str(4, 'MultiHeadAttention').str(7, MS_DOMAIN);
  node.msg(5, onnxAttribute('num_heads', { int: heads }));
  const graph = new Writer().msg(1, node).str(2, 'attention_bench');
  if (causal) {
    const bias = new Float32Array(seqLen * seqLen);
    for (let i = 0; i < seqLen; i++) for (let j = i + 1; j < seqLen; j++) bias[i * seqLen + j] = -Infinity;
    graph.msg(5, initializer('attention_bias', [1, 1, seqLen, seqLen], bias));
  }
  for (const name of ['query', 'key', 'value']) graph.msg(11, valueInfo(name, [batch, seqLen, hidden]));
  graph.msg(12, valueInfo('output', [batch, seqLen, hidden]));
  return onnxModel(
    graph,
    [
      { domain: '', version: 14 },
      { domain: MS_DOMAIN, version: 1 },
    ],
    'seqgpu-bench',
  );
}

/**
 * softmax(Q·Kᵀ/√D [+ mask])·V composed from standard ONNX ops (opset 14): Mul, Transpose,
 * MatMul, Add, Softmax (last axis), MatMul. Inputs q, k, v [batch, heads, seqLen, headDim];
 * output [batch, heads, seqLen, headDim]. `causal` adds a [seqLen, seqLen] 0 / −∞ initializer.
 */
export function attentionCompositionOnnxModel(
  batch: number,
  heads: number,
  seqLen: number,
  headDim: number,
  causal: boolean,
): Uint8Array {
  const graph = new Writer();
  const node = (op: string, inputs: string[], output: string, attrs: Record<string, OnnxAttributeValue> = {}) =>
    graph.msg(1, onnxNode(op, inputs, [output], { attrs }));
  node('Mul', ['q', 'scale'], 'qs');
  node('Transpose', ['k'], 'kt', { perm: { ints: [0, 1, 3, 2] } });
  node('MatMul', ['qs', 'kt'], 'scores');
  if (causal) node('Add', ['scores', 'mask'], 'masked');
  node('Softmax', [causal ? 'masked' : 'scores'], 'p'); // opset ≥ 13: axis −1 by default
  node('MatMul', ['p', 'v'], 'output');
  graph.str(2, 'attention_composition_bench');
  graph.msg(5, initializer('scale', [], Float32Array.of(1 / Math.sqrt(headDim))));
  if (causal) {
    const mask = new Float32Array(seqLen * seqLen);
    for (let i = 0; i < seqLen; i++) for (let j = i + 1; j < seqLen; j++) mask[i * seqLen + j] = -Infinity;
    graph.msg(5, initializer('mask', [seqLen, seqLen], mask));
  }
  const dims = [batch, heads, seqLen, headDim];
  for (const name of ['q', 'k', 'v']) graph.msg(11, valueInfo(name, dims));
  graph.msg(12, valueInfo('output', dims));
  return onnxModel(graph, [{ domain: '', version: 14 }], 'seqgpu-bench');
}

/** The weights of one PyTorch-named parameter: shape and row-major values. */
export interface OnnxWeight {
  shape: readonly number[];
  data: Float32Array;
}

/** [rows, cols] → [cols, rows]. */
function transposed(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return out;
}

/**
 * PyTorch's `nn.TransformerEncoder` of post-norm, ReLU `nn.TransformerEncoderLayer`s (batch first,
 * no mask, no final norm) in standard ONNX ops (opset 17), as `torch.onnx.export` writes it:
 * per layer the Q, K and V projections (MatMul + Add, the in_proj rows split in three), Reshape /
 * Transpose to [B, H, T, D], Mul by 1/√D, MatMul, Softmax, MatMul, back to [B, T, E], out_proj,
 * residual Add + LayerNormalization, linear1, Relu, linear2, residual Add + LayerNormalization.
 * `weights` are PyTorch's state_dict names (`layers.0.self_attn.in_proj_weight`, …); every weight
 * matrix is stored transposed ([in, out]) so each projection is one MatMul. Input `src`
 * [batch, seqLen, dModel], output `output` of the same shape.
 */
export function transformerEncoderOnnxModel(
  weights: Record<string, OnnxWeight>,
  o: { batch: number; seqLen: number; dModel: number; nhead: number; numLayers: number; eps: number },
): Uint8Array {
  const { batch: B, seqLen: T, dModel: E, nhead: H, numLayers } = o;
  const D = E / H;
  const graph = new Writer();
  let id = 0;
  const node = (op: string, inputs: string[], attrs: Record<string, OnnxAttributeValue> = {}): string => {
    const output = `${op.toLowerCase()}_${id++}`;
    graph.msg(1, onnxNode(op, inputs, [output], { attrs }));
    return output;
  };
  const init = (name: string, dims: number[], data: Float32Array): string => {
    graph.msg(5, initializer(name, dims, data));
    return name;
  };
  const get = (name: string): OnnxWeight => {
    const w = weights[name];
    if (!w) throw new Error(`transformerEncoderOnnxModel: no weight '${name}'`);
    return w;
  };
  /** x·Wᵀ + b for the rows [from, from + n) of a PyTorch [out, in] weight. */
  const linear = (x: string, name: string, from = 0, n?: number, wName = `${name}.weight`, bName = `${name}.bias`) => {
    const w = get(wName);
    const [out, inF] = w.shape;
    const rows = n ?? out;
    const suffix = n === undefined ? '' : `.${from}`;
    const wt = init(
      `${wName}${suffix}.T`,
      [inF, rows],
      transposed(w.data.subarray(from * inF, (from + rows) * inF), rows, inF),
    );
    const b = init(`${bName}${suffix}`, [rows], get(bName).data.slice(from, from + rows));
    return node('Add', [node('MatMul', [x, wt]), b]);
  };
  // The feature axis of [B, T, E].
  const lnAttrs: Record<string, OnnxAttributeValue> = { axis: { int: 2 }, epsilon: { float: o.eps } };
  const layerNorm = (x: string, name: string) =>
    node(
      'LayerNormalization',
      [x, init(`${name}.weight`, [E], get(`${name}.weight`).data), init(`${name}.bias`, [E], get(`${name}.bias`).data)],
      lnAttrs,
    );
  graph.msg(5, int64Initializer('shape_bthd', [B, T, H, D]));
  graph.msg(5, int64Initializer('shape_bte', [B, T, E]));
  init('scale', [], Float32Array.of(1 / Math.sqrt(D)));
  let x = 'src';
  for (let l = 0; l < numLayers; l++) {
    const p = `layers.${l}.`;
    const inW = `${p}self_attn.in_proj_weight`;
    const inB = `${p}self_attn.in_proj_bias`;
    const heads = (i: number, perm: number[]) =>
      node('Transpose', [node('Reshape', [linear(x, `${p}self_attn.in_proj`, i * E, E, inW, inB), 'shape_bthd'])], {
        perm: { ints: perm },
      });
    const q = node('Mul', [heads(0, [0, 2, 1, 3]), 'scale']);
    const kT = heads(1, [0, 2, 3, 1]);
    const v = heads(2, [0, 2, 1, 3]);
    const p_ = node('Softmax', [node('MatMul', [q, kT])]); // opset ≥ 13: axis −1
    const o_ = node('Reshape', [
      node('Transpose', [node('MatMul', [p_, v])], { perm: { ints: [0, 2, 1, 3] } }),
      'shape_bte',
    ]);
    const x1 = layerNorm(node('Add', [x, linear(o_, `${p}self_attn.out_proj`)]), `${p}norm1`);
    const ff = linear(node('Relu', [linear(x1, `${p}linear1`)]), `${p}linear2`);
    x = layerNorm(node('Add', [x1, ff]), `${p}norm2`);
  }
  graph.msg(1, onnxNode('Identity', [x], ['output']));
  graph.str(2, 'transformer_encoder_bench');
  graph.msg(11, valueInfo('src', [B, T, E]));
  graph.msg(12, valueInfo('output', [B, T, E]));
  return onnxModel(graph, [{ domain: '', version: 17 }], 'seqgpu-bench');
}
