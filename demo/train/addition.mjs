// How far the demo's addition task (demo/tasks/addition.ts: zero-padded operands, digits least
// significant first, interleaved) gets in Node on Dawn's WebGPU (SwiftShader where there is no GPU), with the
// page's Seq2Seq and its training loop's settings. Prints the held-out exact match of greedy
// decoding (the page's 64 pairs, and 512 more) every --eval-every steps, with the time.
//   bash tools/with-swiftshader.sh node demo/train/addition.mjs --digits=3 --hidden=64 --time=300
// Flags (defaults = the page's software preset): --digits 3, --cell lstm, --hidden 64, --embedding
// 16, --layers 1, --bidirectional 1, --attention general, --batch 32, --lr 0.01, --clip 1,
// --curriculum 0 (steps per added digit), --interleaved 1 (0: "a + b" layout), --steps 4000,
// --time 600 (s), --eval-every 100, --seed 1.
import { createSsrServer } from '../../bench/ssrServer.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? '1'];
  }),
);
const num = (k, d) => (args[k] === undefined ? d : Number(args[k]));
const o = {
  digits: num('digits', 3),
  cell: args.cell ?? 'lstm',
  hidden: num('hidden', 64),
  embedding: num('embedding', 16),
  layers: num('layers', 1),
  bidirectional: num('bidirectional', 1) === 1,
  attention: args.attention ?? 'general',
  batch: num('batch', 32),
  lr: num('lr', 0.01),
  clip: num('clip', 1),
  curriculum: num('curriculum', 0),
  steps: num('steps', 4000),
  time: num('time', 600),
  evalEvery: num('eval-every', 100),
  seed: num('seed', 1),
  interleaved: num('interleaved', 1) === 1,
};

const server = await createSsrServer();
const s = await server.ssrLoadModule('/src/index.ts');
const add = await server.ssrLoadModule('/demo/tasks/addition.ts');
// The page's held-out pairs (demo/tasks/seq2seq.ts: 64 drawn from rng(31337)).
const HELD_OUT_SEED = 31337;
const HELD_OUT = 64;
const gpu = await s.requestGpu();
const info = gpu.adapterInfo;
console.log(`adapter: ${[info.vendor, info.architecture, info.description].filter(Boolean).join(' ')}`);
console.log(`options: ${JSON.stringify(o)}`);

const model = new s.Seq2Seq(gpu, {
  cell: o.cell,
  srcVocab: s.TOY_VOCAB,
  tgtVocab: s.TOY_VOCAB,
  embeddingDim: o.embedding,
  hiddenSize: o.hidden,
  numLayers: o.layers,
  bidirectional: o.bidirectional,
  attention: o.attention,
  bosToken: s.TOY_BOS,
  eosToken: s.TOY_EOS,
  padToken: s.TOY_PAD,
  seed: o.seed,
});
model.configureTraining({
  optimizer: { kind: 'adam', lr: o.lr, clipNorm: o.clip > 0 ? o.clip : undefined },
  teacherForcingRatio: 1,
  seed: o.seed + 99,
});

const heldSet = (seed, n) => {
  const r = s.rng(seed);
  return Array.from({ length: n }, () => add.encodeAddition(add.additionProblem(r, o.digits), o.digits, o.interleaved));
};
const page = heldSet(HELD_OUT_SEED, HELD_OUT);
const more = heldSet(99991, 512);
const exact = async (held) => {
  const { tokens } = await model.greedyDecode(
    held.map((q) => q.src),
    { maxLen: o.digits + 3 },
  );
  return tokens.filter((t, i) => t.join() === held[i].tgt.join()).length / held.length;
};

const rand = s.rng(o.seed);
const t0 = performance.now();
let trainMs = 0;
let loss = NaN;
for (let step = 1; step <= o.steps; step++) {
  const t = performance.now();
  const d = add.curriculumDigits(step - 1, o.digits, o.curriculum);
  const pairs = Array.from({ length: o.batch }, () =>
    add.encodeAddition(add.additionProblem(rand, d), o.digits, o.interleaved),
  );
  const read = step % o.evalEvery === 0;
  const l = await model.trainStep({ src: pairs.map((q) => q.src), tgt: pairs.map((q) => q.tgt) }, { readLoss: read });
  if (l !== undefined) loss = l;
  trainMs += performance.now() - t;
  const elapsed = (performance.now() - t0) / 1000;
  if (read || step === o.steps || elapsed > o.time) {
    await gpu.sync();
    const [a64, a512] = [await exact(page), await exact(more)];
    console.log(
      `step ${step} (digits ${d}): loss ${loss.toFixed(4)}, exact ${(100 * a64).toFixed(1)} % of ${HELD_OUT} ` +
        `(page), ${(100 * a512).toFixed(1)} % of 512; train ${(trainMs / 1000).toFixed(0)} s, ` +
        `wall ${elapsed.toFixed(0)} s, ${(step / (trainMs / 1000)).toFixed(1)} steps/s`,
    );
    if (elapsed > o.time) break;
  }
}
model.destroy();
gpu.destroy();
await server.close();
