// The results view: one section per row, newest first: seqgpu and each peer side by side
// (columns), one metric a line (min / median / max beside each median, the raw samples in a
// disclosure), then the float64 check, the row's notes, the compile time of each pipeline the run
// used and the tile sweep. A peer (or seqgpu) whose output is wrong shows "wrong output" and its
// error where the ratio would be; a GPU time longer than the wall time carries a ⚠ and the reason.
import type { BenchRow } from '../../bench/stats.js';
import type { ImplMetrics } from './metrics.js';
import type { ReferenceCheck } from './reference.js';
import type { PipelineCompile } from './compile.js';
import type { Sweep } from './sweep.js';

const ms = (v: number | undefined) => (v === undefined ? '—' : v >= 100 ? v.toFixed(0) : v.toPrecision(3));
const num = ms;
/** 1.23 G, 45.6 M, 789 k */
const si = (v: number) => {
  const [div, unit] = v >= 1e9 ? [1e9, 'G'] : v >= 1e6 ? [1e6, 'M'] : v >= 1e3 ? [1e3, 'k'] : [1, ''];
  return `${(v / div).toPrecision(3)} ${unit}`;
};
const mib = (v: number | undefined) => (v === undefined ? '—' : (v / 1024 / 1024).toFixed(1));
const range = (s: { min: number; max: number } | undefined) => (s ? ` [${ms(s.min)}, ${ms(s.max)}]` : '');

function cell(tag: 'td' | 'th', text: string, className?: string, title?: string): HTMLTableCellElement {
  const el = document.createElement(tag);
  el.textContent = text;
  if (className) el.className = className;
  if (title) el.title = title;
  return el;
}

/** `max |a − b| ÷ max |b| = 1.11` → `1.11`: the error alone, for a table cell (the notes say what it is). */
const errorValue = (wrong: string) => wrong.split(' = ').at(-1)!;
/** What a cell shows for a wrong output: the words and the error. */
export const wrongCell = (wrong: string) => `wrong output (error ${errorValue(wrong)})`;

/** Row notes the lab adds to the exported row (shown by its own blocks instead). */
const SHOWN_ELSEWHERE = [
  'float64 reference',
  'compile (createComputePipelineAsync, ms)',
  'tile sweep (wall ms median)',
];

function item(text: string, className?: string): HTMLLIElement {
  return Object.assign(document.createElement('li'), { textContent: text, ...(className ? { className } : {}) });
}

/** Metric lines: label, its help, the value of each implementation (and an optional class). */
const LINES: Array<[string, string, (m: ImplMetrics) => string, ((m: ImplMetrics) => string | undefined)?]> = [
  [
    'time',
    'ms: GPU time from timestamp queries where there is one, else wall time',
    (m) => `${ms(m.ms)} ${m.source === 'GPU' ? '(GPU)' : '(wall)'}`,
  ],
  [
    'wall',
    'ms, median [min, max] of the timed runs: the call including its upload and readback',
    (m) => `${ms(m.wallMs)}${range(m.wall)}`,
  ],
  [
    'GPU',
    'ms, median [min, max], from timestamp queries; ⚠ when longer than the wall time',
    (m) => (m.gpuMs === undefined ? '—' : `${m.gpuOverWall ? '⚠ ' : ''}${ms(m.gpuMs)}${range(m.gpu)}`),
    (m) => (m.gpuOverWall ? 'warn' : undefined),
  ],
  ['runs', 'timed runs (wall / GPU)', (m) => `${m.wall?.n ?? '—'}${m.gpu ? ` / ${m.gpu.n}` : ''}`],
  ['GFLOP/s', 'from the time above', (m) => num(m.gflops)],
  [
    '% of peak',
    "GFLOP/s ÷ the adapter's peak measured by the FMA probe (Measure peak)",
    (m) => (m.peakFraction === undefined ? '—' : `${(100 * m.peakFraction).toPrecision(3)} %`),
  ],
  ['GB/s', 'bytes moved ÷ the time above', (m) => num(m.gbps)],
  ['dispatches', 'per call', (m) => (m.dispatches === undefined ? '—' : String(m.dispatches))],
  ['peak MiB', 'GPU buffers live on its device during the timed runs', (m) => mib(m.peakBytes)],
  [
    'vs seqgpu',
    'peer wall ÷ seqgpu wall (> 1: seqgpu faster); GPU ÷ GPU. No ratio where an output is wrong',
    (m) =>
      m.noRatio
        ? m.wrong
          ? wrongCell(m.wrong)
          : 'no ratio: seqgpu wrong'
        : m.ratio === undefined
          ? ''
          : `${m.ratio.toFixed(2)}×${m.gpuRatio === undefined ? '' : ` (GPU ${m.gpuRatio.toFixed(2)}×)`}`,
    (m) => (m.noRatio ? 'err' : undefined),
  ],
];

function samplesBlock(metrics: ImplMetrics[]): HTMLDetailsElement {
  const d = document.createElement('details');
  d.className = 'samples';
  d.append(Object.assign(document.createElement('summary'), { textContent: 'raw samples (ms, in run order)' }));
  const list = document.createElement('ul');
  for (const m of metrics) {
    if (m.error) continue;
    const f = (xs: number[] | undefined) => (xs?.length ? xs.map((x) => x.toPrecision(4)).join(', ') : 'not kept');
    list.append(item(`${m.name} wall: ${f(m.wallRuns)}`));
    if (m.gpuMs !== undefined) list.append(item(`${m.name} GPU: ${f(m.gpuRuns)}`));
  }
  d.append(list);
  return d;
}

function compileBlock(pipelines: PipelineCompile[]): HTMLDetailsElement {
  const d = document.createElement('details');
  d.className = 'compile';
  const total = pipelines.reduce((s, p) => s + p.ms, 0);
  const fresh = pipelines.filter((p) => p.newInRun).length;
  d.append(
    Object.assign(document.createElement('summary'), {
      textContent:
        `compile: ${pipelines.length} pipeline${pipelines.length === 1 ? '' : 's'}, ${ms(total)} ms ` +
        `(createComputePipelineAsync, one at a time, on a second device; ${fresh} new in this run)`,
    }),
  );
  const table = document.createElement('table');
  table.append(tableHead(['pipeline (shader|constants)', 'ms', 'new in this run']));
  for (const p of [...pipelines].sort((a, b) => b.ms - a.ms)) {
    const tr = document.createElement('tr');
    tr.append(cell('th', p.pipeline), cell('td', ms(p.ms)), cell('td', p.newInRun ? 'yes' : 'cached'));
    table.append(tr);
  }
  d.append(scroll(table));
  return d;
}

function tableHead(names: string[]): HTMLTableRowElement {
  const tr = document.createElement('tr');
  tr.append(...names.map((name) => Object.assign(cell('th', name), { scope: 'col' })));
  return tr;
}

function scroll(el: HTMLElement): HTMLElement {
  const wrap = Object.assign(document.createElement('div'), { className: 'scroll' });
  wrap.append(el);
  return wrap;
}

function sweepBlock(sweep: Sweep): HTMLElement {
  const d = document.createElement('div');
  d.className = 'sweep';
  d.append(Object.assign(document.createElement('h4'), { textContent: `tile sweep: ${sweep.what}` }));
  const table = document.createElement('table');
  table.append(tableHead(['tile', 'wall ms median [min, max]', 'GPU ms', 'max rel. error', 'status']));
  for (const e of sweep.entries) {
    const tr = document.createElement('tr');
    tr.dataset.tile = e.tile;
    tr.append(
      cell('th', `${e.tile}${e.isDefault ? ' (default)' : ''}`),
      cell('td', e.wall ? `${ms(e.wall.median)}${range(e.wall)}` : '—'),
      cell('td', ms(e.gpuMs)),
      cell('td', e.maxRel === undefined ? '—' : e.maxRel.toExponential(1)),
      cell('td', e.error ?? (e.wrong ? wrongCell(e.wrong) : 'ok'), e.error || e.wrong ? 'err' : undefined, e.wrong),
    );
    table.append(tr);
  }
  d.append(scroll(table));
  return d;
}

/** What a result section shows besides the row. */
export interface ResultExtras {
  reference?: ReferenceCheck;
  compile?: PipelineCompile[];
  sweep?: Sweep | null;
}

export function renderResult(
  container: HTMLElement,
  row: BenchRow,
  metrics: ImplMetrics[],
  bytes: number,
  extras: ResultExtras = {},
): HTMLElement {
  const section = document.createElement('section');
  section.className = 'result';
  section.dataset.workload = row.workload;
  const title = document.createElement('h3');
  title.textContent = `${row.workload} — ${si(row.flops)}FLOP, ${si(bytes)}B moved`;
  section.append(title);

  const table = document.createElement('table');
  table.className = 'metrics';
  const head = tableHead(['', ...metrics.map((m) => m.name)]);
  table.append(head);
  if (metrics.some((m) => m.error || m.wrong)) {
    const tr = document.createElement('tr');
    tr.dataset.metric = 'status';
    tr.append(
      cell('th', 'status'),
      ...metrics.map((m) =>
        cell(
          'td',
          m.error ?? (m.wrong ? wrongCell(m.wrong) : 'ok'),
          (m.error && !m.error.startsWith('n/a')) || m.wrong ? 'err' : undefined,
          m.wrong,
        ),
      ),
    );
    table.append(tr);
  }
  for (const [label, help, value, className] of LINES) {
    if (label === 'peak MiB' && !metrics.some((m) => m.peakBytes !== undefined)) continue;
    const tr = document.createElement('tr');
    tr.dataset.metric = label;
    const th = cell('th', label);
    th.title = help;
    th.scope = 'row';
    tr.append(
      th,
      ...metrics.map((m) =>
        cell('td', m.error ? '' : value(m), m.error ? undefined : className?.(m), m.error ? undefined : m.noRatio),
      ),
    );
    table.append(tr);
  }
  section.append(scroll(table));
  section.append(samplesBlock(metrics));

  const notes = document.createElement('ul');
  notes.className = 'notes';
  const ref = extras.reference;
  if (ref)
    notes.append(
      ref.checked
        ? item(
            `float64 reference: ${ref.what}, max |seqgpu − float64| ÷ max |float64| = ${ref.maxRel.toExponential(1)}` +
              (ref.wrong ? ' — WRONG OUTPUT' : ' (≤ 1e-3: ok)'),
            ref.wrong ? 'err' : undefined,
          )
        : item(`float64 reference: ${ref.why}`),
    );
  for (const m of metrics) if (m.gpuOverWall) notes.append(item(`⚠ ${m.name}: ${m.gpuOverWall}`, 'warn'));
  for (const [k, v] of Object.entries(row.extra ?? {}))
    if (!SHOWN_ELSEWHERE.includes(k)) notes.append(item(`${k}: ${v}`));
  for (const m of metrics) {
    const text = [m.wrong && `WRONG OUTPUT (${m.wrong})`, m.note].filter(Boolean).join('; ');
    if (text && m.name !== 'seqgpu') notes.append(item(`${m.name}: ${text}`));
  }
  section.append(notes);
  if (extras.compile) section.append(compileBlock(extras.compile));
  if (extras.sweep) section.append(sweepBlock(extras.sweep));
  container.prepend(section);
  return section;
}

export function renderError(container: HTMLElement, what: string, message: string): void {
  const section = document.createElement('section');
  section.className = 'result err';
  section.setAttribute('role', 'alert');
  section.textContent = `${what}: ${message}`;
  container.prepend(section);
}
