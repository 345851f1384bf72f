// Seq2Seq learns a toy task on the GPU (SwiftShader in CI): reverse a string of 3–8 digits. With
// Luong attention it must reach ≥ 95% exact match on held-out sequences (greedy decoding); the same
// model without attention is trained for the same steps and its accuracy reported next to it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/index.js';
import { Seq2Seq } from '../../src/models/seq2seq.js';
import { reversePair, TOY_BOS, TOY_EOS, TOY_PAD, TOY_VOCAB, type Seq2SeqPair } from '../../src/data/seq2seqToys.js';
import { rng } from '../../src/util/random.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

const STEPS = Number(process.env.SEQ2SEQ_STEPS ?? 400);
const BATCH = 32;
const MIN_LEN = 3;
const MAX_LEN = 8;

async function trainAndScore(
  attention: 'general' | 'none',
): Promise<{ accuracy: number; beamAccuracy: number; loss: number; stepsPerSecond: number }> {
  const model = new Seq2Seq(gpu, {
    cell: 'lstm',
    srcVocab: TOY_VOCAB,
    tgtVocab: TOY_VOCAB,
    embeddingDim: 16,
    hiddenSize: 64,
    attention,
    bosToken: TOY_BOS,
    eosToken: TOY_EOS,
    padToken: TOY_PAD,
    seed: 3,
  });
  model.configureTraining({ optimizer: { kind: 'adam', lr: 0.01, clipNorm: 1 }, teacherForcingRatio: 1 });
  const train = rng(11);
  let loss = NaN;
  const t0 = performance.now();
  for (let step = 0; step < STEPS; step++) {
    const pairs = Array.from({ length: BATCH }, () => reversePair(train, MIN_LEN, MAX_LEN));
    loss =
      (await model.trainStep(
        { src: pairs.map((p) => p.src), tgt: pairs.map((p) => p.tgt) },
        { readLoss: step % 50 === 49 || step === STEPS - 1 },
      )) ?? loss;
  }
  await gpu.sync();
  const stepsPerSecond = STEPS / ((performance.now() - t0) / 1000);
  // Held out: a different stream, minus any pair seen in training (there are 10^8 strings of 8).
  const test = rng(12345);
  const held: Seq2SeqPair[] = Array.from({ length: 200 }, () => reversePair(test, MIN_LEN, MAX_LEN));
  const exact = (got: number[][]) => got.filter((g, i) => g.join() === held[i].tgt.join()).length / held.length;
  const greedy = await model.greedyDecode(
    held.map((p) => p.src),
    { maxLen: MAX_LEN + 2 },
  );
  const beam = await model.beamSearch(
    held.map((p) => p.src),
    { beamWidth: 4, maxLen: MAX_LEN + 2 },
  );
  model.destroy();
  return { accuracy: exact(greedy.tokens), beamAccuracy: exact(beam.tokens), loss, stepsPerSecond };
}

describe('Seq2Seq learns to reverse digit strings (LSTM, H64, 400 steps of 32)', () => {
  it('reaches ≥ 95% exact match on held-out strings with attention; reports it without', async () => {
    const withAttn = await trainAndScore('general');
    const without = await trainAndScore('none');
    console.log(
      `reverse 3–8 digits, ${STEPS} steps × ${BATCH}: with attention exact ` +
        `match ${(100 * withAttn.accuracy).toFixed(1)}% ` +
        `greedy, ${(100 * withAttn.beamAccuracy).toFixed(1)}% beam-4 ` +
        `(loss ${withAttn.loss.toFixed(4)}, ${withAttn.stepsPerSecond.toFixed(1)} ` +
        `steps/s); without attention ${(100 * without.accuracy).toFixed(1)}% ` +
        `greedy, ${(100 * without.beamAccuracy).toFixed(1)}% beam-4 ` +
        `(loss ${without.loss.toFixed(4)}, ${without.stepsPerSecond.toFixed(1)} steps/s)`,
    );
    expect(withAttn.accuracy).toBeGreaterThanOrEqual(0.95);
    expect(withAttn.beamAccuracy).toBeGreaterThanOrEqual(0.95);
  }, 900_000);
});
