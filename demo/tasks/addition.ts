// The demo's addition task in a form a small seq2seq model learns within minutes: both operands
// zero-padded to `digits` digits, least-significant digit first, and interleaved digit by digit
// (a₀ b₀ a₁ b₁ …); the sum zero-padded to digits + 1, also least-significant first. 12 + 345 with
// 3 digits: source 2 5 1 4 0 3, target 7 5 3 0. The encoder then meets each digit pair in the
// order a carry flows and output digit i reads the source pair i (a fixed, monotone alignment for
// the attention); the page shows every pair in ordinary notation. `encodeAddition(…, false)` keeps
// the operands apart ("a + b", both reversed), which learns about 3x slower (demo/train/addition.mjs).
// Operands have 1 … `digits` digits (the count uniform), so short sums stay in the mix;
// `curriculumDigits` can cap that count early in training.
import { TOY_PLUS, digitToken, type Seq2SeqPair } from '../../src/index.js';

/** The two operands of an addition example. */
export interface AdditionProblem {
  a: number;
  b: number;
}

/** A number with 1 … maxDigits digits (the count drawn uniformly, then the value). */
function operand(rand: () => number, maxDigits: number): number {
  const n = 1 + Math.floor(rand() * maxDigits);
  return Math.floor(rand() * 10 ** n);
}

/** Two random operands of 1 … maxDigits digits each. */
export function additionProblem(rand: () => number, maxDigits: number): AdditionProblem {
  return { a: operand(rand, maxDigits), b: operand(rand, maxDigits) };
}

/** `n` as `width` digit tokens, least-significant first. */
function reversedDigits(n: number, width: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < width; i++) {
    out.push(digitToken(n % 10));
    n = Math.floor(n / 10);
  }
  return out;
}

/**
 * Source and target tokens of a + b with `digits` digits per operand (see the file's comment):
 * `interleaved` (default) pairs the operands' digits (a₀ b₀ a₁ b₁ …), else a₀ a₁ … + b₀ b₁ ….
 */
export function encodeAddition({ a, b }: AdditionProblem, digits: number, interleaved = true): Seq2SeqPair {
  if (a >= 10 ** digits || b >= 10 ** digits || a < 0 || b < 0)
    throw new RangeError(`addition: operands ${a}, ${b} do not fit ${digits} digits`);
  const ra = reversedDigits(a, digits);
  const rb = reversedDigits(b, digits);
  return {
    src: interleaved ? ra.flatMap((d, i) => [d, rb[i]]) : [...ra, TOY_PLUS, ...rb],
    tgt: reversedDigits(a + b, digits + 1),
  };
}

/** The operands of an encoded source (either layout). */
export function decodeOperands(src: ArrayLike<number>, digits: number): AdditionProblem {
  const t = Array.from(src);
  if (t.length === 2 * digits)
    return {
      a: decodeNumber(t.filter((_, i) => i % 2 === 0)),
      b: decodeNumber(t.filter((_, i) => i % 2 === 1)),
    };
  return { a: decodeNumber(t.slice(0, digits)), b: decodeNumber(t.slice(digits + 1)) };
}

/** Reversed digit tokens back to a number ("7 5 3 0" → 357); NaN if a token is not a digit. */
export function decodeNumber(tokens: ArrayLike<number>): number {
  let v = 0;
  for (let i = tokens.length - 1; i >= 0; i--) {
    const d = tokens[i] - digitToken(0);
    if (!(d >= 0 && d <= 9)) return NaN;
    v = 10 * v + d;
  }
  return tokens.length ? v : NaN;
}

/**
 * The operand digits a training step draws at `step`: with a curriculum, 1 for the first
 * `curriculum` steps, then one more every `curriculum` steps up to `digits`; without, `digits`.
 */
export function curriculumDigits(step: number, digits: number, curriculum: number): number {
  if (curriculum <= 0) return digits;
  return Math.min(digits, 1 + Math.floor(step / curriculum));
}
