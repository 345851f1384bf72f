// Time-series forecasting: a recurrent model reads a window of values and predicts the next value
// at every step (many-to-many, MSE). Series: a clean sine, a noisy sine (random frequency and
// phase per window) or the monthly airline passengers 1949–1960 (log, standardised; trained on
// 1949–1958, forecast from 1959). The preview runs the model autoregressively `horizon` steps
// past a held-out history and plots history, truth (where there is one: the airline series ends
// in Dec 1960, 24 months after its history) and forecast; the MSE is over the steps with a truth.
import { SequenceModel, rng, type NamedTensor, type StateDict, type WarmupProgress } from '../../src/index.js';
import { LineChart } from '../charts.js';
import { addChartTools } from '../chartTools.js';
import type { SeriesName } from '../params.js';
import {
  countParameters,
  el,
  isUpdate,
  liveSchedule,
  optimizerOptions,
  reconfigure,
  type StepResult,
  type Task,
  type TaskContext,
  type TaskOutputs,
} from './task.js';
import airlineCsv from '../data/airline.csv?raw';

/** Monthly totals (thousands), Jan 1949 – Dec 1960: Box & Jenkins series G. */
export const AIRLINE: number[] = airlineCsv
  .trim()
  .split('\n')
  .slice(1)
  .map((line) => Number(line.split(',')[1]));
const AIRLINE_TRAIN = 120;

export const SERIES_LABELS: Record<SeriesName, string> = {
  sine: 'sine',
  noisySine: 'noisy sine',
  airline: 'airline passengers 1949–1960',
};

const NOISE = 0.15;

export class TimeSeriesTask implements Task {
  readonly name = 'timeSeries' as const;
  readonly summary: string;
  readonly outputs: TaskOutputs = { samples: [], forecastMse: null, accuracy: null, forecast: null };
  private readonly model: SequenceModel;
  private rand: () => number;
  private lastTokens = 0;
  private readonly chart: LineChart;
  private readonly caption: HTMLElement;
  /** Airline: log-passengers standardised with the training years' mean and deviation. */
  private readonly airline: { z: number[]; mean: number; std: number };

  constructor(private readonly ctx: TaskContext) {
    const p = ctx.params;
    this.rand = rng(p.seed);
    this.model = new SequenceModel(ctx.gpu, {
      cell: p.cell,
      inputSize: 1,
      hiddenSize: p.hiddenSize,
      numLayers: p.numLayers,
      dropout: p.numLayers > 1 ? p.dropout : 0,
      outputSize: 1,
      mode: 'manyToMany',
      loss: 'mse',
      seed: p.seed,
    });
    const logs = AIRLINE.map(Math.log);
    const train = logs.slice(0, AIRLINE_TRAIN);
    const mean = train.reduce((a, b) => a + b, 0) / train.length;
    const std = Math.sqrt(train.reduce((a, b) => a + (b - mean) ** 2, 0) / train.length);
    this.airline = { z: logs.map((v) => (v - mean) / std), mean, std };
    this.summary =
      `time series: ${p.cell.toUpperCase()} ${p.numLayers}×${p.hiddenSize} → ` +
      `1, ${countParameters(this.model.store)} parameters; next-value MSE`;
    ctx.view.replaceChildren();
    el('h3', '', ctx.view, 'Forecast — history, truth and the model running on its own predictions');
    const canvas = el('canvas', 'wide', ctx.view);
    this.chart = new LineChart(canvas, { title: '', empty: 'the first forecast appears after a few steps' });
    addChartTools(this.chart, 'forecast', 'forecast');
    this.caption = el('div', 'muted', ctx.view, '');
  }

  get optimizer() {
    return this.model.optimizerState;
  }

  tokensPerStep(): number {
    return this.lastTokens;
  }

  async configureTraining(): Promise<void> {
    const p = this.ctx.params;
    await reconfigure(
      () => this.model.optimizerState,
      () =>
        this.model.configureTraining({
          optimizer: optimizerOptions(p),
          schedule: liveSchedule(p, this.ctx.globalStep),
        }),
    );
  }

  refreshData(): void {
    this.outputs.forecastMse = null;
  }

  /** The training step (seqLen, batch); the airline series also its validation window (batch 1). */
  async warmup(onProgress: (progress: WarmupProgress) => void): Promise<number> {
    const T = this.seqLen();
    let n = (await this.model.warmup({ seqLen: T, batch: this.ctx.params.batch, onProgress })).pipelines;
    if (this.ctx.params.series === 'airline')
      n += (await this.model.warmup({ seqLen: T, batch: 1, onProgress })).pipelines;
    return n;
  }

  /** The window length: the airline series has 120 training months, so a window is at most 96. */
  private seqLen(): number {
    return this.ctx.params.series === 'airline' ? Math.min(this.ctx.params.seqLen, 96) : this.ctx.params.seqLen;
  }

  /** `n` consecutive values of a synthetic series with random frequency and phase. */
  private synthetic(n: number, rand: () => number, noisy: boolean): number[] {
    const f = 0.15 + 0.3 * rand();
    const phase = 2 * Math.PI * rand();
    const normal = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
    return Array.from({ length: n }, (_, t) => Math.sin(f * t + phase) + (noisy ? NOISE * normal() : 0));
  }

  /** B windows of T+1 values as time-major inputs (first T) and targets (last T). */
  private batch(T: number, B: number, rand: () => number, airlineEnd = AIRLINE_TRAIN) {
    const inputs = new Float32Array(T * B);
    const targets = new Float32Array(T * B);
    const series = this.ctx.params.series;
    for (let b = 0; b < B; b++) {
      let w: number[];
      if (series === 'airline') {
        const start = Math.floor(rand() * (airlineEnd - T));
        w = this.airline.z.slice(start, start + T + 1);
      } else w = this.synthetic(T + 1, rand, series === 'noisySine');
      for (let t = 0; t < T; t++) {
        inputs[t * B + b] = w[t];
        targets[t * B + b] = w[t + 1];
      }
    }
    return { inputs, targets, seqLen: T, batch: B };
  }

  step(): Promise<StepResult> {
    const batch = this.batch(this.seqLen(), this.ctx.params.batch, this.rand);
    this.lastTokens = batch.seqLen * batch.batch;
    const loss = this.model.trainStep(batch, { readLoss: true });
    const norm = this.model.optimizerState!.gradNorm();
    return Promise.all([loss, norm]).then(([l, g]) => ({ loss: l!, gradNorm: g }));
  }

  async validate(): Promise<number> {
    const T = this.seqLen();
    if (this.ctx.params.series === 'airline') {
      // The window ending in Dec 1960: its last 24 targets are the held-out years.
      const w = this.airline.z.slice(AIRLINE.length - T - 1);
      return this.model.evaluate({ inputs: w.slice(0, T), targets: w.slice(1), seqLen: T, batch: 1 });
    }
    return this.model.evaluate(this.batch(T, this.ctx.params.batch, rng(777)));
  }

  /** Feeds `history`, then `horizon` times appends the model's next-value prediction (one predict per step). */
  private async forecast(history: number[], horizon: number): Promise<number[]> {
    const T = this.seqLen();
    const window = history.slice(-T);
    const out: number[] = [];
    for (let k = 0; k < horizon; k++) {
      const pred = await this.model.predict(Float32Array.from(window), window.length, 1);
      const next = pred[window.length - 1];
      out.push(next);
      window.push(next);
      if (window.length > T) window.shift();
    }
    return out;
  }

  async preview(): Promise<void> {
    const p = this.ctx.params;
    const T = this.seqLen();
    let history: number[], truth: number[], forecast: number[], xs0: number, unit: (z: number) => number;
    const horizon = Math.max(1, Math.round(p.horizon));
    if (p.series === 'airline') {
      const z = this.airline.z;
      history = z.slice(0, AIRLINE_TRAIN);
      truth = z.slice(AIRLINE_TRAIN, AIRLINE_TRAIN + horizon);
      forecast = await this.forecast(history, horizon);
      xs0 = 1949;
      const { mean, std } = this.airline;
      unit = (v) => Math.exp(v * std + mean);
    } else {
      // A held-out series: the same one every preview (fixed seed), so the forecasts compare.
      const series = this.synthetic(T + horizon, rng(4242), p.series === 'noisySine');
      history = series.slice(0, T);
      truth = series.slice(T);
      forecast = await this.forecast(history, horizon);
      xs0 = 0;
      unit = (v) => v;
    }
    const mse = truth.reduce((a, v, i) => a + (v - forecast[i]) ** 2, 0) / truth.length;
    this.outputs.forecastMse = mse;
    this.outputs.forecast = { horizon, values: forecast.map(unit), truthSteps: truth.length };
    const months = p.series === 'airline';
    const x = (i: number) => (months ? xs0 + i / 12 : i);
    const n = history.length;
    this.chart.set(
      [
        { name: 'history', color: '#777', xs: history.map((_, i) => x(i)), ys: history.map(unit) },
        {
          name: 'truth',
          color: '#2a9d55',
          xs: [n - 1, ...truth.map((_, i) => n + i)].map(x),
          ys: [history[n - 1], ...truth].map(unit),
        },
        {
          name: 'forecast',
          color: '#e0702a',
          xs: [n - 1, ...forecast.map((_, i) => n + i)].map(x),
          ys: [history[n - 1], ...forecast].map(unit),
          width: 2,
        },
      ],
      {
        title: `${SERIES_LABELS[p.series]} — step ${this.ctx.globalStep()}`,
        markers: [x(n - 1)],
        xLabel: months ? 'year' : 'time step',
        yLabel: months ? 'passengers (thousands / month)' : 'value (series units)',
      },
    );
    const beyond = horizon - truth.length;
    this.caption.textContent =
      `Forecast of ${horizon} ${months ? 'months' : 'steps'} (the horizon) from a window of ${T} (each predicted ` +
      `value fed back as the next input): MSE ${mse.toFixed(4)} over the ${truth.length} with a truth, ` +
      `in ${months ? 'standardised log units' : 'series units'}` +
      `${beyond > 0 ? `; the last ${beyond} go past the data (Dec 1960)` : ''}.`;
  }

  profileDispatches() {
    const parts = this.model.stepDispatches(this.seqLen(), this.ctx.params.batch);
    const update = parts.update.filter((d) => !isUpdate(d));
    return {
      dispatches: [...parts.forward, ...parts.backward, ...update],
      skipped: parts.update.filter(isUpdate).map((d) => d.label),
    };
  }

  stateDict(): Promise<Record<string, NamedTensor>> {
    return this.model.stateDict();
  }

  loadStateDict(dict: StateDict): void {
    this.model.loadStateDict(dict);
  }

  poison(): void {
    this.model.store.write('head.bias', new Float32Array(1).fill(NaN));
  }

  destroy(): void {
    this.model.destroy();
  }
}
