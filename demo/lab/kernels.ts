// The kernel lab's catalogue: every kernel the panel offers, with its shape and variant fields
// (defaults from the bench suite's options), the operands a call reads and writes (for GB/s and
// the device-limit check) and how a run produces its rows: always through the bench's own row
// functions (bench/*.ts), so a lab row is a `npm run bench` row.
import type { Gpu } from '../../src/index.js';
import type { BenchRow } from '../../bench/stats.js';
import type { Tf } from '../../bench/tf.js';
import type { Ort } from '../../bench/ort.js';
import type { GpuMemoryTracker } from '../../bench/gpuMemory.js';
import { benchOptions } from '../../bench/suite.js';
import { matmulRows } from '../../bench/matmul.js';
import { gemmRows, gemmShapes } from '../../bench/gemm.js';
import { softmaxRows } from '../../bench/softmax.js';
import { attentionRows } from '../../bench/attention.js';
import { stepRows } from '../../bench/step.js';
import { recurrentRows } from '../../bench/recurrent.js';
import { modelForwardRows } from '../../bench/forward.js';
import { trainingRows } from '../../bench/training.js';

export type ParamValue = number | boolean | string;
export type Params = Record<string, ParamValue>;

/** A panel field: a positive integer, a switch, or a choice. */
export type Field =
  | { key: string; kind: 'int'; label?: string }
  | { key: string; kind: 'bool'; label?: string }
  | { key: string; kind: 'choice'; label?: string; options: string[] };

/**
 * One operand of a call. `read` and `written` count towards the bytes moved (f32 or i32: 4 bytes
 * an element; `elements` when fewer than the shape's are touched, e.g. gathered embedding rows);
 * every operand's shape is checked against the device's buffer limit before anything runs.
 */
export interface Operand {
  name: string;
  /** The field names of its dimensions, for error messages: `[M, K]`. */
  dims: string;
  shape: number[];
  role: 'read' | 'written';
  elements?: number;
}

export type PeerName = 'tfjs' | 'ort';

export interface Peers {
  tf: Tf | { error: string };
  ort: Ort | { error: string };
}

export interface RunContext {
  gpu: Gpu;
  peers: Peers;
  /** Installed before any peer opened its device (the attention rows report peak memory). */
  memory: GpuMemoryTracker;
  reps: number;
  peerReps: number;
  say: (message: string) => void;
}

export interface KernelSpec {
  key: string;
  title: string;
  defaults: Params;
  fields: Field[];
  /** The peers the bench row functions measure for this kernel. */
  peers: PeerName[];
  operands(p: Params): Operand[];
  run(ctx: RunContext, p: Params): Promise<BenchRow[]>;
}

const suite = benchOptions(() => null);
const int = (key: string, label?: string): Field => ({ key, kind: 'int', label });
const bool = (key: string, label?: string): Field => ({ key, kind: 'bool', label });
const n = (p: Params, k: string) => p[k] as number;
const b = (p: Params, k: string) => p[k] === true;
const recurrentCell = (p: Params) => p.cell as 'lstm' | 'gru';
const gates = (cell: string) => (cell === 'lstm' ? 4 : cell === 'gru' ? 3 : 1);

/** W_ih, W_hh, b_ih, b_hh of one recurrent layer and direction. */
function recurrentWeights(cell: string, inputSize: number, hidden: number, suffix = ''): Operand[] {
  const G = gates(cell);
  return [
    { name: `W_ih${suffix}`, dims: '[G·hidden, input]', shape: [G * hidden, inputSize], role: 'read' },
    { name: `W_hh${suffix}`, dims: '[G·hidden, hidden]', shape: [G * hidden, hidden], role: 'read' },
    { name: `b_ih, b_hh${suffix}`, dims: '[2, G·hidden]', shape: [2, G * hidden], role: 'read' },
  ];
}

const matmul: KernelSpec = {
  key: 'matmul',
  title: 'matmul',
  defaults: { M: 512, N: 512, K: 512, batch: 1, transposeA: false, transposeB: false, bias: false },
  fields: [
    int('M'),
    int('N'),
    int('K'),
    int('batch'),
    bool('transposeA', 'Aᵀ'),
    bool('transposeB', 'Bᵀ'),
    bool('bias'),
  ],
  peers: ['tfjs'],
  operands(p) {
    const s = gemmShapes({
      M: n(p, 'M'),
      N: n(p, 'N'),
      K: n(p, 'K'),
      batch: n(p, 'batch'),
      transposeA: b(p, 'transposeA'),
      transposeB: b(p, 'transposeB'),
    });
    const lead = n(p, 'batch') > 1 ? 'batch, ' : '';
    return [
      { name: 'A', dims: `[${lead}${b(p, 'transposeA') ? 'K, M' : 'M, K'}]`, shape: s.a, role: 'read' },
      { name: 'B', dims: `[${lead}${b(p, 'transposeB') ? 'N, K' : 'K, N'}]`, shape: s.b, role: 'read' },
      ...(b(p, 'bias') ? [{ name: 'bias', dims: '[N]', shape: [n(p, 'N')], role: 'read' } as Operand] : []),
      { name: 'C', dims: `[${lead}M, N]`, shape: s.c, role: 'written' },
    ];
  },
  async run(ctx, p) {
    const c = {
      M: n(p, 'M'),
      N: n(p, 'N'),
      K: n(p, 'K'),
      batch: n(p, 'batch'),
      transposeA: b(p, 'transposeA'),
      transposeB: b(p, 'transposeB'),
      bias: b(p, 'bias'),
    };
    // A square product without options is exactly one of the suite's rows: its own function.
    if (c.M === c.N && c.N === c.K && c.batch === 1 && !c.transposeA && !c.transposeB && !c.bias) {
      ctx.say(`running matmul ${c.M}×${c.M}×${c.M}`);
      return matmulRows(ctx.gpu, ctx.peers.tf, [c.M], ctx.reps, ctx.peerReps);
    }
    return gemmRows(ctx.gpu, ctx.peers.tf, [c], { reps: ctx.reps, peerReps: ctx.peerReps }, ctx.say);
  },
};

const softmax: KernelSpec = {
  key: 'softmax',
  title: 'softmax (rows)',
  defaults: { rows: 1024, cols: 1024 },
  fields: [int('rows'), int('cols')],
  peers: ['tfjs'],
  operands: (p) => [
    { name: 'x', dims: '[rows, cols]', shape: [n(p, 'rows'), n(p, 'cols')], role: 'read' },
    { name: 'y', dims: '[rows, cols]', shape: [n(p, 'rows'), n(p, 'cols')], role: 'written' },
  ],
  run: (ctx, p) =>
    softmaxRows(
      ctx.gpu,
      ctx.peers.tf,
      [{ rows: n(p, 'rows'), cols: n(p, 'cols') }],
      { reps: ctx.reps, peerReps: ctx.peerReps },
      ctx.say,
    ),
};

const attention: KernelSpec = {
  key: 'attention',
  title: 'attention (fused SDPA)',
  defaults: {
    batch: suite.attention.batch,
    heads: suite.attention.heads,
    seqLen: suite.attention.seqLen[0],
    headDim: suite.attention.headDim,
    causal: false,
    backward: false,
  },
  fields: [int('batch'), int('heads'), int('seqLen'), int('headDim'), bool('causal'), bool('backward', 'fwd + bwd')],
  peers: ['tfjs', 'ort'],
  operands(p) {
    const x = [n(p, 'batch'), n(p, 'heads'), n(p, 'seqLen'), n(p, 'headDim')];
    const dims = '[batch, heads, seqLen, headDim]';
    const op = (name: string, role: Operand['role']): Operand => ({ name, dims, shape: x, role });
    const list = [
      op('Q', 'read'),
      op('K', 'read'),
      op('V', 'read'),
      op('O', 'written'),
      { name: 'log-sum-exp', dims: '[batch, heads, seqLen]', shape: x.slice(0, 3), role: 'written' } as Operand,
    ];
    if (b(p, 'backward')) list.push(op('dO', 'read'), op('dQ', 'written'), op('dK', 'written'), op('dV', 'written'));
    return list;
  },
  run: (ctx, p) =>
    attentionRows(
      ctx.gpu,
      ctx.peers,
      ctx.memory,
      [{ seqLen: n(p, 'seqLen'), causal: b(p, 'causal'), backward: b(p, 'backward') }],
      { batch: n(p, 'batch'), heads: n(p, 'heads'), headDim: n(p, 'headDim'), reps: ctx.reps, peerReps: ctx.peerReps },
      ctx.say,
    ),
};

const step: KernelSpec = {
  key: 'step',
  title: 'LSTM / GRU step',
  defaults: { cell: 'lstm', batch: 1, inputSize: suite.recurrent.inputSize, hidden: suite.recurrent.hidden[0] },
  fields: [{ key: 'cell', kind: 'choice', options: ['lstm', 'gru'] }, int('batch'), int('inputSize'), int('hidden')],
  peers: ['tfjs', 'ort'],
  operands(p) {
    const [B, I, H] = [n(p, 'batch'), n(p, 'inputSize'), n(p, 'hidden')];
    const state = p.cell === 'lstm' ? ['h', 'c'] : ['h'];
    return [
      { name: 'x_t', dims: '[batch, inputSize]', shape: [B, I], role: 'read' },
      ...state.map((s): Operand => ({ name: `${s}_{t−1}`, dims: '[batch, hidden]', shape: [B, H], role: 'read' })),
      ...recurrentWeights(p.cell as string, I, H),
      ...state.map((s): Operand => ({ name: `${s}_t`, dims: '[batch, hidden]', shape: [B, H], role: 'written' })),
    ];
  },
  run: (ctx, p) =>
    stepRows(
      ctx.gpu,
      ctx.peers,
      [{ cell: recurrentCell(p), batch: n(p, 'batch'), inputSize: n(p, 'inputSize'), hidden: n(p, 'hidden') }],
      { reps: ctx.reps, peerReps: ctx.peerReps },
      ctx.say,
    ),
};

const forward: KernelSpec = {
  key: 'forward',
  title: 'LSTM / GRU layer forward',
  defaults: {
    cell: 'lstm',
    batch: suite.recurrent.batch[1],
    seqLen: suite.recurrent.seqLen,
    inputSize: suite.recurrent.inputSize,
    hidden: suite.recurrent.hidden[0],
  },
  fields: [
    { key: 'cell', kind: 'choice', options: ['lstm', 'gru'] },
    int('batch'),
    int('seqLen'),
    int('inputSize'),
    int('hidden'),
  ],
  peers: ['tfjs', 'ort'],
  operands(p) {
    const [B, T, I, H] = [n(p, 'batch'), n(p, 'seqLen'), n(p, 'inputSize'), n(p, 'hidden')];
    const state = p.cell === 'lstm' ? ['h_N', 'c_N'] : ['h_N'];
    return [
      { name: 'input', dims: '[seqLen, batch, inputSize]', shape: [T, B, I], role: 'read' },
      ...recurrentWeights(p.cell as string, I, H),
      { name: 'output', dims: '[seqLen, batch, hidden]', shape: [T, B, H], role: 'written' },
      ...state.map((s): Operand => ({ name: s, dims: '[1, batch, hidden]', shape: [1, B, H], role: 'written' })),
    ];
  },
  run: (ctx, p) =>
    recurrentRows(
      ctx.gpu,
      ctx.peers,
      [{ cell: recurrentCell(p), batch: n(p, 'batch'), hidden: n(p, 'hidden') }],
      { seqLen: n(p, 'seqLen'), inputSize: n(p, 'inputSize'), reps: ctx.reps, peerReps: ctx.peerReps },
      ctx.say,
    ),
};

const model: KernelSpec = {
  key: 'model',
  title: 'whole model forward',
  defaults: {
    cell: 'lstm',
    batch: 32,
    seqLen: suite.recurrent.seqLen,
    vocab: 65,
    embeddingDim: 32,
    hidden: suite.recurrent.hidden[0],
    numLayers: 2,
    bidirectional: false,
  },
  fields: [
    { key: 'cell', kind: 'choice', options: ['lstm', 'gru', 'rnn'] },
    int('batch'),
    int('seqLen'),
    int('vocab'),
    int('embeddingDim'),
    int('hidden'),
    int('numLayers'),
    bool('bidirectional'),
  ],
  peers: [],
  operands(p) {
    const [B, T, V, E, H, L] = [
      n(p, 'batch'),
      n(p, 'seqLen'),
      n(p, 'vocab'),
      n(p, 'embeddingDim'),
      n(p, 'hidden'),
      n(p, 'numLayers'),
    ];
    const D = b(p, 'bidirectional') ? 2 : 1;
    const list: Operand[] = [
      { name: 'tokens (i32)', dims: '[seqLen, batch]', shape: [T, B], role: 'read' },
      {
        name: 'embedding rows gathered',
        dims: '[vocab, embeddingDim]',
        shape: [V, E],
        elements: T * B * E,
        role: 'read',
      },
    ];
    for (let l = 0; l < L; l++)
      for (let d = 0; d < D; d++)
        list.push(...recurrentWeights(p.cell as string, l === 0 ? E : D * H, H, ` l${l}${d ? ' reverse' : ''}`));
    list.push(
      { name: 'head weight, bias', dims: '[vocab, D·hidden + 1]', shape: [V, D * H + 1], role: 'read' },
      { name: 'logits', dims: '[seqLen·batch, vocab]', shape: [T * B, V], role: 'written' },
    );
    return list;
  },
  run: (ctx, p) =>
    modelForwardRows(
      ctx.gpu,
      [
        {
          cell: p.cell as 'rnn' | 'lstm' | 'gru',
          batch: n(p, 'batch'),
          seqLen: n(p, 'seqLen'),
          vocab: n(p, 'vocab'),
          embeddingDim: n(p, 'embeddingDim'),
          hidden: n(p, 'hidden'),
          numLayers: n(p, 'numLayers'),
          bidirectional: b(p, 'bidirectional'),
        },
      ],
      { reps: ctx.reps },
      ctx.say,
    ),
};

const training: KernelSpec = {
  key: 'training',
  title: 'training step (fwd + MSE + BPTT + Adam)',
  defaults: {
    cell: 'lstm',
    batch: 32,
    seqLen: suite.recurrent.seqLen,
    inputSize: suite.recurrent.inputSize,
    hidden: 256,
    outputSize: 32,
  },
  fields: [
    { key: 'cell', kind: 'choice', options: ['lstm', 'gru'] },
    int('batch'),
    int('seqLen'),
    int('inputSize'),
    int('hidden'),
    int('outputSize'),
  ],
  peers: ['tfjs'],
  operands(p) {
    const [B, T, I, H, O] = [n(p, 'batch'), n(p, 'seqLen'), n(p, 'inputSize'), n(p, 'hidden'), n(p, 'outputSize')];
    const G = gates(p.cell as string);
    const P = G * H * (I + H) + 2 * G * H + O * H + O;
    const params = (name: string, role: Operand['role']): Operand => ({ name, dims: '[parameters]', shape: [P], role });
    return [
      { name: 'inputs', dims: '[seqLen, batch, inputSize]', shape: [T, B, I], role: 'read' },
      { name: 'targets', dims: '[seqLen, batch, outputSize]', shape: [T, B, O], role: 'read' },
      params('parameters', 'read'),
      params('Adam m', 'read'),
      params('Adam v', 'read'),
      params('parameters (updated)', 'written'),
      params('Adam m (updated)', 'written'),
      params('Adam v (updated)', 'written'),
      { name: 'loss', dims: '[1]', shape: [1], role: 'written' },
    ];
  },
  run: (ctx, p) =>
    trainingRows(
      ctx.gpu,
      ctx.peers.tf,
      [{ cell: recurrentCell(p), batch: n(p, 'batch'), hidden: n(p, 'hidden') }],
      {
        seqLen: n(p, 'seqLen'),
        inputSize: n(p, 'inputSize'),
        outputSize: n(p, 'outputSize'),
        reps: ctx.reps,
        peerReps: ctx.peerReps,
      },
      ctx.say,
    ),
};

export const KERNELS: readonly KernelSpec[] = [matmul, softmax, attention, step, forward, model, training];

export function kernelSpec(key: string): KernelSpec {
  const spec = KERNELS.find((k) => k.key === key);
  if (!spec) throw new Error(`kernel lab: no kernel '${key}'; kernels: ${KERNELS.map((k) => k.key).join(', ')}`);
  return spec;
}
