// The eager matmul path (issue 19, item 8, "eager matmul wall time"): matmul + read back. Counts are
// what is tested (submits, dispatches, buffers and pipelines created per call); the wall time is
// measured in bench/ (bench/matmul.ts, bench/gemmShapes.mjs).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArgumentError, Tensor, matmul, type Gpu } from '../../src/index.js';
import { matmulRef, matmulErrorScale } from '../../src/reference/matmul.js';
import { rng, uniform, assertClose } from '../checks/util.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

describe('eager matmul and read(into)', () => {
  it('reads into the caller’s array: the values of read(), the same array back, reused call to call', async () => {
    const rand = rng(7);
    const [M, N, K] = [37, 21, 19];
    const a = uniform(rand, M * K);
    const b = uniform(rand, K * N);
    const at = Tensor.from(gpu, a, [M, K]);
    const bt = Tensor.from(gpu, b, [K, N]);
    const c = matmul(gpu, at, bt);
    const into = new Float32Array(M * N).fill(NaN);
    const got = await c.read(into);
    expect(got).toBe(into);
    expect(Array.from(into)).toEqual(Array.from(await c.read()));
    const dims = { M, N, K };
    assertClose('read(into)', into, matmulRef(a, b, dims), { rtol: 1e-4, scale: matmulErrorScale(a, b, dims) });
    // A second product into the same tensor, read into the same array: the new values.
    matmul(gpu, at, bt, { out: c, alpha: -1 });
    await c.read(into);
    assertClose('second read(into)', into, matmulRef(a, b, dims, { alpha: -1 }), {
      rtol: 1e-4,
      scale: matmulErrorScale(a, b, dims),
    });
    // A view into a larger array works too (its offset is honoured, the rest untouched).
    const big = new Float32Array(M * N + 8).fill(5);
    await c.read(big.subarray(4, 4 + M * N));
    expect(Array.from(big.subarray(4, 4 + M * N))).toEqual(Array.from(into));
    expect([...big.subarray(0, 4), ...big.subarray(4 + M * N)]).toEqual(new Array(8).fill(5));
    for (const t of [at, bt, c]) t.destroy();
  });

  it('refuses a wrong destination before any GPU work', async () => {
    const t = Tensor.from(gpu, [1, 2, 3, 4, 5, 6], [2, 3]);
    const submits = gpu.stats.submits;
    await expect(t.read(new Float32Array(5))).rejects.toThrow(ArgumentError);
    await expect(t.read(new Float32Array(7))).rejects.toThrow(
      /'into' must be a Float32Array of 6 elements .*\[2, 3\].*got 7/,
    );
    await expect(t.read(new Int32Array(6) as never)).rejects.toThrow(ArgumentError);
    await expect(gpu.readBuffer(t.buffer, 0, 24, new Uint8Array(20))).rejects.toThrow(/'into' holds 20 bytes/);
    expect(gpu.stats.submits).toBe(submits);
    t.destroy();
  });

  it('costs one dispatch and two submits per call, and allocates nothing after the first', async () => {
    const a = Tensor.from(gpu, uniform(rng(3), 64 * 48), [64, 48]);
    const b = Tensor.from(gpu, uniform(rng(4), 48 * 40), [48, 40]);
    const c = Tensor.empty(gpu, [64, 40]);
    const into = new Float32Array(64 * 40);
    matmul(gpu, a, b, { out: c });
    await c.read(into);
    const s0 = { ...gpu.stats };
    const created = gpu.pool.stats.created;
    for (let i = 0; i < 3; i++) {
      matmul(gpu, a, b, { out: c });
      await c.read(into);
    }
    expect(gpu.stats.dispatches - s0.dispatches).toBe(3);
    expect(gpu.stats.submits - s0.submits).toBe(6); // the product, the readback copy
    expect(gpu.stats.pipelinesCreated).toBe(s0.pipelinesCreated);
    expect(gpu.pool.stats.created).toBe(created); // uniforms and staging buffers come back from the pool
    for (const t of [a, b, c]) t.destroy();
  });
});
