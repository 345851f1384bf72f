// Learning-rate schedules as closed forms (baseLr, step) → lr, as PyTorch's schedulers compute
// them; `step` is the scheduler's last_epoch: 0 before the first scheduler.step().
//
// constantLR(factor, totalIters) η = η₀ · factor for step < totalIters, else η₀ (ConstantLR; defaults: constant η₀)
//   stepLR(stepSize, gamma)         η = η₀ · γ^⌊step / stepSize⌋                     (StepLR)
//   exponentialLR(gamma)            η = η₀ · γ^step                                  (ExponentialLR)
//   cosineLR(tMax, etaMin)          η = η_min + (η₀ − η_min) · (1 + cos(π · step / T_max)) / 2
//                                   (CosineAnnealingLR's closed form; past T_max it keeps following the cosine)
// Their parameters are checked when the schedule is made (ArgumentError); the rate a schedule
// returns for a step is checked by the training step (a finite number in [0, 1e6]).
import { ArgumentError } from '../util/errors.js';

/** A learning-rate schedule: the rate for `step` given the base rate. */
export type LRSchedule = (baseLr: number, step: number) => number;

function checkStep(step: number): void {
  if (!Number.isInteger(step) || step < 0)
    throw new ArgumentError(`lr schedule: step must be a non-negative integer, got ${step}`);
}

/**
 * PyTorch ConstantLR: baseLr·factor for the first totalIters steps, then baseLr. Defaults: always baseLr.
 * @param factor - Multiplier in (0, 1] for the first steps.
 * @param totalIters - Steps that use the factor.
 * @throws ArgumentError when `factor` is outside (0, 1] or `totalIters` is not a non-negative integer.
 */
export function constantLR(factor = 1, totalIters = 0): LRSchedule {
  if (!(factor > 0 && factor <= 1)) throw new ArgumentError(`constantLR: factor must be in (0, 1], got ${factor}`);
  if (!Number.isInteger(totalIters) || totalIters < 0)
    throw new ArgumentError(`constantLR: totalIters must be a non-negative integer, got ${totalIters}`);
  return (baseLr, step) => {
    checkStep(step);
    return step < totalIters ? baseLr * factor : baseLr;
  };
}

/**
 * PyTorch StepLR: baseLr · gamma^⌊step / stepSize⌋.
 * @param stepSize - Steps between decays, a positive integer.
 * @param gamma - Decay factor.
 * @throws ArgumentError when `stepSize` is not a positive integer or `gamma` is not a finite number ≥ 0.
 */
export function stepLR(stepSize: number, gamma = 0.1): LRSchedule {
  if (!Number.isInteger(stepSize) || stepSize <= 0)
    throw new ArgumentError(`stepLR: stepSize must be a positive integer, got ${stepSize}`);
  if (typeof gamma !== 'number' || !Number.isFinite(gamma) || gamma < 0)
    throw new ArgumentError(
      `stepLR: gamma must be a finite number ≥ 0 (a negative one gives negative learning rates), got ${gamma}`,
    );
  return (baseLr, step) => {
    checkStep(step);
    return baseLr * gamma ** Math.floor(step / stepSize);
  };
}

/**
 * PyTorch ExponentialLR: baseLr · gamma^step.
 * @param gamma - Decay factor per step.
 * @throws ArgumentError when `gamma` is not a finite number ≥ 0.
 */
export function exponentialLR(gamma: number): LRSchedule {
  if (typeof gamma !== 'number' || !Number.isFinite(gamma) || gamma < 0)
    throw new ArgumentError(
      `exponentialLR: gamma must be a finite number ≥ 0 (a negative one gives negative learning rates), got ${gamma}`,
    );
  return (baseLr, step) => {
    checkStep(step);
    return baseLr * gamma ** step;
  };
}

/**
 * PyTorch CosineAnnealingLR (closed form): etaMin + (baseLr − etaMin)·(1 + cos(π·step/tMax))/2.
 * @param tMax - Steps of the half cosine, a positive integer.
 * @param etaMin - The rate at step tMax.
 * @throws ArgumentError when `tMax` is not a positive integer or `etaMin` is not a finite number ≥ 0.
 * @example
 * ```ts
 * model.configureTraining({ optimizer: { kind: 'adamw', lr: 3e-3 }, schedule: cosineLR(5000, 1e-4) });
 * ```
 */
export function cosineLR(tMax: number, etaMin = 0): LRSchedule {
  if (!Number.isInteger(tMax) || tMax <= 0)
    throw new ArgumentError(`cosineLR: tMax must be a positive integer, got ${tMax}`);
  if (typeof etaMin !== 'number' || !Number.isFinite(etaMin) || etaMin < 0)
    throw new ArgumentError(`cosineLR: etaMin must be a finite number ≥ 0, got ${etaMin}`);
  return (baseLr, step) => {
    checkStep(step);
    return etaMin + ((baseLr - etaMin) * (1 + Math.cos((Math.PI * step) / tMax))) / 2;
  };
}
