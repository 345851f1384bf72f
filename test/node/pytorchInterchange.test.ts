// Issue 20 item 2: a PyTorch state_dict() saved as safetensors UNCHANGED loads into a seqgpu module
// tree (test/fixtures/make_interchange_fixtures.py: float32 PyTorch 1.13 models, their files as
// safetensors' serializer writes them, inputs and outputs). Outputs are compared with PyTorch's
// float64 forward on the file's f32 weights: |seqgpu − ref| ≤ 1e-5·(1 + |ref|) per element.
// Also: tied weights given once (save_model) or twice, the registered buffer `pos_embed.pe`
// (checked, not loaded), strict, and bad files / shapes leaving every parameter unchanged.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ArgumentError,
  LayerNorm,
  Linear,
  Module,
  parseSafetensors,
  ShapeError,
  Tensor,
  TransformerEncoder,
  TransformerEncoderLayer,
  TransformerLM,
  writeSafetensors,
  type Gpu,
  type NamedTensor,
} from '../../src/index.js';
import { testGpu } from './gpu.js';
import { Tagger } from './tagger.js';

type Rec = { shape: number[]; data: number[] };
type Case = {
  name: string;
  file: string;
  file_twice?: string;
  keys: string[];
  metadata?: Record<string, string>;
  options: Record<string, unknown> & { dModel: number };
  numLayers?: number;
  input: Rec;
  output32: Rec;
  output64: Rec;
};
const dir = new URL('../fixtures/interchange/', import.meta.url);
const fx = JSON.parse(readFileSync(new URL('cases.json', dir), 'utf8')) as { torch: string; cases: Case[] };
const byName = (n: string) => fx.cases.find((c) => c.name === n)!;
const bytes = (file: string) => new Uint8Array(readFileSync(new URL(file, dir)));
const TOL = 1e-5;

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

type Net = Module & { forward(x: Tensor): Tensor };

function build(c: Case): Net {
  if (c.name === 'tagger') return new Tagger(gpu);
  if (c.name === 'encoder') {
    const layer = new TransformerEncoderLayer(gpu, c.options as never);
    const norm = new LayerNorm(gpu, { normalizedShape: [c.options.dModel] });
    const enc = new TransformerEncoder(gpu, { layer, numLayers: c.numLayers!, norm });
    layer.destroy();
    return enc;
  }
  return new TransformerLM(gpu, c.options as never);
}

/** max |a − b| / (1 + |b|) over the elements (≤ 1e-5: |a − b| ≤ 1e-5 + 1e-5·|b|), and max |a − b|. */
function errors(a: ArrayLike<number>, b: ArrayLike<number>): { rel: number; abs: number } {
  expect(a.length).toBe(b.length);
  let [rel, abs] = [0, 0];
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    rel = Math.max(rel, d / (1 + Math.abs(b[i])));
    abs = Math.max(abs, d);
  }
  return { rel, abs };
}

async function forwardMatches(model: Net, c: Case): Promise<void> {
  const x =
    c.name === 'encoder'
      ? Tensor.from(gpu, Float32Array.from(c.input.data), c.input.shape)
      : Tensor.from(gpu, Int32Array.from(c.input.data), c.input.shape);
  const y = model.eval().forward(x);
  expect(y.shape).toEqual(c.output64.shape);
  const out = await y.read();
  const vs64 = errors(out, c.output64.data);
  const vs32 = errors(out, c.output32.data);
  console.log(
    `${c.name}: seqgpu f32 vs PyTorch f64 max |Δ| ${vs64.abs.toExponential(2)}, |Δ|/(1+|ref|) ` +
      `${vs64.rel.toExponential(2)}; vs PyTorch f32 ${vs32.abs.toExponential(2)}, ${vs32.rel.toExponential(2)}`,
  );
  expect(vs64.rel, `${c.name} vs PyTorch float64`).toBeLessThanOrEqual(TOL);
  x.destroy();
  y.destroy();
}

/** Every parameter's values, bit for bit. */
async function snapshot(model: Module): Promise<Map<string, Uint32Array>> {
  const sd = await model.stateDict();
  return new Map(Object.entries(sd).map(([k, v]) => [k, new Uint32Array(Float32Array.from(v.data).buffer)]));
}

describe(`PyTorch ${fx.torch} state_dict as safetensors → Module.loadStateDict`, () => {
  for (const name of ['tagger', 'encoder', 'lm_untied', 'lm_tied']) {
    it(`${name}: the file's bytes load unchanged; outputs match PyTorch within 1e-5`, async () => {
      const c = byName(name);
      const model = build(c);
      const file = bytes(c.file);
      const stored = Object.keys(parseSafetensors(file));
      // The file is PyTorch's: every name and shape as state_dict() had them (save_model drops a tied name).
      expect(stored.sort()).toEqual(c.keys.filter((k) => !(c.metadata && k in c.metadata)).sort());
      model.loadStateDict(file);
      await forwardMatches(model, c);
      // stateDict() lists what PyTorch's does, tied names included, buffers seqgpu computes not.
      const sd = await model.stateDict();
      expect(Object.keys(sd).sort()).toEqual(c.keys.filter((k) => !k.endsWith('.pe')).sort());
      model.destroy();
    });
  }

  it('lm_tied: head.weight only (save_model), both names (clones), or parseSafetensors dict: same logits', async () => {
    const c = byName('lm_tied');
    expect(c.metadata).toEqual({ 'tok_embed.weight': 'head.weight' });
    const once = parseSafetensors(bytes(c.file));
    expect('tok_embed.weight' in once).toBe(false);
    const twice = parseSafetensors(bytes(c.file_twice!));
    expect(Array.from(twice['tok_embed.weight'].data)).toEqual(Array.from(once['head.weight'].data));
    expect(twice['pos_embed.pe'].shape).toEqual([14, 6]);
    for (const dict of [bytes(c.file_twice!), once, twice]) {
      const lm = build(c);
      lm.loadStateDict(dict);
      await forwardMatches(lm, c);
      lm.destroy();
    }
  });

  it('a bad file or a wrong-shape key is refused with a named error and changes no parameter', async () => {
    const c = byName('tagger');
    const model = build(c);
    const before = await snapshot(model);
    const file = bytes(c.file);
    const headerLen = Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
    expect(() => model.loadStateDict(file.slice(0, file.length - 4))).toThrow(ShapeError);
    expect(() => model.loadStateDict(file.slice(0, file.length - 4))).toThrow(
      /Tagger.loadStateDict: tensor '.*' ends at byte 10444, past the end .*truncated/,
    );
    expect(() => model.loadStateDict(file.slice(0, 6))).toThrow(/too short/);
    const corrupt = file.slice();
    corrupt[8 + Math.floor(headerLen / 2)] = 0x7b; // '{' inside the JSON header
    expect(() => model.loadStateDict(corrupt)).toThrow(ArgumentError);
    expect(() => model.loadStateDict(corrupt)).toThrow(/Tagger.loadStateDict: the header is not valid JSON/);
    // The last key in the model's order with a wrong shape: nothing before it may have been written.
    const dict: Record<string, NamedTensor> = { ...parseSafetensors(file) };
    dict['head.bias'] = { shape: [6], data: new Float32Array(6) };
    expect(() => model.loadStateDict(dict)).toThrow(ShapeError);
    expect(() => model.loadStateDict(dict)).toThrow(/state_dict\['head.bias'\] has shape \[6\], expected \[5\]/);
    // The same file with the wrong shape, as bytes.
    expect(() => model.loadStateDict(writeSafetensors(dict))).toThrow(/'head.bias'.*\[6\], expected \[5\]/);
    // An unknown key: an error unless strict is false (PyTorch's strict).
    const extra = { ...parseSafetensors(file), 'head.scale': { shape: [1], data: Float32Array.of(2) } };
    expect(() => model.loadStateDict(extra)).toThrow(/unexpected key\(s\) 'head.scale'/);
    // A missing one: always.
    const missing = { ...parseSafetensors(file) };
    delete missing['lstm.bias_hh_l0_reverse'];
    expect(() => model.loadStateDict(missing, { strict: false })).toThrow(/missing 'lstm.bias_hh_l0_reverse'/);
    expect(await snapshot(model)).toEqual(before);
    model.loadStateDict(extra, { strict: false });
    await forwardMatches(model, c);
    model.destroy();
  });

  it('a tied pair that differs or a pe of another table is refused; pe [L, 1, d] is accepted', async () => {
    const c = byName('lm_tied');
    const lm = build(c);
    const before = await snapshot(lm);
    const twice = parseSafetensors(bytes(c.file_twice!));
    const head = Float32Array.from(twice['head.weight'].data);
    head[7] += 1e-3;
    expect(() => lm.loadStateDict({ ...twice, 'head.weight': { shape: [13, 6], data: head } })).toThrow(
      /'head.weight' differs from 'tok_embed.weight' at index 7/,
    );
    const pe = twice['pos_embed.pe'];
    const other = Float32Array.from(pe.data, (v, i) => (i % 2 === 0 ? v : -v)); // cos columns negated
    expect(() => lm.loadStateDict({ ...twice, 'pos_embed.pe': { shape: [14, 6], data: other } })).toThrow(
      /state_dict\['pos_embed.pe'\] \[14, 6\] is a buffer seqgpu computes .* at index 1 /,
    );
    expect(() => lm.loadStateDict({ ...twice, 'pos_embed.pe': { shape: [14, 5], data: pe.data } })).toThrow(ShapeError);
    const none = { ...twice };
    delete none['tok_embed.weight'];
    delete none['head.weight'];
    expect(() => lm.loadStateDict(none)).toThrow(/missing 'tok_embed.weight' .*tied name 'head.weight'/);
    expect(await snapshot(lm)).toEqual(before);
    // The PyTorch tutorial's pe is [maxLen, 1, dModel]; without the buffer (persistent=False) it loads too.
    lm.loadStateDict({ ...twice, 'pos_embed.pe': { shape: [14, 1, 6], data: pe.data } });
    const noPe = { ...twice };
    delete noPe['pos_embed.pe'];
    lm.loadStateDict(noPe);
    await forwardMatches(lm, c);
    lm.destroy();
  });

  it('a module registered under two names: PyTorch lists both; either loads it, both must agree', async () => {
    class Shared extends Module {
      a: Linear;
      b: Linear;
      constructor() {
        super(gpu);
        this.a = new Linear(gpu, { inFeatures: 3, outFeatures: 2 });
        this.b = this.a;
      }
      forward(x: Tensor): Tensor {
        return this.b.forward(this.a.forward(x));
      }
    }
    const m = new Shared();
    expect(m.namedParameters().map((p) => p.name)).toEqual(['a.weight', 'a.bias']);
    const w = { shape: [2, 3], data: Float32Array.of(1, 2, 3, 4, 5, 6) };
    const bias = { shape: [2], data: Float32Array.of(7, 8) };
    m.loadStateDict({ 'b.weight': w, 'b.bias': bias }); // save_model keeps one name: any of them
    expect(Array.from((await m.stateDict())['a.weight'].data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Object.keys(await m.stateDict())).toEqual(['a.weight', 'a.bias', 'b.weight', 'b.bias']);
    m.loadStateDict({ 'a.weight': w, 'a.bias': bias, 'b.weight': w, 'b.bias': bias });
    const w2 = { shape: [2, 3], data: Float32Array.of(1, 2, 3, 4, 5, 7) };
    expect(() => m.loadStateDict({ 'a.weight': w, 'a.bias': bias, 'b.weight': w2 })).toThrow(
      /'b.weight' differs from 'a.weight' at index 5/,
    );
    m.destroy();
  });
});
