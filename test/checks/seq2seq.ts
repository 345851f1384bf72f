// The Seq2Seq model on the GPU (src/models/seq2seq.ts, recorded by src/models/seq2seqPlan.ts) vs its
// float64 reference (src/reference/seq2seq.ts, checked by finite differences in
// test/node/seq2seqReference.test.ts): the loss and every parameter's gradient of a training step
// (teacher forcing ratio 1 and 0.5: the inputs the GPU fed are checked too), greedy decoding, and
// beam search (width 1 = greedy). Runs in Node and in Chromium.
import type { Gpu } from '../../src/gpu/device.js';
import { Seq2Seq } from '../../src/models/seq2seq.js';
import {
  seq2seqDecoderInputsRef,
  seq2seqParameterShapes,
  seq2seqRef,
  type Seq2SeqRefConfig,
} from '../../src/reference/seq2seq.js';
import { rng, uniform, assertClose, assert, randInt } from './util.js';
import type { Check } from './kernels.js';
import { beamSearchRef, logSoftmaxRef } from '../../src/reference/beamSearch.js';

interface Case {
  name: string;
  cfg: Seq2SeqRefConfig;
  batch: number;
  /** Source and target lengths are drawn in [1, maxLen]. */
  maxSrc: number;
  maxTgt: number;
  ratio: number;
  seed: number;
}

function gradTol(want: ArrayLike<number>): { rtol: number; atol: number } {
  let s = 0;
  for (let i = 0; i < want.length; i++) s += Math.abs(want[i]);
  return { rtol: 1e-3, atol: 1e-3 * (s / Math.max(1, want.length)) + 1e-7 };
}

const BOS = 1;
const EOS = 2;

function makeModel(gpu: Gpu, c: Case): { model: Seq2Seq; weights: Record<string, Float32Array> } {
  const { cfg } = c;
  const model = new Seq2Seq(gpu, { ...cfg, bosToken: BOS, eosToken: EOS, seed: c.seed });
  const spec = seq2seqParameterShapes(cfg);
  assert(
    model.store.names.join() === spec.map((p) => p.name).join(),
    `parameter names ${model.store.names.join(', ')} differ from the reference's ${spec.map((p) => p.name).join(', ')}`,
  );
  const rand = rng(c.seed);
  const weights: Record<string, Float32Array> = {};
  for (const { name, shape } of spec)
    weights[name] = uniform(
      rand,
      shape.reduce((a, b) => a * b, 1),
      -0.8,
      0.8,
    );
  model.loadStateDict(weights);
  return { model, weights };
}

function makeBatch(c: Case, rand: () => number) {
  const tok = (vocab: number) => randInt(rand, 3, vocab - 1); // 0 pad, 1 BOS, 2 EOS
  const src = Array.from({ length: c.batch }, (_, b) =>
    Array.from({ length: b === 0 ? c.maxSrc : randInt(rand, 1, c.maxSrc) }, () => tok(c.cfg.srcVocab)),
  );
  const tgt = Array.from({ length: c.batch }, (_, b) =>
    Array.from({ length: b === 0 ? c.maxTgt : randInt(rand, 1, c.maxTgt) }, () => tok(c.cfg.tgtVocab)),
  );
  return { src, tgt };
}

/** The reference's view of a batch: time-major padded sources, key mask, teacher inputs and targets. */
function refInputs(c: Case, src: number[][], tgt: number[][]) {
  const B = src.length;
  const Ts = Math.max(...src.map((s) => s.length));
  const Tt = Math.max(...tgt.map((s) => s.length)) + 1;
  const srcTM = new Int32Array(Ts * B);
  const keyMask = new Float64Array(B * Ts);
  const teacher = new Int32Array(Tt * B);
  const targets = new Int32Array(Tt * B).fill(-100);
  for (let b = 0; b < B; b++) {
    src[b].forEach((v, s) => {
      srcTM[s * B + b] = v;
      keyMask[b * Ts + s] = 1;
    });
    for (let t = 0; t <= tgt[b].length; t++) targets[t * B + b] = t < tgt[b].length ? tgt[b][t] : EOS;
    for (let t = 1; t < Tt; t++) teacher[t * B + b] = t <= tgt[b].length ? tgt[b][t - 1] : 0;
  }
  return { Ts, Tt, B, srcTM, keyMask, teacher, targets };
}

async function checkTrainStep(gpu: Gpu, c: Case): Promise<void> {
  const { model, weights } = makeModel(gpu, c);
  const rand = rng(c.seed + 1);
  const { src, tgt } = makeBatch(c, rand);
  // lr 0: the step computes the gradients and leaves the weights as they are.
  model.configureTraining({ optimizer: { kind: 'sgd', lr: 0 }, teacherForcingRatio: c.ratio, seed: c.seed });
  const loss = await model.trainStep({ src, tgt }, { readLoss: true });
  const r = refInputs(c, src, tgt);
  const plan = model.plan('train', r.Ts, r.Tt, r.B);
  const fed = new Int32Array(await gpu.readBuffer(plan.decIn, 0, r.Tt * r.B * 4));
  const use = new Uint32Array(await gpu.readBuffer(plan.useTeacher, 0, r.Tt * r.B * 4));
  const x = { srcLen: r.Ts, tgtLen: r.Tt, batch: r.B, src: r.srcTM, keyMask: r.keyMask };
  const want = seq2seqDecoderInputsRef(c.cfg, weights, x, BOS, r.teacher, use);
  assert(
    fed.join() === want.decIn.join(),
    `${c.name}: the decoder inputs fed [${fed.join(' ')}] differ from the ` +
      `reference's [${want.decIn.join(' ')}] (useTeacher [${use.join('')}])`,
  );
  if (c.ratio === 1)
    assert(
      use.subarray(r.B).every((u) => u === 1),
      `${c.name}: ratio 1 but some inputs were not teacher-forced`,
    );
  if (c.ratio === 0)
    assert(
      use.every((u) => u === 0),
      `${c.name}: ratio 0 but some inputs were teacher-forced`,
    );
  const ref = seq2seqRef(c.cfg, weights, { ...x, decIn: want.decIn, targets: r.targets });
  assertClose(`${c.name}: loss`, [loss!], [ref.loss], { rtol: 1e-4 });
  if (ref.alpha && plan.alpha)
    assertClose(
      `${c.name}: attention weights`,
      new Float32Array(await gpu.readBuffer(plan.alpha, 0, ref.alpha.length * 4)),
      ref.alpha,
      { rtol: 1e-4, atol: 1e-6 },
    );
  const grads = await model.gradients();
  for (const { name } of seq2seqParameterShapes(c.cfg))
    assertClose(`${c.name}: grad ${name}`, grads[name].data, ref.grads[name], gradTol(ref.grads[name]));
  model.destroy();
}

async function checkDecode(gpu: Gpu, c: Case): Promise<void> {
  const { model, weights } = makeModel(gpu, c);
  const rand = rng(c.seed + 2);
  const { src } = makeBatch(c, rand);
  const maxLen = c.maxTgt + 2;
  const greedy = await model.greedyDecode(src, { maxLen });
  const r = refInputs(
    c,
    src,
    src.map(() => Array.from({ length: maxLen - 1 }, () => 3)),
  );
  const x = { srcLen: r.Ts, tgtLen: maxLen, batch: r.B, src: r.srcTM, keyMask: r.keyMask };
  const want = seq2seqDecoderInputsRef(c.cfg, weights, x, BOS, r.teacher, new Uint32Array(maxLen * r.B));
  for (let b = 0; b < r.B; b++) {
    const seq: number[] = [];
    for (let t = 0; t < maxLen && want.pred[t * r.B + b] !== EOS; t++) seq.push(want.pred[t * r.B + b]);
    assert(
      greedy.tokens[b].join() === seq.join(),
      `${c.name}: greedy tokens of source ${b} [${greedy.tokens[b].join(' ')}], reference [${seq.join(' ')}]`,
    );
    if (c.cfg.attention !== 'none') {
      const rows = greedy.attention![b]!;
      assert(
        rows.length === Math.min(maxLen, seq.length + 1),
        `${c.name}: ${rows.length} attention rows for source ${b}`,
      );
      for (const row of rows)
        assert(
          Math.abs(row.reduce((a, v) => a + v, 0) - 1) < 1e-5 && row.length === src[b].length,
          `${c.name}: attention row of source ${b} does not sum to 1 over its ${src[b].length} tokens`,
        );
    }
  }
  // Beam width 1 is greedy decoding.
  const beam1 = await model.beamSearch(src, { beamWidth: 1, maxLen });
  for (let b = 0; b < r.B; b++)
    assert(
      beam1.tokens[b].join() === greedy.tokens[b].join(),
      `${c.name}: beam width 1 gave [${beam1.tokens[b].join(' ')}] for source ${b}, ` +
        `greedy [${greedy.tokens[b].join(' ')}]`,
    );
  model.destroy();
}

/** Beam search (width k, length penalty) vs the float64 reference search over the float64 model. */
async function checkBeam(gpu: Gpu, c: Case, beamWidth: number, lengthPenalty: number): Promise<void> {
  const { model, weights } = makeModel(gpu, c);
  const rand = rng(c.seed + 3);
  const { src } = makeBatch(c, rand);
  const maxLen = c.maxTgt + 2;
  const got = await model.beamSearch(src, { beamWidth, maxLen, lengthPenalty });
  assert(model.lastRun?.submits === 1, `${c.name}: beam search took ${model.lastRun?.submits} submits`);
  for (let b = 0; b < src.length; b++) {
    const Ts = src[b].length;
    const x = { srcLen: Ts, batch: 1, src: Int32Array.from(src[b]), keyMask: new Float64Array(Ts).fill(1) };
    // log p(next | prefix) from the reference model run on [BOS, ...prefix].
    const logProbs = (prefix: readonly number[]) => {
      const Tt = prefix.length + 1;
      const decIn = Int32Array.from([BOS, ...prefix]);
      const targets = new Int32Array(Tt).fill(3);
      const { logits } = seq2seqRef(c.cfg, weights, { ...x, tgtLen: Tt, decIn, targets }, false);
      return logSoftmaxRef(logits.subarray((Tt - 1) * c.cfg.tgtVocab, Tt * c.cfg.tgtVocab));
    };
    const want = beamSearchRef(logProbs, {
      beamWidth,
      vocab: c.cfg.tgtVocab,
      eosToken: EOS,
      maxSteps: maxLen,
      lengthPenalty,
    });
    assert(
      got.tokens[b].join() === want.sequence.join(),
      `${c.name} beam ${beamWidth}: source ${b} decoded [${got.tokens[b].join(' ')}], ` +
        `reference [${want.sequence.join(' ')}]`,
    );
    assertClose(`${c.name} beam ${beamWidth}: score of source ${b}`, [got.scores![b]], [want.score], {
      rtol: 1e-4,
      atol: 1e-5,
    });
  }
  model.destroy();
}

const base = {
  srcVocab: 11,
  tgtVocab: 9,
  embeddingDim: 6,
  hiddenSize: 10,
  numLayers: 1,
  bidirectional: false,
  attnDim: 7,
  padToken: 0,
};
const cases: Case[] = [
  {
    name: 'seq2seq LSTM general attention, bidirectional 2-layer encoder, B3',
    cfg: { ...base, cell: 'lstm', attention: 'general', numLayers: 2, bidirectional: true },
    batch: 3,
    maxSrc: 6,
    maxTgt: 4,
    ratio: 1,
    seed: 31,
  },
  {
    name: 'seq2seq GRU additive attention, teacher forcing 0.5, B4',
    cfg: { ...base, cell: 'gru', attention: 'additive' },
    batch: 4,
    maxSrc: 5,
    maxTgt: 5,
    ratio: 0.5,
    seed: 32,
  },
  {
    name: 'seq2seq RNN dot attention, 2 layers, teacher forcing 0, B2',
    cfg: { ...base, cell: 'rnn', attention: 'dot', numLayers: 2 },
    batch: 2,
    maxSrc: 4,
    maxTgt: 3,
    ratio: 0,
    seed: 33,
  },
  {
    name: 'seq2seq LSTM without attention, B1, source and target length 1',
    cfg: { ...base, cell: 'lstm', attention: 'none' },
    batch: 1,
    maxSrc: 1,
    maxTgt: 1,
    ratio: 1,
    seed: 34,
  },
  {
    name: 'seq2seq GRU general attention, odd sizes (H 33), B5',
    cfg: { ...base, cell: 'gru', attention: 'general', hiddenSize: 33, embeddingDim: 5 },
    batch: 5,
    maxSrc: 7,
    maxTgt: 3,
    ratio: 1,
    seed: 35,
  },
];

export const seq2seqChecks: Check[] = [
  ...cases.map((c) => ({
    name: `${c.name}: loss and gradients vs float64`,
    run: (gpu: Gpu) => checkTrainStep(gpu, c),
  })),
  ...cases.slice(0, 3).map((c) => ({
    name: `${c.name}: greedy and width-1 beam decoding vs float64`,
    run: (gpu: Gpu) => checkDecode(gpu, c),
  })),
  {
    name: `${cases[0].name}: beam search width 3 vs the float64 reference search`,
    run: (gpu: Gpu) => checkBeam(gpu, cases[0], 3, 0),
  },
  {
    name: `${cases[1].name}: beam search width 5, length penalty 0.6, vs the float64 reference search`,
    run: (gpu: Gpu) => checkBeam(gpu, cases[1], 5, 0.6),
  },
];
