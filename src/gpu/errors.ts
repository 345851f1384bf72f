/** Thrown when the GPU reported an error (validation, out-of-memory, internal) or was lost. */
export class GpuError extends Error {
  /** `'GpuError'`, so a caught error can be told apart after bundling or across realms. */
  override name = 'GpuError';
}

/** Thrown before any GPU work when an argument has the wrong shape, size or value. */
export class ShapeError extends Error {
  /** `'ShapeError'`, so a caught error can be told apart after bundling or across realms. */
  override name = 'ShapeError';
}

/** `[2,3]` style formatting for messages. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/**
 * Thrown (or rejected with) by any call that needs the GPU after the WebGPU device was lost
 * (driver reset, `device.destroy()`, GPU removed), and by a model whose buffers belong to a lost
 * device. Recover with `await model.recover()` (which calls `gpu.recover()`), see README "Device loss".
 */
export class GpuLostError extends GpuError {
  /** `'GpuLostError'`. */
  override name = 'GpuLostError';
  /**
   * An error for a lost device.
   * @param message - What failed and how to recover.
   * @param reason - `GPUDeviceLostInfo.reason`: `'destroyed'` or `'unknown'`.
   */
  constructor(message: string, readonly reason: string = 'unknown') {
    super(message);
  }
}

/**
 * A training step produced a non-finite loss or gradient norm while the NaN/Inf guard was on
 * (`configureTraining({ nanGuard: true })`): its update was skipped on the GPU, so the weights and
 * the optimizer state are those before `step`.
 */
export class NonFiniteError extends Error {
  /** `'NonFiniteError'`. */
  override name = 'NonFiniteError';
  /**
   * An error for the step whose update the guard skipped.
   * @param message - Names the step, the loss and the gradient norm, and what to change.
   */
  constructor(
    message: string,
    /** The optimizer step (1-based, counted since configureTraining or the last loaded state) whose update was skipped. */
    readonly step: number,
    /** The loss of that step (NaN, ±Infinity or finite). */
    readonly loss: number,
    /** ‖g‖₂ of that step (NaN, Infinity or finite). */
    readonly gradNorm: number,
  ) {
    super(message);
  }
}
