// Cold start (issue 19, item 6): kernels reflected at build time (tools/wgsl-reflect.mjs) and equal
// to a run-time wgsl_reflect parse for every shader; pipelines compiled with
// createComputePipelineAsync; models' warmup() compiles what their first call needs, so that call
// creates no pipeline (counts, not times: the times are in bench/coldStart.mjs).
import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import * as seqgpu from '../../src/index.js';
import {
  Seq2Seq,
  SequenceModel,
  Tensor,
  Trainer,
  TransformerLM,
  warmupForward,
  type Gpu,
  type WarmupProgress,
} from '../../src/index.js';
import { definedShaders, KernelSource, resolveIncludes } from '../../src/gpu/kernel.js';
import { isKernel, reflectWgsl, REFLECTION_PREFIX } from '../../tools/wgsl-reflect.mjs';
import { testGpu } from './gpu.js';

const gpus: Gpu[] = [];
afterEach(() => {
  for (const g of gpus.splice(0)) g.destroy();
});
/** A fresh device per test: an empty pipeline cache. */
async function freshGpu(): Promise<Gpu> {
  const gpu = await testGpu();
  gpus.push(gpu);
  return gpu;
}

describe('build-time reflection', () => {
  it('equals a run-time wgsl_reflect parse for every defined shader (variants included)', () => {
    expect(Object.keys(seqgpu).length).toBeGreaterThan(0); // every kernel module is loaded
    const shaders = definedShaders();
    const names = shaders.map((s) => s.name);
    // Every kernel file in shaders/ is defined by some module, and the #d256 variants too.
    const files = readdirSync('shaders').filter((f) => isKernel(readFileSync(`shaders/${f}`, 'utf8')));
    for (const f of files) expect(names, f).toContain(f);
    expect(names).toContain('attention.wgsl#d256');
    for (const shader of shaders) {
      const resolved = resolveIncludes(shader);
      const built = new KernelSource(shader.name, resolved);
      expect(built.code, shader.name).not.toContain(REFLECTION_PREFIX);
      const parsed = reflectWgsl(shader.name, built.code);
      expect(built.entryPoint, shader.name).toBe(parsed.entryPoint);
      expect(built.bindings, shader.name).toEqual(parsed.bindings);
      expect([...built.overrides], shader.name).toEqual(parsed.overrides.map((o) => [o.name, o.type]));
      expect(
        [...built.uniforms].map(([b, u]) => ({
          binding: b,
          size: u.size,
          fields: [...u.fields].map(([name, f]) => ({ name, ...f })),
        })),
        shader.name,
      ).toEqual(parsed.uniforms);
    }
  });

  it('the library source carries no WGSL parser; a shader without its reflection line is refused', () => {
    for (const f of readdirSync('src', { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts')))
      expect(readFileSync(`src/${f}`, 'utf8'), f).not.toMatch(/from 'wgsl_reflect/);
    const code = '@compute @workgroup_size(1) fn main() {}';
    expect(() => new KernelSource('bare.wgsl', code)).toThrow(/bare.wgsl: the WGSL has no '\/\/ seqgpu-reflection:'/);
    expect(() => new KernelSource('bad.wgsl', `${code}\n${REFLECTION_PREFIX}{oops\n`)).toThrow(/not valid JSON/);
    const line = (json: string) => `${code}\n${REFLECTION_PREFIX}${json}\n`;
    expect(() => new KernelSource('bad.wgsl', line('{"e":"main","b":[["x",0,"q"]],"u":{},"o":[]}'))).toThrow(
      /malformed binding 'x'/,
    );
    expect(() => new KernelSource('bad.wgsl', line('{"e":"main","b":[],"u":{},"o":["N","z"]}'))).toThrow(
      /malformed type code "z"/,
    );
    expect(() => new KernelSource('bad.wgsl', line('[1]'))).toThrow(/malformed record/);
  });
});

describe('asynchronous pipelines', () => {
  it('compiles with createComputePipelineAsync once per key, shares one module per kernel', async () => {
    const gpu = await freshGpu();
    const before = { ...gpu.stats };
    const a = gpu.pipelineAsync('softmax.wgsl', { WG: 32 });
    const b = gpu.pipelineAsync('softmax.wgsl', { WG: 32 }); // shares the compile in flight
    const [pa, pb] = await Promise.all([a, b]);
    expect(pa).toBe(pb);
    expect(gpu.pipeline('softmax.wgsl', { WG: 32 })).toBe(pa); // the sync lookup hits
    await gpu.pipelineAsync('softmax.wgsl', { WG: 64 });
    expect(gpu.stats.pipelinesCreated - before.pipelinesCreated).toBe(2);
    expect(gpu.stats.pipelinesCreatedAsync - before.pipelinesCreatedAsync).toBe(2);
    expect(gpu.stats.shaderModulesCreated - before.shaderModulesCreated).toBe(1);
    expect(() => gpu.pipelineAsync('softmax.wgsl', { TILE_Q: 4 })).toThrow(/no override named 'TILE_Q'/);
  });

  it('defers misses inside deferPipelines; a stand-in used before its compile is compiled then', async () => {
    const gpu = await freshGpu();
    const x = Tensor.from(gpu, [1, 2, 3, 4], [2, 2]);
    const before = gpu.stats.pipelinesCreated;
    const { result, requests } = gpu.deferPipelines(() => seqgpu.matmul(gpu, x, x, { transposeB: true }));
    // The eager matmul ran inside: its dispatch was encoded, so its stand-in compiled synchronously.
    expect(await result.read()).toEqual(new Float32Array([5, 11, 11, 25]));
    expect(requests.map((r) => r.key)).toEqual([expect.stringMatching(/^matmul.*\.wgsl\|/)]);
    expect(gpu.stats.pipelinesCreated - before).toBe(1);
    const progress: WarmupProgress[] = [];
    expect(await gpu.compilePipelines(requests, (p) => progress.push(p))).toBe(0); // already compiled
    expect(progress).toEqual([{ done: 0, total: 0, label: '' }]);
    result.destroy();
    x.destroy();
  });
});

/** Runs `first` after `warm` and returns the pipelines `first` created and the progress reports. */
async function afterWarmup(gpu: Gpu, warm: (onProgress: (p: WarmupProgress) => void) => Promise<unknown>) {
  const progress: WarmupProgress[] = [];
  await warm((p) => progress.push(p));
  const total = progress.at(-1)!.total;
  expect(total).toBeGreaterThan(0);
  expect(progress.map((p) => p.done)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
  expect(new Set(progress.map((p) => p.label)).size).toBe(total);
  return { progress, total, created: () => gpu.stats.pipelinesCreated };
}

describe('warmup: the first call after it creates no pipeline', () => {
  it('SequenceModel: trainStep, predict and generate', async () => {
    const gpu = await freshGpu();
    const m = new SequenceModel(gpu, {
      cell: 'lstm',
      vocabSize: 7,
      embeddingDim: 4,
      hiddenSize: 5,
      numLayers: 2,
      outputSize: 7,
      mode: 'manyToMany',
      loss: 'crossEntropy',
    });
    m.configureTraining({ optimizer: { kind: 'adam', lr: 0.01, clipNorm: 1 } });
    const start = gpu.stats.pipelinesCreated;
    const { total, created } = await afterWarmup(gpu, (onProgress) =>
      m.warmup({ seqLen: 3, batch: 2, generate: true, onProgress }),
    );
    expect(created() - start).toBe(total);
    expect(gpu.stats.pipelinesCreatedAsync).toBe(total);
    const tokens = [1, 2, 3, 4, 5, 6];
    const loss = await m.trainStep({ inputs: tokens, targets: tokens, seqLen: 3, batch: 2 }, { readLoss: true });
    expect(Number.isFinite(loss)).toBe(true);
    await m.predict(tokens, 3, 2);
    await m.generate([1, 2], 3);
    expect(created() - start, 'pipelines created by the calls after warmup').toBe(total);
    // A second warmup of the same shapes compiles nothing.
    const again = await m.warmup({ seqLen: 3, batch: 2 });
    expect(again.pipelines).toBe(0);
    await expect(m.warmup({ seqLen: 0, batch: 2 })).rejects.toThrow(/seqLen/);
    await expect(m.warmup({ seqLen: 3, batch: 2, onProgress: 1 as never })).rejects.toThrow(/onProgress/);
    m.destroy();
  });
});

describe('warmup: Seq2Seq, TransformerLM + Trainer, any Module', () => {
  it('Seq2Seq: trainStep, evaluate and greedyDecode after warmups of each mode', async () => {
    const gpu = await freshGpu();
    const m = new Seq2Seq(gpu, {
      cell: 'gru',
      srcVocab: 9,
      tgtVocab: 9,
      embeddingDim: 4,
      hiddenSize: 5,
      bosToken: 1,
      eosToken: 2,
      padToken: 0,
    });
    m.configureTraining({ optimizer: { kind: 'adam', lr: 0.01 } });
    const batch = {
      src: [
        [3, 4, 5],
        [6, 7],
      ],
      tgt: [[5, 4, 3, 8], [7]],
    };
    const start = gpu.stats.pipelinesCreated;
    const train = await afterWarmup(gpu, (onProgress) => m.warmup({ srcLen: 3, tgtLen: 4, batch: 2, onProgress }));
    const greedy = await m.warmup({ mode: 'greedy', srcLen: 3, tgtLen: 5, batch: 2 });
    const compiled = train.total + greedy.pipelines;
    expect(gpu.stats.pipelinesCreated - start).toBe(compiled);
    await m.trainStep(batch, { readLoss: true });
    await m.evaluate(batch);
    await m.greedyDecode(batch.src, { maxLen: 5 });
    expect(gpu.stats.pipelinesCreated - start, 'pipelines created by the calls after warmup').toBe(compiled);
    await expect(m.warmup({ mode: 'greedy', srcLen: 3, tgtLen: 5, batch: 2, beamWidth: 3 })).rejects.toThrow(
      /beamWidth 3 needs mode 'beam'/,
    );
    m.destroy();
  });

  it('TransformerLM: Trainer.step, forward and generate after trainer.warmup and lm.warmup', async () => {
    const gpu = await freshGpu();
    const lm = new TransformerLM(gpu, { vocabSize: 7, dModel: 8, nhead: 2, numLayers: 1, maxSeqLen: 9, dropout: 0 });
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
    const trainer = new Trainer(lm, { loss: 'crossEntropy', optimizer: { kind: 'adamw', lr: 0.01 }, clipGradNorm: 1 });
    const start = gpu.stats.pipelinesCreated;
    const step = await afterWarmup(gpu, (onProgress) => trainer.warmup({ inputs: tokens, targets }, { onProgress }));
    const lmWarm = await lm.warmup({ seqLen: 5, batch: 2, generate: true });
    const compiled = step.total + lmWarm.pipelines;
    expect(gpu.stats.pipelinesCreated - start).toBe(compiled);
    expect(Number.isFinite(await trainer.step({ inputs: tokens, targets }, { readLoss: true }))).toBe(true);
    lm.eval();
    const logits = lm.forward(tokens);
    expect(logits.shape).toEqual([2, 5, 7]);
    expect(await lm.generate([3, 1], { maxNewTokens: 3 })).toHaveLength(3);
    expect(gpu.stats.pipelinesCreated - start, 'pipelines created by the calls after warmup').toBe(compiled);
    await expect(lm.warmup({ seqLen: 10, batch: 1 })).rejects.toThrow(/seqLen/);
    logits.destroy();
    trainer.destroy();
    lm.destroy();
    tokens.destroy();
    targets.destroy();
  });

  it('warmupForward: any Module', async () => {
    const gpu = await freshGpu();
    const net = new seqgpu.LSTM(gpu, { inputSize: 3, hiddenSize: 4 });
    const x = Tensor.from(gpu, new Float32Array(5 * 2 * 3).fill(0.5), [5, 2, 3]);
    const start = gpu.stats.pipelinesCreated;
    const { total } = await afterWarmup(gpu, (onProgress) => warmupForward(net, [x], { onProgress }));
    const out = net.forward(x) as unknown as { output: Tensor };
    expect((await out.output.read()).length).toBe(5 * 2 * 4);
    expect(gpu.stats.pipelinesCreated - start).toBe(total);
    await expect(warmupForward(net, [x], { onProgress: 'no' as never })).rejects.toThrow(/onProgress/);
    net.destroy();
    x.destroy();
  });
});
