// Character-level language model on a bundled public-domain text: [Embedding] → RNN/LSTM/GRU →
// Linear over the characters, or a decoder-only Transformer (charModels.ts); next-character
// cross-entropy, with generated samples (temperature, top-k) shown while it trains, and for the
// Transformer the attention weights of every head as heat maps. Training windows are random, or
// (recurrent models) with `stateful` consecutive per stream with the state carried between batches
// (truncated BPTT over the BPTT window seqLen).
import {
  CharVocab,
  randomWindows,
  rng,
  type NamedTensor,
  type StateDict,
  type WarmupProgress,
} from '../../src/index.js';
import { AttentionHeads } from '../attentionView.js';
import type { TextName } from '../params.js';
import { RecurrentCharModel, TransformerCharModel, type CharModel, type Windows } from './charModels.js';
import { el, type GeneratedText, type StepResult, type Task, type TaskContext, type TaskOutputs } from './task.js';
import sonnets from '../data/sonnets.txt?raw';
import lusiadas from '../data/lusiadas.txt?raw';
import casmurro from '../data/casmurro.txt?raw';

export const TEXTS: Record<TextName, { label: string; text: string; prompt: string }> = {
  sonnets: { label: 'Shakespeare, Sonnets (EN)', text: sonnets, prompt: 'Shall I ' },
  lusiadas: { label: 'Camões, Os Lusíadas I (PT)', text: lusiadas, prompt: 'As armas ' },
  casmurro: { label: 'Machado de Assis, Dom Casmurro I (PT)', text: casmurro, prompt: 'Uma noite ' },
};

const SHOWN_SAMPLES = 6;

export class CharLMTask implements Task {
  readonly name = 'charLM' as const;
  readonly summary: string;
  readonly outputs: TaskOutputs = { samples: [], forecastMse: null, accuracy: null, generated: null };
  private readonly model: CharModel;
  private readonly vocab: CharVocab;
  private readonly train: Int32Array;
  private readonly held: Int32Array;
  private rand: () => number;
  /** Stateful mode: the next window start of each of the batch's streams. */
  private cursors: number[] = [];
  private lastTokens = 0;
  private readonly list: HTMLElement;
  private readonly heads: AttentionHeads | null = null;

  constructor(private readonly ctx: TaskContext) {
    const p = ctx.params;
    const source = TEXTS[p.text];
    // Windows never cross from the last stanza back to the first: the text is one stream.
    const text = source.text.replace(/\r\n/g, '\n');
    this.vocab = new CharVocab(text);
    const ids = this.vocab.encode(text);
    // The last 10 % (at least 160 characters) is held out for the validation loss.
    const cut = ids.length - Math.max(160, Math.floor(ids.length / 10));
    this.train = ids.subarray(0, cut);
    this.held = ids.subarray(cut);
    this.rand = rng(p.seed);
    const V = this.vocab.size;
    this.model =
      p.lmModel === 'transformer' ? new TransformerCharModel(ctx.gpu, p, V) : new RecurrentCharModel(ctx.gpu, p, V);
    this.summary =
      `char LM: ${this.model.description}, ${this.model.parameters} ` +
      `parameters; ${source.label}, ${text.length} characters, vocabulary ${V}`;
    ctx.view.replaceChildren();
    this.generateForm(ctx.view);
    el('h3', '', ctx.view, `Samples — prompt, then generated characters (${source.label})`);
    this.list = el('div', 'samples', ctx.view);
    el('div', 'muted', this.list, 'Samples appear here while the model trains.');
    if (this.model instanceof TransformerCharModel) {
      const heads = new AttentionHeads(ctx.view, p.nhead, p.numLayers);
      this.heads = heads;
      // Read when the page publishes: always the layer the view shows.
      Object.defineProperty(this.outputs, 'attention', { get: () => heads.output(), enumerable: true });
    }
  }

  get optimizer() {
    return this.model.optimizer;
  }

  /**
   * The Generate form: prompt, length, temperature and top-k (labelled inputs, initialised from the
   * panel's sampling settings), a button, and the text it made.
   */
  private generateForm(view: HTMLElement): void {
    const p = this.ctx.params;
    const form = el('form', 'generate', view);
    form.setAttribute('aria-label', 'generate text with the model');
    // The page checks the values itself and says what is wrong (the browser's tooltip would not).
    form.noValidate = true;
    el('h3', '', form, 'Generate — text from the model as it is now');
    const row = el('div', 'fields', form);
    const field = (label: string, name: string, attrs: Record<string, string>) => {
      const l = el('label', '', row);
      el('span', '', l, label);
      const input = el('input', '', l);
      input.name = name;
      input.id = `generate-${name}`;
      for (const [k, v] of Object.entries(attrs)) input.setAttribute(k, v);
      return input;
    };
    const prompt = field('prompt', 'prompt', { type: 'text', value: p.prompt || TEXTS[p.text].prompt, size: '16' });
    const length = field('length (characters)', 'length', { type: 'number', min: '1', max: '2000', step: '1' });
    length.value = String(p.sampleLength);
    const temperature = field('temperature', 'temperature', { type: 'number', min: '0', max: '5', step: '0.05' });
    temperature.value = String(p.temperature);
    const topK = field('top-k (0 = all)', 'topK', { type: 'number', min: '0', max: '1000', step: '1' });
    topK.value = String(p.topK);
    const button = el('button', '', row, 'Generate');
    button.type = 'submit';
    button.dataset.action = 'generate';
    const out = el('div', 'generated', form);
    out.setAttribute('aria-live', 'polite');
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const n = Number(length.value);
      const t = Number(temperature.value);
      const k = Number(topK.value);
      const bad =
        !Number.isInteger(n) || n < 1 || n > 2000
          ? `length ${length.value || '(empty)'}: a whole number of characters from 1 to 2000`
          : !Number.isFinite(t) || t < 0 || t > 5
            ? `temperature ${temperature.value || '(empty)'}: a number from 0 (greedy) to 5`
            : !Number.isInteger(k) || k < 0
              ? `top-k ${topK.value || '(empty)'}: a whole number, 0 for all characters`
              : '';
      if (bad) {
        out.className = 'generated invalid';
        out.textContent = `Not generated: ${bad}.`;
        return;
      }
      button.disabled = true;
      out.className = 'generated busy';
      out.textContent = `generating ${n} characters…`;
      void this.ctx
        .run('Generate failed', () => this.generate(prompt.value, n, t, k))
        .then((g) => {
          button.disabled = false;
          out.className = 'generated';
          out.replaceChildren();
          if (!g) return;
          const meta = el(
            'span',
            'meta',
            out,
            `${g.text.length} characters in ${(g.ms / 1000).toFixed(1)} s · T=${g.temperature} ` +
              `top-k ${g.topK || 'all'}${g.dropped ? ` · not in the text, dropped from the prompt: ${g.dropped}` : ''}`,
          );
          meta.dataset.length = String(g.text.length);
          const text = el('span', 'text', out);
          el('b', '', text, g.prompt);
          text.append(g.text);
        });
    });
  }

  /** `length` characters after `prompt` (characters the text never uses are dropped from it). */
  async generate(prompt: string, length: number, temperature: number, topK: number): Promise<GeneratedText> {
    const chars = [...prompt];
    const known = chars.filter((ch) => this.vocab.chars.includes(ch)).join('');
    const dropped = [...new Set(chars.filter((ch) => !this.vocab.chars.includes(ch)))].join('');
    const used = known || this.vocab.decode([this.train[0]]);
    const t0 = performance.now();
    const ids = await this.model.generate(this.vocab.encode(used), length, {
      temperature,
      topK,
      seed: this.ctx.globalStep() + 7,
    });
    const g: GeneratedText = {
      prompt: used,
      text: this.vocab.decode(ids),
      length,
      temperature,
      topK,
      ms: performance.now() - t0,
      dropped,
    };
    this.outputs.generated = g;
    return g;
  }

  /** Training windows: at most the model's context (the Transformer's positions). */
  private get seqLen(): number {
    return Math.max(1, Math.min(Math.round(this.ctx.params.seqLen), this.model.context));
  }

  tokensPerStep(): number {
    return this.lastTokens;
  }

  async configureTraining(): Promise<void> {
    await this.model.configureTraining(this.ctx.globalStep);
    this.cursors = [];
  }

  refreshData(): void {
    this.cursors = [];
  }

  warmup(onProgress: (progress: WarmupProgress) => void): Promise<number> {
    return this.model.warmup(this.seqLen, this.ctx.params.batch, onProgress);
  }

  private window(): Windows {
    const { batch: B } = this.ctx.params;
    const T = this.seqLen;
    const stateful = this.ctx.params.stateful && this.model.recurrent;
    const ids = this.train;
    if (ids.length < T + 1)
      throw new RangeError(
        `char LM: the training text has ${ids.length} characters, fewer than seqLen + 1 = ${T + 1}; lower seqLen`,
      );
    if (!stateful) return randomWindows(ids, T, B, this.rand);
    // B streams spread over the text, each advancing by T per step; at the end they restart
    // (and the carried state is reset).
    if (this.cursors.length !== B || this.cursors.some((c) => c + T + 1 > ids.length)) {
      const span = Math.floor((ids.length - T - 1) / B);
      this.cursors = Array.from({ length: B }, (_, b) => b * span);
      this.model.resetState();
    }
    const inputs = new Int32Array(T * B);
    const targets = new Int32Array(T * B);
    for (let b = 0; b < B; b++) {
      const s = this.cursors[b];
      for (let t = 0; t < T; t++) {
        inputs[t * B + b] = ids[s + t];
        targets[t * B + b] = ids[s + t + 1];
      }
      this.cursors[b] = s + T;
    }
    return { inputs, targets, seqLen: T, batch: B };
  }

  step(): Promise<StepResult> {
    const batch = this.window();
    this.lastTokens = batch.seqLen * batch.batch;
    return this.model.step(batch);
  }

  async validate(): Promise<number> {
    const { batch: B } = this.ctx.params;
    const T = this.seqLen;
    // The same windows every time (fixed seed), at the training shape so the plan is shared.
    const len = Math.min(T, this.held.length - 1);
    return this.model.evaluate(randomWindows(this.held, len, B, rng(12345)));
  }

  async preview(): Promise<void> {
    const p = this.ctx.params;
    const known = [...(p.prompt || TEXTS[p.text].prompt)].filter((ch) => this.vocab.chars.includes(ch)).join('');
    const prompt = known || this.vocab.decode([this.train[0]]);
    const t0 = performance.now();
    const ids = await this.model.generate(this.vocab.encode(prompt), p.sampleLength, {
      temperature: p.temperature,
      topK: p.topK,
      seed: this.ctx.globalStep(),
    });
    const ms = performance.now() - t0;
    const sample = prompt + this.vocab.decode(ids);
    this.outputs.samples.push(sample);
    if (this.heads && this.model instanceof TransformerCharModel) {
      // The heat maps read the sample's last characters (at most the training window, 24 for legibility).
      const chars = [...sample].slice(-Math.min(24, this.seqLen));
      const weights = await this.model.attention(this.vocab.encode(chars.join('')));
      this.heads.set(chars, weights, this.ctx.globalStep());
    }
    const row = document.createElement('div');
    row.className = 'sample';
    const meta = el(
      'span',
      'meta',
      row,
      `step ${this.ctx.globalStep()} · T=${p.temperature} top-k ${p.topK || 'all'} · ` +
        `${ids.length} characters in ${ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(1)} s`}`,
    );
    meta.title =
      'training step, sampling temperature and top-k, time to generate' +
      (this.model.recurrent ? '' : ' (one submit per character with the KV cache; the window slides at seqLen)');
    const text = el('span', 'text', row);
    el('b', '', text, prompt);
    text.append(this.vocab.decode(ids));
    if (this.list.firstElementChild?.classList.contains('muted')) this.list.replaceChildren();
    this.list.prepend(row);
    while (this.list.children.length > SHOWN_SAMPLES) this.list.lastElementChild!.remove();
  }

  profileDispatches() {
    return this.model.profileDispatches(this.seqLen, this.ctx.params.batch);
  }

  stateDict(): Promise<Record<string, NamedTensor>> {
    return this.model.stateDict();
  }

  loadStateDict(dict: StateDict): void {
    this.model.loadStateDict(dict);
  }

  poison(): void {
    this.model.poison();
  }

  destroy(): void {
    this.model.destroy();
  }
}
