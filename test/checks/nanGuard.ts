// nan_guard.wgsl vs its reference (src/reference/nanGuard.ts): a sequence of steps with finite,
// NaN, ±Inf, f32-max and denormal losses and gradient norms, the host writing the step number
// before each and clearing the flag now and then (as a report does). Runs in Node and Chromium.
import type { Gpu } from '../../src/gpu/device.js';
import { TENSOR_USAGE } from '../../src/gpu/flags.js';
import {
  nanGuardDispatch,
  decodeGuardRecord,
  NAN_GUARD_RECORD_BYTES,
  NAN_GUARD_STEP_OFFSET,
} from '../../src/kernels/nanGuard.js';
import { nanGuardReference, type GuardState } from '../../src/reference/nanGuard.js';
import { assert, rng } from './util.js';

export interface NanGuardCheck {
  name: string;
  run(gpu: Gpu): Promise<void>;
}

const SPECIAL = [Number.NaN, Infinity, -Infinity, 3.4028234663852886e38, -1e-40, 0];

/** Same value as f32 (NaN equals NaN: the kernel only copies it). */
function sameF32(a: number, b: number): boolean {
  return Object.is(Math.fround(a), Math.fround(b)) || (Number.isNaN(a) && Number.isNaN(b));
}

export const nanGuardChecks: NanGuardCheck[] = [
  {
    name: 'nanGuard: 48 steps of finite / NaN / ±Inf / f32-max / denormal loss and Σg², sticky flag, host clears',
    async run(gpu) {
      const rand = rng(77);
      const pick = () =>
        rand() < 0.3 ? SPECIAL[Math.floor(rand() * SPECIAL.length)] : (rand() - 0.3) * 10 ** Math.floor(rand() * 8 - 4);
      const loss = gpu.pool.acquire(16, TENSOR_USAGE, 'check.loss');
      const normSq = gpu.pool.acquire(16, TENSOR_USAGE, 'check.normSq');
      const record = gpu.pool.acquire(NAN_GUARD_RECORD_BYTES, TENSOR_USAGE, 'check.record');
      try {
        const q = gpu.device.queue;
        q.writeBuffer(record, 0, new Uint32Array(NAN_GUARD_RECORD_BYTES / 4));
        const d = nanGuardDispatch(gpu, { loss, normSq, record });
        let state: GuardState = { loss: 0, normSq: 0, flags: 0, badStep: 0, step: 0 };
        const seen = new Set<number>();
        for (let step = 1; step <= 48; step++) {
          const [l, n] = [pick(), pick()];
          q.writeBuffer(loss, 0, Float32Array.of(l));
          q.writeBuffer(normSq, 0, Float32Array.of(n, 0.5)); // [1] must be overwritten
          q.writeBuffer(record, NAN_GUARD_STEP_OFFSET, Uint32Array.of(step));
          state = { ...state, step };
          gpu.run([d]);
          const want = nanGuardReference(state, l, n);
          const got = decodeGuardRecord(await gpu.readBuffer(record, 0, NAN_GUARD_RECORD_BYTES));
          const skip = new Float32Array(await gpu.readBuffer(normSq, 0, 8))[1];
          const where = `step ${step} (loss ${l}, normSq ${n})`;
          assert(
            got.flags === want.state.flags && got.badStep === want.state.badStep && got.step === step,
            `${where}: record ${JSON.stringify(got)}, expected ${JSON.stringify(want.state)}`,
          );
          assert(
            sameF32(got.loss, want.state.loss) && sameF32(got.normSq, want.state.normSq),
            `${where}: record values ${got.loss}, ${got.normSq}; expected ${want.state.loss}, ${want.state.normSq}`,
          );
          assert(skip === (want.skip ? 1 : 0), `${where}: skip flag ${skip}, expected ${want.skip ? 1 : 0}`);
          seen.add(want.state.flags);
          state = want.state;
          if (state.flags !== 0 && rand() < 0.4) {
            // the host reports and clears
            q.writeBuffer(record, 0, new Uint32Array(4));
            state = { ...state, loss: 0, normSq: 0, flags: 0, badStep: 0 };
          }
        }
        assert(
          seen.has(0) && seen.has(1) && seen.has(2) && seen.has(3),
          `the sequence must reach every flag value, got ${[...seen]}`,
        );
      } finally {
        for (const b of [loss, normSq, record]) gpu.pool.release(b);
      }
    },
  },
];
