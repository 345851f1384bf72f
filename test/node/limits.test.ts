// Item 2 of issue 8 (limits): sizes past one dispatch are split, sizes past one binding are
// rejected with the limit named (before anything is allocated), and every kernel family runs on a
// device requested at the WebGPU default limits. Sizes are derived from the device's own limits.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Gpu,
  Tensor,
  DropoutKernel as Dropout,
  SequenceModel,
  dropoutKeep,
  reduceSumDispatches,
  gemmDispatches,
} from '../../src/index.js';
import { TENSOR_USAGE } from '../../src/gpu/flags.js';
import { matmulRef, matmulErrorScale } from '../../src/reference/matmul.js';
import { rng, uniform, assertClose, assert } from '../checks/util.js';
import type { Check } from '../checks/kernels.js';
import { kernelChecks } from '../checks/kernels.js';
import { decodeChecks } from '../checks/decode.js';
import { recurrentChecks } from '../checks/recurrent.js';
import { modelGradChecks } from '../checks/modelGrad.js';
import { trainingChecks } from '../checks/training.js';
import { seq2seqChecks } from '../checks/seq2seq.js';
import { nanGuardChecks } from '../checks/nanGuard.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

/**
 * Runs a GEMM of op(A) M×K by op(B) K×N through gemmDispatches with `tile`, checks it vs float64; returns the
 * dispatches' grids.
 */
async function checkSplitGemm(c: {
  M: number;
  N: number;
  K: number;
  transposeA?: boolean;
  transposeB?: boolean;
  bias?: boolean;
  beta?: number;
  alpha?: number;
  tile?: { wgX: number; wgY: number; tileK: number };
  seed: number;
}) {
  const rand = rng(c.seed);
  const a = uniform(rand, c.M * c.K);
  const b = uniform(rand, c.K * c.N);
  const bias = c.bias ? uniform(rand, c.N) : undefined;
  const c0 = c.beta !== undefined ? uniform(rand, c.M * c.N) : undefined;
  const at = Tensor.from(gpu, a, [a.length]);
  const bt = Tensor.from(gpu, b, [b.length]);
  const biasT = bias && Tensor.from(gpu, bias, [c.N]);
  const ct = c0 ? Tensor.from(gpu, c0, [c.M * c.N]) : Tensor.empty(gpu, [c.M * c.N]);
  const ds = gemmDispatches(gpu, {
    M: c.M,
    N: c.N,
    K: c.K,
    a: { buffer: at.buffer, ld: c.transposeA ? c.M : c.K },
    b: { buffer: bt.buffer, ld: c.transposeB ? c.K : c.N },
    c: { buffer: ct.buffer, ld: c.N },
    bias: biasT && { buffer: biasT.buffer },
    transposeA: c.transposeA,
    transposeB: c.transposeB,
    alpha: c.alpha,
    beta: c.beta,
    tile: c.tile,
  });
  gpu.run(ds);
  const got = await ct.read();
  const dims = { M: c.M, N: c.N, K: c.K };
  const want = matmulRef(a, b, dims, { ...c, bias, c0 });
  const scale = matmulErrorScale(a, b, dims, c);
  assertClose(`split GEMM ${c.M}×${c.N}×${c.K}`, got, want, { rtol: 1e-4, atol: 1e-6, scale: scale.map((s) => s + 1) });
  for (const t of [at, bt, biasT, ct]) t?.destroy();
  return ds.map((d) => d.workgroups);
}

describe('a GEMM wider than maxComputeWorkgroupsPerDimension tiles is split (M, N), and stays exact', () => {
  const tiny = { wgX: 1, wgY: 1, tileK: 4 }; // a 4×4 tile per workgroup: the limit is reached at 4·max rows

  it('M past the limit: two dispatches, each grid within the limit (A plain and transposed, bias, beta)', async () => {
    const max = gpu.limits.maxComputeWorkgroupsPerDimension;
    const M = max * 4 + 5;
    for (const transposeA of [false, true]) {
      const grids = await checkSplitGemm({
        M,
        N: 3,
        K: 5,
        transposeA,
        bias: true,
        beta: 0.5,
        alpha: 2,
        tile: tiny,
        seed: transposeA ? 2 : 1,
      });
      expect(grids.length).toBe(2);
      expect(grids.every(([x, y, z]) => x <= max && y <= max && z <= max)).toBe(true);
      expect(grids.reduce((s, g) => s + g[1], 0)).toBe(Math.ceil(M / 4));
    }
  }, 120_000);

  it('N past the limit: two dispatches (B plain and transposed, bias)', async () => {
    const max = gpu.limits.maxComputeWorkgroupsPerDimension;
    const N = max * 4 + 7;
    for (const transposeB of [false, true]) {
      const grids = await checkSplitGemm({
        M: 3,
        N,
        K: 2,
        transposeB,
        bias: true,
        tile: tiny,
        seed: transposeB ? 4 : 3,
      });
      expect(grids.length).toBe(2);
      expect(grids.reduce((s, g) => s + g[0], 0)).toBe(Math.ceil(N / 4));
    }
  }, 120_000);
});

/**
 * The one check of `list` whose name is `name` (throws when it is missing: a renamed check must not be skipped
 * silently).
 */
function pick(list: Check[], name: string): Check {
  const c = list.find((x) => x.name === name);
  if (!c) throw new Error(`no check named '${name}'`);
  return c;
}

describe(
  'every kernel family runs on a device at the WebGPU default limits (16 KiB ' +
    'workgroup storage, 8 storage buffers, 256 threads)',
  () => {
    // Families with their own default-limits tests elsewhere: matmul, softmax, biasAct (foundation),
    // cross-entropy, optimizer, embedding (trainingKernels), lengths forward + BPTT (recurrentGrad),
    // attention (attention), MultiHeadAttention, RNN attention. Here: everything else, each against
    // its float64 (or PyTorch) reference, and one training step of each model.
    let small: Gpu;
    beforeAll(async () => {
      small = await testGpu({ limits: 'default' });
      expect(small.limits.maxComputeWorkgroupStorageSize).toBe(16384);
      expect(small.limits.maxStorageBuffersPerShaderStage).toBe(8);
      expect(small.limits.maxStorageBufferBindingSize).toBe(128 * 1024 * 1024);
    });
    afterAll(() => small?.destroy());

    const families: Array<[string, () => Check[]]> = [
      [
        'elementwise (add, mul, scale, sigmoid, tanh, relu, tanhGrad) and column sums',
        () => [
          pick(kernelChecks, 'elementwise n=4099 ±1e4 (saturation)'),
          pick(kernelChecks, 'columnSum 3×1027 (ld 4096, offset 64)'),
        ],
      ],
      [
        'decoding kernels: next token, beam-search step, beam row gather, a recorded beam search',
        () => [
          pick(decodeChecks, 'nextToken B9 V601 ld 603 offset 7 teacher mix ties'),
          pick(decodeChecks, 'beamSearchStep B1 k16 V50000 step 1 eos 7 random ±6'),
          pick(decodeChecks, 'gatherBeamRows G3 B2 k16 width 130 step 0 offsets 0/1 (a parent out of range)'),
          pick(decodeChecks, 'beam search on the GPU, one command buffer: B3 k4 V13 T9 eos 1 vs float64'),
        ],
      ],
      [
        'recurrent forward without lengths (RNN, LSTM, GRU) and step-wise inference',
        () => [
          pick(recurrentChecks, 'rnn random shape #0 vs float64'),
          pick(recurrentChecks, 'lstm random shape #0 vs float64'),
          pick(recurrentChecks, 'gru random shape #0 vs float64'),
          pick(recurrentChecks, 'lstm step-wise inference == forward'),
        ],
      ],
      [
        'SequenceModel training steps: loss and every gradient vs float64 (CE, MSE), and one step vs PyTorch',
        () => [
          pick(
            modelGradChecks,
            'whole-model gradients vs float64: lstm tokens many-to-many CE, 2 layers bidirectional',
          ),
          pick(modelGradChecks, 'whole-model gradients vs float64: gru values many-to-one MSE, 2 layers bidirectional'),
          trainingChecks[0],
        ],
      ],
      ['the NaN/Inf guard kernel vs its reference', () => [nanGuardChecks[0]]],
      [
        'Seq2Seq training step with additive attention: loss and every gradient vs float64',
        () => [
          pick(seq2seqChecks, 'seq2seq GRU additive attention, teacher forcing 0.5, B4: loss and gradients vs float64'),
        ],
      ],
    ];
    for (const [what, checks] of families) {
      it(
        what,
        async () => {
          for (const check of checks()) {
            await check.run(small);
            await small.sync();
          }
        },
        120_000,
      );
    }

    it(
      'a buffer past maxStorageBufferBindingSize (but within maxBufferSize) is ' +
        'refused at bind time, naming the binding and the limit',
      async () => {
        const limit = small.limits.maxStorageBufferBindingSize;
        if (small.limits.maxBufferSize <= limit) return; // no such buffer can exist on this device
        const big = small.pool.acquire(limit + 16, TENSOR_USAGE, 'test.big');
        const y = Tensor.empty(small, [4]);
        const params = small.uniform('elementwise.wgsl', 'params', {
          n: 4,
          offsetX: 0,
          offsetB: 0,
          offsetY: 0,
          gridX: 1,
          alpha: 1,
        });
        try {
          expect(() =>
            small.bindGroup('elementwise.wgsl', { x: big, b: small.dummyBuffer, y: y.buffer, params }),
          ).toThrow(
            new RegExp(
              `elementwise\\.wgsl: binding 'x' is ${limit + 16} bytes, more than this ` +
                `device's maxStorageBufferBindingSize \\(${limit}\\)`,
            ),
          );
          // The same buffer bound as a view within the limit is fine.
          small.bindGroup('elementwise.wgsl', {
            x: { buffer: big, offset: 256, size: 1024 },
            b: small.dummyBuffer,
            y: y.buffer,
            params,
          });
          await small.sync(); // no GPU validation error
        } finally {
          small.pool.release(big);
          small.pool.release(params);
          small.pool.trim();
          y.destroy();
        }
      },
    );

    it(
      'a training step with the NaN/Inf guard (guarded optimizer kernel) matches the ' + 'unguarded step bit for bit',
      async () => {
        const opts = {
          cell: 'gru',
          vocabSize: 7,
          embeddingDim: 3,
          hiddenSize: 5,
          numLayers: 2,
          dropout: 0.25,
          outputSize: 7,
          mode: 'manyToMany',
          loss: 'crossEntropy',
          seed: 4,
        } as const;
        const batch = {
          inputs: Int32Array.from([1, 2, 3, 4, 5, 6]),
          targets: Int32Array.from([2, 3, 4, 5, 6, 0]),
          seqLen: 3,
          batch: 2,
        };
        const losses: number[][] = [];
        const weights = [];
        for (const nanGuard of [false, true]) {
          const model = new SequenceModel(small, opts);
          model.configureTraining({ optimizer: { kind: 'adamw', lr: 0.01, clipNorm: 0.5 }, nanGuard });
          const l: number[] = [];
          for (let i = 0; i < 2; i++) l.push((await model.trainStep(batch, { readLoss: true }))!);
          losses.push(l);
          weights.push(await model.stateDict());
          model.destroy();
        }
        expect(losses[0].every(Number.isFinite)).toBe(true);
        expect(losses[1]).toEqual(losses[0]);
        expect(weights[1]).toEqual(weights[0]);
        await small.sync();
      },
    );

    it('dropout and a multi-range sum (partial sums) vs their references', async () => {
      const n = 70_001;
      const x = Tensor.from(small, new Float32Array(n).fill(1), [n]);
      const drop = new Dropout(small, { p: 0.3, seed: 11 });
      const y = drop.apply(x, 5);
      const got = await y.read();
      for (let i = 0; i < n; i++)
        assert(
          (got[i] !== 0) === dropoutKeep(11, 0, 5, i, 0.3),
          `dropout element ${i}: the mask differs from the CPU replica`,
        );
      const v = uniform(rng(12), n, -1, 1);
      const vt = Tensor.from(small, v, [n]);
      const out = Tensor.empty(small, [1]);
      const ranges = [
        [0, 20_000],
        [30_001, 40_000],
        [5, 0],
      ] as const;
      small.run(reduceSumDispatches(small, { x: vt.buffer, ranges, out: { buffer: out.buffer }, square: true }));
      let want = 0;
      for (const [o, len] of ranges) for (let i = o; i < o + len; i++) want += v[i] * v[i];
      assertClose('Σ x² over two ranges', await out.read(), [want], { rtol: 1e-5 });
      for (const t of [x, y, vt, out]) t.destroy();
      drop.destroy();
      await small.sync();
    });
  },
);
