// What the run prints: log lines, and on a terminal a progress bar redrawn in place below them
// (a plain log line every --log-every steps instead when stdout is not a terminal).

export const fmtInt = (n) => Math.round(n).toLocaleString('en-US');
export const fmtTime = (s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
export const fmtLoss = (loss) => `${loss.toFixed(4)} (ppl ${Math.exp(loss).toFixed(2)})`;

export class Progress {
  /** @param out - A writable stream (process.stdout); a bar only when it is a TTY. */
  constructor(out = process.stdout) {
    this.out = out;
    this.tty = !!out.isTTY;
    this.barShown = false;
    this.lastDraw = 0;
  }

  /** Prints a line (above the bar on a terminal). */
  log(line) {
    this.clearBar();
    this.out.write(`${line}\n`);
  }

  /**
   * Redraws the bar (terminal only, at most 10 times a second unless `force`).
   * @param s - { step, steps?, elapsed, time?, loss?, tokensPerSecond }
   */
  bar(s, force = false) {
    if (!this.tty) return;
    const now = performance.now();
    if (!force && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const fractions = [s.steps ? s.step / s.steps : 0, s.time ? s.elapsed / s.time : 0];
    const f = Math.min(1, Math.max(...fractions));
    const width = 20;
    const filled = Math.round(f * width);
    const text = [
      `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${String(Math.floor(f * 100)).padStart(3)}%`,
      `step ${fmtInt(s.step)}${s.steps ? `/${fmtInt(s.steps)}` : ''}`,
      `${fmtTime(s.elapsed)}${s.time ? `/${fmtTime(s.time)}` : ''}`,
      s.loss === undefined ? '' : `loss ${s.loss.toFixed(3)}`,
      `${fmtInt(s.tokensPerSecond)} tok/s`,
    ]
      .filter(Boolean)
      .join(' · ');
    const columns = this.out.columns || 100;
    this.out.write(`\r\x1b[K${text.slice(0, columns - 1)}`);
    this.barShown = true;
  }

  /** Removes the bar (before a log line and at the end). */
  clearBar() {
    if (!this.barShown) return;
    this.out.write('\r\x1b[K');
    this.barShown = false;
  }
}
