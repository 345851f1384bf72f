// Character-level language model on a bundled public-domain text: [Embedding] → RNN/LSTM/GRU →
// Linear over the characters, next-character cross-entropy, with generated samples (temperature,
// top-k) shown while it trains. Training windows are random, or with `stateful` consecutive per
// stream with the state carried between batches (truncated BPTT over the BPTT window seqLen).
import { CharVocab, SequenceModel, randomWindows, rng, type NamedTensor, type StateDict } from '../../src/index.js';
import type { TextName } from '../params.js';
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
  readonly outputs: TaskOutputs = { samples: [], forecastMse: null, accuracy: null };
  private readonly model: SequenceModel;
  private readonly vocab: CharVocab;
  private readonly train: Int32Array;
  private readonly held: Int32Array;
  private rand: () => number;
  /** Stateful mode: the next window start of each of the batch's streams. */
  private cursors: number[] = [];
  private lastTokens = 0;
  private readonly list: HTMLElement;

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
    this.model = new SequenceModel(ctx.gpu, {
      cell: p.cell,
      vocabSize: V,
      embeddingDim: p.embeddingDim,
      hiddenSize: p.hiddenSize,
      numLayers: p.numLayers,
      dropout: p.numLayers > 1 ? p.dropout : 0,
      outputSize: V,
      mode: 'manyToMany',
      loss: 'crossEntropy',
      seed: p.seed,
    });
    this.summary =
      `char LM: ${p.cell.toUpperCase()} ${p.numLayers}×${p.hiddenSize}, ` +
      `embedding ${p.embeddingDim}, ${countParameters(this.model.store)} ` +
      `parameters; ${source.label}, ${text.length} characters, vocabulary ${V}`;
    ctx.view.replaceChildren();
    el('h3', '', ctx.view, `Samples — prompt, then generated characters (${source.label})`);
    this.list = el('div', 'samples', ctx.view);
    el('div', 'muted', this.list, 'Samples appear here while the model trains.');
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
          carryState: p.stateful,
        }),
    );
    this.model.resetState();
    this.cursors = [];
  }

  refreshData(): void {
    this.cursors = [];
  }

  private window(): { inputs: Int32Array; targets: Int32Array; seqLen: number; batch: number } {
    const { seqLen: T, batch: B, stateful } = this.ctx.params;
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
    const loss = this.model.trainStep(batch, { readLoss: true });
    const norm = this.model.optimizerState!.gradNorm();
    return Promise.all([loss, norm]).then(([l, g]) => ({ loss: l!, gradNorm: g }));
  }

  async validate(): Promise<number> {
    const { seqLen: T, batch: B } = this.ctx.params;
    // The same windows every time (fixed seed), at the training shape so the plan is shared.
    const len = Math.min(T, this.held.length - 1);
    return this.model.evaluate(randomWindows(this.held, len, B, rng(12345)));
  }

  async preview(): Promise<void> {
    const p = this.ctx.params;
    const known = [...(p.prompt || TEXTS[p.text].prompt)].filter((ch) => this.vocab.chars.includes(ch)).join('');
    const prompt = known || this.vocab.decode([this.train[0]]);
    const ids = await this.model.generate(this.vocab.encode(prompt), p.sampleLength, {
      temperature: p.temperature,
      topK: p.topK,
      seed: this.ctx.globalStep(),
    });
    const sample = prompt + this.vocab.decode(ids);
    this.outputs.samples.push(sample);
    const row = document.createElement('div');
    row.className = 'sample';
    const meta = el('span', 'meta', row, `step ${this.ctx.globalStep()} · T=${p.temperature} top-k ${p.topK || 'all'}`);
    meta.title = 'training step, sampling temperature and top-k';
    const text = el('span', 'text', row);
    el('b', '', text, prompt);
    text.append(this.vocab.decode(ids));
    if (this.list.firstElementChild?.classList.contains('muted')) this.list.replaceChildren();
    this.list.prepend(row);
    while (this.list.children.length > SHOWN_SAMPLES) this.list.lastElementChild!.remove();
  }

  profileDispatches() {
    const { seqLen: T, batch: B } = this.ctx.params;
    const parts = this.model.stepDispatches(T, B);
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
    const n = this.model.store.slot('head.bias').size;
    this.model.store.write('head.bias', new Float32Array(n).fill(NaN));
  }

  destroy(): void {
    this.model.destroy();
  }
}
