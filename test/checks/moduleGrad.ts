// Central finite differences of a model's own loss (Trainer.evaluate) against its backward
// (the parameters' .grad after one Trainer step with lr 0), for entries of every parameter.
// f32 losses: eps 1e-2, tolerance 3e-3 absolute + 3 % relative by default.
import { expect } from 'vitest';
import { Trainer, rng, type Module, type Tensor } from '../../src/index.js';

export interface GradCheckOptions {
  /** Entries per parameter drawn at random (default 2), or `indices` to choose them. */
  samples?: number;
  /** Seed of the draw. Default 1. */
  seed?: number;
  /** Which entries of a parameter of `n` elements to check (overrides `samples`). */
  indices?: (n: number) => number[];
  /** Also require some nonzero gradient in every parameter. */
  nonZero?: boolean;
  /** Absolute part of the tolerance. Default 3e-3. */
  atol?: number;
}

/** Checks `model`'s gradients with an mse loss on (inputs, target); returns entries checked and dispatches per step. */
export async function gradCheck(
  model: Module,
  inputs: unknown[],
  target: Tensor,
  opts: GradCheckOptions = {},
): Promise<{ checked: number; dispatches: number }> {
  const trainer = new Trainer(model, { loss: 'mse', optimizer: { kind: 'sgd', lr: 0 }, nanGuard: false });
  await trainer.step({ inputs, targets: target });
  const dispatches = trainer.lastRun!.dispatches;
  const rand = rng(opts.seed ?? 1);
  const pick = opts.indices ?? ((n: number) => Array.from({ length: opts.samples ?? 2 }, () => Math.floor(rand() * n)));
  const base = await model.stateDict();
  let checked = 0;
  for (const p of model.namedParameters()) {
    const grad = await p.grad.read();
    if (opts.nonZero)
      expect(
        grad.some((g) => g !== 0),
        `${p.name}: some gradient`,
      ).toBe(true);
    for (const i of pick(grad.length)) {
      const at = (delta: number) => {
        const data = Float32Array.from(base[p.name].data);
        data[i] += delta;
        model.loadStateDict({ ...base, [p.name]: { shape: base[p.name].shape, data } });
        return trainer.evaluate({ inputs, targets: target });
      };
      const eps = 1e-2;
      const fd = ((await at(eps)) - (await at(-eps))) / (2 * eps);
      expect(Math.abs(fd - grad[i]), `${p.name}[${i}]: finite difference ${fd} vs backward ${grad[i]}`).toBeLessThan(
        (opts.atol ?? 3e-3) + 0.03 * Math.abs(fd),
      );
      checked++;
    }
  }
  model.loadStateDict(base);
  trainer.destroy();
  return { checked, dispatches };
}
