// MultiHeadAttention and the strided fused attention kernels (Node, Dawn): the shared checks
// (test/checks/multiHeadAttention.ts), the strided headDim-128 case under the WebGPU default
// limits, PyTorch's initialisation, and bad input.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/index.js';
import { multiHeadAttentionChecks } from '../checks/multiHeadAttention.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

describe('multi-head attention and strided fused attention (Node, Dawn)', () => {
  for (const check of multiHeadAttentionChecks) {
    it(check.name, async () => {
      const t0 = performance.now();
      await check.run(gpu);
      await gpu.sync();
      console.log(`${check.name}: ${(performance.now() - t0).toFixed(0)} ms`);
    });
  }
});

describe('strided attention under the WebGPU default limits (16 KiB workgroup storage)', () => {
  it('headDim 128 packed QKV, forward and backward', async () => {
    const small = await testGpu({ limits: 'default' });
    try {
      const d128 = multiHeadAttentionChecks.filter((c) => c.name.includes('D128'));
      expect(d128.length).toBeGreaterThan(0);
      for (const check of d128) {
        await check.run(small);
        await small.sync();
      }
    } finally {
      small.destroy();
    }
  });
});

describe('MultiHeadAttention initialisation', () => {
  it("draws PyTorch's init: xavier_uniform_ in_proj_weight, U(±1/√E) out_proj.weight, zero biases", async () => {
    const { MultiHeadAttention } = await import('../../src/index.js');
    const E = 24;
    const mha = new MultiHeadAttention(gpu, { embedDim: E, numHeads: 4, seed: 3 });
    const sd = await mha.stateDict();
    expect(Object.keys(sd)).toEqual(['in_proj_weight', 'in_proj_bias', 'out_proj.weight', 'out_proj.bias']);
    expect(sd.in_proj_weight.shape).toEqual([3 * E, E]);
    expect(sd['out_proj.weight'].shape).toEqual([E, E]);
    const stats = (a: Float32Array) => ({
      max: a.reduce((m, x) => Math.max(m, Math.abs(x)), 0),
      rms: Math.sqrt(a.reduce((s, x) => s + x * x, 0) / a.length),
    });
    const bIn = Math.sqrt(6 / (4 * E));
    const bOut = 1 / Math.sqrt(E);
    const wIn = stats(sd.in_proj_weight.data);
    const wOut = stats(sd['out_proj.weight'].data);
    // U(−b, b): every |w| ≤ b, rms ≈ b/√3 (1728 and 576 draws: within 5 %).
    expect(wIn.max).toBeLessThanOrEqual(bIn);
    expect(wIn.max).toBeGreaterThan(0.95 * bIn);
    expect(Math.abs(wIn.rms / (bIn / Math.sqrt(3)) - 1)).toBeLessThan(0.05);
    expect(wOut.max).toBeLessThanOrEqual(bOut);
    expect(Math.abs(wOut.rms / (bOut / Math.sqrt(3)) - 1)).toBeLessThan(0.06);
    expect(sd.in_proj_bias.data.every((x) => x === 0)).toBe(true);
    expect(sd['out_proj.bias'].data.every((x) => x === 0)).toBe(true);
    // Same seed, same weights; another seed, others.
    const again = new MultiHeadAttention(gpu, { embedDim: E, numHeads: 4, seed: 3 });
    expect(Array.from((await again.stateDict()).in_proj_weight.data)).toEqual(Array.from(sd.in_proj_weight.data));
    again.resetParameters(4);
    expect(Array.from((await again.stateDict()).in_proj_weight.data)).not.toEqual(Array.from(sd.in_proj_weight.data));
    mha.destroy();
    again.destroy();
  });
});

describe('MultiHeadAttention bad input: errors name the argument, before any GPU work', () => {
  it('rejects bad options, shapes, masks and state dicts; the layer works afterwards', async () => {
    const { MultiHeadAttention, Tensor, ShapeError } = await import('../../src/index.js');
    expect(() => new MultiHeadAttention(gpu, { embedDim: 10, numHeads: 3 })).toThrow(
      /embedDim \(10\) must be divisible by numHeads \(3\)/,
    );
    expect(() => new MultiHeadAttention(gpu, { embedDim: 0, numHeads: 1 })).toThrow(
      /option 'embedDim' must be a positive integer, got 0/,
    );
    expect(() => new MultiHeadAttention(gpu, { embedDim: 8, numHeads: 2.5 })).toThrow(
      /option 'numHeads' must be a positive integer, got 2.5/,
    );
    expect(() => new MultiHeadAttention(gpu, { embedDim: 514, numHeads: 2 })).toThrow(
      /headDim = embedDim \/ numHeads = 257 exceeds 256/,
    );

    const E = 8;
    const mha = new MultiHeadAttention(gpu, { embedDim: E, numHeads: 2, seed: 1 });
    const t = (shape: number[], fill = 0.5) =>
      Tensor.from(
        gpu,
        new Float32Array(shape.reduce((a, b) => a * b, 1)).map((_, i) => Math.sin(i) * fill),
        shape,
      );
    const q = t([2, 3, E]);
    const kv = t([2, 5, E]);
    const before = await mha.forward(q, kv, kv).read();
    expect(() => mha.forward(t([2, 3, 5]), kv, kv)).toThrow(
      /argument 'query' has shape \[2, 3, 5\]: its last dimension must be embedDim=8/,
    );
    expect(() => mha.forward(q, t([3, 5, E]), t([3, 5, E]))).toThrow(
      /argument 'key' has shape \[3, 5, 8\]; expected \[2, seqLenK, 8\]/,
    );
    expect(() => mha.forward(q, kv, t([2, 4, E]))).toThrow(
      /argument 'value' has shape \[2, 4, 8\]; expected key's shape \[2, 5, 8\]/,
    );
    expect(() => mha.forward(t([2, 3]), kv, kv)).toThrow(
      /argument 'query' has shape \[2, 3\] \(rank 2\), expected rank 3/,
    );
    expect(() => mha.forward(q, kv, kv, { keyPaddingMask: t([2, 4]) })).toThrow(
      /argument 'keyPaddingMask' has shape \[2, 4\], expected \[2, 5\]/,
    );
    expect(() => mha.forward(kv, q, q, { causal: true })).toThrow(/causal mask needs seqLenQ ≤ seqLenK, got 5 > 3/);
    expect(() => mha.forwardBackward(q, kv, kv, t([2, 5, E]))).toThrow(
      /argument 'dOutput' has shape \[2, 5, 8\], expected \[2, 3, 8\]/,
    );
    const sd = await mha.stateDict();
    expect(() => mha.loadStateDict({ ...sd, 'out_proj.bias': undefined as never })).toThrow(
      /state_dict is missing 'out_proj.bias' \(expected shape \[8\]\)/,
    );
    expect(() =>
      mha.loadStateDict({ ...sd, in_proj_weight: { shape: [E, 3 * E], data: new Float32Array(3 * E * E) } }),
    ).toThrow(/state_dict\['in_proj_weight'\] has shape \[8, 24\], expected \[24, 8\]/);
    expect(() => mha.loadStateDict({ ...sd, q_proj_weight: sd['out_proj.weight'] })).toThrow(
      /unexpected key\(s\) 'q_proj_weight'; expected in_proj_weight, in_proj_bias, out_proj.weight, out_proj.bias/,
    );
    expect(() =>
      mha.loadStateDict({ ...sd, in_proj_bias: { shape: [3 * E], data: new Float32Array(3 * E).fill(NaN) } }),
    ).toThrow(/state_dict\['in_proj_bias'\] holds NaN/);
    expect(() =>
      mha.loadStateDict({
        ...sd,
        'out_proj.weight': { shape: [E, E], data: new Float32Array(E * E).fill(9) },
        in_proj_bias: [1, 2],
      }),
    ).toThrow(ShapeError);
    // Nothing was uploaded by the failed loads: same weights, same output.
    expect(Array.from(await mha.forward(q, kv, kv).read())).toEqual(Array.from(before));
    // The raw strided kernels: a view past its buffer, an output view overlapping itself,
    // gradients in two buffers.
    const { attentionDispatch, attentionBackwardDispatches, projectionView } = await import('../../src/index.js');
    const buf = (n: number) => Tensor.zeros(gpu, [n]).buffer;
    const dims = { batch: 2, heads: 2, seqLenQ: 3, seqLenK: 3, headDim: 4 };
    const packed = buf(2 * 3 * 24);
    expect(() =>
      attentionDispatch(gpu, {
        ...dims,
        q: projectionView(packed, 3, 4, 24, 0),
        k: projectionView(packed, 3, 4, 24, 8),
        v: projectionView(packed, 3, 4, 24, 17),
        o: buf(48),
        lse: buf(12),
      }),
    ).toThrow(
      /'v' \[2, 2, 3, 4\] at offset 17, strides \[72, 4, 24\] spans elements up to 145, but its buffer holds 144/,
    );
    expect(() =>
      attentionDispatch(gpu, {
        ...dims,
        q: packed,
        k: packed,
        v: packed,
        o: { buffer: buf(48), strides: [24, 4, 4] },
        lse: buf(12),
      }),
    ).toThrow(
      new RegExp(
        String.raw`output view 'o' overlaps itself: its sequence stride 4 is smaller ` +
          String.raw`than the 8 elements the smaller dimensions span`,
      ),
    );
    expect(() =>
      attentionBackwardDispatches(gpu, {
        ...dims,
        q: packed,
        k: packed,
        v: packed,
        o: buf(48),
        dO: buf(48),
        rowStats: buf(24),
        dq: buf(48),
        dk: buf(48),
        dv: buf(48),
      }),
    ).toThrow(/'dq', 'dk' and 'dv' must be views of one buffer/);
    expect(() =>
      attentionBackwardDispatches(gpu, {
        ...dims,
        q: packed,
        k: packed,
        v: packed,
        o: buf(48),
        dO: buf(48),
        rowStats: buf(12),
        dq: packed,
        dk: packed,
        dv: packed,
      }),
    ).toThrow(/'rowStats' holds 12 elements, needs 24/);
    // …and the layer still works (forward and backward).
    expect(Array.from(await mha.forward(q, kv, kv).read())).toEqual(Array.from(before));
    const g = mha.forwardBackward(q, kv, kv, t([2, 3, E]));
    expect(g.dKey).toBe(g.dValue);
    expect((await g.dKey.read()).some((x) => x !== 0)).toBe(true);
    mha.destroy();
    expect(() => mha.forward(q, kv, kv)).toThrow(/MultiHeadAttention.forward: this MultiHeadAttention was destroyed/);
  });
});
