// Prints a bench report as a table (medians, GFLOP/s, ratio to each peer) and writes it as JSON
// to bench/results/. Shared by bench/run.mjs (headless Chromium) and bench/node.ts (Node, Dawn).
import { mkdir, writeFile } from 'node:fs/promises';

const fmt = (ms) => (ms === undefined ? '—' : ms >= 100 ? ms.toFixed(0) : ms.toPrecision(3));
const gflops = (flops, ms) => (ms ? (flops / ms / 1e6).toFixed(2) : '—');
const mib = (bytes) => (bytes === undefined ? '—' : (bytes / 1024 / 1024).toFixed(1));

export function printReport(report) {
  console.log(`\nseqgpu bench — ${report.date} (${report.runtime ?? 'chromium'})`);
  console.log(`adapter: ${JSON.stringify(report.adapter)}`);
  console.log(`features: ${JSON.stringify(report.features)}; options: ${JSON.stringify(report.options)}`);
  console.log(
    'times are medians in ms; "wall" includes waiting for the result; ratio = peer ' +
      'wall / seqgpu wall (> 1: seqgpu faster)\n',
  );
  const peers = [...new Set(report.rows.flatMap((r) => Object.keys(r.peers)))];
  // Peak GPU memory columns (MiB) when a row measured it (the attention rows).
  const memory = report.rows.some(
    (r) => r.seqgpu.peakBytes !== undefined || Object.values(r.peers).some((m) => m && m.peakBytes !== undefined),
  );
  const mem = (m) => (memory ? [m && !('error' in m) ? mib(m.peakBytes) : ''] : []);
  // Fastest and slowest run (n) when a row kept them.
  const spreadCol = report.rows.some((r) => r.seqgpu.wallMinMs !== undefined);
  const range = (m) =>
    spreadCol ? [m.wallMinMs === undefined ? '—' : `${fmt(m.wallMinMs)}–${fmt(m.wallMaxMs)} (${m.reps})`] : [];
  // A peer's ratio, with the bootstrap 95 % CI when both sides kept their runs (bench/stats.ts).
  const ratio = (m, seqgpu) => {
    const r = `${(m.wallMs / seqgpu.wallMs).toFixed(2)}×`;
    return m.ratioCI ? `${r} [${m.ratioCI.lo.toFixed(2)}, ${m.ratioCI.hi.toFixed(2)}]` : r;
  };
  const head = [
    'workload',
    'seqgpu wall',
    ...(spreadCol ? ['seqgpu min–max (n)'] : []),
    'seqgpu GPU',
    'seqgpu GFLOP/s',
    ...(memory ? ['seqgpu peak MiB'] : []),
    ...peers.flatMap((p) => [
      `${p} wall`,
      `${p} GPU`,
      `${p} GFLOP/s`,
      ...(memory ? [`${p} peak MiB`] : []),
      `ratio vs ${p}`,
    ]),
  ];
  const lines = [head];
  for (const r of report.rows) {
    const line = [
      r.workload,
      fmt(r.seqgpu.wallMs),
      ...range(r.seqgpu),
      fmt(r.seqgpu.gpuMs),
      gflops(r.flops, r.seqgpu.gpuMs ?? r.seqgpu.wallMs),
      ...mem(r.seqgpu),
    ];
    for (const p of peers) {
      const m = r.peers[p];
      // An error starting with "n/a" is a workload the peer cannot run (e.g. ORT has no backward).
      if (!m || 'error' in m)
        line.push(m ? (m.error.startsWith('n/a') ? m.error : `error: ${m.error}`) : '—', '', '', ...mem(null), '');
      else
        line.push(
          fmt(m.wallMs),
          fmt(m.gpuMs),
          gflops(r.flops, m.gpuMs ?? m.wallMs),
          ...mem(m),
          // A peer whose output disagrees with seqgpu's did other work: no ratio, the time in brackets.
          m.wrong ? `wrong output (${(m.wallMs / r.seqgpu.wallMs).toFixed(2)}×)` : ratio(m, r.seqgpu),
        );
    }
    lines.push(line);
  }
  const widths = head.map((_, i) => Math.max(...lines.map((l) => String(l[i] ?? '').length)));
  for (const [i, l] of lines.entries()) {
    console.log(`| ${l.map((c, j) => String(c ?? '').padEnd(widths[j])).join(' | ')} |`);
    if (i === 0) console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  }
  console.log('GFLOP/s use GPU time where there is one, else wall time.');
  if (report.rows.some((r) => Object.values(r.peers).some((m) => m && m.ratioCI)))
    console.log(
      'ratio [lo, hi]: percentile bootstrap 95 % CI of median(peer wall) / median(seqgpu wall), each side ' +
        'resampled from its own runs (2000 resamples, seeded).',
    );
  if (memory)
    console.log(
      "peak MiB: the largest sum of live GPU buffer bytes on that library's device " +
        'during its timed runs, including what it keeps pooled (bench/gpuMemory.ts).',
    );
  for (const r of report.rows) {
    const notes = { dispatches: r.seqgpu.dispatches, ...r.extra };
    for (const [p, m] of Object.entries(r.peers))
      if (m && (m.note || m.wrong))
        notes[p] = [m.wrong && `WRONG OUTPUT (${m.wrong})`, m.note].filter(Boolean).join('; ');
    const list = Object.entries(notes).filter(([, v]) => v !== undefined);
    if (list.length) console.log(`  ${r.workload}: ${list.map(([k, v]) => `${k}: ${v}`).join('; ')}`);
  }
}

/** Writes the report to `dir` (default bench/results/) and returns the file's path. */
export async function writeReport(report, dir = 'bench/results') {
  await mkdir(dir, { recursive: true });
  const arch = String(report.adapter?.architecture || report.adapter?.vendor || 'unknown').replace(/[^a-z0-9_-]/gi, '');
  const file = `${dir}/${report.date.replace(/[:.]/g, '-')}-${report.runtime ?? 'chromium'}-${arch}.json`;
  await writeFile(file, JSON.stringify(report, null, 2));
  return file;
}
