// Character-level text data for language models: a vocabulary (the sorted distinct characters)
// and random training windows, time-major as SequenceModel takes them.
import { ArgumentError, ShapeError } from '../util/errors.js';

/** The characters of a text as token ids 0 … size−1 (sorted, so the ids are stable). */
export class CharVocab {
  /** The distinct characters, sorted: id i is `chars[i]`. */
  readonly chars: string[];
  private readonly index: Map<string, number>;

  /**
   * The vocabulary of `text`.
   * @param text - Every character the vocabulary must cover.
   */
  constructor(text: string) {
    this.chars = [...new Set(text)].sort();
    this.index = new Map(this.chars.map((ch, i) => [ch, i]));
  }

  /** Number of distinct characters (the model's vocabulary size). */
  get size(): number {
    return this.chars.length;
  }

  /**
   * Token ids of `text`; throws naming the first character not in the vocabulary.
   * @param text - Text made of the vocabulary's characters.
   * @throws ArgumentError naming the first unknown character and its position.
   */
  encode(text: string): Int32Array {
    return Int32Array.from([...text], (ch, i) => {
      const id = this.index.get(ch);
      if (id === undefined)
        throw new ArgumentError(`CharVocab.encode: character ${JSON.stringify(ch)} at ${i} is not in the vocabulary`);
      return id;
    });
  }

  /**
   * The text of token ids; an id outside the vocabulary becomes '�'.
   * @param ids - Token ids.
   */
  decode(ids: ArrayLike<number>): string {
    return Array.from(ids, (i) => this.chars[i] ?? '�').join('');
  }
}

/**
 * A batch of `batch` random windows of `seqLen` tokens and, as targets, the next token of each
 * (next-character prediction). Time-major: element (t, b) at t·batch + b.
 * @param ids - The encoded text.
 * @param seqLen - Timesteps per window.
 * @param batch - Windows.
 * @param rand - Uniform [0, 1) source, e.g. {@link rng}(seed).
 * @returns A {@link Batch} for `SequenceModel.trainStep`: `inputs` and `targets` [seqLen·batch],
 *   time-major.
 * @throws ShapeError when seqLen or batch is not a positive integer or the text is shorter than
 *   seqLen + 1 tokens; ArgumentError when `rand` is not a function.
 */
export function randomWindows(
  ids: ArrayLike<number>,
  seqLen: number,
  batch: number,
  rand: () => number,
): { inputs: Int32Array; targets: Int32Array; seqLen: number; batch: number } {
  for (const [k, v] of Object.entries({ seqLen, batch })) {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0)
      throw new ShapeError(`randomWindows: ${k} must be a positive integer, got ${String(v)}`);
  }
  if (typeof rand !== 'function')
    throw new ArgumentError(
      `randomWindows: 'rand' must be a function returning [0, 1), e.g. rng(seed), got ${typeof rand}`,
    );
  if (ids.length < seqLen + 1)
    throw new ShapeError(`randomWindows: the text has ${ids.length} tokens, a window needs seqLen + 1 = ${seqLen + 1}`);
  const inputs = new Int32Array(seqLen * batch);
  const targets = new Int32Array(seqLen * batch);
  for (let b = 0; b < batch; b++) {
    const start = Math.floor(rand() * (ids.length - seqLen));
    for (let t = 0; t < seqLen; t++) {
      inputs[t * batch + b] = ids[start + t];
      targets[t * batch + b] = ids[start + t + 1];
    }
  }
  return { inputs, targets, seqLen, batch };
}
