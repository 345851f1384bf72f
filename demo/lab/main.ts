// The kernel lab (demo/lab.html): pick a kernel, its shape and variant in the panel, run it, and
// see seqgpu's GPU time (timestamp queries; wall time when the adapter has none), GFLOP/s, GB/s
// and dispatch count beside the peers (onnxruntime-web WebGPU, TensorFlow.js WebGPU) measured in
// this page on this adapter; export everything as a `npm run bench` JSON report. A run is the
// bench's own row function at the panel's shape (demo/lab/kernels.ts).
// The page's state is on `window.__seqgpuLab` (test/browser/lab.test.ts polls it).
import { requestGpu, type Gpu } from '../../src/index.js';
import { GpuMemoryTracker } from '../../bench/gpuMemory.js';
import type { BenchRow } from '../../bench/stats.js';
import { KERNELS, kernelSpec, type RunContext } from './kernels.js';
import { checkRun } from './limits.js';
import { bytesMoved, bytesMovedNote, rowMetrics, type ImplMetrics } from './metrics.js';
import { PeerLoader } from './peers.js';
import { createPanel, type LabPanel } from './panel.js';
import { downloadReport, labReport, type LabRun } from './report.js';
import { renderError, renderResult } from './table.js';
import { benchOptions } from '../../bench/suite.js';

export interface LabState {
  /** The GPU is open and the panel is up. */
  ready: boolean;
  running: boolean;
  /** Runs finished so far, with rows or with an error. */
  completed: number;
  /** The last run's error (null when it succeeded). */
  error: string | null;
  /** Every row so far, exactly as exported. */
  rows: BenchRow[];
  /** What the tables show for each row. */
  results: Array<{ workload: string; bytes: number; metrics: ImplMetrics[] }>;
  runs: LabRun[];
  adapter: unknown;
  features: unknown;
  /** File name of the last export. */
  exported: string | null;
}

const lab: LabState = {
  ready: false,
  running: false,
  completed: 0,
  error: null,
  rows: [],
  results: [],
  runs: [],
  adapter: null,
  features: null,
  exported: null,
};
(window as unknown as { __seqgpuLab: LabState }).__seqgpuLab = lab;

const status = document.getElementById('status')!;
const results = document.getElementById('results')!;

function say(message: string): void {
  status.textContent = message;
  status.className = '';
  console.info(`[lab] ${message}`);
}

async function runOnce(gpu: Gpu, memory: GpuMemoryTracker, peers: PeerLoader, panel: LabPanel): Promise<void> {
  const { settings } = panel;
  const spec = kernelSpec(settings.kernel);
  const params = { ...panel.params[spec.key] };
  const run: LabRun = {
    kernel: spec.key,
    params,
    reps: settings.reps,
    peerReps: settings.peerReps,
    peers: { tfjs: settings.tfjs, ort: settings.ort },
    date: new Date().toISOString(),
    workloads: [],
  };
  try {
    const operands = checkRun(gpu, spec, params); // before anything is allocated
    const bytes = bytesMoved(operands);
    const ctx: RunContext = {
      gpu,
      memory,
      reps: settings.reps,
      peerReps: settings.peerReps,
      say,
      peers: await peers.load(spec, { tfjs: settings.tfjs, ort: settings.ort }, say),
    };
    const rows = await spec.run(ctx, params);
    await gpu.sync(); // surfaces a GPU error of the run here rather than at the next one
    for (const row of rows) {
      row.extra = {
        ...row.extra,
        'bytes moved': `${bytes} B: ${bytesMovedNote(operands)}`,
        'seqgpu time':
          row.seqgpu.gpuMs === undefined
            ? 'wall time (the adapter has no timestamp-query)'
            : 'GPU time from timestamp queries',
      };
      const metrics = rowMetrics(row, bytes);
      lab.rows.push(row);
      lab.results.push({ workload: row.workload, bytes, metrics });
      run.workloads.push(row.workload);
      renderResult(results, row, metrics, bytes);
    }
    lab.error = null;
    say(`done: ${rows.map((r) => r.workload).join(', ')}`);
  } catch (e) {
    lab.error = `${(e as Error).name}: ${(e as Error).message}`;
    run.error = lab.error;
    renderError(results, `${spec.title}`, lab.error);
    status.textContent = lab.error;
    status.className = 'err';
    // A refused shape is the user's to fix; anything else is a bug worth the console.
    if ((e as Error).name === 'ShapeError') console.warn(`[lab] ${lab.error}`);
    else console.error(`[lab] ${(e as Error).stack ?? e}`);
  }
  lab.runs.push(run);
}

async function main(): Promise<void> {
  say('opening WebGPU…');
  const gpu = await requestGpu();
  // Before any peer opens its device, so every buffer the peers create is counted (attention rows).
  const memory = GpuMemoryTracker.install(Object.getPrototypeOf(gpu.device));
  lab.adapter = gpu.adapterInfo;
  lab.features = gpu.features;
  const info = gpu.adapterInfo;
  document.getElementById('adapter')!.textContent =
    `${info.vendor} ${info.architecture} ${info.description}${info.isFallbackAdapter ? ' (software fallback)' : ''}; ` +
    `timestamp queries: ${gpu.features.timestampQuery ? 'yes (GPU times)' : 'no (wall times)'}`;
  const peers = new PeerLoader();
  const defaults = benchOptions(() => null);
  const settings = { kernel: KERNELS[0].key, reps: defaults.reps, peerReps: defaults.peerReps, tfjs: true, ort: true };
  const panel: LabPanel = createPanel(document.getElementById('panel')!, KERNELS, settings, {
    run: () => {
      if (lab.running) return;
      lab.running = true;
      panel.setBusy(true);
      void runOnce(gpu, memory, peers, panel).finally(() => {
        lab.running = false;
        lab.completed++;
        panel.setBusy(false);
      });
    },
    export: () => {
      lab.exported = downloadReport(labReport(gpu, lab.runs, lab.rows));
      say(`exported ${lab.rows.length} row(s) as ${lab.exported}`);
    },
    clear: () => {
      lab.rows = [];
      lab.results = [];
      lab.runs = [];
      results.replaceChildren();
      say('cleared');
    },
  });
  lab.ready = true;
  say('ready: pick a kernel and press Run');
}

main().catch((e) => {
  lab.error = `${(e as Error).name}: ${(e as Error).message}`;
  status.textContent = lab.error;
  status.className = 'err';
});
