// The bad-input table (issue 8, item 1): every public entry point fed wrong ranks, shapes, dtypes,
// zero/negative sizes, NaN/Inf, sizes past the device's limits, wrong state_dict names and
// truncated or corrupt files. For each case runBadCase checks that the call throws (or rejects
// with) the documented error class with a message naming the argument, that it created no GPU
// buffer (counted on the device, gpu.memory()) and took none from the pool, raised no GPU error, and left its subject
// as it was: weights (and optimizer state) read
// back bit for bit equal, and a valid call gives bit for bit the result it gave before.
// Sizes past the limits are computed from `gpu.limits`, so the cases are honest on any adapter.
import type { Gpu } from '../../src/gpu/device.js';
import { requestGpu } from '../../src/gpu/device.js';
import { ArgumentError } from '../../src/util/errors.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { matmul, gemmDispatches } from '../../src/kernels/matmul.js';
import { softmax } from '../../src/kernels/softmax.js';
import { add, scale, tanhGrad, elementwiseDispatch, type ElementwiseOp } from '../../src/kernels/elementwise.js';
import { biasAct, type Activation } from '../../src/kernels/biasAct.js';
import { crossEntropy } from '../../src/kernels/crossEntropy.js';
import { mse } from '../../src/kernels/mse.js';
import { reduceSum } from '../../src/kernels/reduceSum.js';
import { embedding, embeddingBackward } from '../../src/kernels/embedding.js';
import { Dropout } from '../../src/kernels/dropout.js';
import { scaledDotProductAttention, scaledDotProductAttentionBackward } from '../../src/kernels/attention.js';
import { RnnAttentionPlan, type AttentionScore } from '../../src/kernels/rnnAttention.js';
import {
  nextTokenDispatch,
  beamSearchStepDispatches,
  gatherBeamRowsDispatch,
  backtrackBeams,
} from '../../src/kernels/decode.js';
import { RNN, LSTM, GRU, type RecurrentLayer, type RecurrentStepper } from '../../src/nn/recurrent.js';
import { MultiHeadAttention } from '../../src/nn/multiHeadAttention.js';
import { SequenceModel, type Batch } from '../../src/models/sequenceModel.js';
import { Seq2Seq, type Seq2SeqBatch } from '../../src/models/seq2seq.js';
import { Optimizer, type OptimizerOptions } from '../../src/kernels/optimizer.js';
import { parseSafetensors, writeSafetensors } from '../../src/io/safetensors.js';
import type { NamedTensor, StateDict } from '../../src/io/stateDict.js';
import { rng, uniform, CheckFailure } from './util.js';

/** Everything the cases act on, built once by {@link createBadInputContext}. */
export interface BadInputContext {
  gpu: Gpu;
  /**
   * Kernel operands (never written by a valid probe: bad calls that name them as `out` must leave them as they are).
   */
  t: Record<string, Tensor>;
  lstm: LSTM;
  gru: GRU;
  rnn: RNN;
  x: { lstm: Tensor; gru: Tensor; rnn: Tensor };
  stepper: RecurrentStepper;
  /**
   * A 1-layer LSTM (inputSize 1, hiddenSize 64) and an input of seqLen·batch rows whose 4·64-wide projection is past
   * the binding limit.
   */
  wide: { lstm: LSTM; x: Tensor };
  mha: MultiHeadAttention;
  mq: Tensor;
  mkv: Tensor;
  /** A MultiHeadAttention (E 4, 1 head) and an input [maxComputeWorkgroupsPerDimension + 1, 1, 4]. */
  mhaBig: { layer: MultiHeadAttention; x: Tensor };
  lm: SequenceModel;
  lmBatch: Batch;
  /** A value model (GRU, MSE, many-to-one), never configured for training. */
  reg: SequenceModel;
  regBatch: Batch;
  /** A token model with 4096 classes: a long batch's logits do not fit one binding. */
  wideLm: SequenceModel;
  s2s: Seq2Seq;
  s2sBatch: Seq2SeqBatch;
  attnPlan: RnnAttentionPlan;
  /** The LSTM's state dict as a safetensors file. */
  lstmFile: Uint8Array;
  /** The language model's state dict as a safetensors file. */
  lmFile: Uint8Array;
  /** Checkpoints (parameters + optimizer state) of the language model and of the 4096-class one. */
  lmCheckpoint: Uint8Array;
  wideCheckpoint: Uint8Array;
  destroy(): void;
}

/** What a subject's weights are and what one valid call of it returns, as flat arrays compared bit for bit. */
interface Subject {
  state(c: BadInputContext): Promise<ArrayLike<number>[]>;
  probe(c: BadInputContext): Promise<ArrayLike<number>[]>;
}

export interface BadCase {
  /** The public entry point, e.g. 'LSTM.forward' (the report counts cases per entry point). */
  entry: string;
  /** What is wrong. */
  what: string;
  /** Whose weights and valid call are checked before and after. */
  subject: keyof typeof SUBJECTS;
  /** The error must be an instance of this class (default ArgumentError, of which ShapeError is one)… */
  error?: new (...args: never[]) => Error;
  /** …and its message must match (the argument's name and, where relevant, the expected shape or the limit). */
  message: RegExp;
  /** GPU arguments of the call, made (and destroyed) outside the measured call. */
  prepare?(c: BadInputContext): Record<string, Tensor>;
  run(c: BadInputContext, a: Record<string, Tensor>): unknown;
}

export const LM_OPTIONS = {
  cell: 'lstm',
  vocabSize: 11,
  embeddingDim: 4,
  hiddenSize: 6,
  numLayers: 2,
  outputSize: 11,
  mode: 'manyToMany',
  loss: 'crossEntropy',
  seed: 3,
} as const;
export const LM_TRAIN: { optimizer: OptimizerOptions } = { optimizer: { kind: 'adam', lr: 0.01, clipNorm: 1 } };
export const S2S_OPTIONS = {
  cell: 'gru',
  srcVocab: 9,
  tgtVocab: 8,
  embeddingDim: 4,
  hiddenSize: 6,
  attention: 'general',
  bosToken: 1,
  eosToken: 2,
  padToken: 0,
  seed: 5,
} as const;
export const S2S_TRAIN: { optimizer: OptimizerOptions } = { optimizer: { kind: 'sgd', lr: 0.1, momentum: 0.9 } };

async function readAll(ts: Tensor[]): Promise<Float32Array[]> {
  const out = [];
  for (const t of ts) out.push(await t.read());
  for (const t of ts) t.destroy();
  return out;
}

async function dictValues(d: Promise<Record<string, NamedTensor>>): Promise<Float32Array[]> {
  return Object.values(await d).map((v) => v.data);
}

async function withOptimizer(model: SequenceModel | Seq2Seq, values: Float32Array[]): Promise<ArrayLike<number>[]> {
  const o = model.optimizerState;
  if (!o) return values;
  const s = await o.readState();
  return [...values, [s.step, o.lr], ...Object.values(s.buffers)];
}

const SUBJECTS = {
  none: { state: async () => [], probe: async () => [] },
  kernels: {
    state: async (c: BadInputContext) => Promise.all(Object.values(c.t).map((t) => t.read())),
    probe: async ({ gpu, t }: BadInputContext) => {
      const { output, lse } = scaledDotProductAttention(gpu, t.q, t.k, t.k, { causal: true });
      const ce = crossEntropy(gpu, t.a34, [1, 3, 0]);
      return readAll([
        matmul(gpu, t.a34, t.b45, { bias: t.v5 }),
        softmax(gpu, t.a34),
        output,
        lse,
        ce.loss,
        ce.dLogits,
        embedding(gpu, t.w64, [5, 0, 2]),
      ]);
    },
  },
  lstm: {
    state: (c: BadInputContext) => dictValues(c.lstm.stateDict()),
    probe: async (c: BadInputContext) => {
      const { output, hN, cN } = c.lstm.forward(c.x.lstm);
      return readAll([output, hN, cN!]);
    },
  },
  gru: {
    state: (c: BadInputContext) => dictValues(c.gru.stateDict()),
    probe: async (c: BadInputContext) => {
      const { output, hN } = c.gru.forward(c.x.gru, { lengths: [3, 1] });
      return readAll([output, hN]);
    },
  },
  rnn: {
    state: (c: BadInputContext) => dictValues(c.rnn.stateDict()),
    probe: async (c: BadInputContext) => {
      const { output, hN } = c.rnn.forward(c.x.rnn);
      const h = c.stepper.state.h; // the stepper's state is part of what must not change
      return [...(await readAll([output, hN])), await h.read()];
    },
  },
  wide: {
    state: (c: BadInputContext) => dictValues(c.wide.lstm.stateDict()),
    probe: async (c: BadInputContext) => {
      const x = Tensor.from(c.gpu, [0.5, -1, 2], [3, 1, 1]);
      const { output, hN, cN } = c.wide.lstm.forward(x);
      x.destroy();
      return readAll([output, hN, cN!]);
    },
  },
  mhaBig: {
    state: (c: BadInputContext) => dictValues(c.mhaBig.layer.stateDict()),
    probe: async (c: BadInputContext) => {
      const x = Tensor.from(c.gpu, [1, -2, 3, 0.5, 2, 1, -1, 0], [2, 1, 4]);
      const y = c.mhaBig.layer.forward(x, x, x);
      x.destroy();
      return readAll([y]);
    },
  },
  mha: {
    state: (c: BadInputContext) => dictValues(c.mha.stateDict()),
    probe: async (c: BadInputContext) => readAll([c.mha.forward(c.mq, c.mkv, c.mkv)]),
  },
  lm: {
    state: async (c: BadInputContext) => withOptimizer(c.lm, await dictValues(c.lm.stateDict())),
    probe: async (c: BadInputContext) => [
      [await c.lm.evaluate(c.lmBatch)],
      await c.lm.predict(c.lmBatch.inputs, c.lmBatch.seqLen, c.lmBatch.batch),
      await c.lm.generate([1, 2], 3, { temperature: 0 }),
    ],
  },
  reg: {
    state: (c: BadInputContext) => dictValues(c.reg.stateDict()),
    probe: async (c: BadInputContext) => [
      [await c.reg.evaluate(c.regBatch)],
      await c.reg.predict(c.regBatch.inputs, c.regBatch.seqLen, c.regBatch.batch),
    ],
  },
  wideLm: {
    state: (c: BadInputContext) => dictValues(c.wideLm.stateDict()),
    probe: async (c: BadInputContext) => [await c.wideLm.predict([1, 2, 3, 4], 2, 2)],
  },
  s2s: {
    state: async (c: BadInputContext) => withOptimizer(c.s2s, await dictValues(c.s2s.stateDict())),
    probe: async (c: BadInputContext) => {
      const g = await c.s2s.greedyDecode(c.s2sBatch.src, { maxLen: 4 });
      const b = await c.s2s.beamSearch(c.s2sBatch.src, { beamWidth: 2, maxLen: 3 });
      return [
        [await c.s2s.evaluate(c.s2sBatch)],
        g.tokens.flat(),
        (g.attention ?? []).flat(2) as number[],
        b.tokens.flat(),
        b.scores ?? [],
      ];
    },
  },
} satisfies Record<string, Subject>;

/** Builds the subjects (small layers and models, seeded) and the operands of the kernel cases. */
export async function createBadInputContext(gpu: Gpu): Promise<BadInputContext> {
  const rand = rng(2024);
  const T = (shape: number[]) =>
    Tensor.from(
      gpu,
      uniform(
        rand,
        shape.reduce((a, b) => a * b, 1),
      ),
      shape,
    );
  const t = {
    a34: T([3, 4]),
    b45: T([4, 5]),
    a234: T([2, 3, 4]),
    b345: T([3, 4, 5]),
    v4: T([4]),
    v5: T([5]),
    o35: T([3, 5]),
    o34: T([3, 4]),
    o35b: T([3, 5]),
    q: T([1, 2, 3, 4]),
    k: T([1, 2, 5, 4]),
    k6: T([1, 2, 5, 6]),
    m14: T([1, 4]),
    lse: T([1, 2, 3]),
    lseBad: T([1, 2, 4]),
    w64: T([6, 4]),
    dY34: T([3, 4]),
    big: T([16]),
  };
  const lstm = new LSTM(gpu, { inputSize: 3, hiddenSize: 5, numLayers: 2, bidirectional: true, seed: 1 });
  const gru = new GRU(gpu, { inputSize: 2, hiddenSize: 3, batchFirst: true, seed: 2 });
  const rnn = new RNN(gpu, { inputSize: 2, hiddenSize: 4, nonlinearity: 'relu', seed: 3 });
  const x = { lstm: T([4, 2, 3]), gru: T([2, 3, 2]), rnn: T([3, 2, 2]) };
  const stepper = rnn.createStepper(2);
  const sx = T([2, 2]);
  stepper.step(sx).destroy(); // a non-zero state
  sx.destroy();
  // Rows whose [rows, 4·64] input projection is past one binding, with a [rows, 1] input (1/256 of it).
  const wideLstm = new LSTM(gpu, { inputSize: 1, hiddenSize: 64, seed: 4 });
  const rows = Math.floor(gpu.limits.maxStorageBufferBindingSize / (4 * 64 * 4)) + 1;
  const wideB = 1024;
  const wideX = Tensor.empty(gpu, [Math.ceil(rows / wideB), wideB, 1]);
  const mha = new MultiHeadAttention(gpu, { embedDim: 8, numHeads: 2, seed: 6 });
  const mq = T([2, 3, 8]);
  const mkv = T([2, 5, 8]);
  const mhaSmall = new MultiHeadAttention(gpu, { embedDim: 4, numHeads: 1, seed: 7 });
  const mhaX = Tensor.empty(gpu, [gpu.limits.maxComputeWorkgroupsPerDimension + 1, 1, 4]);
  const lm = new SequenceModel(gpu, { ...LM_OPTIONS });
  lm.configureTraining(LM_TRAIN);
  const lmBatch: Batch = {
    inputs: Int32Array.from([1, 2, 3, 4, 5, 6, 7, 8]),
    targets: Int32Array.from([2, 3, 4, 5, 6, 7, 8, 9]),
    seqLen: 4,
    batch: 2,
  };
  const reg = new SequenceModel(gpu, {
    cell: 'gru',
    inputSize: 3,
    hiddenSize: 4,
    outputSize: 2,
    mode: 'manyToOne',
    loss: 'mse',
    seed: 8,
  });
  const regBatch: Batch = { inputs: uniform(rand, 3 * 2 * 3), targets: uniform(rand, 2 * 2), seqLen: 3, batch: 2 };
  const wideLm = new SequenceModel(gpu, {
    cell: 'rnn',
    vocabSize: 5,
    embeddingDim: 2,
    hiddenSize: 2,
    outputSize: 4096,
    mode: 'manyToMany',
    loss: 'crossEntropy',
    seed: 9,
  });
  wideLm.configureTraining({ optimizer: { kind: 'sgd', lr: 0 } });
  const s2s = new Seq2Seq(gpu, { ...S2S_OPTIONS });
  s2s.configureTraining(S2S_TRAIN);
  const s2sBatch: Seq2SeqBatch = {
    src: [
      [3, 4, 5],
      [6, 7],
    ],
    tgt: [[5, 4, 3], [7]],
  };
  const attnPlan = new RnnAttentionPlan(gpu, {
    score: 'dot',
    batch: 2,
    seqLenQ: 3,
    seqLenS: 4,
    queryDim: 5,
    keyDim: 5,
  });
  const lstmFile = writeSafetensors(await lstm.stateDict());
  const lmFile = writeSafetensors(await lm.stateDict());
  const lmCheckpoint = await lm.saveCheckpoint();
  const wideCheckpoint = await wideLm.saveCheckpoint();
  return {
    gpu,
    t,
    lstm,
    gru,
    rnn,
    x,
    stepper,
    wide: { lstm: wideLstm, x: wideX },
    mha,
    mq,
    mkv,
    mhaBig: { layer: mhaSmall, x: mhaX },
    lm,
    lmBatch,
    reg,
    regBatch,
    wideLm,
    s2s,
    s2sBatch,
    attnPlan,
    lstmFile,
    lmFile,
    lmCheckpoint,
    wideCheckpoint,
    destroy() {
      for (const v of [...Object.values(t), ...Object.values(x), wideX, mq, mkv, mhaX]) v.destroy();
      stepper.destroy();
      for (const m of [lstm, gru, rnn, wideLstm, mha, mhaSmall, lm, reg, wideLm, s2s, attnPlan]) m.destroy();
    },
  };
}

/** Bit patterns of f32 values (NaN-safe equality). */
function bits(xs: ArrayLike<number>[]): Uint32Array[] {
  return xs.map((x) => new Uint32Array(Float32Array.from(x).buffer));
}

function sameBits(what: string, before: ArrayLike<number>[], after: ArrayLike<number>[]): void {
  const a = bits(before);
  const b = bits(after);
  if (a.length !== b.length) throw new CheckFailure(`${what}: ${a.length} arrays before, ${b.length} after`);
  a.forEach((x, i) => {
    if (x.length !== b[i].length)
      throw new CheckFailure(`${what}: array ${i} has ${x.length} values before, ${b[i].length} after`);
    for (let j = 0; j < x.length; j++) {
      if (x[j] !== b[i][j])
        throw new CheckFailure(
          `${what}: array ${i}, element ${j} changed ` +
            `from ${new Float32Array(x.buffer)[j]} to ${new Float32Array(b[i].buffer)[j]}`,
        );
    }
  });
}

/**
 * Runs one case: the call must throw (or reject) with `c.error` (ArgumentError by default) and a
 * message matching `c.message`; no GPU buffer may have been created (on the device) or taken from the pool, no GPU
 * error
 * raised; the subject's state and a valid call's result must be bit for bit what they were.
 * Returns the error's message.
 */
export async function runBadCase(ctx: BadInputContext, c: BadCase): Promise<string> {
  const subject: Subject = SUBJECTS[c.subject];
  const { gpu } = ctx;
  const args = c.prepare?.(ctx) ?? {};
  const state0 = await subject.state(ctx);
  const probe0 = await subject.probe(ctx);
  await gpu.sync();
  const mem0 = gpu.memory();
  const host0 = hostState(ctx);
  let error: unknown = null;
  try {
    await c.run(ctx, args);
  } catch (e) {
    error = e;
  }
  const mem1 = gpu.memory();
  const host1 = hostState(ctx);
  const label = `${c.entry}: ${c.what}`;
  if (error === null) throw new CheckFailure(`${label}: did not throw`);
  const cls = c.error ?? ArgumentError;
  if (!(error instanceof cls))
    throw new CheckFailure(
      `${label}: threw ${(error as Error)?.name ?? typeof error} instead ` +
        `of ${cls.name}: ${(error as Error)?.message ?? String(error)}`,
    );
  const message = (error as Error).message;
  if (!c.message.test(message))
    throw new CheckFailure(`${label}: message ${JSON.stringify(message)} does not match ${c.message}`);
  if (mem1.created !== mem0.created || mem1.pool.inUse !== mem0.pool.inUse) {
    throw new CheckFailure(
      `${label}: the failed call created ${mem1.created - mem0.created} GPU buffer(s) ` +
        `(${mem1.liveBytes - mem0.liveBytes} bytes) and ` +
        `left ${mem1.pool.inUse - mem0.pool.inUse} pool buffer(s) in use`,
    );
  }
  if (host1 !== host0)
    throw new CheckFailure(
      `${c.entry}: ${c.what}: the failed call changed host state (counters, RNG, plan ` +
        `caches, submits):\n before ${host0}\n after  ${host1}`,
    );
  await gpu.sync(); // throws a GpuError listing any validation error the call caused
  sameBits(`${label}: ${c.subject} state after the failed call`, state0, await subject.state(ctx));
  sameBits(`${label}: ${c.subject} valid call after the failed call`, probe0, await subject.probe(ctx));
  for (const t of Object.values(args)) t.destroy();
  return message;
}

/**
 * Every host-side counter and cache of every subject — step counts, optimizer step and lr, the
 * teacher-forcing coin, dropout counters, plan-cache keys in LRU order, lastRun — as one string: a rejected call must
 * leave it unchanged (with the weights and
 * moments, compared on the GPU: together the state hash of issue 14). (Submits are not counted:
 * a case may read state back inside `run`; the memory check above catches work that allocates.)
 */
function hostState(c: BadInputContext): string {
  return JSON.stringify({
    lstm: c.lstm.debugState(),
    gru: c.gru.debugState(),
    rnn: c.rnn.debugState(),
    wide: c.wide.lstm.debugState(),
    mha: c.mha.debugState(),
    mhaBig: c.mhaBig.layer.debugState(),
    lm: c.lm.debugState(),
    reg: c.reg.debugState(),
    wideLm: c.wideLm.debugState(),
    s2s: c.s2s.debugState(),
    optimizer: c.lm.optimizerState && [c.lm.optimizerState.step, c.lm.optimizerState.lr],
  });
}

/** A file with `n` bytes of JSON header (padded) and the given data bytes. */
function safetensorsFile(header: unknown, data: Uint8Array = new Uint8Array(0), claimedLength?: number): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(claimedLength ?? json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const any = <T>(v: unknown) => v as T;
const dictOf = async (m: { stateDict(): Promise<Record<string, NamedTensor>> }) => (await m.stateDict()) as StateDict;
const lstmDict = async (c: BadInputContext, edit: (d: Record<string, NamedTensor>) => void) => {
  const d = await c.lstm.stateDict();
  edit(d);
  return d;
};
const lmBatch = (c: BadInputContext, edit: Partial<Batch>): Batch => ({ ...c.lmBatch, ...edit });
const huge = (gpu: Gpu) => gpu.limits.maxStorageBufferBindingSize;

export const badInputCases: BadCase[] = [
  // ---- Tensor creation ----
  {
    entry: 'Tensor.from',
    subject: 'kernels',
    what: 'data length differs from the shape',
    message: /data has 3 elements but shape \[2, 2\] needs 4/,
    run: ({ gpu }) => Tensor.from(gpu, [1, 2, 3], [2, 2]),
  },
  {
    entry: 'Tensor.empty',
    subject: 'kernels',
    what: 'a zero size',
    message: /every size must be a positive integer, got shape \[2, 0\]/,
    run: ({ gpu }) => Tensor.empty(gpu, [2, 0]),
  },
  {
    entry: 'Tensor.zeros',
    subject: 'kernels',
    what: 'a negative size',
    message: /positive integer, got shape \[-3\]/,
    run: ({ gpu }) => Tensor.zeros(gpu, [-3]),
  },
  {
    entry: 'Tensor.empty',
    subject: 'kernels',
    what: 'a non-integer size',
    message: /positive integer, got shape \[2\.5, 2\]/,
    run: ({ gpu }) => Tensor.empty(gpu, [2.5, 2]),
  },
  {
    entry: 'Tensor.empty',
    subject: 'kernels',
    what: 'a shape that is not an array',
    message: /shape must be an array of sizes, got 7/,
    run: ({ gpu }) => Tensor.empty(gpu, any(7)),
  },
  {
    entry: 'Tensor.empty',
    subject: 'kernels',
    what: 'one element past maxStorageBufferBindingSize (nothing allocated)',
    message: /needs \d+ bytes, more than this device's maxStorageBufferBindingSize \(\d+\)/,
    run: ({ gpu }) => Tensor.empty(gpu, [huge(gpu) / 4 + 1]),
  },
  {
    entry: 'Tensor.from',
    subject: 'kernels',
    what: 'a string as data',
    message: /data must be numbers .*got string/,
    run: ({ gpu }) => Tensor.from(gpu, any('abcd'), [4]),
  },
  {
    entry: 'Tensor.from',
    subject: 'kernels',
    what: 'a string element in the data',
    message: /data\[2\] is '3', not a number/,
    run: ({ gpu }) => Tensor.from(gpu, any([1, 2, '3', 4]), [4]),
  },
  {
    entry: 'Tensor.write',
    subject: 'kernels',
    what: 'data of the wrong length into an existing tensor',
    message: /write: data has 2 elements, tensor \[3, 4\] has 12/,
    run: ({ t }) => t.o34.write([1, 2]),
  },

  // ---- matmul / gemmDispatches ----
  {
    entry: 'matmul',
    subject: 'kernels',
    what: 'rank-1 a',
    message: /argument 'a' has shape \[4\] \(rank 1\), expected rank 2 or 3/,
    run: ({ gpu, t }) => matmul(gpu, t.v4, t.b45),
  },
  {
    entry: 'matmul',
    subject: 'kernels',
    what: 'inner dimensions differ',
    message: /inner dimensions differ: op\(a\) is 3×4 .*op\(b\) is 3×4/,
    run: ({ gpu, t }) => matmul(gpu, t.a34, t.a34),
  },
  {
    entry: 'matmul',
    subject: 'kernels',
    what: 'batch sizes differ',
    message: /batch sizes differ: a \[2, 3, 4\] vs b \[3, 4, 5\]/,
    run: ({ gpu, t }) => matmul(gpu, t.a234, t.b345),
  },
  {
    entry: 'matmul',
    subject: 'kernels',
    what: 'bias of the wrong length',
    message: /argument 'bias' has shape \[4\], expected \[5\]/,
    run: ({ gpu, t }) => matmul(gpu, t.a34, t.b45, { bias: t.v4 }),
  },
  {
    entry: 'matmul',
    subject: 'kernels',
    what: "beta without 'out'",
    message: /'beta' accumulates into 'out', which was not given/,
    run: ({ gpu, t }) => matmul(gpu, t.a34, t.b45, { beta: 1 }),
  },
  {
    entry: 'matmul',
    subject: 'kernels',
    what: "'out' of the wrong shape (left unchanged)",
    message: /argument 'out' has shape \[3, 4\], expected \[3, 5\]/,
    run: ({ gpu, t }) => matmul(gpu, t.a34, t.b45, { out: t.o34 }),
  },
  {
    entry: 'matmul',
    subject: 'kernels',
    what: 'alpha NaN (out left unchanged)',
    message: /alpha.* must be finite.*NaN/,
    run: ({ gpu, t }) => matmul(gpu, t.a34, t.b45, { alpha: NaN, out: t.o35 }),
  },
  {
    entry: 'matmul',
    subject: 'kernels',
    what: 'beta Infinity',
    message: /beta.*must be finite.*Infinity/,
    run: ({ gpu, t }) => matmul(gpu, t.a34, t.b45, { beta: Infinity, out: t.o35 }),
  },
  {
    entry: 'matmul',
    subject: 'kernels',
    what: 'a Float32Array instead of a Tensor',
    message: /argument 'b' must be a Tensor/,
    run: ({ gpu, t }) => matmul(gpu, t.a34, any(new Float32Array(20))),
  },
  {
    entry: 'matmul',
    subject: 'kernels',
    what: 'a destroyed tensor',
    message: /argument 'a' was destroyed/,
    prepare: ({ gpu }) => {
      const a = Tensor.zeros(gpu, [3, 4]);
      a.destroy();
      return { a };
    },
    run: ({ gpu }, { a }) => matmul(gpu, a, a),
  },
  {
    entry: 'gemmDispatches',
    subject: 'kernels',
    what: 'a negative M',
    message: /M must be a positive integer, got -1/,
    run: ({ gpu, t }) =>
      gemmDispatches(gpu, {
        M: -1,
        N: 5,
        K: 4,
        a: { buffer: t.a34.buffer, ld: 4 },
        b: { buffer: t.b45.buffer, ld: 5 },
        c: { buffer: t.o35.buffer, ld: 5 },
      }),
  },
  {
    entry: 'gemmDispatches',
    subject: 'kernels',
    what: 'a view past the end of its buffer',
    message: /a spans elements up to 24, but its buffer holds 12/,
    run: ({ gpu, t }) =>
      gemmDispatches(gpu, {
        M: 6,
        N: 5,
        K: 4,
        a: { buffer: t.a34.buffer, ld: 4 },
        b: { buffer: t.b45.buffer, ld: 5 },
        c: { buffer: t.o35.buffer, ld: 5 },
      }),
  },
  {
    entry: 'gemmDispatches',
    subject: 'kernels',
    what: 'a tile past the workgroup storage limit',
    message: /needs 65536 bytes of workgroup storage \(maxComputeWorkgroupStorageSize \d+\)/,
    run: ({ gpu, t }) =>
      gemmDispatches(gpu, {
        M: 3,
        N: 5,
        K: 4,
        a: { buffer: t.a34.buffer, ld: 4 },
        b: { buffer: t.b45.buffer, ld: 5 },
        c: { buffer: t.o35.buffer, ld: 5 },
        tile: { variant: 'workgroup', wgX: 16, wgY: 16, tileK: 128 },
      }),
  },

  // ---- softmax, elementwise, biasAct ----
  {
    entry: 'softmax',
    subject: 'kernels',
    what: "'out' is 'x'",
    message: /'out' must not be 'x'/,
    run: ({ gpu, t }) => softmax(gpu, t.a34, { out: t.a34 }),
  },
  {
    entry: 'softmax',
    subject: 'kernels',
    what: "'out' of the wrong shape",
    message: /softmax: argument 'out' has shape \[3, 5\], expected \[3, 4\]/,
    run: ({ gpu, t }) => softmax(gpu, t.a34, { out: t.o35 }),
  },
  {
    entry: 'add',
    subject: 'kernels',
    what: 'operands of different shapes',
    message: /add: argument 'b' has shape \[3, 5\], expected \[3, 4\]/,
    run: ({ gpu, t }) => add(gpu, t.a34, t.o35),
  },
  {
    entry: 'scale',
    subject: 'kernels',
    what: 'alpha NaN',
    message: /scale: 'alpha' must be finite, got NaN/,
    run: ({ gpu, t }) => scale(gpu, t.a34, NaN),
  },
  {
    entry: 'tanhGrad',
    subject: 'kernels',
    what: 'dy of another shape than y',
    message: /tanhGrad: argument 'dy' has shape \[3, 5\], expected \[3, 4\]/,
    run: ({ gpu, t }) => tanhGrad(gpu, t.a34, t.o35),
  },
  {
    entry: 'elementwiseDispatch',
    subject: 'kernels',
    what: 'an unknown op',
    message: /unknown op 'swish'/,
    run: ({ gpu, t }) =>
      elementwiseDispatch(gpu, {
        op: any<ElementwiseOp>('swish'),
        n: 12,
        x: { buffer: t.a34.buffer },
        y: { buffer: t.o34.buffer },
      }),
  },
  {
    entry: 'biasAct',
    subject: 'kernels',
    what: 'b of the wrong length',
    message: /biasAct: argument 'b' has shape \[5\], expected \[4\]/,
    run: ({ gpu, t }) => biasAct(gpu, t.a34, t.v5, 'tanh'),
  },
  {
    entry: 'biasAct',
    subject: 'kernels',
    what: 'an unknown activation',
    message: /unknown activation 'gelu'; use identity, sigmoid, tanh, relu/,
    run: ({ gpu, t }) => biasAct(gpu, t.a34, t.v4, any<Activation>('gelu')),
  },
  {
    entry: 'biasAct',
    subject: 'kernels',
    what: "'out' is the input",
    message: /'out' must not be an input/,
    run: ({ gpu, t }) => biasAct(gpu, t.a34, t.v4, 'relu', t.a34),
  },

  // ---- losses, reductions, embedding, dropout ----
  {
    entry: 'crossEntropy',
    subject: 'kernels',
    what: 'one target too few',
    message: /argument 'targets' has 2 elements, expected 3 \(one per row of logits \[3, 4\]\)/,
    run: ({ gpu, t }) => crossEntropy(gpu, t.a34, [0, 1]),
  },
  {
    entry: 'crossEntropy',
    subject: 'kernels',
    what: 'a class id out of range',
    message: /targets\[1\] = 7 is not a class in \[0, 4\)/,
    run: ({ gpu, t }) => crossEntropy(gpu, t.a34, [0, 7, 1]),
  },
  {
    entry: 'crossEntropy',
    subject: 'kernels',
    what: 'a non-integer class id (Float64Array)',
    message: /targets\[0\] = 1\.5 is not a class/,
    run: ({ gpu, t }) => crossEntropy(gpu, t.a34, Float64Array.from([1.5, 0, 1])),
  },
  {
    entry: 'crossEntropy',
    subject: 'kernels',
    what: 'a non-integer ignoreIndex',
    message: /ignoreIndex must be an i32, got 0\.5/,
    run: ({ gpu, t }) => crossEntropy(gpu, t.a34, [0, 1, 2], { ignoreIndex: 0.5 }),
  },
  {
    entry: 'crossEntropy',
    subject: 'kernels',
    what: 'rank-1 logits',
    message: /argument 'logits' has shape \[4\] \(rank 1\)/,
    run: ({ gpu, t }) => crossEntropy(gpu, t.v4, [0]),
  },
  {
    entry: 'mse',
    subject: 'kernels',
    what: 'target of another shape',
    message: /mse: argument 'target' has shape \[3, 5\], expected \[3, 4\]/,
    run: ({ gpu, t }) => mse(gpu, t.a34, t.o35),
  },
  {
    entry: 'reduceSum',
    subject: 'kernels',
    what: 'alpha Infinity',
    message: /alpha must be finite, got Infinity/,
    run: ({ gpu, t }) => reduceSum(gpu, t.a34, { alpha: Infinity }),
  },
  {
    entry: 'embedding',
    subject: 'kernels',
    what: 'an index ≥ vocab',
    message: /indices\[2\] = 9 is not in \[0, 6\)/,
    run: ({ gpu, t }) => embedding(gpu, t.w64, [0, 1, 9]),
  },
  {
    entry: 'embedding',
    subject: 'kernels',
    what: 'a non-integer index (Float64Array)',
    message: /indices\[1\] = 1\.5 is not in \[0, 6\)/,
    run: ({ gpu, t }) => embedding(gpu, t.w64, Float64Array.from([0, 1.5])),
  },
  {
    entry: 'embedding',
    subject: 'kernels',
    what: 'a string of ids',
    message: /indices\[0\] = a is not in \[0, 6\)/,
    run: ({ gpu, t }) => embedding(gpu, t.w64, any('ab')),
  },
  {
    entry: 'embedding',
    subject: 'kernels',
    what: 'no indices',
    message: /argument 'indices' must be a non-empty array of integers/,
    run: ({ gpu, t }) => embedding(gpu, t.w64, []),
  },
  {
    entry: 'embedding',
    subject: 'kernels',
    what: 'a rank-1 table',
    message: /argument 'weight' has shape \[4\] \(rank 1\), expected rank 2/,
    run: ({ gpu, t }) => embedding(gpu, t.v4, [0]),
  },
  {
    entry: 'embeddingBackward',
    subject: 'kernels',
    what: 'vocab 0',
    message: /vocab must be a positive integer, got 0/,
    run: ({ gpu, t }) => embeddingBackward(gpu, [0, 1, 2], t.dY34, 0),
  },
  {
    entry: 'embeddingBackward',
    subject: 'kernels',
    what: 'dY rows differ from the indices',
    message: /argument 'dY' has shape \[3, 4\], expected \[2, E\]/,
    run: ({ gpu, t }) => embeddingBackward(gpu, [0, 1], t.dY34, 6),
  },
  {
    entry: 'Dropout',
    subject: 'kernels',
    what: 'p > 1',
    message: /p must be a probability in \[0, 1\], got 1\.5/,
    run: ({ gpu }) => new Dropout(gpu, { p: 1.5 }),
  },
  {
    entry: 'Dropout',
    subject: 'kernels',
    what: 'p NaN',
    message: /p must be a probability in \[0, 1\], got NaN/,
    run: ({ gpu }) => new Dropout(gpu, { p: NaN }),
  },
  {
    entry: 'Dropout',
    subject: 'kernels',
    what: 'a negative seed',
    message: /seed must be an integer in \[0, 2³²\), got -1/,
    run: ({ gpu }) => new Dropout(gpu, { p: 0.5, seed: -1 }),
  },

  // ---- fused attention ----
  {
    entry: 'scaledDotProductAttention',
    subject: 'kernels',
    what: 'k with another head size',
    message: /argument 'k' has shape \[1, 2, 5, 6\]; expected \[1, 2, seqLenK, 4\]/,
    run: ({ gpu, t }) => scaledDotProductAttention(gpu, t.q, t.k6, t.k6),
  },
  {
    entry: 'scaledDotProductAttention',
    subject: 'kernels',
    what: 'headDim 257',
    message: /headDim 257 exceeds the fused attention kernels' limit 256/,
    prepare: ({ gpu }) => ({ x: Tensor.zeros(gpu, [1, 1, 2, 257]) }),
    run: ({ gpu }, { x }) => scaledDotProductAttention(gpu, x, x, x),
  },
  {
    entry: 'scaledDotProductAttention',
    subject: 'kernels',
    what: 'a causal mask with seqLenQ > seqLenK',
    message: /causal mask needs seqLenQ ≤ seqLenK, got 5 > 3/,
    run: ({ gpu, t }) => scaledDotProductAttention(gpu, t.k, t.q, t.q, { causal: true }),
  },
  {
    entry: 'scaledDotProductAttention',
    subject: 'kernels',
    what: 'a key padding mask of the wrong length',
    message: /'keyPaddingMask' has shape \[1, 4\]; expected \[1, 5\]/,
    run: ({ gpu, t }) => scaledDotProductAttention(gpu, t.q, t.k, t.k, { keyPaddingMask: t.m14 }),
  },
  {
    entry: 'scaledDotProductAttention',
    subject: 'kernels',
    what: 'scale NaN',
    message: /scale must be a finite number, got NaN/,
    run: ({ gpu, t }) => scaledDotProductAttention(gpu, t.q, t.k, t.k, { scale: NaN }),
  },
  {
    entry: 'scaledDotProductAttention',
    subject: 'kernels',
    what: 'batch past maxComputeWorkgroupsPerDimension',
    message: /batch \d+ .*maxComputeWorkgroupsPerDimension \(\d+\)/,
    prepare: ({ gpu }) => ({ x: Tensor.zeros(gpu, [gpu.limits.maxComputeWorkgroupsPerDimension + 1, 1, 1, 1]) }),
    run: ({ gpu }, { x }) => scaledDotProductAttention(gpu, x, x, x),
  },
  {
    entry: 'scaledDotProductAttentionBackward',
    subject: 'kernels',
    what: 'lse of the wrong shape',
    message: /'lse' has shape \[1, 2, 4\], expected \[1, 2, 3\]/,
    run: ({ gpu, t }) => scaledDotProductAttentionBackward(gpu, t.q, t.k, t.k, t.q, t.lseBad, t.q),
  },
  {
    entry: 'scaledDotProductAttentionBackward',
    subject: 'kernels',
    what: 'dOutput of the wrong shape',
    message: /'dOutput' \[1, 2, 5, 4\] must have q's shape \[1, 2, 3, 4\]/,
    run: ({ gpu, t }) => scaledDotProductAttentionBackward(gpu, t.q, t.k, t.k, t.q, t.lse, t.k),
  },

  // ---- RNN attention, decoding kernels ----
  {
    entry: 'RnnAttentionPlan',
    subject: 'kernels',
    what: 'an unknown score',
    message: /score must be one of dot, general, additive, got 'cosine'/,
    run: ({ gpu }) =>
      new RnnAttentionPlan(gpu, {
        score: any<AttentionScore>('cosine'),
        batch: 1,
        seqLenQ: 1,
        seqLenS: 1,
        queryDim: 2,
        keyDim: 2,
      }),
  },
  {
    entry: 'RnnAttentionPlan',
    subject: 'kernels',
    what: 'dot score with queryDim ≠ keyDim',
    message: /dot score needs queryDim === keyDim, got queryDim 3 and keyDim 4/,
    run: ({ gpu }) =>
      new RnnAttentionPlan(gpu, { score: 'dot', batch: 1, seqLenQ: 1, seqLenS: 1, queryDim: 3, keyDim: 4 }),
  },
  {
    entry: 'RnnAttentionPlan',
    subject: 'kernels',
    what: 'additive score without attnDim',
    message: /attnDim must be a positive integer, got undefined \(the additive score needs attnDim\)/,
    run: ({ gpu }) =>
      new RnnAttentionPlan(gpu, { score: 'additive', batch: 1, seqLenQ: 1, seqLenS: 1, queryDim: 3, keyDim: 4 }),
  },
  {
    entry: 'RnnAttentionPlan.forwardDispatches',
    subject: 'kernels',
    what: "a 'query' view past its buffer",
    message: /'query' \[2, 3, 5\] .*spans 30 elements, but its buffer holds 16/,
    run: ({ attnPlan, t }) =>
      attnPlan.forwardDispatches({
        t0: 0,
        steps: 3,
        query: { buffer: t.big.buffer, strideBatch: 15, strideTime: 5 },
        keys: { buffer: t.o35.buffer, strideBatch: 20, strideTime: 5 },
        params: {},
        context: { buffer: t.o34.buffer, strideBatch: 15, strideTime: 5 },
        alpha: { buffer: t.o35b.buffer, strideBatch: 12, strideTime: 4 },
      }),
  },
  {
    entry: 'nextTokenDispatch',
    subject: 'kernels',
    what: 'logits row stride < vocab',
    message: /'logits' row stride ld must be an integer ≥ vocab \(5\), got 4/,
    run: ({ gpu, t }) =>
      nextTokenDispatch(gpu, {
        batch: 3,
        vocab: 5,
        logits: { buffer: t.o35.buffer, ld: 4 },
        next: { buffer: t.v4.buffer },
      }),
  },
  {
    entry: 'beamSearchStepDispatches',
    subject: 'kernels',
    what: 'beamWidth 17',
    message: /beamWidth must be an integer in \[1, 16\], got 17/,
    run: ({ gpu, t }) =>
      beamSearchStepDispatches(gpu, {
        batch: 1,
        beamWidth: 17,
        vocab: 5,
        step: 0,
        eosToken: 2,
        logits: { buffer: t.o35.buffer, ld: 5 },
        beamScore: t.v4.buffer,
        finished: t.v5.buffer,
        parents: t.a34.buffer,
        tokens: t.o34.buffer,
        next: t.big.buffer,
      }),
  },
  {
    entry: 'beamSearchStepDispatches',
    subject: 'kernels',
    what: 'eosToken ≥ vocab',
    message: /eosToken must be a token in \[0, 5\), got 5/,
    run: ({ gpu, t }) =>
      beamSearchStepDispatches(gpu, {
        batch: 1,
        beamWidth: 2,
        vocab: 5,
        step: 0,
        eosToken: 5,
        logits: { buffer: t.o35.buffer, ld: 5 },
        beamScore: t.v4.buffer,
        finished: t.v5.buffer,
        parents: t.a34.buffer,
        tokens: t.o34.buffer,
        next: t.big.buffer,
      }),
  },
  {
    entry: 'gatherBeamRowsDispatch',
    subject: 'kernels',
    what: "'src' smaller than groups·batch·k·width",
    message: /buffer 'src' holds 4 elements, needs 24 from offset 0/,
    run: ({ gpu, t }) =>
      gatherBeamRowsDispatch(gpu, {
        groups: 2,
        batch: 2,
        beamWidth: 2,
        width: 3,
        step: 0,
        parents: t.a34.buffer,
        src: t.v4.buffer,
        dst: t.big.buffer,
      }),
  },
  {
    entry: 'backtrackBeams',
    subject: 'none',
    what: "'parents' shorter than steps·batch·k",
    message: /'parents' has 3 elements, needs 8/,
    run: () =>
      backtrackBeams(new Int32Array(3), new Int32Array(8), new Float32Array(4), new Uint32Array(4), {
        steps: 2,
        batch: 2,
        beamWidth: 2,
        eosToken: 1,
      }),
  },

  // ---- RNN / LSTM / GRU ----
  {
    entry: 'LSTM',
    subject: 'lstm',
    what: 'hiddenSize 0',
    message: /LSTM: option 'hiddenSize' must be a positive integer, got 0/,
    run: ({ gpu }) => new LSTM(gpu, { inputSize: 3, hiddenSize: 0 }),
  },
  {
    entry: 'GRU',
    subject: 'gru',
    what: 'dropout 1',
    message: /GRU: dropout must be a probability in \[0, 1\), got 1/,
    run: ({ gpu }) => new GRU(gpu, { inputSize: 3, hiddenSize: 4, numLayers: 2, dropout: 1 }),
  },
  {
    entry: 'RNN',
    subject: 'rnn',
    what: "nonlinearity 'sigmoid'",
    message: /RNN: nonlinearity must be 'tanh' or 'relu', got 'sigmoid'/,
    run: ({ gpu }) => new RNN(gpu, { inputSize: 3, hiddenSize: 4, nonlinearity: any('sigmoid') }),
  },
  {
    entry: 'LSTM',
    subject: 'lstm',
    what: 'stepTile.bt 9',
    message: /stepTile\.bt \(batch rows per thread\) must be an integer in \[1, 8\], got 9/,
    run: ({ gpu }) => new LSTM(gpu, { inputSize: 3, hiddenSize: 4, stepTile: { bt: 9 } }),
  },
  {
    entry: 'LSTM',
    subject: 'lstm',
    what: 'a hiddenSize whose weights exceed maxStorageBufferBindingSize (nothing allocated)',
    message: /hiddenSize \d+.*needs \d+ bytes, more than this device's maxStorageBufferBindingSize \(\d+\)/,
    run: ({ gpu }) => new LSTM(gpu, { inputSize: 1, hiddenSize: Math.ceil(Math.sqrt(huge(gpu) / 16)) + 1 }),
  },
  {
    entry: 'LSTM.forward',
    subject: 'lstm',
    what: 'a rank-2 input',
    message: /LSTM\.forward: argument 'input' has shape \[4, 3\] \(rank 2\), expected rank 3/,
    prepare: ({ gpu }) => ({ x: Tensor.zeros(gpu, [4, 3]) }),
    run: ({ lstm }, { x }) => lstm.forward(x),
  },
  {
    entry: 'LSTM.forward',
    subject: 'lstm',
    what: 'the wrong inputSize',
    message: /argument 'input' has shape \[4, 2, 2\]: its last dimension must be inputSize=3/,
    prepare: ({ gpu }) => ({ x: Tensor.zeros(gpu, [4, 2, 2]) }),
    run: ({ lstm }, { x }) => lstm.forward(x),
  },
  {
    entry: 'LSTM.forward',
    subject: 'lstm',
    what: 'h0 of the wrong shape',
    message: /argument 'h0' has shape \[2, 2, 5\], expected \[4, 2, 5\]/,
    prepare: ({ gpu }) => ({ h0: Tensor.zeros(gpu, [2, 2, 5]) }),
    run: ({ lstm, x }, { h0 }) => lstm.forward(x.lstm, { h0 }),
  },
  {
    entry: 'LSTM.forward',
    subject: 'wide',
    what: 'seqLen·batch whose input projection exceeds maxStorageBufferBindingSize (nothing allocated)',
    message: new RegExp(
      String.raw`seqLen \d+ × batch 1024 needs the input projection .* bytes, more ` +
        String.raw`than this device's maxStorageBufferBindingSize \(\d+\)`,
    ),
    run: ({ wide }) => wide.lstm.forward(wide.x),
  },
  {
    entry: 'LSTM.forwardBackward',
    subject: 'lstm',
    what: 'dOutput of the wrong shape',
    message: /argument 'dOutput' has shape \[4, 2, 5\], expected \[4, 2, 10\]/,
    prepare: ({ gpu }) => ({ d: Tensor.zeros(gpu, [4, 2, 5]) }),
    run: ({ lstm, x }, { d }) => lstm.forwardBackward(x.lstm, {}, { dOutput: d }),
  },
  {
    entry: 'GRU.forward',
    subject: 'gru',
    what: 'c0 given to a GRU',
    message: /GRU\.forward: 'c0' is only for LSTM/,
    prepare: ({ gpu }) => ({ c0: Tensor.zeros(gpu, [1, 2, 3]) }),
    run: ({ gru, x }, { c0 }) => gru.forward(x.gru, { c0 }),
  },
  {
    entry: 'GRU.forward',
    subject: 'gru',
    what: 'a length past seqLen',
    message: /argument 'lengths' \[2\]: lengths\[1\] is 9, expected an integer in \[1, seqLen=3\]/,
    run: ({ gru, x }) => gru.forward(x.gru, { lengths: [2, 9] }),
  },
  {
    entry: 'GRU.forward',
    subject: 'gru',
    what: 'a non-integer length',
    message: /lengths\[0\] is 1\.5, expected an integer in \[1, seqLen=3\]/,
    run: ({ gru, x }) => gru.forward(x.gru, { lengths: [1.5, 2] }),
  },
  {
    entry: 'GRU.forward',
    subject: 'gru',
    what: 'one length per batch row missing',
    message: /argument 'lengths' has 1 entries: expected one per batch row \(2\)/,
    run: ({ gru, x }) => gru.forward(x.gru, { lengths: [3] }),
  },
  {
    entry: 'GRU.forwardBackward',
    subject: 'gru',
    what: 'dcN given to a GRU',
    message: /GRU\.forwardBackward: 'dcN' is only for LSTM/,
    prepare: ({ gpu }) => ({ d: Tensor.zeros(gpu, [1, 2, 3]) }),
    run: ({ gru, x }, { d }) => gru.forwardBackward(x.gru, {}, { dcN: d }),
  },
  {
    entry: 'RNN.createStepper',
    subject: 'rnn',
    what: 'batch 0',
    message: /createStepper: batch must be a positive integer, got 0/,
    run: ({ rnn }) => rnn.createStepper(0),
  },
  {
    entry: 'LSTM.createStepper',
    subject: 'lstm',
    what: 'a bidirectional layer',
    message: /createStepper: a bidirectional layer needs the whole sequence/,
    run: ({ lstm }) => lstm.createStepper(2),
  },
  {
    entry: 'RecurrentStepper.step',
    subject: 'rnn',
    what: 'x of the wrong shape (the stepper state is kept)',
    message: /step: argument 'x' has shape \[2, 3\], expected \[2, 2\]/,
    prepare: ({ gpu }) => ({ x: Tensor.zeros(gpu, [2, 3]) }),
    run: ({ stepper }, { x }) => stepper.step(x),
  },
  {
    entry: 'LSTM.loadStateDict',
    subject: 'lstm',
    what: 'a missing key',
    message: /state_dict is missing 'weight_hh_l1_reverse' \(expected shape \[20, 5\]\)/,
    run: async (c) => c.lstm.loadStateDict(await lstmDict(c, (d) => delete d.weight_hh_l1_reverse)),
  },
  {
    entry: 'LSTM.loadStateDict',
    subject: 'lstm',
    what: 'a wrong shape',
    message: /state_dict\['weight_ih_l0'\] has shape \[20, 4\], expected \[20, 3\]/,
    run: async (c) =>
      c.lstm.loadStateDict(await lstmDict(c, (d) => (d.weight_ih_l0 = { shape: [20, 4], data: new Float32Array(80) }))),
  },
  {
    entry: 'LSTM.loadStateDict',
    subject: 'lstm',
    what: 'an Infinity in the last key',
    message: /state_dict\['bias_hh_l1_reverse'\] holds Infinity at index 3: weights must be finite/,
    run: async (c) => c.lstm.loadStateDict(await lstmDict(c, (d) => (d.bias_hh_l1_reverse.data[3] = Infinity))),
  },
  {
    entry: 'LSTM.loadStateDict',
    subject: 'lstm',
    what: 'an unexpected key (strict)',
    message: /unexpected key\(s\) 'weight_ih_l2'/,
    run: async (c) => c.lstm.loadStateDict(await lstmDict(c, (d) => (d.weight_ih_l2 = d.weight_ih_l1))),
  },
  {
    entry: 'LSTM.loadStateDict',
    subject: 'lstm',
    what: 'PyTorch module names instead of the layer names',
    message: /state_dict is missing 'weight_ih_l0'/,
    run: async (c) =>
      c.lstm.loadStateDict(
        Object.fromEntries(Object.entries(await c.lstm.stateDict()).map(([k, v]) => [`lstm.${k}`, v])),
      ),
  },
  {
    entry: 'LSTM.loadStateDict',
    subject: 'lstm',
    what: 'a safetensors file cut 10 bytes short',
    message: /[sS]afetensors: (tensor )?'[\w.]+' ends at byte \d+, past the end of the file \(\d+\)(: truncated)?/,
    run: (c) => c.lstm.loadStateDict(parseSafetensors(c.lstmFile.slice(0, c.lstmFile.length - 10))),
  },

  // ---- MultiHeadAttention ----
  {
    entry: 'MultiHeadAttention',
    subject: 'mha',
    what: 'embedDim not divisible by numHeads',
    message: /embedDim \(10\) must be divisible by numHeads \(4\)/,
    run: ({ gpu }) => new MultiHeadAttention(gpu, { embedDim: 10, numHeads: 4 }),
  },
  {
    entry: 'MultiHeadAttention',
    subject: 'mha',
    what: 'headDim 258',
    message: /headDim = embedDim \/ numHeads = 258 exceeds 256/,
    run: ({ gpu }) => new MultiHeadAttention(gpu, { embedDim: 258, numHeads: 1 }),
  },
  {
    entry: 'MultiHeadAttention.forward',
    subject: 'mha',
    what: 'query of the wrong width',
    message: /argument 'query' has shape \[2, 3, 6\]: its last dimension must be embedDim=8/,
    prepare: ({ gpu }) => ({ q: Tensor.zeros(gpu, [2, 3, 6]) }),
    run: ({ mha, mkv }, { q }) => mha.forward(q, mkv, mkv),
  },
  {
    entry: 'MultiHeadAttention.forward',
    subject: 'mha',
    what: 'key of another batch',
    message: /argument 'key' has shape \[1, 5, 8\]; expected \[2, seqLenK, 8\]/,
    prepare: ({ gpu }) => ({ k: Tensor.zeros(gpu, [1, 5, 8]) }),
    run: ({ mha, mq }, { k }) => mha.forward(mq, k, k),
  },
  {
    entry: 'MultiHeadAttention.forward',
    subject: 'mha',
    what: 'a key padding mask of the wrong shape',
    message: /argument 'keyPaddingMask' has shape \[2, 4\], expected \[2, 5\]/,
    prepare: ({ gpu }) => ({ m: Tensor.zeros(gpu, [2, 4]) }),
    run: ({ mha, mq, mkv }, { m }) => mha.forward(mq, mkv, mkv, { keyPaddingMask: m }),
  },
  {
    entry: 'MultiHeadAttention.forward',
    subject: 'mhaBig',
    what: 'batch past maxComputeWorkgroupsPerDimension (nothing allocated)',
    message: /batch \d+ .*maxComputeWorkgroupsPerDimension \(\d+\)/,
    run: ({ mhaBig }) => mhaBig.layer.forward(mhaBig.x, mhaBig.x, mhaBig.x),
  },
  {
    entry: 'MultiHeadAttention.forwardBackward',
    subject: 'mha',
    what: 'dOutput of the wrong shape',
    message: /argument 'dOutput' has shape \[2, 5, 8\], expected \[2, 3, 8\]/,
    run: ({ mha, mq, mkv }) => mha.forwardBackward(mq, mkv, mkv, mkv),
  },
  {
    entry: 'MultiHeadAttention.loadStateDict',
    subject: 'mha',
    what: 'a NaN weight',
    message: /state_dict\['in_proj_bias'\] holds NaN at index 0/,
    run: async ({ mha }) => {
      const d = await mha.stateDict();
      d.in_proj_bias.data[0] = NaN;
      mha.loadStateDict(d);
    },
  },

  // ---- SequenceModel ----
  {
    entry: 'SequenceModel',
    subject: 'lm',
    what: "cell 'transformer'",
    message: /option 'cell' must be one of 'rnn', 'lstm', 'gru', got 'transformer'/,
    run: ({ gpu }) => new SequenceModel(gpu, { ...LM_OPTIONS, cell: any('transformer') }),
  },
  {
    entry: 'SequenceModel',
    subject: 'lm',
    what: 'both vocabSize and inputSize',
    message: /give either vocabSize \(\+ embeddingDim\) for token inputs or inputSize/,
    run: ({ gpu }) => new SequenceModel(gpu, { ...LM_OPTIONS, inputSize: 3 }),
  },
  {
    entry: 'SequenceModel',
    subject: 'lm',
    what: 'paddingIdx out of range',
    message: /paddingIdx 20 is not in \[−11, 11\)/,
    run: ({ gpu }) => new SequenceModel(gpu, { ...LM_OPTIONS, paddingIdx: 20 }),
  },
  {
    entry: 'SequenceModel',
    subject: 'lm',
    what: 'forgetBias NaN',
    message: /option 'forgetBias' must be a finite number, got NaN/,
    run: ({ gpu }) => new SequenceModel(gpu, { ...LM_OPTIONS, forgetBias: NaN }),
  },
  {
    entry: 'SequenceModel',
    subject: 'lm',
    what: 'an embedding table past maxStorageBufferBindingSize (nothing allocated)',
    message: new RegExp(
      String.raw`SequenceModel: embedding\.weight \[vocabSize \d+, embeddingDim 4\] ` +
        String.raw`needs \d+ bytes, more than this device's ` +
        String.raw`maxStorageBufferBindingSize \(\d+\)`,
    ),
    run: ({ gpu }) =>
      new SequenceModel(gpu, { ...LM_OPTIONS, vocabSize: Math.floor(huge(gpu) / 16) + 1, embeddingDim: 4 }),
  },
  {
    entry: 'SequenceModel.trainStep',
    subject: 'lm',
    what: 'inputs of the wrong length',
    message: /'inputs' has 5 token ids, expected seqLen·batch = 4·2 = 8/,
    run: (c) => c.lm.trainStep(lmBatch(c, { inputs: [1, 2, 3, 4, 5] })),
  },
  {
    entry: 'SequenceModel.trainStep',
    subject: 'lm',
    what: 'a token id ≥ vocabSize',
    message: /inputs\[3\] = 11 is not a token id in \[0, 11\)/,
    run: (c) => c.lm.trainStep(lmBatch(c, { inputs: [1, 2, 3, 11, 5, 6, 7, 8] })),
  },
  {
    entry: 'SequenceModel.trainStep',
    subject: 'lm',
    what: 'a non-integer token id (Float64Array)',
    message: /inputs\[0\] = 1\.5 is not a token id in \[0, 11\)/,
    run: (c) => c.lm.trainStep(lmBatch(c, { inputs: Float64Array.from([1.5, 2, 3, 4, 5, 6, 7, 8]) })),
  },
  {
    entry: 'SequenceModel.trainStep',
    subject: 'lm',
    what: 'token ids as strings',
    message: /inputs\[0\] = '1' is not a token id in \[0, 11\)/,
    run: (c) => c.lm.trainStep(lmBatch(c, { inputs: any(['1', '2', '3', '4', '5', '6', '7', '8']) })),
  },
  {
    entry: 'SequenceModel.trainStep',
    subject: 'lm',
    what: 'a class id out of range',
    message: /targets\[1\] = 12 is neither a class in \[0, 11\) nor ignoreIndex -100/,
    run: (c) => c.lm.trainStep(lmBatch(c, { targets: [1, 12, 3, 4, 5, 6, 7, 8] })),
  },
  {
    entry: 'SequenceModel.trainStep',
    subject: 'lm',
    what: 'a non-integer class id',
    message: /targets\[0\] = 2\.5 is neither a class/,
    run: (c) => c.lm.trainStep(lmBatch(c, { targets: [2.5, 1, 3, 4, 5, 6, 7, 8] })),
  },
  {
    entry: 'SequenceModel.trainStep',
    subject: 'lm',
    what: 'seqLen 0',
    message: /seqLen must be a positive integer, got 0/,
    run: (c) => c.lm.trainStep(lmBatch(c, { seqLen: 0 })),
  },
  {
    entry: 'SequenceModel.trainStep',
    subject: 'lm',
    what: 'batch 2.5',
    message: /batch must be a positive integer, got 2\.5/,
    run: (c) => c.lm.trainStep(lmBatch(c, { batch: 2.5 })),
  },
  {
    entry: 'SequenceModel.trainStep',
    subject: 'wideLm',
    what: 'seqLen·batch whose logits exceed maxStorageBufferBindingSize (nothing allocated)',
    message: new RegExp(
      String.raw`seqLen 16 × batch \d+: the logits buffer \[seqLen·batch, outputSize ` +
        String.raw`4096\] needs \d+ bytes, more than this device's ` +
        String.raw`maxStorageBufferBindingSize \(\d+\)`,
    ),
    run: async ({ gpu, wideLm }) => {
      const batch = Math.ceil((Math.floor(huge(gpu) / (4096 * 4)) + 1) / 16);
      return wideLm.trainStep({
        inputs: new Int32Array(16 * batch),
        targets: new Int32Array(16 * batch),
        seqLen: 16,
        batch,
      });
    },
  },
  {
    entry: 'SequenceModel.trainStep',
    subject: 'reg',
    what: 'before configureTraining',
    message: /SequenceModel\.trainStep: call configureTraining\(\{ optimizer, \.\.\. \}\) first/,
    run: (c) => c.reg.trainStep(c.regBatch),
  },
  {
    entry: 'SequenceModel.evaluate',
    subject: 'reg',
    what: 'a NaN input value',
    message: /inputs\[2\] is NaN; inputs must be finite/,
    run: (c) => {
      const inputs = Float32Array.from(c.regBatch.inputs);
      inputs[2] = NaN;
      return c.reg.evaluate({ ...c.regBatch, inputs });
    },
  },
  {
    entry: 'SequenceModel.evaluate',
    subject: 'reg',
    what: 'an Infinity target',
    message: /targets\[0\] is Infinity; targets must be finite/,
    run: (c) => c.reg.evaluate({ ...c.regBatch, targets: [Infinity, 0, 0, 0] }),
  },
  {
    entry: 'SequenceModel.evaluate',
    subject: 'reg',
    what: 'targets for many-to-many on a many-to-one model',
    message: /'targets' has 12 values, expected batch = 2 × outputSize 2 = 4/,
    run: (c) => c.reg.evaluate({ ...c.regBatch, targets: new Float32Array(12) }),
  },
  {
    entry: 'SequenceModel.predict',
    subject: 'lm',
    what: 'inputs of the wrong length',
    message: /'inputs' has 3 token ids, expected seqLen·batch = 4·2 = 8/,
    run: (c) => c.lm.predict([1, 2, 3], 4, 2),
  },
  {
    entry: 'SequenceModel.generate',
    subject: 'lm',
    what: 'an empty prompt',
    message: /'?prompt'? needs at least one token id/,
    run: (c) => c.lm.generate([], 3),
  },
  {
    entry: 'SequenceModel.generate',
    subject: 'lm',
    what: 'a prompt id out of range',
    message: /prompt\[1\] = 99 is not a token id in \[0, 11\)/,
    run: (c) => c.lm.generate([1, 99], 3),
  },
  {
    entry: 'SequenceModel.generate',
    subject: 'lm',
    what: 'temperature −1',
    message: /option 'temperature' must be a finite number ≥ 0, got -1/,
    run: (c) => c.lm.generate([1], 3, { temperature: -1 }),
  },
  {
    entry: 'SequenceModel.generate',
    subject: 'lm',
    what: 'topK 1.5',
    message: /option 'topK' must be an integer ≥ 0, got 1\.5/,
    run: (c) => c.lm.generate([1], 3, { topK: 1.5 }),
  },
  {
    entry: 'SequenceModel.generate',
    subject: 'reg',
    what: 'a value model',
    message: /generate: needs a token model \(vocabSize\)/,
    run: (c) => c.reg.generate([1], 3),
  },
  {
    entry: 'SequenceModel.configureTraining',
    subject: 'lm',
    what: 'lr −1 (the current optimizer is kept)',
    message: /SequenceModel.configureTraining: lr must be a finite number in \[0, 1e6\], got -1/,
    run: (c) => c.lm.configureTraining({ optimizer: { kind: 'adam', lr: -1 } }),
  },
  {
    entry: 'SequenceModel.configureTraining',
    subject: 'lm',
    what: "kind 'rmsprop'",
    message: /kind must be 'sgd', 'adam' or 'adamw', got rmsprop/,
    run: (c) => c.lm.configureTraining({ optimizer: { kind: any('rmsprop'), lr: 0.1 } }),
  },
  {
    entry: 'SequenceModel.loadStateDict',
    subject: 'lm',
    what: "a state_dict with the layer's names (no 'rnn.' prefix)",
    message: /state_dict is missing 'rnn\.weight_ih_l0'/,
    run: async (c) =>
      c.lm.loadStateDict(
        Object.fromEntries(Object.entries(await c.lm.stateDict()).map(([k, v]) => [k.replace(/^rnn\./, ''), v])),
      ),
  },
  {
    entry: 'SequenceModel.loadStateDict',
    subject: 'lm',
    what: 'a NaN bias',
    message: /state_dict\['head\.bias'\] holds NaN at index 0/,
    run: async (c) => {
      const d = await c.lm.stateDict();
      d['head.bias'].data[0] = NaN;
      c.lm.loadStateDict(d);
    },
  },
  {
    entry: 'SequenceModel.loadStateDict',
    subject: 'lm',
    what: 'the header of a safetensors file only',
    message: /[sS]afetensors: (tensor )?'[\w.]+' ends at byte \d+, past the end of the file \(\d+\)(: truncated)?/,
    run: (c) => {
      const n = Number(new DataView(c.lmFile.buffer, c.lmFile.byteOffset).getBigUint64(0, true));
      c.lm.loadStateDict(parseSafetensors(c.lmFile.slice(0, 8 + n)));
    },
  },
  {
    entry: 'SequenceModel.loadCheckpoint',
    subject: 'lm',
    what: 'a checkpoint cut in the middle of its data',
    message: /truncated/,
    run: (c) => c.lm.loadCheckpoint(c.lmCheckpoint.slice(0, c.lmCheckpoint.length - 100)),
  },
  {
    entry: 'SequenceModel.loadCheckpoint',
    subject: 'lm',
    what: 'the checkpoint of another architecture (an RNN with 4096 classes)',
    message: /cell = "rnn".*cell = "lstm"/,
    run: (c) => c.lm.loadCheckpoint(c.wideCheckpoint),
  },
  {
    entry: 'SequenceModel.loadStateDict',
    subject: 'lm',
    what: 'an unexpected key (strict)',
    message: /unexpected key\(s\) 'head\.extra'/,
    run: async (c) => c.lm.loadStateDict({ ...(await dictOf(c.lm)), 'head.extra': [1] }),
  },

  // ---- Seq2Seq ----
  {
    entry: 'Seq2Seq',
    subject: 's2s',
    what: 'bosToken ≥ tgtVocab',
    message: /bosToken must be a token id in \[0, tgtVocab=8\), got 8/,
    run: ({ gpu }) => new Seq2Seq(gpu, { ...S2S_OPTIONS, bosToken: 8 }),
  },
  {
    entry: 'Seq2Seq',
    subject: 's2s',
    what: "attention 'luong'",
    message: /option 'attention' must be one of 'none', 'dot', 'general', 'additive', got 'luong'/,
    run: ({ gpu }) => new Seq2Seq(gpu, { ...S2S_OPTIONS, attention: any('luong') }),
  },
  {
    entry: 'Seq2Seq',
    subject: 's2s',
    what: 'dot attention with a bidirectional encoder',
    message: /'dot' attention needs the decoder state .* to have one size/,
    run: ({ gpu }) => new Seq2Seq(gpu, { ...S2S_OPTIONS, attention: 'dot', bidirectional: true }),
  },
  {
    entry: 'Seq2Seq.trainStep',
    subject: 's2s',
    what: 'no sources',
    message: /'src' must be a non-empty array of token-id sequences/,
    run: (c) => c.s2s.trainStep({ src: [], tgt: [] }),
  },
  {
    entry: 'Seq2Seq.trainStep',
    subject: 's2s',
    what: 'a source token ≥ srcVocab',
    message: /src\[1\]\[0\] = 9 is not a token id in \[0, 9\)/,
    run: (c) => c.s2s.trainStep({ src: [[3], [9]], tgt: [[3], [4]] }),
  },
  {
    entry: 'Seq2Seq.trainStep',
    subject: 's2s',
    what: 'one target for two sources',
    message: /'tgt' must hold one sequence per source \(2\), got 1/,
    run: (c) => c.s2s.trainStep({ src: [[3], [4]], tgt: [[3]] }),
  },
  {
    entry: 'Seq2Seq.trainStep',
    subject: 's2s',
    what: 'a non-integer target token',
    message: /tgt\[0\]\[1\] = 1\.5 is not a token id in \[0, 8\)/,
    run: (c) => c.s2s.trainStep({ src: [[3], [4]], tgt: [[3, 1.5], [4]] }),
  },
  {
    entry: 'Seq2Seq.trainStep',
    subject: 's2s',
    what: 'an empty target sequence',
    message: /tgt\[1\] must be a non-empty sequence of token ids/,
    run: (c) => c.s2s.trainStep({ src: [[3], [4]], tgt: [[3], []] }),
  },
  {
    entry: 'Seq2Seq.configureTraining',
    subject: 's2s',
    what: 'teacherForcingRatio 2',
    message: /option 'teacherForcingRatio' must be a finite number in \[0, 1\], got 2/,
    run: (c) => c.s2s.configureTraining({ ...S2S_TRAIN, teacherForcingRatio: 2 }),
  },
  {
    entry: 'Seq2Seq.configureTraining',
    subject: 's2s',
    what: 'lr NaN (the current optimizer is kept)',
    message: /lr must be a finite number in \[0, 1e6\], got NaN/,
    run: (c) => c.s2s.configureTraining({ optimizer: { kind: 'sgd', lr: NaN } }),
  },
  {
    entry: 'Seq2Seq.greedyDecode',
    subject: 's2s',
    what: 'maxLen 0',
    message: /option 'maxLen' must be a positive integer, got 0/,
    run: (c) => c.s2s.greedyDecode(c.s2sBatch.src, { maxLen: 0 }),
  },
  {
    entry: 'Seq2Seq.greedyDecode',
    subject: 's2s',
    what: 'maxLen whose logits exceed maxStorageBufferBindingSize (nothing allocated)',
    message: new RegExp(
      String.raw`maxLen \d+ × \d+ rows: the logits buffer \[steps·rows, tgtVocab 8\] ` +
        String.raw`needs \d+ bytes, more than this device's ` +
        String.raw`maxStorageBufferBindingSize \(\d+\)`,
    ),
    run: (c) => c.s2s.greedyDecode(c.s2sBatch.src, { maxLen: Math.floor(huge(c.gpu) / (4 * 8 * 2)) + 1 }),
  },
  {
    entry: 'Seq2Seq.beamSearch',
    subject: 's2s',
    what: 'beamWidth 17',
    message: /option 'beamWidth' must be an integer in \[1, 16\], got 17/,
    run: (c) => c.s2s.beamSearch(c.s2sBatch.src, { beamWidth: 17, maxLen: 3 }),
  },
  {
    entry: 'Seq2Seq.beamSearch',
    subject: 's2s',
    what: 'lengthPenalty Infinity',
    message: /option 'lengthPenalty' must be a finite number ≥ 0, got Infinity/,
    run: (c) => c.s2s.beamSearch(c.s2sBatch.src, { beamWidth: 2, maxLen: 3, lengthPenalty: Infinity }),
  },
  {
    entry: 'Seq2Seq.loadStateDict',
    subject: 's2s',
    what: "a renamed key ('attention.W')",
    message: /state_dict is missing 'attention\.weight'/,
    run: async (c) => {
      const d = await c.s2s.stateDict();
      d['attention.W'] = d['attention.weight'];
      delete d['attention.weight'];
      c.s2s.loadStateDict(d);
    },
  },

  // ---- Optimizer ----
  {
    entry: 'Optimizer',
    subject: 'lm',
    what: "kind 'rmsprop'",
    message: /kind must be 'sgd', 'adam' or 'adamw', got rmsprop/,
    run: ({ gpu, lm }) =>
      new Optimizer(gpu, { kind: any('rmsprop'), lr: 1 }, lm.store.params, lm.store.grads, lm.store.length),
  },
  {
    entry: 'Optimizer',
    subject: 'lm',
    what: 'beta1 = 1',
    message: /beta1 must be in \[0, 1\), got 1/,
    run: ({ gpu, lm }) =>
      new Optimizer(gpu, { kind: 'adam', lr: 1, beta1: 1 }, lm.store.params, lm.store.grads, lm.store.length),
  },
  {
    entry: 'Optimizer',
    subject: 'lm',
    what: "'momentum' for Adam",
    message: /'momentum' does not apply to kind 'adam'/,
    run: ({ gpu, lm }) =>
      new Optimizer(gpu, { kind: 'adam', lr: 1, momentum: 0.9 }, lm.store.params, lm.store.grads, lm.store.length),
  },
  {
    entry: 'Optimizer',
    subject: 'lm',
    what: 'overlapping ranges',
    message: /ranges \[0, 10\] and \[5, 10\] overlap/,
    run: ({ gpu, lm }) =>
      new Optimizer(
        gpu,
        {
          kind: 'sgd',
          lr: 1,
          ranges: [
            [0, 10],
            [5, 10],
          ],
        },
        lm.store.params,
        lm.store.grads,
        lm.store.length,
      ),
  },
  {
    entry: 'Optimizer',
    subject: 'lm',
    what: 'n larger than the buffers',
    message: /buffer 'params' holds \d+ elements, needs n = \d+/,
    run: ({ gpu, lm }) =>
      new Optimizer(gpu, { kind: 'sgd', lr: 1 }, lm.store.params, lm.store.grads, lm.store.length * 2),
  },
  {
    entry: 'Optimizer.beforeStep',
    subject: 'lm',
    what: 'lr NaN',
    message: /beforeStep: lr must be a finite number in \[0, 1e6\], got NaN/,
    run: ({ lm }) => lm.optimizerState!.beforeStep(NaN),
  },
  {
    entry: 'Optimizer.loadState',
    subject: 'lm',
    what: 'SGD buffers for Adam',
    message: /buffers \{momentum\} given, expected \{m, v\} for kind 'adam'/,
    run: ({ lm }) =>
      lm.optimizerState!.loadState({ step: 3, buffers: { momentum: new Float32Array(lm.store.length) } }),
  },
  {
    entry: 'Optimizer.loadState',
    subject: 'lm',
    what: 'a moment of the wrong length',
    message: /buffer 'v' must be a Float32Array of \d+ elements, got 5/,
    run: ({ lm }) =>
      lm.optimizerState!.loadState({
        step: 3,
        buffers: { m: new Float32Array(lm.store.length), v: new Float32Array(5) },
      }),
  },
  {
    entry: 'Optimizer.loadState',
    subject: 'lm',
    what: 'a NaN in the second moment',
    message: /buffer 'v' holds NaN at index 7: optimizer state must be finite/,
    run: ({ lm }) => {
      const v = new Float32Array(lm.store.length);
      v[7] = NaN;
      return lm.optimizerState!.loadState({ step: 3, buffers: { m: new Float32Array(lm.store.length), v } });
    },
  },
  {
    entry: 'Optimizer.loadState',
    subject: 'lm',
    what: 'step −1',
    message: /step must be a non-negative integer, got -1/,
    run: ({ lm }) => lm.optimizerState!.loadState({ step: -1, buffers: {} }),
  },

  // ---- safetensors ----
  {
    entry: 'parseSafetensors',
    subject: 'none',
    what: 'a 5-byte file',
    message: /file is 5 bytes, too short for its 8-byte header length/,
    run: () => parseSafetensors(new Uint8Array(5)),
  },
  {
    entry: 'parseSafetensors',
    subject: 'none',
    what: 'a header length past the end (truncated header)',
    message: /header claims 1000 bytes but the file has 2 after the length \(truncated\?\)/,
    run: () => parseSafetensors(safetensorsFile('{}', new Uint8Array(0), 1000)),
  },
  {
    entry: 'parseSafetensors',
    subject: 'none',
    what: 'a header that is not JSON',
    message: /header is not valid JSON/,
    run: () => parseSafetensors(safetensorsFile('{"w": ')),
  },
  {
    entry: 'parseSafetensors',
    subject: 'none',
    what: 'a header that is JSON null',
    message: /header must be a JSON object/,
    run: () => parseSafetensors(safetensorsFile('null')),
  },
  {
    entry: 'parseSafetensors',
    subject: 'none',
    what: 'dtype I64',
    message: /'w' has dtype "?I64"?; seqgpu reads F32, F64, F16, BF16/,
    run: () =>
      parseSafetensors(safetensorsFile({ w: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }, new Uint8Array(16))),
  },
  {
    entry: 'parseSafetensors',
    subject: 'none',
    what: 'a shape that is not a list of sizes',
    message: /'w' has shape "2", expected a list of non-negative integers/,
    run: () =>
      parseSafetensors(safetensorsFile({ w: { dtype: 'F32', shape: '2', data_offsets: [0, 8] } }, new Uint8Array(8))),
  },
  {
    entry: 'parseSafetensors',
    subject: 'none',
    what: 'data_offsets that disagree with the shape',
    message: /'w' F32\[2, 2\] needs 16 bytes, its offsets span 12/,
    run: () =>
      parseSafetensors(
        safetensorsFile({ w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 12] } }, new Uint8Array(16)),
      ),
  },
  {
    entry: 'parseSafetensors',
    subject: 'none',
    what: 'negative data_offsets (pointing into the header)',
    message: /'w' data_offsets \[-4,4\] must be integers 0 ≤ begin ≤ end/,
    run: () =>
      parseSafetensors(safetensorsFile({ w: { dtype: 'F32', shape: [2], data_offsets: [-4, 4] } }, new Uint8Array(8))),
  },
  {
    entry: 'writeSafetensors',
    subject: 'none',
    what: 'data shorter than the shape',
    message: /'w' has shape \[2, 3\] \(6 values\) but 5 values/,
    run: () => writeSafetensors({ w: { shape: [2, 3], data: new Float32Array(5) } }),
  },

  // ---- requestGpu ----
  {
    entry: 'requestGpu',
    subject: 'none',
    what: "limits 'huge'",
    message: /option 'limits' must be one of 'adapter', 'default', got 'huge'/,
    run: () => requestGpu({ limits: any('huge') }),
  },
  {
    entry: 'requestGpu',
    subject: 'none',
    what: "powerPreference 'fast'",
    message: /option 'powerPreference' must be one of 'low-power', 'high-performance', got 'fast'/,
    run: () => requestGpu({ powerPreference: any('fast') }),
  },
  {
    entry: 'requestGpu',
    subject: 'none',
    what: 'disableFeatures as a string',
    message: /option 'disableFeatures' must be an array, got 'subgroups'/,
    run: () => requestGpu({ disableFeatures: any('subgroups') }),
  },
];

/** Number of cases per entry point (for the report). */
export function casesPerEntry(cases: readonly BadCase[] = badInputCases): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of cases) out[c.entry] = (out[c.entry] ?? 0) + 1;
  return out;
}
