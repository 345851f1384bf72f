// Dispatch and submit counts of SequenceModel and Seq2Seq calls may not grow when their insides
// change (issue 17: rebuilt on the Module/graph path). The limits below were measured on the
// hand-wired implementation (commit 01e1147: models/trainStep.ts and models/seq2seqPlan.ts) for
// these exact configurations; a call may use fewer dispatches, never more, and records one
// command buffer (lastRun.submits; the NaN/Inf guard's 32-byte readback is submitted apart).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Seq2Seq,
  SequenceModel,
  rng,
  type Gpu,
  type OptimizerOptions,
  type SequenceModelOptions,
} from '../../src/index.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

type SeqCase = {
  name: string;
  options: SequenceModelOptions;
  optimizer: OptimizerOptions;
  extra?: { carryState?: boolean; nanGuard?: boolean };
  limits: { step: number; evaluate: number };
};
const SEQUENCE_CASES: SeqCase[] = [
  {
    name: '2-layer LSTM, tokens, many-to-many, Adam + clipNorm, guard',
    options: {
      cell: 'lstm',
      vocabSize: 11,
      embeddingDim: 4,
      hiddenSize: 6,
      numLayers: 2,
      outputSize: 11,
      mode: 'manyToMany',
      loss: 'crossEntropy',
    },
    optimizer: { kind: 'adam', lr: 0.01, clipNorm: 1 },
    limits: { step: 43, evaluate: 15 },
  },
  {
    name: '2-layer LSTM, dropout, carryState, AdamW',
    options: {
      cell: 'lstm',
      vocabSize: 11,
      embeddingDim: 4,
      hiddenSize: 6,
      numLayers: 2,
      dropout: 0.2,
      outputSize: 11,
      mode: 'manyToMany',
      loss: 'crossEntropy',
    },
    optimizer: { kind: 'adamw', lr: 0.01 },
    extra: { carryState: true },
    limits: { step: 45, evaluate: 16 },
  },
  {
    name: '2-layer bidirectional GRU, values, many-to-one MSE, SGD momentum',
    options: {
      cell: 'gru',
      inputSize: 3,
      hiddenSize: 5,
      numLayers: 2,
      bidirectional: true,
      outputSize: 2,
      mode: 'manyToOne',
      loss: 'mse',
    },
    optimizer: { kind: 'sgd', lr: 0.1, momentum: 0.9 },
    limits: { step: 79, evaluate: 24 },
  },
  {
    name: 'RNN, values, many-to-many MSE, plain SGD, no guard',
    options: { cell: 'rnn', inputSize: 2, hiddenSize: 6, outputSize: 3, mode: 'manyToMany', loss: 'mse' },
    optimizer: { kind: 'sgd', lr: 0.1 },
    extra: { nanGuard: false },
    limits: { step: 21, evaluate: 8 },
  },
  {
    name: 'LSTM, tokens, many-to-one cross-entropy, Adam',
    options: {
      cell: 'lstm',
      vocabSize: 9,
      embeddingDim: 3,
      hiddenSize: 5,
      outputSize: 4,
      mode: 'manyToOne',
      loss: 'crossEntropy',
    },
    optimizer: { kind: 'adam', lr: 0.01 },
    limits: { step: 28, evaluate: 10 },
  },
];

describe('SequenceModel: dispatches per call ≤ the hand-wired step (01e1147), one submit', () => {
  for (const c of SEQUENCE_CASES) {
    it(c.name, async () => {
      const m = new SequenceModel(gpu, c.options);
      m.configureTraining({ optimizer: c.optimizer, ...c.extra });
      const r = rng(1);
      const T = 4;
      const B = 3;
      const o = c.options;
      const inputs = o.vocabSize
        ? Array.from({ length: T * B }, () => Math.floor(r() * o.vocabSize!))
        : Array.from({ length: T * B * o.inputSize! }, () => r());
      const rows = o.mode === 'manyToOne' ? B : T * B;
      const targets =
        o.loss === 'crossEntropy'
          ? Array.from({ length: rows }, () => Math.floor(r() * o.outputSize))
          : Array.from({ length: rows * o.outputSize }, () => r());
      const batch = { inputs, targets, seqLen: T, batch: B };
      let step = 0;
      for (let s = 0; s < 2; s++) {
        await m.trainStep(batch);
        expect(m.lastRun).toEqual({ dispatches: m.lastRun!.dispatches, submits: 1 });
        step = m.lastRun!.dispatches;
        expect(step).toBeLessThanOrEqual(c.limits.step);
      }
      await m.evaluate(batch);
      expect(m.lastRun).toEqual({ dispatches: m.lastRun!.dispatches, submits: 1 });
      expect(m.lastRun!.dispatches).toBeLessThanOrEqual(c.limits.evaluate);
      console.log(
        `${c.name}: step ${step}, evaluate ${m.lastRun!.dispatches} dispatches ` +
          `(limits ${c.limits.step} / ${c.limits.evaluate})`,
      );
      m.destroy();
    });
  }
});

const SEQ2SEQ_CASES = [
  {
    name: 'GRU, general attention',
    options: { cell: 'gru', attention: 'general' },
    limits: { step: 103, evaluate: 55, greedy: 52, beam: 67 },
  },
  {
    name: '2-layer LSTM, bidirectional encoder, additive attention',
    options: { cell: 'lstm', numLayers: 2, bidirectional: true, attention: 'additive', attnDim: 4 },
    limits: { step: 177, evaluate: 85, greedy: 82, beam: 107 },
  },
  {
    name: 'RNN, no attention',
    options: { cell: 'rnn', attention: 'none' },
    limits: { step: 65, evaluate: 34, greedy: 31, beam: 46 },
  },
] as const;

describe('Seq2Seq: dispatches per call ≤ the hand-wired plan (01e1147), one submit', () => {
  for (const c of SEQ2SEQ_CASES) {
    it(c.name, async () => {
      const m = new Seq2Seq(gpu, {
        srcVocab: 12,
        tgtVocab: 12,
        embeddingDim: 5,
        hiddenSize: 6,
        bosToken: 1,
        eosToken: 2,
        padToken: 0,
        ...c.options,
      });
      m.configureTraining({ optimizer: { kind: 'adam', lr: 0.01, clipNorm: 1 } });
      const batch = {
        src: [
          [3, 4, 5],
          [6, 7],
        ],
        tgt: [
          [5, 4, 3, 8],
          [7, 6],
        ],
      };
      const counts: Record<string, number> = {};
      const call = async (name: keyof typeof c.limits, run: () => Promise<unknown>) => {
        await run();
        expect(m.lastRun!.submits, `${name}: submits`).toBe(1);
        counts[name] = m.lastRun!.dispatches;
        expect(counts[name], name).toBeLessThanOrEqual(c.limits[name]);
      };
      await call('step', () => m.trainStep(batch));
      await call('evaluate', () => m.evaluate(batch));
      await call('greedy', () => m.greedyDecode(batch.src, { maxLen: 5 }));
      await call('beam', () => m.beamSearch(batch.src, { beamWidth: 2, maxLen: 5 }));
      console.log(`${c.name}: ${JSON.stringify(counts)} (limits ${JSON.stringify(c.limits)})`);
      m.destroy();
    });
  }
});
