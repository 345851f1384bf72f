// What every model and layer does around its public methods (issue 14: reliability):
//   - calls run in call order (a CallQueue per object, src/util/callQueue.ts);
//   - after destroy() every call throws a DestroyedError, and the buffers are released once the
//     calls made before destroy() have finished;
//   - a call that runs on buffers of a lost device rejects with a GpuLostError (until recover()).
import type { Gpu } from '../gpu/device.js';
import { DestroyedError } from '../util/errors.js';
import { CallQueue } from '../util/callQueue.js';
import { assertSameDevice } from './recovery.js';

export class Lifecycle {
  private readonly queue = new CallQueue();
  private destroyed = false;
  /** `gpu.generation` of the device the owner's buffers are on. */
  generation: number;

  /**
   * @param gpu - The owner's device.
   * @param className - The owner's class, for messages (`'SequenceModel'`).
   */
  constructor(
    private readonly gpu: Gpu,
    private readonly className: string,
  ) {
    this.generation = gpu.generation;
  }

  /** True once destroy() was called. */
  get isDestroyed(): boolean {
    return this.destroyed;
  }

  /** Throws a DestroyedError after destroy(). */
  assertUsable(where: string): void {
    if (this.destroyed) throw new DestroyedError(`${where}: this ${this.className} was destroyed; create a new one`);
  }

  /** Throws a DestroyedError after destroy(), a GpuLostError on buffers of a lost device. */
  assertLive(where: string): void {
    this.assertUsable(where);
    assertSameDevice(this.gpu, this.generation, where);
  }

  /**
   * Runs an async entry point in call order: rejects with a DestroyedError after destroy() and —
   * when it runs — with a GpuLostError on buffers of a lost device (unless `deviceCheck` is false:
   * recover).
   */
  call<T>(where: string, fn: () => Promise<T>, { deviceCheck = true } = {}): Promise<T> {
    try {
      this.assertUsable(where);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.queue.run(() => {
      if (deviceCheck) assertSameDevice(this.gpu, this.generation, where);
      return fn();
    });
  }

  /** Applies a validated synchronous mutation now when idle, else after the calls in flight. */
  defer(apply: () => void): void {
    this.queue.defer(apply);
  }

  /** Marks the owner destroyed now and runs `release` after the calls made before. Idempotent. */
  destroy(release: () => void): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.queue.defer(release);
  }
}
