// A run on disk: CKPT is the model's checkpoint (SequenceModel.saveCheckpoint: parameters,
// Adam's moments and step), CKPT.json the rest of the run — its options, the corpus it trains
// on, the batch sampler's state and the counters — so --resume continues the loss curve exactly.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { RUN_KEYS, UsageError, flagOf } from './args.mjs';

const FORMAT = 'seqgpu-train/1';

/** Where Ctrl-C saves when --save is not given. */
export const DEFAULT_SAVE = 'checkpoints/train-interrupted.safetensors';

const sidecarOf = (path) => `${path}.json`;
const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

/**
 * Saves the model's checkpoint and the run's sidecar (each written to a temporary file, then
 * renamed, so an interrupted save leaves the previous files whole).
 * @param run - { options, corpus: { file, sha256, chars }, step, sampler, tokens, trainSeconds }
 */
export async function saveRun(path, model, run) {
  const bytes = await model.saveCheckpoint();
  mkdirSync(dirname(resolve(path)), { recursive: true });
  const sidecar = { format: FORMAT, checkpointSha256: sha256(bytes), ...run, savedAt: new Date().toISOString() };
  writeAtomically(path, bytes);
  writeAtomically(sidecarOf(path), `${JSON.stringify(sidecar, null, 2)}\n`);
}

function writeAtomically(path, data) {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/**
 * Reads a saved run for --resume: the checkpoint's bytes and its sidecar, checked to belong
 * together.
 * @throws UsageError naming the file when one is missing, unreadable or does not match.
 */
export function readRun(path) {
  const bytes = readOrThrow(path, `--resume: cannot read the checkpoint '${path}'`);
  const text = readOrThrow(
    sidecarOf(path),
    `--resume: cannot read '${sidecarOf(path)}', the run's options and batch sampler saved next to the checkpoint`,
  ).toString('utf8');
  let run;
  try {
    run = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--resume: '${sidecarOf(path)}' is not JSON (${e.message})`);
  }
  if (run?.format !== FORMAT) throw new UsageError(`--resume: '${sidecarOf(path)}' is not a ${FORMAT} file`);
  if (run.checkpointSha256 !== sha256(bytes)) {
    throw new UsageError(
      `--resume: '${path}' is not the checkpoint '${sidecarOf(path)}' was saved with (SHA-256 differs)`,
    );
  }
  return { bytes, run };
}

function readOrThrow(path, message) {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new UsageError(`${message} (${e.code ?? e.message})`);
  }
}

/**
 * The options of a resumed run: the saved ones; a flag given again must have the saved value.
 * @throws UsageError naming the flag, its value and the saved one.
 */
export function resumedOptions(saved, given) {
  const out = {};
  for (const key of RUN_KEYS) {
    if (given[key] !== undefined && given[key] !== saved[key]) {
      throw new UsageError(
        `${flagOf(key)} ${given[key]} differs from the resumed run's ${saved[key]}: leave it out to continue that run`,
      );
    }
    out[key] = saved[key];
  }
  return out;
}
