// RNN attention (Luong dot / general, Bahdanau additive) vs the float64 reference (Node, Dawn),
// plus: recording allocates nothing beyond the plan's scratch and the per-dispatch uniforms, and
// bad input throws a ShapeError naming the argument before any GPU work.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/index.js';
import { RnnAttentionPlan, ShapeError, Tensor } from '../../src/index.js';
import { ParameterStore } from '../../src/io/parameters.js';
import { rnnAttentionChecks } from '../checks/rnnAttention.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

describe('RNN attention vs the float64 reference (Node, Dawn)', () => {
  for (const check of rnnAttentionChecks) {
    it(
      check.name,
      async () => {
        const t0 = performance.now();
        await check.run(gpu);
        await gpu.sync();
        console.log(`${check.name}: ${(performance.now() - t0).toFixed(0)} ms`);
      },
      120_000,
    );
  }
});

describe(
  'RNN attention under the WebGPU default limits (8 storage buffers, 16 KiB ' + 'workgroup storage, 256 threads)',
  () => {
    it('dot, general and additive, forward, step-wise and backward', async () => {
      const small = await testGpu({ limits: 'default' });
      try {
        const picked = rnnAttentionChecks.filter((c) => /B3 Tq5 Ts7|general B2 Tq6/.test(c.name));
        expect(picked.length).toBe(6); // the three cases, with the adapter's and with the GPU's thread layout
        for (const check of picked) {
          await check.run(small);
          await small.sync();
        }
      } finally {
        small.destroy();
      }
    }, 120_000);
  },
);

/** A plan with its parameters, inputs and outputs, batch-first, for the tests below. */
function setup(score: 'dot' | 'general' | 'additive', B = 2, Tq = 3, Ts = 4, Hq = 5, Hk = 5, A = 6) {
  const plan = new RnnAttentionPlan(gpu, {
    score,
    batch: B,
    seqLenQ: Tq,
    seqLenS: Ts,
    queryDim: Hq,
    keyDim: Hk,
    attnDim: A,
  });
  const store = new ParameterStore(gpu);
  for (const p of plan.parameterShapes) store.add(p.name, p.shape);
  store.allocate();
  const params = Object.fromEntries(plan.parameterShapes.map((p) => [p.name, store.view(p.name)]));
  const grads = Object.fromEntries(plan.parameterShapes.map((p) => [p.name, store.gradView(p.name)]));
  const t = (n: number) => Tensor.zeros(gpu, [n]);
  const seq = (x: Tensor, T: number, W: number) => ({ buffer: x.buffer, strideBatch: T * W, strideTime: W });
  const x = {
    q: t(B * Tq * Hq),
    k: t(B * Ts * Hk),
    c: t(B * Tq * Hk),
    a: t(B * Tq * Ts),
    dc: t(B * Tq * Hk),
    dq: t(B * Tq * Hq),
    dk: t(B * Ts * Hk),
    mask: t(B * Ts),
  };
  const views = {
    query: seq(x.q, Tq, Hq),
    keys: seq(x.k, Ts, Hk),
    context: seq(x.c, Tq, Hk),
    alpha: seq(x.a, Tq, Ts),
    dContext: seq(x.dc, Tq, Hk),
    dQuery: seq(x.dq, Tq, Hq),
    dKeys: seq(x.dk, Ts, Hk),
  };
  const destroy = () => {
    plan.destroy();
    store.destroy();
    for (const v of Object.values(x)) v.destroy();
  };
  return { plan, store, params, grads, x, views, destroy };
}

describe('RNN attention resources', () => {
  for (const score of ['dot', 'general', 'additive'] as const) {
    it(`${score}: re-recording forward + backward creates no buffer; destroy() returns the scratch`, async () => {
      const s = setup(score);
      const record = () => [
        ...s.plan.prepareDispatches({ keys: s.views.keys, params: s.params }),
        ...s.plan.forwardDispatches({
          t0: 0,
          steps: 3,
          query: s.views.query,
          keys: s.views.keys,
          keyMask: s.x.mask.buffer,
          params: s.params,
          context: s.views.context,
          alpha: s.views.alpha,
        }),
        ...s.plan.backwardDispatches({
          query: s.views.query,
          keys: s.views.keys,
          params: s.params,
          alpha: s.views.alpha,
          dContext: s.views.dContext,
          dQuery: s.views.dQuery,
          dKeys: s.views.dKeys,
          grads: s.grads,
        }),
      ];
      gpu.run(record());
      await gpu.sync();
      const created = gpu.pool.stats.created;
      const inUse = gpu.pool.stats.inUse;
      const list = record();
      // every buffer a recording takes is a transient uniform of one of its dispatches
      const transient = list.reduce((n, d) => n + (d.transient?.length ?? 0), 0);
      expect(gpu.pool.stats.inUse - inUse).toBe(transient);
      gpu.run(list);
      await gpu.sync();
      expect(gpu.pool.stats.created).toBe(created);
      expect(gpu.pool.stats.inUse).toBe(inUse);
      const scratch = score === 'dot' ? 1 : 2; // work (+ proj)
      s.plan.destroy();
      expect(inUse - gpu.pool.stats.inUse).toBe(scratch);
      s.destroy();
    });
  }
});

describe('RNN attention bad input: ShapeErrors name the argument, before any GPU work', () => {
  it('rejects bad configurations', () => {
    const mk = (cfg: object) => () =>
      new RnnAttentionPlan(gpu, {
        score: 'dot',
        batch: 2,
        seqLenQ: 3,
        seqLenS: 4,
        queryDim: 5,
        keyDim: 5,
        ...cfg,
      } as never);
    expect(mk({ keyDim: 6 })).toThrow(/dot score needs queryDim === keyDim, got queryDim 5 and keyDim 6/);
    expect(mk({ score: 'additive' })).toThrow(/attnDim must be a positive integer, got undefined/);
    expect(mk({ seqLenS: 0 })).toThrow(/seqLenS must be a positive integer, got 0/);
    expect(mk({ batch: 2.5 })).toThrow(/batch must be a positive integer/);
    expect(mk({ score: 'luong' })).toThrow(/score must be one of dot, general, additive, got 'luong'/);
    expect(mk({ score: 'general', queryDim: 5, keyDim: 6 })).not.toThrow();
  });

  it('rejects missing or wrong-sized parameters, too-small buffers, bad strides and aliased outputs', async () => {
    const s = setup('additive');
    try {
      const { plan, params, grads, views, x } = s;
      const fwd = {
        t0: 0,
        steps: 3,
        query: views.query,
        keys: views.keys,
        params,
        context: views.context,
        alpha: views.alpha,
      };
      expect(() => plan.forwardDispatches({ ...fwd, params: { v: params.v } })).toThrow(
        /'params' has no 'query_proj.weight' \[6, 5\].*given: 'v'/,
      );
      expect(() => plan.prepareDispatches({ keys: views.keys, params: {} })).toThrow(
        /'params' has no 'query_proj.weight'/,
      );
      expect(() => plan.forwardDispatches({ ...fwd, params: { ...params, v: { ...params.v, size: 5 } } })).toThrow(
        /'params.v' has 5 elements; expected \[6\] = 6/,
      );
      const small = Tensor.zeros(gpu, [20]);
      const tinyMask = Tensor.zeros(gpu, [3]); // 16 bytes: 4 elements
      try {
        expect(() =>
          plan.forwardDispatches({ ...fwd, query: { buffer: small.buffer, strideBatch: 15, strideTime: 5 } }),
        ).toThrow(
          /'query' \[2, 3, 5\] \(offset 0, strideBatch 15, strideTime 5\) spans 30 elements, but its buffer holds 20/,
        );
        expect(() =>
          plan.prepareDispatches({ keys: { buffer: small.buffer, offset: 4, strideBatch: 20, strideTime: 5 }, params }),
        ).toThrow(/'keys' \[2, 4, 5\] .*spans 44 elements/);
        expect(() => plan.forwardDispatches({ ...fwd, keyMask: tinyMask.buffer })).toThrow(
          /'keyMask' holds 4 elements; expected \[batch, seqLenS\] = \[2, 4\]/,
        );
      } finally {
        small.destroy();
        tinyMask.destroy();
      }
      expect(() => plan.forwardDispatches({ ...fwd, alpha: { ...views.alpha, strideTime: 3 } })).toThrow(
        /'alpha' \[2, 3, 4\] has overlapping rows: strideBatch 12, strideTime 3/,
      );
      expect(() => plan.forwardDispatches({ ...fwd, t0: 2, steps: 2 })).toThrow(
        /t0 2 and steps 2 must select steps within \[0, seqLenQ = 3\)/,
      );
      expect(() =>
        plan.forwardDispatches({ ...fwd, context: { ...views.context, buffer: x.q.buffer, strideBatch: 15 } }),
      ).toThrow(/'context' shares its buffer with 'query'/);
      expect(() =>
        plan.forwardDispatches({
          ...fwd,
          alpha: { buffer: x.c.buffer, offset: 30, strideBatch: 12, strideTime: 4 },
          context: views.context,
        }),
      ).toThrow(ShapeError);
      const bwd = {
        query: views.query,
        keys: views.keys,
        params,
        alpha: views.alpha,
        dContext: views.dContext,
        dQuery: views.dQuery,
        dKeys: views.dKeys,
        grads,
      };
      expect(() => plan.backwardDispatches({ ...bwd, grads: { v: grads.v } })).toThrow(
        /'grads' has no 'query_proj.weight'/,
      );
      expect(() => plan.backwardDispatches({ ...bwd, dQuery: views.dContext })).toThrow(
        /'dQuery' shares its buffer with 'dContext'/,
      );
      expect(() => plan.backwardDispatches({ ...bwd, dKeys: { ...views.dKeys, buffer: s.store.params } })).toThrow(
        /'dKeys' shares its buffer with 'params.query_proj.weight'/,
      );
      expect(() =>
        plan.backwardDispatches({ ...bwd, grads: { ...grads, v: { buffer: x.k.buffer, offset: 0, size: 6 } } }),
      ).toThrow(/'grads.v' shares its buffer with 'keys'/);
      expect(() => plan.backwardDispatches({ ...bwd, dContext: undefined as never })).toThrow(
        /argument 'dContext' is missing/,
      );
      expect(() => plan.backwardDispatches({ ...bwd, dQuery: { ...views.dQuery, strideTime: -1 } })).toThrow(
        /'dQuery.strideTime' must be a non-negative integer/,
      );
      // still usable after the errors
      gpu.run(plan.backwardDispatches(bwd));
      await gpu.sync();
    } finally {
      s.destroy();
    }
    const d = setup('dot');
    d.plan.destroy();
    expect(() => d.plan.prepareDispatches({ keys: d.views.keys, params: {} })).toThrow(/destroyed/);
    d.destroy();
  });
});
