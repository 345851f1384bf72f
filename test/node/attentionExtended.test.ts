// Extensions of the fused attention kernels (issue 18, item 3) vs the float64 reference
// (src/reference/attention.ts), Node + Dawn (SwiftShader):
//   headDim up to 256 (keys per tile sized to the workgroup storage limit), odd sizes;
//   grouped-query attention (kvHeads dividing heads; dK, dV summed over each group);
//   MultiheadAttention with kdim / vdim ≠ embedDim vs PyTorch 1.13 fixtures;
//   dropout on the probabilities in-kernel: the same mask as the reference (same hash), keep
//   fraction, evaluation / p = 0 unchanged, MultiheadAttention(dropout).
// Every GPU comparison has a "wrong reference" twin that must be rejected.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Linear, Module, Trainer, type Gpu } from '../../src/index.js';
import { Tensor } from '../../src/gpu/tensor.js';
import {
  ATTENTION_MAX_HEAD_DIM,
  AttentionDropout,
  scaledDotProductAttention,
  scaledDotProductAttentionBackward,
} from '../../src/kernels/attention.js';
import {
  attentionBackwardRef,
  attentionRef,
  type AttentionRefDims,
  type AttentionRefOptions,
} from '../../src/reference/attention.js';
import { dropoutKeep } from '../../src/kernels/dropout.js';
import { constant, createParameters } from '../../src/nn/layers/leaf.js';
import {
  MultiheadAttention,
  type MultiheadAttentionForwardOptions,
  type MultiheadAttentionOptions,
} from '../../src/nn/layers/multiheadAttention.js';
import type { LocalParameters } from '../../src/nn/module.js';
import { assertClose, rng, uniform } from '../checks/util.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

interface Case {
  batch: number;
  heads: number;
  kvHeads?: number;
  seqLenQ: number;
  seqLenK: number;
  headDim: number;
  causal?: boolean;
  mask?: boolean;
  seed: number;
}

const name = (c: Case) =>
  `B${c.batch} H${c.heads}${c.kvHeads !== undefined ? ` KV${c.kvHeads}` : ''} Tq${c.seqLenQ} Tk${c.seqLenK} ` +
  `D${c.headDim}${c.causal ? ' causal' : ''}${c.mask ? ' keyMask' : ''}`;

/** Mean |w|: the absolute part of the gradient tolerance (1e-3 of it), as test/checks/attention.ts. */
function gradTol(w: ArrayLike<number>): { rtol: number; atol: number } {
  let s = 0;
  for (let i = 0; i < w.length; i++) s += Math.abs(w[i]);
  return { rtol: 1e-3, atol: 1e-3 * (s / Math.max(1, w.length)) + 1e-6 };
}

const worst: Record<string, number> = {};
function maxErr(key: string, got: ArrayLike<number>, want: ArrayLike<number>): void {
  let m = 0;
  for (let i = 0; i < got.length; i++) m = Math.max(m, Math.abs(got[i] - want[i]) / (1e-3 + Math.abs(want[i])));
  worst[key] = Math.max(worst[key] ?? 0, m);
}
afterAll(() => console.log('attentionExtended: worst |err| / (1e-3 + |want|):', JSON.stringify(worst)));

/**
 * Runs forward and backward on `g` and compares them with the float64 reference; `wrong`
 * changes the reference's options (or dims) and then every comparison must FAIL somewhere.
 */
async function runCase(
  g: Gpu,
  c: Case,
  extra: {
    gpuOpts?: Record<string, unknown>;
    refOpts?: AttentionRefOptions;
    wrong?: { dims?: Partial<Case>; opts?: AttentionRefOptions; zeroLastFeature?: boolean; swapKvHeads?: boolean };
  } = {},
): Promise<void> {
  const rand = rng(c.seed);
  const { batch: B, heads: H, seqLenQ: Tq, seqLenK: Tk, headDim: D } = c;
  const HK = c.kvHeads ?? H;
  const q = uniform(rand, B * H * Tq * D, -2, 2);
  const k = uniform(rand, B * HK * Tk * D, -2, 2);
  const v = uniform(rand, B * HK * Tk * D, -1, 1);
  const dO = uniform(rand, B * H * Tq * D, -1, 1);
  const mask = c.mask
    ? Float32Array.from({ length: B * Tk }, (_, i) => (i % Tk < 1 + ((Math.floor(i / Tk) * 5 + Tk - 3) % Tk) ? 1 : 0))
    : undefined;
  const t = {
    q: Tensor.from(g, q, [B, H, Tq, D]),
    k: Tensor.from(g, k, [B, HK, Tk, D]),
    v: Tensor.from(g, v, [B, HK, Tk, D]),
    dO: Tensor.from(g, dO, [B, H, Tq, D]),
    mask: mask && Tensor.from(g, mask, [B, Tk]),
  };
  const opts = { causal: c.causal, keyPaddingMask: t.mask, ...extra.gpuOpts };
  const fwd = scaledDotProductAttention(g, t.q, t.k, t.v, opts);
  const grads = scaledDotProductAttentionBackward(g, t.q, t.k, t.v, fwd.output, fwd.lse, t.dO, opts);
  const got = {
    output: await fwd.output.read(),
    dq: await grads.dq.read(),
    dk: await grads.dk.read(),
    dv: await grads.dv.read(),
  };
  for (const x of [...Object.values(t), fwd.output, fwd.lse, grads.dq, grads.dk, grads.dv]) x?.destroy();
  const compare = (dims: Case, refOpts: AttentionRefOptions, zeroLast = false, swapKv = false) => {
    const ro = { causal: c.causal, keyMask: mask, ...refOpts };
    // Wrong twins: "forget" the last feature of every head (a kernel that stops short of headDim),
    // or swap kv heads 0 and 1 (a kernel that maps a query head to the wrong kv head).
    const cut = (x: Float32Array) => (zeroLast ? x.map((e, i) => (i % D === D - 1 ? 0 : e)) : x);
    const per = Tk * D;
    const swap = <T extends Float32Array | Float64Array>(x: T): T => {
      if (!swapKv) return x;
      const y = x.slice() as T;
      for (let b = 0; b < B; b++)
        for (let i = 0; i < per; i++) {
          y[(b * HK + 0) * per + i] = x[(b * HK + 1) * per + i];
          y[(b * HK + 1) * per + i] = x[(b * HK + 0) * per + i];
        }
      return y;
    };
    const want = attentionRef(cut(q), swap(cut(k)), swap(cut(v)), dims, ro);
    const wantG = attentionBackwardRef(cut(q), swap(cut(k)), swap(cut(v)), dO, dims, ro);
    wantG.dk = swap(wantG.dk);
    wantG.dv = swap(wantG.dv);
    const n = name(c);
    const errors: string[] = [];
    for (const [what, gv, wv, tol] of [
      ['output', got.output, want.output, { rtol: 1e-4, atol: 1e-4 }],
      ['dQ', got.dq, wantG.dq, gradTol(wantG.dq)],
      ['dK', got.dk, wantG.dk, gradTol(wantG.dk)],
      ['dV', got.dv, wantG.dv, gradTol(wantG.dv)],
    ] as const) {
      try {
        assertClose(`${n}: ${what}`, gv, wv, tol);
      } catch (e) {
        errors.push(String(e));
      }
    }
    return { errors, want, wantG };
  };
  const right = compare(c, extra.refOpts ?? {});
  expect(right.errors, name(c)).toEqual([]);
  const tag = `D${c.headDim}${c.kvHeads !== undefined ? ' gqa' : ''}${extra.refOpts?.dropout ? ' dropout' : ''}`;
  maxErr(`${tag} output`, got.output, right.want.output);
  for (const [key, gv, wv] of [
    ['dQ', got.dq, right.wantG.dq],
    ['dK', got.dk, right.wantG.dk],
    ['dV', got.dv, right.wantG.dv],
  ] as const)
    maxErr(`${tag} ${key}`, gv, wv);
  if (extra.wrong) {
    const w = extra.wrong;
    const bad = compare({ ...c, ...w.dims }, { ...extra.refOpts, ...w.opts }, w.zeroLastFeature, w.swapKvHeads);
    expect(bad.errors.length, `${name(c)}: a wrong reference was accepted`).toBeGreaterThan(0);
  }
}

describe('fused attention: headDim up to 256', () => {
  it('ATTENTION_MAX_HEAD_DIM is 256; 257 is refused naming the limit', () => {
    expect(ATTENTION_MAX_HEAD_DIM).toBe(256);
    const z = (shape: number[]) => Tensor.zeros(gpu, shape);
    const x = z([1, 1, 2, 257]);
    expect(() => scaledDotProductAttention(gpu, x, x, x)).toThrow(/headDim 257 exceeds .*256/);
    x.destroy();
  });

  const cases: Case[] = [
    { batch: 1, heads: 1, seqLenQ: 1, seqLenK: 1, headDim: 1, seed: 1 },
    { batch: 2, heads: 2, seqLenQ: 7, seqLenK: 33, headDim: 3, mask: true, seed: 2 },
    { batch: 1, heads: 2, seqLenQ: 33, seqLenK: 33, headDim: 65, causal: true, seed: 3 },
    { batch: 1, heads: 1, seqLenQ: 7, seqLenK: 7, headDim: 129, seed: 4 },
    { batch: 2, heads: 1, seqLenQ: 33, seqLenK: 7, headDim: 200, mask: true, seed: 5 },
    { batch: 1, heads: 2, seqLenQ: 33, seqLenK: 33, headDim: 256, causal: true, mask: true, seed: 6 },
    { batch: 1, heads: 1, seqLenQ: 1, seqLenK: 33, headDim: 256, seed: 7 },
  ];
  for (const c of cases) {
    it(`${name(c)}: forward 1e-4, dQ dK dV 1e-3; a reference without the last feature is rejected`, async () => {
      await runCase(gpu, c, { wrong: { zeroLastFeature: true } });
    });
  }

  it('headDim 256 and 200 under the WebGPU default limits (16 KiB workgroup storage: 8 keys per tile)', async () => {
    const small = await testGpu({ limits: 'default' });
    try {
      expect(small.limits.maxComputeWorkgroupStorageSize).toBe(16384);
      const wrong = { zeroLastFeature: true };
      await runCase(
        small,
        { batch: 1, heads: 2, seqLenQ: 33, seqLenK: 33, headDim: 256, causal: true, seed: 8 },
        { wrong },
      );
      await runCase(
        small,
        { batch: 2, heads: 1, seqLenQ: 7, seqLenK: 65, headDim: 200, mask: true, seed: 9 },
        { wrong },
      );
    } finally {
      small.destroy();
    }
  });
});

describe('fused attention: grouped-query attention (kvHeads dividing heads)', () => {
  const cases: Case[] = [
    { batch: 1, heads: 4, kvHeads: 2, seqLenQ: 7, seqLenK: 7, headDim: 3, seed: 21 },
    { batch: 2, heads: 6, kvHeads: 2, seqLenQ: 33, seqLenK: 7, headDim: 65, mask: true, seed: 22 },
    { batch: 1, heads: 4, kvHeads: 4, seqLenQ: 1, seqLenK: 33, headDim: 8, seed: 23 },
    { batch: 1, heads: 3, kvHeads: 1, seqLenQ: 33, seqLenK: 33, headDim: 200, causal: true, seed: 24 },
    { batch: 2, heads: 8, kvHeads: 2, seqLenQ: 65, seqLenK: 70, headDim: 16, causal: true, mask: true, seed: 25 },
  ];
  for (const c of cases) {
    const multi = c.kvHeads! > 1;
    it(`${name(c)}: forward 1e-4, dQ dK dV 1e-3 (dK, dV summed over each group); wrong twin rejected`, async () => {
      await runCase(gpu, c, { wrong: multi ? { swapKvHeads: true } : { zeroLastFeature: true } });
    });
  }

  it('the float64 reference with kvHeads passes finite differences (4 query heads on 2 and on 1 kv head)', () => {
    for (const kvHeads of [2, 1]) {
      const dims = { batch: 2, heads: 4, kvHeads, seqLenQ: 3, seqLenK: 5, headDim: 3 };
      fdCheck(dims, { causal: kvHeads === 1 }, 31 + kvHeads);
    }
  });

  it('kvHeads must divide heads', () => {
    const z = (shape: number[]) => Tensor.zeros(gpu, shape);
    const q = z([1, 4, 3, 8]);
    const k = z([1, 3, 3, 8]);
    expect(() => scaledDotProductAttention(gpu, q, k, k)).toThrow(/argument 'k' has shape \[1, 3, 3, 8\].*kvHeads/);
    for (const x of [q, k]) x.destroy();
  });
});

/** 5-point central differences of L = Σ O ⊙ R against attentionBackwardRef, for q, k and v: < 1e-6. */
function fdCheck(dims: AttentionRefDims, opts: AttentionRefOptions, seed: number): void {
  const rand = rng(seed);
  const HK = dims.kvHeads ?? dims.heads;
  const nq = dims.batch * dims.heads * dims.seqLenQ * dims.headDim;
  const nk = dims.batch * HK * dims.seqLenK * dims.headDim;
  const x = {
    q: Float64Array.from(uniform(rand, nq, -2, 2)),
    k: Float64Array.from(uniform(rand, nk, -2, 2)),
    v: Float64Array.from(uniform(rand, nk, -1, 1)),
  };
  const R = Float64Array.from(uniform(rand, nq, -1, 1));
  const loss = () => attentionRef(x.q, x.k, x.v, dims, opts).output.reduce((s, o, i) => s + o * R[i], 0);
  const g = attentionBackwardRef(x.q, x.k, x.v, R, dims, opts);
  const grads = { q: g.dq, k: g.dk, v: g.dv };
  const h = 1e-4;
  let worstRel = 0;
  for (const key of ['q', 'k', 'v'] as const) {
    const w = x[key];
    expect(grads[key].length).toBe(w.length);
    for (let i = 0; i < w.length; i++) {
      const at = (delta: number) => {
        const keep = w[i];
        w[i] = keep + delta;
        const val = loss();
        w[i] = keep;
        return val;
      };
      const fd = (8 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12 * h);
      const rel = Math.abs(fd - grads[key][i]) / Math.max(1e-8, Math.abs(fd) + Math.abs(grads[key][i]));
      expect(rel, `d${key}[${i}]: finite difference ${fd}, backward ${grads[key][i]}`).toBeLessThan(1e-6);
      worstRel = Math.max(worstRel, rel);
    }
  }
  worst[`reference FD ${JSON.stringify(dims)}${opts.dropout ? ' dropout' : ''}`] = worstRel;
}

// ---------------------------------------------------------------------------------------------
// MultiheadAttention with kdim / vdim ≠ embedDim vs PyTorch 1.13 (test/fixtures/attention_kdim.json,
// generated by test/fixtures/make_attention_kdim_fixtures.py in float64).
type Rec = { shape: number[]; data: (number | null)[] };
const kdimFx = JSON.parse(readFileSync(new URL('../fixtures/attention_kdim.json', import.meta.url), 'utf8'));

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
  constructor(g: Gpu, shape: number[]) {
    super(g);
    this.p = createParameters(g, [{ name: 'x', shape, init: constant(0) }], 0);
  }
  override localParameters(): LocalParameters {
    return this.p;
  }
  forward(): Tensor {
    return this.param('x').tensor;
  }
}

/** inputs (leaves) → MultiheadAttention(query, key, value by `roles`, kdim, vdim) → Linear(E, 4). */
class KdimNet extends Module {
  inputs: Leaf[];
  mha: MultiheadAttention;
  head: Linear;
  constructor(
    g: Gpu,
    shapes: number[][],
    readonly roles: readonly number[],
    o: MultiheadAttentionOptions,
  ) {
    super(g);
    this.inputs = shapes.map((s) => new Leaf(g, s));
    this.mha = new MultiheadAttention(g, o);
    this.head = new Linear(g, { inFeatures: o.embedDim, outFeatures: 4, seed: 1 });
  }
  forward(opts: MultiheadAttentionForwardOptions): Tensor {
    const xs = this.inputs.map((l) => l.forward());
    return this.head.forward(this.mha.forward(xs[this.roles[0]], xs[this.roles[1]], xs[this.roles[2]], opts).output);
  }
}

describe('MultiheadAttention with kdim / vdim ≠ embedDim vs PyTorch 1.13 (float64 fixtures)', () => {
  const f32 = (r: Rec) =>
    Tensor.from(
      gpu,
      Float32Array.from(r.data, (v) => (v === null ? -Infinity : v)),
      r.shape,
    );
  const i32 = (r: Rec) => Tensor.from(gpu, Int32Array.from(r.data as number[]), r.shape);
  const stateOf = (sd: Record<string, Rec>) =>
    Object.fromEntries(Object.entries(sd).map(([k, v]) => [k, { shape: v.shape, data: v.data as number[] }]));

  for (const name of ['kdim5_vdim7_kpm', 'kv_shared_kdim8', 'vdim6_causal_nobias']) {
    it(`${name}: output and weights 1e-4, loss 1e-4, every gradient 1e-3 (Trainer step)`, async () => {
      const c = kdimFx[name];
      const nInputs = new Set<number>(c.roles).size;
      const shapes = Array.from({ length: nInputs }, (_, i) => c.state_dict[`inputs.${i}.x`].shape);
      const net = new KdimNet(gpu, shapes, c.roles, {
        embedDim: c.embed_dim,
        numHeads: c.num_heads,
        kdim: c.kdim,
        vdim: c.vdim,
        bias: c.bias,
        batchFirst: c.batch_first,
      });
      expect(net.mha.sameEmbedDim).toBe(false);
      expect(net.namedParameters().map((p) => p.name)).toEqual(Object.keys(c.state_dict));
      net.loadStateDict(stateOf(c.state_dict));
      const opts: MultiheadAttentionForwardOptions = {};
      if (c.key_padding_mask) opts.keyPaddingMask = i32(c.key_padding_mask);
      if (c.attn_mask_float) opts.attnMask = f32(c.attn_mask_float);
      if (c.is_causal) opts.isCausal = true;
      const xs = Array.from({ length: nInputs }, (_, i) => f32(c.state_dict[`inputs.${i}.x`]));
      const [q, k, v] = c.roles.map((r: number) => xs[r]);
      const r = net.mha.forward(q, k, v, { ...opts, needWeights: true });
      expect(r.output.shape).toEqual(c.output.shape);
      const errs = {
        output: relErr(await r.output.read(), c.output.data),
        weights: relErr(await r.weights!.read(), c.weights.data),
      };
      expect(errs.output, 'output').toBeLessThan(1e-4);
      expect(errs.weights, 'weights').toBeLessThan(1e-4);
      r.output.destroy();
      r.weights!.destroy();
      const trainer = new Trainer(net, { loss: 'mse', optimizer: { kind: 'sgd', lr: 0 }, nanGuard: false });
      const target = f32(c.target);
      const loss = (await trainer.step({ inputs: [opts], targets: target }, { readLoss: true }))!;
      expect(Math.abs(loss - c.loss) / c.loss, 'loss').toBeLessThan(1e-4);
      let gradWorst = 0;
      for (const p of net.namedParameters()) {
        const e = relErr(await p.grad.read(), c.grads[p.name].data);
        expect(e, `grad ${p.name}`).toBeLessThan(1e-3);
        gradWorst = Math.max(gradWorst, e);
      }
      worst[`kdim ${name} output`] = errs.output;
      worst[`kdim ${name} grads`] = gradWorst;
      trainer.destroy();
      // The wrong twin: q_proj_weight transposed must move the output off PyTorch's.
      const sd = stateOf(c.state_dict);
      const E = c.embed_dim;
      const wq = sd['mha.q_proj_weight'].data;
      sd['mha.q_proj_weight'] = { shape: [E, E], data: wq.map((_, i) => wq[(i % E) * E + Math.floor(i / E)]) };
      net.loadStateDict(sd);
      const bad = net.mha.forward(q, k, v, opts);
      expect(relErr(await bad.output.read(), c.output.data), 'a transposed q_proj_weight was accepted').toBeGreaterThan(
        1e-3,
      );
      bad.output.destroy();
      [...xs, target, opts.keyPaddingMask, opts.attnMask].forEach((t) => t?.destroy());
      net.destroy();
    });
  }

  it("PyTorch's parameters and init: xavier_uniform_ q/k/v_proj_weight, zero in_proj_bias; shapes", async () => {
    const E = 8;
    const m = new MultiheadAttention(gpu, { embedDim: E, numHeads: 2, kdim: 5, vdim: 3, seed: 3 });
    const ps = m.namedParameters();
    expect(ps.map((p) => [p.name, p.shape])).toEqual([
      ['q_proj_weight', [8, 8]],
      ['k_proj_weight', [8, 5]],
      ['v_proj_weight', [8, 3]],
      ['in_proj_bias', [24]],
      ['out_proj.weight', [8, 8]],
      ['out_proj.bias', [8]],
    ]);
    for (const [n, fanIn] of [
      ['q_proj_weight', 8],
      ['k_proj_weight', 5],
      ['v_proj_weight', 3],
    ] as const) {
      const w = await ps.find((p) => p.name === n)!.read();
      const bound = Math.sqrt(6 / (E + fanIn));
      const max = w.reduce((a: number, x: number) => Math.max(a, Math.abs(x)), 0);
      expect(max, n).toBeLessThanOrEqual(bound);
      expect(max, n).toBeGreaterThan(0.7 * bound);
    }
    expect(Array.from(await ps.find((p) => p.name === 'in_proj_bias')!.read()).every((x) => x === 0)).toBe(true);
    const x = Tensor.zeros(gpu, [4, 2, E]);
    const k5 = Tensor.zeros(gpu, [6, 2, 5]);
    const v3 = Tensor.zeros(gpu, [6, 2, 3]);
    expect(() => m.forward(x, x, v3)).toThrow(/argument 'key' has shape \[4, 2, 8\].*\[S, 2, 5\].*kdim 5/);
    expect(() => m.forward(x, k5, k5)).toThrow(/argument 'value' has shape \[6, 2, 5\].*\[6, 2, 3\].*vdim 3/);
    const out = m.forward(x, k5, v3).output;
    expect(out.shape).toEqual([4, 2, 8]);
    for (const t of [x, k5, v3, out]) t.destroy();
    m.destroy();
    // kdim = vdim = embedDim given explicitly keeps the packed in_proj_weight.
    const same = new MultiheadAttention(gpu, { embedDim: E, numHeads: 2, kdim: E, vdim: E });
    expect(same.sameEmbedDim).toBe(true);
    expect(same.namedParameters()[0].name).toBe('in_proj_weight');
    same.destroy();
  });
});

describe('fused attention: dropout on the probabilities in-kernel (counter hash, no mask buffer)', () => {
  const cases: Array<Case & { p: number }> = [
    { batch: 2, heads: 2, seqLenQ: 7, seqLenK: 33, headDim: 3, mask: true, seed: 41, p: 0.3 },
    { batch: 1, heads: 4, kvHeads: 2, seqLenQ: 33, seqLenK: 33, headDim: 65, causal: true, seed: 42, p: 0.1 },
    { batch: 1, heads: 1, seqLenQ: 33, seqLenK: 7, headDim: 256, seed: 43, p: 0.5 },
  ];
  for (const c of cases) {
    const title = `${name(c)} p ${c.p}: same mask as float64 (forward 1e-4, grads 1e-3); other counter rejected`;
    it(title, async () => {
      const drop = new AttentionDropout(gpu, { p: c.p, seed: 1000 + c.seed });
      drop.setStep(7);
      const ref = { p: c.p, seed: 1000 + c.seed, counter: 7, salt: 5 };
      try {
        await runCase(gpu, c, {
          gpuOpts: { dropout: drop, dropoutSalt: 5 },
          refOpts: { dropout: ref },
          wrong: { opts: { dropout: { ...ref, counter: 8 } } },
        });
      } finally {
        drop.destroy();
      }
    });
  }

  it('the float64 reference with dropout passes finite differences (mask fixed by the hash)', () => {
    const dims = { batch: 2, heads: 2, kvHeads: 1, seqLenQ: 4, seqLenK: 5, headDim: 3 };
    fdCheck(dims, { causal: true, dropout: { p: 0.4, seed: 9, counter: 3, salt: 1 } }, 51);
  });

  it('keep fraction ≈ 1 − p and kept weights = P/(1 − p) (one-hot values expose z·P), 32768 draws', async () => {
    const [B, H, T] = [2, 4, 64];
    const p = 0.3;
    const rand = rng(61);
    const q = uniform(rand, B * H * T * T, -0.5, 0.5);
    const k = uniform(rand, B * H * T * T, -0.5, 0.5);
    const v = new Float32Array(B * H * T * T);
    for (let bh = 0; bh < B * H; bh++) for (let j = 0; j < T; j++) v[(bh * T + j) * T + j] = 1;
    const shape = [B, H, T, T];
    const [tq, tk, tv] = [q, k, v].map((x) => Tensor.from(gpu, x, shape));
    const drop = new AttentionDropout(gpu, { p, seed: 77 });
    drop.setStep(123);
    const { output, lse } = scaledDotProductAttention(gpu, tq, tk, tv, { dropout: drop });
    const got = await output.read(); // O[b, h, i, j] = P_ij·z_ij
    const P = attentionRef(q, k, v, { batch: B, heads: H, seqLenQ: T, seqLenK: T, headDim: T }).output;
    let kept = 0;
    let worstKept = 0;
    for (let i = 0; i < got.length; i++) {
      if (got[i] !== 0) {
        kept++;
        worstKept = Math.max(worstKept, Math.abs(got[i] - P[i] / (1 - p)) / (P[i] / (1 - p)));
      }
    }
    const n = got.length;
    const frac = kept / n;
    const sigma = Math.sqrt((p * (1 - p)) / n);
    console.log(`attention dropout p ${p}: kept ${frac.toFixed(4)} of ${n} (1 − p ± 4σ: ±${(4 * sigma).toFixed(4)})`);
    expect(Math.abs(frac - (1 - p))).toBeLessThan(4 * sigma);
    expect(worstKept).toBeLessThan(1e-4);
    // The kernel's bits are dropoutKeep's (shaders/dropout.wgsl's hash): every element agrees.
    let agree = 0;
    for (let i = 0; i < n; i++) if ((got[i] !== 0) === dropoutKeep(77, 123, 0, i, p)) agree++;
    expect(agree).toBe(n);
    for (const t of [tq, tk, tv, output, lse]) t.destroy();
    drop.destroy();
  });

  it('evaluation mode and p = 0 give exactly the output and gradients without dropout', async () => {
    const [B, H, Tq, Tk, D] = [2, 2, 7, 33, 5];
    const rand = rng(71);
    const shapes = { q: [B, H, Tq, D], k: [B, H, Tk, D] };
    const t = {
      q: Tensor.from(gpu, uniform(rand, B * H * Tq * D), shapes.q),
      k: Tensor.from(gpu, uniform(rand, B * H * Tk * D), shapes.k),
      v: Tensor.from(gpu, uniform(rand, B * H * Tk * D), shapes.k),
      dO: Tensor.from(gpu, uniform(rand, B * H * Tq * D), shapes.q),
    };
    const run = async (opts: { dropout?: AttentionDropout }) => {
      const f = scaledDotProductAttention(gpu, t.q, t.k, t.v, { causal: true, ...opts });
      const g = scaledDotProductAttentionBackward(gpu, t.q, t.k, t.v, f.output, f.lse, t.dO, { causal: true, ...opts });
      const out = [await f.output.read(), await g.dq.read(), await g.dk.read(), await g.dv.read()];
      for (const x of [f.output, f.lse, g.dq, g.dk, g.dv]) x.destroy();
      return out;
    };
    const plain = await run({});
    const evalDrop = new AttentionDropout(gpu, { p: 0.5, seed: 3 });
    const trainOut = await run({ dropout: evalDrop });
    expect(trainOut[0]).not.toEqual(plain[0]); // the twin: in training the output does change
    evalDrop.setTraining(false);
    expect(await run({ dropout: evalDrop })).toEqual(plain);
    const zero = new AttentionDropout(gpu, { p: 0, seed: 3 });
    expect(await run({ dropout: zero })).toEqual(plain);
    for (const x of [...Object.values(t)]) x.destroy();
    evalDrop.destroy();
    zero.destroy();
    expect(() => new AttentionDropout(gpu, { p: 1, seed: 0 })).toThrow(/p must be a probability in \[0, 1\)/);
  });

  it('MultiheadAttention(dropout 0.2): inference = the dropout-free layer; training steps draw new masks', async () => {
    const E = 8;
    const mk = (dropout: number) => new MultiheadAttention(gpu, { embedDim: E, numHeads: 2, dropout, seed: 5 });
    const a = mk(0.2);
    const b = mk(0);
    expect(a.options.dropout).toBe(0.2);
    const x = Tensor.from(gpu, uniform(rng(81), 5 * 2 * E, -1, 1), [5, 2, E]);
    const ya = a.forward(x, x, x).output;
    const yb = b.forward(x, x, x).output;
    expect(await ya.read()).toEqual(await yb.read());
    class Self extends Module {
      constructor(readonly m: MultiheadAttention) {
        super(m.gpu);
      }
      forward(z: Tensor): Tensor {
        return this.m.forward(z, z, z).output;
      }
    }
    const target = Tensor.zeros(gpu, [5, 2, E]);
    const losses: number[] = [];
    for (const m of [a, b]) {
      const tr = new Trainer(new Self(m), { loss: 'mse', optimizer: { kind: 'sgd', lr: 0 }, nanGuard: false });
      for (let s = 0; s < 2; s++) losses.push((await tr.step({ inputs: [x], targets: target }, { readLoss: true }))!);
      tr.destroy();
    }
    // lr 0: the dropout-free layer's loss repeats; with dropout each step's mask differs.
    expect(losses[2]).toBe(losses[3]);
    expect(losses[0]).not.toBe(losses[1]);
    expect(losses[0]).not.toBe(losses[2]);
    for (const t of [x, ya, yb, target]) t.destroy();
    a.destroy();
    b.destroy();
  });
});
