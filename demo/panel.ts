// The tweakpane panel: every hyperparameter of the page, bound to the shared Params object, plus
// start / pause / reset and save / load weights. A committed change (slider released, text
// entered) is reported once with the value it replaced; the page decides what it rebuilds.
// Each control's element carries `data-key` (buttons `data-action`) for the end-to-end test.
import { Pane, type ButtonApi, type FolderApi, type InputBindingApi, type TpChangeEvent } from 'tweakpane';
import { applies, type Params } from './params.js';
import type { ParamWarning } from './warnings.js';
import { TEXTS } from './tasks/charLM.js';
import { SERIES_LABELS } from './tasks/timeSeries.js';
import { TOY_LABELS } from './tasks/seq2seq.js';

export interface PanelActions {
  start(): void;
  pause(): void;
  reset(): void;
  save(): void;
  load(): void;
  clearRuns(): void;
}

const invert = <K extends string>(labels: Record<K, string>): Record<string, K> =>
  Object.fromEntries(Object.entries(labels).map(([k, v]) => [v, k])) as Record<string, K>;
const exp = (v: number) => (v === 0 ? '0' : v.toExponential(2));

export class Panel {
  readonly pane: Pane;
  private readonly bindings = new Map<keyof Params, InputBindingApi>();
  private readonly buttons = new Map<string, ButtonApi>();
  private readonly warnings = new Map<keyof Params, HTMLElement>();
  private prev: Params;
  private suppress = false;

  constructor(
    container: HTMLElement,
    private readonly params: Params,
    onChange: (key: keyof Params, from: unknown) => void,
    actions: PanelActions,
  ) {
    this.prev = { ...params };
    this.pane = new Pane({ container, title: 'seqgpu — hyperparameters' });
    const pane = this.pane;

    const controls = pane.addFolder({ title: 'Run' });
    for (const [action, title] of [
      ['start', 'start'],
      ['pause', 'pause'],
      ['reset', 'reset (fresh weights)'],
      ['save', 'save weights (.safetensors)'],
      ['load', 'load weights…'],
      ['clearRuns', 'clear past runs (loss chart)'],
    ] as const) {
      const b = controls.addButton({ title });
      b.element.dataset.action = action;
      b.on('click', () => actions[action]());
      this.buttons.set(action, b);
    }

    const bind = (folder: FolderApi, key: keyof Params, opts: Record<string, unknown> = {}) => {
      const b = folder.addBinding(params, key, opts as never) as InputBindingApi;
      b.element.dataset.key = key;
      // Screen readers: tweakpane's label is a div, so each input / select is named by aria-label.
      const name = typeof opts.label === 'string' ? opts.label : key;
      for (const input of b.element.querySelectorAll('input, select')) input.setAttribute('aria-label', name);
      b.on('change', (ev: TpChangeEvent<unknown>) => {
        if (this.suppress || !ev.last) return;
        const from = this.prev[key];
        if (from === params[key]) return;
        (this.prev as unknown as Record<string, unknown>)[key] = params[key];
        this.updateVisibility();
        onChange(key, from);
      });
      this.bindings.set(key, b);
    };

    const task = pane.addFolder({ title: 'Task and data' });
    bind(task, 'task', {
      options: {
        'character language model': 'charLM',
        'time-series forecasting': 'timeSeries',
        'seq2seq with attention': 'seq2seq',
      },
    });
    bind(task, 'text', {
      options: invert(
        Object.fromEntries(Object.entries(TEXTS).map(([k, v]) => [k, v.label])) as Record<string, string>,
      ),
    });
    bind(task, 'series', { options: invert(SERIES_LABELS) });
    bind(task, 'toy', { options: invert(TOY_LABELS) });

    const model = pane.addFolder({ title: 'Model (a change rebuilds it)' });
    bind(model, 'lmModel', {
      options: { RNN: 'rnn', LSTM: 'lstm', GRU: 'gru', Transformer: 'transformer' },
      label: 'model',
    });
    bind(model, 'cell', { options: { RNN: 'rnn', LSTM: 'lstm', GRU: 'gru' } });
    bind(model, 'hiddenSize', { min: 1, max: 512, step: 1 });
    bind(model, 'numLayers', { min: 1, max: 4, step: 1 });
    bind(model, 'bidirectional', { label: 'bidirectional encoder' });
    bind(model, 'embeddingDim', { min: 1, max: 128, step: 1 });
    bind(model, 'dModel', { min: 1, max: 512, step: 1, label: 'dModel' });
    bind(model, 'nhead', { min: 1, max: 16, step: 1, label: 'heads' });
    bind(model, 'dimFeedforward', { min: 1, max: 2048, step: 1, label: 'feed-forward' });
    bind(model, 'dropout', { min: 0, max: 0.9, step: 0.05, label: 'dropout (between layers)' });
    bind(model, 'attention', {
      options: { none: 'none', 'dot (Luong)': 'dot', 'general (Luong)': 'general', 'additive (Bahdanau)': 'additive' },
    });
    bind(model, 'seed', { min: 0, step: 1 });

    const train = pane.addFolder({ title: 'Training (takes effect at once)' });
    bind(train, 'seqLen', { min: 1, max: 256, step: 1, label: 'seqLen / BPTT' });
    bind(train, 'batch', { min: 1, max: 256, step: 1 });
    bind(train, 'stateful', { label: 'stateful (truncated BPTT)' });
    bind(train, 'teacherForcing', { min: 0, max: 1, step: 0.05, label: 'teacher forcing' });
    bind(train, 'optimizer', { options: { SGD: 'sgd', 'SGD + momentum': 'momentum', Adam: 'adam', AdamW: 'adamw' } });
    bind(train, 'momentum', { min: 0, max: 0.999, step: 0.01 });
    bind(train, 'lr', { min: 0, format: exp, label: 'learning rate' });
    bind(train, 'schedule', {
      options: {
        constant: 'constant',
        'step (×γ every n)': 'step',
        'exponential (×γ per step)': 'exponential',
        cosine: 'cosine',
      },
      label: 'lr schedule',
    });
    bind(train, 'stepSize', { min: 1, step: 1, label: 'step size n' });
    bind(train, 'gamma', { min: 0, max: 1, step: 0.001, label: 'γ' });
    bind(train, 'tMax', { min: 1, step: 1, label: 'cosine T_max' });
    bind(train, 'clipNorm', { min: 0, step: 0.1, label: 'clip norm (0 off)' });
    bind(train, 'weightDecay', { min: 0, format: exp, label: 'weight decay' });

    const out = pane.addFolder({ title: 'Output' });
    bind(out, 'temperature', { min: 0, max: 2, step: 0.05 });
    bind(out, 'topK', { min: 0, max: 100, step: 1, label: 'top-k (0 all)' });
    bind(out, 'sampleLength', { min: 1, max: 500, step: 1, label: 'sample length' });
    bind(out, 'prompt');
    bind(out, 'horizon', { min: 1, max: 200, step: 1, label: 'forecast horizon' });
    bind(out, 'previewEvery', { min: 1, max: 1000, step: 1, label: 'preview every (steps)' });
    this.updateVisibility();
  }

  /**
   * Shows each warning under its control (and removes the ones that no longer hold); the control's
   * inputs point at it with aria-describedby.
   */
  showWarnings(list: ParamWarning[]): void {
    const now = new Map(list.map((w) => [w.key, w.message]));
    for (const [key, div] of this.warnings) {
      if (now.has(key)) continue;
      div.remove();
      this.warnings.delete(key);
      for (const i of this.bindings.get(key)?.element.querySelectorAll('input, select') ?? [])
        i.removeAttribute('aria-describedby');
    }
    for (const [key, message] of now) {
      const b = this.bindings.get(key);
      if (!b) continue;
      let div = this.warnings.get(key);
      if (!div) {
        div = document.createElement('div');
        div.className = 'param-warning';
        div.id = `warning-${key}`;
        div.dataset.warning = key;
        div.setAttribute('role', 'status');
        b.element.after(div);
        this.warnings.set(key, div);
        for (const i of b.element.querySelectorAll('input, select')) i.setAttribute('aria-describedby', div.id);
      }
      div.textContent = `⚠ ${message}`;
      div.hidden = b.hidden;
    }
  }

  /** Shows the controls that apply to the current task and choices. */
  private updateVisibility(): void {
    const p = this.params;
    for (const [key, b] of this.bindings) {
      let show = applies(key, p.task, p.lmModel);
      if (key === 'momentum') show = p.optimizer === 'momentum';
      if (key === 'stepSize') show = p.schedule === 'step';
      if (key === 'gamma') show = p.schedule === 'step' || p.schedule === 'exponential';
      if (key === 'tMax') show = p.schedule === 'cosine';
      b.hidden = !show;
      const w = this.warnings.get(key);
      if (w) w.hidden = !show;
    }
  }

  /** Re-reads every value after the page changed some (a task preset, a loaded file). */
  refresh(): void {
    this.suppress = true;
    try {
      this.pane.refresh();
    } finally {
      this.suppress = false;
    }
    this.prev = { ...this.params };
    this.updateVisibility();
  }

  /** Enables the buttons that make sense in the page's state. */
  setEnabled(enabled: Partial<Record<keyof PanelActions, boolean>>): void {
    for (const [action, on] of Object.entries(enabled)) {
      const b = this.buttons.get(action);
      if (b) b.disabled = !on;
    }
  }
}
