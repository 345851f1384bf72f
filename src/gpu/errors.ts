/** Thrown when the GPU reported an error (validation, out-of-memory, internal) or was lost. */
export class GpuError extends Error {
  override name = 'GpuError';
}

/** Thrown before any GPU work when an argument has the wrong shape, size or value. */
export class ShapeError extends Error {
  override name = 'ShapeError';
}

/** `[2,3]` style formatting for messages. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
