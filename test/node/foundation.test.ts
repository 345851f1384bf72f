// The runtime around the kernels: reflection, pipeline cache, buffer pool, shape errors,
// surfaced GPU errors, device loss, default limits and timestamp profiling.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Gpu, GpuError, ArgumentError, Tensor, matmul, softmax, add, biasAct, requestGpu } from '../../src/index.js';
import { kernelChecks } from '../checks/kernels.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

describe('kernel reflection', () => {
  it('reads bindings, uniform layout and overrides from the WGSL', () => {
    const { source } = gpu.kernel('matmul.wgsl');
    expect(source.bindings).toEqual([
      { name: 'A', binding: 0, type: 'read-only-storage' },
      { name: 'B', binding: 1, type: 'read-only-storage' },
      { name: 'bias', binding: 2, type: 'read-only-storage' },
      { name: 'C', binding: 3, type: 'storage' },
      { name: 'params', binding: 4, type: 'uniform' },
      { name: 'R', binding: 5, type: 'read-only-storage' },
    ]);
    const params = source.uniforms.get('params')!;
    expect(params.fields.get('M')).toEqual({ offset: 0, type: 'u32' });
    expect(params.fields.get('alpha')).toEqual({ offset: 52, type: 'f32' });
    expect(params.fields.get('batchStrideZ')).toEqual({ offset: 80, type: 'u32' });
    expect(params.size).toBe(96);
    expect([...source.overrides.keys()]).toContain('TILE_K');
    expect(source.overrides.get('TRANS_A')).toBe('bool');
  });

  it('resolves // #include lines before reflecting', () => {
    expect(gpu.kernel('elementwise.wgsl').source.code).toContain('fn sigmoid(');
  });

  it('names what is wrong in constants, uniforms and bind groups', () => {
    expect(() => gpu.pipeline('matmul.wgsl', { TILE_Q: 4 })).toThrow(/no override named 'TILE_Q'/);
    expect(() => gpu.pipeline('matmul.wgsl', { TRANS_A: 1 })).toThrow(/override 'TRANS_A' is bool/);
    expect(() => gpu.uniform('softmax.wgsl', 'params', { rows: 1, cols: 1 })).toThrow(/member 'offsetX' was not given/);
    expect(() =>
      gpu.uniform('softmax.wgsl', 'params', { rows: -1, cols: 1, offsetX: 0, offsetY: 0, gridX: 1 }),
    ).toThrow(/params.rows must be a u32/);
    expect(() => gpu.bindGroup('softmax.wgsl', { x: gpu.dummyBuffer })).toThrow(/binding 'y' was not given/);
    expect(() => gpu.pipeline('nope.wgsl')).toThrow(/unknown shader 'nope.wgsl'/);
  });
});

describe('pipeline cache and buffer pool', () => {
  it('creates a pipeline once per (shader, constants)', async () => {
    const a = Tensor.from(gpu, [1, 2, 3, 4], [2, 2]);
    matmul(gpu, a, a).destroy();
    const before = gpu.stats.pipelinesCreated;
    matmul(gpu, a, a).destroy();
    expect(gpu.stats.pipelinesCreated).toBe(before);
    matmul(gpu, a, a, { transposeA: true }).destroy();
    expect(gpu.stats.pipelinesCreated).toBe(before + 1);
    a.destroy();
  });

  it('allocates nothing in a steady-state loop', async () => {
    const a = Tensor.from(gpu, new Float32Array(33 * 17).fill(1), [33, 17]);
    const b = Tensor.from(gpu, new Float32Array(17 * 9).fill(2), [17, 9]);
    const step = async () => {
      a.write(new Float32Array(33 * 17).fill(0.5));
      const c = matmul(gpu, a, b);
      const y = softmax(gpu, c);
      const v = await y.read();
      c.destroy();
      y.destroy();
      return v;
    };
    await step(); // warm-up fills the pool
    const created = gpu.pool.stats.created;
    const submits = gpu.stats.submits;
    for (let i = 0; i < 20; i++) expect((await step())[0]).toBeCloseTo(1 / 9, 6);
    expect(gpu.pool.stats.created).toBe(created);
    expect(gpu.stats.submits - submits).toBe(20 * 3); // matmul, softmax, readback copy
    expect(gpu.pool.stats.reused).toBeGreaterThan(0);
    a.destroy();
    b.destroy();
  });

  it('releases every buffer it hands out', async () => {
    const inUse = gpu.pool.stats.inUse;
    const t = Tensor.zeros(gpu, [5]);
    expect(gpu.pool.stats.inUse).toBe(inUse + 1);
    t.destroy();
    t.destroy(); // idempotent
    expect(gpu.pool.stats.inUse).toBe(inUse);
    await expect(t.read()).rejects.toThrow(/destroyed/);
  });
});

describe('bad input is caught in TypeScript, before GPU work', () => {
  const cases: Array<[string, () => unknown, RegExp]> = [
    [
      'matmul inner dims',
      () => matmul(gpu, T([3, 4]), T([5, 2])),
      /inner dimensions differ: op\(a\) is 3×4 \(a \[3, 4\]\) but op\(b\) is 5×2 \(b \[5, 2\]\)/,
    ],
    [
      'matmul transposed inner dims',
      () => matmul(gpu, T([3, 4]), T([2, 5]), { transposeB: true }),
      /op\(b\) is 5×2 \(b \[2, 5\], transposed\)/,
    ],
    [
      'matmul rank',
      () => matmul(gpu, T([3]), T([3, 2])),
      /argument 'a' has shape \[3\] \(rank 1\), expected rank 2 or 3/,
    ],
    ['matmul batch', () => matmul(gpu, T([2, 3, 4]), T([3, 4, 2])), /batch sizes differ/],
    [
      'matmul bias',
      () => matmul(gpu, T([3, 4]), T([4, 2]), { bias: T([3]) }),
      /argument 'bias' has shape \[3\], expected \[2\]/,
    ],
    [
      'matmul out',
      () => matmul(gpu, T([3, 4]), T([4, 2]), { out: T([2, 3]) }),
      /argument 'out' has shape \[2, 3\], expected \[3, 2\]/,
    ],
    ['matmul beta without out', () => matmul(gpu, T([3, 4]), T([4, 2]), { beta: 1 }), /'beta' accumulates into 'out'/],
    ['matmul not a tensor', () => matmul(gpu, [1, 2] as unknown as Tensor, T([2, 2])), /argument 'a' must be a Tensor/],
    [
      'softmax out',
      () => softmax(gpu, T([2, 3]), { out: T([3, 2]) }),
      /argument 'out' has shape \[3, 2\], expected \[2, 3\]/,
    ],
    [
      'add shapes',
      () => add(gpu, T([2, 3]), T([3, 2])),
      /argument 'b' has shape \[3, 2\], expected \[2, 3\] \(must match 'x'\)/,
    ],
    ['biasAct bias', () => biasAct(gpu, T([2, 3]), T([2]), 'tanh'), /argument 'b' has shape \[2\], expected \[3\]/],
    ['biasAct act', () => biasAct(gpu, T([2, 3]), T([3]), 'gelu' as 'tanh'), /unknown activation 'gelu'/],
    ['tensor zero size', () => Tensor.zeros(gpu, [3, 0]), /positive integer, got shape \[3, 0\]/],
    ['tensor negative size', () => Tensor.zeros(gpu, [-1]), /positive integer/],
    ['tensor data length', () => Tensor.from(gpu, [1, 2, 3], [2, 2]), /data has 3 elements but shape \[2, 2\] needs 4/],
    ['tensor too large', () => Tensor.empty(gpu, [1 << 20, 1 << 12]), /maxStorageBufferBindingSize/],
  ];
  const made: Tensor[] = [];
  function T(shape: number[]): Tensor {
    const t = Tensor.zeros(gpu, shape);
    made.push(t);
    return t;
  }
  for (const [name, f, message] of cases) {
    it(name, () => {
      const submits = gpu.stats.submits;
      expect(f).toThrow(ArgumentError);
      expect(f).toThrow(message);
      expect(gpu.stats.submits).toBe(submits);
    });
  }
  it('destroyed inputs are named', () => {
    const a = T([2, 2]);
    a.destroy();
    expect(() => matmul(gpu, a, T([2, 2]))).toThrow(/argument 'a' was destroyed/);
  });
  afterAll(() => made.forEach((t) => t.destroy()));
});

describe('errors and device loss are surfaced', () => {
  it('turns "no adapter" into an error that says what to install', async () => {
    const noAdapter = { requestAdapter: async () => null } as unknown as GPU;
    await expect(requestGpu({ gpu: noAdapter })).rejects.toThrow(
      /VK_ICD_FILENAMES=\/usr\/lib\/chromium\/vk_swiftshader_icd.json/,
    );
  });

  it('reports uncaptured GPU errors to listeners and throws them at the next sync', async () => {
    const seen: string[] = [];
    const off = gpu.onError((m) => seen.push(m));
    // A buffer may not be both MAP_READ and STORAGE: a validation error, uncaptured.
    gpu.device.createBuffer({ size: 16, usage: 0x0001 | 0x0080 });
    await expect(gpu.sync()).rejects.toThrow(GpuError);
    expect(seen.length).toBe(1);
    off();
    await gpu.sync(); // the error was reported once, then cleared
  });

  it('reports device loss and refuses work afterwards', async () => {
    const other = await testGpu();
    const a = Tensor.from(other, [1, 2, 3, 4], [2, 2]);
    other.device.destroy(); // what a lost device looks like to the library
    const info = await other.lost;
    expect(info.reason).toBe('destroyed');
    expect(() => matmul(other, a, a)).toThrow(/device was lost/);
    await expect(other.sync()).rejects.toThrow(/device was lost/);
    other.destroy();
  });
});

describe('WebGPU default limits', () => {
  it('runs the kernels on a device with default limits (16 KiB workgroup storage)', async () => {
    const small = await testGpu({ limits: 'default' });
    expect(small.limits.maxComputeWorkgroupStorageSize).toBe(16384);
    for (const check of kernelChecks.filter((c) => /257×129×511|Aᵀ, Bᵀ\)|softmax 2×3000|biasAct tanh/.test(c.name))) {
      await check.run(small);
    }
    await small.sync();
    small.destroy();
  });
});

describe('timestamp profiling', () => {
  it('measures per-dispatch GPU time when the adapter has timestamp-query', async () => {
    const profiler = gpu.createProfiler();
    if (!gpu.features.timestampQuery) {
      expect(profiler).toBeNull();
      return;
    }
    const a = Tensor.from(gpu, new Float32Array(128 * 128).fill(1), [128, 128]);
    const c = Tensor.empty(gpu, [128, 128]);
    const { gemmDispatches } = await import('../../src/kernels/matmul.js');
    const ds = gemmDispatches(gpu, {
      M: 128,
      N: 128,
      K: 128,
      a: { buffer: a.buffer, ld: 128 },
      b: { buffer: a.buffer, ld: 128 },
      c: { buffer: c.buffer, ld: 128 },
    });
    gpu.run(ds, profiler!);
    const t = await profiler!.read();
    expect(t.kernels).toHaveLength(1);
    expect(t.kernels[0].label).toBe('matmul');
    expect(t.kernels[0].ms).toBeGreaterThan(0);
    expect(t.totalMs).toBeGreaterThanOrEqual(t.kernels[0].ms);
    expect((await c.read())[0]).toBe(128);
    profiler!.destroy();
    a.destroy();
    c.destroy();
  });
});
