// The training batches: random windows of the training split (randomWindows), drawn from a
// mulberry32 generator whose whole state is one u32 — saved with a checkpoint, so a resumed run
// draws exactly the batches the uninterrupted run would have.
import { randomWindows } from '../../dist/index.js';

/** Mulberry32's increment (its state after n draws is state₀ + n·GOLDEN mod 2³²). */
const GOLDEN = 0x6d2b79f5;

export class BatchSampler {
  /**
   * @param ids - The training split, token ids.
   * @param seqLen - Characters per window.
   * @param batch - Windows per batch.
   * @param state - The generator's u32 state: {@link BatchSampler.initialState} or a saved one.
   */
  constructor(ids, seqLen, batch, state) {
    this.ids = ids;
    this.seqLen = seqLen;
    this.batch = batch;
    this.state = state >>> 0;
  }

  /** The state a run with `seed` starts from (a stream apart from the weights' and the samples'). */
  static initialState(seed) {
    return (seed ^ 0x5eed0b47) >>> 0;
  }

  /** The next batch, time-major, as SequenceModel.trainStep takes it. */
  next() {
    return randomWindows(this.ids, this.seqLen, this.batch, () => this.draw());
  }

  /** One uniform [0, 1) value (mulberry32). */
  draw() {
    this.state = (this.state + GOLDEN) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}
