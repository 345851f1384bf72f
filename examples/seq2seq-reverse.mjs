// Sequence to sequence: an encoder-decoder LSTM with attention learns to reverse digit strings
// ("3 1 4 1 5" → "5 1 4 1 3"). Then it decodes 100 new strings greedily (one submit for all of
// them) and one with beam search, and prints where the decoder looked: for each output digit,
// the source position with the largest attention weight (reversal: the mirror image).
//   node examples/seq2seq-reverse.mjs [--steps=200] [--hidden=64] [--batch=32]
import { requestGpu, Seq2Seq, reversePair, toyText, rng, TOY_VOCAB, TOY_BOS, TOY_EOS, TOY_PAD } from 'seqgpu';

/** `--name=value` from the command line, as a number. @type {(name: string, fallback: number) => number} */
const arg = (name, fallback) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const steps = arg('steps', 200),
  hiddenSize = arg('hidden', 64),
  batch = arg('batch', 32);
const rand = rng(1);
const pairs = (/** @type {number} */ n) => Array.from({ length: n }, () => reversePair(rand, 3, 7)); // 3 to 7 digits

const gpu = await requestGpu();
const model = new Seq2Seq(gpu, {
  cell: 'lstm',
  srcVocab: TOY_VOCAB,
  tgtVocab: TOY_VOCAB,
  embeddingDim: 16,
  hiddenSize,
  attention: 'general',
  bosToken: TOY_BOS,
  eosToken: TOY_EOS,
  padToken: TOY_PAD,
  seed: 1,
});
model.configureTraining({ optimizer: { kind: 'adam', lr: 0.01, clipNorm: 1 } });
for (let step = 1; step <= steps; step++) {
  const p = pairs(batch); // BOS, EOS and padding are added by the model
  const loss = await model.trainStep(
    { src: p.map((x) => x.src), tgt: p.map((x) => x.tgt) },
    { readLoss: step === 1 || step % 50 === 0 || step === steps },
  );
  if (loss !== undefined) console.log(`step ${String(step).padStart(4)}  loss ${loss.toFixed(3)}`);
}

const test = pairs(100);
const { tokens, attention } = await model.greedyDecode(
  test.map((x) => x.src),
  { maxLen: 9 },
);
const correct = test.filter((x, i) => toyText(tokens[i]) === toyText(x.tgt)).length;
console.log(`greedy decoding: ${correct} of ${test.length} new strings reversed exactly`);
const [first] = test;
console.log(`  ${toyText(first.src)}  →  ${toyText(tokens[0])}`);
const looked = (attention?.[0] ?? []).slice(0, tokens[0].length).map((row) => row.indexOf(Math.max(...row)));
console.log(`  source position each output step attended to most: ${looked.join(' ')}`);
const beams = await model.beamSearch([first.src], { beamWidth: 4, maxLen: 9 });
console.log(`beam search (width 4): ${toyText(beams.tokens[0])}  (log-probability ${beams.scores?.[0].toFixed(3)})`);
model.destroy();
gpu.destroy();
