// A buffer view of a kernel argument and its check, shared by the kernels' host builders:
// a buffer, and an element offset into it (4-byte elements: f32, i32 or u32).
import { ArgumentError, ShapeError } from '../util/errors.js';

/** A buffer and an element offset into it. */
export type View = { buffer: GPUBuffer; offset?: number };

/**
 * Checks that kernel argument `name` is given, that its offset is a non-negative integer and that
 * its buffer holds `n` elements from there.
 * @param label - The dispatch's label (names the call in the messages).
 * @param name - The argument's name.
 * @param v - The view.
 * @param n - Elements the kernel reads or writes.
 * @returns The offset (0 when absent).
 * @throws ArgumentError for a missing buffer or a bad offset; ShapeError for a buffer too small.
 */
export function checkView(label: string, name: string, v: View | undefined, n: number): number {
  if (!v || !v.buffer) throw new ArgumentError(`${label}: buffer '${name}' is required`);
  const off = v.offset ?? 0;
  if (!Number.isInteger(off) || off < 0)
    throw new ArgumentError(`${label}: '${name}' offset must be a non-negative integer, got ${off}`);
  if ((off + n) * 4 > v.buffer.size)
    throw new ShapeError(
      `${label}: buffer '${name}' holds ${v.buffer.size / 4} elements, needs ${n} from offset ${off}`,
    );
  return off;
}
