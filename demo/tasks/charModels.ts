// The char LM's two kinds of model behind one interface: a recurrent one (SequenceModel: embedding
// → RNN / LSTM / GRU → Linear, trained by its own fused BPTT step) and a decoder-only Transformer
// (TransformerLM trained by seqgpu's Trainer, sampled with its KV cache, attention weights per head
// for the heat maps). Batches come time-major ([T·B], the SequenceModel layout); the Transformer
// takes them batch-first ([B, T]).
import {
  SequenceModel,
  Tensor,
  Trainer as ModelTrainer,
  TransformerLM,
  type Dispatch,
  type Gpu,
  type NamedTensor,
  type Optimizer,
  type StateDict,
  type WarmupProgress,
} from '../../src/index.js';
import type { Params } from '../params.js';
import { countParameters, liveSchedule, optimizerOptions, reconfigure, type StepResult } from './task.js';

/** A batch of windows, time-major: inputs[t·B + b]. */
export interface Windows {
  inputs: Int32Array;
  targets: Int32Array;
  seqLen: number;
  batch: number;
}

export interface SampleOptions {
  temperature: number;
  topK: number;
  seed: number;
}

export interface CharModel {
  /** "LSTM 1×32, embedding 16" / "Transformer 2×64, 4 heads, feed-forward 128". */
  readonly description: string;
  readonly parameters: string;
  readonly recurrent: boolean;
  readonly optimizer: Optimizer | null;
  /** Longest training window / generation context (Infinity for a recurrent model). */
  readonly context: number;
  configureTraining(globalStep: () => number): Promise<void>;
  /** Compiles the pipelines of a (seqLen, batch) training step and of sampling; how many were compiled. */
  warmup(seqLen: number, batch: number, onProgress: (progress: WarmupProgress) => void): Promise<number>;
  resetState(): void;
  step(batch: Windows): Promise<StepResult>;
  evaluate(batch: Windows): Promise<number>;
  /** `n` new token ids after `prompt`. */
  generate(prompt: Int32Array, n: number, opts: SampleOptions): Promise<number[]>;
  profileDispatches(seqLen: number, batch: number): { dispatches: readonly Dispatch[]; skipped: string[] } | null;
  stateDict(): Promise<Record<string, NamedTensor>>;
  loadStateDict(dict: StateDict): void;
  poison(): void;
  destroy(): void;
}

export class RecurrentCharModel implements CharModel {
  readonly recurrent = true;
  readonly context = Infinity;
  readonly description: string;
  readonly parameters: string;
  readonly model: SequenceModel;

  constructor(
    gpu: Gpu,
    private readonly p: Params,
    vocabSize: number,
  ) {
    const cell = p.lmModel === 'transformer' ? p.cell : p.lmModel;
    this.model = new SequenceModel(gpu, {
      cell,
      vocabSize,
      embeddingDim: p.embeddingDim,
      hiddenSize: p.hiddenSize,
      numLayers: p.numLayers,
      dropout: p.numLayers > 1 ? p.dropout : 0,
      outputSize: vocabSize,
      mode: 'manyToMany',
      loss: 'crossEntropy',
      seed: p.seed,
    });
    this.description = `${cell.toUpperCase()} ${p.numLayers}×${p.hiddenSize}, embedding ${p.embeddingDim}`;
    this.parameters = countParameters(this.model.store);
  }

  get optimizer(): Optimizer | null {
    return this.model.optimizerState;
  }

  async configureTraining(globalStep: () => number): Promise<void> {
    const p = this.p;
    await reconfigure(
      () => this.model.optimizerState,
      () =>
        this.model.configureTraining({
          optimizer: optimizerOptions(p),
          schedule: liveSchedule(p, globalStep),
          carryState: p.stateful,
        }),
    );
    this.model.resetState();
  }

  async warmup(seqLen: number, batch: number, onProgress: (progress: WarmupProgress) => void): Promise<number> {
    return (await this.model.warmup({ seqLen, batch, generate: true, onProgress })).pipelines;
  }

  resetState(): void {
    this.model.resetState();
  }

  step(batch: Windows): Promise<StepResult> {
    const loss = this.model.trainStep(batch, { readLoss: true });
    const norm = this.model.optimizerState!.gradNorm();
    return Promise.all([loss, norm]).then(([l, g]) => ({ loss: l!, gradNorm: g }));
  }

  evaluate(batch: Windows): Promise<number> {
    return this.model.evaluate(batch);
  }

  generate(prompt: Int32Array, n: number, opts: SampleOptions): Promise<number[]> {
    return this.model.generate(prompt, n, opts);
  }

  profileDispatches(seqLen: number, batch: number) {
    const parts = this.model.stepDispatches(seqLen, batch);
    const isUpdate = (d: Dispatch) => /^optimizer\.(sgd|adam|adamw)/.test(d.label);
    return {
      dispatches: [...parts.forward, ...parts.backward, ...parts.update.filter((d) => !isUpdate(d))],
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

/**
 * Positions of the Transformer (pos_embed rows): any seqLen the panel allows trains without a
 * rebuild. Generation slides a window of the training seqLen, so it only uses trained positions.
 */
export const TRANSFORMER_MAX_LEN = 256;

/** Time-major [T·B] → batch-first [B·T]. */
function batchFirst(a: Int32Array, T: number, B: number): Int32Array {
  const out = new Int32Array(T * B);
  for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) out[b * T + t] = a[t * B + b];
  return out;
}

/** The Trainer's optimizer (for its lr, gradient norm and state). */
function trainerOptimizer(t: ModelTrainer | null): Optimizer | null {
  return t?.optimizerState ?? null;
}

export class TransformerCharModel implements CharModel {
  readonly recurrent = false;
  readonly context = TRANSFORMER_MAX_LEN;
  readonly description: string;
  readonly parameters: string;
  readonly lm: TransformerLM;
  private trainer: ModelTrainer | null = null;
  /** Steps run one after another: the gradient norm is read before the next step is submitted. */
  private last: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly gpu: Gpu,
    private readonly p: Params,
    vocabSize: number,
  ) {
    this.lm = new TransformerLM(gpu, {
      vocabSize,
      dModel: p.dModel,
      nhead: p.nhead,
      numLayers: p.numLayers,
      dimFeedforward: p.dimFeedforward,
      maxSeqLen: TRANSFORMER_MAX_LEN,
      dropout: p.dropout,
      seed: p.seed,
    });
    this.description =
      `Transformer ${p.numLayers}×${p.dModel}, ${p.nhead} heads, feed-forward ${p.dimFeedforward}` +
      `${p.dropout > 0 ? `, dropout ${p.dropout}` : ''}`;
    let n = 0;
    for (const q of this.lm.namedParameters()) n += q.shape.reduce((a, b) => a * b, 1);
    this.parameters = n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : String(n);
  }

  get optimizer(): Optimizer | null {
    return trainerOptimizer(this.trainer);
  }

  /** A new Trainer (the parameters stay gathered in the model's store); moments kept when the kind allows. */
  async configureTraining(globalStep: () => number): Promise<void> {
    await this.last.catch(() => undefined);
    const p = this.p;
    await reconfigure(
      () => this.optimizer,
      () => {
        this.trainer?.destroy();
        this.trainer = new ModelTrainer(this.lm, {
          loss: 'crossEntropy',
          optimizer: optimizerOptions(p),
          schedule: liveSchedule(p, globalStep),
        });
      },
    );
  }

  async warmup(seqLen: number, batch: number, onProgress: (progress: WarmupProgress) => void): Promise<number> {
    await this.last.catch(() => undefined);
    const T = Math.min(seqLen, this.context);
    const zeros = new Int32Array(T * batch);
    const [x, y] = this.tensors({ inputs: zeros, targets: zeros, seqLen: T, batch });
    try {
      const step = await this.trainer!.warmup({ inputs: x, targets: y }, { evaluate: true, onProgress });
      // Sampling: the one-token KV-cache step.
      const sample = await this.lm.warmup({ seqLen: T, batch, generate: true, onProgress });
      return step.pipelines + sample.pipelines;
    } finally {
      x.destroy();
      y.destroy();
    }
  }

  resetState(): void {}

  private tensors(batch: Windows): [Tensor, Tensor] {
    const { seqLen: T, batch: B } = batch;
    const x = Tensor.from(this.gpu, batchFirst(batch.inputs, T, B), [B, T], 'tokens');
    try {
      return [x, Tensor.from(this.gpu, batchFirst(batch.targets, T, B), [B, T], 'targets')];
    } catch (e) {
      x.destroy();
      throw e;
    }
  }

  step(batch: Windows): Promise<StepResult> {
    const run = this.last
      .catch(() => undefined)
      .then(async () => {
        const [x, y] = this.tensors(batch);
        try {
          const loss = (await this.trainer!.step({ inputs: x, targets: y }, { readLoss: true }))!;
          const opt = this.optimizer;
          const gradNorm = opt ? await opt.gradNorm() : NaN;
          return { loss, gradNorm };
        } finally {
          x.destroy();
          y.destroy();
        }
      });
    this.last = run;
    return run;
  }

  async evaluate(batch: Windows): Promise<number> {
    await this.last.catch(() => undefined);
    const [x, y] = this.tensors(batch);
    try {
      return await this.trainer!.evaluate({ inputs: x, targets: y });
    } finally {
      x.destroy();
      y.destroy();
    }
  }

  /**
   * Samples with a sliding window of the training seqLen: when the context is full, the last half
   * of it becomes the next prompt (the KV cache is rebuilt from it).
   */
  async generate(prompt: Int32Array, n: number, opts: SampleOptions): Promise<number[]> {
    await this.last.catch(() => undefined);
    const W = Math.max(2, Math.min(this.context, Math.round(this.p.seqLen)));
    let ctx = Array.from(prompt.subarray(Math.max(0, prompt.length - (W - 1))));
    const out: number[] = [];
    for (let chunk = 0; out.length < n; chunk++) {
      const m = Math.min(n - out.length, W - ctx.length + 1);
      const ids = await this.lm.generate(ctx, { maxNewTokens: m, ...opts, seed: opts.seed * 131 + chunk });
      out.push(...ids);
      ctx = [...ctx, ...ids].slice(-Math.max(1, Math.floor(W / 2)));
    }
    return out;
  }

  /** Causal self-attention of every layer for one window: per layer [nhead, T, T] (rows: queries). */
  async attention(ids: Int32Array): Promise<Float32Array[]> {
    await this.last.catch(() => undefined);
    const t = Tensor.from(this.gpu, ids, [1, ids.length], 'attention tokens');
    try {
      return await this.lm.attentionWeights(t);
    } finally {
      t.destroy();
    }
  }

  profileDispatches(): null {
    return null;
  }

  stateDict(): Promise<Record<string, NamedTensor>> {
    return this.last.catch(() => undefined).then(() => this.lm.stateDict());
  }

  loadStateDict(dict: StateDict): void {
    this.lm.loadStateDict(dict);
  }

  poison(): void {
    const store = this.trainer!.store;
    store.write('head.weight', new Float32Array(store.slot('head.weight').size).fill(NaN));
  }

  destroy(): void {
    this.trainer?.destroy();
    this.trainer = null;
    this.lm.destroy();
  }
}
