// The lab's export: a BenchReport, the JSON `npm run bench` writes to bench/results/ (same
// header: date, runtime, userAgent, adapter, features, options; same BenchRow objects), so
// bench/report.mjs prints it and results from the lab and the bench sit side by side.
import type { Gpu } from '../../src/index.js';
import type { BenchReport, BenchRow } from '../../bench/stats.js';
import type { Params } from './kernels.js';
import { download } from './csv.js';

/** What one lab run asked for; the report's `options.runs` lists them in order. */
export interface LabRun {
  kernel: string;
  params: Params;
  reps: number;
  peerReps: number;
  peers: { tfjs: boolean; ort: boolean };
  /** When the run started (ISO). */
  date: string;
  workloads: string[];
  error?: string;
}

export function labReport(gpu: Gpu, runs: LabRun[], rows: BenchRow[]): BenchReport {
  return {
    // The bench's date is when its run started: here the first run's.
    date: runs[0]?.date ?? new Date().toISOString(),
    runtime: 'chromium',
    userAgent: navigator.userAgent,
    adapter: gpu.adapterInfo,
    features: gpu.features,
    options: { source: 'kernel lab (demo/lab.html)', runs },
    rows,
  };
}

/** The file name bench/report.mjs's writeReport gives the same report. */
export function reportFileName(report: BenchReport): string {
  const adapter = report.adapter as { architecture?: string; vendor?: string } | null;
  const arch = String(adapter?.architecture || adapter?.vendor || 'unknown').replace(/[^a-z0-9_-]/gi, '');
  return `${report.date.replace(/[:.]/g, '-')}-${report.runtime ?? 'chromium'}-${arch}.json`;
}

/** Saves `report` as a JSON download; returns the file name. */
export function downloadReport(report: BenchReport): string {
  return download(JSON.stringify(report, null, 2), reportFileName(report), 'application/json');
}
