// Learning-rate schedules as closed forms (baseLr, step) → lr, as PyTorch's schedulers compute
// them; `step` is the scheduler's last_epoch: 0 before the first scheduler.step().
//
//   constantLR(factor, totalIters)  η = η₀ · factor  for step < totalIters, else η₀   (ConstantLR; defaults: constant η₀)
//   stepLR(stepSize, gamma)         η = η₀ · γ^⌊step / stepSize⌋                     (StepLR)
//   exponentialLR(gamma)            η = η₀ · γ^step                                  (ExponentialLR)
//   cosineLR(tMax, etaMin)          η = η_min + (η₀ − η_min) · (1 + cos(π · step / T_max)) / 2
//                                   (CosineAnnealingLR's closed form; past T_max it keeps following the cosine)
import { ShapeError } from '../gpu/errors.js';

/** A learning-rate schedule: the rate for `step` given the base rate. */
export type LRSchedule = (baseLr: number, step: number) => number;

function checkStep(step: number): void {
  if (!Number.isInteger(step) || step < 0) throw new ShapeError(`lr schedule: step must be a non-negative integer, got ${step}`);
}

/**
 * PyTorch ConstantLR: baseLr·factor for the first totalIters steps, then baseLr. Defaults: always baseLr.
 * @param factor - Multiplier in (0, 1] for the first steps.
 * @param totalIters - Steps that use the factor.
 * @throws ShapeError when `factor` is outside (0, 1] or `totalIters` is not a non-negative integer.
 */
export function constantLR(factor = 1, totalIters = 0): LRSchedule {
  if (!(factor > 0 && factor <= 1)) throw new ShapeError(`constantLR: factor must be in (0, 1], got ${factor}`);
  if (!Number.isInteger(totalIters) || totalIters < 0) throw new ShapeError(`constantLR: totalIters must be a non-negative integer, got ${totalIters}`);
  return (baseLr, step) => {
    checkStep(step);
    return step < totalIters ? baseLr * factor : baseLr;
  };
}

/**
 * PyTorch StepLR: baseLr · gamma^⌊step / stepSize⌋.
 * @param stepSize - Steps between decays, a positive integer.
 * @param gamma - Decay factor.
 * @throws ShapeError when `stepSize` is not a positive integer or `gamma` is not finite.
 */
export function stepLR(stepSize: number, gamma = 0.1): LRSchedule {
  if (!Number.isInteger(stepSize) || stepSize <= 0) throw new ShapeError(`stepLR: stepSize must be a positive integer, got ${stepSize}`);
  if (!Number.isFinite(gamma)) throw new ShapeError(`stepLR: gamma must be finite, got ${gamma}`);
  return (baseLr, step) => {
    checkStep(step);
    return baseLr * gamma ** Math.floor(step / stepSize);
  };
}

/**
 * PyTorch ExponentialLR: baseLr · gamma^step.
 * @param gamma - Decay factor per step.
 * @throws ShapeError when `gamma` is not finite.
 */
export function exponentialLR(gamma: number): LRSchedule {
  if (!Number.isFinite(gamma)) throw new ShapeError(`exponentialLR: gamma must be finite, got ${gamma}`);
  return (baseLr, step) => {
    checkStep(step);
    return baseLr * gamma ** step;
  };
}

/**
 * PyTorch CosineAnnealingLR (closed form): etaMin + (baseLr − etaMin)·(1 + cos(π·step/tMax))/2.
 * @param tMax - Steps of the half cosine, a positive integer.
 * @param etaMin - The rate at step tMax.
 * @throws ShapeError when `tMax` is not a positive integer or `etaMin` is not finite.
 * @example
 * ```ts
 * model.configureTraining({ optimizer: { kind: 'adamw', lr: 3e-3 }, schedule: cosineLR(5000, 1e-4) });
 * ```
 */
export function cosineLR(tMax: number, etaMin = 0): LRSchedule {
  if (!Number.isInteger(tMax) || tMax <= 0) throw new ShapeError(`cosineLR: tMax must be a positive integer, got ${tMax}`);
  if (!Number.isFinite(etaMin)) throw new ShapeError(`cosineLR: etaMin must be finite, got ${etaMin}`);
  return (baseLr, step) => {
    checkStep(step);
    return etaMin + ((baseLr - etaMin) * (1 + Math.cos((Math.PI * step) / tMax))) / 2;
  };
}
