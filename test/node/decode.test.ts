// Decoding kernels (next token, beam-search step, beam-state gather, whole recorded decodes) vs
// the float64 references (Node, Dawn); the float64 beam search vs exhaustive search; bad input.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/index.js';
import { decodeChecks } from '../checks/decode.js';
import { testGpu } from './gpu.js';
import {
  beamSearchRef,
  beamStepRef,
  greedyDecodeRef,
  logSoftmaxRef,
  lengthPenaltyRef,
  type LogProbsFn,
} from '../../src/reference/beamSearch.js';
import { rng, uniform } from '../../src/util/random.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

describe('decoding kernels vs the float64 references (Node, Dawn)', () => {
  for (const check of decodeChecks) {
    it(
      check.name,
      async () => {
        await check.run(gpu);
        await gpu.sync();
      },
      120_000,
    );
  }
});

/** A random step function: logits of step t after prefix p from a seeded hash of (t, p). */
function randomModel(V: number, seed: number): LogProbsFn {
  const cache = new Map<string, Float64Array>();
  return (prefix) => {
    const key = prefix.join(',');
    let row = cache.get(key);
    if (!row) {
      let h = seed;
      for (const x of [prefix.length, ...prefix]) h = (Math.imul(h ^ (x + 0x9e3779b9), 0x85ebca6b) >>> 0) + 1;
      row = logSoftmaxRef(uniform(rng(h), V, -3, 3));
      cache.set(key, row);
    }
    return row;
  };
}

/** Every hypothesis of ≤ T tokens (ending at the first eos, or T tokens without one): the best. */
function exhaustive(
  lp: LogProbsFn,
  V: number,
  eos: number,
  T: number,
  alpha?: number,
): { sequence: number[]; score: number; count: number } {
  const hyps: Array<{ sequence: number[]; score: number; finished: boolean }> = [];
  const walk = (prefix: number[], score: number) => {
    if (prefix.length === T) return void hyps.push({ sequence: prefix, score, finished: false });
    const p = lp(prefix);
    for (let v = 0; v < V; v++) {
      if (v === eos) hyps.push({ sequence: prefix, score: score + p[v], finished: true });
      else walk([...prefix, v], score + p[v]);
    }
  };
  walk([], 0);
  const norm = (h: (typeof hyps)[number]) =>
    alpha === undefined ? h.score : h.score / lengthPenaltyRef(h.sequence.length + (h.finished ? 1 : 0), alpha);
  const pool = hyps.some((h) => h.finished) ? hyps.filter((h) => h.finished) : hyps;
  const best = pool.reduce((a, b) => (norm(b) > norm(a) ? b : a));
  return { sequence: best.sequence, score: norm(best), count: hyps.length };
}

describe('float64 beam search reference', () => {
  it('a beam as wide as the hypothesis space finds the exhaustive optimum (with and without length penalty)', () => {
    for (const [V, eos, T] of [
      [3, 2, 3],
      [4, 0, 2],
      [2, 1, 4],
    ]) {
      for (let seed = 1; seed <= 20; seed++) {
        const lp = randomModel(V, seed);
        for (const alpha of [undefined, 0.6, 2]) {
          const ex = exhaustive(lp, V, eos, T, alpha);
          expect(ex.count).toBeLessThanOrEqual(16);
          const bs = beamSearchRef(lp, { beamWidth: 16, vocab: V, eosToken: eos, maxSteps: T, lengthPenalty: alpha });
          expect(bs.sequence).toEqual(ex.sequence);
          expect(Math.abs(bs.score - ex.score)).toBeLessThan(1e-12);
        }
      }
    }
  });

  it('beam width 1 is greedy decoding', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const lp = randomModel(7, 100 + seed);
      const bs = beamSearchRef(lp, { beamWidth: 1, vocab: 7, eosToken: 3, maxSteps: 12 });
      expect(bs.sequence).toEqual(greedyDecodeRef(lp, { eosToken: 3, maxSteps: 12 }));
    }
  });

  it('one step by hand: log-softmax scores, (score, beam, token) order, finished beams extend with eos only', () => {
    const L = Math.log;
    // Source 0: beam 0 live (score 0), beam 1 dead: only beam 0's candidates are finite.
    // Source 1: beam 0 finished (score −1), beam 1 live (score −2) with a tie between tokens 0 and 2.
    const logits = [L(1), L(2), L(1), 0, 0, 0, 9, 9, 9, L(2), L(1), L(2)];
    const r = beamStepRef(logits, [0, -Infinity, -1, -2], [0, 0, 1, 0], {
      batch: 2,
      beamWidth: 2,
      vocab: 3,
      eosToken: 1,
    });
    expect(Array.from(r.tokens)).toEqual([1, 0, 1, 0]);
    expect(Array.from(r.parents)).toEqual([0, 0, 0, 1]);
    expect(Array.from(r.finished)).toEqual([1, 0, 1, 0]);
    expect(r.beamScore[0]).toBeCloseTo(L(2 / 4), 14);
    expect(r.beamScore[1]).toBeCloseTo(L(1 / 4), 14);
    expect(r.beamScore[2]).toBe(-1);
    expect(r.beamScore[3]).toBeCloseTo(-2 + L(2 / 5), 14);
  });
});

describe('decoding bad input: errors name the argument, before any GPU work', () => {
  it('rejects bad widths, tokens, strides, sizes and aliasing; works afterwards', async () => {
    const {
      ShapeError,
      beamSearchStepDispatches,
      nextTokenDispatch,
      gatherBeamRowsDispatch,
      backtrackBeams,
      BEAM_SEARCH_MAX_WIDTH,
    } = await import('../../src/index.js');
    const { TENSOR_USAGE } = await import('../../src/gpu/flags.js');
    const buf = (n: number) => gpu.pool.acquire(n * 4, TENSOR_USAGE, 'decode.bad');
    const inUse = gpu.pool.stats.inUse;
    const [logits, score, fin, parents, tokens, next, small, dst] = [
      buf(6 * 50),
      buf(6),
      buf(6),
      buf(3 * 6),
      buf(3 * 6),
      buf(6),
      buf(4),
      buf(300),
    ];
    const ok = {
      batch: 2,
      beamWidth: 3,
      vocab: 50,
      step: 2,
      eosToken: 49,
      logits: { buffer: logits, ld: 50 },
      beamScore: score,
      finished: fin,
      parents,
      tokens,
      next,
    };
    const step = (o: Partial<typeof ok> & Record<string, unknown>) => () =>
      beamSearchStepDispatches(gpu, { ...ok, ...o });
    expect(BEAM_SEARCH_MAX_WIDTH).toBeGreaterThanOrEqual(16);
    expect(step({ beamWidth: 17, batch: 1 })).toThrow(/beamWidth must be an integer in \[1, 16\], got 17/);
    expect(step({ beamWidth: 0 })).toThrow(ShapeError);
    expect(step({ eosToken: 50 })).toThrow(/eosToken must be a token in \[0, 50\), got 50/);
    expect(step({ eosToken: -1 })).toThrow(/eosToken/);
    expect(step({ logits: { buffer: logits, ld: 49 } })).toThrow(
      /'logits' row stride ld must be an integer ≥ vocab \(50\), got 49/,
    );
    expect(step({ logits: { buffer: logits, ld: 51 } })).toThrow(
      /buffer 'logits' holds 300 elements, needs 305 from offset 0/,
    );
    expect(step({ step: 3 })).toThrow(/buffer 'parents' holds 20 elements, needs 24/);
    expect(step({ beamScore: small })).toThrow(/buffer 'beamScore' holds 4 elements, needs 6/);
    expect(step({ next: small })).toThrow(/buffer 'next' holds 4 elements, needs 6/);
    expect(step({ finished: score })).toThrow(/'finished' and 'beamScore' must be different buffers/);
    expect(step({ scratch: small })).toThrow(/buffer 'scratch' holds 4 elements, needs 36/);

    const nt = (o: Record<string, unknown>) => () =>
      nextTokenDispatch(gpu, { batch: 6, vocab: 50, logits: { buffer: logits, ld: 50 }, next: { buffer: next }, ...o });
    expect(nt({ useTeacher: { buffer: fin } })).toThrow(/'useTeacher' was given without 'teacher'/);
    expect(nt({ next: { buffer: next, offset: 3 } })).toThrow(/buffer 'next' holds 8 elements, needs 6 from offset 3/);
    expect(nt({ teacher: { buffer: small } })).toThrow(/buffer 'teacher' holds 4 elements, needs 6/);
    expect(nt({ pred: { buffer: next } })).toThrow(/'pred' and 'next' must be different buffers/);
    expect(nt({ vocab: 0 })).toThrow(/vocab must be a positive integer, got 0/);

    const ga = (o: Record<string, unknown>) => () =>
      gatherBeamRowsDispatch(gpu, {
        groups: 2,
        batch: 2,
        beamWidth: 3,
        width: 25,
        step: 2,
        parents,
        src: logits,
        dst,
        ...o,
      });
    expect(ga({ dst: logits })).toThrow(/'src' and 'dst' must be different buffers/);
    expect(ga({ srcOffset: 1 })).toThrow(/buffer 'src' holds 300 elements, needs 300 from offset 1/);
    expect(ga({ step: 3 })).toThrow(/buffer 'parents' holds 20 elements, needs 24/);
    expect(ga({ width: 0 })).toThrow(/width must be a positive integer, got 0/);

    const o = { steps: 2, batch: 1, beamWidth: 2, eosToken: 0 };
    expect(() =>
      backtrackBeams(new Int32Array(3), new Int32Array(4), new Float32Array(2), new Uint32Array(2), o),
    ).toThrow(/'parents' has 3 elements, needs 4/);
    expect(() =>
      backtrackBeams(Int32Array.from([0, 0, 5, 0]), new Int32Array(4), new Float32Array(2), new Uint32Array(2), o),
    ).toThrow(/parents\[1, 0, ·\] = 5 is not a beam in \[0, 2\)/);

    // Nothing leaked, and a valid step still runs.
    gpu.run(beamSearchStepDispatches(gpu, ok));
    await gpu.sync();
    for (const b of [logits, score, fin, parents, tokens, next, small, dst]) gpu.pool.release(b);
    expect(gpu.pool.stats.inUse).toBe(inUse);
  });
});
