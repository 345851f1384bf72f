// Helpers shared by the kernel checks, which run unchanged in Node (vitest) and in Chromium.

export { rng, uniform } from '../../src/util/random.js';

export function randInt(rand: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rand() * (hi - lo + 1));
}

export class CheckFailure extends Error {
  override name = 'CheckFailure';
}

/**
 * Throws unless |got − want| ≤ atol + rtol·scale for every element, where scale is |want|
 * (or the given per-element error scale). Reports the worst element.
 */
export function assertClose(
  what: string,
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  tol: { rtol: number; atol?: number; scale?: ArrayLike<number> },
): { worst: number } {
  if (got.length !== want.length) throw new CheckFailure(`${what}: length ${got.length}, expected ${want.length}`);
  const atol = tol.atol ?? 0;
  let worst = 0;
  let worstAt = -1;
  for (let i = 0; i < got.length; i++) {
    const scale = tol.scale ? tol.scale[i] : Math.abs(want[i]);
    const err = Math.abs(got[i] - want[i]);
    const ratio = err / (atol + tol.rtol * scale || Number.MIN_VALUE);
    if (!(ratio <= 1)) {
      throw new CheckFailure(
        `${what}: element ${i} is ${got[i]}, expected ${want[i]} ` +
          `(|err| ${err.toExponential(2)} > ${atol} ` +
          `+ ${tol.rtol}·${scale.toExponential(2)})`,
      );
    }
    if (ratio > worst) {
      worst = ratio;
      worstAt = i;
    }
  }
  void worstAt;
  return { worst };
}

export function assert(cond: unknown, message: string): asserts cond {
  if (!cond) throw new CheckFailure(message);
}
