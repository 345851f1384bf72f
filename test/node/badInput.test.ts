// The bad-input table of test/checks/badInput.ts (issue 8, item 1), in Node (Dawn): every case
// must throw a clear error naming the argument and leave its subject usable and unchanged.
// Then the models that went through every bad call train exactly like fresh twins.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SequenceModel, Seq2Seq, type Gpu } from '../../src/index.js';
import {
  badInputCases,
  casesPerEntry,
  createBadInputContext,
  runBadCase,
  LM_OPTIONS,
  LM_TRAIN,
  S2S_OPTIONS,
  S2S_TRAIN,
  type BadInputContext,
} from '../checks/badInput.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
let ctx: BadInputContext;
const messages: string[] = [];

beforeAll(async () => {
  gpu = await testGpu();
  ctx = await createBadInputContext(gpu);
}, 120_000);

afterAll(() => {
  ctx?.destroy();
  gpu?.destroy();
});

describe('bad input: a clear error naming the argument, nothing allocated, the subject unchanged and usable', () => {
  it('has at least 70 cases over the public entry points', () => {
    const perEntry = casesPerEntry();
    console.log(
      `${badInputCases.length} cases over ${Object.keys(perEntry).length} entry points: ${JSON.stringify(perEntry)}`,
    );
    expect(badInputCases.length).toBeGreaterThanOrEqual(70);
    expect(new Set(badInputCases.map((c) => `${c.entry}: ${c.what}`)).size).toBe(badInputCases.length);
  });

  for (const c of badInputCases) {
    it(`${c.entry}: ${c.what}`, async () => {
      messages.push(`${c.entry}: ${await runBadCase(ctx, c)}`);
    });
  }
});

describe('after every bad call, the models train bit for bit like fresh twins', () => {
  it('SequenceModel: two training steps, losses, weights and Adam state', async () => {
    const twin = new SequenceModel(gpu, { ...LM_OPTIONS });
    twin.configureTraining(LM_TRAIN);
    try {
      for (let i = 0; i < 2; i++) {
        const a = await ctx.lm.trainStep(ctx.lmBatch, { readLoss: true });
        const b = await twin.trainStep(ctx.lmBatch, { readLoss: true });
        expect(Object.is(a, b), `step ${i}: loss ${a} vs the twin's ${b}`).toBe(true);
      }
      expect(await ctx.lm.stateDict()).toEqual(await twin.stateDict());
      expect(await ctx.lm.optimizerState!.readState()).toEqual(await twin.optimizerState!.readState());
    } finally {
      twin.destroy();
    }
  });

  it('Seq2Seq: two training steps, losses, weights and momentum', async () => {
    const twin = new Seq2Seq(gpu, { ...S2S_OPTIONS });
    twin.configureTraining(S2S_TRAIN);
    try {
      for (let i = 0; i < 2; i++) {
        const a = await ctx.s2s.trainStep(ctx.s2sBatch, { readLoss: true });
        const b = await twin.trainStep(ctx.s2sBatch, { readLoss: true });
        expect(Object.is(a, b), `step ${i}: loss ${a} vs the twin's ${b}`).toBe(true);
      }
      expect(await ctx.s2s.stateDict()).toEqual(await twin.stateDict());
      expect(await ctx.s2s.optimizerState!.readState()).toEqual(await twin.optimizerState!.readState());
    } finally {
      twin.destroy();
    }
  });

  it('prints the messages', () => {
    console.log(messages.join('\n'));
    expect(messages.length).toBe(badInputCases.length);
  });
});
