// The run's text: the header, the log lines, samples and the closing summary.
import { fmtInt, fmtLoss, fmtTime } from './progress.mjs';

export function headerLines(s, paramCount, baseline) {
  const o = s.options;
  const c = s.corpus;
  const valChars = c.val.reduce((n, v) => n + v.length, 0);
  const limits = [
    s.steps && `at step ${fmtInt(s.steps)}`,
    s.time && `after ${fmtTime(s.time)} (wall time, periodic evaluations included)`,
  ]
    .filter(Boolean)
    .join(' or ');
  return [
    `corpus: ${c.name}: ${fmtInt(c.chars)} characters, vocabulary ${c.vocab.size}; ` +
      `training ${fmtInt(c.train.length)}, validation ${fmtInt(valChars)} (the last 10 ` +
      `% of each text)`,
    `model: ${o.model.toUpperCase()} ${o.layers}×${o.hidden}, ` +
      `embedding ${o.embedding}${o.dropout ? `, dropout ${o.dropout}` : ''}, ${fmtInt(paramCount)} ` +
      `parameters; windows of ${o.seqLen} characters × batch ${o.batch}; Adam ` +
      `lr ${o.lr}, clip 1; seed ${o.seed}`,
    `unigram baseline (training-split character frequencies) on the validation ` +
      `split: ${baseline.toFixed(4)} nats/char (ppl ${Math.exp(baseline).toFixed(2)})`,
    `training stops ${limits}, then a validation over the whole held-out split; Ctrl-C saves a checkpoint and exits`,
  ];
}

export function trainLine(step, loss, tokensPerSecond, elapsed) {
  return (
    `step ${String(step).padStart(6)}  train ` +
    `loss ${fmtLoss(loss)}  ${fmtInt(tokensPerSecond)} tok/s  ${fmtTime(elapsed)}`
  );
}

export function valLine(step, val, baseline, full) {
  const what = full ? `all ${fmtInt(val.chars)} held-out characters` : `${fmtInt(val.chars)} held-out characters`;
  return (
    `step ${String(step).padStart(6)}  val loss   ${fmtLoss(val.loss)}  on ${what}  ` +
    `(unigram ${baseline.toFixed(4)})`
  );
}

export function sampleLines(step, text, temperature) {
  return [`sample at step ${step} (temperature ${temperature}):`, ...text.split('\n').map((l) => `  | ${l}`)];
}

/** The closing lines: counts, losses, the baseline and the margin. */
export function summaryLines(r) {
  const margin = r.baseline - r.val.loss;
  const verdict =
    margin > 0
      ? `beats the unigram baseline ${r.baseline.toFixed(4)} by ${margin.toFixed(4)} ` +
        `nats/char (${((100 * margin) / r.baseline).toFixed(1)} % lower; ` +
        `perplexity ${Math.exp(r.val.loss).toFixed(2)} ` +
        `vs ${Math.exp(r.baseline).toFixed(2)})`
      : `does not beat the unigram baseline ${r.baseline.toFixed(4)} yet ` +
        `(${(-margin).toFixed(4)} nats/char worse): train longer (--time, --steps) or ` +
        `change --lr`;
  return [
    `done (${r.reason}): step ${fmtInt(r.step)}; this run ${fmtInt(r.runSteps)} ` +
      `steps in ${fmtTime(r.wall)} wall ` +
      `(training ${fmtTime(r.trainSeconds)}), ${fmtInt(r.runTokens)} ` +
      `tokens, ${fmtInt(r.trainSeconds ? r.runTokens / r.trainSeconds : 0)} tokens/s`,
    r.trainWindow
      ? `train loss ${fmtLoss(r.trainLoss)} (mean of the last ${r.trainWindow} steps)`
      : 'no training step in this run',
    `val loss   ${fmtLoss(r.val.loss)} on all ${fmtInt(r.val.chars)} held-out characters`,
    `the model ${verdict}`,
  ];
}
