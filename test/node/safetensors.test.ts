// A PyTorch state_dict saved as safetensors loads unchanged into seqgpu's LSTM and reproduces
// PyTorch's forward (test/fixtures/make_safetensors_fixture.py, torch 1.13); bad files fail clearly.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Gpu, LSTM, Tensor, ShapeError, parseSafetensors, writeSafetensors } from '../../src/index.js';
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
    const tensors = { 'peso_ação': { shape: [2], data: Float32Array.of(1.5, -2) }, 'é': { shape: [1, 1], data: Float32Array.of(3) } };
    const bytes = writeSafetensors(tensors);
    const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    expect((8 + headerLength) % 8).toBe(0);
    const back = parseSafetensors(bytes);
    expect(Array.from(back['peso_ação'].data)).toEqual([1.5, -2]);
    expect(Array.from(back['é'].data)).toEqual([3]);
  });

  it('names what is wrong in a truncated or malformed file', () => {
    expect(() => parseSafetensors(file.subarray(0, 5))).toThrow(ShapeError);
    expect(() => parseSafetensors(file.subarray(0, 100))).toThrow(/header claims \d+ bytes .* \(truncated\?\)/);
    expect(() => parseSafetensors(file.subarray(0, file.length - 10))).toThrow(/'\w+' ends at byte \d+, past the end of the file .*truncated/);
    const bad = new Uint8Array(file);
    bad.set(new TextEncoder().encode('{'), 9); // corrupt the JSON header
    expect(() => parseSafetensors(bad)).toThrow(/header is not valid JSON/);
  });
});
