/**
 * mulberry32: a small seeded PRNG returning floats in [0, 1); same seed, same sequence.
 * @param seed - Any number (used as a u32).
 * @returns A function returning the next value of the sequence.
 */
export function rng(seed: number): () => number {
  return rngAt(seed, 0);
}

/**
 * The mulberry32 sequence of `seed` after `draws` values were taken, in O(1): its state after n
 * draws is seed + n·0x6d2b79f5 (mod 2³²), so `rngAt(s, n)` continues exactly where `rng(s)`
 * would be after n calls.
 * @param seed - Any number (used as a u32).
 * @param draws - Values already drawn (an integer ≥ 0; any size).
 */
export function rngAt(seed: number, draws: number): () => number {
  // n·0x6d2b79f5 mod 2³²: Math.imul keeps the low 32 bits of the product exactly.
  let s = ((seed >>> 0) + Math.imul(draws % 2 ** 32, 0x6d2b79f5)) >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n values uniform in [lo, hi), as f32. */
export function uniform(rand: () => number, n: number, lo = -1, hi = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * rand();
  return a;
}
