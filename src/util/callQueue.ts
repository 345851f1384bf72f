// Calls on one model, layer or optimizer run in call order: a FIFO per object.
//
// `run(fn)` starts `fn` at once when nothing of the object is in flight (so a training step is
// still recorded and submitted before trainStep returns its promise), else after every call made
// before it has settled — whatever it awaits in between (readbacks, generation loops). So
// `Promise.all([a(), b()])` gives what `await a(); await b()` gives, bit for bit.
//
// `defer(apply)` is for synchronous mutators (loadStateDict, configureTraining, destroy): the
// caller validates first (and throws synchronously); `apply` then runs now when the object is
// idle, or after the calls in flight, in order — it must not fail.

export class CallQueue {
  private inFlight = 0;
  private tail: Promise<void> = Promise.resolve();

  /** True when no call of the object is pending or running. */
  get idle(): boolean {
    return this.inFlight === 0;
  }

  /** Runs `fn` after every call queued before it (at once when idle); resolves to its result. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.inFlight === 0 ? invoke(fn) : this.tail.then(fn);
    this.track(result);
    return result;
  }

  /** Applies a validated synchronous mutation now when idle, else after the calls in flight. */
  defer(apply: () => void): void {
    if (this.inFlight === 0) apply();
    else this.track(this.tail.then(apply));
  }

  /** Resolves when every call queued so far has settled (never rejects). */
  drained(): Promise<void> {
    return this.tail;
  }

  private track(p: Promise<unknown>): void {
    this.inFlight++;
    this.tail = p.then(
      () => {
        this.inFlight--;
      },
      () => {
        this.inFlight--;
      },
    );
  }
}

/** Calls `fn`, turning a synchronous throw into a rejected promise. */
function invoke<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn();
  } catch (e) {
    return Promise.reject(e);
  }
}
