// What the lab shows for each implementation of a row: its time (GPU time from timestamp queries
// where it has one, else wall time, and which), GFLOP/s, GB/s and the ratio to seqgpu.
// GB/s = bytes moved ÷ that time, bytes moved = the call's inputs read once + its outputs written
// once (4 bytes an element; intermediates and re-reads not counted): a lower bound on traffic.
import type { BenchRow, Measurement } from '../../bench/stats.js';
import type { Operand } from './kernels.js';

export interface ImplMetrics {
  name: string;
  error?: string;
  /** The time GFLOP/s and GB/s are computed from. */
  ms?: number;
  source?: 'GPU' | 'wall';
  wallMs?: number;
  gpuMs?: number;
  gflops?: number;
  gbps?: number;
  dispatches?: number;
  peakBytes?: number;
  /** Peer wall ÷ seqgpu wall, as `npm run bench` reports it (> 1: seqgpu faster). */
  ratio?: number;
  /** Peer GPU ÷ seqgpu GPU, when both have one. */
  gpuRatio?: number;
  wrong?: string;
  note?: string;
}

export function bytesMoved(operands: Operand[]): number {
  return operands.reduce((sum, o) => sum + 4 * (o.elements ?? o.shape.reduce((a, b) => a * b, 1)), 0);
}

/** `A, B, bias read; C written` */
export function bytesMovedNote(operands: Operand[]): string {
  const names = (role: Operand['role']) =>
    operands
      .filter((o) => o.role === role)
      .map((o) => o.name)
      .join(', ');
  return `${names('read')} read once; ${names('written')} written once (4 B an element)`;
}

function measured(
  name: string,
  m: Measurement | { error: string } | undefined,
  row: BenchRow,
  bytes: number,
  base?: Measurement,
): ImplMetrics {
  if (!m) return { name, error: 'not measured' };
  if ('error' in m) return { name, error: m.error };
  const ms = m.gpuMs ?? m.wallMs;
  return {
    name,
    ms,
    source: m.gpuMs === undefined ? 'wall' : 'GPU',
    wallMs: m.wallMs,
    gpuMs: m.gpuMs,
    gflops: row.flops / ms / 1e6,
    gbps: bytes / ms / 1e6,
    dispatches: m.dispatches,
    peakBytes: m.peakBytes,
    ratio: base ? m.wallMs / base.wallMs : undefined,
    gpuRatio: base && base.gpuMs !== undefined && m.gpuMs !== undefined ? m.gpuMs / base.gpuMs : undefined,
    wrong: m.wrong,
    note: m.note,
  };
}

/** seqgpu first, then every peer of the row. */
export function rowMetrics(row: BenchRow, bytes: number): ImplMetrics[] {
  return [
    measured('seqgpu', row.seqgpu, row, bytes),
    ...Object.entries(row.peers).map(([name, m]) => measured(name, m, row, bytes, row.seqgpu)),
  ];
}
