// MultiheadAttention as a Module (src/nn/layers/multiheadAttention.ts, src/graph/ops/attention.ts):
// (1) vs PyTorch 1.13 float64 fixtures (test/fixtures/make_mha_fixture.py): output and attention
//     weights of a forward outside any Trainer, then the loss and EVERY gradient (parameters and
//     the query/key/value inputs, held as leaf parameters) of one Trainer step;
// (2) the kernels' additive mask vs the float64 reference;
// (3) every gradient vs central finite differences of Trainer.evaluate (f32: eps 1e-2,
//     tolerance 3e-3 + 3 %), for the input-sharing patterns, masks, causal and unbatched inputs;
// (4) bad arguments: errors naming the argument and the shapes.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { F, Linear, Module, Tensor, Trainer, rng, type Gpu } from '../../src/index.js';
import { attentionBackwardDispatches, attentionDispatch } from '../../src/kernels/attention.js';
import { constant, createParameters } from '../../src/nn/layers/leaf.js';
import { MultiheadAttention, type MultiheadAttentionForwardOptions } from '../../src/nn/layers/multiheadAttention.js';
import type { LocalParameters } from '../../src/nn/module.js';
import { attentionBackwardRef, attentionRef } from '../../src/reference/attention.js';
import { gradCheck } from '../checks/moduleGrad.js';
import { testGpu } from './gpu.js';

type Rec = { shape: number[]; data: (number | null)[] };
const fx = JSON.parse(readFileSync(new URL('../fixtures/mha.json', import.meta.url), 'utf8'));
const E = 12;
const H = 3;

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

/** max |a − b| / (1 + |b|). */
function relErr(a: ArrayLike<number>, b: ArrayLike<number | null>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++)
    m = Math.max(m, Math.abs(a[i] - (b[i] as number)) / (1 + Math.abs(b[i] as number)));
  return m;
}

/** A tensor held as a parameter (so its gradient can be read): the attention's inputs. */
class Leaf extends Module {
  private readonly p: LocalParameters;
  constructor(gpu: Gpu, shape: number[]) {
    super(gpu);
    this.p = createParameters(gpu, [{ name: 'x', shape, init: constant(0) }], 0);
  }
  override localParameters(): LocalParameters {
    return this.p;
  }
  forward(): Tensor {
    return this.param('x').tensor;
  }
}

/** inputs (leaves) → MultiheadAttention(query, key, value from the inputs by `roles`) → Linear(E, 4). */
class Net extends Module {
  inputs: Leaf[];
  mha: MultiheadAttention;
  head: Linear;
  constructor(
    gpu: Gpu,
    shapes: number[][],
    readonly roles: readonly number[],
    mha: { bias?: boolean; batchFirst?: boolean; seed?: number },
  ) {
    super(gpu);
    this.inputs = shapes.map((s) => new Leaf(gpu, s));
    this.mha = new MultiheadAttention(gpu, { embedDim: E, numHeads: H, ...mha });
    this.head = new Linear(gpu, { inFeatures: E, outFeatures: 4, seed: (mha.seed ?? 0) + 1 });
  }
  forward(opts: MultiheadAttentionForwardOptions): Tensor {
    const xs = this.inputs.map((l) => l.forward());
    return this.head.forward(this.mha.forward(xs[this.roles[0]], xs[this.roles[1]], xs[this.roles[2]], opts).output);
  }
}

/** Self-attention with ONE tensor inside the trace (the packed single-GEMM path). */
class SelfAttention extends Module {
  constructor(
    gpu: Gpu,
    readonly mha: MultiheadAttention,
  ) {
    super(gpu);
  }
  forward(x: Tensor, opts: MultiheadAttentionForwardOptions) {
    return this.mha.forward(x, x, x, opts);
  }
}

const f32 = (r: Rec) =>
  Tensor.from(
    gpu,
    Float32Array.from(r.data, (v) => (v === null ? -Infinity : v)),
    r.shape,
  );
const i32 = (r: Rec) => Tensor.from(gpu, Int32Array.from(r.data as number[]), r.shape);

/** The forward options of a fixture case (masks as i32 0/1 or f32 additive). */
function caseOptions(c: any, floatKpm = false): { opts: MultiheadAttentionForwardOptions; tensors: Tensor[] } {
  const opts: MultiheadAttentionForwardOptions = {};
  if (c.key_padding_mask) {
    opts.keyPaddingMask = floatKpm
      ? Tensor.from(
          gpu,
          Float32Array.from(c.key_padding_mask.data, (v: number) => (v ? -Infinity : 0)),
          c.key_padding_mask.shape,
        )
      : i32(c.key_padding_mask);
  }
  if (c.attn_mask_bool) opts.attnMask = i32(c.attn_mask_bool);
  if (c.attn_mask_float) opts.attnMask = f32(c.attn_mask_float);
  if (c.is_causal) opts.isCausal = true;
  return { opts, tensors: [opts.keyPaddingMask, opts.attnMask].filter((t): t is Tensor => !!t) };
}

function netFor(c: any): Net {
  const nInputs = new Set<number>(c.roles).size;
  const shapes = Array.from({ length: nInputs }, (_, i) => c.state_dict[`inputs.${i}.x`].shape);
  return new Net(gpu, shapes, c.roles, { bias: c.bias, batchFirst: c.batch_first });
}

const CASES = ['self_kpm', 'cross_float', 'causal', 'kv_shared', 'causal_long_query'] as const;

describe('MultiheadAttention vs PyTorch 1.13 (float64 fixtures)', () => {
  for (const name of CASES) {
    it(
      `${name}: ${fx[name].description}: output and weights (no Trainer), loss and ` + `every gradient (Trainer step)`,
      async () => {
        const c = fx[name];
        const net = netFor(c);
        expect(net.namedParameters().map((p) => p.name)).toEqual(Object.keys(c.state_dict));
        net.loadStateDict(
          Object.fromEntries(
            Object.entries(c.state_dict as Record<string, Rec>).map(([k, v]) => [
              k,
              { shape: v.shape, data: v.data as number[] },
            ]),
          ),
        );
        const xs = Array.from({ length: new Set<number>(c.roles).size }, (_, i) => f32(c.state_dict[`inputs.${i}.x`]));
        const { opts, tensors } = caseOptions(c);
        const [q, k, v] = c.roles.map((r: number) => xs[r]);
        // Outside any Trainer: a traced, replayed forward (query, key, value are separate graph inputs here).
        const r = net.mha.forward(q, k, v, { ...opts, needWeights: true, averageAttnWeights: c.average });
        expect(r.output.shape).toEqual(c.output.shape);
        expect(r.weights!.shape).toEqual(c.weights.shape);
        expect(relErr(await r.output.read(), c.output.data), 'output').toBeLessThan(1e-4);
        expect(relErr(await r.weights!.read(), c.weights.data), 'weights').toBeLessThan(1e-4);
        r.output.destroy();
        r.weights!.destroy();
        if (c.roles.every((x: number) => x === 0)) {
          // One tensor as query, key and value inside the trace: the packed [tokens, 3E] GEMM.
          const self = new SelfAttention(gpu, net.mha);
          const s = self.forward(q, opts) as { output: Tensor };
          expect(relErr(await s.output.read(), c.output.data), 'output (packed self-attention)').toBeLessThan(1e-4);
          s.output.destroy();
        }
        if (c.key_padding_mask && !c.attn_mask_bool) {
          // An f32 key padding mask is added (PyTorch's float mask): −Infinity where padded.
          const fl = caseOptions(c, true);
          const s = net.mha.forward(q, k, v, fl.opts);
          expect(relErr(await s.output.read(), c.output.data), 'output (f32 keyPaddingMask)').toBeLessThan(1e-4);
          s.output.destroy();
          fl.tensors.forEach((t) => t.destroy());
        }
        // Through a Trainer: one step (SGD lr 0), gradients as PyTorch's.
        const trainer = new Trainer(net, { loss: 'mse', optimizer: { kind: 'sgd', lr: 0 }, nanGuard: false });
        const target = f32(c.target);
        const loss = (await trainer.step({ inputs: [opts], targets: target }, { readLoss: true }))!;
        expect(Math.abs(loss - c.loss) / c.loss, 'loss').toBeLessThan(1e-4);
        for (const p of net.namedParameters()) {
          expect(relErr(await p.grad.read(), c.grads[p.name].data), `grad ${p.name}`).toBeLessThan(1e-3);
        }
        expect(trainer.lastRun!.submits).toBe(1);
        console.log(`${name}: Trainer step ${JSON.stringify(trainer.lastRun)}`);
        trainer.destroy();
        [...xs, ...tensors, target].forEach((t) => t.destroy());
        net.destroy();
      },
    );
  }
});

describe('fused attention kernels with an additive mask vs the float64 reference', () => {
  for (const { label, perHead } of [
    { label: 'shared [Tq, Tk] mask (strides 0, 0, Tk)', perHead: false },
    { label: 'per-head [B, H, Tq, Tk] mask', perHead: true },
  ]) {
    it(`${label}, −∞ entries, one fully masked row, causal off/on`, async () => {
      const rand = rng(perHead ? 8 : 7);
      const [B, Hh, Tq, Tk, D] = [2, 3, 5, 7, 4];
      const n = (k: number) => Array.from({ length: k }, () => rand() * 2 - 1);
      const q = n(B * Hh * Tq * D),
        k = n(B * Hh * Tk * D),
        v = n(B * Hh * Tk * D),
        dO = n(B * Hh * Tq * D);
      const mSize = perHead ? B * Hh * Tq * Tk : Tq * Tk;
      const m = n(mSize).map((x, i) => (i % 5 === 2 ? -Infinity : 2 * x));
      // row 3 (of batch 0, head 1 when per head) fully masked
      for (let j = 0; j < Tk; j++) m[(perHead ? Tq + 3 : 3) * Tk + j] = -Infinity;
      const full = new Float64Array(B * Hh * Tq * Tk).map((_, i) => (perHead ? m[i] : m[i % (Tq * Tk)]));
      const strides: [number, number, number] = perHead ? [Hh * Tq * Tk, Tq * Tk, Tk] : [0, 0, Tk];
      for (const causal of [false, true]) {
        const dims = { batch: B, heads: Hh, seqLenQ: Tq, seqLenK: Tk, headDim: D };
        const tq = Tensor.from(gpu, q, [q.length]),
          tk = Tensor.from(gpu, k, [k.length]),
          tv = Tensor.from(gpu, v, [v.length]),
          tdO = Tensor.from(gpu, dO, [dO.length]);
        const tm = Tensor.from(gpu, m, [m.length]);
        const o = Tensor.zeros(gpu, [q.length]);
        const stats = Tensor.zeros(gpu, [2 * B * Hh * Tq]);
        const grads = Tensor.zeros(gpu, [q.length + 2 * k.length]);
        const mask = { buffer: tm.buffer, strides };
        gpu.run([
          attentionDispatch(gpu, {
            ...dims,
            q: tq.buffer,
            k: tk.buffer,
            v: tv.buffer,
            o: o.buffer,
            lse: stats.buffer,
            causal,
            additiveMask: mask,
          }),
        ]);
        gpu.run(
          attentionBackwardDispatches(gpu, {
            ...dims,
            q: tq.buffer,
            k: tk.buffer,
            v: tv.buffer,
            o: o.buffer,
            dO: tdO.buffer,
            rowStats: stats.buffer,
            dq: grads.buffer,
            dk: { buffer: grads.buffer, offset: q.length },
            dv: { buffer: grads.buffer, offset: q.length + k.length },
            causal,
            additiveMask: mask,
          }),
        );
        const ref = attentionRef(q, k, v, dims, { causal, additiveMask: full });
        const back = attentionBackwardRef(q, k, v, dO, dims, { causal, additiveMask: full });
        const out = await o.read();
        expect(relErr(out, Array.from(ref.output)), `output causal=${causal}`).toBeLessThan(1e-5);
        const g = await grads.read();
        expect(relErr(g.subarray(0, q.length), Array.from(back.dq)), 'dq').toBeLessThan(1e-4);
        expect(relErr(g.subarray(q.length, q.length + k.length), Array.from(back.dk)), 'dk').toBeLessThan(1e-4);
        expect(relErr(g.subarray(q.length + k.length), Array.from(back.dv)), 'dv').toBeLessThan(1e-4);
        // The fully masked row outputs zeros (PyTorch: NaN).
        const row = ((perHead ? 1 : 0) * Tq + 3) * D;
        expect(Array.from(out.subarray(row, row + D))).toEqual([0, 0, 0, 0]);
        [tq, tk, tv, tdO, tm, o, stats, grads].forEach((t) => t.destroy());
      }
    });
  }
});

/** Random N(0,1)-ish initial values for the leaf inputs (they start at zero). */
async function randomizeInputs(net: Net, seed: number) {
  const rand = rng(seed);
  const sd = await net.stateDict();
  for (const [k, v] of Object.entries(sd))
    if (k.startsWith('inputs.') || k.endsWith('in_proj_bias') || k.endsWith('out_proj.bias'))
      v.data = Float32Array.from(v.data, () => rand() * 2 - 1);
  net.loadStateDict(sd);
}

describe('MultiheadAttention gradients vs finite differences (Trainer.evaluate)', () => {
  it(
    'cross-attention, time-major, query/key/value distinct (B 2, T 5, S 7): f32 ' +
      'attnMask [5, 7] + i32 keyPaddingMask (built mask), needWeights on',
    async () => {
      const rand = rng(31);
      const net = new Net(
        gpu,
        [
          [5, 2, E],
          [7, 2, E],
          [7, 2, E],
        ],
        [0, 1, 2],
        { seed: 3 },
      );
      await randomizeInputs(net, 1);
      const am = Tensor.from(
        gpu,
        Array.from({ length: 35 }, (_, i) => (i % 6 === 1 ? -Infinity : rand() - 0.5)),
        [5, 7],
      );
      const kpm = Tensor.from(gpu, Int32Array.from([0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 1]), [2, 7]);
      const y = Tensor.from(
        gpu,
        Array.from({ length: 5 * 2 * 4 }, () => rand() * 2 - 1),
        [5, 2, 4],
      );
      const { checked, dispatches } = await gradCheck(
        net,
        [{ attnMask: am, keyPaddingMask: kpm, needWeights: true }],
        y,
        { samples: 3, seed: 2, nonZero: true },
      );
      console.log(`cross-attention: ${checked} entries checked; ${dispatches} dispatches per training step`);
      [am, kpm, y].forEach((t) => t.destroy());
      net.destroy();
    },
  );

  it(
    'query = value ≠ key (two in_proj groups per tensor, dx accumulated), ' +
      'batchFirst, isCausal + f32 attnMask [B·H, 5, 5]',
    async () => {
      const rand = rng(32);
      const net = new Net(
        gpu,
        [
          [2, 5, E],
          [2, 5, E],
        ],
        [0, 1, 0],
        { batchFirst: true, seed: 4 },
      );
      await randomizeInputs(net, 2);
      const am = Tensor.from(
        gpu,
        Array.from({ length: 2 * H * 25 }, () => rand() - 0.5),
        [2 * H, 5, 5],
      );
      const y = Tensor.from(
        gpu,
        Array.from({ length: 2 * 5 * 4 }, () => rand() * 2 - 1),
        [2, 5, 4],
      );
      const { checked } = await gradCheck(net, [{ attnMask: am, isCausal: true }], y, {
        samples: 3,
        seed: 3,
        nonZero: true,
      });
      console.log(`query = value: ${checked} entries checked`);
      [am, y].forEach((t) => t.destroy());
      net.destroy();
    },
  );

  it('query = key ≠ value, unbatched [T, E] inputs, f32 keyPaddingMask [T] (read in place), no bias', async () => {
    const rand = rng(33);
    const net = new Net(
      gpu,
      [
        [5, E],
        [5, E],
      ],
      [0, 0, 1],
      { bias: false, seed: 5 },
    );
    await randomizeInputs(net, 3);
    const kpm = Tensor.from(gpu, [0, 0, -Infinity, 0, 0], [5]);
    const y = Tensor.from(
      gpu,
      Array.from({ length: 5 * 4 }, () => rand() * 2 - 1),
      [5, 4],
    );
    const { checked } = await gradCheck(net, [{ keyPaddingMask: kpm }], y, { samples: 3, seed: 4, nonZero: true });
    console.log(`query = key, unbatched: ${checked} entries checked`);
    [kpm, y].forEach((t) => t.destroy());
    net.destroy();
  });

  it('self-attention (one GEMM for query, key, value), causal, batchFirst, B 1', async () => {
    const rand = rng(34);
    const net = new Net(gpu, [[1, 5, E]], [0, 0, 0], { batchFirst: true, seed: 6 });
    await randomizeInputs(net, 4);
    const y = Tensor.from(
      gpu,
      Array.from({ length: 5 * 4 }, () => rand() * 2 - 1),
      [1, 5, 4],
    );
    const { checked, dispatches } = await gradCheck(net, [{ isCausal: true }], y, {
      samples: 3,
      seed: 5,
      nonZero: true,
    });
    console.log(`self-attention: ${checked} entries checked; ${dispatches} dispatches per training step`);
    y.destroy();
    net.destroy();
  });
});

describe('MultiheadAttention: parameters and init', () => {
  it(
    "PyTorch's names, shapes and init: xavier_uniform in_proj_weight, zero biases, " + 'out_proj.weight U(±1/√E)',
    async () => {
      const mha = new MultiheadAttention(gpu, { embedDim: 12, numHeads: 3, seed: 9 });
      expect(mha.namedParameters().map((p) => [p.name, p.shape])).toEqual([
        ['in_proj_weight', [36, 12]],
        ['in_proj_bias', [36]],
        ['out_proj.weight', [12, 12]],
        ['out_proj.bias', [12]],
      ]);
      const sd = await mha.stateDict();
      const w = sd.in_proj_weight.data;
      const bound = Math.sqrt(6 / (12 + 36));
      expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(bound);
      expect(Math.max(...w.map(Math.abs))).toBeGreaterThan(0.9 * bound);
      expect(Math.max(...sd['out_proj.weight'].data.map(Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(12));
      expect([...sd.in_proj_bias.data, ...sd['out_proj.bias'].data].every((v) => v === 0)).toBe(true);
      const noBias = new MultiheadAttention(gpu, { embedDim: 12, numHeads: 4, bias: false });
      expect(noBias.namedParameters().map((p) => p.name)).toEqual(['in_proj_weight', 'out_proj.weight']);
      mha.destroy();
      noBias.destroy();
    },
  );
});

describe('MultiheadAttention: bad arguments', () => {
  it('constructor options', () => {
    expect(() => new MultiheadAttention(gpu, { embedDim: 12, numHeads: 5 })).toThrow(
      /embedDim 12 must be divisible by numHeads 5/,
    );
    expect(() => new MultiheadAttention(gpu, { embedDim: 12, numHeads: 3, dropout: 1 })).toThrow(
      /option 'dropout' must be in \[0, 1\), got 1/,
    );
    expect(() => new MultiheadAttention(gpu, { embedDim: 12, numHeads: 3, kdim: 0 })).toThrow(/kdim/);
    expect(() => new MultiheadAttention(gpu, { embedDim: 12, numHeads: 3, batch_first: true } as never)).toThrow(
      /unknown option 'batch_first'.*batchFirst/,
    );
    expect(() => new MultiheadAttention(gpu, { embedDim: 257, numHeads: 1 })).toThrow(/head dimension limit 256/);
  });

  it('forward arguments name the argument and the shapes', () => {
    const mha = new MultiheadAttention(gpu, { embedDim: 12, numHeads: 3, seed: 1 });
    const x = Tensor.zeros(gpu, [5, 2, 12]);
    const kv = Tensor.zeros(gpu, [7, 2, 12]);
    const bad = [
      [
        () => mha.forward(Tensor.zeros(gpu, [12]), kv, kv),
        new RegExp(
          String.raw`MultiheadAttention.forward: argument 'query' has shape \[12\] ` +
            String.raw`\(f32\), expected f32 \[T, batch, 12\] \(seqLen, batch, embedDim\) or ` +
            String.raw`unbatched \[T, 12\]`,
        ),
      ],
      [
        () => mha.forward(x, Tensor.zeros(gpu, [7, 2, 10]), kv),
        /argument 'key' has shape \[7, 2, 10\] \(f32\), expected f32 \[S, 2, 12\]/,
      ],
      [() => mha.forward(x, Tensor.zeros(gpu, [7, 3, 12]), kv), /argument 'key' has shape \[7, 3, 12\]/],
      [
        () => mha.forward(x, kv, Tensor.zeros(gpu, [6, 2, 12])),
        /argument 'value' has shape \[6, 2, 12\] \(f32\), expected f32 \[7, 2, 12\] \(key's shape\)/,
      ],
      [
        () => mha.forward(x, kv, kv, { keyPaddingMask: Tensor.zeros(gpu, [2, 5]) }),
        /argument 'keyPaddingMask' has shape \[2, 5\] \(f32\), expected \[2, 7\]/,
      ],
      [
        () => mha.forward(x, kv, kv, { attnMask: Tensor.zeros(gpu, [5, 5]) }),
        /argument 'attnMask' has shape \[5, 5\] \(f32\), expected \[5, 7\] .* or \[6, 5, 7\]/,
      ],
      [() => mha.forward(x, kv, kv, { causal: true } as never), /unknown option 'causal'.*isCausal/],
      [() => mha.forward(x, kv, kv, { isCausal: 1 } as never), /option 'isCausal' must be true or false/],
      [
        () => mha.forward(x, kv, kv, { keyPaddingMask: [1, 0] } as never),
        /option 'keyPaddingMask' must be (a Tensor|an object)/,
      ],
    ] as const;
    for (const [f, re] of bad) expect(f).toThrow(re);
    x.destroy();
    kv.destroy();
    mha.destroy();
  });

  it('a loss that depends on the attention weights is refused (they carry no gradient)', async () => {
    class UsesWeights extends Module {
      proj = new Linear(this.gpu, { inFeatures: 12, outFeatures: 12, seed: 3 });
      mha = new MultiheadAttention(this.gpu, { embedDim: 12, numHeads: 3, seed: 2 });
      forward(x: Tensor) {
        const h = this.proj.forward(x);
        return this.mha.forward(h, h, h, { needWeights: true }).weights!;
      }
    }
    const m = new UsesWeights(gpu);
    const x = Tensor.zeros(gpu, [5, 2, 12]);
    const y = Tensor.zeros(gpu, [2, 5, 5]);
    const trainer = new Trainer(m, { loss: 'mse', optimizer: { kind: 'sgd', lr: 0.1 } });
    await expect(trainer.step({ inputs: x, targets: y })).rejects.toThrow(/needWeights.*without a gradient/);
    trainer.destroy();
    [x, y].forEach((t) => t.destroy());
    m.destroy();
  });

  it('a mask computed from parameters is refused in training (masks take no gradient)', async () => {
    class MaskFromParams extends Module {
      proj = new Linear(this.gpu, { inFeatures: 12, outFeatures: 5, seed: 4 });
      mha = new MultiheadAttention(this.gpu, { embedDim: 12, numHeads: 3, seed: 5 });
      forward(x: Tensor) {
        return this.mha.forward(x, x, x, { attnMask: F.reshape(this.proj.forward(x), [5, 5]) }).output;
      }
    }
    const m = new MaskFromParams(gpu);
    const x = Tensor.zeros(gpu, [5, 1, 12]);
    const trainer = new Trainer(m, { loss: 'mse', optimizer: { kind: 'sgd', lr: 0.1 } });
    await expect(trainer.step({ inputs: x, targets: x })).rejects.toThrow(
      /MultiheadAttention.forward: masks take no gradient/,
    );
    trainer.destroy();
    x.destroy();
    m.destroy();
  });
});
