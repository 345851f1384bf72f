// Hyperparameters outside the ranges where the demo's models train well: each warning names the
// value, the range and why (the panel shows it next to the control; nothing is refused: trying a
// bad value is part of the demo). Only parameters that apply to the current task are checked.
import { applies, type Params } from './params.js';

/** A warning about one hyperparameter. */
export interface ParamWarning {
  key: keyof Params;
  /** What is wrong and why, e.g. "lr 10 is far above …: the loss will diverge (NaN)". */
  message: string;
}

const n = (v: number) => String(Number(v.toPrecision(3)));

/** The warnings for `p` (empty when every value is in a sane range). */
export function paramWarnings(p: Params): ParamWarning[] {
  const out: ParamWarning[] = [];
  const warn = (key: keyof Params, message: string) => {
    if (applies(key, p.task, p.lmModel)) out.push({ key, message });
  };
  const adaptive = p.optimizer === 'adam' || p.optimizer === 'adamw';
  const lrMax = adaptive ? 0.05 : 1;
  if (!(p.lr > 0))
    warn('lr', `lr ${n(p.lr)}: the weights never change; use ${adaptive ? '1e-3 … 1e-2' : '0.01 … 0.5'}`);
  else if (p.lr > lrMax)
    warn(
      'lr',
      `lr ${n(p.lr)} is above ${lrMax} for ${adaptive ? 'Adam' : 'SGD'}: updates overshoot and the loss ` +
        `diverges (NaN); use ${adaptive ? '1e-3 … 1e-2' : '0.01 … 0.5'}`,
    );
  else if (p.lr < 1e-5) warn('lr', `lr ${n(p.lr)} is below 1e-5: training will barely move in minutes`);
  if (p.task !== 'seq2seq' && p.seqLen < 2)
    warn(
      'seqLen',
      `seqLen ${p.seqLen}: a window of one step has no previous step, so backpropagation through ` +
        'time learns nothing about the recurrence; use 16 … 64',
    );
  if (p.task === 'seq2seq' && p.toy === 'addition' && p.seqLen < 2)
    warn('seqLen', `seqLen ${p.seqLen}: the addition toy uses ⌊seqLen / 2⌋ digits per operand, so at least 2`);
  if (p.task === 'charLM' && p.lmModel === 'transformer') {
    if (p.dModel % p.nhead !== 0)
      warn('nhead', `dModel ${p.dModel} is not divisible by ${p.nhead} heads: the model cannot be built`);
    if (p.dModel / p.nhead < 4)
      warn('nhead', `${p.nhead} heads of width ${n(p.dModel / p.nhead)}: heads narrower than 4 learn little`);
  } else if (p.hiddenSize < 4) {
    warn('hiddenSize', `hidden size ${p.hiddenSize}: too few units to remember anything; use 16 … 256`);
  } else if (p.hiddenSize > 256) {
    warn('hiddenSize', `hidden size ${p.hiddenSize}: each step is slow on a software adapter (SwiftShader)`);
  }
  if (p.batch < 2) warn('batch', `batch ${p.batch}: one example per step gives very noisy gradients; use 8 … 64`);
  if (p.clipNorm > 0 && p.clipNorm < 0.05)
    warn('clipNorm', `clip norm ${n(p.clipNorm)}: every step is scaled down to a tiny update; use 0.5 … 5`);
  if (p.clipNorm === 0 && p.task === 'charLM' && p.lmModel === 'rnn')
    warn('clipNorm', 'clipping off with a plain RNN: exploding gradients are likely; set 1');
  if (p.dropout > 0.5) warn('dropout', `dropout ${n(p.dropout)}: more than half the activations dropped`);
  if (p.optimizer === 'momentum' && p.momentum >= 0.995)
    warn('momentum', `momentum ${n(p.momentum)}: updates barely decay and overshoot; use 0.9 … 0.99`);
  if (p.weightDecay > 0.1)
    warn('weightDecay', `weight decay ${n(p.weightDecay)}: pulls the weights to 0 faster than they learn`);
  if (p.schedule === 'exponential' && p.gamma < 0.5)
    warn('gamma', `γ ${n(p.gamma)} per step: the learning rate vanishes within a few steps; use 0.99 … 0.9999`);
  if (p.task === 'seq2seq' && p.teacherForcing < 0.3)
    warn('teacherForcing', `teacher forcing ${n(p.teacherForcing)}: early on the decoder mostly sees its own errors`);
  if (p.temperature > 2) warn('temperature', `temperature ${n(p.temperature)}: samples close to random characters`);
  if (p.horizon > 120 && p.task === 'timeSeries')
    warn('horizon', `horizon ${p.horizon}: one GPU round trip per step, so each forecast takes a while`);
  return out;
}
