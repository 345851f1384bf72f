// Transformer rows (issue 18, item 4): a 2-layer post-norm ReLU `TransformerEncoder` (batch first)
// and the causal pre-norm GELU `TransformerLM`, at batch 8 and T 128 / 512 / 1024 (smaller with
// --smoke), forward (inference) and one training step (forward + loss + backward + optimizer).
//
//   seqgpu      forward: `module.forward(x)` outside a Trainer (traced once, replayed as one submit);
//               train:   `Trainer.step({inputs, targets}, {readLoss: true})` with AdamW (one submit).
//   tfjs-webgpu the same networks written with tfjs ops (matMul + add, split / reshape / transpose
//               heads, matMul + softmax + matMul attention, layer norm from tf.moments, ReLU or
//               erf-GELU feed-forward, residuals, post- or pre-norm); training with
//               `optimizer.minimize` and tf.train.adam: tfjs has NO AdamW (seqgpu's weight decay,
//               1e-2 · lr per step, is the only difference in the update).
//   ort-webgpu  encoder forward only (onnxruntime-web has no training): the encoder as
//               torch.onnx.export writes it in standard ops (opset 17, LayerNormalization), built
//               in the page from the same weights (bench/onnx.ts). The LM has no ORT row.
//
// Every implementation gets seqgpu's initial weights (its state_dict) and the same inputs; outputs
// (forward), or the first step's loss and every parameter's gradient (train), are compared with
// seqgpu's and a row is flagged "wrong output" past 1e-3 (relative to seqgpu's largest |value|).
// Each call is timed whole: upload the batch, run, read the output (forward) or the loss (train)
// back. Runs: 1 untimed warm-up (tracing, shader compiles), then `reps` (seqgpu) / `peerReps`
// (peers) timed calls, at least 10 each outside --smoke (bench/suite.ts); min / median / max of them.
// Peak GPU memory per library as the attention rows measure it (bench/gpuMemory.ts).
import { type Gpu, Tensor, Trainer, TransformerEncoder, TransformerEncoderLayer, TransformerLM } from '../src/index.js';
import { median, type BenchRow, type Measurement } from './stats.js';
import { transformerEncoderOnnxModel, type OnnxWeight } from './onnx.js';
import { createWebgpuSession, type Ort, type OrtSession } from './ort.js';
import type { Tf } from './tf.js';
import { GpuMemoryTracker, formatBytes } from './gpuMemory.js';
import { trimTfPool } from './attention.js';

type TfTensor = import('@tensorflow/tfjs').Tensor;

export interface TransformerCase {
  model: 'encoder' | 'lm';
  /** Forward + loss + backward + optimizer step instead of the forward alone. */
  train: boolean;
  seqLen: number;
}

export interface TransformerBenchOptions {
  batch: number;
  dModel: number;
  nhead: number;
  dimFeedforward: number;
  numLayers: number;
  /** TransformerLM's vocabulary. */
  vocabSize: number;
  reps: number;
  peerReps: number;
}

/** e.g. `transformer encoder fwd B8 T128 E256 H4 F1024 L2`, `transformer lm train B8 T512 E256 H4 F1024 L2 V256`. */
export function transformerWorkload(c: TransformerCase, o: TransformerBenchOptions): string {
  return (
    `transformer ${c.model} ${c.train ? 'train' : 'fwd'} B${o.batch} T${c.seqLen} E${o.dModel} H${o.nhead} ` +
    `F${o.dimFeedforward} L${o.numLayers}${c.model === 'lm' ? ` V${o.vocabSize}` : ''}`
  );
}

/**
 * FLOPs of one call: per layer 2·N·(4E² + 2EF) for the projections and the feed-forward (N = B·T)
 * plus 4·B·T²·E for Q·Kᵀ and P·V (halved for the causal LM: half the scores are masked); the LM
 * adds its head 2·N·E·V. A training step counts 3× the forward. Norms, softmax, the loss and the
 * optimizer are not counted.
 */
export function transformerFlops(c: TransformerCase, o: TransformerBenchOptions): number {
  const N = o.batch * c.seqLen;
  const E = o.dModel;
  const attention = (4 * o.batch * c.seqLen * c.seqLen * E) / (c.model === 'lm' ? 2 : 1);
  let forward = o.numLayers * (2 * N * (4 * E * E + 2 * E * o.dimFeedforward) + attention);
  if (c.model === 'lm') forward += 2 * N * E * o.vocabSize;
  return c.train ? 3 * forward : forward;
}

type Weights = Record<string, OnnxWeight>;

interface TransformerData {
  /** Encoder: f32 [B, T, E]; LM: i32 token ids [B, T]. */
  x: Float32Array | Int32Array;
  /** Encoder (MSE): f32 [B, T, E]; LM (cross-entropy): the next tokens, i32 [B, T]. */
  y: Float32Array | Int32Array;
}

/** One implementation's measurement and what it produced (forward: the output; train: [first loss]). */
interface Measured {
  m: Measurement | { error: string };
  result?: Float32Array;
  /** Train: every parameter's gradient of the first step (at the shared initial weights), by name. */
  grads?: Map<string, Float32Array>;
}

function randomData(n: number): Float32Array {
  return Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
}

function randomTokens(n: number, vocab: number): Int32Array {
  return Int32Array.from({ length: n }, () => Math.floor(Math.random() * vocab));
}

/** Largest |a − b| relative to the largest |b| (b: seqgpu's). */
function maxRelDiff(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let j = 0; j < b.length; j++) {
    diff = Math.max(diff, Math.abs(a[j] - b[j]));
    scale = Math.max(scale, Math.abs(b[j]));
  }
  return a.length === b.length ? diff / (scale || 1) : Infinity;
}

/** {@link maxRelDiff} over every parameter's gradient (same names in both); Infinity when one is missing. */
function gradientDiff(a?: Map<string, Float32Array>, b?: Map<string, Float32Array>): number {
  if (!a || !b || a.size !== b.size) return Infinity;
  let diff = 0;
  let scale = 0;
  for (const [name, x] of b) {
    const y = a.get(name);
    if (!y || y.length !== x.length) return Infinity;
    for (let j = 0; j < x.length; j++) {
      diff = Math.max(diff, Math.abs(y[j] - x[j]));
      scale = Math.max(scale, Math.abs(x[j]));
    }
  }
  return diff / (scale || 1);
}

/**
 * Runs `call` once untimed (tracing, pipeline compiles, tfjs/ORT program builds), resets the
 * device's peak, then `reps` timed calls. Returns the warm-up's result, the wall times and the peak.
 */
async function timed<R>(
  call: () => Promise<R>,
  reps: number,
  memory: GpuMemoryTracker,
  device: () => object | null,
  afterFirst?: () => Promise<void>,
): Promise<{ first: R; firstMs: number; times: number[]; peakBytes?: number }> {
  const t0 = performance.now();
  const first = await call();
  const firstMs = performance.now() - t0;
  await afterFirst?.();
  const d = device();
  if (d) memory.resetPeak(d);
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    await call();
    times.push(performance.now() - t);
  }
  return { first, firstMs, times, peakBytes: d ? memory.snapshot(d).peakBytes : undefined };
}

function spread(times: number[], firstMs: number): string {
  const f = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms.toPrecision(3));
  return (
    `wall min / median / max ${f(Math.min(...times))} / ${f(median(times))} / ${f(Math.max(...times))} ms ` +
    `over ${times.length} runs (warm-up ${f(firstMs)} ms)`
  );
}

function measurement(
  r: { times: number[]; firstMs: number; peakBytes?: number },
  before: number,
  what: string,
): Measurement {
  return {
    wallMs: median(r.times),
    wallMinMs: Math.min(...r.times),
    wallMaxMs: Math.max(...r.times),
    reps: r.times.length,
    peakBytes: r.peakBytes,
    note:
      `${what}; ${spread(r.times, r.firstMs)}; memory peak ${formatBytes(r.peakBytes ?? 0)} ` +
      `(live on its device before the row: ${formatBytes(before)})`,
  };
}

function seqgpuModel(gpu: Gpu, c: TransformerCase, o: TransformerBenchOptions): TransformerEncoder | TransformerLM {
  if (c.model === 'lm')
    return new TransformerLM(gpu, {
      vocabSize: o.vocabSize,
      dModel: o.dModel,
      nhead: o.nhead,
      numLayers: o.numLayers,
      dimFeedforward: o.dimFeedforward,
      maxSeqLen: c.seqLen,
      dropout: 0,
      seed: 7,
    });
  const layer = new TransformerEncoderLayer(gpu, {
    dModel: o.dModel,
    nhead: o.nhead,
    dimFeedforward: o.dimFeedforward,
    dropout: 0,
    batchFirst: true,
    seed: 7,
  });
  const encoder = new TransformerEncoder(gpu, { layer, numLayers: o.numLayers });
  layer.destroy(); // the stack holds copies
  return encoder;
}

async function measureSeqgpu(
  gpu: Gpu,
  memory: GpuMemoryTracker,
  data: TransformerData,
  c: TransformerCase,
  o: TransformerBenchOptions,
): Promise<Measured & { weights: Weights; extra: Record<string, string> }> {
  const { batch: B, dModel: E } = o;
  const T = c.seqLen;
  gpu.pool.trim(); // buffers pooled by earlier rows do not count
  const before = memory.snapshot(gpu.device).liveBytes;
  const model = seqgpuModel(gpu, c, o);
  const weights: Weights = {};
  for (const [name, t] of Object.entries(await model.stateDict()))
    weights[name] = { shape: t.shape, data: Float32Array.from(t.data) };
  const xShape = c.model === 'lm' ? [B, T] : [B, T, E];
  const x = Tensor.empty(gpu, xShape, 'bench.x', c.model === 'lm' ? 'i32' : 'f32');
  const y = Tensor.empty(gpu, xShape, 'bench.y', c.model === 'lm' ? 'i32' : 'f32');
  let trainer: Trainer | null = null;
  let call: () => Promise<Float32Array>;
  if (c.train) {
    trainer = new Trainer(model, {
      loss: c.model === 'lm' ? 'crossEntropy' : 'mse',
      optimizer: { kind: 'adamw', lr: 1e-3 },
    });
    const t = trainer;
    call = async () => {
      x.write(data.x);
      y.write(data.y);
      return Float32Array.of((await t.step({ inputs: x, targets: y }, { readLoss: true }))!);
    };
  } else {
    model.eval();
    call = async () => {
      x.write(data.x);
      const out = model.forward(x);
      const r = await out.read();
      out.destroy();
      return r;
    };
  }
  const submits = gpu.stats.submits;
  const dispatches = gpu.stats.dispatches;
  // The first step's gradients (at the initial weights every implementation starts from).
  let grads: Map<string, Float32Array> | undefined;
  const readGrads = async () => {
    grads = new Map();
    for (const p of model.namedParameters()) grads.set(p.name, await p.grad.read());
  };
  const r = await timed(call, o.reps, memory, () => gpu.device, c.train ? readGrads : undefined);
  const perCall = (n: number) => (n / (r.times.length + 1)).toFixed(0);
  const what = c.train
    ? `Trainer.step (${c.model === 'lm' ? 'cross-entropy' : 'MSE'} + backward + AdamW, wd 1e-2), ` +
      `${trainer!.lastRun?.dispatches} dispatches in ${trainer!.lastRun?.submits} submit, loss read back`
    : `module.forward on its traced plan, ${perCall(gpu.stats.dispatches - dispatches)} dispatches per call in ` +
      `${perCall(gpu.stats.submits - submits)} submit(s), output read back`;
  const m = measurement(r, before, what);
  m.dispatches = c.train ? trainer!.lastRun?.dispatches : Number(perCall(gpu.stats.dispatches - dispatches));
  trainer?.destroy();
  model.destroy();
  x.destroy();
  y.destroy();
  gpu.pool.trim();
  return { m, result: r.first, grads, weights, extra: { seqgpu: m.note! } };
}

/** The encoder / LM in tfjs ops from PyTorch-named weights `W`. */
function tfNetwork(
  tf: Tf,
  W: (name: string) => TfTensor,
  c: TransformerCase,
  o: TransformerBenchOptions,
  mask: TfTensor | null,
): (x: TfTensor) => TfTensor {
  const { batch: B, dModel: E, nhead: H } = o;
  const T = c.seqLen;
  const N = B * T;
  const D = E / H;
  const scale = 1 / Math.sqrt(D);
  const lm = c.model === 'lm';
  const lin = (h: TfTensor, name: string, bias = true) => {
    const y = tf.matMul(h, W(`${name}.weight`), false, true);
    return bias ? tf.add(y, W(`${name}.bias`)) : y;
  };
  const norm = (h: TfTensor, name: string) => {
    const { mean, variance } = tf.moments(h, -1, true);
    const n = tf.mul(tf.sub(h, mean), tf.rsqrt(tf.add(variance, 1e-5)));
    return tf.add(tf.mul(n, W(`${name}.weight`)), W(`${name}.bias`));
  };
  // PyTorch's exact GELU (TransformerLM's default) from erf; ReLU for the encoder (PyTorch's default).
  const act = (h: TfTensor) => (lm ? tf.mul(tf.mul(h, 0.5), tf.add(tf.erf(tf.mul(h, Math.SQRT1_2)), 1)) : tf.relu(h));
  const selfAttention = (h: TfTensor, p: string) => {
    const qkv = tf.add(tf.matMul(h, W(`${p}self_attn.in_proj_weight`), false, true), W(`${p}self_attn.in_proj_bias`));
    const [q, k, v] = tf.split(qkv, 3, 1).map((t) => tf.transpose(tf.reshape(t, [B, T, H, D]), [0, 2, 1, 3]));
    let s = tf.matMul(tf.mul(q, scale), k, false, true); // [B, H, T, T]
    if (mask) s = tf.add(s, mask);
    const a = tf.matMul(tf.softmax(s), v); // [B, H, T, D]
    return lin(tf.reshape(tf.transpose(a, [0, 2, 1, 3]), [N, E]), `${p}self_attn.out_proj`);
  };
  const ff = (h: TfTensor, p: string) => lin(act(lin(h, `${p}linear1`)), `${p}linear2`);
  return (input: TfTensor) => {
    let h: TfTensor;
    if (lm) {
      const tok = tf.gather(W('tok_embed.weight'), input); // [N, E]
      const pos = tf.slice(W('pos_embed.weight'), [0, 0], [T, E]);
      h = tf.reshape(tf.add(tf.reshape(tok, [B, T, E]), pos), [N, E]);
    } else h = tf.reshape(input, [N, E]);
    for (let l = 0; l < o.numLayers; l++) {
      const p = `layers.${l}.`;
      if (lm) {
        // pre-norm: x + SA(norm1(x)), then x + FF(norm2(x))
        h = tf.add(h, selfAttention(norm(h, `${p}norm1`), p));
        h = tf.add(h, ff(norm(h, `${p}norm2`), p));
      } else {
        // post-norm (PyTorch's default): norm1(x + SA(x)), then norm2(x + FF(x))
        h = norm(tf.add(h, selfAttention(h, p)), `${p}norm1`);
        h = norm(tf.add(h, ff(h, p)), `${p}norm2`);
      }
    }
    if (lm) return lin(norm(h, 'norm'), 'head', false); // [N, V] logits
    return tf.reshape(h, [B, T, E]);
  };
}

async function measureTf(
  tf: Tf,
  memory: GpuMemoryTracker,
  weights: Weights,
  data: TransformerData,
  c: TransformerCase,
  o: TransformerBenchOptions,
): Promise<Measured> {
  const { batch: B, dModel: E } = o;
  const T = c.seqLen;
  const owned: TfTensor[] = [];
  try {
    trimTfPool(tf);
    const device = (tf.backend() as unknown as { device: GPUDevice }).device;
    const before = memory.snapshot(device).liveBytes;
    const params = new Map<string, TfTensor>();
    for (const [name, w] of Object.entries(weights)) {
      const t = tf.tensor(w.data, [...w.shape]);
      params.set(name, c.train ? tf.variable(t, true) : t);
      if (c.train) t.dispose();
    }
    owned.push(...params.values());
    const W = (name: string) => {
      const t = params.get(name);
      if (!t) throw new Error(`no weight '${name}'`);
      return t;
    };
    let mask: TfTensor | null = null;
    if (c.model === 'lm') {
      // causal: an added [T, T] band, 0 on and below the diagonal, −∞ above (broadcast over B, H)
      const band = new Float32Array(T * T);
      for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) band[i * T + j] = -Infinity;
      mask = tf.tensor2d(band, [T, T]);
      owned.push(mask);
    }
    const net = tfNetwork(tf, W, c, o, mask);
    const input = () =>
      c.model === 'lm' ? tf.tensor1d(data.x as Int32Array, 'int32') : tf.tensor3d(data.x as Float32Array, [B, T, E]);
    let call: () => Promise<Float32Array>;
    if (c.train) {
      const optimizer = tf.train.adam(1e-3, 0.9, 0.999, 1e-8);
      const vars = [...params.values()] as import('@tensorflow/tfjs').Variable[];
      const target = () =>
        c.model === 'lm'
          ? tf.oneHot(tf.tensor1d(data.y as Int32Array, 'int32'), o.vocabSize)
          : tf.tensor3d(data.y as Float32Array, [B, T, E]);
      const lossOf = (x: TfTensor, y: TfTensor) => () =>
        (c.model === 'lm'
          ? tf.losses.softmaxCrossEntropy(y, net(x))
          : tf.losses.meanSquaredError(y, net(x))) as import('@tensorflow/tfjs').Scalar;
      // The gradients at the initial weights, untimed (the cross-check with seqgpu's first step).
      const grads = new Map<string, Float32Array>();
      {
        const x = input();
        const y = target();
        const g = tf.variableGrads(lossOf(x, y), vars);
        const names = [...params.keys()];
        for (const [i, v] of vars.entries()) grads.set(names[i], (await g.grads[v.name].data()) as Float32Array);
        for (const t of [x, y, g.value, ...Object.values(g.grads)]) t.dispose();
      }
      call = async () => {
        const x = input();
        const y = target();
        const loss = optimizer.minimize(lossOf(x, y), true, vars)!;
        const v = (await loss.data()) as Float32Array;
        for (const t of [x, y, loss]) t.dispose();
        return Float32Array.from(v);
      };
      const r = await timed(call, o.peerReps, memory, () => device);
      optimizer.dispose();
      return {
        m: measurement(
          r,
          before,
          `optimizer.minimize (${c.model === 'lm' ? 'softmaxCrossEntropy' : 'meanSquaredError'} + backward + ` +
            `tf.train.adam: tfjs has no AdamW), loss read back; attention as matMul + softmax + matMul ([B, H, T, T] ` +
            `scores in memory)`,
        ),
        result: r.first,
        grads,
      };
    }
    call = async () => {
      const x = input();
      const out = tf.tidy(() => net(x));
      const v = (await out.data()) as Float32Array;
      x.dispose();
      out.dispose();
      return v;
    };
    const r = await timed(call, o.peerReps, memory, () => device);
    return {
      m: measurement(
        r,
        before,
        `tfjs ops: matMul + add projections, matMul + softmax + matMul attention ([B, H, T, T] scores in memory), ` +
          `moments layer norm`,
      ),
      result: r.first,
    };
  } catch (e) {
    return { m: { error: `tfjs: ${(e as Error).message}` } };
  } finally {
    for (const t of owned) t.dispose();
    trimTfPool(tf);
  }
}

async function ortPlacement(ort: Ort, model: Uint8Array): Promise<string> {
  try {
    const verbose = await createWebgpuSession(ort, model, true);
    await verbose.session.release();
    const placed = verbose.placement.some((l) => /All nodes placed on \[WebGpuExecutionProvider\]/.test(l));
    return placed
      ? 'All nodes placed on [WebGpuExecutionProvider]'
      : `placement NOT proven; log: ${verbose.placement.slice(0, 3).join(' | ') || 'none'}`;
  } catch (e) {
    return `placement not checked: ${(e as Error).message}`;
  }
}

async function measureOrt(
  ort: Ort,
  memory: GpuMemoryTracker,
  weights: Weights,
  data: TransformerData,
  c: TransformerCase,
  o: TransformerBenchOptions,
  otherDevices: object[],
  checkPlacement: boolean,
): Promise<Measured> {
  const { batch: B, dModel: E } = o;
  const T = c.seqLen;
  let session: OrtSession | null = null;
  try {
    const model = transformerEncoderOnnxModel(weights, {
      batch: B,
      seqLen: T,
      dModel: E,
      nhead: o.nhead,
      numLayers: o.numLayers,
      eps: 1e-5,
    });
    const placement = checkPlacement ? await ortPlacement(ort, model) : undefined;
    const devicesBefore = new Set(memory.knownDevices());
    ({ session } = await createWebgpuSession(ort, model, false));
    const s = session;
    const call = async () => {
      const out = await s.run({ src: new ort.Tensor('float32', data.x as Float32Array, [B, T, E]) });
      const y = (await out.output.getData()).slice(); // a copy: dispose() may release what getData returned
      for (const t of Object.values(out)) t.dispose();
      return y;
    };
    // ORT's device: onnxruntime-web 1.30 opens one per session; the one that appeared with it.
    const device = () => {
      const fresh = memory.knownDevices().filter((d) => !devicesBefore.has(d) && !otherDevices.includes(d));
      return fresh.length
        ? fresh.reduce((a, b) => (memory.snapshot(b).liveBytes > memory.snapshot(a).liveBytes ? b : a))
        : null;
    };
    const r = await timed(call, o.peerReps, memory, device);
    const m = measurement(
      r,
      0,
      `ONNX (opset 17) in standard ops as torch.onnx.export writes nn.TransformerEncoder: MatMul + Add, ` +
        `Reshape / Transpose, MatMul + Softmax + MatMul, LayerNormalization, Relu` +
        (placement ? `; ${placement}` : ''),
    );
    if (r.peakBytes === undefined) m.note += ' (memory not measured: ORT device not found)';
    return { m, result: r.first };
  } catch (e) {
    console.error(`[bench] ort failed: ${(e as Error).stack ?? e}`);
    return { m: { error: `ort: ${(e as Error).message}` } };
  } finally {
    await session?.release();
  }
}

/** Outputs (or first losses) further than this from seqgpu's, relative to its largest, are wrong. */
const WRONG_OUTPUT = 1e-3;

export async function transformerRows(
  gpu: Gpu,
  peers: { tf: Tf | { error: string }; ort: Ort | { error: string } },
  memory: GpuMemoryTracker,
  cases: TransformerCase[],
  o: TransformerBenchOptions,
  log: (s: string) => void,
): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const tfDevice = 'error' in peers.tf ? null : (peers.tf.backend() as unknown as { device: GPUDevice }).device;
  const others = [gpu.device, ...(tfDevice ? [tfDevice] : [])];
  let placementChecked = false;
  for (const c of cases) {
    const workload = transformerWorkload(c, o);
    log(`running ${workload}`);
    const n = o.batch * c.seqLen;
    const data: TransformerData =
      c.model === 'lm'
        ? { x: randomTokens(n, o.vocabSize), y: randomTokens(n, o.vocabSize) }
        : { x: randomData(n * o.dModel), y: randomData(n * o.dModel) };
    const s = await measureSeqgpu(gpu, memory, data, c, o);
    const flops = transformerFlops(c, o);
    const extra: Record<string, string> = {
      FLOPs: `${(flops / 1e9).toFixed(3)} GFLOP (${c.train ? '3 × ' : ''}projections + feed-forward + attention)`,
    };
    const row: BenchRow = { group: 'transformer', workload, flops, seqgpu: s.m as Measurement, peers: {}, extra };
    const measured: Array<[string, Measured]> = [
      ['tfjs-webgpu', 'error' in peers.tf ? { m: peers.tf } : await measureTf(peers.tf, memory, s.weights, data, c, o)],
    ];
    if (c.model === 'lm') measured.push(['ort-webgpu', { m: { error: 'n/a (no ONNX model of the LM here)' } }]);
    else if (c.train) measured.push(['ort-webgpu', { m: { error: 'n/a (onnxruntime-web has no training)' } }]);
    else if ('error' in peers.ort) measured.push(['ort-webgpu', { m: peers.ort }]);
    else {
      measured.push([
        'ort-webgpu',
        await measureOrt(peers.ort, memory, s.weights, data, c, o, others, !placementChecked),
      ]);
      placementChecked = true;
    }
    const check: string[] = [];
    for (const [name, r] of measured) {
      row.peers[name] = r.m;
      if (!r.result || !s.result || 'error' in r.m) continue;
      let diff = maxRelDiff(r.result, s.result);
      let what = `${diff.toExponential(1)}`;
      if (c.train) {
        // the first step's loss, and every parameter's gradient (relative to seqgpu's largest |gradient|)
        const g = gradientDiff(r.grads, s.grads);
        const loss = `loss ${r.result[0].toPrecision(6)} vs ${s.result[0].toPrecision(6)}`;
        what = `${loss} (${diff.toExponential(1)}), gradients ${g.toExponential(1)}`;
        diff = Math.max(diff, g);
      }
      check.push(`${name} ${what}`);
      if (!(diff <= WRONG_OUTPUT)) r.m.wrong = `max |${name} − seqgpu| ÷ max |seqgpu| = ${diff.toExponential(2)}`;
    }
    if (check.length)
      extra[`max |peer − seqgpu| ÷ max |seqgpu| (${c.train ? "first step's loss and gradients" : 'output'})`] =
        check.join(', ');
    extra['issue 18 goals'] = goals(row, c);
    rows.push(row);
  }
  return rows;
}

/** ≥ 2× tfjs for training, ≥ 1.5× ORT forward (encoder), seqgpu peak ≤ ½ tfjs's (judged at T 1024). */
function goals(row: BenchRow, c: TransformerCase): string {
  const out: string[] = [];
  const ratio = (name: string) => {
    const m = row.peers[name];
    if (!m || 'error' in m) return null;
    return { x: m.wallMs / row.seqgpu.wallMs, wrong: !!m.wrong, peak: m.peakBytes };
  };
  const tf = ratio('tfjs-webgpu');
  const ort = ratio('ort-webgpu');
  const verdict = (x: number, goal: number, wrong: boolean) =>
    wrong ? 'not judged (wrong output)' : x >= goal ? 'met' : 'NOT met';
  if (c.train && tf) out.push(`${tf.x.toFixed(2)}× tfjs (goal ≥ 2×: ${verdict(tf.x, 2, tf.wrong)})`);
  if (!c.train && c.model === 'encoder' && ort)
    out.push(`${ort.x.toFixed(2)}× ORT (goal ≥ 1.5×: ${verdict(ort.x, 1.5, ort.wrong)})`);
  if (tf?.peak && row.seqgpu.peakBytes !== undefined) {
    const share = row.seqgpu.peakBytes / tf.peak;
    out.push(
      `seqgpu peak ÷ tfjs peak = ${share.toFixed(2)} (goal ≤ 0.5 at T 1024` +
        `${c.seqLen === 1024 ? `: ${share <= 0.5 ? 'met' : 'NOT met'}` : ''})`,
    );
  }
  return out.join('; ') || 'no peer to judge against';
}
