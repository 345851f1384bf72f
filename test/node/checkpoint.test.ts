// Checkpoints (src/nn/checkpoint.ts): a model's parameters and optimizer state in one safetensors
// file under PyTorch's names. Checked here: save → load into a fresh model → save is byte-identical;
// a model restored mid-training continues bit-identically (SequenceModel with Adam, a schedule and
// dropout; SGD with momentum; Seq2Seq with scheduled teacher forcing); bare layers round-trip; the
// version-2 CRC covers every byte (zlib.crc32 computes the same; flipping any bit of a file is
// refused) and version-1 files (data-only CRC) still load; a table of bad files each throws an
// ArgumentError (a ShapeError for sizes and offsets) naming the problem and leaves the model
// exactly as it was; a checkpoint written by PyTorch 1.13 loads and steps as in PyTorch (committed
// fixture, test/fixtures/make_checkpoint_fixture.py, version 1), and PyTorch loads seqgpu's
// checkpoints and steps as seqgpu does (test/fixtures/load_checkpoint.py, run live: python3-torch
// is installed by tools/setup.sh).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ArgumentError,
  GRU,
  LSTM,
  MultiHeadAttention,
  RNN,
  Seq2Seq,
  SequenceModel,
  ShapeError,
  cosineLR,
  crc32,
  parseSafetensors,
  readCheckpoint,
  reversePair,
  rng,
  writeSafetensors,
  TOY_BOS,
  TOY_EOS,
  TOY_PAD,
  TOY_VOCAB,
  type Batch,
  type CheckpointFile,
  type Gpu,
  type NamedTensor,
  type SequenceModelOptions,
  type TrainOptions,
} from '../../src/index.js';
import torchFixture from '../fixtures/checkpoint_torch.json';
import { dataStart, editHeader, writeSealed, zlibFileCrc } from '../checks/fileFuzz.js';
import { assertClose } from '../checks/util.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

const fixturePath = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));

/** Throws at the first byte where a and b differ. */
function expectSameBytes(what: string, a: Uint8Array, b: Uint8Array): void {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  if (i < n || a.length !== b.length)
    throw new Error(`${what}: files differ at byte ${i} (lengths ${a.length}, ${b.length})`);
}

/** Throws at the first element whose bits differ (so −0 ≠ 0, as a bit-exact check must). */
function expectSameBits(what: string, a: ArrayLike<number>, b: ArrayLike<number>): void {
  const x = new Uint32Array(Float32Array.from(a).buffer);
  const y = new Uint32Array(Float32Array.from(b).buffer);
  if (x.length !== y.length) throw new Error(`${what}: ${x.length} values vs ${y.length}`);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) throw new Error(`${what}: element ${i} is ${a[i]} vs ${b[i]}`);
}

function expectSameDicts(what: string, a: Record<string, NamedTensor>, b: Record<string, NamedTensor>): void {
  expect(Object.keys(b)).toEqual(Object.keys(a));
  for (const k of Object.keys(a)) {
    expect(b[k].shape, `${what}: ${k}`).toEqual(a[k].shape);
    expectSameBits(`${what}: ${k}`, a[k].data, b[k].data);
  }
}

function tokenBatches(seed: number, n: number, T: number, B: number, V: number): Batch[] {
  const rand = rng(seed);
  const ids = (k: number) => Int32Array.from({ length: k }, () => Math.floor(rand() * V));
  return Array.from({ length: n }, () => ({ inputs: ids(T * B), targets: ids(T * B), seqLen: T, batch: B }));
}

/** A well-formed version-2 file (CRC sealed with zlib) with `edit` applied to its tensors and metadata. */
function rewrite(bytes: Uint8Array, edit: (f: CheckpointFile) => void): Uint8Array {
  const f = readCheckpoint(bytes);
  edit(f);
  return writeSealed(f.tensors, f.metadata);
}

/** The bytes with the first occurrence of the ASCII text `from` replaced by `to` (same length). */
function replaceText(bytes: Uint8Array, from: string, to: string): Uint8Array {
  const at = Buffer.from(bytes).indexOf(from);
  if (at < 0 || from.length !== to.length)
    throw new Error(`replaceText: '${from}' not found, or not as long as '${to}'`);
  const out = new Uint8Array(bytes);
  out.set(new TextEncoder().encode(to), at);
  return out;
}

const renameKey = (t: Record<string, NamedTensor>, from: string, to: string) => {
  const entries = Object.entries(t).map(([k, v]) => [k === from ? to : k, v] as const);
  for (const k of Object.keys(t)) delete t[k];
  for (const [k, v] of entries) t[k] = v;
};
const setGroup = (f: CheckpointFile, patch: Record<string, unknown>) => {
  const groups = JSON.parse(f.metadata['optimizer.param_groups']);
  Object.assign(groups[0], patch);
  f.metadata['optimizer.param_groups'] = JSON.stringify(groups);
};

const lmOptions: SequenceModelOptions = {
  cell: 'lstm',
  vocabSize: 11,
  embeddingDim: 5,
  hiddenSize: 7,
  numLayers: 2,
  dropout: 0.25,
  outputSize: 11,
  mode: 'manyToMany',
  loss: 'crossEntropy',
  seed: 3,
};
const schedule = cosineLR(20);
const lmTrain: TrainOptions = { optimizer: { kind: 'adam', lr: 0.02, clipNorm: 0.5 }, schedule, carryState: true };

describe('checkpoints (Node, Dawn)', () => {
  it(
    'SequenceModel + Adam (truncated BPTT): layout, byte-identical round trip, ' + 'bit-identical continued training',
    async () => {
      const batches = tokenBatches(1, 7, 5, 3, 11);
      const a = new SequenceModel(gpu, lmOptions);
      a.configureTraining(lmTrain);
      for (const b of batches.slice(0, 3)) await a.trainStep(b);
      const bytes = await a.saveCheckpoint();
      const saved = await a.stateDict();

      // The layout: parameters under PyTorch names, then torch.optim.Adam's state; metadata strings.
      const file = readCheckpoint(bytes);
      const names = a.store.names;
      expect(names[0]).toBe('embedding.weight');
      expect(Object.keys(file.tensors)).toEqual([
        ...names,
        ...names.map((n) => `optimizer.state.${n}.exp_avg`),
        ...names.map((n) => `optimizer.state.${n}.exp_avg_sq`),
        'seqgpu.carried.h.batch3',
        'seqgpu.carried.c.batch3',
      ]);
      expect(file.tensors['optimizer.state.rnn.weight_hh_l1.exp_avg_sq'].shape).toEqual([28, 7]);
      expect(file.tensors['seqgpu.carried.c.batch3'].shape).toEqual([2, 3, 7]);
      expect(Array.from(file.tensors['seqgpu.carried.c.batch3'].data).some((x) => x !== 0)).toBe(true);
      expect(file.metadata).toMatchObject({
        format: 'pt',
        'seqgpu.checkpoint': '2',
        'seqgpu.class': 'SequenceModel',
        'optimizer.class': 'Adam',
        'optimizer.step': '3',
      });
      const group = JSON.parse(file.metadata['optimizer.param_groups'])[0];
      expect(group).toMatchObject({
        initial_lr: 0.02,
        betas: [0.9, 0.999],
        eps: 1e-8,
        weight_decay: 0,
        amsgrad: false,
        maximize: false,
        params: names,
      });
      expect(group.lr).toBe(schedule(0.02, 2)); // the rate of the last step taken
      expect(JSON.parse(file.metadata['optimizer.seqgpu'])).toEqual({
        clipNorm: 0.5,
        clipValue: null,
        trackGradNorm: false,
      });
      expect(JSON.parse(file.metadata['seqgpu.config'])).toMatchObject({
        cell: 'lstm',
        hiddenSize: 7,
        numLayers: 2,
        dropout: 0.25,
      });
      const moments = await a.optimizerState!.readState();
      const slot = a.store.slot('head.weight');
      expectSameBits(
        'exp_avg of head.weight',
        file.tensors['optimizer.state.head.weight.exp_avg'].data,
        moments.buffers.m.subarray(slot.offset, slot.offset + slot.size),
      );
      expect(Array.from(moments.buffers.v.subarray(slot.offset, slot.offset + slot.size)).some((x) => x !== 0)).toBe(
        true,
      );

      // A fresh model (same options: dropout masks come from the seed) restored from the file.
      const b = new SequenceModel(gpu, lmOptions);
      b.loadCheckpoint(bytes, { train: { schedule, carryState: true } });
      expectSameBytes('save → load → save', await b.saveCheckpoint(), bytes);
      expectSameDicts('parameters', saved, await b.stateDict());
      expect(b.optimizerState!.step).toBe(3);
      // A model with another seed takes the same weights.
      const c = new SequenceModel(gpu, { ...lmOptions, seed: 42 });
      c.loadCheckpoint(bytes, { optimizer: false });
      expectSameDicts('parameters (other seed)', saved, await c.stateDict());
      expect(c.optimizerState).toBeNull(); // weights only: no optimizer was configured or restored
      c.destroy();

      // Both continue on the same batches: every loss and the final state are bit-identical.
      for (const batch of batches.slice(3)) {
        const la = await a.trainStep(batch, { readLoss: true });
        const lb = await b.trainStep(batch, { readLoss: true });
        expect(Number.isFinite(la)).toBe(true);
        expect(Object.is(la, lb), `loss ${la} vs ${lb}`).toBe(true);
      }
      expectSameBytes('after 4 more steps', await b.saveCheckpoint(), await a.saveCheckpoint());

      // Control: the same weights with a FRESH optimizer state drift apart at the first step.
      const d = new SequenceModel(gpu, lmOptions);
      d.loadCheckpoint(bytes, { optimizer: false });
      d.configureTraining(lmTrain);
      const e = new SequenceModel(gpu, lmOptions);
      e.loadCheckpoint(bytes, { train: { schedule, carryState: true } });
      await d.trainStep(batches[3]);
      await e.trainStep(batches[3]);
      const [wd, we] = [await d.stateDict(), await e.stateDict()];
      expect(Array.from(wd['head.weight'].data).some((x, i) => x !== we['head.weight'].data[i])).toBe(true);
      for (const m of [a, b, d, e]) m.destroy();
    },
  );

  it('SequenceModel + SGD (momentum, nesterov, weight decay) and plain SGD: round trip and continuation', async () => {
    const opts: SequenceModelOptions = {
      cell: 'gru',
      inputSize: 3,
      hiddenSize: 5,
      numLayers: 1,
      outputSize: 2,
      mode: 'manyToOne',
      loss: 'mse',
      seed: 8,
    };
    const rand = rng(5);
    const batches: Batch[] = Array.from({ length: 5 }, () => ({
      inputs: Float32Array.from({ length: 4 * 3 * 3 }, () => 2 * rand() - 1),
      targets: Float32Array.from({ length: 3 * 2 }, () => 2 * rand() - 1),
      seqLen: 4,
      batch: 3,
    }));
    for (const optimizer of [
      { kind: 'sgd' as const, lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01, clipValue: 0.3 },
      { kind: 'sgd' as const, lr: 0.05 },
    ]) {
      const a = new SequenceModel(gpu, opts);
      a.configureTraining({ optimizer });
      // Step 0: zero moments; a file without them (torch's state is empty before its first step) loads the same.
      const fresh = await a.saveCheckpoint();
      expect(readCheckpoint(fresh).metadata['optimizer.step']).toBe('0');
      const z = new SequenceModel(gpu, opts);
      z.loadCheckpoint(
        rewrite(fresh, (f) =>
          Object.keys(f.tensors)
            .filter((k) => k.startsWith('optimizer.state.'))
            .forEach((k) => delete f.tensors[k]),
        ),
      );
      expectSameBytes('step 0', await z.saveCheckpoint(), fresh);
      z.destroy();
      for (const batch of batches.slice(0, 2)) await a.trainStep(batch);
      const bytes = await a.saveCheckpoint();
      const file = readCheckpoint(bytes);
      const state = Object.keys(file.tensors).filter((k) => k.startsWith('optimizer.state.'));
      expect(state).toEqual(optimizer.momentum ? a.store.names.map((n) => `optimizer.state.${n}.momentum_buffer`) : []);
      expect(JSON.parse(file.metadata['optimizer.param_groups'])[0]).toMatchObject({
        lr: optimizer.lr,
        momentum: optimizer.momentum ?? 0,
        dampening: 0,
        nesterov: !!optimizer.nesterov,
        weight_decay: optimizer.weightDecay ?? 0,
      });
      expect(file.metadata['optimizer.class']).toBe('SGD');
      const b = new SequenceModel(gpu, opts);
      b.loadCheckpoint(bytes);
      expectSameBytes(`${JSON.stringify(optimizer)}: save → load → save`, await b.saveCheckpoint(), bytes);
      for (const batch of batches.slice(2)) {
        const [la, lb] = [await a.trainStep(batch, { readLoss: true }), await b.trainStep(batch, { readLoss: true })];
        expect(Object.is(la, lb), `loss ${la} vs ${lb}`).toBe(true);
      }
      expectSameBytes(
        `${JSON.stringify(optimizer)}: after 3 more steps`,
        await b.saveCheckpoint(),
        await a.saveCheckpoint(),
      );
      a.destroy();
      b.destroy();
    }
  });

  it(
    'Seq2Seq + AdamW with scheduled teacher forcing: round trip and bit-identical ' + 'continuation (coin restored)',
    async () => {
      const opts = {
        cell: 'lstm' as const,
        srcVocab: TOY_VOCAB,
        tgtVocab: TOY_VOCAB,
        embeddingDim: 6,
        hiddenSize: 8,
        attention: 'general' as const,
        bosToken: TOY_BOS,
        eosToken: TOY_EOS,
        padToken: TOY_PAD,
        seed: 5,
      };
      const train = { optimizer: { kind: 'adamw' as const, lr: 0.01, clipNorm: 1 }, teacherForcingRatio: 0.5, seed: 7 };
      const rand = rng(9);
      const batches = Array.from({ length: 5 }, () => {
        const pairs = Array.from({ length: 3 }, () => reversePair(rand, 4, 4)); // one shape: one plan
        return { src: pairs.map((p) => p.src), tgt: pairs.map((p) => p.tgt) };
      });
      const a = new Seq2Seq(gpu, opts);
      a.configureTraining(train);
      for (const batch of batches.slice(0, 2)) await a.trainStep(batch);
      const bytes = await a.saveCheckpoint();
      const file = readCheckpoint(bytes);
      expect(file.metadata['optimizer.class']).toBe('AdamW');
      expect(JSON.parse(file.metadata['seqgpu.training'])).toEqual({
        teacherForcingSeed: 7,
        teacherForcingDraws: expect.any(Number),
      });
      expect(JSON.parse(file.metadata['seqgpu.training']).teacherForcingDraws).toBeGreaterThan(0);
      expect(Object.keys(file.tensors)).toContain('optimizer.state.attention.weight.exp_avg_sq');
      const b = new Seq2Seq(gpu, opts);
      b.loadCheckpoint(bytes, { train: { teacherForcingRatio: 0.5 } });
      expectSameBytes('save → load → save', await b.saveCheckpoint(), bytes);
      const counters = (edit: (c: Record<string, unknown>) => void) =>
        rewrite(bytes, (f) => {
          const c = JSON.parse(f.metadata['seqgpu.training']);
          edit(c);
          f.metadata['seqgpu.training'] = JSON.stringify(c);
        });
      expect(() => b.loadCheckpoint(counters((c) => delete c.teacherForcingDraws))).toThrow(
        new RegExp(
          String.raw`Seq2Seq\.loadCheckpoint: seqgpu\.training has no ` +
            String.raw`'teacherForcingDraws' \(it holds teacherForcingSeed, ` +
            String.raw`teacherForcingDraws\)`,
        ),
      );
      expect(() => b.loadCheckpoint(counters((c) => (c.teacherForcingSeed = '7')))).toThrow(
        /seqgpu\.training\.teacherForcingSeed is "7"; expected an integer ≥ 0/,
      );
      expectSameBytes('after two rejected loads', await b.saveCheckpoint(), bytes);
      for (const batch of batches.slice(2)) {
        const [la, lb] = [await a.trainStep(batch, { readLoss: true }), await b.trainStep(batch, { readLoss: true })];
        expect(Object.is(la, lb), `loss ${la} vs ${lb}`).toBe(true);
      }
      expectSameBytes('after 3 more steps', await b.saveCheckpoint(), await a.saveCheckpoint());
      const lm = new SequenceModel(gpu, lmOptions);
      expect(() => lm.loadCheckpoint(bytes)).toThrow(/holds a Seq2Seq checkpoint, not a SequenceModel one/);
      for (const m of [a, b, lm]) m.destroy();
    },
  );

  it(
    'bare layers (LSTM, GRU, RNN, MultiHeadAttention): parameters round-trip; class ' + 'and config are checked',
    async () => {
      const layers = [
        [
          new LSTM(gpu, { inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: true, seed: 1 }),
          new LSTM(gpu, { inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: true, seed: 2 }),
        ],
        [
          new GRU(gpu, { inputSize: 5, hiddenSize: 3, seed: 1 }),
          new GRU(gpu, { inputSize: 5, hiddenSize: 3, seed: 2 }),
        ],
        [
          new RNN(gpu, { inputSize: 2, hiddenSize: 3, nonlinearity: 'relu', bias: false, seed: 1 }),
          new RNN(gpu, { inputSize: 2, hiddenSize: 3, nonlinearity: 'relu', bias: false, seed: 2 }),
        ],
        [
          new MultiHeadAttention(gpu, { embedDim: 8, numHeads: 2, seed: 1 }),
          new MultiHeadAttention(gpu, { embedDim: 8, numHeads: 2, seed: 2 }),
        ],
      ] as const;
      for (const [src, dst] of layers) {
        const bytes = await src.saveCheckpoint();
        const file = readCheckpoint(bytes);
        expect(Object.keys(file.tensors)).toEqual(src.parameterShapes().map((p) => p.name));
        expect(file.metadata['optimizer.class']).toBeUndefined();
        dst.loadCheckpoint(bytes);
        expectSameBytes(`${file.metadata['seqgpu.class']}: save → load → save`, await dst.saveCheckpoint(), bytes);
        expectSameDicts(file.metadata['seqgpu.class'], await src.stateDict(), await dst.stateDict());
      }
      const lstmBytes = await layers[0][0].saveCheckpoint();
      // Same shapes, different meaning: refused by the config check.
      const reluBytes = await layers[2][0].saveCheckpoint();
      const tanh = new RNN(gpu, { inputSize: 2, hiddenSize: 3, bias: false });
      expect(() => tanh.loadCheckpoint(reluBytes)).toThrow(
        /RNN has nonlinearity = "relu", this one has nonlinearity = "tanh"/,
      );
      const heads4 = new MultiHeadAttention(gpu, { embedDim: 8, numHeads: 4 });
      const pending = layers[3][0].saveCheckpoint(); // forgot the await
      expect(() => heads4.loadCheckpoint(pending as never)).toThrow(
        /expected the file's bytes \(Uint8Array or ArrayBuffer\), got object/,
      );
      await pending;
      expect(() => heads4.loadCheckpoint(lstmBytes)).toThrow(/holds a LSTM checkpoint, not a MultiHeadAttention one/);
      const mhaBytes = await layers[3][0].saveCheckpoint();
      expect(() => heads4.loadCheckpoint(mhaBytes)).toThrow(/has numHeads = 2, this one has numHeads = 4/);
      const gru = new GRU(gpu, { inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: true });
      expect(() => gru.loadCheckpoint(lstmBytes)).toThrow(/holds a LSTM checkpoint, not a GRU one/);
      // A file with optimizer state: a bare layer refuses it, naming why.
      const withState = rewrite(lstmBytes, (f) => {
        f.metadata['optimizer.class'] = 'Adam';
        f.tensors['optimizer.state.weight_ih_l0.exp_avg'] = f.tensors.weight_ih_l0;
      });
      expect(() => layers[0][1].loadCheckpoint(withState)).toThrow(
        /the file holds optimizer state; a bare LSTM loads parameters only/,
      );
      // A PyTorch state_dict saved with safetensors (no seqgpu metadata) loads as parameters.
      const torchFile = readFileSync(fixturePath('lstm_l2_bidir.safetensors'));
      const torchLstm = new LSTM(gpu, { inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: true });
      torchLstm.loadCheckpoint(torchFile);
      expectSameDicts('PyTorch state_dict', parseSafetensors(torchFile), await torchLstm.stateDict());
      for (const l of [...layers.flat(), tanh, heads4, gru, torchLstm]) l.destroy();
    },
  );

  it('the CRC covers every byte (as zlib.crc32 computes it); version-1 files (data-only CRC) still load', async () => {
    // crc32 against zlib's, on random data, whole and continued.
    const rand = rng(11);
    const data = Uint8Array.from({ length: 4099 }, () => Math.floor(rand() * 256));
    expect(crc32(data)).toBe(zlibCrc32(data) >>> 0);
    expect(crc32(data.subarray(1000), crc32(data.subarray(0, 1000)))).toBe(zlibCrc32(data) >>> 0);
    expect(crc32(new Uint8Array(0))).toBe(0);
    // A saved file: its seqgpu.file_crc32 is zlib's CRC of the file with those 8 digits as "00000000".
    const gru = new GRU(gpu, { inputSize: 2, hiddenSize: 2, seed: 1 });
    const bytes = await gru.saveCheckpoint();
    const { metadata } = readCheckpoint(bytes);
    expect(metadata['seqgpu.checkpoint']).toBe('2');
    expect(metadata['seqgpu.crc32']).toBeUndefined();
    expect(metadata['seqgpu.file_crc32']).toMatch(/^[0-9a-f]{8}$/);
    expect(metadata['seqgpu.file_crc32']).toBe(zlibFileCrc(bytes));
    // Every bit of every byte — length field, header, padding, CRC digits, data — is covered.
    let refused = 0;
    for (let i = 0; i < bytes.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const x = new Uint8Array(bytes);
        x[i] ^= 1 << bit;
        try {
          readCheckpoint(x);
        } catch (e) {
          if (!(e instanceof ArgumentError)) throw e;
          refused++;
        }
      }
    }
    expect(refused, `of ${bytes.length * 8} single-bit flips`).toBe(bytes.length * 8);
    // Version 1: the same layout with seqgpu.crc32 over the data section (what PyTorch-side tools and
    // seqgpu before version 2 wrote): it loads, and its data is still checked; its header is not.
    const v1 = (file: Uint8Array, edit: (meta: Record<string, string>) => void = () => {}) => {
      const f = readCheckpoint(file);
      const meta: Record<string, string> = { ...f.metadata, 'seqgpu.checkpoint': '1' };
      delete meta['seqgpu.file_crc32'];
      edit(meta);
      const draft = writeSafetensors(f.tensors, { ...meta, 'seqgpu.crc32': '00000000' });
      return writeSafetensors(f.tensors, {
        ...meta,
        'seqgpu.crc32': (zlibCrc32(draft.subarray(dataStart(draft))) >>> 0).toString(16).padStart(8, '0'),
      });
    };
    const old = v1(bytes);
    const twin = new GRU(gpu, { inputSize: 2, hiddenSize: 2, seed: 2 });
    twin.loadCheckpoint(old);
    expectSameDicts('version 1', await gru.stateDict(), await twin.stateDict());
    const flipped = new Uint8Array(old);
    flipped[flipped.length - 1] ^= 1;
    expect(() => twin.loadCheckpoint(flipped)).toThrow(
      /the data section's CRC-32 is [0-9a-f]{8} but the header records [0-9a-f]{8}: the file is corrupt/,
    );
    expect(() =>
      twin.loadCheckpoint(
        v1(bytes, (m) => {
          m['seqgpu.file_crc32'] = '00000000';
        }),
      ),
    ).toThrow(/unknown key 'seqgpu\.file_crc32'; a version 1 checkpoint has .*seqgpu\.crc32/);
    expect(() =>
      twin.loadCheckpoint(
        v1(bytes, (m) => {
          m['seqgpu.checkpoint'] = '2';
        }),
      ),
    ).toThrow(/unknown key 'seqgpu\.crc32'; a version 2 checkpoint/);
    for (const l of [gru, twin]) l.destroy();
  });

  it(
    'bad files: each throws an ArgumentError (ShapeError for sizes and offsets) ' +
      'naming the problem and changes nothing; the next call works',
    async () => {
      const batches = tokenBatches(2, 3, 4, 2, 11);
      const model = new SequenceModel(gpu, { ...lmOptions, dropout: 0 });
      model.configureTraining(lmTrain);
      await model.trainStep(batches[0]);
      const good = await model.saveCheckpoint();
      // A file of the same model whose values differ everywhere (other steps): what a bad file would load.
      const other = new SequenceModel(gpu, { ...lmOptions, dropout: 0 });
      other.configureTraining({ optimizer: { kind: 'adam', lr: 0.5 }, carryState: true });
      await other.trainStep(batches[1]);
      await other.trainStep(batches[2]);
      const donor = await other.saveCheckpoint();
      other.destroy();
      const flipped = new Uint8Array(donor);
      flipped[flipped.length - 3] ^= 0x10;
      const lstmBytes = await model.rnn.saveCheckpoint();
      const setConfig = (f: CheckpointFile, patch: Record<string, unknown>) => {
        f.metadata['seqgpu.config'] = JSON.stringify({ ...JSON.parse(f.metadata['seqgpu.config']), ...patch });
      };
      const A = ArgumentError;
      const S = ShapeError;
      const cases: Array<[string, unknown, typeof ArgumentError, RegExp, unknown?]> = [
        ['not bytes', 'weights.safetensors', A, /expected the file's bytes \(Uint8Array or ArrayBuffer\), got string/],
        ['empty file', new Uint8Array(0), S, /the file is 0 bytes, too short for its 8-byte header length/],
        ['5 bytes', donor.subarray(0, 5), S, /the file is 5 bytes, too short/],
        [
          'cut in the header',
          donor.subarray(0, 100),
          S,
          /the header claims \d+ bytes but the file has 92 after the length \(truncated\?\)/,
        ],
        [
          'cut in the data',
          donor.subarray(0, donor.length - 10),
          S,
          /tensor 'seqgpu\.carried\.c\.batch2' ends at byte \d+, past the end of the file \(\d+\): truncated/,
        ],
        [
          'cut after the header',
          donor.subarray(0, dataStart(donor)),
          S,
          /ends at byte \d+, past the end of the file \(\d+\): truncated/,
        ],
        ['bytes appended', new Uint8Array([...donor, 1, 2, 3, 4]), S, /4 trailing bytes/],
        [
          'one data bit flipped',
          flipped,
          A,
          /the file's CRC-32 is [0-9a-f]{8} but the header records [0-9a-f]{8}: the file is corrupt/,
        ],
        [
          'a hyperparameter edited in the header',
          replaceText(donor, '\\"initial_lr\\":0.5', '\\"initial_lr\\":0.9'),
          A,
          /the file's CRC-32 is [0-9a-f]{8} but the header records [0-9a-f]{8}: the file is corrupt/,
        ],
        [
          'the CRC edited',
          replaceText(donor, readCheckpoint(donor).metadata['seqgpu.file_crc32'], '0123abcd'),
          A,
          /the file's CRC-32 is [0-9a-f]{8} but the header records 0123abcd/,
        ],
        [
          'the CRC in capitals',
          editHeader(donor, (h) => {
            h.__metadata__['seqgpu.file_crc32'] = h.__metadata__['seqgpu.file_crc32'].toUpperCase();
          }),
          A,
          /the header must hold "seqgpu\.file_crc32":"<8 lowercase hex digits>" exactly once, literally/,
        ],
        [
          'no CRC',
          editHeader(donor, (h) => {
            delete h.__metadata__['seqgpu.file_crc32'];
          }),
          A,
          /the version 2 checkpoint has no __metadata__\['seqgpu\.file_crc32'\]/,
        ],
        [
          'header length absurd',
          (() => {
            const x = new Uint8Array(donor);
            new DataView(x.buffer).setBigUint64(0, 1n << 40n, true);
            return x;
          })(),
          S,
          /header length field says \d+ bytes, more than the 100000000 allowed: not a safetensors file, or corrupt/,
        ],
        [
          'header not JSON',
          (() => {
            const x = new Uint8Array(donor);
            x[8] = 0x5b;
            x[9] = 0x7b;
            return x;
          })(),
          A,
          /the header is not valid JSON/,
        ],
        ['header an array', editHeader(donor, () => []), A, /the header must be a JSON object/],
        [
          'metadata not strings',
          editHeader(donor, (h) => {
            h.__metadata__['optimizer.step'] = 2;
          }),
          A,
          /__metadata__\['optimizer\.step'\] is 2 \(number\); safetensors metadata values are strings/,
        ],
        [
          'dtype I32',
          editHeader(donor, (h) => {
            h['head.bias'].dtype = 'I32';
          }),
          A,
          /tensor 'head\.bias' has dtype "I32"; seqgpu reads F32, F64, F16, BF16/,
        ],
        [
          'shape not integers',
          editHeader(donor, (h) => {
            h['head.bias'].shape = [5.5, 2];
          }),
          S,
          /tensor 'head\.bias' has shape \[5\.5,2\], expected a list of non-negative integers/,
        ],
        [
          'offsets span wrong',
          editHeader(donor, (h) => {
            h['head.bias'].shape = [10];
          }),
          S,
          /tensor 'head\.bias' F32\[10\] needs 40 bytes, its offsets span 44/,
        ],
        [
          'offsets overlap',
          editHeader(donor, (h) => {
            const [begin] = h['head.weight'].data_offsets;
            h['head.bias'].data_offsets = [begin, begin + 44];
          }),
          S,
          /tensor 'head\.weight' overlaps the tensor before it \(data_offsets \[\d+, \d+\]\): corrupt header/,
        ],
        [
          'offsets leave a hole',
          editHeader(donor, (h) => {
            const [b, e] = h['head.bias'].data_offsets;
            h['head.bias'].data_offsets = [b + 4, e + 4];
          }),
          S,
          /the data section has a hole of 4 bytes before tensor 'head\.bias': corrupt header/,
        ],
        [
          'an unknown seqgpu metadata key',
          rewrite(donor, (f) => {
            f.metadata['seqgpu.note'] = 'x';
          }),
          A,
          new RegExp(
            String.raw`__metadata__ has an unknown key 'seqgpu\.note'; a version 2 ` +
              String.raw`checkpoint has seqgpu\.checkpoint, .*seqgpu\.file_crc32`,
          ),
        ],
        [
          'an unknown optimizer metadata key',
          rewrite(donor, (f) => {
            f.metadata['optimizer.lr'] = '0.1';
          }),
          A,
          /__metadata__ has an unknown key 'optimizer\.lr'/,
        ],
        [
          'seqgpu keys without a version',
          editHeader(donor, (h) => {
            delete h.__metadata__['seqgpu.checkpoint'];
          }),
          A,
          /__metadata__ has seqgpu keys \(.*\) but no 'seqgpu\.checkpoint' \(the layout version\)/,
        ],
        [
          'layout version 3',
          rewrite(donor, (f) => {
            f.metadata['seqgpu.checkpoint'] = '3';
          }),
          A,
          /the file has checkpoint layout version '3'; this seqgpu reads versions 1 and 2/,
        ],
        [
          'missing parameter',
          rewrite(donor, (f) => renameKey(f.tensors, 'rnn.weight_ih_l1', 'rnn.weight_ih_l9')),
          A,
          /the file has no tensor 'rnn\.weight_ih_l1' \(\[28, 7\]\), a parameter of this SequenceModel/,
        ],
        [
          'unknown tensor',
          rewrite(donor, (f) => {
            f.tensors['decoder.bias'] = { shape: [2], data: new Float32Array(2) };
          }),
          A,
          new RegExp(
            String.raw`unexpected tensor 'decoder\.bias': neither a parameter of this ` +
              String.raw`SequenceModel \(embedding\.weight, .*\) nor optimizer state`,
          ),
        ],
        [
          'a tensor named __proto__',
          rewrite(donor, (f) => {
            f.tensors.__proto__ = { shape: [2], data: new Float32Array(2) };
          }),
          A,
          /unexpected tensor '__proto__'/,
        ],
        [
          'wrong shape',
          rewrite(donor, (f) => {
            f.tensors['head.bias'].shape = [1, 11];
          }),
          S,
          /tensor 'head\.bias' has shape \[1, 11\], expected \[11\]/,
        ],
        [
          'NaN weight',
          rewrite(donor, (f) => {
            f.tensors['rnn.bias_hh_l0'].data[5] = NaN;
          }),
          A,
          /tensor 'rnn\.bias_hh_l0' holds NaN at index 5; a checkpoint must be finite/,
        ],
        [
          'Inf moment',
          rewrite(donor, (f) => {
            f.tensors['optimizer.state.head.weight.exp_avg_sq'].data[0] = Infinity;
          }),
          A,
          /tensor 'optimizer\.state\.head\.weight\.exp_avg_sq' holds Infinity at index 0/,
        ],
        [
          'negative second moment',
          rewrite(donor, (f) => {
            f.tensors['optimizer.state.head.bias.exp_avg_sq'].data[3] = -1;
          }),
          A,
          new RegExp(
            String.raw`tensor 'optimizer\.state\.head\.bias\.exp_avg_sq' holds -1 at index ` +
              String.raw`3; a second moment \(a mean of squared gradients\) is ≥ 0`,
          ),
        ],
        [
          'missing moment',
          rewrite(donor, (f) => {
            delete f.tensors['optimizer.state.head.bias.exp_avg_sq'];
          }),
          A,
          /the file has no tensor 'optimizer\.state\.head\.bias\.exp_avg_sq' \(\[11\]\), state of its Adam optimizer/,
        ],
        [
          'SGD state in an Adam file',
          rewrite(donor, (f) => {
            f.tensors['optimizer.state.head.bias.momentum_buffer'] = { shape: [11], data: new Float32Array(11) };
          }),
          A,
          new RegExp(
            String.raw`unexpected tensor 'optimizer\.state\.head\.bias\.momentum_buffer' for ` +
              String.raw`a Adam optimizer \(its state is exp_avg, exp_avg_sq per parameter\)`,
          ),
        ],
        [
          'optimizer metadata without optimizer.class',
          rewrite(donor, (f) => {
            delete f.metadata['optimizer.class'];
          }),
          A,
          /__metadata__ has 'optimizer\.step' but no 'optimizer\.class'/,
        ],
        [
          'state without optimizer metadata',
          rewrite(donor, (f) => {
            for (const k of Object.keys(f.metadata))
              if (k.startsWith('optimizer.') || k === 'seqgpu.training') delete f.metadata[k];
          }),
          A,
          /tensor 'optimizer\.state\.[\w.]+' is training state but the file has no __metadata__\['optimizer\.class'\]/,
        ],
        [
          'unknown optimizer',
          rewrite(donor, (f) => {
            f.metadata['optimizer.class'] = 'RMSprop';
          }),
          A,
          /optimizer\.class is 'RMSprop'; seqgpu restores SGD, Adam and AdamW/,
        ],
        [
          'bad step',
          rewrite(donor, (f) => {
            f.metadata['optimizer.step'] = '-1';
          }),
          A,
          /optimizer\.step is '-1'; expected a non-negative integer/,
        ],
        [
          'no step',
          rewrite(donor, (f) => {
            delete f.metadata['optimizer.step'];
          }),
          A,
          /the file has optimizer\.class but no __metadata__\['optimizer\.step'\]/,
        ],
        [
          'param_groups not JSON',
          rewrite(donor, (f) => {
            f.metadata['optimizer.param_groups'] = '[{';
          }),
          A,
          /__metadata__\['optimizer\.param_groups'\] is not valid JSON/,
        ],
        [
          'two param groups',
          rewrite(donor, (f) => {
            const g = JSON.parse(f.metadata['optimizer.param_groups']);
            f.metadata['optimizer.param_groups'] = JSON.stringify([g[0], g[0]]);
          }),
          A,
          /param_groups must be a list of ONE group/,
        ],
        [
          'param names differ',
          rewrite(donor, (f) => setGroup(f, { params: ['head.weight'] })),
          A,
          new RegExp(
            String.raw`optimizer\.param_groups\[0\]\.params is \["head\.weight"\]; this ` +
              String.raw`model's parameters are \["embedding\.weight"`,
          ),
        ],
        [
          'an unknown param_group key',
          rewrite(donor, (f) => setGroup(f, { momentum: 0.9 })),
          A,
          new RegExp(
            String.raw`optimizer\.param_groups\[0\] has an unknown key 'momentum'; expected ` +
              String.raw`params, lr, weight_decay, maximize, betas, eps, amsgrad, initial_lr, ` +
              String.raw`foreach, fused, capturable, differentiable`,
          ),
        ],
        [
          'a missing param_group key',
          rewrite(donor, (f) => {
            const g = JSON.parse(f.metadata['optimizer.param_groups']);
            delete g[0].eps;
            f.metadata['optimizer.param_groups'] = JSON.stringify(g);
          }),
          A,
          /optimizer\.param_groups\[0\] has no 'eps' \(a number\)/,
        ],
        [
          'amsgrad a string',
          rewrite(donor, (f) => setGroup(f, { amsgrad: 'false' })),
          A,
          /optimizer\.param_groups\[0\]\.amsgrad is "false" \(a string\); expected a boolean/,
        ],
        [
          'betas out of range',
          rewrite(donor, (f) => setGroup(f, { betas: [1.5, 0.999] })),
          A,
          /the file's optimizer hyperparameters are invalid: .*beta1.*1\.5/,
        ],
        [
          'lr a string',
          rewrite(donor, (f) => setGroup(f, { lr: '0.1' })),
          A,
          /optimizer\.param_groups\[0\]\.lr is "0\.1" \(a string\); expected a number/,
        ],
        [
          'last lr negative',
          rewrite(donor, (f) => setGroup(f, { lr: -1 })),
          A,
          /the file's optimizer last learning rate \(param_groups\[0\]\.lr\) is invalid: .*lr.*-1/,
        ],
        [
          'amsgrad',
          rewrite(donor, (f) => setGroup(f, { amsgrad: true })),
          A,
          /the optimizer used amsgrad, which seqgpu does not implement/,
        ],
        [
          'clipping not an object',
          rewrite(donor, (f) => {
            f.metadata['optimizer.seqgpu'] = '3';
          }),
          A,
          /__metadata__\['optimizer\.seqgpu'\] must be a JSON object \{clipNorm, clipValue, trackGradNorm\}, got 3/,
        ],
        [
          'an unknown clipping key',
          rewrite(donor, (f) => {
            f.metadata['optimizer.seqgpu'] = '{"clipNorm":null,"clipValue":null,"trackGradNorm":false,"clip":1}';
          }),
          A,
          /optimizer\.seqgpu has an unknown key 'clip'; expected clipNorm, clipValue, trackGradNorm/,
        ],
        [
          'trackGradNorm a string',
          rewrite(donor, (f) => {
            f.metadata['optimizer.seqgpu'] = '{"clipNorm":null,"clipValue":null,"trackGradNorm":"true"}';
          }),
          A,
          /optimizer\.seqgpu\.trackGradNorm is "true" \(a string\); expected a boolean/,
        ],
        [
          'carried state of another shape',
          rewrite(donor, (f) => {
            f.tensors['seqgpu.carried.h.batch2'].shape = [4, 1, 7];
          }),
          S,
          /tensor 'seqgpu\.carried\.h\.batch2' has shape \[4, 1, 7\], expected \[2, 2, 7\]/,
        ],
        [
          'carried c missing',
          rewrite(donor, (f) => {
            delete f.tensors['seqgpu.carried.c.batch2'];
          }),
          A,
          /the state carried for batch 2 lacks c/,
        ],
        [
          'unknown seqgpu tensor',
          rewrite(donor, (f) => {
            f.tensors['seqgpu.carried.x.batch2'] = { shape: [1], data: new Float32Array(1) };
          }),
          A,
          new RegExp(
            String.raw`unexpected tensor 'seqgpu\.carried\.x\.batch2' \(a lstm SequenceModel ` +
              String.raw`saves seqgpu\.carried\.h and \.c\.batch<B>\)`,
          ),
        ],
        [
          'unknown counter',
          rewrite(donor, (f) => {
            f.metadata['seqgpu.training'] = '{"epoch":1}';
          }),
          A,
          /seqgpu\.training has an unknown counter 'epoch' \(this model saves none\)/,
        ],
        ['another class', lstmBytes, A, /the file holds a LSTM checkpoint, not a SequenceModel one/],
        [
          'another architecture',
          rewrite(donor, (f) => setConfig(f, { mode: 'manyToOne' })),
          S,
          /the checkpoint's SequenceModel has mode = "manyToOne", this one has mode = "manyToMany"/,
        ],
        [
          'config not JSON',
          rewrite(donor, (f) => {
            f.metadata['seqgpu.config'] = '{cell';
          }),
          A,
          /__metadata__\['seqgpu\.config'\] is not valid JSON/,
        ],
        [
          'an unknown config key',
          rewrite(donor, (f) => setConfig(f, { hidenSize: 7 })),
          A,
          new RegExp(
            String.raw`seqgpu\.config has an unknown key 'hidenSize'; expected cell, ` +
              String.raw`vocabSize, embeddingDim, paddingIdx, inputSize, hiddenSize`,
          ),
        ],
        [
          'a string for a boolean in the config',
          rewrite(donor, (f) => setConfig(f, { bidirectional: 'false' })),
          A,
          /seqgpu\.config\.bidirectional is "false" \(a string\); expected a boolean/,
        ],
        [
          'a string for a number in the config',
          rewrite(donor, (f) => setConfig(f, { dropout: '0' })),
          A,
          /seqgpu\.config\.dropout is "0" \(a string\); expected a number/,
        ],
        // (The models check `opts` with the shared options validator; loadCheckpoint checks it too.)
        ['options not an object', donor, A, /opt.* must be an (options )?object.*, got 7/, 7],
        ['an unknown option', donor, A, /unknown (key|option) 'optimiser'.*optimizer, train/, { optimiser: false }],
        [
          'options.optimizer a string',
          donor,
          A,
          /optimizer.* (is|must be) .*false.*boolean|optimizer.* must be true or false \(a boolean\), got 'false'/,
          { optimizer: 'false' },
        ],
      ];
      expect(cases.length).toBe(65);
      for (const [name, file, cls, message, opts] of cases) {
        const call = () => model.loadCheckpoint(file as Uint8Array, (opts ?? {}) as never);
        expect(call, name).toThrow(cls);
        expect(call, name).toThrow(message);
        expect(call, name).toThrow(/^SequenceModel\.loadCheckpoint: /);
        expectSameBytes(`after '${name}'`, await model.saveCheckpoint(), good);
      }
      // Still usable: the next step runs, and matches a model restored from the good file.
      const twin = new SequenceModel(gpu, { ...lmOptions, dropout: 0 });
      twin.loadCheckpoint(good, { train: { schedule, carryState: true } });
      const [lm, lt] = [
        await model.trainStep(batches[1], { readLoss: true }),
        await twin.trainStep(batches[1], { readLoss: true }),
      ];
      expect(Number.isFinite(lm) && Object.is(lm, lt)).toBe(true);
      // And the donor file itself (well formed) does load.
      model.loadCheckpoint(donor);
      expectSameBytes('donor loaded', await model.saveCheckpoint(), donor);
      model.destroy();
      twin.destroy();
    },
  );

  it('loads a checkpoint written by PyTorch 1.13 (Adam, 3 steps) and takes the next step as PyTorch does', async () => {
    const f = torchFixture;
    const c = f.config;
    const model = new SequenceModel(gpu, {
      cell: c.cell as 'lstm',
      vocabSize: c.vocabSize,
      embeddingDim: c.embeddingDim,
      hiddenSize: c.hiddenSize,
      numLayers: c.numLayers,
      bidirectional: c.bidirectional,
      outputSize: c.outputSize,
      mode: 'manyToMany',
      loss: 'crossEntropy',
    });
    model.loadCheckpoint(readFileSync(fixturePath('checkpoint_torch.safetensors')));
    expect(model.optimizerState!.step).toBe(3);
    expect(model.optimizerState!.options).toMatchObject({ kind: 'adam', lr: 0.02, clipNorm: 0.1 });
    const { inputs, targets, seqLen, batch } = f.batch;
    const logits = await model.predict(Int32Array.from(inputs), seqLen, batch);
    const worst: Record<string, number> = {};
    worst.logits = assertClose('logits vs PyTorch', logits, f.logits, { rtol: 1e-4, atol: 1e-5 }).worst;
    const loss = await model.trainStep(
      { inputs: Int32Array.from(inputs), targets: Int32Array.from(targets), seqLen, batch },
      { readLoss: true },
    );
    worst.loss = assertClose('loss vs PyTorch', [loss!], [f.loss], { rtol: 1e-5 }).worst;
    worst.gradNorm = assertClose('gradient norm vs PyTorch', [await model.optimizerState!.gradNorm()], [f.gradNorm], {
      rtol: 1e-4,
    }).worst;
    await expectAfterStep(model, f, worst);
    console.log(`PyTorch-written checkpoint, worst |err| / tolerance: ${JSON.stringify(worst)}`);
    model.destroy();
  });

  const python = findTorchPython();
  it('PyTorch 1.13 loads seqgpu checkpoints (load_checkpoint.py): same forward, same optimizer step', async () => {
    // Never skipped: tools/setup.sh installs python3-torch; without it this test fails and says so.
    expect(
      python,
      'no python3 that imports torch: run tools/setup.sh (apt python3-torch) or set SEQGPU_PYTHON',
    ).not.toBeNull();
    const dir = mkdtempSync(join(tmpdir(), 'seqgpu-ckpt-'));
    try {
      const cases: Array<{ opts: SequenceModelOptions; train: TrainOptions; batches: Batch[] }> = [
        {
          opts: { ...lmOptions, dropout: 0, bidirectional: true },
          train: { optimizer: { kind: 'adam', lr: 0.02, clipNorm: 0.3 } },
          batches: tokenBatches(3, 4, 5, 3, 11),
        },
        (() => {
          const rand = rng(4);
          const batches = Array.from({ length: 4 }, () => ({
            inputs: Float32Array.from({ length: 4 * 2 * 3 }, () => 2 * rand() - 1),
            targets: Float32Array.from({ length: 2 * 2 }, () => 2 * rand() - 1),
            seqLen: 4,
            batch: 2,
          }));
          return {
            opts: {
              cell: 'gru',
              inputSize: 3,
              hiddenSize: 6,
              numLayers: 2,
              outputSize: 2,
              mode: 'manyToOne',
              loss: 'mse',
              seed: 2,
            } as SequenceModelOptions,
            train: {
              optimizer: {
                kind: 'sgd',
                lr: 0.1,
                momentum: 0.9,
                nesterov: true,
                weightDecay: 0.01,
                clipValue: 0.05,
                trackGradNorm: true,
              },
            } as TrainOptions,
            batches,
          };
        })(),
        {
          opts: {
            cell: 'rnn',
            nonlinearity: 'relu',
            vocabSize: 7,
            embeddingDim: 3,
            hiddenSize: 4,
            outputSize: 7,
            mode: 'manyToMany',
            loss: 'crossEntropy',
            seed: 6,
          },
          train: { optimizer: { kind: 'adamw', lr: 0.01, weightDecay: 0.1, trackGradNorm: true } },
          batches: tokenBatches(5, 4, 3, 2, 7),
        },
      ];
      for (const [i, { opts, train, batches }] of cases.entries()) {
        const model = new SequenceModel(gpu, opts);
        model.configureTraining(train);
        for (const b of batches.slice(0, 3)) await model.trainStep(b);
        const path = join(dir, `case${i}.safetensors`);
        writeFileSync(path, await model.saveCheckpoint());
        const next = batches[3];
        writeFileSync(
          join(dir, `batch${i}.json`),
          JSON.stringify({
            inputs: Array.from(next.inputs),
            targets: Array.from(next.targets),
            seqLen: next.seqLen,
            batch: next.batch,
          }),
        );
        const run = spawnSync(
          python!,
          [fixturePath('load_checkpoint.py'), path, join(dir, `batch${i}.json`), join(dir, `out${i}.json`)],
          { encoding: 'utf8', timeout: 120_000 },
        );
        if (run.status !== 0) throw new Error(`load_checkpoint.py failed (${run.status}): ${run.stderr}`);
        const torch = JSON.parse(readFileSync(join(dir, `out${i}.json`), 'utf8'));
        const worst: Record<string, number> = {};
        worst.logits = assertClose(
          `case ${i}: logits vs PyTorch`,
          await model.predict(next.inputs, next.seqLen, next.batch),
          torch.logits,
          { rtol: 1e-4, atol: 1e-5 },
        ).worst;
        const loss = await model.trainStep(next, { readLoss: true });
        worst.loss = assertClose(`case ${i}: loss vs PyTorch`, [loss!], [torch.loss], { rtol: 1e-5 }).worst;
        worst.gradNorm = assertClose(
          `case ${i}: gradient norm vs PyTorch`,
          [await model.optimizerState!.gradNorm()],
          [torch.gradNorm],
          { rtol: 1e-4 },
        ).worst;
        expect(torch.stepAfter).toBe(4);
        await expectAfterStep(model, torch, worst);
        console.log(
          `seqgpu checkpoint in PyTorch ${torch.torch}, case ${i} ` +
            `(${opts.cell}, ${train.optimizer.kind}), worst |err| / ` +
            `tolerance: ${JSON.stringify(worst)}`,
        );
        model.destroy();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

/** Parameters and moments after the step vs PyTorch's (float64 from the same f32 state). */
async function expectAfterStep(
  model: SequenceModel,
  want: { paramsAfter: Record<string, number[]>; stateAfter: Record<string, Record<string, number[]>> },
  worst: Record<string, number>,
): Promise<void> {
  const params = await model.stateDict();
  const state = await model.optimizerState!.readState();
  const names: Record<string, string> = { m: 'exp_avg', v: 'exp_avg_sq', momentum: 'momentum_buffer' };
  worst.params = 0;
  worst.moments = 0;
  for (const [name, data] of Object.entries(want.paramsAfter)) {
    worst.params = Math.max(
      worst.params,
      assertClose(`${name} after the step vs PyTorch`, params[name].data, data, { rtol: 1e-5, atol: 1e-5 }).worst,
    );
    const s = model.store.slot(name);
    for (const [moment, flat] of Object.entries(state.buffers)) {
      const torchMoment = want.stateAfter[name][names[moment]];
      expect(torchMoment, `${name}.${names[moment]}`).toBeDefined();
      worst.moments = Math.max(
        worst.moments,
        assertClose(
          `${name}.${names[moment]} after the step vs PyTorch`,
          flat.subarray(s.offset, s.offset + s.size),
          torchMoment,
          { rtol: 1e-4, atol: 1e-7 },
        ).worst,
      );
    }
  }
}

/** A python3 that imports torch (Debian's /usr/bin/python3 first), or null. */
function findTorchPython(): string | null {
  for (const p of [process.env.SEQGPU_PYTHON, '/usr/bin/python3', 'python3'].filter(Boolean) as string[]) {
    if (spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 }).status === 0) return p;
  }
  return null;
}
