// Helpers shared by the kernel checks, which run unchanged in Node (vitest) and in Chromium.

/** mulberry32: a small seeded PRNG, so every "random" case is reproducible from its seed. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n values uniform in [lo, hi), rounded to f32 (so the reference sees exactly what the GPU sees). */
export function uniform(rand: () => number, n: number, lo = -1, hi = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * rand();
  return a;
}

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
      throw new CheckFailure(`${what}: element ${i} is ${got[i]}, expected ${want[i]} (|err| ${err.toExponential(2)} > ${atol} + ${tol.rtol}·${scale.toExponential(2)})`);
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
