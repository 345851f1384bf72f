// One optimizer over a parameter store together with its NaN/Inf guard: what SequenceModel,
// Seq2Seq and Trainer each build when training is configured (and again when a checkpoint brings
// other optimizer options).
import type { Gpu } from '../gpu/device.js';
import type { ParameterStore } from '../io/parameters.js';
import { Optimizer, type OptimizerOptions } from '../kernels/optimizer.js';
import { NanGuard } from './nanGuard.js';

/** An optimizer and its guard (null when the guard is off). */
export interface GuardedOptimizer {
  optimizer: Optimizer;
  guard: NanGuard | null;
}

/**
 * Builds the optimizer over every parameter of `store` and, with `nanGuard`, the guard that
 * skips a step whose loss, gradient norm or update is not finite.
 * @param where - `configure`: the entry point named in option errors; `step`: the one named in
 *   NonFiniteError messages.
 * @param onTrip - Called with the number of skipped steps when the guard trips (rewind counters).
 */
export function createGuardedOptimizer(
  gpu: Gpu,
  store: ParameterStore,
  options: OptimizerOptions,
  nanGuard: boolean,
  where: { configure: string; step: string },
  onTrip: (skipped: number) => void,
): GuardedOptimizer {
  const optimizer = new Optimizer(gpu, options, store.params, store.grads, store.length, {
    guard: nanGuard,
    where: where.configure,
  });
  return { optimizer, guard: nanGuard ? new NanGuard(gpu, optimizer, where.step, onTrip) : null };
}
