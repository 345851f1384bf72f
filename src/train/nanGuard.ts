// The optional NaN/Inf guard of a model's training step (`configureTraining({ nanGuard: true })`).
//
// On the GPU, in the step's own command buffer: the optimizer's norm reduction (Σ g²) runs, then
// its check pass (the update computed without writing: any new weight or moment NaN/±Inf raises
// the update flag), then nan_guard.wgsl checks the loss, Σ g² and that flag; if any is bad it
// raises a sticky flag, and the optimizer update (built with `guard`) writes nothing — parameters
// and moments keep their bits (all elements or none). The flag stays up (every later queued update
// is skipped too) until the host has seen it and cleared it.
//
// On the host, every readback of the 32-byte record is queued right after a submit and is its own
// reading: it resolves to its own record (the loss of the step it followed, even when later ones
// were submitted before it settled). Readings are processed in queue order (= step order), and a
// bad step is handled — exactly once, and only inside a call (readNow or check) — by rewinding the
// optimizer's step count to the step before it, clearing the record (a new "generation": readings
// queued before the clear belong to the old one) and calling `onTrip` so the owner undoes its
// counters; that call throws the NonFiniteError (naming the bad step and the source: loss,
// gradNorm or update):
//   - a readNow reading that shows a bad step of the current generation: its caller — the earliest
//     caller whose step is ≥ the bad step — handles and reports it;
//   - a readNow reading of an older generation showing the flag: that step was skipped along with
//     the bad one reported before; it resolves with `skipped: true` (and its own loss);
//   - a background reading (afterSubmit, one in flight at a time, never waited for) that shows a
//     bad step is kept; the next check() (the next trainStep) handles and reports it, unless a
//     readNow reading of the same generation did so first.
// Because the flag is sticky, the steps queued after the bad one (before the host saw it) were
// skipped too: the weights after the error are bit for bit those before the bad step, however
// late it is reported.
import type { Gpu } from '../gpu/device.js';
import type { Dispatch } from '../gpu/dispatch.js';
import { DestroyedError, NonFiniteError, type NonFiniteSource } from '../util/errors.js';
import { TENSOR_USAGE } from '../gpu/flags.js';
import {
  nanGuardDispatch,
  decodeGuardRecord,
  NAN_GUARD_RECORD_BYTES,
  NAN_GUARD_STEP_OFFSET,
  NAN_GUARD_LOSS,
  NAN_GUARD_GRAD,
  type GuardRecord,
} from '../kernels/nanGuard.js';
import type { Optimizer } from '../kernels/optimizer.js';

/** Guard dispatches kept per loss buffer (one per cached training plan). */
const MAX_CACHED = 16;

/** What {@link NanGuard.readNow} resolves to: the state right after the step it followed. */
export interface GuardReading {
  /** That step's own loss (also when its update was skipped). */
  loss: number;
  /** ‖g‖₂ of that step. */
  gradNorm: number;
  /** The optimizer step it followed (as written before that submit). */
  step: number;
  /**
   * True when that step's update was skipped because an earlier step was not finite and that
   * step's NonFiniteError went to another caller (or check()): this step did not train.
   */
  skipped: boolean;
  /** The record as read back. */
  record: GuardRecord;
}

/** A processed readback: its reading, or the error it must deliver to its caller. */
type Outcome = { reading: GuardReading; error?: unknown } | { reading?: undefined; error: unknown };

export class NanGuard {
  private readonly record: GPUBuffer;
  private readonly byLoss = new Map<GPUBuffer, Dispatch>();
  /** Bumped each time a trip is handled (the record cleared): readbacks queued before belong to the old one. */
  private generation = 0;
  /** Processing of the readbacks, in queue order. */
  private tail: Promise<void> = Promise.resolve();
  /** Submits seen by afterSubmit; `covered`: the last one a readNow readback follows. */
  private submits = 0;
  private covered = -1;
  private backgroundInFlight = false;
  private backgroundScheduled = false;
  /** A bad step a background readback showed, not handled yet (by check(), or a readNow of its generation). */
  private pendingTrip: { generation: number; record: GuardRecord } | null = null;
  /** A background readback's own failure (e.g. GpuLostError), thrown by the next check(). */
  private backgroundError: { error: unknown } | null = null;
  /** The last background record not looked at by check(). */
  private lastBackground: GuardRecord | null = null;
  private destroyed = false;

  /**
   * @param optimizer built with `{ guard: true }`.
   * @param owner names the call in messages, e.g. `'SequenceModel.trainStep'`.
   * @param onTrip called (once per bad step, inside the readNow or check call that reports it)
   *   with the number of steps (the bad one and any queued after it) whose updates were skipped —
   *   the owner rewinds its own step counters.
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
   * The optimizer's dispatches with the guard placed between the check pass and the update:
   * `[...norm, ...check, guard(loss), ...update]` (one more dispatch than `optimizer.dispatches()`).
   */
  arrange(loss: GPUBuffer): Dispatch[] {
    const opt = this.optimizer.dispatches();
    const k = this.optimizer.guardIndex;
    return [...opt.slice(0, k), this.dispatch(loss), ...opt.slice(k)];
  }

  private dispatch(loss: GPUBuffer): Dispatch {
    let d = this.byLoss.get(loss);
    if (!d) {
      d = nanGuardDispatch(this.gpu, {
        loss,
        normSq: this.optimizer.normSqBuffer,
        record: this.record,
        updateFlag: this.optimizer.updateFlagBuffer,
        label: 'nanGuard',
      });
      if (this.byLoss.size >= MAX_CACHED) this.byLoss.delete(this.byLoss.keys().next().value as GPUBuffer);
      this.byLoss.set(loss, d);
    }
    return d;
  }

  /** Call after optimizer.beforeStep and before the submit: tells the record which step runs. */
  beforeSubmit(): void {
    this.gpu.device.queue.writeBuffer(this.record, NAN_GUARD_STEP_OFFSET, Uint32Array.of(this.optimizer.step));
  }

  /**
   * Call right after the submit. Unless a background readback is in flight, or a readNow in the
   * same synchronous run already reads this submit's record, starts one (never waited for).
   */
  afterSubmit(): void {
    this.submits++;
    if (this.backgroundInFlight || this.backgroundScheduled) return;
    this.backgroundScheduled = true;
    queueMicrotask(() => {
      this.backgroundScheduled = false;
      if (this.destroyed || this.backgroundInFlight || this.covered === this.submits) return;
      this.backgroundInFlight = true;
      void this.read(false).then((o) => {
        this.backgroundInFlight = false;
        if (o.reading) this.lastBackground = o.reading.record;
        else this.backgroundError = { error: o.error };
      });
    });
  }

  /**
   * Looks at the background readbacks settled so far (without waiting for the GPU). Throws the
   * {@link NonFiniteError} of a bad step they showed that was not reported yet — once: the
   * optimizer's step count is rewound to the last good step, the record cleared and `onTrip`
   * called — or a readback's own error (e.g. a GpuLostError). Returns the last background record
   * not looked at yet, or null.
   */
  check(): GuardRecord | null {
    if (this.backgroundError) {
      const { error } = this.backgroundError;
      this.backgroundError = null;
      throw error;
    }
    const trip = this.pendingTrip;
    this.pendingTrip = null;
    if (trip && trip.generation === this.generation && !this.destroyed) throw this.trip(trip.record);
    const r = this.lastBackground;
    this.lastBackground = null;
    return r;
  }

  /**
   * The record right after everything submitted so far (waits for the GPU): its own reading, so
   * concurrent calls (unawaited trainSteps) each get the loss of their own step. The readback is
   * queued synchronously, before the first await.
   * @throws NonFiniteError when this reading is the first to show a bad step (or shows one a
   *   background readback found and nobody was told yet); the readback's own error.
   */
  async readNow(): Promise<GuardReading> {
    if (this.destroyed) throw new DestroyedError(`${this.owner}: the NaN/Inf guard was destroyed`);
    this.covered = this.submits;
    const outcome = await this.read(true);
    if (outcome.error !== undefined) throw outcome.error;
    return outcome.reading!;
  }

  /** Queues a readback of the record now; processes it after every earlier one. */
  private read(caller: boolean): Promise<Outcome> {
    const generation = this.generation;
    let data: Promise<ArrayBuffer>;
    try {
      data = this.gpu.readBuffer(this.record, 0, NAN_GUARD_RECORD_BYTES);
    } catch (error) {
      data = Promise.reject(error); // e.g. the device is lost: reported to the reader
    }
    data.catch(() => {}); // handled below, after the earlier readbacks
    const done: Promise<Outcome> = this.tail
      .then(() => data)
      .then(
        (bytes) => {
          try {
            return this.settle(decodeGuardRecord(bytes), generation, caller);
          } catch (error) {
            return { error }; // e.g. the optimizer was destroyed meanwhile
          }
        },
        (error: unknown) => ({ error }),
      );
    this.tail = done.then(
      () => undefined,
      () => undefined,
    );
    return done;
  }

  /**
   * Processes one readback (in queue order): a caller's reading handles a new bad step; a background one keeps it for
   * check().
   */
  private settle(record: GuardRecord, generation: number, caller: boolean): Outcome {
    const reading: GuardReading = {
      loss: record.stepLoss,
      gradNorm: Math.sqrt(record.stepNormSq),
      step: record.step,
      skipped: false,
      record,
    };
    if (record.flags === 0 || this.destroyed) return { reading };
    if (generation !== this.generation) return { reading: { ...reading, skipped: true } }; // reported already
    if (!caller) {
      if (this.pendingTrip?.generation !== generation) this.pendingTrip = { generation, record };
      return { reading };
    }
    this.pendingTrip = null; // the same bad step, reported here
    return { reading, error: this.trip(record) };
  }

  /** Handles a bad step once: rewinds the optimizer, clears the record, calls onTrip; returns its error. */
  private trip(r: GuardRecord): NonFiniteError {
    const current = this.optimizer.step;
    const good = Math.max(0, Math.min(r.badStep - 1, current)); // (≤ current even after a loadState)
    const skipped = current - good;
    this.optimizer.rewindTo(good);
    this.gpu.device.queue.writeBuffer(this.record, 0, new Uint32Array(4));
    this.generation++;
    this.onTrip(skipped);
    const gradNorm = Math.sqrt(r.normSq);
    const source: NonFiniteSource =
      r.flags & NAN_GUARD_LOSS ? 'loss' : r.flags & NAN_GUARD_GRAD ? 'gradNorm' : 'update';
    const o = this.optimizer.options;
    const skippedText =
      `The NaN/Inf guard skipped its ` +
      `update${skipped > 1 ? ` and those of the ${skipped - 1} step(s) queued after it` : ''}: ` +
      `the weights and optimizer state are those after step ${r.badStep - 1}. `;
    const advice =
      `Lower the learning rate (lr ${this.optimizer.lr}), clip the gradients ` +
      `(clipNorm${o.clipNorm !== undefined ? ` is ${o.clipNorm}` : ''}, clipValue), ` +
      'or look for extreme values in the batch; the next trainStep continues from there.';
    let what: string;
    if (source === 'update') {
      what =
        `a non-finite update (source 'update'): its loss ${r.loss} and gradient ` +
        `norm ${gradNorm} are finite, but the ${o.kind} update would make a weight or an ` +
        `optimizer moment NaN or ±Inf (f32 overflow). `;
    } else {
      const names =
        (r.flags & (NAN_GUARD_LOSS | NAN_GUARD_GRAD)) === (NAN_GUARD_LOSS | NAN_GUARD_GRAD)
          ? 'loss and gradient norm'
          : source === 'loss'
            ? 'loss'
            : 'gradient norm';
      what = `a non-finite ${names} (loss ${r.loss}, gradient norm ${gradNorm}): source '${source}'. `;
    }
    return new NonFiniteError(
      `${this.owner}: training step ${r.badStep} gave ${what}${skippedText}${advice}`,
      r.badStep,
      r.loss,
      gradNorm,
      source,
    );
  }

  /** Releases the record; readbacks still in flight are ignored. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.byLoss.clear();
    this.pendingTrip = null;
    this.gpu.pool.release(this.record);
  }
}
