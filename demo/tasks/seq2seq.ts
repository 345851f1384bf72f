// Sequence to sequence with attention on a toy task: reverse a digit string, or add two numbers
// ("12+99" → "111", written with zero-padded operands and the digits least-significant first: see
// addition.ts). Encoder-decoder (RNN/LSTM/GRU, optional bidirectional encoder) with Luong
// (dot, general) or Bahdanau (additive) attention, teacher forcing at the panel's ratio. The
// preview decodes held-out pairs greedily and draws the attention weights of one as a heat map.
import {
  Seq2Seq,
  reversePair,
  rng,
  toyText,
  TOY_BOS,
  TOY_EOS,
  TOY_PAD,
  TOY_VOCAB,
  type NamedTensor,
  type Seq2SeqPair,
  type StateDict,
  type WarmupProgress,
} from '../../src/index.js';
import { HeatMap } from '../charts.js';
import { additionProblem, curriculumDigits, decodeNumber, decodeOperands, encodeAddition } from './addition.js';
import type { ToyName } from '../params.js';
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

export const TOY_LABELS: Record<ToyName, string> = { reverse: 'reverse a digit string', addition: 'add two numbers' };

const HELD_OUT = 64;
const SHOWN = 6;
/** Addition: training steps per operand digit added by the curriculum (0: all digits from the start). */
export const ADDITION_CURRICULUM = 0;

/** Addition: digits per operand for a seqLen (⌊seqLen / 2⌋, 1 … 6). */
export const additionDigits = (seqLen: number) => Math.max(1, Math.min(6, Math.floor(seqLen / 2)));

export class Seq2SeqTask implements Task {
  readonly name = 'seq2seq' as const;
  readonly summary: string;
  readonly outputs: TaskOutputs = { samples: [], forecastMse: null, accuracy: null };
  private readonly model: Seq2Seq;
  private rand: () => number;
  private held: Seq2SeqPair[] = [];
  /** The toy and digits the held-out pairs were drawn for. */
  private heldFor = '';
  private lastTokens = 0;
  /** Source and target lengths of the last training batch (its plan is the one profiled). */
  private lastShape = { src: 1, tgt: 1, batch: 1 };
  private readonly heat: HeatMap;
  private readonly examples: HTMLElement;

  constructor(private readonly ctx: TaskContext) {
    const p = ctx.params;
    this.rand = rng(p.seed);
    this.model = new Seq2Seq(ctx.gpu, {
      cell: p.cell,
      srcVocab: TOY_VOCAB,
      tgtVocab: TOY_VOCAB,
      embeddingDim: p.embeddingDim,
      hiddenSize: p.hiddenSize,
      numLayers: p.numLayers,
      bidirectional: p.bidirectional,
      attention: p.attention,
      bosToken: TOY_BOS,
      eosToken: TOY_EOS,
      padToken: TOY_PAD,
      seed: p.seed,
    });
    this.summary =
      `seq2seq: ${p.bidirectional ? 'bidirectional ' : ''}${p.cell.toUpperCase()} ` +
      `encoder + decoder ${p.numLayers}×${p.hiddenSize}, ` +
      `attention ${p.attention}, ${countParameters(this.model.store)} parameters`;
    ctx.view.replaceChildren();
    el(
      'h3',
      '',
      ctx.view,
      'Attention — which source token each output step reads (greedy decoding of a held-out pair)',
    );
    const row = el('div', 'row', ctx.view);
    this.heat = new HeatMap(
      el('canvas', 'heat', row),
      '',
      p.attention === 'none'
        ? "attention 'none': the decoder reads only its own state"
        : 'the heat map appears after a few steps',
    );
    this.examples = el('div', 'examples', row);
    this.refreshData();
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
          teacherForcingRatio: () => p.teacherForcing,
          seed: p.seed + 99,
        }),
    );
  }

  /**
   * A pair of the current toy; seqLen bounds the source length (reverse) or the number of digits (addition:
   * ⌊seqLen/2⌋). `step`: a training step (the addition curriculum may draw fewer digits then).
   */
  private pair(rand: () => number, step?: number): Seq2SeqPair {
    const { toy, seqLen } = this.ctx.params;
    if (toy === 'reverse') return reversePair(rand, Math.min(3, seqLen), Math.max(1, seqLen));
    const d = additionDigits(seqLen);
    const draw = step === undefined ? d : curriculumDigits(step, d, ADDITION_CURRICULUM);
    return encodeAddition(additionProblem(rand, draw), d);
  }

  private heldKey(): string {
    const { toy, seqLen } = this.ctx.params;
    return toy === 'reverse' ? `reverse ${seqLen}` : `addition ${additionDigits(seqLen)}`;
  }

  refreshData(): void {
    const r = rng(31337);
    this.held = Array.from({ length: HELD_OUT }, () => this.pair(r));
    this.heldFor = this.heldKey();
    this.outputs.accuracy = null;
  }

  /** New held-out pairs when seqLen (read live) changed what the toy draws. */
  private checkHeld(): void {
    if (this.heldFor !== this.heldKey()) this.refreshData();
  }

  /**
   * A training batch's plan for the longest pairs the toy makes (drawn with a separate generator:
   * training data unchanged), and greedy decoding of the held-out pairs (the preview).
   */
  async warmup(onProgress: (progress: WarmupProgress) => void): Promise<number> {
    const B = this.ctx.params.batch;
    const r = rng(4242);
    const pairs = Array.from({ length: B }, () => this.pair(r));
    const srcLen = Math.max(...pairs.map((q) => q.src.length));
    const tgtLen = Math.max(...pairs.map((q) => q.tgt.length));
    const train = await this.model.warmup({ srcLen, tgtLen, batch: B, onProgress });
    const held = {
      srcLen: Math.max(...this.held.map((q) => q.src.length)),
      tgtLen: Math.max(...this.held.map((q) => q.tgt.length)) + 2,
      batch: this.held.length,
    };
    const greedy = await this.model.warmup({ mode: 'greedy', ...held, onProgress });
    return train.pipelines + greedy.pipelines;
  }

  step(): Promise<StepResult> {
    const B = this.ctx.params.batch;
    const step = this.ctx.globalStep();
    const pairs = Array.from({ length: B }, () => this.pair(this.rand, step));
    const src = pairs.map((q) => q.src);
    const tgt = pairs.map((q) => q.tgt);
    this.lastTokens = tgt.reduce((a, t) => a + t.length + 1, 0);
    this.lastShape = {
      src: Math.max(...src.map((s) => s.length)),
      tgt: Math.max(...tgt.map((t) => t.length)) + 1,
      batch: B,
    };
    const loss = this.model.trainStep({ src, tgt }, { readLoss: true });
    const norm = this.model.optimizerState!.gradNorm();
    return Promise.all([loss, norm]).then(([l, g]) => ({ loss: l!, gradNorm: g }));
  }

  async validate(): Promise<number> {
    this.checkHeld();
    return this.model.evaluate({ src: this.held.map((q) => q.src), tgt: this.held.map((q) => q.tgt) });
  }

  async preview(): Promise<void> {
    this.checkHeld();
    const maxLen = Math.max(...this.held.map((q) => q.tgt.length)) + 2;
    const { tokens, attention } = await this.model.greedyDecode(
      this.held.map((q) => q.src),
      { maxLen },
    );
    const right = tokens.map((t, i) => t.join() === this.held[i].tgt.join());
    this.outputs.accuracy = right.filter(Boolean).length / right.length;
    const addition = this.ctx.params.toy === 'addition';
    const sep = addition ? '' : ' ';
    this.examples.replaceChildren();
    el(
      'div',
      'acc',
      this.examples,
      `step ${this.ctx.globalStep()}: ${(100 * this.outputs.accuracy).toFixed(0)}% ` +
        `of ${HELD_OUT} held-out pairs exactly right`,
    );
    for (let i = 0; i < SHOWN; i++) {
      const line = el('div', right[i] ? 'ok' : 'bad', this.examples);
      if (addition) {
        // In ordinary notation: the model reads and writes the digits least-significant first.
        const { a, b } = decodeOperands(this.held[i].src, additionDigits(this.ctx.params.seqLen));
        const got = decodeNumber(tokens[i]);
        line.textContent =
          `${a}+${b} → ${Number.isNaN(got) ? toyText(tokens[i], sep) || '∅' : got} ` +
          `${right[i] ? '✓' : `✗ (${a + b})`}`;
      } else {
        line.textContent =
          `${toyText(this.held[i].src, sep)} ` +
          `→ ${toyText(tokens[i], sep) || '∅'} ${right[i] ? '✓' : `✗ (${toyText(this.held[i].tgt, sep)})`}`;
      }
    }
    const a = attention?.[0];
    if (a) {
      const out = [...tokens[0].map((t) => toyText([t])), '</s>'].slice(0, a.length);
      this.heat.set(
        a,
        out,
        this.held[0].src.map((t) => toyText([t])),
        `α of "${toyText(this.held[0].src, sep)}" (rows: output tokens, columns: source` +
          `${addition ? '; digits least-significant first' : ''})`,
      );
    }
  }

  profileDispatches() {
    const { src, tgt, batch } = this.lastShape;
    const plan = this.model.plan('train', src, tgt, batch);
    const update = [
      ...(this.model.optimizerState?.dispatches() ?? []),
      ...this.model.encoder.repackDispatches(),
      ...this.model.decoder.repackDispatches(),
    ];
    return {
      dispatches: [...plan.forward, ...plan.backward, ...update.filter((d) => !isUpdate(d))],
      skipped: update.filter(isUpdate).map((d) => d.label),
    };
  }

  stateDict(): Promise<Record<string, NamedTensor>> {
    return this.model.stateDict();
  }

  loadStateDict(dict: StateDict): void {
    this.model.loadStateDict(dict);
  }

  poison(): void {
    this.model.store.write('decoder.out.bias', new Float32Array(TOY_VOCAB).fill(NaN));
  }

  destroy(): void {
    this.model.destroy();
  }
}
