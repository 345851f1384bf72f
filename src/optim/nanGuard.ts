// The optional NaN/Inf guard of a model's training step (`configureTraining({ nanGuard: true })`).
//
// On the GPU, in the step's own command buffer: the optimizer's norm reduction (Σ g²) runs, then
// nan_guard.wgsl checks the loss and Σ g²; if either is NaN or ±Inf it raises a sticky flag, and
// the optimizer update (built with `guard`) writes nothing — parameters and moments keep their
// bits. The flag stays up (every later queued update is skipped too) until the host has seen it.
//
// On the host: after a submit the 32-byte record is read back asynchronously (one readback in
// flight at a time; none is started while one is pending, so the loop never waits for it). The
// first trainStep after a readback showing a bad step — or the step itself when it reads the loss,
// which waits for its own record — throws a NonFiniteError naming the step, the loss and the
// gradient norm, rewinds the optimizer's step count to the last good step, clears the flag and
// lets the owner undo its own counters. Because the flag is sticky, the steps queued after the bad
// one (before the host saw it) were skipped too: the weights after the error are bit for bit those
// before the bad step, however late it is reported.
import type { Gpu } from '../gpu/device.js';
import type { Dispatch } from '../gpu/dispatch.js';
import { NonFiniteError } from '../gpu/errors.js';
import { TENSOR_USAGE } from '../gpu/flags.js';
import {
  nanGuardDispatch, decodeGuardRecord, NAN_GUARD_RECORD_BYTES, NAN_GUARD_STEP_OFFSET, NAN_GUARD_LOSS, NAN_GUARD_GRAD, type GuardRecord,
} from '../kernels/nanGuard.js';
import type { Optimizer } from './optimizer.js';

/** Guard dispatches kept per loss buffer (one per cached training plan). */
const MAX_CACHED = 16;

export class NanGuard {
  private readonly record: GPUBuffer;
  private readonly byLoss = new Map<GPUBuffer, Dispatch>();
  /** The readback in flight (settles into `outcome`), or null. */
  private pending: Promise<void> | null = null;
  /** A settled readback not looked at yet. */
  private outcome: GuardRecord | { error: unknown } | null = null;
  private destroyed = false;

  /**
   * @param optimizer built with `{ guard: true }`.
   * @param owner names the call in messages, e.g. `'SequenceModel.trainStep'`.
   * @param onTrip called when a bad step is reported, with the number of steps (the bad one and
   *   any queued after it) whose updates were skipped — the owner rewinds its own step counters.
   */
  constructor(
    private readonly gpu: Gpu,
    private readonly optimizer: Optimizer,
    private readonly owner: string,
    private readonly onTrip: (skippedSteps: number) => void = () => {},
  ) {
    this.record = gpu.pool.acquire(NAN_GUARD_RECORD_BYTES, TENSOR_USAGE, 'nanGuard.record');
    gpu.device.queue.writeBuffer(this.record, 0, new Uint32Array(NAN_GUARD_RECORD_BYTES / 4));
  }

  /**
   * The optimizer's dispatches with the guard placed between the gradient-norm reduction and the
   * update: `[...norm, guard(loss), ...update]` (one more dispatch than `optimizer.dispatches()`).
   */
  arrange(loss: GPUBuffer): Dispatch[] {
    const opt = this.optimizer.dispatches();
    const k = this.optimizer.normDispatchCount;
    return [...opt.slice(0, k), this.dispatch(loss), ...opt.slice(k)];
  }

  private dispatch(loss: GPUBuffer): Dispatch {
    let d = this.byLoss.get(loss);
    if (!d) {
      d = nanGuardDispatch(this.gpu, { loss, normSq: this.optimizer.normSqBuffer, record: this.record, label: 'nanGuard' });
      if (this.byLoss.size >= MAX_CACHED) this.byLoss.delete(this.byLoss.keys().next().value as GPUBuffer);
      this.byLoss.set(loss, d);
    }
    return d;
  }

  /** Call after optimizer.beforeStep and before the submit: tells the record which step runs. */
  beforeSubmit(): void {
    this.gpu.device.queue.writeBuffer(this.record, NAN_GUARD_STEP_OFFSET, Uint32Array.of(this.optimizer.step));
  }

  /** Call right after the submit: starts reading the record back, unless a readback is still in flight. */
  afterSubmit(): void {
    if (!this.pending) this.startReadback();
  }

  private startReadback(): void {
    const p: Promise<void> = this.gpu.readBuffer(this.record, 0, NAN_GUARD_RECORD_BYTES).then(
      (data) => { this.outcome = decodeGuardRecord(data); },
      (error: unknown) => { this.outcome = { error }; },
    ).finally(() => {
      if (this.pending === p) this.pending = null;
    });
    this.pending = p;
  }

  /**
   * Looks at the last settled readback (without waiting for the GPU). Throws a
   * {@link NonFiniteError} if it shows a bad step — once: the flag is cleared, the optimizer's
   * step count is rewound to the last good step and `onTrip` is called — or the readback's own
   * error (e.g. a GpuLostError). Returns the record, or null when none settled since the last look.
   */
  check(): GuardRecord | null {
    return this.consume();
  }

  /** The record after everything submitted so far (waits for the GPU), checked as {@link check}. */
  async readNow(): Promise<GuardRecord> {
    if (this.pending) {
      await this.pending; // a readback started before the last submit: look at it, then read again
      this.consume();
    }
    this.startReadback();
    await this.pending;
    return this.consume()!;
  }

  private consume(): GuardRecord | null {
    const r = this.outcome;
    this.outcome = null;
    if (!r) return null;
    if ('error' in r) throw r.error;
    if (r.flags === 0 || this.destroyed) return r;
    const skipped = this.optimizer.step - (r.badStep - 1);
    this.optimizer.rewindTo(r.badStep - 1);
    this.gpu.device.queue.writeBuffer(this.record, 0, new Uint32Array(4));
    this.onTrip(skipped);
    const gradNorm = Math.sqrt(r.normSq);
    const what = r.flags === (NAN_GUARD_LOSS | NAN_GUARD_GRAD) ? 'loss and gradient norm' : r.flags === NAN_GUARD_LOSS ? 'loss' : 'gradient norm';
    const o = this.optimizer.options;
    throw new NonFiniteError(
      `${this.owner}: training step ${r.badStep} gave a non-finite ${what} (loss ${r.loss}, gradient norm ${gradNorm}). ` +
        `The NaN/Inf guard skipped its update${skipped > 1 ? ` and those of the ${skipped - 1} step(s) queued after it` : ''}: ` +
        `the weights and optimizer state are those after step ${r.badStep - 1}. ` +
        `Lower the learning rate (lr ${this.optimizer.lr}), clip the gradients (clipNorm${o.clipNorm !== undefined ? ` is ${o.clipNorm}` : ''}, clipValue), ` +
        'or look for extreme values in the batch; the next trainStep continues from there.',
      r.badStep,
      r.loss,
      gradNorm,
    );
  }

  /** Releases the record; a readback still in flight is ignored. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.pending = null;
    this.byLoss.clear();
    this.gpu.pool.release(this.record);
  }
}
