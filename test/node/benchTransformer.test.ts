// The bench's Transformer rows (bench/transformer.ts) at smoke sizes, in Node on Dawn: the suite
// selects them by filter, seqgpu and TensorFlow.js WebGPU (same weights, same inputs) agree on the
// forward outputs and on the first training step's loss and gradients, and peak memory is measured.
// onnxruntime-web's WebGPU EP does not run under Dawn's Node bindings (bench/node.ts): the ONNX
// encoder the ORT peer gets is checked here on ORT's CPU (wasm) EP against seqgpu's output instead.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create, globals } from 'webgpu';
import { Tensor, TransformerEncoder, TransformerEncoderLayer, type Gpu } from '../../src/index.js';
import { benchOptions, runSuite } from '../../bench/suite.js';
import { transformerEncoderOnnxModel, type OnnxWeight } from '../../bench/onnx.js';
import { loadTfWebgpu } from '../../bench/tf.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;

beforeAll(async () => {
  // tfjs's WebGPU backend finds its adapter through navigator.gpu, as in a browser.
  Object.assign(globalThis, globals);
  if (!(globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu)
    Object.defineProperty(globalThis, 'navigator', {
      value: { gpu: create([]), userAgent: `node ${process.version}` },
      configurable: true,
      writable: true,
    });
  gpu = await testGpu();
});

afterAll(() => gpu?.destroy());

describe('bench: Transformer rows (smoke sizes)', () => {
  it('run through the suite filter; seqgpu and tfjs agree on outputs, loss and gradients', async () => {
    const query: Record<string, string> = { filter: 'transformer', smoke: '1', reps: '2', peerReps: '1' };
    const options = benchOptions((k) => query[k] ?? null);
    expect(options.transformer).toMatchObject({ seqLen: [16], dModel: 32, batch: 2, smoke: true });
    const rows = await runSuite(
      gpu,
      options,
      { tf: loadTfWebgpu, ort: async () => ({ error: 'not run in Node (WebGPU EP)' }) },
      () => {},
    );
    expect(rows.map((r) => r.workload)).toEqual([
      'transformer encoder fwd B2 T16 E32 H4 F64 L2',
      'transformer encoder train B2 T16 E32 H4 F64 L2',
      'transformer lm fwd B2 T16 E32 H4 F64 L2 V32',
      'transformer lm train B2 T16 E32 H4 F64 L2 V32',
    ]);
    for (const r of rows) {
      expect(r.seqgpu.wallMs).toBeGreaterThan(0);
      expect(r.seqgpu.wallMinMs).toBeLessThanOrEqual(r.seqgpu.wallMaxMs!);
      expect(r.seqgpu.peakBytes).toBeGreaterThan(0);
      const tf = r.peers['tfjs-webgpu'];
      expect(tf && 'error' in tf ? tf.error : null).toBeNull();
      if (!tf || 'error' in tf) continue;
      expect(tf.wrong, r.workload).toBeUndefined(); // outputs / loss + gradients within 1e-3 of seqgpu's
      expect(tf.peakBytes).toBeGreaterThan(0);
      const check = Object.entries(r.extra ?? {}).find(([k]) => k.startsWith('max |peer'));
      expect(check?.[1], r.workload).toMatch(r.workload.includes('train') ? /gradients/ : /tfjs-webgpu/);
      expect(r.extra?.['issue 18 goals']).toMatch(/seqgpu peak ÷ tfjs peak/);
    }
    // ORT: an error stub for the encoder forward, n/a elsewhere.
    expect(rows[0].peers['ort-webgpu']).toEqual({ error: 'not run in Node (WebGPU EP)' });
    expect((rows[1].peers['ort-webgpu'] as { error: string }).error).toMatch(/^n\/a/);
  });

  it("the ORT peer's ONNX encoder computes seqgpu's encoder (ORT CPU EP, same weights)", async () => {
    const [B, T, E, H] = [2, 5, 8, 2];
    const layer = new TransformerEncoderLayer(gpu, {
      dModel: E,
      nhead: H,
      dimFeedforward: 12,
      dropout: 0,
      batchFirst: true,
      seed: 3,
    });
    const encoder = new TransformerEncoder(gpu, { layer, numLayers: 2 }).eval();
    layer.destroy();
    const weights: Record<string, OnnxWeight> = {};
    for (const [name, t] of Object.entries(await encoder.stateDict())) weights[name] = t;
    const xData = Float32Array.from({ length: B * T * E }, (_, i) => Math.sin(i * 0.7));
    const x = Tensor.from(gpu, xData, [B, T, E]);
    const y = encoder.forward(x);
    const want = await y.read();
    for (const t of [x, y]) t.destroy();
    encoder.destroy();

    const ort = await import('onnxruntime-web');
    ort.env.wasm.numThreads = 1;
    const model = transformerEncoderOnnxModel(weights, {
      batch: B,
      seqLen: T,
      dModel: E,
      nhead: H,
      numLayers: 2,
      eps: 1e-5,
    });
    const session = await ort.InferenceSession.create(model, { executionProviders: ['wasm'] });
    const out = await session.run({ src: new ort.Tensor('float32', xData, [B, T, E]) });
    const got = (await out.output.getData()) as Float32Array;
    await session.release();
    expect(got.length).toBe(want.length);
    let diff = 0;
    for (let i = 0; i < got.length; i++) diff = Math.max(diff, Math.abs(got[i] - want[i]));
    expect(diff).toBeLessThan(1e-4);
  });
});
