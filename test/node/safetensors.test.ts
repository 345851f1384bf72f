// A PyTorch state_dict saved as safetensors loads unchanged into seqgpu's LSTM and reproduces
// PyTorch's forward (test/fixtures/make_safetensors_fixture.py, torch 1.13); bad files fail clearly
// (the strict rules of the one reader that parseSafetensors and readCheckpoint share); names like
// `__proto__` are stored safely; state-dict values of the wrong type are refused naming the key.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ArgumentError,
  Gpu,
  LSTM,
  Tensor,
  ShapeError,
  parseSafetensors,
  readCheckpoint,
  readParameter,
  writeSafetensors,
  type StateDict,
} from '../../src/index.js';
import { editHeader } from '../checks/fileFuzz.js';
import expected from '../fixtures/lstm_l2_bidir.json';
import { assertClose } from '../checks/util.js';
import { testGpu } from './gpu.js';

const file = readFileSync(new URL('../fixtures/lstm_l2_bidir.safetensors', import.meta.url));

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

describe('safetensors', () => {
  it('loads a PyTorch LSTM state_dict and matches PyTorch forward within 1e-4', async () => {
    const sd = parseSafetensors(file);
    expect(Object.keys(sd)).toContain('weight_hh_l1_reverse');
    const lstm = new LSTM(gpu, expected.config);
    lstm.loadStateDict(sd);
    const x = Tensor.from(gpu, expected.input.data, expected.input.shape);
    const out = lstm.forward(x);
    const tol = { rtol: 1e-4, atol: 1e-4 };
    assertClose('output', await out.output.read(), expected.output.data, tol);
    assertClose('hN', await out.hN.read(), expected.hN.data, tol);
    assertClose('cN', await out.cN!.read(), expected.cN.data, tol);
    for (const t of [x, out.output, out.hN, out.cN]) t?.destroy();
    // and back out: stateDict() → safetensors → identical tensors
    const again = parseSafetensors(writeSafetensors(await lstm.stateDict()));
    for (const [k, v] of Object.entries(sd)) {
      expect(again[k].shape).toEqual(v.shape);
      expect(again[k].data).toEqual(v.data);
    }
    lstm.destroy();
  });

  it('aligns the data section to 8 bytes with non-ASCII names (the header counted in UTF-8 bytes)', () => {
    const tensors = {
      peso_ação: { shape: [2], data: Float32Array.of(1.5, -2) },
      é: { shape: [1, 1], data: Float32Array.of(3) },
    };
    const bytes = writeSafetensors(tensors);
    const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    expect((8 + headerLength) % 8).toBe(0);
    const back = parseSafetensors(bytes);
    expect(Array.from(back['peso_ação'].data)).toEqual([1.5, -2]);
    expect(Array.from(back['é'].data)).toEqual([3]);
  });

  it(
    'names what is wrong in a truncated or malformed file (ShapeError for sizes and ' + 'offsets, else ArgumentError)',
    () => {
      expect(() => parseSafetensors(file.subarray(0, 5))).toThrow(ShapeError);
      expect(() => parseSafetensors(file.subarray(0, 100))).toThrow(/header claims \d+ bytes .* \(truncated\?\)/);
      expect(() => parseSafetensors(file.subarray(0, file.length - 10))).toThrow(
        /'\w+' ends at byte \d+, past the end of the file .*truncated/,
      );
      const bad = new Uint8Array(file);
      bad.set(new TextEncoder().encode('{'), 9); // corrupt the JSON header
      expect(() => parseSafetensors(bad)).toThrow(/header is not valid JSON/);
      const last = (h: Record<string, any>) =>
        h[
          Object.keys(h)
            .filter((k) => k !== '__metadata__')
            .at(-1)!
        ];
      const cases: Array<[string, Uint8Array, typeof ArgumentError, RegExp]> = [
        [
          'not bytes',
          'w.safetensors' as never,
          ArgumentError,
          /expected the file's bytes \(Uint8Array or ArrayBuffer\), got string/,
        ],
        [
          'header length over 100 MB',
          (() => {
            const x = new Uint8Array(file);
            new DataView(x.buffer).setBigUint64(0, 100_000_001n, true);
            return x;
          })(),
          ShapeError,
          /header length field says 100000001 bytes, more than the 100000000 allowed/,
        ],
        [
          'header not UTF-8',
          (() => {
            const x = new Uint8Array(file);
            x[10] = 0xff;
            return x;
          })(),
          ArgumentError,
          /the header is not valid JSON/,
        ],
        [
          'header an array',
          editHeader(file, () => []),
          ArgumentError,
          /the header must be a JSON object \{name: \{dtype, shape, data_offsets\}\}, got \[\]/,
        ],
        [
          'metadata not strings',
          editHeader(file, (h) => {
            h.__metadata__ = { step: 3 };
          }),
          ArgumentError,
          /__metadata__\['step'\] is 3 \(number\); safetensors metadata values are strings/,
        ],
        [
          'an unknown entry key',
          editHeader(file, (h) => {
            h.weight_ih_l0.extra = 1;
          }),
          ArgumentError,
          /tensor 'weight_ih_l0' has an unknown key 'extra'; an entry holds dtype, shape and data_offsets/,
        ],
        [
          'dtype I32',
          editHeader(file, (h) => {
            h.weight_ih_l0.dtype = 'I32';
          }),
          ArgumentError,
          /tensor 'weight_ih_l0' has dtype "I32"; seqgpu reads F32, F64, F16, BF16/,
        ],
        [
          'offsets overlap',
          editHeader(file, (h) => {
            h.bias_hh_l0.data_offsets = h.bias_ih_l0.data_offsets;
          }),
          ShapeError,
          /tensor 'bias_hh_l0' overlaps the tensor before it \(data_offsets \[\d+, \d+\]\): corrupt header/,
        ],
        [
          'a hole',
          editHeader(file, (h) => {
            const t = last(h);
            t.data_offsets = t.data_offsets.map((o: number) => o + 4);
          }),
          ShapeError,
          /past the end of the file|hole of 4 bytes/,
        ],
        [
          'a hole before the last tensor',
          (() => {
            const x = editHeader(file, (h) => {
              const t = last(h);
              t.data_offsets = t.data_offsets.map((o: number) => o + 4);
            });
            return Uint8Array.from([...x, 0, 0, 0, 0]);
          })(),
          ShapeError,
          /the data section has a hole of 4 bytes before tensor '\w+': corrupt header/,
        ],
        [
          'trailing bytes',
          Uint8Array.from([...file, 1, 2, 3, 4]),
          ShapeError,
          /its tensors cover \d+: 4 trailing bytes/,
        ],
        [
          'offsets past the end',
          editHeader(file, (h) => {
            last(h).data_offsets[1] += 4;
            last(h).shape[0] += 1;
          }),
          ShapeError,
          /ends at byte \d+, past the end of the file/,
        ],
        [
          'a negative offset',
          editHeader(file, (h) => {
            h.weight_ih_l0.data_offsets[0] = -4;
          }),
          ShapeError,
          /data_offsets \[-4,\d+\] must be integers 0 ≤ begin ≤ end/,
        ],
      ];
      for (const [what, bytes, cls, message] of cases) {
        expect(() => parseSafetensors(bytes), what).toThrow(cls);
        expect(() => parseSafetensors(bytes), what).toThrow(message);
        expect(() => parseSafetensors(bytes), what).toThrow(/^parseSafetensors: /);
        // One reader: readCheckpoint says the same, under its own entry point.
        let parseMessage = '';
        try {
          parseSafetensors(bytes);
        } catch (e) {
          parseMessage = (e as Error).message.replace(/^parseSafetensors: /, '');
        }
        expect(() => readCheckpoint(bytes, 'LSTM.loadCheckpoint'), what).toThrow(
          `LSTM.loadCheckpoint: ${parseMessage}`,
        );
      }
    },
  );

  it('stores tensors named __proto__, constructor, toString as own keys (null-prototype result)', () => {
    const names = ['__proto__', 'constructor', 'toString'];
    const tensors: Record<string, { shape: number[]; data: Float32Array }> = Object.create(null);
    names.forEach((name, i) => (tensors[name] = { shape: [i + 1], data: new Float32Array(i + 1).fill(13 + i) }));
    const bytes = writeSafetensors(tensors, { hasOwnProperty: 'x' });
    expect(new TextDecoder().decode(bytes.subarray(8, 200))).toContain('"__proto__":{"dtype":"F32"');
    const back = parseSafetensors(bytes);
    expect(Object.getPrototypeOf(back)).toBeNull();
    expect(Object.keys(back)).toEqual(names);
    names.forEach((name, i) => {
      expect(Object.hasOwn(back, name), name).toBe(true);
      expect(back[name].shape, name).toEqual([i + 1]);
      expect(Array.from(back[name].data), name).toEqual(new Array(i + 1).fill(13 + i));
    });
    expect(({} as Record<string, unknown>).data).toBeUndefined(); // nothing leaked into Object.prototype
    expect(readCheckpoint(bytes).metadata.hasOwnProperty).toBe('x');
    // A file without them: the names are absent, not inherited.
    const plain = parseSafetensors(writeSafetensors({ w: { shape: [1], data: Float32Array.of(1) } }));
    for (const name of names) expect(plain[name], name).toBeUndefined();
  });

  it(
    'readParameter: a Float32Array, (nested) numbers or {shape, data}; anything ' +
      'else is an ArgumentError naming the key, what it is and what is allowed',
    () => {
      const ok: StateDict = {
        a: Float32Array.of(1, 2, 3, 4, 5, 6),
        b: [1, 2, 3, 4, 5, 6],
        c: [
          [1, 2, 3],
          [4, 5, 6],
        ],
        d: { shape: [2, 3], data: [1, 2, 3, 4, 5, 6] },
      };
      for (const k of Object.keys(ok)) expect(Array.from(readParameter(ok, k, [2, 3])), k).toEqual([1, 2, 3, 4, 5, 6]);
      const bad: Array<[string, unknown, typeof ArgumentError, RegExp]> = [
        [
          'null',
          null,
          ArgumentError,
          new RegExp(
            String.raw`L\.loadStateDict: state_dict\['w'\] is null; expected a Float32Array, ` +
              String.raw`a \(nested\) array of numbers or \{shape, data\}`,
          ),
        ],
        [
          'a string',
          '1,2,3,4,5,6',
          ArgumentError,
          /state_dict\['w'\] is a string \("1,2,3,4,5,6"\); expected a Float32Array/,
        ],
        ['a boolean', true, ArgumentError, /state_dict\['w'\] is a boolean \(true\); expected/],
        ['a number', 7, ArgumentError, /state_dict\['w'\] is a number \(7\); expected/],
        ['a bigint', 7n, ArgumentError, /state_dict\['w'\] is a bigint \(7n\); expected/],
        [
          'a cyclic object',
          (() => {
            const o: Record<string, unknown> = { shape: [6] };
            o.self = o;
            return o;
          })(),
          ArgumentError,
          /state_dict\['w'\] is an object with keys \["shape","self"\]; expected/,
        ],
        [
          'an object without data',
          { shape: [2, 3] },
          ArgumentError,
          /state_dict\['w'\] is an object with keys \["shape"\]; expected/,
        ],
        [
          'strings in an array',
          ['1', 2, 3, 4, 5, 6],
          ArgumentError,
          /state_dict\['w'\] holds a string \("1"\) at depth 0, index 0; expected numbers/,
        ],
        [
          'null in a nested array',
          [
            [1, 2, 3],
            [4, null, 6],
          ],
          ArgumentError,
          /state_dict\['w'\] holds null at depth 1, index 1; expected numbers/,
        ],
        [
          'numbers and arrays mixed',
          [1, [2, 3], 4, 5, 6, 7],
          ShapeError,
          /state_dict\['w'\] mixes numbers and arrays at depth 0/,
        ],
        [
          'ragged',
          [
            [1, 2, 3],
            [4, 5],
          ],
          ShapeError,
          /state_dict\['w'\] is a ragged nested array/,
        ],
        [
          'data a string',
          { shape: [2, 3], data: 'abcdef' },
          ArgumentError,
          /state_dict\['w'\]\.data is a string \("abcdef"\); expected a Float32Array or an array of numbers/,
        ],
        [
          'data with a string',
          { shape: [2, 3], data: [1, 2, '3', 4, 5, 6] },
          ArgumentError,
          /\.data is an array; expected a Float32Array or an array of numbers/,
        ],
        [
          'shape not sizes',
          { shape: [2, -3], data: new Float32Array(6) },
          ShapeError,
          /state_dict\['w'\] has shape \[2,-3\]; expected a list of non-negative integers/,
        ],
        ['a BigInt64Array', new BigInt64Array(6), ArgumentError, /state_dict\['w'\] is a BigInt64Array; expected/],
        [
          'wrong length',
          new Float32Array(5),
          ShapeError,
          /state_dict\['w'\] has 5 values, expected 6 \(shape \[2, 3\]\)/,
        ],
        [
          'NaN',
          Float32Array.of(1, 2, NaN, 4, 5, 6),
          ArgumentError,
          /state_dict\['w'\] holds NaN at index 2: weights must be finite/,
        ],
      ];
      for (const [what, value, cls, message] of bad) {
        expect(() => readParameter({ w: value } as StateDict, 'w', [2, 3], 'L.loadStateDict'), what).toThrow(cls);
        expect(() => readParameter({ w: value } as StateDict, 'w', [2, 3], 'L.loadStateDict'), what).toThrow(message);
      }
      // The dict itself, and keys only a prototype has.
      for (const dict of [null, 'w', 3, [Float32Array.of(1)]]) {
        expect(() => readParameter(dict as never, 'w', [1], 'L.loadStateDict')).toThrow(
          /L\.loadStateDict: state_dict must be an object of named parameters, got /,
        );
      }
      expect(() => readParameter({} as StateDict, 'toString', [1])).toThrow(ArgumentError);
      expect(() => readParameter({} as StateDict, 'toString', [1])).toThrow(
        /state_dict is missing 'toString' \(expected shape \[1\]\)/,
      );
      expect(() => readParameter(Object.create({ w: [1] }), 'w', [1])).toThrow(/state_dict is missing 'w'/);
      expect(() => readParameter(JSON.parse('{"__proto__": [1, 2]}'), '__proto__', [2])).not.toThrow();
    },
  );
});
