// The results view: one table per row, seqgpu and each peer side by side (columns), one metric a
// line, then the row's notes. The newest row comes first.
import type { BenchRow } from '../../bench/stats.js';
import type { ImplMetrics } from './metrics.js';

const ms = (v: number | undefined) => (v === undefined ? '—' : v >= 100 ? v.toFixed(0) : v.toPrecision(3));
const num = (v: number | undefined) => (v === undefined ? '—' : v >= 100 ? v.toFixed(0) : v.toPrecision(3));
/** 1.23 G, 45.6 M, 789 k */
const si = (v: number) => {
  const [div, unit] = v >= 1e9 ? [1e9, 'G'] : v >= 1e6 ? [1e6, 'M'] : v >= 1e3 ? [1e3, 'k'] : [1, ''];
  return `${(v / div).toPrecision(3)} ${unit}`;
};
const mib = (v: number | undefined) => (v === undefined ? '—' : (v / 1024 / 1024).toFixed(1));

function cell(tag: 'td' | 'th', text: string, className?: string): HTMLElement {
  const el = document.createElement(tag);
  el.textContent = text;
  if (className) el.className = className;
  return el;
}

/** Metric lines: label and the value of each implementation. */
const LINES: Array<[string, string, (m: ImplMetrics) => string]> = [
  [
    'time',
    'ms: GPU time from timestamp queries where there is one, else wall time',
    (m) => `${ms(m.ms)} ${m.source === 'GPU' ? '(GPU)' : '(wall)'}`,
  ],
  ['wall', 'ms, median: the call including its upload and readback', (m) => ms(m.wallMs)],
  ['GPU', 'ms, median, from timestamp queries', (m) => ms(m.gpuMs)],
  ['GFLOP/s', 'from the time above', (m) => num(m.gflops)],
  ['GB/s', 'bytes moved ÷ the time above', (m) => num(m.gbps)],
  ['dispatches', 'per call', (m) => (m.dispatches === undefined ? '—' : String(m.dispatches))],
  ['peak MiB', 'GPU buffers live on its device during the timed runs', (m) => mib(m.peakBytes)],
  [
    'vs seqgpu',
    'peer wall ÷ seqgpu wall (> 1: seqgpu faster); GPU ÷ GPU',
    (m) =>
      m.ratio === undefined
        ? ''
        : `${m.ratio.toFixed(2)}×${m.gpuRatio === undefined ? '' : ` (GPU ${m.gpuRatio.toFixed(2)}×)`}`,
  ],
];

export function renderResult(
  container: HTMLElement,
  row: BenchRow,
  metrics: ImplMetrics[],
  bytes: number,
): HTMLElement {
  const section = document.createElement('section');
  section.className = 'result';
  section.dataset.workload = row.workload;
  const title = document.createElement('h3');
  title.textContent = `${row.workload} — ${si(row.flops)}FLOP, ${si(bytes)}B moved`;
  section.append(title);

  const table = document.createElement('table');
  const head = document.createElement('tr');
  head.append(cell('th', ''), ...metrics.map((m) => cell('th', m.name)));
  table.append(head);
  if (metrics.some((m) => m.error)) {
    const tr = document.createElement('tr');
    tr.append(
      cell('th', 'status'),
      ...metrics.map((m) =>
        cell(
          'td',
          m.error ?? (m.wrong ? `WRONG OUTPUT: ${m.wrong}` : 'ok'),
          m.error && !m.error.startsWith('n/a') ? 'err' : undefined,
        ),
      ),
    );
    table.append(tr);
  }
  for (const [label, help, value] of LINES) {
    if (label === 'peak MiB' && !metrics.some((m) => m.peakBytes !== undefined)) continue;
    const tr = document.createElement('tr');
    tr.dataset.metric = label;
    const th = cell('th', label);
    th.title = help;
    tr.append(th, ...metrics.map((m) => cell('td', m.error ? '' : value(m))));
    table.append(tr);
  }
  section.append(table);

  const notes = document.createElement('ul');
  notes.className = 'notes';
  for (const [k, v] of Object.entries(row.extra ?? {}))
    notes.append(Object.assign(document.createElement('li'), { textContent: `${k}: ${v}` }));
  for (const m of metrics) {
    const text = [m.wrong && `WRONG OUTPUT (${m.wrong})`, m.note].filter(Boolean).join('; ');
    if (text && m.name !== 'seqgpu')
      notes.append(Object.assign(document.createElement('li'), { textContent: `${m.name}: ${text}` }));
  }
  section.append(notes);
  container.prepend(section);
  return section;
}

export function renderError(container: HTMLElement, what: string, message: string): void {
  const section = document.createElement('section');
  section.className = 'result err';
  section.textContent = `${what}: ${message}`;
  container.prepend(section);
}
