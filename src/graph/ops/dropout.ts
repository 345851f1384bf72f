// Dropout as a graph op: y = x ⊙ mask / (1 − p), the mask drawn on the GPU from (seed, step
// counter, salt); the backward regenerates the same mask (dx = dy ⊙ mask / (1 − p)). The counter
// is set per replay, so two replays draw different masks (as PyTorch does).
import { Dropout as DropoutKernel } from '../../kernels/dropout.js';
import type { Value } from '../graph.js';
import { record } from '../record.js';

/** Records dropout with `kernel`'s seed and p; `salt` separates two uses of one layer. */
export function dropoutValue(kernel: DropoutKernel, x: Value, salt: number, op = 'dropout'): Value {
  const n = x.size;
  const hooks = {
    beforeReplay: (info: { step: number; training: boolean }) => {
      kernel.setTraining(info.training);
      kernel.setStep(info.step % 2 ** 32);
    },
  };
  return record({
    op,
    attrs: { kind: 'dropout' },
    inputs: [x],
    outputs: [{ shape: x.shape }],
    build: ([xv], [yv]) => [kernel.forwardDispatch({ n, x: xv, y: yv, salt, label: op })],
    backward: ([g], needs) => [
      needs[0] && g
        ? record({
            op: `${op}.backward`,
            inputs: [g],
            outputs: [{ shape: x.shape }],
            build: ([gv], [dv]) => [kernel.backwardDispatch({ n, x: gv, y: dv, salt, label: `${op}.backward` })],
          })[0]
        : null,
    ],
    hooks,
  })[0];
}
