// Every hyperparameter of the demo page in one plain object (what the tweakpane panel binds to),
// the per-task presets, and what a change of each one does to the running model.
import type { CellKind } from '../src/index.js';

export type TaskName = 'charLM' | 'timeSeries' | 'seq2seq';
export type TextName = 'sonnets' | 'lusiadas' | 'casmurro';
export type SeriesName = 'sine' | 'noisySine' | 'airline';
export type ToyName = 'reverse' | 'addition';
export type OptimizerChoice = 'sgd' | 'momentum' | 'adam' | 'adamw';
export type ScheduleChoice = 'constant' | 'step' | 'exponential' | 'cosine';
export type AttentionChoice = 'none' | 'dot' | 'general' | 'additive';
/** The char LM's model: a recurrent cell (SequenceModel) or a decoder-only Transformer (TransformerLM). */
export type LmModel = CellKind | 'transformer';

export interface Params {
  task: TaskName;
  /** Data of each task. */
  text: TextName;
  series: SeriesName;
  toy: ToyName;
  /** Char LM: RNN / LSTM / GRU (SequenceModel, `cell` follows it) or Transformer (TransformerLM). */
  lmModel: LmModel;
  /** Model. Time series, seq2seq (the char LM's recurrent cell follows lmModel). */
  cell: CellKind;
  hiddenSize: number;
  numLayers: number;
  /** Seq2seq encoder only (next-step models must not see the future). */
  bidirectional: boolean;
  embeddingDim: number;
  /** Between stacked recurrent layers (PyTorch's `dropout`); char LM and time series. */
  dropout: number;
  attention: AttentionChoice;
  /** Char LM Transformer: width, attention heads (dModel divisible by it), feed-forward width. */
  dModel: number;
  nhead: number;
  dimFeedforward: number;
  seed: number;
  /** Training. seqLen: the BPTT window (char LM, time series) or the longest source (seq2seq). */
  seqLen: number;
  batch: number;
  /** Char LM: consecutive windows with the state carried between batches (truncated BPTT). */
  stateful: boolean;
  /** Seq2seq: probability of feeding the true previous token to the decoder. */
  teacherForcing: number;
  optimizer: OptimizerChoice;
  momentum: number;
  lr: number;
  schedule: ScheduleChoice;
  /** step schedule: multiply by gamma every stepSize steps; exponential: by gamma every step. */
  stepSize: number;
  gamma: number;
  /** cosine schedule: period T_max (steps). */
  tMax: number;
  /** Global gradient-norm clipping; 0 = off. */
  clipNorm: number;
  weightDecay: number;
  /** Output: char LM sampling, forecast horizon, how often the previews and validation run. */
  temperature: number;
  topK: number;
  sampleLength: number;
  prompt: string;
  horizon: number;
  previewEvery: number;
}

/**
 * What changing a parameter does:
 *  task      — switch task: load its preset, build a new model, clear the charts;
 *  model     — switch the char LM's model: load that model's preset, build it (a new run);
 *  toy       — switch the seq2seq toy: load its preset, build a new model (a new run);
 *  rebuild   — build a new model (fresh weights from `seed`), clear the charts;
 *  rebuildKeep — build a new model of the same shapes and carry the weights over (dropout);
 *  optimizer — re-create the optimizer (weights kept; its moments too when its kind allows);
 *  data      — new training data for the same model (it keeps training);
 *  live      — read at the next step / preview, nothing rebuilt.
 */
export type Effect = 'task' | 'model' | 'toy' | 'rebuild' | 'rebuildKeep' | 'optimizer' | 'data' | 'live';

export const EFFECTS: Record<keyof Params, Effect> = {
  task: 'task',
  text: 'rebuild',
  series: 'data',
  toy: 'toy',
  lmModel: 'model',
  cell: 'rebuild',
  hiddenSize: 'rebuild',
  numLayers: 'rebuild',
  bidirectional: 'rebuild',
  embeddingDim: 'rebuild',
  dropout: 'rebuildKeep',
  attention: 'rebuild',
  dModel: 'rebuild',
  nhead: 'rebuild',
  dimFeedforward: 'rebuild',
  seed: 'rebuild',
  seqLen: 'live',
  batch: 'live',
  stateful: 'optimizer',
  teacherForcing: 'live',
  optimizer: 'optimizer',
  momentum: 'optimizer',
  lr: 'live',
  schedule: 'live',
  stepSize: 'live',
  gamma: 'live',
  tMax: 'live',
  clipNorm: 'optimizer',
  weightDecay: 'optimizer',
  temperature: 'live',
  topK: 'live',
  sampleLength: 'live',
  prompt: 'live',
  horizon: 'live',
  previewEvery: 'live',
};

/** Which parameters apply to which task (the panel hides the others). */
export const APPLIES: Partial<Record<keyof Params, readonly TaskName[]>> = {
  text: ['charLM'],
  series: ['timeSeries'],
  toy: ['seq2seq'],
  lmModel: ['charLM'],
  cell: ['timeSeries', 'seq2seq'],
  dModel: ['charLM'],
  nhead: ['charLM'],
  dimFeedforward: ['charLM'],
  bidirectional: ['seq2seq'],
  embeddingDim: ['charLM', 'seq2seq'],
  dropout: ['charLM', 'timeSeries'],
  attention: ['seq2seq'],
  stateful: ['charLM'],
  teacherForcing: ['seq2seq'],
  temperature: ['charLM'],
  topK: ['charLM'],
  sampleLength: ['charLM'],
  prompt: ['charLM'],
  horizon: ['timeSeries'],
};

/** Char LM keys of one kind of model only (the panel hides the others). */
const RECURRENT_ONLY: ReadonlyArray<keyof Params> = ['hiddenSize', 'embeddingDim', 'stateful'];
const TRANSFORMER_ONLY: ReadonlyArray<keyof Params> = ['dModel', 'nhead', 'dimFeedforward'];

export function applies(key: keyof Params, task: TaskName, lmModel: LmModel = 'lstm'): boolean {
  if (task === 'charLM') {
    if (lmModel === 'transformer' && RECURRENT_ONLY.includes(key)) return false;
    if (lmModel !== 'transformer' && TRANSFORMER_ONLY.includes(key)) return false;
  }
  return APPLIES[key]?.includes(task) ?? true;
}

/** Sizes for a software adapter (SwiftShader: a CPU) and for a real GPU. */
export type SizeClass = 'software' | 'gpu';

type Preset = Pick<
  Params,
  | 'lmModel'
  | 'cell'
  | 'hiddenSize'
  | 'numLayers'
  | 'bidirectional'
  | 'embeddingDim'
  | 'dropout'
  | 'attention'
  | 'seqLen'
  | 'batch'
  | 'optimizer'
  | 'lr'
  | 'clipNorm'
  | 'weightDecay'
  | 'schedule'
  | 'previewEvery'
>;

/** Per-task starting points that learn visibly within a minute on their size class. */
export function preset(task: TaskName, size: SizeClass): Preset {
  const small = size === 'software';
  const common = {
    numLayers: 1,
    bidirectional: false,
    dropout: 0,
    weightDecay: 0,
    schedule: 'constant' as const,
    clipNorm: 1,
  };
  switch (task) {
    case 'charLM':
      return {
        ...common,
        lmModel: 'lstm',
        cell: 'lstm',
        hiddenSize: small ? 32 : 128,
        embeddingDim: 16,
        attention: 'general',
        seqLen: small ? 16 : 64,
        batch: small ? 8 : 32,
        optimizer: 'adam',
        lr: 0.01,
        previewEvery: small ? 20 : 100,
      };
    case 'timeSeries':
      return {
        ...common,
        lmModel: 'lstm',
        cell: 'gru',
        hiddenSize: small ? 16 : 64,
        embeddingDim: 16,
        attention: 'general',
        seqLen: small ? 16 : 48,
        batch: small ? 8 : 32,
        optimizer: 'adam',
        lr: 0.01,
        previewEvery: small ? 20 : 100,
      };
    case 'seq2seq':
      return {
        ...common,
        lmModel: 'lstm',
        cell: 'lstm',
        hiddenSize: small ? 32 : 64,
        embeddingDim: 16,
        attention: 'general',
        seqLen: 6,
        batch: small ? 16 : 32,
        optimizer: 'adam',
        lr: 0.01,
        previewEvery: small ? 20 : 100,
      };
  }
}

/**
 * What switching the char LM's model loads: the depth, context and optimizer that model learns with
 * on its size class (the Transformer: 2 pre-norm blocks, AdamW 3e-3, a longer context).
 */
export function modelPreset(model: LmModel, size: SizeClass): Partial<Params> {
  const small = size === 'software';
  // Sampling from the Transformer is one submit and readback per character: on a software adapter
  // (≈ 0.1 s each) its previews come half as often.
  if (model === 'transformer')
    return {
      numLayers: 2,
      seqLen: small ? 32 : 64,
      optimizer: 'adamw',
      lr: 3e-3,
      dropout: 0,
      previewEvery: small ? 40 : 100,
    };
  return {
    cell: model,
    numLayers: 1,
    seqLen: small ? 16 : 64,
    optimizer: 'adam',
    lr: 0.01,
    dropout: 0,
    previewEvery: small ? 20 : 100,
  };
}

/**
 * What switching the seq2seq toy loads. Reverse: the task's preset. Addition (3 digits at seqLen 6,
 * interleaved reversed digits: tasks/addition.ts): a bidirectional LSTM encoder of 64, batch 32, Adam
 * 0.02: ≥ 90 % held-out exact match from step 550 on (68 s in Chromium on SwiftShader; README).
 */
export function toyPreset(toy: ToyName, size: SizeClass): Partial<Params> {
  const base = preset('seq2seq', size);
  if (toy === 'reverse') return { ...base };
  return { ...base, hiddenSize: 64, bidirectional: true, batch: 32, seqLen: 6, lr: 0.02 };
}

export function defaultParams(size: SizeClass, task: TaskName = 'charLM'): Params {
  return {
    task,
    text: 'sonnets',
    series: 'noisySine',
    toy: 'reverse',
    seed: 1,
    stateful: false,
    teacherForcing: 1,
    momentum: 0.9,
    stepSize: 200,
    gamma: 0.5,
    tMax: 1000,
    temperature: 0.7,
    topK: 10,
    sampleLength: 80,
    prompt: '',
    horizon: 24,
    dModel: size === 'software' ? 32 : 128,
    nhead: 4,
    dimFeedforward: size === 'software' ? 128 : 512,
    ...preset(task, size),
  };
}

/** The model-shaping subset, stored in saved weight files so a load can rebuild the same model. */
export const MODEL_KEYS = [
  'task',
  'text',
  'lmModel',
  'cell',
  'hiddenSize',
  'numLayers',
  'bidirectional',
  'embeddingDim',
  'dropout',
  'attention',
  'dModel',
  'nhead',
  'dimFeedforward',
  'seed',
] as const;
