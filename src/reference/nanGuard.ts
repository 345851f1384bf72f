// Reference of shaders/nan_guard.wgsl: the sticky NaN/Inf check of one training step. The values
// it handles are f32 (the loss and Σ g² as the GPU computed them), so it only passes them through
// Math.fround; "non-finite" is NaN or ±Infinity. `updateBad` is the optimizer's check pass
// verdict (some new weight or moment non-finite: see optimizerUpdateFiniteRef in ./optim.ts).

/** The guard's state, as the GPU record holds it. */
export interface GuardState {
  loss: number;
  normSq: number;
  /** 0, or 1 (loss non-finite) | 2 (Σ g² non-finite) | 4 (update non-finite). */
  flags: number;
  badStep: number;
  step: number;
  /** The last step's own loss (also once flags ≠ 0). */
  stepLoss?: number;
  /** The last step's own Σ g². */
  stepNormSq?: number;
}

/**
 * One guard run after a step with `loss` and `normSq` (its `state.step` already written by the
 * host): the new state, and whether the optimizer must skip its update.
 * @param updateBad - The check pass found a non-finite new weight or moment (only counted when the
 *   guard checks updates; default false).
 */
export function nanGuardReference(
  state: GuardState,
  loss: number,
  normSq: number,
  updateBad = false,
): { state: GuardState; skip: boolean } {
  const next = { ...state, stepLoss: Math.fround(loss), stepNormSq: Math.fround(normSq) };
  if (state.flags === 0) {
    next.loss = Math.fround(loss);
    next.normSq = Math.fround(normSq);
    const bad =
      (Number.isFinite(Math.fround(loss)) ? 0 : 1) |
      (Number.isFinite(Math.fround(normSq)) ? 0 : 2) |
      (updateBad ? 4 : 0);
    if (bad !== 0) {
      next.flags = bad;
      next.badStep = state.step;
    }
  }
  return { state: next, skip: next.flags !== 0 };
}
