// F.matmul / F.bmm / F.softmax and the RNN attention Modules (LuongAttention dot/general,
// BahdanauAttention): forwards vs the float64 references, backwards vs central finite differences
// of the model's own loss (Trainer.evaluate) inside small traced models, the attention parameter
// gradients vs the float64 backward reference, masks, and bad input naming the argument and shape.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArgumentError, F, Linear, LSTM, Module, ShapeError, Tensor, Trainer, rng, type Gpu } from '../../src/index.js';
import { BahdanauAttention, LuongAttention, type AttentionOutput } from '../../src/nn/layers/attention.js';
import { matmulRef } from '../../src/reference/matmul.js';
import {
  rnnAttentionBackwardRef,
  rnnAttentionRef,
  type RnnAttentionDimsRef,
} from '../../src/reference/rnnAttention.js';
import { softmaxRef } from '../../src/reference/softmax.js';
import { gradCheck } from '../checks/moduleGrad.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

const randArray = (rand: () => number, n: number, scale = 1) =>
  Float32Array.from({ length: n }, () => (rand() * 2 - 1) * scale);

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string) {
  expect(got.length, `${what}: length`).toBe(want.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i]));
    if (!(err <= worst)) [worst, at] = [err, i];
  }
  expect(worst, `${what}: worst error at ${at}: ${got[at]} vs ${want[at]}`).toBeLessThan(tol);
}

// ---------------------------------------------------------------------------------------------
// F.matmul / F.bmm / F.softmax

class Product extends Module {
  constructor(
    gpu: Gpu,
    readonly opts: { transposeA?: boolean; transposeB?: boolean; bmm?: boolean; softmax?: boolean },
  ) {
    super(gpu);
  }
  forward(a: Tensor, b: Tensor): Tensor {
    const { bmm, softmax, ...t } = this.opts;
    const c = bmm ? F.bmm(a, b, t) : F.matmul(a, b, t);
    return softmax ? F.softmax(c) : c;
  }
}

/** Stored shapes of a and b for op(a) [M, K], op(b) [K, N], with a batch (0: rank 2) and a shared rank-2 b. */
function operandShapes(batch: number, M: number, N: number, K: number, tA: boolean, tB: boolean, shared: boolean) {
  const aMat = tA ? [K, M] : [M, K];
  const bMat = tB ? [N, K] : [K, N];
  return { a: batch ? [batch, ...aMat] : aMat, b: batch && !shared ? [batch, ...bMat] : bMat };
}

describe('F.matmul, F.bmm and F.softmax forward vs float64 references', () => {
  const cases: Array<[string, number, boolean]> = [
    ['rank 2', 0, false],
    ['batched (3)', 3, false],
    ['batch 1', 1, false],
    ['shared rank-2 b (batch 3)', 3, true],
  ];
  for (const [name, batch, shared] of cases) {
    it(`matmul ${name}, every transpose, M 5 N 3 K 7`, async () => {
      const rand = rng(batch * 10 + (shared ? 1 : 0));
      const [M, N, K] = [5, 3, 7];
      for (const tA of [false, true]) {
        for (const tB of [false, true]) {
          const s = operandShapes(batch, M, N, K, tA, tB, shared);
          const a = randArray(
            rand,
            s.a.reduce((x, y) => x * y, 1),
          );
          const b = randArray(
            rand,
            s.b.reduce((x, y) => x * y, 1),
          );
          const model = new Product(gpu, { transposeA: tA, transposeB: tB });
          const ta = Tensor.from(gpu, a, s.a);
          const tb = Tensor.from(gpu, b, s.b);
          const c = model.forward(ta, tb) as Tensor;
          expect(c.shape).toEqual(batch ? [batch, M, N] : [M, N]);
          const want = matmulRef(
            a,
            b,
            { M, N, K, batch: Math.max(batch, 1), batchB: shared ? 1 : Math.max(batch, 1) },
            { transposeA: tA, transposeB: tB },
          );
          expectClose(await c.read(), want, 1e-5, `matmul tA ${tA} tB ${tB}`);
          for (const t of [ta, tb, c]) t.destroy();
          model.destroy();
        }
      }
    });
  }

  it('bmm with transposeB, then softmax over the last dim (rows of 1 and of 300)', async () => {
    const rand = rng(5);
    for (const [B, M, N, K] of [
      [2, 3, 1, 4],
      [1, 2, 300, 3],
    ]) {
      const a = randArray(rand, B * M * K, 2);
      const b = randArray(rand, B * N * K, 2);
      const model = new Product(gpu, { bmm: true, transposeB: true, softmax: true });
      const ta = Tensor.from(gpu, a, [B, M, K]);
      const tb = Tensor.from(gpu, b, [B, N, K]);
      const y = model.forward(ta, tb) as Tensor;
      const want = softmaxRef(matmulRef(a, b, { M, N, K, batch: B }, { transposeB: true }), N);
      expectClose(await y.read(), want, 1e-5, `bmm+softmax N ${N}`);
      for (const t of [ta, tb, y]) t.destroy();
      model.destroy();
    }
  });
});

/**
 * a = La(x), b = Lb(y) (so their gradients reach parameters), c = matmul(a, b), softmax, ⊙ a learned gate, Linear head.
 */
class ProductModel extends Module {
  la: Linear;
  lb: Linear;
  gate: Linear;
  head: Linear;
  constructor(
    gpu: Gpu,
    readonly opts: { transposeA: boolean; transposeB: boolean },
    N: number,
    seed: number,
  ) {
    super(gpu);
    this.la = new Linear(gpu, { inFeatures: 3, outFeatures: opts.transposeA ? 5 : 7, seed }); // op(a) [5, 7]
    this.lb = new Linear(gpu, { inFeatures: 3, outFeatures: opts.transposeB ? 7 : N, seed: seed + 1 }); // op(b) [7, N]
    this.gate = new Linear(gpu, { inFeatures: 3, outFeatures: N, seed: seed + 2 });
    this.head = new Linear(gpu, { inFeatures: N, outFeatures: 2, seed: seed + 3 });
  }
  forward(x: Tensor, y: Tensor, z: Tensor): Tensor {
    const c = F.matmul(this.la.forward(x), this.lb.forward(y), this.opts); // [..., 5, N]
    const p = F.softmax(F.scale(c, 2));
    return this.head.forward(F.mul(p, this.gate.forward(z)));
  }
}

describe('F.matmul and F.softmax backward vs finite differences (inside traced models)', () => {
  const cases: Array<[string, number, boolean]> = [
    ['batch 1', 1, false],
    ['batch 2', 2, false],
    ['shared rank-2 b, batch 2', 2, true],
    ['rank 2', 0, false],
  ];
  for (const [name, batch, shared] of cases) {
    it(`${name}, every transpose (op(a) 5×7, op(b) 7×3)`, async () => {
      const rand = rng(40 + batch + (shared ? 7 : 0));
      const N = 3;
      let total = 0;
      for (const tA of [false, true]) {
        for (const tB of [false, true]) {
          const model = new ProductModel(gpu, { transposeA: tA, transposeB: tB }, N, 100 + total);
          const s = operandShapes(batch, 5, N, 7, tA, tB, shared);
          // x feeds La: its rows are a's rows ([.., rows, 3] → [.., rows, cols]); y feeds Lb likewise.
          const xShape = [...s.a.slice(0, -1), 3];
          const yShape = [...s.b.slice(0, -1), 3];
          const lead = batch ? [batch, 5, N] : [5, N];
          const x = Tensor.from(
            gpu,
            randArray(
              rand,
              xShape.reduce((p, q) => p * q, 1),
            ),
            xShape,
          );
          const y = Tensor.from(
            gpu,
            randArray(
              rand,
              yShape.reduce((p, q) => p * q, 1),
            ),
            yShape,
          );
          const z = Tensor.from(gpu, randArray(rand, (lead.reduce((p, q) => p * q, 1) / N) * 3), [
            ...lead.slice(0, -1),
            3,
          ]);
          const target = Tensor.from(gpu, randArray(rand, (lead.reduce((p, q) => p * q, 1) / N) * 2), [
            ...lead.slice(0, -1),
            2,
          ]);
          const { checked } = await gradCheck(model, [x, y, z], target, { samples: 2, seed: 7 + total });
          total += checked;
          for (const t of [x, y, z, target]) t.destroy();
          model.destroy();
        }
      }
      console.log(`F.matmul/F.softmax ${name}: ${total} parameter entries checked against finite differences`);
    }, 120_000);
  }
});

// ---------------------------------------------------------------------------------------------
// Attention modules

type Kind = 'dot' | 'general' | 'additive';

function makeAttention(kind: Kind, H: number, Hk: number, A: number, seed: number) {
  return kind === 'additive'
    ? new BahdanauAttention(gpu, { hiddenSize: H, keySize: Hk, attentionSize: A, seed })
    : new LuongAttention(gpu, { hiddenSize: H, keySize: Hk, score: kind, seed });
}

describe('attention modules forward vs the float64 reference', () => {
  const dims = { B: 3, Tq: 4, Ts: 5, H: 5, A: 6 };
  // Batch row 0: no padding; row 1: the last two keys padded; row 2: every key masked (α = 0, c = 0).
  const maskData = Float32Array.from([1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]);
  for (const kind of ['dot', 'general', 'additive'] as const) {
    for (const masked of [false, true]) {
      it(`${kind}${masked ? ' with a key mask (one row all masked)' : ''}: context and weights`, async () => {
        const { B, Tq, Ts, H, A } = dims;
        const Hk = kind === 'dot' ? H : 7;
        const rand = rng(kind.length * 3 + (masked ? 1 : 0));
        const attn = makeAttention(kind, H, Hk, A, 11);
        const q = randArray(rand, B * Tq * H, 1.5);
        const k = randArray(rand, B * Ts * Hk, 1.5);
        const tq = Tensor.from(gpu, q, [B, Tq, H]);
        const tk = Tensor.from(gpu, k, [B, Ts, Hk]);
        const tm = Tensor.from(gpu, maskData, [B, Ts]);
        const out = attn.forward(tq, tk, masked ? { keyMask: tm } : {});
        expect(out.context.shape).toEqual([B, Tq, Hk]);
        expect(out.weights.shape).toEqual([B, Tq, Ts]);
        const sd = await attn.stateDict();
        const params = Object.fromEntries(Object.entries(sd).map(([n, v]) => [n, v.data]));
        const d: RnnAttentionDimsRef = {
          score: kind,
          batch: B,
          seqLenQ: Tq,
          seqLenS: Ts,
          queryDim: H,
          keyDim: Hk,
          attnDim: A,
        };
        const ref = rnnAttentionRef(q, k, params, d, masked ? maskData : undefined);
        expectClose(await out.weights.read(), ref.alpha, 2e-5, `${kind} weights`);
        expectClose(await out.context.read(), ref.context, 2e-5, `${kind} context`);
        if (masked) {
          const w = await out.weights.read();
          expect(Array.from(w.subarray(2 * Tq * Ts)).every((x) => x === 0)).toBe(true);
          expect(
            Array.from(w.subarray(Tq * Ts, 2 * Tq * Ts))
              .filter((_, i) => i % Ts >= 3)
              .every((x) => x === 0),
          ).toBe(true);
        }
        for (const t of [tq, tk, tm, out.context, out.weights]) t.destroy();
        attn.destroy();
      });
    }
  }

  it('parameter names and shapes (PyTorch-style)', () => {
    const general = new LuongAttention(gpu, { hiddenSize: 4, keySize: 6, score: 'general' });
    const dot = new LuongAttention(gpu, { hiddenSize: 4, score: 'dot' });
    const additive = new BahdanauAttention(gpu, { hiddenSize: 4, keySize: 6, attentionSize: 3 });
    expect(general.namedParameters().map((p) => [p.name, p.shape])).toEqual([['weight', [4, 6]]]);
    expect(dot.namedParameters()).toEqual([]);
    expect(additive.namedParameters().map((p) => [p.name, p.shape])).toEqual([
      ['query_proj.weight', [3, 4]],
      ['key_proj.weight', [3, 6]],
      ['v', [3]],
    ]);
    expect(new BahdanauAttention(gpu, { hiddenSize: 4 }).options).toEqual({
      hiddenSize: 4,
      attentionSize: 4,
      keySize: 4,
    });
    for (const m of [general, dot, additive]) m.destroy();
  });
});

/** Attention alone on the inputs, its context as the prediction: the parameter gradients vs the float64 backward. */
class AttentionOnly extends Module {
  constructor(
    gpu: Gpu,
    readonly attn: LuongAttention | BahdanauAttention,
  ) {
    super(gpu);
  }
  forward(q: Tensor, k: Tensor, mask: Tensor): Tensor {
    return this.attn.forward(q, k, { keyMask: mask }).context;
  }
}

describe('attention parameter gradients vs the float64 backward reference', () => {
  for (const kind of ['general', 'additive'] as const) {
    it(`${kind} (masked, batch 2, Tq 3, Ts 4, H 5, keySize 7, A 6)`, async () => {
      const [B, Tq, Ts, H, Hk, A] = [2, 3, 4, 5, 7, 6];
      const rand = rng(kind === 'general' ? 61 : 62);
      const model = new AttentionOnly(gpu, makeAttention(kind, H, Hk, A, 21));
      const q = randArray(rand, B * Tq * H);
      const k = randArray(rand, B * Ts * Hk);
      const mask = Float32Array.from([1, 1, 1, 1, 1, 1, 0, 0]);
      const y = randArray(rand, B * Tq * Hk);
      const tq = Tensor.from(gpu, q, [B, Tq, H]);
      const tk = Tensor.from(gpu, k, [B, Ts, Hk]);
      const tm = Tensor.from(gpu, mask, [B, Ts]);
      const ty = Tensor.from(gpu, y, [B, Tq, Hk]);
      const trainer = new Trainer(model, { loss: 'mse', optimizer: { kind: 'sgd', lr: 0 }, nanGuard: false });
      await trainer.step({ inputs: [tq, tk, tm], targets: ty });
      const sd = await model.stateDict();
      const params = Object.fromEntries(Object.entries(sd).map(([n, v]) => [n.slice('attn.'.length), v.data]));
      const d: RnnAttentionDimsRef = {
        score: kind,
        batch: B,
        seqLenQ: Tq,
        seqLenS: Ts,
        queryDim: H,
        keyDim: Hk,
        attnDim: A,
      };
      const { context } = rnnAttentionRef(q, k, params, d, mask);
      const dContext = context.map((c, i) => (2 * (c - y[i])) / context.length); // mse: mean over every element
      const ref = rnnAttentionBackwardRef(q, k, params, dContext, d, mask);
      for (const p of model.namedParameters())
        expectClose(await p.grad.read(), ref.grads[p.localName], 1e-5, `${p.name} gradient`);
      trainer.destroy();
      for (const t of [tq, tk, tm, ty]) t.destroy();
      model.destroy();
    });
  }
});

/** LSTM encoder → keys; Linear + tanh on the decoder inputs → queries; attention; Linear head on [context, query]. */
class Seq2SeqLike extends Module {
  encoder: LSTM;
  queryProj: Linear;
  attn: LuongAttention | BahdanauAttention;
  head: Linear;
  constructor(gpu: Gpu, kind: Kind, seed: number) {
    super(gpu);
    const H = 5;
    const bidirectional = kind !== 'dot';
    this.encoder = new LSTM(gpu, {
      inputSize: 3,
      hiddenSize: bidirectional ? 3 : H,
      batchFirst: true,
      bidirectional,
      seed,
    });
    const Hk = bidirectional ? 6 : H;
    this.queryProj = new Linear(gpu, { inFeatures: 3, outFeatures: H, seed: seed + 1 });
    this.attn = makeAttention(kind, H, Hk, 4, seed + 2);
    this.head = new Linear(gpu, { inFeatures: Hk + H, outFeatures: 2, seed: seed + 3 });
  }
  forward(src: Tensor, tgt: Tensor, keyMask?: Tensor): Tensor {
    const keys = this.encoder.forward(src).output; // [B, Ts, Hk]
    const query = F.tanh(this.queryProj.forward(tgt)); // [B, Tq, H]
    const { context } = this.attn.forward(query, keys, keyMask ? { keyMask } : {});
    return this.head.forward(F.concat([context, query], 2)); // [B, Tq, 2]
  }
}

describe('attention backward vs finite differences (LSTM encoder → attention → Linear)', () => {
  const cases: Array<[Kind, number, boolean]> = [
    ['dot', 1, false],
    ['general', 1, false],
    ['additive', 1, false],
    ['dot', 2, true],
    ['general', 2, true],
    ['additive', 2, true],
  ];
  for (const [kind, B, masked] of cases) {
    it(
      `${kind}, batch ${B}${masked ? ', key mask' : ''} (Ts 5, Tq 3): query, keys ` +
        `(through the encoder) and attention parameters`,
      async () => {
        const rand = rng(70 + B + kind.length);
        const [Ts, Tq] = [5, 3];
        const model = new Seq2SeqLike(gpu, kind, 300 + B);
        const src = Tensor.from(gpu, randArray(rand, B * Ts * 3), [B, Ts, 3]);
        const tgt = Tensor.from(gpu, randArray(rand, B * Tq * 3), [B, Tq, 3]);
        const target = Tensor.from(gpu, randArray(rand, B * Tq * 2), [B, Tq, 2]);
        const mask = Tensor.from(gpu, B === 2 ? [1, 1, 1, 1, 1, 1, 1, 1, 0, 0] : [1, 1, 1, 1, 1], [B, Ts]);
        const inputs = masked ? [src, tgt, mask] : [src, tgt];
        const { checked, dispatches } = await gradCheck(model, inputs, target, { samples: 2, seed: 9 });
        console.log(
          `${kind} B${B}${masked ? ' masked' : ''}: ${checked} parameter entries ` +
            `checked; ${dispatches} dispatches per training step`,
        );
        expect(checked).toBe(model.namedParameters().length * 2);
        for (const t of [src, tgt, target, mask]) t.destroy();
        model.destroy();
      },
      120_000,
    );
  }
});

/** One LuongAttention used twice (shared weights), the first time as self-attention (query = keys). */
class SharedAttention extends Module {
  encoder: LSTM;
  attn: LuongAttention;
  head: Linear;
  constructor(gpu: Gpu) {
    super(gpu);
    this.encoder = new LSTM(gpu, { inputSize: 3, hiddenSize: 5, batchFirst: true, seed: 81 });
    this.attn = new LuongAttention(gpu, { hiddenSize: 5, score: 'general', seed: 82 });
    this.head = new Linear(gpu, { inFeatures: 10, outFeatures: 2, seed: 83 });
  }
  forward(src: Tensor): Tensor {
    const keys = this.encoder.forward(src).output; // [B, Ts, 5]
    const self = this.attn.forward(keys, keys).context;
    const again = this.attn.forward(F.tanh(self), keys).context;
    return this.head.forward(F.concat([again, self], 2));
  }
}

describe('attention used twice in one forward', () => {
  it('shared weights, self-attention (query = keys): gradients summed, vs finite differences', async () => {
    const rand = rng(90);
    const model = new SharedAttention(gpu);
    const src = Tensor.from(gpu, randArray(rand, 2 * 4 * 3), [2, 4, 3]);
    const target = Tensor.from(gpu, randArray(rand, 2 * 4 * 2), [2, 4, 2]);
    const { checked } = await gradCheck(model, [src], target, { samples: 3, seed: 91 });
    expect(checked).toBe(7 * 3);
    for (const t of [src, target]) t.destroy();
    model.destroy();
  }, 120_000);
});

// ---------------------------------------------------------------------------------------------
// Bad input

class Attend extends Module {
  constructor(
    gpu: Gpu,
    readonly attn: LuongAttention | BahdanauAttention,
  ) {
    super(gpu);
  }
  forward(q: Tensor, k: Tensor, opts: object): AttentionOutput {
    return this.attn.forward(q, k, opts as never);
  }
}

class OnWeights extends Module {
  attn: LuongAttention;
  proj: Linear;
  constructor(gpu: Gpu) {
    super(gpu);
    this.proj = new Linear(gpu, { inFeatures: 4, outFeatures: 4 });
    this.attn = new LuongAttention(gpu, { hiddenSize: 4, score: 'general' });
  }
  forward(q: Tensor, k: Tensor): Tensor {
    return this.attn.forward(this.proj.forward(q), k).weights;
  }
}

describe('bad input names the argument and its shape', () => {
  it('F.matmul, F.bmm, F.softmax', () => {
    const t = (shape: number[]) => Tensor.zeros(gpu, shape);
    const modules: Module[] = [];
    const run = (fn: (a: Tensor, b: Tensor) => Tensor, a: Tensor, b: Tensor) => {
      const m = new (class extends Module {
        forward(x: Tensor, y: Tensor) {
          return fn(x, y);
        }
      })(gpu);
      modules.push(m);
      return () => m.forward(a, b) as Tensor;
    };
    expect(run((a, b) => F.matmul(a, b), t([2, 3]), t([4, 5]))).toThrow(
      new RegExp(
        String.raw`matmul: inner dimensions differ: op\(a\) is 2×3 \(argument 'a' \[2, ` +
          String.raw`3\]\) but op\(b\) is 4×5 \(argument 'b' \[4, 5\]\)`,
      ),
    );
    expect(run((a, b) => F.matmul(a, b, { transposeB: true }), t([2, 3]), t([3, 5]))).toThrow(
      /argument 'b' \[3, 5\], transposed/,
    );
    expect(run((a, b) => F.matmul(a, b), t([2, 3, 4]), t([3, 4, 5]))).toThrow(
      /batch sizes differ: argument 'a' \[2, 3, 4\] vs 'b' \[3, 4, 5\]/,
    );
    expect(run((a, b) => F.matmul(a, b), t([3, 4]), t([2, 4, 5]))).toThrow(
      /argument 'a' \[3, 4\] is rank 2 but 'b' \[2, 4, 5\] is rank 3/,
    );
    expect(run((a, b) => F.matmul(a, b), t([4]), t([4, 5]))).toThrow(ShapeError);
    expect(run((a, b) => F.matmul(a, b), t([4]), t([4, 5]))).toThrow(/argument 'a' has shape \[4\]/);
    expect(run((a, b) => F.bmm(a, b), t([2, 3, 4]), t([4, 5]))).toThrow(
      /bmm: argument 'b' has shape \[4, 5\]; expected rank 3/,
    );
    expect(run((a) => F.softmax(a, 0), t([2, 3]), t([1]))).toThrow(
      /softmax: dim 0 of argument 'x' \[2, 3\] is not the last dimension/,
    );
    expect(run((a) => F.softmax(a, 1), t([2, 3]), t([1]))().shape).toEqual([2, 3]);
    expect(() => F.matmul(t([2, 2]), t([2, 2]))).toThrow(/matmul: graph ops run inside a traced forward/);
    for (const m of modules) m.destroy();
  });

  it('attention modules: options, query, keys, keyMask, a loss on the weights', async () => {
    expect(() => new LuongAttention(gpu, { hiddenSize: 4, keySize: 6, score: 'dot' })).toThrow(
      /'dot' score needs keySize === hiddenSize, got keySize 6 and hiddenSize 4/,
    );
    expect(() => new LuongAttention(gpu, { hiddenSize: 4, score: 'additive' as never })).toThrow(
      /option 'score' must be one of 'dot', 'general'/,
    );
    expect(() => new LuongAttention(gpu, { hiddenSize: 4 } as never)).toThrow(/option 'score' is required/);
    expect(() => new BahdanauAttention(gpu, { hiddenSize: 4, attentionsize: 3 } as never)).toThrow(
      /unknown option 'attentionsize'.*did you mean 'attentionSize'/,
    );
    const m = new Attend(gpu, new BahdanauAttention(gpu, { hiddenSize: 4, keySize: 6, attentionSize: 3 }));
    const t = (shape: number[]) => Tensor.zeros(gpu, shape);
    const q = t([2, 3, 4]);
    const k = t([2, 5, 6]);
    expect(() => m.forward(t([2, 3, 5]), k, {})).toThrow(
      new RegExp(
        String.raw`BahdanauAttention.forward: argument 'query' has shape \[2, 3, 5\] ` +
          String.raw`\(f32\); expected f32 \[batch, queryLen, 4\] \(hiddenSize\)`,
      ),
    );
    expect(() => m.forward(t([3, 4]), k, {})).toThrow(/argument 'query' has shape \[3, 4\]/);
    expect(() => m.forward(q, t([2, 5, 4]), {})).toThrow(
      /argument 'keys' has shape \[2, 5, 4\] \(f32\); expected f32 \[batch = 2 \(query's\), keyLen, 6\] \(keySize\)/,
    );
    expect(() => m.forward(q, t([3, 5, 6]), {})).toThrow(/argument 'keys' has shape \[3, 5, 6\]/);
    expect(() => m.forward(q, k, { keyMask: t([2, 4]) })).toThrow(
      /argument 'opts.keyMask' has shape \[2, 4\] \(f32\); expected f32 \[batch, keyLen\] = \[2, 5\]/,
    );
    const imask = Tensor.from(gpu, Int32Array.from([1, 1, 1, 0, 0, 1, 1, 1, 1, 1]), [2, 5]);
    expect(() => m.forward(q, k, { keyMask: imask })).toThrow(/'opts.keyMask' has shape \[2, 5\] \(i32\)/);
    expect(() => m.forward(q, k, { mask: t([2, 5]) })).toThrow(/unknown option 'mask' in 'opts'; allowed: keyMask/);
    expect(() => m.forward(q, k, { keyMask: [1, 0] })).toThrow(ArgumentError);
    // A loss on the (non-differentiable) weights is refused when the backward is built.
    const w = new OnWeights(gpu);
    const trainer = new Trainer(w, { loss: 'mse', optimizer: { kind: 'sgd', lr: 0 } });
    await expect(trainer.step({ inputs: [t([1, 2, 4]), t([1, 3, 4])], targets: t([1, 2, 3]) })).rejects.toThrow(
      /LuongAttention: the loss depends on the attention weights/,
    );
    // Evaluation (no backward) of the same model is fine.
    expect(await trainer.evaluate({ inputs: [t([1, 2, 4]), t([1, 3, 4])], targets: t([1, 2, 3]) })).toBeCloseTo(
      1 / 9,
      5,
    );
    trainer.destroy();
    w.destroy();
    m.destroy();
  });
});
