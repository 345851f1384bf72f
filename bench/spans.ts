// GPU time of groups of dispatches, one pair of timestamps per group: each group runs in its own
// compute pass whose beginning and end write a timestamp. A browser may quantise timestamps
// (Chrome: to 100 µs without --enable-webgpu-developer-features), so timing one 20 µs recurrent
// step per pair would measure the quantum; timing N steps per pair divides that error by N.
// (src/gpu/profiler.ts times every dispatch in its own pass instead: right for a per-kernel split.)
import type { Gpu } from '../src/index.js';
import { encodeDispatches, type Dispatch } from '../src/gpu/dispatch.js';

/** Consecutive dispatches of the same kind, `size` at most per group (`Infinity`: no limit). */
export function groupDispatches(
  dispatches: readonly Dispatch[],
  kind: (d: Dispatch) => string,
  size: (kind: string) => number,
): Array<{ kind: string; dispatches: Dispatch[] }> {
  const groups: Array<{ kind: string; dispatches: Dispatch[] }> = [];
  for (const d of dispatches) {
    const k = kind(d);
    const last = groups[groups.length - 1];
    if (last && last.kind === k && last.dispatches.length < size(k)) last.dispatches.push(d);
    else groups.push({ kind: k, dispatches: [d] });
  }
  return groups;
}

/** Times groups of dispatches in one submit, a timestamp pair per group (needs `timestamp-query`). */
export class SpanTimer {
  private querySet: GPUQuerySet | null = null;
  private resolveBuffer: GPUBuffer | null = null;
  private capacity = 0;

  constructor(private readonly gpu: Gpu) {}

  /**
   * Runs the groups in order, each in its own pass, after `before` (copies outside a pass), and
   * returns each group's GPU time in ms.
   */
  async time(groups: ReadonlyArray<readonly Dispatch[]>, before?: (e: GPUCommandEncoder) => void): Promise<number[]> {
    const device = this.gpu.device;
    if (groups.length > this.capacity) {
      this.destroy();
      this.capacity = groups.length;
      this.querySet = device.createQuerySet({ type: 'timestamp', count: 2 * groups.length, label: 'bench.spans' });
      // QUERY_RESOLVE | COPY_SRC
      this.resolveBuffer = device.createBuffer({ size: 16 * groups.length, usage: 0x200 | 0x04, label: 'bench.spans' });
    }
    const encoder = device.createCommandEncoder({ label: 'bench.spans' });
    before?.(encoder);
    groups.forEach((g, i) => {
      const pass = encoder.beginComputePass({
        label: `bench.span${i}`,
        timestampWrites: { querySet: this.querySet!, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 },
      });
      encodeDispatches(pass, g);
      pass.end();
    });
    encoder.resolveQuerySet(this.querySet!, 0, 2 * groups.length, this.resolveBuffer!, 0);
    this.gpu.submit(
      encoder,
      groups.reduce((s, g) => s + g.length, 0),
    );
    const raw = new BigUint64Array(await this.gpu.readBuffer(this.resolveBuffer!, 0, 16 * groups.length));
    return groups.map((_, i) => Number(raw[2 * i + 1] - raw[2 * i]) / 1e6);
  }

  destroy(): void {
    this.querySet?.destroy();
    this.resolveBuffer?.destroy();
    this.querySet = null;
    this.resolveBuffer = null;
    this.capacity = 0;
  }
}
