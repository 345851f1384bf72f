// One training run on the GPU: build (or resume) the model, train until --steps / --time /
// Ctrl-C, evaluate on the held-out split, print samples, save. Returns the exit code.
import { appendFileSync } from 'node:fs';
import { requestGpu, SequenceModel, NonFiniteError } from '../../dist/index.js';
import { BatchSampler } from './sampler.mjs';
import { spread, unigramBaseline, validationBatches, validationLoss } from './evaluate.mjs';
import { DEFAULT_SAVE, saveRun } from './checkpoint.mjs';
import { Progress } from './progress.mjs';
import { LossMeter } from './meter.mjs';
import { headerLines, sampleLines, summaryLines, trainLine, valLine } from './report.mjs';

/** Held-out characters of the periodic (quick) validation; the last one uses all of them. */
const QUICK_VAL_CHARS = 8192;
/** Seconds between periodic evaluations when --eval-every is not given. */
const EVAL_SECONDS = 60;
const SAMPLE_LENGTH = 240;
const TEMPERATURE = 0.8;

/**
 * @param s - The plan from setup.mjs.
 * @param signals - { stopped(): reason | null } set by the CLI's SIGINT / SIGTERM handler.
 */
export async function run(s, signals) {
  const o = s.options;
  const { corpus } = s;
  const progress = new Progress();
  const log = (line) => progress.log(line);
  const json = (record) => s.logJson && appendFileSync(s.logJson, `${JSON.stringify(record)}\n`);
  const valBatches = validationBatches(corpus.val, o.seqLen, o.batch);
  const quick = spread(valBatches, Math.ceil(QUICK_VAL_CHARS / (o.seqLen * o.batch)));
  const baseline = unigramBaseline(corpus.train, corpus.val, corpus.vocab.size);

  const gpu = await requestGpu();
  const a = gpu.adapterInfo;
  const model = new SequenceModel(gpu, {
    cell: o.model,
    vocabSize: corpus.vocab.size,
    embeddingDim: o.embedding,
    hiddenSize: o.hidden,
    numLayers: o.layers,
    dropout: o.dropout,
    outputSize: corpus.vocab.size,
    mode: 'manyToMany',
    loss: 'crossEntropy',
    seed: o.seed,
  });
  model.configureTraining({ optimizer: { kind: 'adam', lr: o.lr, clipNorm: 1 }, nanGuard: true });
  log(`adapter: ${a.vendor} ${a.architecture || a.device}${a.isFallbackAdapter ? ' (fallback adapter)' : ''}`);
  for (const line of headerLines(s, model.store.length, baseline)) log(line);
  json({ event: 'start', options: o, baseline, resumedAt: s.resume?.run.step ?? null });

  const saved = s.resume?.run;
  if (saved) {
    model.loadCheckpoint(s.resume.bytes);
    log(`resumed at step ${saved.step} from ${s.resume.path}`);
  }
  const sampler = new BatchSampler(
    corpus.train,
    o.seqLen,
    o.batch,
    saved ? saved.sampler : BatchSampler.initialState(o.seed),
  );
  const tokensPerStep = o.seqLen * o.batch;
  const state = { step: saved?.step ?? 0, tokens: saved?.tokens ?? 0, trainSeconds: saved?.trainSeconds ?? 0 };
  const runStart = { step: state.step, tokens: state.tokens, trainSeconds: state.trainSeconds };
  const sidecar = () => ({
    options: o,
    corpus: { file: s.corpusFile, sha256: corpus.sha256, chars: corpus.chars },
    step: state.step,
    sampler: sampler.state,
    tokens: state.tokens,
    trainSeconds: state.trainSeconds,
  });
  const save = async (path) => {
    await saveRun(path, model, sidecar());
    log(`saved step ${state.step} to ${path} (+ ${path}.json); continue with: npm run train -- --resume ${path}`);
  };
  let sampledAt = -1;
  const sample = async () => {
    if (sampledAt === state.step) return;
    sampledAt = state.step;
    const ids = await model.generate(corpus.vocab.encode(s.prompt), SAMPLE_LENGTH, {
      temperature: TEMPERATURE,
      seed: o.seed + state.step,
    });
    for (const line of sampleLines(state.step, s.prompt + corpus.vocab.decode(ids), TEMPERATURE)) log(line);
  };

  const t0 = performance.now();
  const elapsed = () => (performance.now() - t0) / 1000;
  const meter = new LossMeter();
  let lastEval = 0;
  let reason = null;
  while (!reason) {
    reason =
      signals.stopped() ??
      (s.steps !== undefined && state.step >= s.steps ? 'steps' : null) ??
      (s.time !== undefined && elapsed() >= s.time ? 'time' : null);
    if (reason) break;
    const batch = sampler.next();
    const t = performance.now();
    let loss;
    try {
      loss = await model.trainStep(batch, { readLoss: true });
    } catch (e) {
      if (!(e instanceof NonFiniteError)) throw e;
      log(`step ${state.step + 1}: ${e.message}; the update was skipped: try a smaller --lr`);
      reason = 'diverged';
      break;
    }
    const ms = performance.now() - t;
    state.step++;
    state.tokens += tokensPerStep;
    state.trainSeconds += ms / 1000;
    meter.add(loss, ms, tokensPerStep);
    json({ step: state.step, loss });
    const evalDue = s.evalEvery !== undefined ? state.step % s.evalEvery === 0 : elapsed() - lastEval >= EVAL_SECONDS;
    // A training line every --log-every steps (on a terminal, where the bar shows the loss: with each evaluation).
    if (progress.tty ? evalDue : state.step % s.logEvery === 0)
      log(trainLine(state.step, meter.mean, meter.tokensPerSecond, elapsed()));
    if (state.step % s.logEvery === 0) meter.resetInterval();
    if (evalDue) {
      const val = await validationLoss(model, quick, () => signals.stopped() !== null);
      if (val) {
        log(valLine(state.step, val, baseline, quick === valBatches));
        json({ step: state.step, val: val.loss, chars: val.chars, full: quick === valBatches });
        await sample();
      }
      lastEval = elapsed();
    }
    if (s.save && state.step % s.saveEvery === 0) await save(s.save);
    progress.bar({
      step: state.step,
      steps: s.steps,
      elapsed: elapsed(),
      time: s.time,
      loss: meter.mean,
      tokensPerSecond: meter.tokensPerSecond,
    });
  }
  progress.clearBar();

  if (reason === 'interrupted' || reason === 'terminated') {
    log(`${reason === 'interrupted' ? 'Ctrl-C' : 'SIGTERM'}: stopped at step ${state.step}`);
    if (state.step > runStart.step || s.save) await save(s.save ?? DEFAULT_SAVE);
    else log('nothing trained in this run: no checkpoint saved');
  } else {
    log(
      `final validation on ` +
        `all ${valBatches.reduce((n, b) => n + b.count, 0).toLocaleString('en-US')} ` +
        `held-out characters…`,
    );
    const val = await validationLoss(model, valBatches, () => signals.stopped() !== null);
    if (val) {
      json({ step: state.step, val: val.loss, chars: val.chars, full: true, baseline });
      await sample();
      const summary = summaryLines({
        reason,
        step: state.step,
        runSteps: state.step - runStart.step,
        wall: elapsed(),
        trainSeconds: state.trainSeconds - runStart.trainSeconds,
        runTokens: state.tokens - runStart.tokens,
        trainLoss: meter.recent.loss,
        trainWindow: meter.recent.steps,
        val,
        baseline,
      });
      for (const line of summary) log(line);
      json({ event: 'end', reason, step: state.step, val: val.loss, baseline, margin: baseline - val.loss });
    }
    if (s.save || signals.stopped()) await save(s.save ?? DEFAULT_SAVE);
  }
  model.destroy();
  gpu.destroy();
  const stopped = signals.stopped();
  return stopped ? 130 : reason === 'diverged' ? 1 : 0;
}
