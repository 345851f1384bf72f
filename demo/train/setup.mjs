// From the command line to a run's plan: the options (defaults, or the resumed run's), the
// corpus, the stop conditions and the output paths — every check that can fail before the GPU is
// opened, so a bad command line exits with code 2 and trains nothing.
import { resolve } from 'node:path';
import { DEFAULTS, DEFAULT_TIME, RUN_KEYS, UsageError, parseFlags } from './args.mjs';
import { checkCorpusSize, loadCorpus } from './corpus.mjs';
import { readRun, resumedOptions } from './checkpoint.mjs';

/**
 * @returns `{ help: true }`, or { options, corpus, corpusFile, prompt, steps?, time?, save?,
 *   saveEvery, evalEvery?, logEvery, logJson?, resume?: { bytes, run, path } }
 * @throws UsageError for a bad command line.
 */
export function prepare(argv) {
  const flags = parseFlags(argv);
  if (flags.help) return flags;
  const resume = flags.resume === undefined ? undefined : { ...readRun(flags.resume), path: flags.resume };
  const options = resume
    ? resumedOptions(resume.run.options, flags)
    : Object.fromEntries(RUN_KEYS.map((k) => [k, flags[k] ?? DEFAULTS[k]]));
  const corpusFile = flags.corpus ?? resume?.run.corpus.file ?? undefined;
  const corpus = loadCorpus(corpusFile);
  if (resume && corpus.sha256 !== resume.run.corpus.sha256) {
    throw new UsageError(
      `--resume: the corpus (${corpus.name}) is not the text the checkpoint was trained on (SHA-256 differs)`,
    );
  }
  checkCorpusSize(corpus, options.seqLen);
  const prompt = flags.prompt ?? corpus.prompt;
  for (const ch of prompt) {
    if (!corpus.vocab.chars.includes(ch))
      throw new UsageError(`--prompt has ${JSON.stringify(ch)}, which is not in the corpus`);
  }
  const start = resume?.run.step ?? 0;
  if (flags.steps !== undefined && flags.steps <= start) {
    throw new UsageError(
      `--steps ${flags.steps} is not past the resumed run's step ${start} (--steps counts from the start of the run)`,
    );
  }
  if (flags.saveEvery !== undefined && flags.save === undefined) throw new UsageError('--save-every needs --save');
  return {
    options,
    corpus,
    corpusFile: corpusFile === undefined ? null : resolve(corpusFile),
    prompt,
    steps: flags.steps,
    time: flags.time ?? (flags.steps === undefined ? DEFAULT_TIME : undefined),
    save: flags.save,
    saveEvery: flags.saveEvery ?? 500,
    evalEvery: flags.evalEvery,
    logEvery: flags.logEvery ?? 25,
    logJson: flags.logJson,
    resume,
  };
}
