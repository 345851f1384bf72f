// A least-recently-used cache of recorded plans (or anything with destroy()), keyed by a string
// that holds everything that changes a recording (shapes, dtypes, option values).
//
//   get(key, build): a hit moves the entry to the most-recent end; a miss BUILDS FIRST, then
//   evicts the least recently used entry if the cache is full and destroys it. A build that throws
//   leaves the cache exactly as it was (validate, then mutate).
//
// An entry handed out by get() is owned by the cache: a caller must not keep it past the next
// get() of ANOTHER key on the same cache (which may evict it). Callers that hold a plan for longer
// build their own and own it.

/** Default number of plans a model or layer keeps per cache (each plan holds its buffers). */
export const PLAN_CACHE_SIZE = 8;

export class PlanCache<V extends { destroy(): void }> {
  private readonly entries = new Map<string, V>();
  /** Plans built and destroyed by eviction since the cache was made (for tests). */
  readonly stats = { built: 0, evicted: 0 };

  /** @param capacity - Plans kept at most (≥ 1). */
  constructor(readonly capacity: number = PLAN_CACHE_SIZE) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`PlanCache: capacity must be an integer ≥ 1, got ${capacity}`);
  }

  /** The plan for `key`, built by `build` on a miss (see the file comment for eviction). */
  get(key: string, build: () => V): V {
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    const plan = build();
    this.stats.built++;
    if (this.entries.size >= this.capacity) {
      const [oldKey, old] = this.entries.entries().next().value as [string, V];
      this.entries.delete(oldKey);
      old.destroy();
      this.stats.evicted++;
    }
    this.entries.set(key, plan);
    return plan;
  }

  /** The plan for `key` if cached (does not change the order). */
  peek(key: string): V | undefined {
    return this.entries.get(key);
  }

  /** Plans cached now. */
  get size(): number {
    return this.entries.size;
  }

  /** The cached keys, least recently used first. */
  keys(): string[] {
    return [...this.entries.keys()];
  }

  /** Destroys every plan and empties the cache. */
  clear(): void {
    for (const p of this.entries.values()) p.destroy();
    this.entries.clear();
  }
}
