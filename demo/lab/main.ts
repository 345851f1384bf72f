// The kernel lab (demo/lab.html): pick a kernel, its shape and variant in the panel, run it, and
// see seqgpu's GPU time (timestamp queries; wall time when the adapter has none) with min / median
// / max and every sample, GFLOP/s and its share of the measured peak, GB/s and dispatch count
// beside the peers (onnxruntime-web WebGPU, TensorFlow.js WebGPU) measured in this page on this
// adapter; seqgpu's output against the float64 reference; the compile time of every pipeline the
// run used; a tile sweep; the adapter's limits and features. Export everything as a `npm run
// bench` JSON report or as CSV; the URL's hash is a permalink to the configuration. A run is the
// bench's own row function at the panel's shape (demo/lab/kernels.ts).
// The page's state is on `window.__seqgpuLab` (test/browser/lab*.test.ts poll it).
import { requestGpu, type Gpu } from '../../src/index.js';
import { GpuMemoryTracker } from '../../bench/gpuMemory.js';
import { measurePeak, type Peak } from '../../bench/peakProbe.js';
import type { BenchRow } from '../../bench/stats.js';
import { KERNELS, kernelSpec, type Params, type RunContext } from './kernels.js';
import { checkRun } from './limits.js';
import { bytesMoved, bytesMovedNote, rowMetrics, type ImplMetrics } from './metrics.js';
import { PeerLoader } from './peers.js';
import { createPanel, type LabPanel, type LabSettings } from './panel.js';
import { downloadReport, labReport, type LabRun } from './report.js';
import { renderError, renderResult } from './table.js';
import { referenceCheck, type ReferenceCheck } from './reference.js';
import { CompileTimer, type PipelineCompile } from './compile.js';
import { SWEEPS, tileSweep, type Sweep } from './sweep.js';
import { download, resultsCsv } from './csv.js';
import { applyPermalink, encodePermalink } from './permalink.js';
import { perturbedPeer } from './perturb.js';
import { limitsRecord, renderAdapter } from './adapter.js';
import { benchOptions } from '../../bench/suite.js';

/** What the page shows for one row. */
export interface LabResult {
  workload: string;
  bytes: number;
  metrics: ImplMetrics[];
  /** seqgpu vs the float64 reference at this shape. */
  reference: ReferenceCheck;
  /** Every pipeline the run used and its compile time. */
  compile: PipelineCompile[];
  sweep: Sweep | null;
}

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
  results: LabResult[];
  runs: LabRun[];
  adapter: unknown;
  features: unknown;
  /** The device's limits, by name. */
  limits: Record<string, number> | null;
  /** The FMA probe's peak, once measured. */
  peak: Peak | null;
  /** File name of the last JSON export. */
  exported: string | null;
  /** File name of the last CSV export. */
  exportedCsv: string | null;
  /** The configuration as the panel holds it (what the permalink encodes). */
  config: { settings: LabSettings; params: Params } | null;
  /** The permalink's hash (without '#'). */
  permalink: string;
  /** Keys a permalink restored when the page opened. */
  restored: string[];
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
  limits: null,
  peak: null,
  exported: null,
  exportedCsv: null,
  config: null,
  permalink: '',
  restored: [],
};
(window as unknown as { __seqgpuLab: LabState }).__seqgpuLab = lab;

const status = document.getElementById('status')!;
const results = document.getElementById('results')!;

function say(message: string): void {
  status.textContent = message;
  status.className = '';
  console.info(`[lab] ${message}`);
}

const ms = (v: number) => (v >= 100 ? v.toFixed(0) : v.toPrecision(3));

/** Row notes that carry the lab's own checks into the JSON export. */
function labExtras(reference: ReferenceCheck, compile: PipelineCompile[], sweep: Sweep | null): Record<string, string> {
  const extra: Record<string, string> = {
    'float64 reference': reference.checked
      ? `${reference.what}: max rel. error ${reference.maxRel.toExponential(1)}` +
        (reference.wrong ? ' (WRONG OUTPUT)' : '')
      : reference.why,
    'compile (createComputePipelineAsync, ms)': compile.map((c) => `${c.pipeline} ${ms(c.ms)}`).join(', '),
  };
  if (sweep)
    extra['tile sweep (wall ms median)'] = sweep.entries
      .map((e) => `${e.tile}: ${e.error ? 'refused' : e.wrong ? 'wrong output' : ms(e.wall!.median)}`)
      .join(', ');
  return extra;
}

interface Lab {
  gpu: Gpu;
  memory: GpuMemoryTracker;
  peers: PeerLoader;
  panel: LabPanel;
  compiler: CompileTimer;
}

async function runOnce({ gpu, memory, peers, panel, compiler }: Lab): Promise<void> {
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
    const { result: rows, pipelines } = await compiler.track(() => spec.run(ctx, params), say);
    await gpu.sync(); // surfaces a GPU error of the run here rather than at the next one
    // After the run, so the compile list says which pipelines the row itself created.
    say(`checking seqgpu against the float64 reference…`);
    const reference = await referenceCheck(gpu, spec.key, params);
    const sweep =
      settings.sweep && SWEEPS.includes(spec.key) ? await tileSweep(gpu, spec.key, params, settings.reps, say) : null;
    for (const row of rows) {
      row.extra = {
        ...row.extra,
        'bytes moved': `${bytes} B: ${bytesMovedNote(operands)}`,
        'seqgpu time':
          row.seqgpu.gpuMs === undefined
            ? 'wall time (the adapter has no timestamp-query)'
            : 'GPU time from timestamp queries',
        ...labExtras(reference, pipelines, sweep),
      };
      const metrics = rowMetrics(row, bytes, {
        peakGflops: lab.peak?.gflops,
        seqgpuWrong: reference.checked ? reference.wrong : undefined,
      });
      lab.rows.push(row);
      lab.results.push({ workload: row.workload, bytes, metrics, reference, compile: pipelines, sweep });
      run.workloads.push(row.workload);
      renderResult(results, row, metrics, bytes, { reference, compile: pipelines, sweep });
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
  const adapterEl = document.getElementById('adapter')!;
  renderAdapter(adapterEl, gpu, null);
  lab.limits = limitsRecord(gpu.device.limits);
  const peers = new PeerLoader(perturbedPeer(location.search));
  const defaults = benchOptions(() => null);
  const settings: LabSettings = {
    kernel: KERNELS[0].key,
    reps: defaults.reps,
    peerReps: defaults.peerReps,
    tfjs: true,
    ort: true,
    sweep: false,
  };
  const params: Record<string, Params> = Object.fromEntries(KERNELS.map((k) => [k.key, { ...k.defaults }]));
  lab.restored = applyPermalink(location.hash, KERNELS, settings, params);
  const link = document.getElementById('permalink') as HTMLAnchorElement;
  const follow = () => {
    lab.permalink = encodePermalink(settings, params);
    lab.config = { settings: { ...settings }, params: { ...params[settings.kernel] } };
    link.href = `#${lab.permalink}`;
    history.replaceState(null, '', `${location.pathname}${location.search}#${lab.permalink}`);
  };
  const state: Partial<Lab> = { gpu, memory, peers, compiler: new CompileTimer(gpu) };
  const busy = (b: boolean) => {
    lab.running = b;
    state.panel!.setBusy(b);
  };
  state.panel = createPanel(document.getElementById('panel')!, KERNELS, settings, params, {
    run: () => {
      if (lab.running) return;
      busy(true);
      void runOnce(state as Lab).finally(() => {
        lab.completed++;
        busy(false);
      });
    },
    peak: () => {
      if (lab.running) return;
      busy(true);
      say('measuring the peak FP32 rate (FMA probe, bench/peakProbe.ts)…');
      void measurePeak(gpu)
        .then((peak) => {
          lab.peak = peak;
          renderAdapter(adapterEl, gpu, peak);
          say(`peak ${peak.gflops.toFixed(2)} GFLOP/s; rows run from now on show their share of it`);
        })
        .catch((e: Error) => {
          lab.error = `${e.name}: ${e.message}`;
          status.textContent = lab.error;
          status.className = 'err';
        })
        .finally(() => {
          lab.completed++;
          busy(false);
        });
    },
    export: () => {
      lab.exported = downloadReport(labReport(gpu, lab.runs, lab.rows));
      say(`exported ${lab.rows.length} row(s) as ${lab.exported}`);
    },
    exportCsv: () => {
      const name = `seqgpu-lab-${new Date().toISOString().replace(/[:.]/g, '-')}.csv`;
      lab.exportedCsv = download(resultsCsv(lab.results), name, 'text/csv');
      say(`exported ${lab.results.length} row(s) as ${lab.exportedCsv}`);
    },
    clear: () => {
      lab.rows = [];
      lab.results = [];
      lab.runs = [];
      results.replaceChildren();
      say('cleared');
    },
    change: follow,
  });
  follow();
  lab.ready = true;
  say(
    lab.restored.length
      ? `ready: configuration restored from the link (${lab.restored.join(', ')}); press Run`
      : 'ready: pick a kernel and press Run',
  );
}

main().catch((e) => {
  lab.error = `${(e as Error).name}: ${(e as Error).message}`;
  status.textContent = lab.error;
  status.className = 'err';
});
