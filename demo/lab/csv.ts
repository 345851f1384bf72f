// The lab's results as CSV (RFC 4180: comma-separated, fields with a comma, quote or line break
// quoted, quotes doubled; CRLF line ends): one line per implementation of each row and one per
// tile of a row's sweep. Times in ms; the raw samples space-separated in one field each.
import type { LabResult } from './main.js';

export const CSV_COLUMNS = [
  'workload',
  'implementation',
  'status',
  'time source',
  'time ms',
  'wall median ms',
  'wall min ms',
  'wall max ms',
  'gpu median ms',
  'gpu min ms',
  'gpu max ms',
  'runs',
  'GFLOP/s',
  'fraction of peak',
  'GB/s',
  'dispatches',
  'ratio vs seqgpu (wall)',
  'ratio vs seqgpu (gpu)',
  'wall samples ms',
  'gpu samples ms',
  'flags',
] as const;

type Cell = string | number | undefined;

function field(v: Cell): string {
  const s = v === undefined ? '' : typeof v === 'number' ? (Number.isFinite(v) ? String(v) : '') : v;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const samples = (xs: number[] | undefined) => (xs ? xs.map((x) => x.toFixed(4)).join(' ') : '');

/** The CSV text of `results` (header line first). */
export function resultsCsv(results: readonly LabResult[]): string {
  const lines: Cell[][] = [[...CSV_COLUMNS]];
  for (const r of results) {
    for (const m of r.metrics) {
      const status = m.error ? `error: ${m.error}` : m.wrong ? `wrong output: ${m.wrong}` : 'ok';
      lines.push([
        r.workload,
        m.name,
        status,
        m.source,
        m.ms,
        m.wall?.median,
        m.wall?.min,
        m.wall?.max,
        m.gpu?.median,
        m.gpu?.min,
        m.gpu?.max,
        m.wall?.n,
        m.gflops,
        m.peakFraction,
        m.gbps,
        m.dispatches,
        m.ratio,
        m.gpuRatio,
        samples(m.wallRuns),
        samples(m.gpuRuns),
        [m.gpuOverWall, m.noRatio].filter(Boolean).join('; '),
      ]);
    }
    for (const e of r.sweep?.entries ?? []) {
      lines.push([
        r.workload,
        `seqgpu tile ${e.tile}${e.isDefault ? ' (default)' : ''}`,
        e.error ? `error: ${e.error}` : e.wrong ? `wrong output: ${e.wrong}` : 'ok',
        e.gpuMs === undefined ? 'wall' : 'GPU',
        e.gpuMs ?? e.wall?.median,
        e.wall?.median,
        e.wall?.min,
        e.wall?.max,
        e.gpuMs,
        e.gpuRuns && Math.min(...e.gpuRuns),
        e.gpuRuns && Math.max(...e.gpuRuns),
        e.wall?.n,
        undefined,
        undefined,
        undefined,
        undefined,
        undefined,
        undefined,
        samples(e.wallRuns),
        samples(e.gpuRuns),
        '',
      ]);
    }
  }
  return lines.map((l) => l.map(field).join(',')).join('\r\n') + '\r\n';
}

/** Saves `text` as a download named `name`; returns the name. */
export function download(text: string, name: string, type: string): string {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return name;
}
