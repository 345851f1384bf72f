// The training losses and throughput as the run goes: the mean loss and tokens/s since the last
// log line, and the mean of the last few steps for the closing summary.

/** Steps whose mean training loss the summary reports. */
const TAIL_STEPS = 50;

export class LossMeter {
  constructor() {
    this.tail = [];
    this.lastMean = NaN;
    this.lastTokensPerSecond = 0;
    this.resetInterval();
  }

  /** One step: its loss, its milliseconds of training and its tokens. */
  add(loss, ms, tokens) {
    this.losses.push(loss);
    this.ms += ms;
    this.tokens += tokens;
    this.tail.push(loss);
    if (this.tail.length > TAIL_STEPS) this.tail.shift();
  }

  /** Mean loss since the last log line (the previous interval's right after one). */
  get mean() {
    return this.losses.length ? mean(this.losses) : this.lastMean;
  }

  /** Training tokens per second since the last log line (evaluations and samples excluded). */
  get tokensPerSecond() {
    return this.ms ? this.tokens / (this.ms / 1000) : this.lastTokensPerSecond;
  }

  /** Starts a new log interval (after a log line). */
  resetInterval() {
    if (this.losses?.length) {
      this.lastMean = mean(this.losses);
      this.lastTokensPerSecond = this.tokensPerSecond;
    }
    this.losses = [];
    this.ms = 0;
    this.tokens = 0;
  }

  /** { loss, steps }: the mean of the last TAIL_STEPS losses. */
  get recent() {
    return { loss: mean(this.tail), steps: this.tail.length };
  }
}

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
