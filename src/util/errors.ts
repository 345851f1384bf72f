// seqgpu's error classes. Each sets `name` on its prototype AND renames its constructor, so a
// minified build still prints `GpuError: …` (not `n [GpuError]: …`) and `err.name` tells the
// classes apart after bundling or across realms.
//
//   ArgumentError   a bad value, type or option (the entry point, the argument, the value, what is allowed)
//   └ ShapeError    a bad shape, size or length (a size past a device limit names the largest that fits)
//   └ UnsupportedError  a model file's layer, activation or option seqgpu does not run
//   DestroyedError  any use of an object after its destroy()
//   GpuError        the GPU reported an error
//   └ GpuLostError  the device was lost
//   NonFiniteError  a training step gave NaN/Inf (the NaN/Inf guard kept the state as before it)

/** Gives `cls` the explicit `name` (prototype and constructor), surviving minification. */
function named<T extends abstract new (...args: never[]) => Error>(cls: T, name: string): T {
  Object.defineProperty(cls, 'name', { value: name });
  Object.defineProperty(cls.prototype, 'name', { value: name, writable: true, configurable: true });
  return cls;
}

/**
 * Thrown before anything changes when an argument or option has a wrong value or type, or an
 * options object has an unknown key. The message names the public entry point, the argument,
 * the value and what is allowed.
 */
export class ArgumentError extends Error {}
named(ArgumentError, 'ArgumentError');

/**
 * Thrown before any GPU work when an argument has the wrong shape, size or length (a kind of
 * {@link ArgumentError}). For a size past a device limit the message names the largest that fits.
 */
export class ShapeError extends ArgumentError {}
named(ShapeError, 'ShapeError');

/**
 * Thrown before anything is built when a model file asks for something seqgpu does not run (a
 * layer class, an activation, an option such as `return_state`): a kind of {@link ArgumentError}
 * whose message names the layer (class and name), the field, the value and what is supported.
 */
export class UnsupportedError extends ArgumentError {}
named(UnsupportedError, 'UnsupportedError');

/** Thrown by any call on a model, layer or optimizer after its `destroy()` (nothing is touched). */
export class DestroyedError extends Error {}
named(DestroyedError, 'DestroyedError');

/** Thrown when the GPU reported an error (validation, out-of-memory, internal) or was lost. */
export class GpuError extends Error {}
named(GpuError, 'GpuError');

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
  /**
   * An error for a lost device.
   * @param message - What failed and how to recover.
   * @param reason - `GPUDeviceLostInfo.reason`: `'destroyed'` or `'unknown'`.
   */
  constructor(
    message: string,
    readonly reason: string = 'unknown',
  ) {
    super(message);
  }
}
named(GpuLostError, 'GpuLostError');

/** Where a non-finite value was found: the loss, the gradient norm, or the optimizer's update. */
export type NonFiniteSource = 'loss' | 'gradNorm' | 'update';

/**
 * A training step produced a non-finite loss, gradient norm or update while the NaN/Inf guard was
 * on: its update was skipped on the GPU, so the weights, the optimizer state and the step
 * counters are those before `step`.
 */
export class NonFiniteError extends Error {
  /**
   * An error for the step whose update the guard skipped.
   * @param message - Names the step, the source, the loss and the gradient norm, and what to change.
   */
  constructor(
    message: string,
    /**
     * The optimizer step (1-based, counted since configureTraining or the last loaded state) whose update was skipped.
     */
    readonly step: number,
    /** The loss of that step (NaN, ±Infinity or finite). */
    readonly loss: number,
    /** ‖g‖₂ of that step (NaN, Infinity or finite). */
    readonly gradNorm: number,
    /** What was not finite first: the loss, the gradient norm or the update. */
    readonly source: NonFiniteSource = 'loss',
  ) {
    super(message);
  }
}
named(NonFiniteError, 'NonFiniteError');
