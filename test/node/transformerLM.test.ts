// TransformerLM vs PyTorch 1.13 (test/fixtures/transformer_lm.json, generated in float64 by
// test/fixtures/make_transformer_lm_fixtures.py): a pre-norm gelu model with learned positions and
// a post-norm relu model with sinusoid positions and a tied head. The initial logits within 1e-4
// (relative to the largest), the cross-entropy within 1e-4, every gradient within 1e-3, the losses of
// 3 AdamW steps through Trainer within 1e-4 and every parameter after them within 1e-4; then greedy
// KV-cache generation of 10 tokens from 3 prompts equals PyTorch's (recomputing the whole sequence
// each step), and equals the argmax of seqgpu's own full forward at every generated position.
// Also: PositionalEncoding vs a float64 reference (forward, learned-table gradient, seq-first
// layout, explicit positions), the counts of a training step (one submit) and of a decoding step,
// and errors that leave the model untouched.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ArgumentError,
  PositionalEncoding,
  ShapeError,
  Tensor,
  Trainer,
  TransformerLM,
  sinusoidTable,
  type Gpu,
  type TransformerLMOptions,
} from '../../src/index.js';
import { kvCacheWriteDispatch } from '../../src/kernels/kvCacheWrite.js';
import { kvCacheWriteRef } from '../../src/reference/kvCache.js';
import { testGpu } from './gpu.js';

type Json = { shape: number[]; data: number[] };
type Case = {
  name: string;
  options: TransformerLMOptions;
  state_dict: Record<string, Json>;
  tokens: Json;
  targets: Json;
  logits: Json;
  loss: number;
  grads: Record<string, Json>;
  adamw: { lr: number; weight_decay: number };
  losses: number[];
  params: Record<string, Json>;
  prompts: number[][];
  generated: number[][];
};
const fx = JSON.parse(readFileSync(new URL('../fixtures/transformer_lm.json', import.meta.url), 'utf8')) as {
  cases: Case[];
};

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

/** max |a − b| / max |b|: the error relative to the largest expected value. */
function rel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let err = 0;
  let scale = 1e-6;
  for (let i = 0; i < a.length; i++) {
    err = Math.max(err, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return err / scale;
}

const i32 = (t: Json) => Tensor.from(gpu, Int32Array.from(t.data), t.shape);
const dict = (sd: Record<string, Json>) =>
  Object.fromEntries(Object.entries(sd).map(([k, v]) => [k, { shape: v.shape, data: v.data }]));

/** Argmax of each row of a [rows, V] array. */
function argmaxRows(x: Float32Array, V: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < x.length / V; r++) {
    let best = 0;
    for (let v = 1; v < V; v++) if (x[r * V + v] > x[r * V + best]) best = v;
    out.push(best);
  }
  return out;
}

describe('TransformerLM vs PyTorch 1.13', () => {
  for (const c of fx.cases) {
    it(c.name, async () => {
      const lm = new TransformerLM(gpu, c.options);
      const names = Object.keys(c.state_dict).filter((k) => !(c.options.tieWeights && k === 'head.weight'));
      expect(lm.namedParameters().map((p) => p.name)).toEqual(names);
      lm.loadStateDict(dict(c.state_dict));
      const tokens = i32(c.tokens);
      const targets = i32(c.targets);
      const logits = lm.forward(tokens);
      expect(logits.shape).toEqual(c.logits.shape);
      const eLogits = rel(await logits.read(), c.logits.data);
      expect(eLogits, 'logits').toBeLessThan(1e-4);
      logits.destroy();

      // Loss and gradients: one step that changes nothing (SGD, lr 0).
      const probe = new Trainer(lm, { loss: 'crossEntropy', optimizer: { kind: 'sgd', lr: 0 }, nanGuard: false });
      const loss = (await probe.step({ inputs: tokens, targets }, { readLoss: true }))!;
      expect(Math.abs(loss - c.loss) / c.loss, 'loss').toBeLessThan(1e-4);
      let eGrad = 0;
      for (const p of lm.namedParameters()) {
        const g = await p.grad.read();
        if (p.name.endsWith('in_proj_bias')) {
          const gMax = Math.max(...Array.from(g, Math.abs));
          for (let i = c.options.dModel; i < 2 * c.options.dModel; i++)
            expect(Math.abs(g[i]), 'key-bias gradient (zero up to rounding)').toBeLessThan(1e-5 * gMax);
        }
        const e = rel(g, c.grads[p.name].data);
        expect(e, `grad ${p.name}`).toBeLessThan(1e-3);
        eGrad = Math.max(eGrad, e);
      }
      expect(probe.lastRun!.submits).toBe(1);
      probe.destroy();

      // 3 AdamW steps.
      const trainer = new Trainer(lm, {
        loss: 'crossEntropy',
        optimizer: { kind: 'adamw', lr: c.adamw.lr, weightDecay: c.adamw.weight_decay },
        nanGuard: false,
      });
      for (let s = 0; s < 3; s++) {
        const l = (await trainer.step({ inputs: tokens, targets }, { readLoss: true }))!;
        expect(Math.abs(l - c.losses[s]) / c.losses[s], `loss of step ${s}`).toBeLessThan(1e-4);
        expect(trainer.lastRun!.submits).toBe(1);
      }
      // The key part of in_proj_bias has a zero gradient (softmax is shift-invariant along a row's
      // keys): PyTorch's float64 one is ~1e-17, f32 rounding leaves ~1e-9, and Adam's normalisation
      // turns either into steps of up to ~lr. That slice is checked against that bound; the rest of
      // every parameter within 1e-4.
      const E = c.options.dModel;
      let eParam = 0;
      for (const p of lm.namedParameters()) {
        const got = await p.read();
        const want = c.params[p.name].data;
        if (p.name.endsWith('in_proj_bias')) {
          const scale = Math.max(...want.map(Math.abs));
          const init = c.state_dict[p.name].data;
          for (let i = 0; i < 3 * E; i++) {
            const e = Math.abs(got[i] - want[i]);
            if (i >= E && i < 2 * E) {
              expect(e, `${p.name}[${i}] (key bias)`).toBeLessThan(6 * c.adamw.lr);
              expect(Math.abs(want[i] - init[i]), 'PyTorch key bias: weight decay only').toBeLessThan(1e-6);
            } else {
              expect(e / scale, `${p.name}[${i}] after 3 steps`).toBeLessThan(1e-4);
              eParam = Math.max(eParam, e / scale);
            }
          }
          continue;
        }
        const e = rel(got, want);
        expect(e, `${p.name} after 3 steps`).toBeLessThan(1e-4);
        eParam = Math.max(eParam, e);
      }
      const sd = await lm.stateDict();
      expect(Object.keys(sd)).toEqual(expect.arrayContaining(Object.keys(c.params)));

      // Greedy KV-cache generation = PyTorch's, and = seqgpu's own full-forward argmax.
      const V = c.options.vocabSize;
      for (let k = 0; k < c.prompts.length; k++) {
        const prompt = c.prompts[k];
        const got = await lm.generate(prompt, { maxNewTokens: 10, greedy: true });
        expect(got, `prompt ${prompt}`).toEqual(c.generated[k]);
        const seq = [...prompt, ...got.slice(0, -1)];
        const full = Tensor.from(gpu, Int32Array.from(seq), [1, seq.length]);
        lm.eval();
        const all = lm.forward(full);
        lm.train();
        const argmax = argmaxRows(await all.read(), V).slice(prompt.length - 1);
        expect(argmax, 'full-forward argmax').toEqual(got);
        all.destroy();
        full.destroy();
      }
      const asTensor = Tensor.from(gpu, Int32Array.from(c.prompts[1]), [1, c.prompts[1].length]);
      expect(await lm.generate(asTensor, { maxNewTokens: 10, temperature: 0 })).toEqual(c.generated[1]);
      asTensor.destroy();
      console.log(
        `${c.name}: logits ${eLogits.toExponential(2)}, grads ${eGrad.toExponential(2)}, params after 3 AdamW ` +
          `${eParam.toExponential(2)}; step ${JSON.stringify(trainer.lastRun)}, decode step ` +
          JSON.stringify(lm.lastGenerateStep),
      );
      trainer.destroy();
      lm.destroy();
      tokens.destroy();
      targets.destroy();
    });
  }
});

describe('TransformerLM: counts, sampling and errors', () => {
  const opts: TransformerLMOptions = { vocabSize: 7, dModel: 6, nhead: 2, numLayers: 2, maxSeqLen: 9, dropout: 0 };

  it('a training step is one submit with a fixed dispatch count; a decoding step likewise', async () => {
    const lm = new TransformerLM(gpu, { ...opts, dropout: 0.1 });
    const tokens = Tensor.from(
      gpu,
      Int32Array.from({ length: 2 * 5 }, (_, i) => i % 7),
      [2, 5],
    );
    const targets = Tensor.from(
      gpu,
      Int32Array.from({ length: 2 * 5 }, (_, i) => (i + 1) % 7),
      [2, 5],
    );
    const trainer = new Trainer(lm, { loss: 'crossEntropy', optimizer: { kind: 'adamw', lr: 1e-3 } });
    await trainer.step({ inputs: tokens, targets });
    const first = { ...trainer.lastRun! };
    await trainer.step({ inputs: tokens, targets });
    expect(trainer.lastRun).toEqual(first);
    expect(first.submits).toBe(1);
    await lm.generate([1, 2], { maxNewTokens: 2, greedy: true });
    console.log(`training step ${JSON.stringify(first)}; decode step ${JSON.stringify(lm.lastGenerateStep)}`);
    // Pinned (deterministic). Training with dropout 0.1: the activation runs in linear1's GEMM, the
    // feed-forward residual stays its own add (dropout2 sits between). Decoding (no dropout), per
    // layer: norm1, in_proj, cache write, attention, out_proj, add, norm2, linear1 + gelu,
    // linear2 + residual = 9; plus the token and position lookups, the position add, the final norm
    // and the head = 2·9 + 5.
    expect(first).toEqual({ dispatches: 93, submits: 1, nodes: 77, buffers: 37, planned: 77 });
    expect(lm.lastGenerateStep).toEqual({ dispatches: 23, submits: 1 });
    trainer.destroy();
    lm.destroy();
    tokens.destroy();
    targets.destroy();
  });

  it('sampling is reproducible by seed, topK 1 is greedy, and the prompt is not returned', async () => {
    const lm = new TransformerLM(gpu, { ...opts, seed: 5 });
    const a = await lm.generate([3, 1], { maxNewTokens: 7, temperature: 1.5, seed: 9 });
    const b = await lm.generate([3, 1], { maxNewTokens: 7, temperature: 1.5, seed: 9 });
    expect(a).toEqual(b);
    expect(a).toHaveLength(7);
    expect(a.every((t) => Number.isInteger(t) && t >= 0 && t < 7)).toBe(true);
    const greedy = await lm.generate([3, 1], { maxNewTokens: 7, greedy: true });
    expect(await lm.generate([3, 1], { maxNewTokens: 7, topK: 1, seed: 4 })).toEqual(greedy);
    expect(await lm.generate([3], { maxNewTokens: 0 })).toEqual([]);
    // Calls run in call order: Promise.all equals awaiting one after the other.
    const both = await Promise.all([
      lm.generate([3, 1], { maxNewTokens: 7, temperature: 1.5, seed: 9 }),
      lm.generate([3, 1], { maxNewTokens: 7, greedy: true }),
    ]);
    expect(both).toEqual([a, greedy]);
    lm.destroy();
  });

  it('attentionWeights: per layer [batch, nhead, T, T], causal, rows sum to 1, = MultiheadAttention', async () => {
    const lm = new TransformerLM(gpu, { ...opts, seed: 2 });
    const ids = [1, 4, 2, 6, 0];
    const maps = await lm.attentionWeights(ids);
    expect(maps).toHaveLength(2);
    const [H, T] = [2, ids.length];
    for (const m of maps) {
      expect(m).toHaveLength(H * T * T);
      for (let h = 0; h < H; h++)
        for (let i = 0; i < T; i++) {
          let sum = 0;
          for (let j = 0; j < T; j++) {
            const w = m[(h * T + i) * T + j];
            if (j > i) expect(w).toBe(0);
            sum += w;
          }
          expect(Math.abs(sum - 1)).toBeLessThan(1e-5);
        }
    }
    // Layer 0's weights = the layer's own MultiheadAttention on norm1(embeddings) (pre-norm).
    const x = Tensor.from(gpu, Int32Array.from(ids), [1, T]);
    lm.eval();
    const h0 = lm.layers[0].norm1.forward(lm.pos_embed.forward(lm.tok_embed.forward(x)));
    const direct = lm.layers[0].self_attn.forward(h0, h0, h0, {
      isCausal: true,
      needWeights: true,
      averageAttnWeights: false,
    }).weights!;
    expect(rel(maps[0], await direct.read())).toBeLessThan(1e-6);
    await expect(lm.attentionWeights([9])).rejects.toThrow(/tokens\[0\] = 9/);
    [x, h0, direct].forEach((t) => t.destroy());
    lm.destroy();
  });

  it('rejects bad input naming it, and a rejected call changes nothing', async () => {
    expect(() => new TransformerLM(gpu, { ...opts, nhead: 4 })).toThrow(/divisible by nhead/);
    expect(() => new TransformerLM(gpu, { ...opts, positonal: 'learned' } as never)).toThrow(/positonal/);
    const lm = new TransformerLM(gpu, opts);
    const before = await lm.stateDict();
    await expect(lm.generate([7], { maxNewTokens: 1 })).rejects.toThrow(/prompt\[0\] = 7/);
    await expect(lm.generate([], { maxNewTokens: 1 })).rejects.toThrow(ArgumentError);
    await expect(lm.generate([1, 2, 3], { maxNewTokens: 8 })).rejects.toThrow(/maxSeqLen 9/);
    await expect(lm.generate([1], {} as never)).rejects.toThrow(/maxNewTokens/);
    await expect(lm.generate([1], { maxNewTokens: 2, topK: -1 })).rejects.toThrow(/topK/);
    const f = Tensor.from(gpu, new Float32Array(2), [1, 2]);
    await expect(lm.generate(f, { maxNewTokens: 1 })).rejects.toThrow(/expected i32 \[1, P\]/);
    const long = Tensor.from(gpu, new Int32Array(10), [1, 10]);
    expect(() => lm.forward(long)).toThrow(ShapeError);
    expect(() => lm.forward(f)).toThrow(/expected i32 \[batch, T\]/);
    expect(lm.lastGenerateStep).toBe(null);
    const after = await lm.stateDict();
    for (const k of Object.keys(before)) expect(after[k].data).toEqual(before[k].data);
    // A tied model refuses a head.weight that is not tok_embed.weight.
    const tied = new TransformerLM(gpu, { ...opts, tieWeights: true });
    const sd = await tied.stateDict();
    expect(Object.keys(sd)).toContain('head.weight');
    tied.loadStateDict(sd);
    const bad = {
      ...sd,
      'head.weight': { shape: sd['head.weight'].shape, data: sd['head.weight'].data.map((v) => v + 1) },
    };
    expect(() => tied.loadStateDict(bad)).toThrow(/differs from 'tok_embed.weight'/);
    [f, long].forEach((t) => t.destroy());
    tied.destroy();
    lm.destroy();
  });
});

describe('PositionalEncoding vs a float64 reference', () => {
  /** sin/cos in float64 straight from the paper's formula. */
  const pe64 = (p: number, c: number, d: number) => {
    const angle = p / 10000 ** ((2 * Math.floor(c / 2)) / d);
    return c % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
  };

  it('sinusoid table, batch-first and seq-first, explicit positions', async () => {
    const [B, T, d, L] = [3, 5, 7, 11];
    const table = sinusoidTable(L, d);
    for (let p = 0; p < L; p++) for (let c = 0; c < d; c++) expect(table[p * d + c]).toBeCloseTo(pe64(p, c, d), 6);
    const xs = Float32Array.from({ length: B * T * d }, (_, i) => Math.sin(3 * i));
    for (const batchFirst of [true, false]) {
      const pos = new PositionalEncoding(gpu, { dModel: d, maxLen: L, batchFirst });
      const x = Tensor.from(gpu, xs, batchFirst ? [B, T, d] : [T, B, d]);
      const y = await pos.forward(x).read();
      let err = 0;
      for (let b = 0; b < B; b++)
        for (let t = 0; t < T; t++)
          for (let c = 0; c < d; c++) {
            const i = batchFirst ? (b * T + t) * d + c : (t * B + b) * d + c;
            err = Math.max(err, Math.abs(y[i] - (xs[i] + pe64(t, c, d))));
          }
      expect(err).toBeLessThan(1e-5);
      if (batchFirst) {
        const at = Tensor.from(gpu, Int32Array.from([10, 0, 4, 4, 2]), [T]);
        const z = await pos.forward(x, { positions: at }).read();
        const ps = [10, 0, 4, 4, 2];
        expect(Math.abs(z[(2 * T + 0) * d + 3] - (xs[2 * T * d + 3] + pe64(ps[0], 3, d)))).toBeLessThan(1e-5);
        expect(Math.abs(z[(1 * T + 4) * d + 6] - (xs[(T + 4) * d + 6] + pe64(ps[4], 6, d)))).toBeLessThan(1e-5);
        expect(() => pos.forward(x, { positions: Tensor.from(gpu, new Int32Array(4), [4]) })).toThrow(
          /expected i32 \[5\]/,
        );
        at.destroy();
      }
      const long = Tensor.from(gpu, new Float32Array(12 * d), batchFirst ? [1, 12, d] : [12, 1, d]);
      expect(() => pos.forward(long)).toThrow(/maxLen 11/);
      long.destroy();
      expect(pos.namedParameters()).toEqual([]);
      x.destroy();
      pos.destroy();
    }
  });

  it('learned table: forward and the gradient of weight (column sums scattered to the rows used)', async () => {
    const [B, T, d, L] = [2, 3, 5, 4];
    const pos = new PositionalEncoding(gpu, { dModel: d, maxLen: L, kind: 'learned', seed: 3 });
    expect(pos.namedParameters().map((p) => [p.name, p.shape])).toEqual([['weight', [L, d]]]);
    const w = await pos.namedParameters()[0].read();
    const xs = Float32Array.from({ length: B * T * d }, (_, i) => Math.cos(i));
    const x = Tensor.from(gpu, xs, [B, T, d]);
    const target = Tensor.from(gpu, new Float32Array(B * T * d), [B, T, d]);
    const y = await pos.forward(x).read();
    for (let i = 0; i < y.length; i++)
      expect(Math.abs(y[i] - (xs[i] + w[(Math.floor(i / d) % T) * d + (i % d)]))).toBeLessThan(1e-6);
    // L = mean((x + W[t])²): dL/dW[t, c] = Σ_b 2(x + W[t])[b, t, c] / (B·T·d); row T (unused) gets 0.
    const trainer = new Trainer(pos, { loss: 'mse', optimizer: { kind: 'sgd', lr: 0 }, nanGuard: false });
    await trainer.step({ inputs: x, targets: target });
    const g = await pos.namedParameters()[0].grad.read();
    for (let t = 0; t < L; t++)
      for (let c = 0; c < d; c++) {
        let want = 0;
        if (t < T) for (let b = 0; b < B; b++) want += (2 * (xs[(b * T + t) * d + c] + w[t * d + c])) / (B * T * d);
        expect(Math.abs(g[t * d + c] - want)).toBeLessThan(1e-6);
      }
    trainer.destroy();
    [x, target].forEach((t) => t.destroy());
    pos.destroy();
  });
});

describe('kv_cache_write.wgsl vs its float64 reference', () => {
  it('writes row p of both caches from a packed [q|k|v] row, unmasks key p; p ≥ maxLen: nothing', async () => {
    for (const [cols, maxLen] of [
      [1, 1],
      [67, 5],
      [130, 3],
    ]) {
      const packed = Float32Array.from({ length: 3 * cols + 2 }, (_, i) => Math.sin(i) + 2);
      const kInit = Float32Array.from({ length: maxLen * cols }, (_, i) => -i);
      const vInit = Float32Array.from({ length: maxLen * cols }, (_, i) => i / 7);
      const keepInit = new Float32Array(maxLen);
      for (const p of [maxLen - 1, 0, maxLen]) {
        const t = (a: Float32Array) => Tensor.from(gpu, a, [a.length]);
        const [src, k, v, keep] = [t(packed), t(kInit), t(vInit), t(keepInit)];
        const pos = Tensor.from(gpu, Int32Array.of(9, p), [2]);
        gpu.run([
          kvCacheWriteDispatch(gpu, {
            cols,
            maxLen,
            srcK: { buffer: src.buffer, offset: 2 + cols },
            srcV: { buffer: src.buffer, offset: 2 + 2 * cols },
            position: { buffer: pos.buffer, offset: 1 },
            kCache: k,
            vCache: v,
            keep,
          }),
        ]);
        const want = kvCacheWriteRef(
          kInit,
          vInit,
          keepInit,
          packed.subarray(2 + cols, 2 + 2 * cols),
          packed.subarray(2 + 2 * cols, 2 + 3 * cols),
          p,
        );
        expect(Array.from(await k.read()), `k cols ${cols} p ${p}`).toEqual(Array.from(want.kCache, Math.fround));
        expect(Array.from(await v.read()), `v cols ${cols} p ${p}`).toEqual(Array.from(want.vCache, Math.fround));
        expect(Array.from(await keep.read()), `keep p ${p}`).toEqual(Array.from(want.keep));
        // The comparison can fail: another position's reference differs when a row is written.
        if (p < maxLen && maxLen > 1) {
          const other = kvCacheWriteRef(
            kInit,
            vInit,
            keepInit,
            packed.subarray(2 + cols, 2 + 2 * cols),
            packed,
            (p + 1) % maxLen,
          );
          expect(Array.from(await keep.read())).not.toEqual(Array.from(other.keep));
        }
        [src, k, v, keep, pos].forEach((x) => x.destroy());
      }
    }
  });
});
