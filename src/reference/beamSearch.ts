/**
 * Float64 references of the decoding kernels (the spec of shaders/next_token.wgsl,
 * beam_search_step.wgsl and gather_rows.wgsl) and of whole greedy / beam-search decodes.
 *
 * One beam step, per source b with beams j < k (row b·k + j):
 *   logp[j, v] = logits[j, v] − log Σ_u exp(logits[j, u])
 *   cand(j, v) = score[j] + logp[j, v]                 live beam
 *              = score[j] if v = eos, else −∞           finished beam
 *   (a dead beam, score −∞, has only −∞ candidates)
 *   the k best candidates — score descending, then beam ascending, then token ascending — are
 *   the new beams r = 0 … k−1, with finished = parent finished ∨ v = eos.
 * A search starts from scores [0, −∞, …, −∞]: only beam 0 is live at step 0.
 */

export interface BeamDims {
  batch: number;
  beamWidth: number;
  vocab: number;
  eosToken: number;
  /** Row stride of the logits (default vocab). */
  ld?: number;
  /** Element offset of the first logits row (default 0). */
  offset?: number;
}

export interface BeamStepResult {
  /** [batch·k] new scores. */
  beamScore: Float64Array;
  /** [batch·k] 0 / 1. */
  finished: Uint32Array;
  /** [batch·k] parent beam j of each new beam. */
  parents: Int32Array;
  /** [batch·k] token of each new beam. */
  tokens: Int32Array;
}

/** log_softmax of one row, in float64. */
export function logSoftmaxRef(row: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let v = 0; v < row.length; v++) max = Math.max(max, row[v]);
  let sum = 0;
  for (let v = 0; v < row.length; v++) sum += Math.exp(row[v] - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(row, (x) => x - lse);
}

/** Argmax of a row, the lowest index on ties. */
export function argmaxRef(row: ArrayLike<number>): number {
  let best = 0;
  for (let v = 1; v < row.length; v++) if (row[v] > row[best]) best = v;
  return best;
}

interface Candidate {
  score: number;
  beam: number;
  token: number;
}

/**
 * Selection of one source: `logp[j]` the log-probabilities of beam j (unused for dead or
 * finished beams), `score[j]` and `finished[j]` its state. Returns the k new beams in order.
 */
export function selectBeamsRef(
  logp: ArrayLike<number>[],
  score: ArrayLike<number>,
  finished: ArrayLike<number>,
  o: { beamWidth: number; vocab: number; eosToken: number },
): Array<Candidate & { finished: boolean }> {
  const all: Candidate[] = [];
  for (let j = 0; j < o.beamWidth; j++) {
    for (let v = 0; v < o.vocab; v++) {
      let s: number;
      if (score[j] === -Infinity) s = -Infinity;
      else if (finished[j]) s = v === o.eosToken ? score[j] : -Infinity;
      else s = score[j] + logp[j][v];
      all.push({ score: s, beam: j, token: v });
    }
  }
  all.sort((a, b) => {
    if (a.score !== b.score) return a.score > b.score ? -1 : 1;
    return a.beam - b.beam || a.token - b.token;
  });
  return all.slice(0, o.beamWidth).map((c) => ({ ...c, finished: !!finished[c.beam] || c.token === o.eosToken }));
}

/** One beam-search step over `batch` sources from logits rows [batch·k, vocab] (stride ld). */
export function beamStepRef(
  logits: ArrayLike<number>,
  beamScore: ArrayLike<number>,
  finished: ArrayLike<number>,
  d: BeamDims,
): BeamStepResult {
  const k = d.beamWidth;
  const ld = d.ld ?? d.vocab;
  const off = d.offset ?? 0;
  const n = d.batch * k;
  const out: BeamStepResult = {
    beamScore: new Float64Array(n),
    finished: new Uint32Array(n),
    parents: new Int32Array(n),
    tokens: new Int32Array(n),
  };
  for (let b = 0; b < d.batch; b++) {
    const logp: Float64Array[] = [];
    for (let j = 0; j < k; j++) {
      const start = off + (b * k + j) * ld;
      logp.push(logSoftmaxRef(Array.prototype.slice.call(logits, start, start + d.vocab) as number[]));
    }
    const sel = selectBeamsRef(
      logp,
      Array.from({ length: k }, (_, j) => beamScore[b * k + j]),
      Array.from({ length: k }, (_, j) => finished[b * k + j]),
      d,
    );
    sel.forEach((c, r) => {
      out.beamScore[b * k + r] = c.score;
      out.finished[b * k + r] = c.finished ? 1 : 0;
      out.parents[b * k + r] = c.beam;
      out.tokens[b * k + r] = c.token;
    });
  }
  return out;
}

/** next[b] = useTeacher[b] ≠ 0 ? teacher[b] : argmax logits[b] (no useTeacher: teacher everywhere). */
export function nextTokenRef(
  logits: ArrayLike<number>,
  d: { batch: number; vocab: number; ld?: number; offset?: number },
  teacher?: ArrayLike<number>,
  useTeacher?: ArrayLike<number>,
): { next: Int32Array; pred: Int32Array } {
  const ld = d.ld ?? d.vocab;
  const off = d.offset ?? 0;
  const next = new Int32Array(d.batch);
  const pred = new Int32Array(d.batch);
  for (let b = 0; b < d.batch; b++) {
    pred[b] = argmaxRef(Array.prototype.slice.call(logits, off + b * ld, off + b * ld + d.vocab) as number[]);
    const forced = teacher !== undefined && (useTeacher === undefined || useTeacher[b] !== 0);
    next[b] = forced ? teacher![b] : pred[b];
  }
  return { next, pred };
}

/** dst[g, b·k + j, :] = src[g, b·k + parents[b·k + j], :] (parents of one step). */
export function gatherBeamRowsRef(
  src: ArrayLike<number>,
  parents: ArrayLike<number>,
  d: { groups: number; batch: number; beamWidth: number; width: number },
): Float64Array {
  const k = d.beamWidth;
  const rows = d.batch * k;
  const dst = new Float64Array(d.groups * rows * d.width);
  for (let g = 0; g < d.groups; g++)
    for (let r = 0; r < rows; r++) {
      const p = parents[r];
      if (!(p >= 0 && p < k)) continue; // out of range: a zero row
      const from = g * rows + (r - (r % k)) + p;
      for (let e = 0; e < d.width; e++) dst[(g * rows + r) * d.width + e] = src[from * d.width + e];
    }
  return dst;
}

/** GNMT length penalty ((5 + len)/6)^α. */
export function lengthPenaltyRef(len: number, alpha: number): number {
  return Math.pow((5 + len) / 6, alpha);
}

/** A step function: the log-probabilities of the next token after `prefix` (the tokens so far). */
export type LogProbsFn = (prefix: readonly number[]) => ArrayLike<number>;

export interface BeamSearchResult {
  /** Best finished (else best) beam, tokens before the first eos. */
  sequence: number[];
  /** Its score (÷ the length penalty when one is given). */
  score: number;
  /** The k final beams: every token (eos repeats after finishing), raw score, finished. */
  beams: Array<{ tokens: number[]; score: number; finished: boolean }>;
  /** [steps, k] parent beam and token chosen at each step (what the GPU records). */
  parents: Int32Array;
  tokens: Int32Array;
}

/**
 * Beam search of one source for `maxSteps` steps (finished beams carry on with eos at unchanged
 * score), then the choice of {@link backtrackBeams}: the best finished beam, else the best beam,
 * by score ÷ ((5 + len)/6)^α when `lengthPenalty` α is given (len counts the ending eos); ties:
 * lowest beam.
 */
export function beamSearchRef(
  logProbs: LogProbsFn,
  o: { beamWidth: number; vocab: number; eosToken: number; maxSteps: number; lengthPenalty?: number },
): BeamSearchResult {
  const k = o.beamWidth;
  let beams = Array.from({ length: k }, (_, j) => ({
    tokens: [] as number[],
    score: j === 0 ? 0 : -Infinity,
    finished: false,
  }));
  const parents = new Int32Array(o.maxSteps * k);
  const tokens = new Int32Array(o.maxSteps * k);
  for (let t = 0; t < o.maxSteps; t++) {
    const logp = beams.map((bm) =>
      bm.score === -Infinity || bm.finished ? new Float64Array(o.vocab) : logProbs(bm.tokens),
    );
    const sel = selectBeamsRef(
      logp,
      beams.map((bm) => bm.score),
      beams.map((bm) => (bm.finished ? 1 : 0)),
      o,
    );
    beams = sel.map((c, r) => {
      parents[t * k + r] = c.beam;
      tokens[t * k + r] = c.token;
      return { tokens: [...beams[c.beam].tokens, c.token], score: c.score, finished: c.finished };
    });
  }
  const scored = beams.map((bm) => {
    const eosAt = bm.tokens.indexOf(o.eosToken);
    const len = eosAt < 0 ? bm.tokens.length : eosAt + 1;
    const score = o.lengthPenalty === undefined ? bm.score : bm.score / lengthPenaltyRef(len, o.lengthPenalty);
    return { sequence: eosAt < 0 ? bm.tokens : bm.tokens.slice(0, eosAt), score, finished: bm.finished };
  });
  const pool = scored.some((x) => x.finished) ? scored.filter((x) => x.finished) : scored;
  let best = pool[0];
  for (const x of pool) if (x.score > best.score) best = x;
  return { sequence: best.sequence, score: best.score, beams, parents, tokens };
}

/** Greedy decoding: argmax (lowest token on ties) of each step until eos or `maxSteps`; tokens before eos. */
export function greedyDecodeRef(logProbs: LogProbsFn, o: { eosToken: number; maxSteps: number }): number[] {
  const out: number[] = [];
  for (let t = 0; t < o.maxSteps; t++) {
    const v = argmaxRef(logProbs(out));
    if (v === o.eosToken) break;
    out.push(v);
  }
  return out;
}
