// The flags of `npm run train`, parsed strictly (node:util parseArgs, strict: true): an unknown
// flag, a positional argument, a flag given twice or a bad value is an error naming the flag and
// the value (the CLI exits with code 2 before anything is loaded or trained).
import { parseArgs } from 'node:util';

/** Thrown for a bad command line; the CLI prints the message and exits with code 2. */
export class UsageError extends Error {
  name = 'UsageError';
}

/** Seconds of training when neither --steps nor --time is given. */
export const DEFAULT_TIME = 240;

/**
 * The defaults of the run's options (flags left out), chosen on SwiftShader on 2 cores (where
 * throughput is about the same per token whatever the batch, so small batches buy more updates):
 * in 4 minutes this model gets the bundled corpus's validation loss from the unigram baseline's
 * 3.06 nats/char to about 1.8.
 */
export const DEFAULTS = Object.freeze({
  model: 'lstm',
  hidden: 64,
  layers: 1,
  embedding: 16,
  dropout: 0,
  seqLen: 32,
  batch: 8,
  lr: 0.02,
  seed: 1,
});

const int = (min, max = Number.MAX_SAFE_INTEGER) => ({ kind: 'int', min, max });
const num = (lo, hi, loOpen = true) => ({ kind: 'num', lo, hi, loOpen });

/** Every flag: its parseArgs type, what it holds and how its value is checked. */
const FLAGS = {
  corpus: {
    type: 'string',
    arg: 'FILE',
    help: 'train on this UTF-8 text file (default: the bundled public-domain corpus, demo/data/)',
  },
  model: {
    type: 'string',
    arg: 'lstm|gru',
    check: { kind: 'enum', values: ['lstm', 'gru'] },
    help: `recurrent cell (default ${DEFAULTS.model})`,
  },
  hidden: {
    type: 'string',
    arg: 'N',
    check: int(1, 4096),
    help: `hidden size of each layer (default ${DEFAULTS.hidden})`,
  },
  layers: { type: 'string', arg: 'N', check: int(1, 8), help: `stacked recurrent layers (default ${DEFAULTS.layers})` },
  embedding: { type: 'string', arg: 'N', check: int(1, 4096), help: `embedding size (default ${DEFAULTS.embedding})` },
  dropout: {
    type: 'string',
    arg: 'P',
    check: num(0, 1, false),
    help: `dropout between layers, in [0, 1) (default ${DEFAULTS.dropout})`,
  },
  'seq-len': {
    type: 'string',
    arg: 'N',
    check: int(1, 4096),
    help: `characters per training window (BPTT length) (default ${DEFAULTS.seqLen})`,
  },
  batch: { type: 'string', arg: 'N', check: int(1, 4096), help: `windows per step (default ${DEFAULTS.batch})` },
  lr: { type: 'string', arg: 'X', check: num(0, 1e6), help: `Adam learning rate (default ${DEFAULTS.lr})` },
  steps: {
    type: 'string',
    arg: 'N',
    check: int(1),
    help: 'stop at this step count (with --resume: the total, counting the resumed steps)',
  },
  time: {
    type: 'string',
    arg: 'SECONDS',
    check: num(0, 1e9),
    help:
      `stop training after this much wall time, periodic evaluations included ` +
      `(default ${DEFAULT_TIME} when neither --steps nor --time is given)`,
  },
  save: {
    type: 'string',
    arg: 'CKPT',
    help: 'save the run here (CKPT and CKPT.json) at the end, every --save-every steps and on Ctrl-C',
  },
  'save-every': { type: 'string', arg: 'N', check: int(1), help: 'with --save: also save every N steps (default 500)' },
  resume: {
    type: 'string',
    arg: 'CKPT',
    help: 'continue a saved run exactly (model, optimizer, step, batch sampler, options)',
  },
  seed: {
    type: 'string',
    arg: 'N',
    check: int(0, 2 ** 32 - 1),
    help: `seed of the weights, the batches and the samples (default ${DEFAULTS.seed})`,
  },
  'eval-every': {
    type: 'string',
    arg: 'N',
    check: int(1),
    help: 'validation loss and a sample every N steps (default: every 60 s)',
  },
  'log-every': {
    type: 'string',
    arg: 'N',
    check: int(1),
    help: 'a training log line every N steps when stdout is not a terminal (default 25)',
  },
  'log-json': {
    type: 'string',
    arg: 'FILE',
    help: "append every step's loss and every evaluation to FILE as JSON lines",
  },
  prompt: { type: 'string', arg: 'TEXT', help: 'start of the generated samples (default: the start of the corpus)' },
  help: { type: 'boolean', short: 'h', help: 'print this help' },
};

/** The run's options that a checkpoint fixes (they must match on --resume). */
export const RUN_KEYS = ['model', 'hidden', 'layers', 'embedding', 'dropout', 'seqLen', 'batch', 'lr', 'seed'];

const camel = (flag) => flag.replace(/-(\w)/g, (_, c) => c.toUpperCase());
/** The flag of an option key: seqLen → --seq-len. */
export const flagOf = (key) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/**
 * Parses argv. Returns `{ help: true }` for --help, else the options given (camelCase keys;
 * numbers as numbers; flags left out are absent — the caller fills in defaults or the resumed
 * run's values).
 * @throws UsageError naming the flag and the value.
 */
export function parseFlags(argv) {
  const options = Object.fromEntries(
    Object.entries(FLAGS).map(([k, f]) => [k, { type: f.type, ...(f.short ? { short: f.short } : {}) }]),
  );
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: false, tokens: true });
  } catch (e) {
    throw new UsageError(e.message);
  }
  const seen = new Set();
  for (const t of parsed.tokens) {
    if (t.kind !== 'option') continue;
    if (seen.has(t.name)) throw new UsageError(`--${t.name} is given more than once`);
    seen.add(t.name);
  }
  if (parsed.values.help) return { help: true };
  const out = {};
  for (const [flag, raw] of Object.entries(parsed.values)) {
    const f = FLAGS[flag];
    out[camel(flag)] = f.check ? checkValue(`--${flag}`, raw, f.check) : checkText(`--${flag}`, raw, f.arg);
  }
  return out;
}

function checkText(flag, raw, arg) {
  if (raw === '') throw new UsageError(`${flag} needs ${arg === 'TEXT' ? 'a non-empty text' : `a ${arg}`}, got ''`);
  return raw;
}

const DECIMAL = /^[+]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

function checkValue(flag, raw, c) {
  if (c.kind === 'enum') {
    if (!c.values.includes(raw)) throw new UsageError(`${flag} must be ${c.values.join(' or ')}, got '${raw}'`);
    return raw;
  }
  if (c.kind === 'int') {
    const v = /^\d+$/.test(raw) ? Number(raw) : NaN;
    if (!(v >= c.min && v <= c.max)) {
      const range = c.max === Number.MAX_SAFE_INTEGER ? `>= ${c.min}` : `in [${c.min}, ${c.max}]`;
      throw new UsageError(`${flag} must be an integer ${range}, got '${raw}'`);
    }
    return v;
  }
  const v = DECIMAL.test(raw) ? Number(raw) : NaN;
  const lowOk = c.loOpen ? v > c.lo : v >= c.lo;
  if (!(lowOk && v < c.hi)) {
    const what = c.hi === 1 ? `in [${c.lo}, 1)` : lowOk ? `< ${c.hi}` : `${c.loOpen ? '>' : '>='} ${c.lo}`;
    throw new UsageError(`${flag} must be a number ${what}, got '${raw}'`);
  }
  return v;
}

/** The --help text. */
export function helpText() {
  const rows = Object.entries(FLAGS).map(([flag, f]) => {
    const name = `${f.short ? `-${f.short}, ` : '    '}--${flag}${f.type === 'string' ? ` ${f.arg}` : ''}`;
    return `  ${name.padEnd(26)} ${f.help}`;
  });
  return [
    'Usage: npm run train -- [flags]      (or: bash tools/with-swiftshader.sh node demo/train.mjs [flags])',
    '',
    'Trains a character-level language model with seqgpu on the GPU (SwiftShader when there is none):',
    'the last 10 % of each document is held out for validation; prints train and validation loss,',
    'perplexity, tokens/s and generated samples, and at the end the validation loss against a',
    'unigram baseline (the character frequencies of the training split).',
    'Ctrl-C saves a checkpoint (to --save, or to a default path it prints) and exits.',
    '',
    'Flags (--flag VALUE or --flag=VALUE):',
    ...rows,
    '',
    'Examples:',
    '  npm run train',
    '  npm run train -- --corpus my.txt --model gru --hidden 256 --time 600 --save runs/my.safetensors',
    '  npm run train -- --resume runs/my.safetensors --time 600 --save runs/my.safetensors',
  ].join('\n');
}
