// Checkpoint compatibility: files written by SequenceModel / Seq2Seq BEFORE their rebuild on the
// Module/Trainer path (test/fixtures/main_checkpoints/, written once by
// test/fixtures/make_main_checkpoints.mjs and frozen) must keep loading unchanged. For each
// fixture, a model is built from the recorded options as a user would and restored from the file
// twice — (A) a fresh model, `loadCheckpoint(bytes, { train })` with only what the file cannot
// hold (schedule, carryState, teacherForcingRatio, nanGuard); (B) `configureTraining(recorded
// options)` first, then `loadCheckpoint(bytes)` — and each is checked:
//   - the file is the committed one: its size, SHA-256 and CRC-32 (zlib's, of the bytes as they
//     are) match the JSON (nobody regenerated it), and readCheckpoint accepts it;
//   - the model's parameters (stateDict) equal the file's, bit for bit; a checkpoint saved right
//     after the load holds the same tensors (parameters, optimizer moments, carried state) bit for
//     bit and the same metadata (optimizer class, step and hyperparameters, teacher-forcing coin;
//     the config may gain keys, not lose or change any);
//   - evaluate / predict / generate (SequenceModel) or evaluate / greedyDecode with its attention
//     weights / beamSearch (Seq2Seq) give exactly the recorded outputs;
//   - the next 3 training steps on the recorded batches give exactly the recorded losses (Object.is),
//     and the outputs after them are exactly the recorded ones.
// The recorded numbers came from SwiftShader (the JSON's generatedOn.adapter). On another adapter
// the float arithmetic differs: losses and float outputs are then compared to 1e-3 (relative) and
// token outputs are not compared, which the summary line says; everything about the FILE (bytes,
// parameters, optimizer state, metadata) stays exact on every device.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Seq2Seq,
  SequenceModel,
  constantLR,
  cosineLR,
  exponentialLR,
  readCheckpoint,
  stepLR,
  type Batch,
  type Gpu,
  type LRSchedule,
  type NamedTensor,
  type Seq2SeqBatch,
  type Seq2SeqOptions,
  type Seq2SeqTrainOptions,
  type SequenceModelOptions,
  type TrainOptions,
} from '../../src/index.js';
import { testGpu } from './gpu.js';

/** The fixtures of test/fixtures/main_checkpoints/ (each a .safetensors and a .json). */
const NAMES = [
  'seqmodel_lstm2_dropout_adam',
  'seqmodel_gru_bidir_mse_sgd',
  'seqmodel_lstm_carrystate_adamw',
  'seqmodel_rnn_relu_plain_sgd',
  'seq2seq_gru_general_tf05_adam',
  'seq2seq_lstm_additive_bidir_adamw',
] as const;

/** A schedule as the JSON records it: a named closed form of src/train/schedules.ts and its arguments. */
interface ScheduleSpec {
  fn: 'constantLR' | 'stepLR' | 'exponentialLR' | 'cosineLR';
  args: number[];
}
type RecordedTrain = Omit<TrainOptions & Seq2SeqTrainOptions, 'schedule'> & { schedule?: ScheduleSpec };
type Outputs = Record<string, unknown>;

/** What make_main_checkpoints.mjs writes per fixture. */
interface Fixture {
  what: string;
  class: 'SequenceModel' | 'Seq2Seq';
  options: SequenceModelOptions | Seq2SeqOptions;
  train: RecordedTrain;
  notInFile: (keyof RecordedTrain)[];
  file: { name: string; bytes: number; sha256: string; crc32: string };
  stepsBeforeCheckpoint: number;
  nextBatches: (Batch | Seq2SeqBatch)[];
  nextLosses: number[];
  probeBatch: Batch | Seq2SeqBatch;
  atCheckpoint: Outputs;
  afterNextSteps: Outputs;
  generatedOn: { adapter: Record<string, unknown>; commit: string | null };
}

const dir = (name: string) => fileURLToPath(new URL(`../fixtures/main_checkpoints/${name}`, import.meta.url));
const load = (name: string) => ({
  fx: JSON.parse(readFileSync(dir(`${name}.json`), 'utf8')) as Fixture,
  bytes: new Uint8Array(readFileSync(dir(`${name}.safetensors`))),
});

const SCHEDULES: Record<ScheduleSpec['fn'], (...args: number[]) => LRSchedule> = {
  constantLR,
  stepLR,
  exponentialLR,
  cosineLR,
};
const schedule = (s: ScheduleSpec): LRSchedule => SCHEDULES[s.fn](...s.args);

/** Training options of either model (each fixture records only keys its class takes). */
type LiveTrain = TrainOptions & Seq2SeqTrainOptions;

/** The recorded training options as the model takes them (the schedule made a function again). */
function liveTrain<T extends Partial<RecordedTrain>>(train: T): Omit<T, 'schedule'> & { schedule?: LRSchedule } {
  const { schedule: s, ...rest } = train;
  return s ? { ...rest, schedule: schedule(s) } : rest;
}

/** A model behind one interface: SequenceModel and Seq2Seq have the same training/checkpoint calls. */
type AnyModel = SequenceModel | Seq2Seq;
function build(gpu: Gpu, fx: Fixture): AnyModel {
  return fx.class === 'SequenceModel'
    ? new SequenceModel(gpu, fx.options as SequenceModelOptions)
    : new Seq2Seq(gpu, fx.options as Seq2SeqOptions);
}
const trainStep = (m: AnyModel, b: Batch | Seq2SeqBatch) =>
  m instanceof SequenceModel
    ? m.trainStep(b as Batch, { readLoss: true })
    : m.trainStep(b as Seq2SeqBatch, { readLoss: true });

/** The same calls, in the same order, as make_main_checkpoints.mjs's probe(). */
async function probe(m: AnyModel, fx: Fixture): Promise<Outputs> {
  const o: Outputs = {};
  if (m instanceof SequenceModel) {
    const b = fx.probeBatch as Batch;
    const opts = fx.options as SequenceModelOptions;
    o.evaluate = await m.evaluate(b);
    o.predict = Array.from(await m.predict(b.inputs, b.seqLen, b.batch));
    if (opts.vocabSize !== undefined && opts.mode === 'manyToMany' && !opts.bidirectional) {
      o.generateGreedy = await m.generate([1, 2, 3], 8, { temperature: 0 });
      o.generateSampled = await m.generate([4], 8, { temperature: 0.9, topK: 4, seed: 6 });
    }
  } else {
    const b = fx.probeBatch as Seq2SeqBatch;
    o.evaluate = await m.evaluate(b);
    const greedy = await m.greedyDecode(b.src, { maxLen: 7 });
    o.greedyTokens = greedy.tokens;
    o.greedyAttention = greedy.attention;
    const beam = await m.beamSearch(b.src, { beamWidth: 3, maxLen: 7, lengthPenalty: 0.6 });
    o.beamTokens = beam.tokens;
    o.beamScores = beam.scores;
  }
  return o;
}

/** Outputs holding token ids (compared only on the recording adapter) vs float values. */
const TOKEN_OUTPUTS = new Set(['generateGreedy', 'generateSampled', 'greedyTokens', 'beamTokens']);

/**
 * The first place where `got` differs from `want` (numbers: Object.is when exact, else relative
 * 1e-3), or null when they agree.
 */
function firstDifference(want: unknown, got: unknown, path: string, exact: boolean): string | null {
  if (typeof want === 'number') {
    if (typeof got !== 'number') return `${path}: ${String(got)} instead of ${want}`;
    if (exact ? Object.is(want, got) : Math.abs(want - got) <= 1e-3 * Math.max(1, Math.abs(want))) return null;
    return `${path}: ${got} instead of ${want}`;
  }
  if (want === null || typeof want !== 'object')
    return Object.is(want, got) ? null : `${path}: ${JSON.stringify(got)} instead of ${JSON.stringify(want)}`;
  if (got === null || typeof got !== 'object')
    return `${path}: ${JSON.stringify(got)} instead of an ${Array.isArray(want) ? 'array' : 'object'}`;
  const wk = Object.keys(want);
  const gk = Object.keys(got);
  if (wk.join() !== gk.join()) return `${path}: keys/length [${gk.join()}] instead of [${wk.join()}]`;
  for (const k of wk) {
    const d = firstDifference(
      (want as Record<string, unknown>)[k],
      (got as Record<string, unknown>)[k],
      `${path}.${k}`,
      exact,
    );
    if (d) return d;
  }
  return null;
}

/** Throws at the first element whose bits differ (−0 ≠ 0, NaN payloads count). */
function expectSameBits(what: string, a: NamedTensor, b: NamedTensor): void {
  expect(b.shape, `${what}: shape`).toEqual(a.shape);
  const x = new Uint32Array(Float32Array.from(a.data).buffer);
  const y = new Uint32Array(Float32Array.from(b.data).buffer);
  expect(y.length, `${what}: length`).toBe(x.length);
  for (let i = 0; i < x.length; i++)
    if (x[i] !== y[i]) throw new Error(`${what}: element ${i} is ${b.data[i]}, the file has ${a.data[i]}`);
}

const isParameter = (name: string) => !name.startsWith('optimizer.') && !name.startsWith('seqgpu.');

let gpu: Gpu;
let exact = true;
beforeAll(async () => {
  gpu = await testGpu();
  // The kernels the fixtures were recorded with: since 9f122ff a software adapter's default GEMM is
  // the register-tiled one (shaders/matmul_registers.wgsl), which sums in another order (outputs
  // differ in the last bits, e.g. predict 0.020880425 vs 0.020880431). The exact comparisons
  // below are about the file and the restored state, so they run on the recorded arithmetic; the
  // new kernel is checked against float64 in matmulVariants.test.ts.
  gpu.tuning.gemmVariant = 'workgroup';
  const recorded = load(NAMES[0]).fx.generatedOn.adapter;
  const info = gpu.adapterInfo as unknown as Record<string, unknown>;
  exact = ['vendor', 'architecture', 'device', 'description'].every((k) => info[k] === recorded[k]);
  if (!exact)
    console.log(
      `checkpointCompat: adapter ${JSON.stringify(info)} is not the recording one ` +
        `(${JSON.stringify(recorded)}): losses/floats to 1e-3, tokens not compared; file ` +
        `checks stay exact`,
    );
});
afterAll(() => gpu?.destroy());

describe('checkpoints written before the Module/Trainer rebuild still load and train identically', () => {
  it('the fixture files are the committed ones (size, SHA-256, CRC-32) and valid checkpoints', () => {
    for (const name of NAMES) {
      const { fx, bytes } = load(name);
      expect(fx.file.name).toBe(`${name}.safetensors`);
      expect(bytes.length, `${name}: size`).toBe(fx.file.bytes);
      expect(
        createHash('sha256').update(bytes).digest('hex'),
        `${name}: SHA-256 (the fixture must not be regenerated)`,
      ).toBe(fx.file.sha256);
      expect(fx.file.bytes, `${name}: fixtures stay small`).toBeLessThan(100_000);
      const { metadata } = readCheckpoint(bytes); // validates the layout and the whole-file CRC
      expect(zlibCrc32(bytes).toString(16).padStart(8, '0'), `${name}: CRC-32 of the bytes`).toBe(fx.file.crc32);
      expect(metadata['seqgpu.class']).toBe(fx.class);
      expect(JSON.parse(metadata['seqgpu.config'])).toMatchObject(fx.options);
      expect(metadata['optimizer.step']).toBe(String(fx.stepsBeforeCheckpoint));
    }
  });

  for (const name of NAMES) {
    for (const variant of ['A', 'B'] as const) {
      const how =
        variant === 'A'
          ? 'fresh model, loadCheckpoint(bytes, { train: what the file lacks })'
          : 'configureTraining(recorded), then loadCheckpoint(bytes)';
      it(`${name} (${variant}: ${how})`, async () => {
        const { fx, bytes } = load(name);
        const file = readCheckpoint(bytes);
        const model = build(gpu, fx);
        try {
          if (variant === 'A') {
            const train: Partial<RecordedTrain> = Object.fromEntries(fx.notInFile.map((k) => [k, fx.train[k]]));
            if (fx.notInFile.length)
              model.loadCheckpoint(bytes, { train: liveTrain(train) as Omit<LiveTrain, 'optimizer'> });
            else model.loadCheckpoint(bytes);
          } else {
            model.configureTraining(liveTrain(fx.train) as LiveTrain);
            model.loadCheckpoint(bytes);
          }

          // Parameters: the model's state dict is the file's, bit for bit.
          const dict = await model.stateDict();
          const params = Object.keys(file.tensors).filter(isParameter);
          expect(Object.keys(dict).sort(), `${name}: parameter names`).toEqual([...params].sort());
          for (const k of params) expectSameBits(`${name}: ${k}`, file.tensors[k], dict[k]);
          expect(model.optimizerState?.step, `${name}: optimizer step`).toBe(fx.stepsBeforeCheckpoint);

          // Everything else the file holds (moments, carried state, counters, hyperparameters):
          // saved again right away, it is the same, tensor for tensor and key for key.
          const again = readCheckpoint(await model.saveCheckpoint());
          expect(Object.keys(again.tensors), `${name}: tensors of the re-saved checkpoint`).toEqual(
            Object.keys(file.tensors),
          );
          for (const k of Object.keys(file.tensors))
            expectSameBits(`${name}: re-saved ${k}`, file.tensors[k], again.tensors[k]);
          // The metadata too (optimizer class, step, param_groups, clipping, the coin's counters),
          // except that a rebuilt model may write more config keys (and so another CRC): the
          // file's config must be contained in the new one, key for key.
          const { 'seqgpu.config': config, 'seqgpu.file_crc32': _crc, ...meta } = again.metadata;
          const { 'seqgpu.config': fileConfig, 'seqgpu.file_crc32': _fileCrc, ...fileMeta } = file.metadata;
          expect(meta, `${name}: metadata of the re-saved checkpoint`).toEqual({ ...fileMeta });
          expect(JSON.parse(config), `${name}: config of the re-saved checkpoint`).toMatchObject(
            JSON.parse(fileConfig),
          );

          const compare = (what: string, want: Outputs, got: Outputs) => {
            for (const k of Object.keys(want)) {
              if (!exact && TOKEN_OUTPUTS.has(k)) continue;
              const d = firstDifference(want[k], got[k], k, exact);
              if (d) throw new Error(`${name} (${variant}): ${what}: ${d}`);
            }
            expect(Object.keys(got).sort(), `${name}: ${what}: outputs`).toEqual(Object.keys(want).sort());
          };
          compare('outputs at the checkpoint', fx.atCheckpoint, await probe(model, fx));

          const losses: number[] = [];
          for (const b of fx.nextBatches) losses.push((await trainStep(model, b))!);
          const d = firstDifference(fx.nextLosses, losses, 'nextLosses', exact);
          if (d)
            throw new Error(
              `${name} (${variant}): the next 3 training steps: ${d} ` +
                `(all: ${losses.join(', ')} vs ${fx.nextLosses.join(', ')})`,
            );
          if (exact)
            for (let i = 0; i < losses.length; i++)
              expect(Object.is(losses[i], fx.nextLosses[i]), `${name}: loss ${i}`).toBe(true);

          compare('outputs after the next 3 steps', fx.afterNextSteps, await probe(model, fx));

          const tensors = Object.keys(file.tensors);
          console.log(
            `${name} (${variant}): ${fx.file.bytes} B, ${params.length} parameters ` +
              `+ ${tensors.length - params.length} training tensors bit-identical, ` +
              (`step ${fx.stepsBeforeCheckpoint}; next ` +
                `losses ${exact ? 'bit-identical' : '≈ (other adapter)'} ` +
                `[${losses.map((x) => x.toPrecision(6)).join(', ')}]; `) +
              `${Object.keys(fx.atCheckpoint)
                .filter((k) => exact || !TOKEN_OUTPUTS.has(k))
                .join(', ')} ${exact ? 'identical' : '≈'} before and after`,
          );
        } finally {
          model.destroy();
        }
      });
    }
  }
});
