// Host side of the decoding kernels a seq2seq decoder records step by step into one command
// buffer (no readback between steps):
//   shaders/next_token.wgsl        greedy argmax / teacher forcing → the next decoder input
//   shaders/beam_search_step.wgsl  one beam-search step (log-softmax, top-k per beam, merge per source)
//   shaders/gather_rows.wgsl       beam state rows reordered by the parents a step chose
// and backtrackBeams, which turns the recorded history into token sequences on the CPU.
// Every dispatch's uniform (and scratch it allocates) is `transient`: a plan that keeps the
// dispatches takes them over; recording allocates, replaying does not.
import type { Gpu } from '../gpu/device.js';
import type { Dispatch } from '../gpu/dispatch.js';
import { ArgumentError, ShapeError } from '../util/errors.js';
import { TENSOR_USAGE } from '../gpu/flags.js';
import { grid2d } from './grid.js';
import { defineShader } from '../gpu/kernel.js';
import nextTokenWgsl from '../../shaders/next_token.wgsl?raw';
import beamSearchStepWgsl from '../../shaders/beam_search_step.wgsl?raw';
import gatherRowsWgsl from '../../shaders/gather_rows.wgsl?raw';
import { checkView } from './view.js';

const NEXT_TOKEN_SHADER = /*#__PURE__*/ defineShader('next_token.wgsl', nextTokenWgsl);
const BEAM_SEARCH_STEP_SHADER = /*#__PURE__*/ defineShader('beam_search_step.wgsl', beamSearchStepWgsl);
const GATHER_ROWS_SHADER = /*#__PURE__*/ defineShader('gather_rows.wgsl', gatherRowsWgsl);

/** A buffer and an element offset into it. */
export interface DecodeView {
  /** The buffer. */
  buffer: GPUBuffer;
  /** Element offset of the first element. Default 0. */
  offset?: number;
}

/** Rows of logits: row r starts at element offset + r·ld. */
export interface LogitsView extends DecodeView {
  /** Row stride in elements, ≥ vocab. */
  ld: number;
}

/** The widest beam {@link beamSearchStepDispatches} supports (private top-k lists of this size). */
export const BEAM_SEARCH_MAX_WIDTH = 16;

const WG = 256;

function positiveInt(label: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v <= 0) throw new ShapeError(`${label}: ${name} must be a positive integer, got ${v}`);
}

function checkLogits(label: string, v: LogitsView | undefined, rows: number, vocab: number): number {
  if (!v || !v.buffer) throw new ArgumentError(`${label}: buffer 'logits' is required`);
  if (!Number.isInteger(v.ld) || v.ld < vocab)
    throw new ShapeError(`${label}: 'logits' row stride ld must be an integer ≥ vocab (${vocab}), got ${v.ld}`);
  return checkView(label, 'logits', v, (rows - 1) * v.ld + vocab);
}

/** Throws unless every named buffer is a different buffer (a written binding may not alias another). */
function distinct(label: string, buffers: Record<string, GPUBuffer | undefined>): void {
  const seen = new Map<GPUBuffer, string>();
  for (const [name, b] of Object.entries(buffers)) {
    if (!b) continue;
    const other = seen.get(b);
    if (other)
      throw new ArgumentError(`${label}: '${name}' and '${other}' must be different buffers (one of them is written)`);
    seen.set(b, name);
  }
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** Arguments of {@link nextTokenDispatch}; sizes and offsets in elements. */
export interface NextTokenArgs {
  /** Rows (decoder batch). */
  batch: number;
  /** Logits per row. */
  vocab: number;
  /** [batch rows of vocab] f32 logits, row stride ld. */
  logits: LogitsView;
  /** i32 [batch]: the teacher's tokens. Without `useTeacher` every row is teacher-forced. */
  teacher?: DecodeView;
  /** u32 [batch]: 1 = take the teacher's token (needs `teacher`), 0 = the prediction. */
  useTeacher?: DecodeView;
  /** i32 [batch]: the next decoder input. */
  next: DecodeView;
  /** i32 [batch]: the argmax (the prediction), written when given. */
  pred?: DecodeView;
  /** Names the dispatch in errors and profiles. Default `'nextToken'`. */
  label?: string;
}

/**
 * Next decoder input per batch row: next[b] = useTeacher[b] != 0 ? teacher[b] : argmax_v logits[b, v]
 * (lowest index on ties); also writes the argmax (the prediction) to `pred`. Views are (buffer,
 * element offset); logits rows have row stride `ld`. One dispatch; its uniform is `transient`.
 * @param gpu - The device.
 * @param a - Sizes and views.
 * @throws ShapeError for sizes that are not positive integers, a view too small, `useTeacher`
 *   without `teacher`, or an output sharing a buffer with an input.
 */
export function nextTokenDispatch(gpu: Gpu, a: NextTokenArgs): Dispatch {
  const label = a.label ?? 'nextToken';
  positiveInt(label, 'batch', a.batch);
  positiveInt(label, 'vocab', a.vocab);
  if (a.vocab > 0x7fffffff) throw new ShapeError(`${label}: vocab ${a.vocab} exceeds the i32 token range`);
  const offsetLogits = checkLogits(label, a.logits, a.batch, a.vocab);
  if (a.useTeacher && !a.teacher) throw new ArgumentError(`${label}: 'useTeacher' was given without 'teacher'`);
  const offsetTeacher = a.teacher ? checkView(label, 'teacher', a.teacher, a.batch) : 0;
  const offsetUse = a.useTeacher ? checkView(label, 'useTeacher', a.useTeacher, a.batch) : 0;
  const offsetNext = checkView(label, 'next', a.next, a.batch);
  const offsetPred = a.pred ? checkView(label, 'pred', a.pred, a.batch) : 0;
  distinct(label, { next: a.next.buffer, pred: a.pred?.buffer, logits: a.logits.buffer });
  distinct(label, { next: a.next.buffer, pred: a.pred?.buffer, teacher: a.teacher?.buffer });
  distinct(label, { next: a.next.buffer, pred: a.pred?.buffer, useTeacher: a.useTeacher?.buffer });
  const wg = a.vocab <= 64 ? 64 : WG;
  const { gridX, workgroups } = grid2d(gpu, a.batch, label);
  const params = gpu.uniform(NEXT_TOKEN_SHADER, 'params', {
    batch: a.batch,
    vocab: a.vocab,
    ldLogits: a.logits.ld,
    offsetLogits,
    offsetTeacher,
    offsetUse,
    offsetNext,
    offsetPred,
    gridX,
  });
  // Without `pred` the (never written) read-write binding gets a 16-byte buffer of its own: the
  // shared dummy is bound read-only for teacher/useTeacher and may not be writable too.
  const pred = a.pred?.buffer ?? gpu.pool.acquire(16, TENSOR_USAGE, `${label}.noPred`);
  return {
    label,
    pipeline: gpu.pipeline(NEXT_TOKEN_SHADER, {
      WG: wg,
      HAS_TEACHER: !!a.teacher,
      HAS_USE: !!a.useTeacher,
      WRITE_PRED: !!a.pred,
    }),
    bindGroup: gpu.bindGroup(NEXT_TOKEN_SHADER, {
      logits: a.logits.buffer,
      teacher: a.teacher?.buffer ?? gpu.dummyBuffer,
      useTeacher: a.useTeacher?.buffer ?? gpu.dummyBuffer,
      next: a.next.buffer,
      pred,
      params,
    }),
    workgroups,
    transient: a.pred ? [params] : [params, pred],
  };
}

/**
 * Elements (u32) of the candidate scratch buffer one beam-search step needs: batch·k·k·2.
 * @param batch - Sources.
 * @param beamWidth - k.
 */
export function beamSearchScratchSize(batch: number, beamWidth: number): number {
  return batch * beamWidth * beamWidth * 2;
}

/** Arguments of {@link beamSearchStepDispatches}; sizes and offsets in elements. */
export interface BeamSearchStepArgs {
  /** Sources; rows are b·beamWidth + j. */
  batch: number;
  /** k ≤ {@link BEAM_SEARCH_MAX_WIDTH}. */
  beamWidth: number;
  /** Logits per row (target vocabulary). */
  vocab: number;
  /** Slot of this step in `parents` / `tokens`. */
  step: number;
  /** End-of-sequence token: a finished beam only extends with it. */
  eosToken: number;
  /** [batch·k rows of vocab] f32 logits of this step, row stride ld. */
  logits: LogitsView;
  /** f32 [batch·k], read and updated in place. Initialise to [0, −∞, …, −∞] per source. */
  beamScore: GPUBuffer;
  /** u32 [batch·k] (0 / 1), read and updated in place. Initialise to 0. */
  finished: GPUBuffer;
  /** i32 [maxSteps, batch, k]: parent beam of each new beam, written at `step`. */
  parents: GPUBuffer;
  /** i32 [maxSteps, batch, k]: token of each new beam, written at `step`. */
  tokens: GPUBuffer;
  /** i32 [batch·k] from `nextOffset`: the chosen tokens again (the next decoder input). */
  next: GPUBuffer;
  /** Element offset into `next`. Default 0. */
  nextOffset?: number;
  /**
   * Candidate scratch, ≥ {@link beamSearchScratchSize}(batch, k) u32 elements, shared by all
   * steps of a plan. Absent: one is taken from the pool and listed in `transient`.
   */
  scratch?: GPUBuffer;
  /** Names the dispatches in errors and profiles. Default `'beamSearchStep'`. */
  label?: string;
}

/**
 * One beam-search step for `batch` sources × `beamWidth` beams (rows b·k + j): logp =
 * log_softmax(logits[row]); candidate score = beamScore[row] + logp[v]; finished beams only extend
 * with `eosToken` at unchanged score; the top k of the k·vocab candidates per source (ties: lowest
 * beam, then lowest token) become the new beams: beamScore and finished are updated IN PLACE
 * (no ping-pong: the second pass reads only the scratch candidates), parents/tokens [maxSteps,
 * batch, k] are written at `step`, and the tokens also to `next`.
 *
 * Caller allocates: beamScore f32 [batch·k] (= [0, −∞, …] per source before step 0), finished
 * u32 [batch·k] (= 0), parents and tokens i32 [maxSteps·batch·k], next i32 [batch·k], and
 * optionally the scratch. Two dispatches (per-beam top-k, per-source merge); the uniform (and a
 * pool scratch) are `transient` on the first. The work is O(vocab) per row plus O(k²) per row.
 * @param gpu - The device.
 * @param a - Sizes, the step, and the buffers.
 * @throws ShapeError for sizes that are not positive integers, a beam width outside [1, 16], an
 *   eosToken outside the vocabulary, a buffer too small, or two arguments sharing a buffer.
 */
export function beamSearchStepDispatches(gpu: Gpu, a: BeamSearchStepArgs): Dispatch[] {
  const label = a.label ?? 'beamSearchStep';
  positiveInt(label, 'batch', a.batch);
  positiveInt(label, 'vocab', a.vocab);
  if (!Number.isInteger(a.beamWidth) || a.beamWidth < 1 || a.beamWidth > BEAM_SEARCH_MAX_WIDTH) {
    throw new ShapeError(`${label}: beamWidth must be an integer in [1, ${BEAM_SEARCH_MAX_WIDTH}], got ${a.beamWidth}`);
  }
  if (a.vocab >= 0x7fffffff) throw new ShapeError(`${label}: vocab ${a.vocab} exceeds the token range (< 2³¹ − 1)`);
  if (!Number.isInteger(a.eosToken) || a.eosToken < 0 || a.eosToken >= a.vocab) {
    throw new ShapeError(`${label}: eosToken must be a token in [0, ${a.vocab}), got ${a.eosToken}`);
  }
  if (!Number.isInteger(a.step) || a.step < 0)
    throw new ArgumentError(`${label}: step must be a non-negative integer, got ${a.step}`);
  const k = a.beamWidth;
  const rows = a.batch * k;
  const offsetLogits = checkLogits(label, a.logits, rows, a.vocab);
  checkView(label, 'beamScore', { buffer: a.beamScore }, rows);
  checkView(label, 'finished', { buffer: a.finished }, rows);
  checkView(label, 'parents', { buffer: a.parents }, (a.step + 1) * rows);
  checkView(label, 'tokens', { buffer: a.tokens }, (a.step + 1) * rows);
  const offsetNext = checkView(label, 'next', { buffer: a.next, offset: a.nextOffset }, rows);
  const scratchSize = beamSearchScratchSize(a.batch, k);
  if (a.scratch) checkView(label, 'scratch', { buffer: a.scratch }, scratchSize);
  distinct(label, {
    logits: a.logits.buffer,
    beamScore: a.beamScore,
    finished: a.finished,
    scratch: a.scratch,
    parents: a.parents,
    tokens: a.tokens,
    next: a.next,
  });
  const g0 = grid2d(gpu, rows, label);
  const g1 = grid2d(gpu, a.batch, label);
  const params = gpu.uniform(BEAM_SEARCH_STEP_SHADER, 'params', {
    batch: a.batch,
    vocab: a.vocab,
    ldLogits: a.logits.ld,
    offsetLogits,
    eosToken: a.eosToken,
    offsetHistory: a.step * rows,
    offsetNext,
    gridRows: g0.gridX,
    gridSources: g1.gridX,
    negInf: -Infinity,
  });
  const scratch = a.scratch ?? gpu.pool.acquire(scratchSize * 4, TENSOR_USAGE, `${label}.candidates`);
  const bindGroup = gpu.bindGroup(BEAM_SEARCH_STEP_SHADER, {
    logits: a.logits.buffer,
    beamScore: a.beamScore,
    finished: a.finished,
    cand: scratch,
    parents: a.parents,
    tokens: a.tokens,
    next: a.next,
    params,
  });
  const wg0 = a.vocab <= 64 ? 64 : WG;
  const wg1 = Math.max(64, nextPow2(k * k));
  return [
    {
      label: `${label}.topk`,
      pipeline: gpu.pipeline(BEAM_SEARCH_STEP_SHADER, { PASS: 0, WG: wg0, K: k }),
      bindGroup,
      workgroups: g0.workgroups,
      transient: a.scratch ? [params] : [params, scratch],
    },
    {
      label: `${label}.merge`,
      pipeline: gpu.pipeline(BEAM_SEARCH_STEP_SHADER, { PASS: 1, WG: wg1, K: k }),
      bindGroup,
      workgroups: g1.workgroups,
    },
  ];
}

/** Arguments of {@link gatherBeamRowsDispatch}; sizes and offsets in elements (32-bit words). */
export interface GatherBeamRowsArgs {
  /** Leading dimension g (e.g. numLayers for h [L, B·k, H]). */
  groups: number;
  /** Sources. */
  batch: number;
  /** k: rows are b·k + j. */
  beamWidth: number;
  /** Words per row. */
  width: number;
  /** Slot of `parents` [maxSteps, batch, k] to read. */
  step: number;
  /** i32 [maxSteps, batch, k], as {@link beamSearchStepDispatches} writes it. */
  parents: GPUBuffer;
  /** The state rows [groups, batch·k, width] before the step. */
  src: GPUBuffer;
  /** Where the reordered rows go (not `src`). */
  dst: GPUBuffer;
  /** Word offset into `src`. Default 0. */
  srcOffset?: number;
  /** Word offset into `dst`. Default 0. */
  dstOffset?: number;
  /** Names the dispatch in errors and profiles. Default `'gatherBeamRows'`. */
  label?: string;
}

/**
 * Reorders beam state rows by the parents chosen at `step`:
 * dst[g, b·k + j, :] = src[g, b·k + parents[step, b, j], :] for g < groups. Rows are copied as
 * 32-bit words, so f32 and i32 state move bit for bit; a parent outside [0, k) gives a zero row.
 * `src` and `dst` must be distinct buffers (ping-pong, or copy back). One dispatch; its uniform
 * is `transient`.
 * @param gpu - The device.
 * @param a - Sizes, the step, and the buffers.
 * @throws ShapeError for sizes that are not positive integers, a buffer too small, or `src`, `dst`
 *   and `parents` not being three different buffers.
 */
export function gatherBeamRowsDispatch(gpu: Gpu, a: GatherBeamRowsArgs): Dispatch {
  const label = a.label ?? 'gatherBeamRows';
  positiveInt(label, 'groups', a.groups);
  positiveInt(label, 'batch', a.batch);
  positiveInt(label, 'beamWidth', a.beamWidth);
  positiveInt(label, 'width', a.width);
  if (!Number.isInteger(a.step) || a.step < 0)
    throw new ArgumentError(`${label}: step must be a non-negative integer, got ${a.step}`);
  const rows = a.batch * a.beamWidth;
  const total = a.groups * rows * a.width;
  if (total > 0xffffffff)
    throw new ShapeError(`${label}: ${a.groups}×${rows}×${a.width} words exceed the u32 index range`);
  checkView(label, 'parents', { buffer: a.parents }, (a.step + 1) * rows);
  const offsetSrc = checkView(label, 'src', { buffer: a.src, offset: a.srcOffset }, total);
  const offsetDst = checkView(label, 'dst', { buffer: a.dst, offset: a.dstOffset }, total);
  distinct(label, { dst: a.dst, src: a.src, parents: a.parents });
  const { gridX, workgroups } = grid2d(gpu, Math.ceil(total / WG), label);
  const params = gpu.uniform(GATHER_ROWS_SHADER, 'params', {
    groups: a.groups,
    rows,
    beamWidth: a.beamWidth,
    width: a.width,
    offsetParents: a.step * rows,
    offsetSrc,
    offsetDst,
    gridX,
  });
  return {
    label,
    pipeline: gpu.pipeline(GATHER_ROWS_SHADER, { WG }),
    bindGroup: gpu.bindGroup(GATHER_ROWS_SHADER, { parents: a.parents, src: a.src, dst: a.dst, params }),
    workgroups,
    transient: [params],
  };
}

/** Options of {@link backtrackBeams}. */
export interface BacktrackOptions {
  /** Steps recorded in `parents` / `tokens`. */
  steps: number;
  /** Sources. */
  batch: number;
  /** k. */
  beamWidth: number;
  /** End-of-sequence token: sequences are cut before it. */
  eosToken: number;
  /** GNMT α: final scores are divided by ((5 + len)/6)^α, len counting the eos that ended a beam. */
  lengthPenalty?: number;
}

/**
 * After the run, on the CPU: for each source pick the best finished beam (or, when none finished,
 * the best beam) by final score (÷ the GNMT length penalty when `lengthPenalty` is given; ties:
 * lowest beam), follow its parents back through the `steps` recorded steps and return its tokens
 * up to (without) the first eos, with that score.
 * @param parents - i32 [steps, batch, k] read back from the GPU.
 * @param tokens - i32 [steps, batch, k] read back from the GPU.
 * @param beamScore - f32 [batch·k]: the final scores.
 * @param finished - [batch·k]: 1 for beams that ended with eos.
 * @param o - Sizes, eos and the length penalty.
 * @returns Per source the best token sequence and its (penalised) score.
 * @throws ShapeError when an array is shorter than the sizes need or lengthPenalty is not finite.
 */
export function backtrackBeams(
  parents: Int32Array,
  tokens: Int32Array,
  beamScore: Float32Array,
  finished: Uint32Array | Int32Array,
  o: BacktrackOptions,
): { sequences: number[][]; scores: number[] } {
  const label = 'backtrackBeams';
  positiveInt(label, 'steps', o.steps);
  positiveInt(label, 'batch', o.batch);
  positiveInt(label, 'beamWidth', o.beamWidth);
  const k = o.beamWidth;
  const rows = o.batch * k;
  for (const [name, arr, n] of [
    ['parents', parents, o.steps * rows],
    ['tokens', tokens, o.steps * rows],
    ['beamScore', beamScore, rows],
    ['finished', finished, rows],
  ] as const) {
    if (!arr || arr.length < n) throw new ShapeError(`${label}: '${name}' has ${arr?.length} elements, needs ${n}`);
  }
  const alpha = o.lengthPenalty;
  if (alpha !== undefined && !Number.isFinite(alpha))
    throw new ShapeError(`${label}: lengthPenalty must be a finite number, got ${alpha}`);
  const sequences: number[][] = [];
  const scores: number[] = [];
  for (let b = 0; b < o.batch; b++) {
    // Each beam's full token row, then its length up to the first eos.
    const beams = [];
    for (let j = 0; j < k; j++) {
      const full = new Array<number>(o.steps);
      let cur = j;
      for (let t = o.steps - 1; t >= 0; t--) {
        const at = (t * o.batch + b) * k + cur;
        full[t] = tokens[at];
        cur = parents[at];
        if (!(cur >= 0 && cur < k))
          throw new ArgumentError(`${label}: parents[${t}, ${b}, ·] = ${cur} is not a beam in [0, ${k})`);
      }
      const eosAt = full.indexOf(o.eosToken);
      const seq = eosAt < 0 ? full : full.slice(0, eosAt);
      const fin = finished[b * k + j] !== 0;
      const len = eosAt < 0 ? o.steps : eosAt + 1;
      const raw = beamScore[b * k + j];
      const score = alpha === undefined ? raw : raw / Math.pow((5 + len) / 6, alpha);
      beams.push({ seq, fin, score });
    }
    const pool = beams.some((x) => x.fin) ? beams.filter((x) => x.fin) : beams;
    let best = pool[0];
    for (const x of pool) if (x.score > best.score) best = x;
    sequences.push(best.seq);
    scores.push(best.score);
  }
  return { sequences, scores };
}
