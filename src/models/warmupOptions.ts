// Options of the models' `warmup` methods (cold start: compile a model's pipelines up front for
// the shapes it will run, reporting progress; see src/gpu/pipelineWarmup.ts).
import type { WarmupOptions } from '../gpu/pipelineWarmup.js';

/** {@link SequenceModel.warmup}: the (seqLen, batch) of the calls to come. */
export interface SequenceModelWarmupOptions extends WarmupOptions {
  /** Timesteps of the batches (trainStep, evaluate, predict record one step per (seqLen, batch)). */
  seqLen: number;
  /** Sequences per batch. */
  batch: number;
  /** Also the one-token plan of `generate` (token models, many-to-many, unidirectional). */
  generate?: boolean;
}

/** {@link Seq2Seq.warmup}: the mode and sizes of the calls to come. */
export interface Seq2SeqWarmupOptions extends WarmupOptions {
  /** Which call: `'train'` (trainStep, evaluate; default), `'greedy'` (greedyDecode) or `'beam'` (beamSearch). */
  mode?: 'train' | 'greedy' | 'beam';
  /** Longest source sequence of a batch. */
  srcLen: number;
  /** Longest target sequence (train, without EOS) or `maxLen` (greedy, beam). */
  tgtLen: number;
  /** Sources per batch. */
  batch: number;
  /** Beams (mode `'beam'`, default 1). */
  beamWidth?: number;
}

/** {@link TransformerLM.warmup}: the [batch, seqLen] of the forwards to come. */
export interface TransformerLMWarmupOptions extends WarmupOptions {
  /** Tokens per sequence (≤ maxSeqLen). */
  seqLen: number;
  /** Sequences per forward. */
  batch: number;
  /** Also the one-token KV-cache step of `generate`. */
  generate?: boolean;
}
