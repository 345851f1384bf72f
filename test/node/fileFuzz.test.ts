// Seeded fuzzing of the file readers (issue 14, "Files"). Valid files are mutated (bit flips
// anywhere or in the header, truncations, ranges copied over others, duplicated, deleted or
// appended, header JSON edits: numbers, values and their types, renamed / added / deleted keys,
// dtypes, shapes, offsets, and the JSON inside metadata strings). For every mutation:
//   checkpoints (SequenceModel + Adam + carried state; Seq2Seq + SGD momentum), version 2 with a
//     whole-file CRC: readCheckpoint and model.loadCheckpoint throw an ArgumentError (ShapeError
//     is one) with a message, or give exactly the original (only when the bytes are unchanged);
//     a rejected load leaves the model's parameters and optimizer state bit for bit as before
//     (read back from the GPU every 25th mutation; the pure checks run on all);
//   checkpoints edited in the header and sealed again (a valid CRC, so the checks after it run):
//     an ArgumentError, or a load that holds what the file says; never a partial load;
//   plain safetensors files (no checksum, so a changed value cannot be told from a real one):
//     parseSafetensors agrees with an independent strict decoder (test/checks/fileFuzz.ts): it
//     throws an ArgumentError exactly when that decoder refuses, else returns what it decodes;
//   and for all: no other exception type, each call within TIME_LIMIT_MS.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ArgumentError,
  Seq2Seq,
  SequenceModel,
  parseSafetensors,
  readCheckpoint,
  rng,
  type Gpu,
  type NamedTensor,
  type SequenceModelOptions,
} from '../../src/index.js';
import { mutate, mutateSealed, referenceDecode, sameTensors, type Mutation } from '../checks/fileFuzz.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

/**
 * The longest one parse or load may take (a hang or a blow-up on a 10 kB file fails; generous for a loaded CI machine).
 */
const TIME_LIMIT_MS = 2000;
/** Every SAMPLE-th mutation reads the model back from the GPU. */
const SAMPLE = 25;

const LM: SequenceModelOptions = {
  cell: 'lstm',
  vocabSize: 11,
  embeddingDim: 4,
  hiddenSize: 6,
  numLayers: 2,
  outputSize: 11,
  mode: 'manyToMany',
  loss: 'crossEntropy',
  seed: 3,
};
const S2S = {
  cell: 'gru',
  srcVocab: 9,
  tgtVocab: 8,
  embeddingDim: 4,
  hiddenSize: 6,
  attention: 'general',
  bosToken: 1,
  eosToken: 2,
  padToken: 0,
  seed: 5,
} as const;

type Model = SequenceModel | Seq2Seq;
interface Target {
  name: string;
  /** A fresh model configured for training. */
  create(lr: number): Model;
  train(m: Model): Promise<unknown>;
}
const TARGETS: Target[] = [
  {
    name: 'SequenceModel (LSTM, Adam, carried state)',
    create: (lr) => {
      const m = new SequenceModel(gpu, LM);
      m.configureTraining({ optimizer: { kind: 'adam', lr, clipNorm: 1 }, carryState: true });
      return m;
    },
    train: (m) =>
      (m as SequenceModel).trainStep({
        inputs: Int32Array.from([1, 2, 3, 4, 5, 6, 7, 8]),
        targets: Int32Array.from([2, 3, 4, 5, 6, 7, 8, 9]),
        seqLen: 4,
        batch: 2,
      }),
  },
  {
    name: 'Seq2Seq (GRU, general attention, SGD momentum)',
    create: (lr) => {
      const m = new Seq2Seq(gpu, S2S);
      m.configureTraining({ optimizer: { kind: 'sgd', lr, momentum: 0.9 } });
      return m;
    },
    train: (m) =>
      (m as Seq2Seq).trainStep({
        src: [
          [3, 4, 5],
          [6, 7],
        ],
        tgt: [[5, 4, 3], [7]],
      }),
  },
];

/** Runs `f`: its value, or the ArgumentError it threw; fails on any other throw or when it took too long. */
function attempt<T>(label: string, f: () => T): { ok: true; value: T } | { ok: false; error: Error } {
  const t0 = performance.now();
  let result: { ok: true; value: T } | { ok: false; error: Error };
  try {
    result = { ok: true, value: f() };
  } catch (e) {
    if (!(e instanceof ArgumentError) || !e.message)
      throw new Error(
        `${label}: threw ${(e as Error)?.name ?? typeof e} (not an ` +
          `ArgumentError): ${(e as Error)?.message ?? String(e)}`,
      );
    result = { ok: false, error: e };
  }
  const ms = performance.now() - t0;
  if (ms > TIME_LIMIT_MS) throw new Error(`${label}: took ${ms.toFixed(0)} ms (limit ${TIME_LIMIT_MS})`);
  return result;
}

/** The model's parameters, optimizer moments, step and learning rate, as one list of f32 arrays. */
async function modelState(m: Model): Promise<Float32Array[]> {
  const s = await m.optimizerState!.readState();
  return [
    ...Object.values(await m.stateDict()).map((t) => t.data),
    ...Object.values(s.buffers),
    Float32Array.of(s.step, s.lr ?? NaN),
  ];
}

function expectSameState(what: string, a: Float32Array[], b: Float32Array[]): void {
  expect(a.length, what).toBe(b.length);
  a.forEach((x, i) => {
    const [u, v] = [
      new Uint32Array(x.buffer, x.byteOffset, x.length),
      new Uint32Array(b[i].buffer, b[i].byteOffset, b[i].length),
    ];
    const j = u.findIndex((bits, k) => bits !== v[k] && !(Number.isNaN(x[k]) && Number.isNaN(b[i][k])));
    if (u.length !== v.length || j >= 0) throw new Error(`${what}: array ${i} differs at ${j} (${x[j]} vs ${b[i][j]})`);
  });
}

const entries = (t: Record<string, NamedTensor>) => Object.keys(t).map((k): [string, NamedTensor] => [k, t[k]]);

/** Rejection reasons with the numbers and names taken out, counted (for the log). */
function reasons(errors: Error[]): string {
  const counts = new Map<string, number>();
  for (const e of errors) {
    const r = e.message
      .replace(/^[\w.]+: /, '')
      .replace(/'[^']*'|"[^"]*"|\d+(\.\d+)?(e[+-]?\d+)?/g, '#')
      .slice(0, 60);
    counts.set(r, (counts.get(r) ?? 0) + 1);
  }
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 6)
    .map(([r, n]) => `${n}× ${r}`)
    .join(' | ');
}

/** parseSafetensors(m) against the independent decoder: the same verdict, the same tensors. */
function checkParse(m: Mutation): { ok: true; tensors: Array<[string, NamedTensor]> } | { ok: false; error: Error } {
  const parsed = attempt(`parseSafetensors after ${m.what}`, () => parseSafetensors(m.bytes));
  const ref = referenceDecode(m.bytes);
  if (!parsed.ok) {
    if (ref)
      throw new Error(
        `parseSafetensors refused a file the reference decoder reads (${m.what}): ${parsed.error.message}`,
      );
    return parsed;
  }
  if (!ref || !sameTensors(entries(parsed.value), ref))
    throw new Error(
      `parseSafetensors read ${ref ? 'other values than' : 'a file refused by'} the reference decoder (${m.what})`,
    );
  return { ok: true, tensors: ref };
}

describe(
  'file fuzzing: a mutated file is refused with an ArgumentError, or reads as ' + 'what it holds; never a partial load',
  () => {
    const counts = { total: 0, rejected: 0, identical: 0, sealedAccepted: 0, plainChanged: 0 };
    afterAll(() => {
      console.log(
        `${counts.total} mutations: ${counts.rejected} rejected, ${counts.identical} ` +
          `accepted-identical, ${counts.sealedAccepted} sealed header edits accepted as ` +
          `valid files, ${counts.plainChanged} plain-safetensors edits read as the ` +
          `reference decoder reads them`,
      );
    });

    for (const [t, target] of TARGETS.entries()) {
      it(`${target.name} checkpoints: 450 raw + 150 sealed mutations (seed ${100 + t})`, async () => {
        const rand = rng(100 + t);
        const a = target.create(0.01);
        for (let i = 0; i < 2; i++) await target.train(a);
        const original = await a.saveCheckpoint();
        const donorModel = target.create(0.05);
        for (let i = 0; i < 3; i++) await target.train(donorModel);
        const donor = await donorModel.saveCheckpoint();
        // The subject: loaded from the donor, so "unchanged" and "loaded the original" differ.
        const m = target.create(0.01);
        m.loadCheckpoint(original);
        const originalState = await modelState(m);
        m.loadCheckpoint(donor);
        const donorState = await modelState(m);
        expect(() => expectSameState('donor vs original', donorState, originalState)).toThrow();
        const want = readCheckpoint(original);
        const local = { rejected: 0, identical: 0, sealed: 0 };
        const errors: Error[] = [];
        const accepted: string[] = [];
        const raw = 450;
        for (let i = 0; i < raw + 150; i++) {
          const mut = i < raw ? mutate(rand, original) : mutateSealed(rand, original);
          const label = `#${i} ${mut.what}`;
          const read = attempt(`readCheckpoint after ${label}`, () => readCheckpoint(mut.bytes));
          if (i < raw && read.ok) {
            expect(sameTensors(entries(read.value.tensors), entries(want.tensors)), label).toBe(true);
            expect({ ...read.value.metadata }, label).toEqual({ ...want.metadata });
          }
          checkParse(mut);
          const load = attempt(`loadCheckpoint after ${label}`, () => m.loadCheckpoint(mut.bytes));
          if (!load.ok) {
            local.rejected++;
            errors.push(load.error);
            if (i % SAMPLE === 0) expectSameState(`after the rejected ${label}`, await modelState(m), donorState);
            continue;
          }
          expect(read.ok, `${label}: loadCheckpoint accepted what readCheckpoint refused`).toBe(true);
          if (i < raw) {
            local.identical++;
            expectSameState(`after the accepted ${label}`, await modelState(m), originalState);
          } else {
            local.sealed++;
            accepted.push(mut.what.replace(/^header edit, /, '').replace(/ \(sealed\)$/, ''));
            if (read.ok && local.sealed % 5 === 1) {
              const file = read.value.tensors;
              const dict = await m.stateDict();
              for (const [k, v] of Object.entries(dict))
                expect(sameTensors([[k, v]], [[k, file[k]]]), `${label}: ${k} as the file holds it`).toBe(true);
            }
          }
          m.loadCheckpoint(donor);
        }
        expectSameState('at the end', await modelState(m), donorState);
        console.log(
          `${target.name}: ${raw + 150} mutations: ${local.rejected} ` +
            `rejected, ${local.identical} accepted-identical, ${local.sealed} sealed edits ` +
            `accepted as valid (e.g. ${accepted.slice(0, 4).join('; ')}); ` +
            `reasons: ${reasons(errors)}`,
        );
        expect(local.rejected + local.identical + local.sealed).toBe(raw + 150);
        expect(local.rejected).toBeGreaterThan(raw); // every raw change is caught, and most sealed edits too
        Object.assign(counts, {
          total: counts.total + raw + 150,
          rejected: counts.rejected + local.rejected,
          identical: counts.identical + local.identical,
          sealedAccepted: counts.sealedAccepted + local.sealed,
        });
        for (const x of [a, donorModel, m]) x.destroy();
      });
    }

    it(
      'plain safetensors files (all dtypes, odd names; a PyTorch-written file): 500 ' +
        'mutations agree with an independent decoder',
      () => {
        const files = [
          handMadeFile(),
          new Uint8Array(
            readFileSync(fileURLToPath(new URL('../fixtures/lstm_l2_bidir.safetensors', import.meta.url))),
          ),
        ];
        const rand = rng(7);
        const local = { rejected: 0, identical: 0, changed: 0 };
        const errors: Error[] = [];
        for (const [f, file] of files.entries()) {
          const original = referenceDecode(file)!;
          expect(original, `file ${f} is valid`).not.toBeNull();
          expect(checkParse({ what: 'unchanged', bytes: file }).ok).toBe(true);
          for (let i = 0; i < 250; i++) {
            const mut = mutate(rand, file);
            const r = checkParse(mut);
            if (!r.ok) {
              local.rejected++;
              errors.push(r.error);
            } else if (sameTensors(r.tensors, original)) local.identical++;
            else local.changed++;
          }
        }
        console.log(
          `plain safetensors: 500 mutations: ${local.rejected} ` +
            `rejected, ${local.identical} accepted-identical, ${local.changed} accepted with ` +
            `other values (no checksum; as the reference decoder reads them); ` +
            `reasons: ${reasons(errors)}`,
        );
        expect(local.rejected).toBeGreaterThan(250);
        Object.assign(counts, {
          total: counts.total + 500,
          rejected: counts.rejected + local.rejected,
          identical: counts.identical + local.identical,
          plainChanged: counts.plainChanged + local.changed,
        });
      },
    );
  },
);

/** A safetensors file with every dtype seqgpu reads, a scalar, an empty tensor and names like `__proto__`. */
function handMadeFile(): Uint8Array {
  const parts: Array<[string, string, number[], Uint8Array]> = [];
  const f32 = new Float32Array([1.5, -2, 3e-8, NaN, Infinity, -0]);
  parts.push(['w.f32', 'F32', [2, 3], new Uint8Array(f32.buffer)]);
  parts.push(['__proto__', 'F64', [2], new Uint8Array(new Float64Array([0.1, -1e300]).buffer)]);
  parts.push(['constructor', 'F16', [4], new Uint8Array(new Uint16Array([0x3c00, 0x8001, 0x7c00, 0x7e01]).buffer)]);
  parts.push(['toString', 'BF16', [3], new Uint8Array(new Uint16Array([0x3f80, 0xc040, 0x0001]).buffer)]);
  parts.push(['scalar', 'F32', [], new Uint8Array(new Float32Array([7]).buffer)]);
  parts.push(['empty', 'F32', [0, 3], new Uint8Array(0)]);
  parts.push(['ünïcode·name', 'F32', [1], new Uint8Array(new Float32Array([2]).buffer)]);
  const header: Record<string, unknown> = { __metadata__: { format: 'pt', note: 'fuzz' } };
  let offset = 0;
  for (const [name, dtype, shape, data] of parts) {
    Object.defineProperty(header, name, {
      value: { dtype, shape, data_offsets: [offset, offset + data.length] },
      enumerable: true,
    });
    offset += data.length;
  }
  const text = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + text.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  let at = 8 + text.length;
  for (const [, , , data] of parts) {
    out.set(data, at);
    at += data.length;
  }
  return out;
}
