// Decoding kernels vs the float64 references (src/reference/beamSearch.ts): next token (greedy /
// teacher forcing, ties), one beam-search step (scores, parents, tokens, finished; odd vocab, k = 1
// and k = 16, batch 1, step 0 with only beam 0 live, finished and dead beams, vocab < k, ties), the
// beam-state gather, and whole decodes of a toy deterministic "model" (logits = a fixed random
// table indexed by (step, previous token), gathered by the embedding kernel) recorded into ONE
// command buffer and replayed, backtracked on the CPU, equal to the float64 search.
import type { Gpu } from '../../src/gpu/device.js';
import { encodeDispatches, type Dispatch } from '../../src/gpu/dispatch.js';
import { TENSOR_USAGE } from '../../src/gpu/flags.js';
import { embeddingDispatch } from '../../src/kernels/embedding.js';
import {
  nextTokenDispatch,
  beamSearchStepDispatches,
  gatherBeamRowsDispatch,
  backtrackBeams,
  beamSearchScratchSize,
} from '../../src/kernels/decode.js';
import {
  nextTokenRef,
  beamStepRef,
  gatherBeamRowsRef,
  beamSearchRef,
  greedyDecodeRef,
  logSoftmaxRef,
  argmaxRef,
} from '../../src/reference/beamSearch.js';
import { rng, uniform, randInt, assertClose, assert } from './util.js';
import type { Check } from './kernels.js';

type Typed = Float32Array | Int32Array | Uint32Array;

/** Pool buffers for one check, released together. */
class Buffers {
  private list: GPUBuffer[] = [];
  constructor(private gpu: Gpu) {}
  upload(data: Typed, label = 'decode.check'): GPUBuffer {
    const b = this.gpu.pool.acquire(Math.max(4, data.byteLength), TENSOR_USAGE, label);
    this.gpu.device.queue.writeBuffer(b, 0, data.buffer, data.byteOffset, data.byteLength);
    this.list.push(b);
    return b;
  }
  async i32(b: GPUBuffer, n: number): Promise<Int32Array> {
    return new Int32Array(await this.gpu.readBuffer(b, 0, n * 4));
  }
  async u32(b: GPUBuffer, n: number): Promise<Uint32Array> {
    return new Uint32Array(await this.gpu.readBuffer(b, 0, n * 4));
  }
  async f32(b: GPUBuffer, n: number): Promise<Float32Array> {
    return new Float32Array(await this.gpu.readBuffer(b, 0, n * 4));
  }
  release(): void {
    for (const b of this.list) this.gpu.pool.release(b);
    this.list = [];
  }
}

function assertEqualInts(what: string, got: ArrayLike<number>, want: ArrayLike<number>): void {
  assert(got.length === want.length, `${what}: length ${got.length}, expected ${want.length}`);
  for (let i = 0; i < got.length; i++) {
    if (got[i] !== want[i]) {
      const around = (a: ArrayLike<number>) =>
        Array.from(a)
          .slice(Math.max(0, i - 8), i + 8)
          .join(', ');
      assert(
        false,
        `${what}: element ${i} is ${got[i]}, expected ${want[i]} (got […${around(got)}…], want […${around(want)}…])`,
      );
    }
  }
}

/** Scores: −∞ exactly where the reference has −∞, else within 1e-5 absolute + 1e-5 relative. */
function assertScores(what: string, got: ArrayLike<number>, want: ArrayLike<number>): number {
  assert(got.length === want.length, `${what}: length ${got.length}, expected ${want.length}`);
  const g: number[] = [];
  const w: number[] = [];
  for (let i = 0; i < got.length; i++) {
    if (want[i] === -Infinity || got[i] === -Infinity) {
      assert(got[i] === want[i], `${what}: element ${i} is ${got[i]}, expected ${want[i]}`);
    } else {
      g.push(got[i]);
      w.push(want[i]);
    }
  }
  return assertClose(what, g, w, { rtol: 1e-5, atol: 1e-5 }).worst;
}

// ---------------------------------------------------------------- next token

interface NextCase {
  batch: number;
  vocab: number;
  ld: number;
  offset: number;
  teacher: 'none' | 'all' | 'mix';
  ties?: boolean;
  pred: boolean;
  seed: number;
}

const nextName = (c: NextCase) =>
  `nextToken B${c.batch} V${c.vocab} ld ${c.ld} ` +
  (`offset ${c.offset}${c.teacher === 'none' ? '' : ` teacher ${c.teacher}`}` +
    `${c.ties ? ' ties' : ''}${c.pred ? '' : ' (no pred)'}`);

async function checkNextToken(gpu: Gpu, c: NextCase): Promise<void> {
  const rand = rng(c.seed);
  const { batch: B, vocab: V } = c;
  const logits = uniform(rand, c.offset + (B - 1) * c.ld + V, -3, 3);
  if (c.ties) {
    // Several equal maxima per row, some in the same thread's stride (v ≡ v' mod 256), some not;
    // one constant row; one row with −∞ entries.
    for (let b = 0; b < B; b++) {
      const row = c.offset + b * c.ld;
      const kind = b % 4;
      if (kind === 0) {
        for (let v = 0; v < V; v++) logits[row + v] = 0.25;
      } else {
        const hi = 4 + (b % 3);
        const picks = [
          randInt(rand, 0, V - 1),
          randInt(rand, 0, V - 1),
          Math.min(V - 1, randInt(rand, 0, V - 1) + 256),
        ];
        for (const p of picks) logits[row + p] = hi;
        if (kind === 3) for (let v = 0; v < V; v += 2) if (logits[row + v] !== hi) logits[row + v] = -Infinity;
      }
    }
  }
  const teacher = c.teacher === 'none' ? undefined : Int32Array.from({ length: B }, () => randInt(rand, 0, V - 1));
  const use =
    c.teacher === 'mix' ? Uint32Array.from({ length: B }, () => (rand() < 0.5 ? 0 : rand() < 0.5 ? 1 : 7)) : undefined;
  const bufs = new Buffers(gpu);
  try {
    const outOff = 2;
    const fill = new Int32Array(B + 2 * outOff).fill(-5);
    const next = bufs.upload(fill);
    const pred = bufs.upload(fill);
    const tOff = 1;
    gpu.run([
      nextTokenDispatch(gpu, {
        batch: B,
        vocab: V,
        logits: { buffer: bufs.upload(logits), offset: c.offset, ld: c.ld },
        teacher: teacher && { buffer: bufs.upload(Int32Array.from([99, ...teacher])), offset: tOff },
        useTeacher: use && { buffer: bufs.upload(Uint32Array.from([5, ...use])), offset: tOff },
        next: { buffer: next, offset: outOff },
        pred: c.pred ? { buffer: pred, offset: outOff } : undefined,
      }),
    ]);
    const want = nextTokenRef(logits, { batch: B, vocab: V, ld: c.ld, offset: c.offset }, teacher, use);
    const gotNext = await bufs.i32(next, B + 2 * outOff);
    assertEqualInts(`${nextName(c)}: next`, gotNext.subarray(outOff, outOff + B), want.next);
    assertEqualInts(
      `${nextName(c)}: next buffer outside its view`,
      [...gotNext.subarray(0, outOff), ...gotNext.subarray(outOff + B)],
      new Array(2 * outOff).fill(-5),
    );
    const gotPred = await bufs.i32(pred, B + 2 * outOff);
    if (c.pred) assertEqualInts(`${nextName(c)}: pred`, gotPred.subarray(outOff, outOff + B), want.pred);
    else assertEqualInts(`${nextName(c)}: pred untouched`, gotPred, fill);
  } finally {
    bufs.release();
  }
}

const nextCases: NextCase[] = [
  { batch: 1, vocab: 1, ld: 1, offset: 0, teacher: 'none', pred: true, seed: 1 },
  { batch: 5, vocab: 37, ld: 40, offset: 3, teacher: 'mix', pred: true, seed: 2 },
  { batch: 3, vocab: 5000, ld: 5000, offset: 0, teacher: 'none', ties: true, pred: true, seed: 3 },
  { batch: 9, vocab: 601, ld: 603, offset: 7, teacher: 'mix', ties: true, pred: true, seed: 4 },
  { batch: 7, vocab: 50000, ld: 50000, offset: 0, teacher: 'none', pred: true, seed: 5 },
  { batch: 4, vocab: 13, ld: 13, offset: 0, teacher: 'all', pred: false, seed: 6 },
  { batch: 70, vocab: 300, ld: 301, offset: 1, teacher: 'mix', pred: false, seed: 7 },
];

// ---------------------------------------------------------------- one beam step

interface BeamCase {
  batch: number;
  k: number;
  vocab: number;
  ld?: number;
  offset?: number;
  step: number;
  eos: number;
  /** 'start': [0, −∞, …] per source; 'random': sorted random scores, finished and dead beams; 'ties'. */
  init: 'start' | 'random' | 'ties';
  amp: number;
  seed: number;
}

const beamName = (c: BeamCase) =>
  `beamSearchStep B${c.batch} k${c.k} ` +
  `V${c.vocab}${c.ld && c.ld !== c.vocab ? ` ld ${c.ld}` : ''} step ${c.step} ` +
  `eos ${c.eos} ${c.init} ±${c.amp}`;

async function checkBeamStep(gpu: Gpu, c: BeamCase): Promise<void> {
  const rand = rng(c.seed);
  const { batch: B, k, vocab: V } = c;
  const ld = c.ld ?? V;
  const off = c.offset ?? 0;
  const rows = B * k;
  const logits = uniform(rand, off + (rows - 1) * ld + V, -c.amp, c.amp);
  const score = new Float32Array(rows);
  const finished = new Uint32Array(rows);
  for (let b = 0; b < B; b++) {
    if (c.init === 'start') {
      for (let j = 1; j < k; j++) score[b * k + j] = -Infinity;
    } else if (c.init === 'random') {
      const s = uniform(rand, k, -20, -1).sort().reverse();
      for (let j = 0; j < k; j++) {
        score[b * k + j] = s[j];
        finished[b * k + j] = rand() < 0.3 ? 1 : 0;
      }
      if (k > 2 && b % 2 === 1) score[b * k + k - 1] = -Infinity; // a dead beam
    } else {
      // Ties: every beam of a source has the same row and the same score; rows hold repeated
      // maxima (odd sources) or are constant (even sources: equal keys within each thread's stride).
      const row = b % 2 === 0 ? new Float32Array(V).fill(0.5) : uniform(rand, V, -c.amp, c.amp);
      if (b % 2 === 1) for (let i = 0; i < Math.min(3, V); i++) row[randInt(rand, 0, V - 1)] = c.amp + 1;
      for (let j = 0; j < k; j++) {
        logits.set(row, off + (b * k + j) * ld);
        score[b * k + j] = -1.5;
      }
      if (b % 2 === 1) finished[b * k] = 1; // a finished beam among equals: its eos candidate ties too
    }
  }
  const bufs = new Buffers(gpu);
  try {
    const hist = (c.step + 2) * rows;
    const sentinel = new Int32Array(hist).fill(-9);
    const parents = bufs.upload(sentinel);
    const tokens = bufs.upload(sentinel);
    const nextOff = 3;
    const next = bufs.upload(new Int32Array(rows + nextOff).fill(-9));
    const beamScore = bufs.upload(score);
    const fin = bufs.upload(finished);
    const before = gpu.pool.stats.inUse;
    gpu.run(
      beamSearchStepDispatches(gpu, {
        batch: B,
        beamWidth: k,
        vocab: V,
        step: c.step,
        eosToken: c.eos,
        logits: { buffer: bufs.upload(logits), offset: off, ld },
        beamScore,
        finished: fin,
        parents,
        tokens,
        next,
        nextOffset: nextOff,
      }),
    );
    assert(
      gpu.pool.stats.inUse === before + 1,
      `${beamName(c)}: the step's uniform and scratch were not released (in ` +
        `use ${gpu.pool.stats.inUse}, before ${before} + the logits upload)`,
    );
    const want = beamStepRef(logits, score, finished, {
      batch: B,
      beamWidth: k,
      vocab: V,
      eosToken: c.eos,
      ld,
      offset: off,
    });
    const gotP = await bufs.i32(parents, hist);
    const gotT = await bufs.i32(tokens, hist);
    const at = c.step * rows;
    assertEqualInts(`${beamName(c)}: tokens`, gotT.subarray(at, at + rows), want.tokens);
    assertEqualInts(`${beamName(c)}: parents`, gotP.subarray(at, at + rows), want.parents);
    for (const [name, arr] of [
      ['parents', gotP],
      ['tokens', gotT],
    ] as const) {
      assertEqualInts(
        `${beamName(c)}: ${name} outside step ${c.step}`,
        [...arr.subarray(0, at), ...arr.subarray(at + rows)],
        new Array(hist - rows).fill(-9),
      );
    }
    const gotNext = await bufs.i32(next, rows + nextOff);
    assertEqualInts(`${beamName(c)}: next`, gotNext, [-9, -9, -9, ...want.tokens]);
    assertEqualInts(`${beamName(c)}: finished`, await bufs.u32(fin, rows), want.finished);
    assertScores(`${beamName(c)}: beamScore`, await bufs.f32(beamScore, rows), want.beamScore);
    if (k === 1 && c.init === 'start') {
      // Beam width 1 is greedy: the token is the argmax of the logits (the next-token kernel's pick).
      const greedy = bufs.upload(new Int32Array(B));
      gpu.run([
        nextTokenDispatch(gpu, {
          batch: B,
          vocab: V,
          logits: { buffer: bufs.upload(logits), offset: off, ld },
          next: { buffer: greedy },
        }),
      ]);
      assertEqualInts(
        `${beamName(c)}: k = 1 vs the next-token kernel`,
        await bufs.i32(greedy, B),
        gotT.subarray(at, at + rows),
      );
    }
  } finally {
    bufs.release();
  }
}

const beamCases: BeamCase[] = [
  { batch: 1, k: 1, vocab: 1, step: 0, eos: 0, init: 'start', amp: 1, seed: 11 },
  { batch: 2, k: 5, vocab: 37, ld: 40, offset: 3, step: 0, eos: 2, init: 'start', amp: 3, seed: 12 },
  { batch: 3, k: 5, vocab: 1001, step: 2, eos: 1000, init: 'random', amp: 4, seed: 13 },
  { batch: 1, k: 16, vocab: 50000, step: 1, eos: 7, init: 'random', amp: 6, seed: 14 },
  { batch: 2, k: 4, vocab: 3, step: 0, eos: 1, init: 'start', amp: 2, seed: 15 },
  { batch: 3, k: 7, vocab: 5, step: 3, eos: 4, init: 'random', amp: 2, seed: 16 },
  { batch: 4, k: 3, vocab: 50, step: 1, eos: 0, init: 'ties', amp: 2, seed: 17 },
  { batch: 6, k: 1, vocab: 777, ld: 780, offset: 1, step: 0, eos: 3, init: 'start', amp: 5, seed: 18 },
  { batch: 2, k: 16, vocab: 17, step: 4, eos: 16, init: 'random', amp: 3, seed: 19 },
  { batch: 65, k: 2, vocab: 300, step: 1, eos: 5, init: 'random', amp: 3, seed: 20 },
  { batch: 1, k: 9, vocab: 2049, step: 0, eos: 2048, init: 'ties', amp: 1, seed: 21 },
  { batch: 2, k: 16, vocab: 300, step: 2, eos: 299, init: 'ties', amp: 1, seed: 22 },
];

// ---------------------------------------------------------------- gather

interface GatherCase {
  groups: number;
  batch: number;
  k: number;
  width: number;
  step: number;
  srcOffset: number;
  dstOffset: number;
  badParent?: boolean;
  seed: number;
}

const gatherName = (c: GatherCase) =>
  `gatherBeamRows G${c.groups} B${c.batch} k${c.k} width ${c.width} ` +
  `step ${c.step} ` +
  `offsets ${c.srcOffset}/${c.dstOffset}${c.badParent ? ' (a parent out of range)' : ''}`;

async function checkGather(gpu: Gpu, c: GatherCase): Promise<void> {
  const rand = rng(c.seed);
  const rows = c.batch * c.k;
  const n = c.groups * rows * c.width;
  // Arbitrary 32-bit words (NaN payloads, denormals, i32): the gather must move bits unchanged.
  const src = Uint32Array.from({ length: c.srcOffset + n }, () => Math.floor(rand() * 2 ** 32));
  const parents = Int32Array.from({ length: (c.step + 1) * rows }, () => randInt(rand, 0, c.k - 1));
  if (c.badParent) parents[c.step * rows + rows - 1] = c.k;
  const bufs = new Buffers(gpu);
  try {
    const dst = bufs.upload(new Uint32Array(c.dstOffset + n + 1).fill(0xdeadbeef));
    gpu.run([
      gatherBeamRowsDispatch(gpu, {
        groups: c.groups,
        batch: c.batch,
        beamWidth: c.k,
        width: c.width,
        step: c.step,
        parents: bufs.upload(parents),
        src: bufs.upload(src),
        dst,
        srcOffset: c.srcOffset,
        dstOffset: c.dstOffset,
      }),
    ]);
    const want = gatherBeamRowsRef(src.subarray(c.srcOffset), parents.subarray(c.step * rows), {
      groups: c.groups,
      batch: c.batch,
      beamWidth: c.k,
      width: c.width,
    });
    const got = await bufs.u32(dst, c.dstOffset + n + 1);
    assertEqualInts(gatherName(c), got.subarray(c.dstOffset, c.dstOffset + n), want);
    assertEqualInts(
      `${gatherName(c)}: outside the view`,
      [...got.subarray(0, c.dstOffset), got[c.dstOffset + n]],
      new Array(c.dstOffset + 1).fill(0xdeadbeef),
    );
  } finally {
    bufs.release();
  }
}

const gatherCases: GatherCase[] = [
  { groups: 1, batch: 1, k: 1, width: 1, step: 0, srcOffset: 0, dstOffset: 0, seed: 31 },
  { groups: 2, batch: 3, k: 5, width: 33, step: 2, srcOffset: 5, dstOffset: 3, seed: 32 },
  { groups: 3, batch: 2, k: 16, width: 130, step: 0, srcOffset: 0, dstOffset: 1, badParent: true, seed: 33 },
  { groups: 1, batch: 70, k: 4, width: 257, step: 1, srcOffset: 0, dstOffset: 0, seed: 34 },
];

// ---------------------------------------------------------------- whole decodes, one command buffer

interface SearchCase {
  batch: number;
  k: number;
  vocab: number;
  steps: number;
  eos: number;
  seed: number;
}

const searchName = (c: SearchCase) =>
  `beam search on the GPU, one command buffer: B${c.batch} k${c.k} V${c.vocab} T${c.steps} eos ${c.eos} vs float64`;

/** Toy model: logits of step t after token p are table[t, p, :]; source b starts from token bos(b). */
function toyTable(rand: () => number, steps: number, V: number, eos: number): Float32Array {
  const table = uniform(rand, steps * V * V, -2, 2);
  // Make eos likely in some (step, previous token) rows so beams finish at different times.
  for (let r = 0; r < steps * V; r++) if (rand() < 0.3) table[r * V + eos] += 2;
  return table;
}
const bosOf = (b: number, V: number) => (2 * b + 1) % V;

function toyLogProbs(table: Float32Array, V: number, bos: number) {
  return (prefix: readonly number[]) => {
    const t = prefix.length;
    const prev = t ? prefix[t - 1] : bos;
    return logSoftmaxRef(table.subarray((t * V + prev) * V, (t * V + prev + 1) * V));
  };
}

/** Replays recorded dispatches (transients taken over) in one compute pass, one submit. */
function replay(gpu: Gpu, dispatches: readonly Dispatch[]): void {
  const encoder = gpu.device.createCommandEncoder({ label: 'decode.check.replay' });
  const pass = encoder.beginComputePass({ label: 'decode.check.replay' });
  encodeDispatches(pass, dispatches);
  pass.end();
  gpu.submit(encoder, dispatches.length);
}

async function checkBeamSearchRun(gpu: Gpu, c: SearchCase): Promise<void> {
  const rand = rng(c.seed);
  const { batch: B, k, vocab: V, steps: T, eos } = c;
  const rows = B * k;
  const table = toyTable(rand, T, V, eos);
  const bufs = new Buffers(gpu);
  const owned: GPUBuffer[] = [];
  try {
    const logits = bufs.upload(new Float32Array(rows * V));
    const initScore = Float32Array.from({ length: rows }, (_, r) => (r % k === 0 ? 0 : -Infinity));
    const beamScore = bufs.upload(initScore);
    const finished = bufs.upload(new Uint32Array(rows));
    const parents = bufs.upload(new Int32Array(T * rows));
    const tokens = bufs.upload(new Int32Array(T * rows));
    // Token history [T, B·k] per beam, ping-ponged: step t gathers columns < t by the parents and
    // the beam step writes column t as its `next`; the next step's embedding reads that column.
    const H = [bufs.upload(new Int32Array(T * rows)), bufs.upload(new Int32Array(T * rows))];
    const bos = bufs.upload(Int32Array.from({ length: rows }, (_, r) => bosOf(Math.floor(r / k), V)));
    const scratch = bufs.upload(new Uint32Array(beamSearchScratchSize(B, k)));
    const tableBuf = bufs.upload(table);

    const recorded: Dispatch[] = [];
    for (let t = 0; t < T; t++) {
      const list: Dispatch[] = [
        embeddingDispatch(gpu, {
          tokens: rows,
          vocab: V,
          dim: V,
          indices: t === 0 ? { buffer: bos } : { buffer: H[(t - 1) % 2], offset: (t - 1) * rows },
          weight: { buffer: tableBuf, offset: t * V * V },
          y: { buffer: logits },
          label: `toy.logits.${t}`,
        }),
        ...beamSearchStepDispatches(gpu, {
          batch: B,
          beamWidth: k,
          vocab: V,
          step: t,
          eosToken: eos,
          logits: { buffer: logits, ld: V },
          beamScore,
          finished,
          parents,
          tokens,
          next: H[t % 2],
          nextOffset: t * rows,
          scratch,
          label: `beam.${t}`,
        }),
      ];
      if (t > 0)
        list.push(
          gatherBeamRowsDispatch(gpu, {
            groups: t,
            batch: B,
            beamWidth: k,
            width: 1,
            step: t,
            parents,
            src: H[(t - 1) % 2],
            dst: H[t % 2],
            label: `gather.${t}`,
          }),
        );
      for (const d of list) {
        owned.push(...(d.transient ?? []));
        recorded.push({ ...d, transient: undefined });
      }
    }
    assert(
      recorded.length === 4 * T - 1,
      `${searchName(c)}: recorded ${recorded.length} dispatches, expected 4·T − 1 = ${4 * T - 1}`,
    );
    assert(
      owned.length === 3 * T - 1,
      `${searchName(c)}: ${owned.length} transient buffers (one uniform per dispatch), expected ${3 * T - 1}`,
    );

    const results: Array<{
      parents: Int32Array;
      tokens: Int32Array;
      score: Float32Array;
      fin: Uint32Array;
      hist: Int32Array;
    }> = [];
    for (let run = 0; run < 2; run++) {
      gpu.device.queue.writeBuffer(beamScore, 0, initScore);
      gpu.device.queue.writeBuffer(finished, 0, new Uint32Array(rows));
      const submits = gpu.stats.submits;
      const created = gpu.pool.stats.created;
      replay(gpu, recorded);
      assert(gpu.stats.submits === submits + 1, `${searchName(c)}: ${gpu.stats.submits - submits} submits, expected 1`);
      assert(
        gpu.pool.stats.created === created,
        `${searchName(c)}: the replay allocated ${gpu.pool.stats.created - created} buffers`,
      );
      results.push({
        parents: await bufs.i32(parents, T * rows),
        tokens: await bufs.i32(tokens, T * rows),
        score: await bufs.f32(beamScore, rows),
        fin: await bufs.u32(finished, rows),
        hist: await bufs.i32(H[(T - 1) % 2], T * rows),
      });
    }
    const g = results[0];
    assertEqualInts(`${searchName(c)}: second replay, parents`, results[1].parents, g.parents);
    assertEqualInts(`${searchName(c)}: second replay, tokens`, results[1].tokens, g.tokens);
    assertEqualInts(
      `${searchName(c)}: second replay, scores`,
      new Uint32Array(results[1].score.buffer),
      new Uint32Array(g.score.buffer),
    );

    for (const alpha of [undefined, 0.6]) {
      const back = backtrackBeams(g.parents, g.tokens, g.score, g.fin, {
        steps: T,
        batch: B,
        beamWidth: k,
        eosToken: eos,
        lengthPenalty: alpha,
      });
      for (let b = 0; b < B; b++) {
        const what = `${searchName(c)}, source ${b}${alpha === undefined ? '' : `, length penalty ${alpha}`}`;
        const ref = beamSearchRef(toyLogProbs(table, V, bosOf(b, V)), {
          beamWidth: k,
          vocab: V,
          eosToken: eos,
          maxSteps: T,
          lengthPenalty: alpha,
        });
        const pick = (a: Int32Array) =>
          Int32Array.from({ length: T * k }, (_, i) => a[(Math.floor(i / k) * B + b) * k + (i % k)]);
        assertEqualInts(`${what}: tokens chosen per step`, pick(g.tokens), ref.tokens);
        assertEqualInts(`${what}: parents chosen per step`, pick(g.parents), ref.parents);
        assertScores(
          `${what}: final beam scores`,
          g.score.subarray(b * k, (b + 1) * k),
          ref.beams.map((x) => x.score),
        );
        assertEqualInts(
          `${what}: finished`,
          g.fin.subarray(b * k, (b + 1) * k),
          ref.beams.map((x) => (x.finished ? 1 : 0)),
        );
        // The history gathered on the GPU step by step = every final beam's tokens.
        for (let j = 0; j < k; j++) {
          assertEqualInts(
            `${what}: gathered history of beam ${j}`,
            Array.from({ length: T }, (_, t) => g.hist[t * rows + b * k + j]),
            ref.beams[j].tokens,
          );
        }
        assertEqualInts(`${what}: backtracked best sequence`, back.sequences[b], ref.sequence);
        assertScores(`${what}: best score`, [back.scores[b]], [ref.score]);
        if (k === 1 && alpha === undefined) {
          assertEqualInts(
            `${what}: k = 1 equals greedy decoding`,
            back.sequences[b],
            greedyDecodeRef(toyLogProbs(table, V, bosOf(b, V)), { eosToken: eos, maxSteps: T }),
          );
        }
      }
    }
  } finally {
    for (const b of owned) gpu.pool.release(b);
    bufs.release();
  }
}

const searchCases: SearchCase[] = [
  { batch: 3, k: 4, vocab: 13, steps: 9, eos: 1, seed: 41 },
  { batch: 2, k: 5, vocab: 3, steps: 6, eos: 0, seed: 42 },
  { batch: 4, k: 1, vocab: 11, steps: 8, eos: 10, seed: 43 },
  { batch: 1, k: 16, vocab: 40, steps: 5, eos: 3, seed: 44 },
  { batch: 2, k: 3, vocab: 301, steps: 7, eos: 2, seed: 45 },
];

/** Greedy decoding with scheduled sampling (a teacher-forcing mask per step and row), recorded. */
async function checkGreedyRun(gpu: Gpu, B: number, V: number, T: number, seed: number): Promise<void> {
  const name = `greedy decode with teacher forcing on the GPU, one command buffer: B${B} V${V} T${T}`;
  const rand = rng(seed);
  const table = toyTable(rand, T, V, 0);
  const teacher = Int32Array.from({ length: T * B }, () => randInt(rand, 0, V - 1));
  const use = Uint32Array.from({ length: T * B }, () => (rand() < 0.5 ? 1 : 0));
  const bufs = new Buffers(gpu);
  const owned: GPUBuffer[] = [];
  try {
    const logits = bufs.upload(new Float32Array(B * V));
    const nextHist = bufs.upload(new Int32Array(T * B));
    const predHist = bufs.upload(new Int32Array(T * B));
    const bos = bufs.upload(Int32Array.from({ length: B }, (_, b) => bosOf(b, V)));
    const teacherBuf = bufs.upload(teacher);
    const useBuf = bufs.upload(use);
    const tableBuf = bufs.upload(table);
    const recorded: Dispatch[] = [];
    for (let t = 0; t < T; t++) {
      for (const d of [
        embeddingDispatch(gpu, {
          tokens: B,
          vocab: V,
          dim: V,
          indices: t === 0 ? { buffer: bos } : { buffer: nextHist, offset: (t - 1) * B },
          weight: { buffer: tableBuf, offset: t * V * V },
          y: { buffer: logits },
        }),
        nextTokenDispatch(gpu, {
          batch: B,
          vocab: V,
          logits: { buffer: logits, ld: V },
          teacher: { buffer: teacherBuf, offset: t * B },
          useTeacher: { buffer: useBuf, offset: t * B },
          next: { buffer: nextHist, offset: t * B },
          pred: { buffer: predHist, offset: t * B },
        }),
      ]) {
        owned.push(...(d.transient ?? []));
        recorded.push({ ...d, transient: undefined });
      }
    }
    const submits = gpu.stats.submits;
    replay(gpu, recorded);
    assert(gpu.stats.submits === submits + 1, `${name}: ${gpu.stats.submits - submits} submits, expected 1`);
    const gotNext = await bufs.i32(nextHist, T * B);
    const gotPred = await bufs.i32(predHist, T * B);
    const wantNext = new Int32Array(T * B);
    const wantPred = new Int32Array(T * B);
    for (let b = 0; b < B; b++) {
      let prev = bosOf(b, V);
      for (let t = 0; t < T; t++) {
        const p = argmaxRef(table.subarray((t * V + prev) * V, (t * V + prev + 1) * V));
        wantPred[t * B + b] = p;
        prev = wantNext[t * B + b] = use[t * B + b] ? teacher[t * B + b] : p;
      }
    }
    assertEqualInts(`${name}: predictions`, gotPred, wantPred);
    assertEqualInts(`${name}: next inputs`, gotNext, wantNext);
  } finally {
    for (const b of owned) gpu.pool.release(b);
    bufs.release();
  }
}

export const decodeChecks: Check[] = [
  ...nextCases.map((c) => ({ name: nextName(c), run: (gpu: Gpu) => checkNextToken(gpu, c) })),
  ...beamCases.map((c) => ({ name: beamName(c), run: (gpu: Gpu) => checkBeamStep(gpu, c) })),
  ...gatherCases.map((c) => ({ name: gatherName(c), run: (gpu: Gpu) => checkGather(gpu, c) })),
  ...searchCases.map((c) => ({ name: searchName(c), run: (gpu: Gpu) => checkBeamSearchRun(gpu, c) })),
  {
    name: 'greedy decode with teacher forcing on the GPU, one command buffer: B5 V11 T8',
    run: (gpu: Gpu) => checkGreedyRun(gpu, 5, 11, 8, 51),
  },
];
