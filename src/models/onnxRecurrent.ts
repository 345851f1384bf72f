// A traced RNN / LSTM / GRU stack (one graph node) as ONNX: one RNN / LSTM / GRU node per layer,
// time-major X [T, B, I] (a batch-first input is transposed in and out), outputs Y [T, D, B, H]
// (→ [T, B, D·H] for the next layer) and Y_h / Y_c [D, B, H] (the layers' concatenated: hN, cN).
// The initializers stay PyTorch's tensors under their names (`rnn.weight_ih_l0`, …); ONNX's
// gate order is made by a Gather of their rows (folded by a runtime at load):
//   LSTM  PyTorch i, f, g, o → ONNX i, o, f, c  (blocks 0, 3, 1, 2)
//   GRU   PyTorch r, z, n    → ONNX z, r, h     (blocks 1, 0, 2); linear_before_reset = 1 is
//         PyTorch's n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)) (0: Keras' reset_after=False)
//   RNN   one block; activations Tanh or Relu
// W [D, G·H, I] and R [D, G·H, H] stack the directions; B [D, 2·G·H] is [b_ih | b_hh].
import type { Node, Value } from '../graph/graph.js';
import type { EmitContext } from './onnxOps.js';
import type { OnnxAttributeValue } from '../io/onnxProto.js';

/** The recurrent config as the node's attrs hold it. */
interface Config {
  cell: 'rnn' | 'lstm' | 'gru';
  hiddenSize: number;
  numLayers: number;
  bidirectional: boolean;
  batchFirst: boolean;
  bias?: boolean;
  projSize?: number;
  nonlinearity?: 'tanh' | 'relu';
  recurrentActivation?: string;
  resetAfter?: boolean;
}

const GATE_BLOCKS = { lstm: [0, 3, 1, 2], gru: [1, 0, 2], rnn: [0] } as const;

/** Emits the ONNX form of a recurrent node. */
export function onnxRecurrent(node: Node, ctx: EmitContext): void {
  const cfg = node.attrs!.config as Config;
  const { h0: hasH0, c0: hasC0, lengths } = node.attrs as unknown as { h0: boolean; c0: boolean; lengths: boolean };
  if (cfg.projSize) ctx.fail(`an LSTM with projSize ${cfg.projSize} has no ONNX form (ONNX's LSTM has no projection)`);
  if (lengths)
    ctx.fail(`per-row lengths are host data, not a tensor; export the model without 'lengths' (ONNX: sequence_lens)`);
  if (cfg.recurrentActivation && cfg.recurrentActivation !== 'sigmoid' && cfg.recurrentActivation !== 'hard_sigmoid')
    ctx.fail(`recurrentActivation '${cfg.recurrentActivation}' has no ONNX form`);
  const b = ctx.b;
  const D = cfg.bidirectional ? 2 : 1;
  const H = cfg.hiddenSize;
  const blocks = GATE_BLOCKS[cfg.cell];
  const rows = b.ints(blocks.flatMap((k) => Array.from({ length: H }, (_, j) => k * H + j)));
  // Parameters by (kind, layer, direction), from their PyTorch names.
  const byRole = new Map<string, string>();
  const stateInputs: Value[] = [];
  for (const v of node.inputs.slice(1)) {
    const m = /(weight_ih|weight_hh|bias_ih|bias_hh)_l(\d+)(_reverse)?$/.exec(ctx.paramName(v) ?? '');
    if (m) byRole.set(`${m[1]}:${m[2]}:${m[3] ? 1 : 0}`, ctx.name(v));
    else if (!v.param) stateInputs.push(v);
  }
  const h0 = hasH0 ? ctx.name(stateInputs[0]) : null;
  const c0 = hasC0 ? ctx.name(stateInputs[hasH0 ? 1 : 0]) : null;
  const param = (kind: string, l: number, d: number) => {
    const n = byRole.get(`${kind}:${l}:${d}`);
    if (!n) return ctx.fail(`no parameter ${kind}_l${l}${d ? '_reverse' : ''} among the node's inputs`);
    return n;
  };
  /** ONNX's rows of one tensor per direction, stacked: [D, ...]. */
  const stack = (make: (d: number) => string) => {
    const per = Array.from({ length: D }, (_, d) => b.node('Unsqueeze', [make(d), b.ints([0])]));
    return D === 1 ? per[0] : b.node('Concat', per, { axis: { int: 0 } });
  };
  const reorder = (t: string) => b.node('Gather', [t, rows], { axis: { int: 0 } });
  const attrs: Record<string, OnnxAttributeValue> = {
    hidden_size: { int: H },
    direction: { string: D === 2 ? 'bidirectional' : 'forward' },
  };
  const op = cfg.cell === 'lstm' ? 'LSTM' : cfg.cell === 'gru' ? 'GRU' : 'RNN';
  if (cfg.cell === 'gru') attrs.linear_before_reset = { int: cfg.resetAfter === false ? 0 : 1 };
  if (cfg.cell === 'rnn') attrs.activations = { strings: Array(D).fill(cfg.nonlinearity === 'relu' ? 'Relu' : 'Tanh') };
  if (cfg.recurrentActivation === 'hard_sigmoid') {
    // ONNX's HardSigmoid defaults (alpha 0.2, beta 0.5) are Keras' / TensorFlow.js's.
    const acts = cfg.cell === 'lstm' ? ['HardSigmoid', 'Tanh', 'Tanh'] : ['HardSigmoid', 'Tanh'];
    attrs.activations = { strings: Array.from({ length: D }, () => acts).flat() };
  }
  let x = ctx.name(node.inputs[0]);
  if (cfg.batchFirst) x = b.node('Transpose', [x], { perm: { ints: [1, 0, 2] } });
  const hs: string[] = [];
  const cs: string[] = [];
  for (let l = 0; l < cfg.numLayers; l++) {
    const W = stack((d) => reorder(param('weight_ih', l, d)));
    const R = stack((d) => reorder(param('weight_hh', l, d)));
    const B =
      cfg.bias === false
        ? ''
        : stack((d) =>
            b.node('Concat', [reorder(param('bias_ih', l, d)), reorder(param('bias_hh', l, d))], { axis: { int: 0 } }),
          );
    const slice = (s: string | null) =>
      s ? b.node('Slice', [s, b.ints([l * D]), b.ints([(l + 1) * D]), b.ints([0])]) : '';
    const inputs = [x, W, R, B, '', slice(h0)];
    if (cfg.cell === 'lstm') inputs.push(slice(c0));
    while (inputs[inputs.length - 1] === '') inputs.pop();
    const outs = b.nodeN(op, inputs, attrs, cfg.cell === 'lstm' ? 3 : 2);
    hs.push(outs[1]);
    if (cfg.cell === 'lstm') cs.push(outs[2]);
    // Y [T, D, B, H] → [T, B, D·H].
    x = b.node('Reshape', [b.node('Transpose', [outs[0]], { perm: { ints: [0, 2, 1, 3] } }), b.ints([0, 0, -1])]);
  }
  if (cfg.batchFirst) x = b.node('Transpose', [x], { perm: { ints: [1, 0, 2] } });
  const cat = (parts: string[]) => (parts.length === 1 ? parts[0] : b.node('Concat', parts, { axis: { int: 0 } }));
  ctx.set(node.outputs[0], x);
  ctx.set(node.outputs[1], cat(hs));
  if (node.outputs[2]) ctx.set(node.outputs[2], cat(cs));
}
