// Opens the one device a Node test file uses. There is no GPU on CI: Dawn runs on SwiftShader
// (tools/with-swiftshader.sh). With no adapter this THROWS, so the run fails loudly.
import { expect } from 'vitest';
import { requestGpu, type Gpu, type RequestGpuOptions } from '../../src/index.js';
import { ShapeError } from '../../src/util/errors.js';

export async function testGpu(opts: RequestGpuOptions = {}): Promise<Gpu> {
  return requestGpu(opts);
}

/**
 * Each call throws a ShapeError matching its message and leaves `gpu`'s buffer pool as it was
 * (a refused call allocates nothing).
 */
export function expectShapeRefusals(gpu: Gpu, cases: ReadonlyArray<readonly [() => unknown, RegExp]>): void {
  for (const [call, message] of cases) {
    const { created, inUse } = gpu.pool.stats;
    expect(call).toThrow(ShapeError);
    expect(call).toThrow(message);
    expect(gpu.pool.stats.created).toBe(created);
    expect(gpu.pool.stats.inUse).toBe(inUse);
  }
}

/**
 * Runs `f` with `settings` applied to `gpu.tuning`, then puts back the values those fields had
 * before (whether `f` resolves or throws).
 */
export async function withTuning(gpu: Gpu, settings: Partial<Gpu['tuning']>, f: () => Promise<void>): Promise<void> {
  const tuning = gpu.tuning as unknown as Record<string, unknown>;
  const before = Object.fromEntries(Object.keys(settings).map((k) => [k, tuning[k]]));
  Object.assign(tuning, settings);
  try {
    await f();
  } finally {
    Object.assign(tuning, before);
  }
}
