// Array helpers safe for data-sized arrays: `target.push(...source)` passes every element as an
// argument and overflows the call stack past ~10⁵ elements (a recurrent plan of seqLen 70,000 has
// 140,000 dispatches per layer pair); these loop instead.

/** Appends every element of `source` to `target`; returns `target`. */
export function pushAll<T>(target: T[], source: Iterable<T>): T[] {
  for (const x of source) target.push(x);
  return target;
}

/** A new array holding the elements of every list in order. */
export function concat<T>(...lists: ReadonlyArray<Iterable<T>>): T[] {
  const out: T[] = [];
  for (const l of lists) pushAll(out, l);
  return out;
}
