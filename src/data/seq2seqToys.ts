// Toy sequence-to-sequence tasks over digits, for tests, the demo page and the README:
//   reverse:  "3 1 4 1 5" → "5 1 4 1 3"
//   addition: "1 2 + 9 9" → "1 1 1"
// Token ids: 0 pad, 1 BOS, 2 EOS, 3 '+', 4 … 13 the digits 0 … 9.

/** Padding token id. */
export const TOY_PAD = 0;
/** Beginning-of-sequence token id (the decoder's first input). */
export const TOY_BOS = 1;
/** End-of-sequence token id. */
export const TOY_EOS = 2;
/** The '+' token of the addition task. */
export const TOY_PLUS = 3;
const DIGIT0 = 4;
/** Size of the toy vocabulary (source and target). */
export const TOY_VOCAB = 14;

/** One example of a toy task: source and target token ids, without BOS/EOS. */
export interface Seq2SeqPair {
  /** Source tokens. */
  src: number[];
  /** Target tokens. */
  tgt: number[];
}

/** The token id of digit `d` (0 … 9): d + 4. */
export const digitToken = (d: number): number => DIGIT0 + d;

/**
 * A token sequence as text ("3 1 4", "12+99"); special tokens as <pad>, <s>, </s>.
 * @param tokens - Token ids.
 * @param sep - Put between tokens.
 */
export function toyText(tokens: ArrayLike<number>, sep = ' '): string {
  return Array.from(tokens, (t) =>
    t === TOY_PAD
      ? '<pad>'
      : t === TOY_BOS
        ? '<s>'
        : t === TOY_EOS
          ? '</s>'
          : t === TOY_PLUS
            ? '+'
            : String(t - DIGIT0),
  ).join(sep);
}

/**
 * A random digit string of length in [minLen, maxLen] and its reverse.
 * @param rand - Uniform [0, 1) source.
 * @param minLen - Shortest length.
 * @param maxLen - Longest length.
 */
export function reversePair(rand: () => number, minLen: number, maxLen: number): Seq2SeqPair {
  const n = minLen + Math.floor(rand() * (maxLen - minLen + 1));
  const src = Array.from({ length: n }, () => digitToken(Math.floor(rand() * 10)));
  return { src, tgt: [...src].reverse() };
}

/**
 * Two random numbers of 1 … maxDigits digits written as "a+b", and their sum.
 * @param rand - Uniform [0, 1) source.
 * @param maxDigits - Most digits per operand.
 */
export function additionPair(rand: () => number, maxDigits: number): Seq2SeqPair {
  const num = () => Math.floor(rand() * 10 ** (1 + Math.floor(rand() * maxDigits)));
  const a = num();
  const b = num();
  const digits = (n: number) =>
    String(n)
      .split('')
      .map((c) => digitToken(Number(c)));
  return { src: [...digits(a), TOY_PLUS, ...digits(b)], tgt: digits(a + b) };
}
