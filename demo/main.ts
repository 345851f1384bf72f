// The demo page: train a sequence model live in the browser on WebGPU. Wires the panel
// (panel.ts), the training loop (trainer.ts), the charts (charts.ts), the state banners
// (states.ts), weight files (weights.ts) and the test hook (hook.ts, window.__seqgpuDemo).
import { BarChart, LineChart, type Series } from './charts.js';
import { addChartTools } from './chartTools.js';
import type { DemoHook } from './hook.js';
import { Panel } from './panel.js';
import { defaultParams, type Params } from './params.js';
import type { KernelTimes } from './profile.js';
import { Banner, showDeviceLost, showError, showNaN, showNoWebGpu, type DemoState } from './states.js';
import { Trainer, type Run, type StateDetail } from './trainer.js';
import { paramWarnings } from './warnings.js';
import { download, watchFileInput, weightFileName } from './weights.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

const banner = new Banner($('banner'));
const statusLine = $('status');
const modelLine = $('model');
const logLine = $('log');
const warmupLine = $('warmup');
const warmupBar = $<HTMLProgressElement>('warmup-bar');
const warmupText = $('warmup-text');
const fileInput = $<HTMLInputElement>('weights-file');

const STEP = 'training step';
const charts = {
  loss: new LineChart($<HTMLCanvasElement>('chart-loss'), {
    title: 'loss',
    empty: 'press start',
    xLabel: STEP,
    yLabel: 'loss (nats / character)',
  }),
  grad: new LineChart($<HTMLCanvasElement>('chart-grad'), {
    title: 'gradient norm (before clipping)',
    logY: true,
    xLabel: STEP,
    yLabel: '‖g‖₂ (L2 norm)',
  }),
  steps: new LineChart($<HTMLCanvasElement>('chart-steps'), {
    title: 'steps / s (training time)',
    xLabel: STEP,
    yLabel: 'steps / s',
  }),
  tokens: new LineChart($<HTMLCanvasElement>('chart-tokens'), {
    title: 'tokens / s',
    xLabel: STEP,
    yLabel: 'tokens / s',
  }),
  kernels: new BarChart(
    $<HTMLCanvasElement>('chart-kernels'),
    'GPU time per kernel in one training step (timestamp queries)',
  ),
};
addChartTools(charts.loss, 'loss', 'loss');
addChartTools(charts.grad, 'gradient-norm', 'gradient norm');
addChartTools(charts.steps, 'steps-per-second', 'steps per second');
addChartTools(charts.tokens, 'tokens-per-second', 'tokens per second');
addChartTools(charts.kernels, 'kernel-times', 'GPU time per kernel');

// Until the adapter is known the parameters use the small (software) preset.
const params: Params = defaultParams('software');
const log: string[] = [];

const hook: DemoHook = {
  state: 'booting',
  banner: null,
  task: params.task,
  step: 0,
  losses: [],
  lossSteps: [],
  gradNorms: [],
  valLosses: [],
  samples: [],
  runs: [],
  lossLegend: [],
  attention: null,
  forecastMse: null,
  accuracy: null,
  stepsPerSec: 0,
  tokensPerSec: 0,
  lr: params.lr,
  model: '',
  params,
  builds: 0,
  log,
  lastError: null,
  adapter: '',
  timestampQuery: false,
  kernelTimes: null,
  snapshotStep: null,
  saved: null,
  loaded: null,
  warmup: null,
  generated: null,
  forecast: null,
  warnings: [],
  simulateDeviceLoss: () => trainer.simulateDeviceLoss(),
  poisonWeights: () => trainer.poisonWeights(),
};
// Read at the moment the hook is read: the weights of the layer the heat maps show.
Object.defineProperty(hook, 'attention', { get: () => trainer.task?.outputs.attention ?? null, enumerable: true });
(window as unknown as { __seqgpuDemo: DemoHook }).__seqgpuDemo = hook;

function addLog(message: string): void {
  log.push(message);
  logLine.textContent = message;
}

function publish(): void {
  const t = trainer;
  const h = t.history;
  Object.assign(hook, {
    state: t.state,
    task: params.task,
    step: t.step,
    losses: h.losses,
    lossSteps: h.lossSteps,
    gradNorms: h.gradNorms,
    valLosses: h.val,
    samples: t.task?.outputs.samples ?? [],
    runs: shownRuns().map((r) => {
      const tail = r.history.losses.slice(-10).filter(Number.isFinite);
      return {
        id: r.id,
        label: runName(r),
        color: r.color,
        steps: r.history.lossSteps.length ? r.history.lossSteps[r.history.lossSteps.length - 1] : 0,
        lastLoss: tail.length ? tail.reduce((a, b) => a + b, 0) / tail.length : null,
      };
    }),
    lossLegend: charts.loss.series.map((s) => s.name).filter(Boolean),
    forecastMse: t.task?.outputs.forecastMse ?? null,
    accuracy: t.task?.outputs.accuracy ?? null,
    stepsPerSec: t.stepsPerSec,
    tokensPerSec: t.tokensPerSec,
    lr: t.task?.optimizer?.lr ?? params.lr,
    model: t.task?.summary ?? '',
    builds: t.builds,
    lastError: t.lastError,
    adapter: t.adapterText(),
    timestampQuery: !!t.gpu?.features.timestampQuery,
    kernelTimes: t.kernelTimes,
    snapshotStep: t.snapshot?.step ?? null,
    saved: t.saved,
    loaded: t.loaded,
    generated: t.task?.outputs.generated ?? null,
    forecast: t.task?.outputs.forecast ?? null,
    warnings: paramWarnings(params),
  });
}

/** Warnings next to the hyperparameters outside their sane ranges. */
function showWarnings(): void {
  panel?.showWarnings(paramWarnings(params));
  hook.warnings = paramWarnings(params);
}

banner.onDismiss = () => {
  hook.banner = null;
  publish();
};

/** Exponential moving average, for the smoothed loss curve. */
function ema(values: number[], alpha = 0.1): number[] {
  const out: number[] = [];
  let m = NaN;
  for (const v of values) {
    if (Number.isFinite(v)) m = Number.isFinite(m) ? m + alpha * (v - m) : v;
    out.push(m);
  }
  return out;
}

/** The runs of the current task: the ones the loss chart overlays. */
function shownRuns(): Run[] {
  return trainer.runs.filter((r) => r.task === params.task);
}

function runName(r: Run): string {
  return r.changes.length ? `${r.label} (then ${r.changes.join(', ')})` : r.label;
}

/** Smoothed curves of past runs, cached by run and length. */
const smoothed = new WeakMap<Run, { n: number; ys: number[] }>();
function smoothedLosses(r: Run): number[] {
  const c = smoothed.get(r);
  if (c && c.n === r.history.losses.length) return c.ys;
  const ys = ema(r.history.losses);
  smoothed.set(r, { n: r.history.losses.length, ys });
  return ys;
}

function drawCharts(): void {
  const h = trainer.history;
  const mse = params.task === 'timeSeries';
  const runs = shownRuns();
  const current = trainer.currentRun;
  const past = runs.filter((r) => r !== current && r.history.losses.length > 0);
  const val: Series = {
    name: 'validation',
    color: '#e0702a',
    xs: h.val.map((v) => v[0]),
    ys: h.val.map((v) => v[1]),
    dots: true,
  };
  // One run: raw, smoothed and validation as always (in the run's colour: the first run's is the
  // original blue). Several: each past run's smoothed curve in its colour, named by its model and
  // hyperparameters, under the current run's curves.
  const lossSeries: Series[] = past.length
    ? [
        ...past.map((r) => ({ name: runName(r), color: r.color, xs: r.history.lossSteps, ys: smoothedLosses(r) })),
        { name: '', color: current?.light ?? '#9bbbe0', xs: h.lossSteps, ys: h.losses, width: 1 },
        {
          name: `${current ? runName(current) : 'train'} (now)`,
          color: current?.color ?? '#1f5fa8',
          xs: h.lossSteps,
          ys: ema(h.losses),
          width: 2,
        },
        { ...val, name: 'validation (now)' },
      ]
    : [
        { name: 'train', color: current?.light ?? '#9bbbe0', xs: h.lossSteps, ys: h.losses, width: 1 },
        { name: 'train (smoothed)', color: current?.color ?? '#1f5fa8', xs: h.lossSteps, ys: ema(h.losses) },
        val,
      ];
  const unit = mse
    ? 'loss (MSE, standardised units²)'
    : params.task === 'charLM'
      ? 'loss (nats / character)'
      : 'loss (nats / target token)';
  charts.loss.set(lossSeries, { title: mse ? 'loss (MSE)' : 'loss', yLabel: unit, logY: mse });
  const clip =
    params.clipNorm > 0 && h.lossSteps.length
      ? [
          {
            name: `clip ${params.clipNorm}`,
            color: '#c33',
            xs: [h.lossSteps[0], h.lossSteps[h.lossSteps.length - 1]],
            ys: [params.clipNorm, params.clipNorm],
            dashed: true,
            width: 1,
          },
        ]
      : [];
  charts.grad.set([{ name: '‖g‖', color: '#6a4ca8', xs: h.lossSteps, ys: h.gradNorms, width: 1 }, ...clip]);
  charts.steps.set([{ name: '', color: '#2a9d55', xs: h.rateSteps, ys: h.stepsPerSec }]);
  charts.tokens.set([{ name: '', color: '#b5892a', xs: h.rateSteps, ys: h.tokensPerSec }]);
}

function drawKernels(times: KernelTimes | null): void {
  if (!times) {
    charts.kernels.set(
      [],
      params.task === 'charLM' && params.lmModel === 'transformer'
        ? "not measured for the Transformer (seqgpu's Trainer does not list its recorded step's dispatches)"
        : trainer.gpu && !trainer.gpu.features.timestampQuery
          ? 'this adapter has no timestamp-query feature (Chrome: ' +
            '--enable-webgpu-developer-features gives unquantized ones)'
          : 'measured a few steps after the start, then every 10 previews',
    );
    return;
  }
  const top = times.kinds.slice(0, 9);
  const rest = times.kinds.slice(9).reduce((a, k) => a + k.ms, 0);
  const bars = top.map((k) => ({ label: `${k.kind} ×${k.count}`, value: k.ms }));
  if (rest > 0) bars.push({ label: `${times.kinds.length - 9} more kinds`, value: rest });
  charts.kernels.set(
    bars,
    `${times.dispatches} dispatches, ${times.totalMs.toFixed(2)} ms of GPU time at ` +
      (`step ${trainer.step}` +
        `${times.skipped.length ? `; not timed: ${times.skipped.join(', ')} (it would change the weights)` : ''}`),
  );
}

function showStatus(): void {
  const t = trainer;
  const h = t.history;
  const last = h.losses.length ? h.losses[h.losses.length - 1] : NaN;
  const val = h.val.length ? h.val[h.val.length - 1][1] : NaN;
  const lr = t.task?.optimizer?.lr ?? params.lr;
  const parts = [
    `<b class="state ${t.state}">${t.state}</b>`,
    `step ${t.step}`,
    `${t.stepsPerSec.toFixed(1)} steps/s`,
    `${Math.round(t.tokensPerSec)} tokens/s`,
    `loss ${Number.isFinite(last) ? last.toFixed(4) : '—'}` +
      `${Number.isFinite(val) ? ` (validation ${val.toFixed(4)})` : ''}`,
    `lr ${lr.toExponential(2)}`,
  ];
  const o = t.task?.outputs;
  if (o?.forecastMse != null) parts.push(`forecast MSE ${o.forecastMse.toFixed(4)}`);
  if (o?.accuracy != null) parts.push(`held-out exact match ${(100 * o.accuracy).toFixed(0)}%`);
  statusLine.innerHTML = parts.join(' · ');
}

function onState(state: DemoState, detail?: StateDetail): void {
  hook.banner = null;
  if (state === 'no-webgpu') {
    showNoWebGpu(banner, detail?.error ?? 'navigator.gpu is missing');
    hook.banner = 'WebGPU is not available in this browser';
  } else if (state === 'lost') {
    showDeviceLost(banner, detail?.reason ?? '', trainer.snapshot?.step ?? null, () => void trainer.restart());
    hook.banner = 'The GPU device was lost';
  } else if (state === 'nan') {
    const step = detail?.nanStep ?? trainer.step;
    showNaN(
      banner,
      step,
      trainer.task?.optimizer?.lr ?? params.lr,
      params.clipNorm,
      trainer.snapshot?.step ?? null,
      () => void trainer.rollBack().then(() => banner.hide()),
      () => void trainer.reset().then(() => banner.hide()),
    );
    hook.banner = `The loss became NaN at step ${step}: training stopped`;
  } else if (state === 'error' || detail?.error) {
    const title = detail?.title ?? (state === 'error' ? 'Something went wrong' : 'That did not work');
    showError(
      banner,
      title,
      detail?.error ?? trainer.lastError ?? '',
      trainer.task ? [] : [{ label: 'Reset', run: () => void trainer.reset().then(() => banner.hide()) }],
    );
    hook.banner = title;
  } else if (state === 'running' || state === 'building') {
    banner.hide();
  }
  const ok = trainer.task !== null;
  panel?.setEnabled({
    start: ok && (state === 'ready' || state === 'paused' || state === 'error'),
    pause: state === 'running',
    reset: ok || state === 'error',
    save: ok && state !== 'lost',
    load: state !== 'no-webgpu' && state !== 'lost',
  });
  document.body.dataset.state = state;
  showStatus();
  publish();
}

const trainer = new Trainer(params, $('task-view'), {
  state: onState,
  progress: () => {
    drawCharts();
    showStatus();
    publish();
  },
  rebuilt: (summary) => {
    modelLine.textContent = `${summary} · adapter: ${trainer.adapterText()}`;
    drawCharts();
  },
  profiled: (times) => drawKernels(times),
  log: addLog,
  paramsChanged: () => {
    panel?.refresh();
    showWarnings();
  },
  warmup: (w) => {
    warmupLine.hidden = w.finished;
    warmupBar.max = Math.max(1, w.total);
    warmupBar.value = w.done;
    warmupText.textContent =
      w.total === 0
        ? 'building the model and listing its GPU pipelines…'
        : `compiling GPU pipelines before the first step: ${w.done} / ${w.total}` +
          `${w.label ? ` (${w.label.split('|')[0]})` : ''} · ${w.compiled} so far`;
    hook.warmup = { ...w };
  },
});

let panel: Panel | null = null;

async function main(): Promise<void> {
  onState('booting');
  const ok = await trainer.boot();
  if (ok && trainer.sizeClass !== 'software') Object.assign(params, defaultParams(trainer.sizeClass, params.task));
  panel = new Panel(
    $('panel'),
    params,
    (key, from) => {
      showWarnings();
      void trainer.change(key, from).then(() => {
        showWarnings();
        publish();
      });
    },
    {
      start: () => trainer.start(),
      pause: () => void trainer.pause(),
      reset: () => void trainer.reset().then(() => banner.hide()),
      save: async () => {
        const r = await trainer.saveWeights();
        if (r) {
          download(r.bytes, weightFileName(params, r.step));
          addLog(`saved ${r.bytes.byteLength} bytes (safetensors, PyTorch names) at step ${r.step}`);
          publish();
        }
      },
      load: () => fileInput.click(),
      clearRuns: () => {
        trainer.clearRuns();
        addLog('cleared the past runs from the loss chart');
      },
    },
  );
  showWarnings();
  watchFileInput(
    fileInput,
    (name, bytes) =>
      void trainer.loadWeights(name, bytes).then(() => {
        panel?.refresh();
        showWarnings();
      }),
  );
  if (!ok) {
    onState(trainer.state, { error: trainer.lastError ?? undefined });
    return;
  }
  drawKernels(null);
  await trainer.build();
}

main().catch((e: unknown) => {
  hook.lastError = String((e as Error)?.stack ?? e);
  showError(banner, 'The page failed to start', String((e as Error)?.message ?? e));
  hook.state = 'error';
});
