// Attention rows: scaled dot-product attention forward, and forward + backward, at headDim 64,
// 8 heads, batch 4, causal and not. seqgpu's fused kernels (recorded dispatches, one submit) vs
// TensorFlow.js WebGPU composing matMul + softmax + matMul (backward by tf.grads over the same
// composition) vs onnxruntime-web WebGPU, forward only (ORT has no training), twice: one
// com.microsoft MultiHeadAttention node ("ort-webgpu MHA"), and the tfjs composition written
// in standard ONNX ops ("ort-webgpu ops"). Same page/process, same adapter, same run, same
// inputs; every peer's output (or gradients) is compared with seqgpu's and flagged when wrong.
//
// Every implementation is timed for the whole call: upload Q, K, V (and dO) from the CPU, run,
// read the result back (the output; for fwd + bwd the three gradients). Peak GPU memory of each
// is the largest sum of live GPU buffer bytes on that library's own device during its timed runs
// (bench/gpuMemory.ts), counting what it keeps pooled; seqgpu's and tfjs's pools are emptied
// before their part of a row and ORT opens a device per session, so earlier rows do not count.
import { type Gpu, type GpuTimings, Tensor, attentionDispatch, attentionBackwardDispatches } from '../src/index.js';
import { median, timeRuns, type BenchRow, type Measurement } from './stats.js';
import { attentionOnnxModel, attentionCompositionOnnxModel } from './onnx.js';
import { createWebgpuSession, type Ort } from './ort.js';
import type { Tf } from './tf.js';
import { GpuMemoryTracker, formatBytes } from './gpuMemory.js';

type TfTensor = import('@tensorflow/tfjs').Tensor;

export interface AttentionCase {
  seqLen: number;
  causal: boolean;
  /** Forward + backward (dQ, dK, dV from dO) instead of the forward alone. */
  backward: boolean;
}

export interface AttentionBenchOptions {
  batch: number;
  heads: number;
  headDim: number;
  reps: number;
  peerReps: number;
}

/** e.g. `attention fwd T512 D64 H8 B4 causal`, `attention fwd+bwd T128 D64 H8 B4 unmasked`. */
export function attentionWorkload(c: AttentionCase, o: AttentionBenchOptions): string {
  return (
    `attention ${c.backward ? 'fwd+bwd' : 'fwd'} T${c.seqLen} D${o.headDim} ` +
    `H${o.heads} B${o.batch} ${c.causal ? 'causal' : 'unmasked'}`
  );
}

/**
 * FLOPs of one call: forward 4·B·H·T²·D (Q·Kᵀ and P·V, 2·T²·D each), halved when causal (half
 * the scores are masked, whatever an implementation computes); the backward counted as 2.5× the forward
 * (dV = Pᵀ·dO, dP = dO·Vᵀ, dQ = dS·K, dK = dSᵀ·Q and Q·Kᵀ recomputed), so fwd + bwd = 3.5×.
 */
export function attentionFlops(c: AttentionCase, o: AttentionBenchOptions): number {
  const forward = (4 * o.batch * o.heads * c.seqLen * c.seqLen * o.headDim) / (c.causal ? 2 : 1);
  return c.backward ? 3.5 * forward : forward;
}

interface AttentionData {
  /** [B, H, T, D] row-major. */
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  dO: Float32Array;
}

/** One implementation's measurement and what it produced (for the cross-check). */
interface Measured {
  m: Measurement | { error: string };
  /** forward: [output]; fwd + bwd: [dQ, dK, dV], all [B, H, T, D]. */
  result?: Float32Array[];
}

function randomData(n: number): Float32Array {
  return Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
}

/** [B, H, T, D] ↔ [B, T, H·D] (ORT's MultiHeadAttention layout). */
function toBSD(x: Float32Array, B: number, H: number, T: number, D: number): Float32Array {
  const y = new Float32Array(x.length);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let t = 0; t < T; t++) {
        y.set(x.subarray(((b * H + h) * T + t) * D, ((b * H + h) * T + t + 1) * D), ((b * T + t) * H + h) * D);
      }
  return y;
}
function fromBSD(y: Float32Array, B: number, H: number, T: number, D: number): Float32Array {
  const x = new Float32Array(y.length);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let t = 0; t < T; t++) {
        x.set(y.subarray(((b * T + t) * H + h) * D, ((b * T + t) * H + h + 1) * D), ((b * H + h) * T + t) * D);
      }
  return x;
}

/** Largest |a − b| over all results, relative to the largest |b| (b: seqgpu's). */
function maxRelDiff(a: Float32Array[], b: Float32Array[]): number {
  let diff = 0;
  let scale = 0;
  a.forEach((x, i) => {
    for (let j = 0; j < x.length; j++) {
      diff = Math.max(diff, Math.abs(x[j] - b[i][j]));
      scale = Math.max(scale, Math.abs(b[i][j]));
    }
  });
  return diff / (scale || 1);
}

function memoryNote(beforeBytes: number, peakBytes: number): string {
  return `peak ${formatBytes(peakBytes)} (live on its device before the row: ${formatBytes(beforeBytes)})`;
}

/**
 * How an implementation is timed in a row, from its untimed warm-up call's duration: `reps` timed
 * runs after ≥ 300 ms of warm-up, but at most 3 when the warm-up took over 5 s (a software
 * adapter: tens of seconds per call); GPU time from 3 more runs, 1 when the warm-up took over 1 s
 * (not from the warm-up itself: a software adapter compiles shaders inside its first timestamps).
 */
const SLOW_CALL_MS = 5000;
function timing(reps: number, firstMs: number): { reps: number; warmupMs: number; gpuRuns: number } {
  const slow = firstMs > SLOW_CALL_MS;
  return {
    reps: slow ? Math.min(reps, 3) : reps,
    warmupMs: Math.max(0, 300 - firstMs),
    gpuRuns: firstMs > 1000 ? 1 : 3,
  };
}

async function measureSeqgpu(
  gpu: Gpu,
  memory: GpuMemoryTracker,
  data: AttentionData,
  c: AttentionCase,
  o: AttentionBenchOptions,
): Promise<Measured & { extra: Record<string, string> }> {
  const { batch: B, heads: H, headDim: D } = o;
  const T = c.seqLen;
  const shape = [B, H, T, D];
  const n = B * H * T * D;
  gpu.pool.trim(); // buffers pooled by earlier rows do not count
  const before = memory.snapshot(gpu.device).liveBytes;
  const q = Tensor.empty(gpu, shape, 'bench.q');
  const k = Tensor.empty(gpu, shape, 'bench.k');
  const v = Tensor.empty(gpu, shape, 'bench.v');
  const out = Tensor.empty(gpu, shape, 'bench.o');
  // [2, B, H, T]: the forward's log-sum-exp, then Δ (written by the backward's first pass).
  const rowStats = Tensor.empty(gpu, [2, B, H, T], 'bench.rowStats');
  const dO = c.backward ? Tensor.empty(gpu, shape, 'bench.dO') : null;
  const grads = c.backward ? Tensor.empty(gpu, [3, ...shape], 'bench.grads') : null; // dQ, dK, dV
  const dims = { batch: B, heads: H, seqLenQ: T, seqLenK: T, headDim: D, causal: c.causal };
  const recorded = [
    attentionDispatch(gpu, {
      ...dims,
      q: q.buffer,
      k: k.buffer,
      v: v.buffer,
      o: out.buffer,
      lse: rowStats.buffer,
      label: 'attention',
    }),
  ];
  if (dO && grads) {
    recorded.push(
      ...attentionBackwardDispatches(gpu, {
        ...dims,
        q: q.buffer,
        k: k.buffer,
        v: v.buffer,
        o: out.buffer,
        dO: dO.buffer,
        rowStats: rowStats.buffer,
        dq: grads.buffer,
        dk: { buffer: grads.buffer, offset: n },
        dv: { buffer: grads.buffer, offset: 2 * n },
        label: 'attention.backward',
      }),
    );
  }
  // Recorded once and replayed: the uniforms are taken over here, as a plan does.
  const owned = recorded.flatMap((d) => d.transient ?? []);
  const dispatches = recorded.map((d) => ({ ...d, transient: undefined }));
  let result: Float32Array[] | undefined;
  const call = async () => {
    q.write(data.q);
    k.write(data.k);
    v.write(data.v);
    dO?.write(data.dO);
    gpu.run(dispatches); // one command buffer, one submit
    if (grads) {
      const g = await grads.read();
      result ??= [g.slice(0, n), g.slice(n, 2 * n), g.slice(2 * n)];
    } else {
      const y = await out.read();
      result ??= [y];
    }
  };
  const submitsBefore = gpu.stats.submits;
  const t0 = performance.now();
  await call(); // warm-up
  const firstMs = performance.now() - t0;
  const submits = gpu.stats.submits - submitsBefore;
  const plan = timing(o.reps, firstMs);
  memory.resetPeak(gpu.device);
  const wall = await timeRuns(() => call(), plan.reps, 0, plan.warmupMs);
  const peakBytes = memory.snapshot(gpu.device).peakBytes;
  const profiler = gpu.createProfiler(dispatches.length);
  const profiles: GpuTimings[] = [];
  if (profiler) {
    for (let i = 0; i < plan.gpuRuns; i++) {
      gpu.run(dispatches, profiler);
      profiles.push(await profiler.read());
    }
  }
  profiler?.destroy();
  for (const b of owned) gpu.pool.release(b);
  for (const t of [q, k, v, out, rowStats, dO, grads]) t?.destroy();
  gpu.pool.trim();
  const extra: Record<string, string> = {
    seqgpu:
      `${dispatches.length} dispatch${dispatches.length > 1 ? 'es' : ''} in 1 submit ` +
      `+ ${submits - 1} readback per call; ${plan.reps} timed runs; ` +
      `memory ${memoryNote(before, peakBytes)}`,
  };
  let gpuMs: number | undefined;
  if (profiles.length) {
    gpuMs = median(profiles.map((t) => t.kernels.reduce((sum, x) => sum + x.ms, 0)));
    if (c.backward) {
      const f = median(profiles.map((t) => t.kernels[0].ms));
      const last = profiles[profiles.length - 1].kernels.map((x) => `${x.label} ${x.ms.toFixed(2)}`).join(', ');
      extra['GPU split'] =
        `forward ${f.toFixed(2)} ms, backward ${(gpuMs - f).toFixed(2)} ms ` +
        `(${((gpuMs - f) / f).toFixed(2)}× the forward); per kernel (ms): ${last}`;
    }
  }
  return {
    m: {
      wallMs: median(wall),
      gpuMs,
      wallRuns: wall,
      gpuRuns: profiles.length ? profiles.map((t) => t.kernels.reduce((sum, x) => sum + x.ms, 0)) : undefined,
      reps: plan.reps,
      dispatches: dispatches.length,
      peakBytes,
    },
    result,
    extra,
  };
}

/** Destroys the free buffers tfjs's WebGPU backend keeps for reuse (its pool has no public trim). */
export function trimTfPool(tf: Tf): void {
  const manager = (
    tf.backend() as unknown as {
      bufferManager?: { freeBuffers?: Map<string, GPUBuffer[]>; numFreeBuffers: number; numBytesAllocated: number };
    }
  ).bufferManager;
  if (!manager?.freeBuffers) return;
  for (const list of manager.freeBuffers.values()) {
    for (const b of list.splice(0)) {
      manager.numBytesAllocated -= b.size;
      b.destroy();
    }
  }
  manager.numFreeBuffers = 0;
}

async function measureTf(
  tf: Tf,
  memory: GpuMemoryTracker,
  data: AttentionData,
  c: AttentionCase,
  o: AttentionBenchOptions,
): Promise<Measured> {
  const { batch: B, heads: H, headDim: D } = o;
  const T = c.seqLen;
  const shape: [number, number, number, number] = [B, H, T, D];
  try {
    trimTfPool(tf);
    const device = (tf.backend() as unknown as { device: GPUDevice }).device;
    const before = memory.snapshot(device).liveBytes;
    const scale = 1 / Math.sqrt(D);
    // Causal: an added band mask [T, T], 0 on and below the diagonal, −∞ above (broadcast over B, H).
    let mask: TfTensor | null = null;
    if (c.causal) {
      const band = new Float32Array(T * T);
      for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) band[i * T + j] = -Infinity;
      mask = tf.tensor2d(band, [T, T]);
    }
    // softmax(Q·Kᵀ/√D + mask)·V; Q is scaled before the product (B·H·T·D multiplies, not B·H·T²).
    const attend = (q: TfTensor, k: TfTensor, v: TfTensor): TfTensor => {
      const scores = tf.matMul(tf.mul(q, scale), k, false, true);
      return tf.matMul(tf.softmax(mask ? tf.add(scores, mask) : scores), v);
    };
    const grads = tf.grads((q: TfTensor, k: TfTensor, v: TfTensor) => attend(q, k, v));
    const compute = (x: TfTensor[]): TfTensor[] =>
      c.backward ? grads(x.slice(0, 3), x[3]) : [tf.tidy(() => attend(x[0], x[1], x[2]))];
    const inputs = (): TfTensor[] =>
      (c.backward ? [data.q, data.k, data.v, data.dO] : [data.q, data.k, data.v]).map((a) => tf.tensor4d(a, shape));
    const call = async () => {
      const x = inputs();
      const outs = compute(x);
      await Promise.all(outs.map((t) => t.data()));
      for (const t of [...x, ...outs]) t.dispose();
    };
    // Warm-up, keeping the result.
    const t0 = performance.now();
    const x = inputs();
    const outs = compute(x);
    const result = (await Promise.all(outs.map((t) => t.data()))) as Float32Array[];
    for (const t of [...x, ...outs]) t.dispose();
    const firstMs = performance.now() - t0;
    const plan = timing(o.peerReps, firstMs);
    memory.resetPeak(device);
    const wall = await timeRuns(call, plan.reps, 0, plan.warmupMs);
    const peakBytes = memory.snapshot(device).peakBytes;
    // tfjs's own GPU time (timestamp queries around its kernels), inputs already on the GPU.
    const kernel: number[] = [];
    {
      const x = inputs();
      for (let i = 0; i < plan.gpuRuns; i++) {
        const t = await tf.time(() => compute(x).forEach((y) => y.dispose()));
        if (typeof t.kernelMs === 'number') kernel.push(t.kernelMs);
      }
      for (const t of x) t.dispose();
    }
    mask?.dispose();
    trimTfPool(tf);
    return {
      m: {
        wallMs: median(wall),
        gpuMs: kernel.length ? median(kernel) : undefined,
        wallRuns: wall,
        gpuRuns: kernel.length ? kernel : undefined,
        reps: plan.reps,
        peakBytes,
        note:
          `${c.backward ? 'tf.grads over ' : ''}matMul + softmax + ` +
          `matMul${c.causal ? ' with an added −∞ band mask' : ''} ([B, H, T, T] scores in ` +
          `memory); ${plan.reps} timed runs; memory ${memoryNote(before, peakBytes)}`,
      },
      result,
    };
  } catch (e) {
    return { m: { error: `tfjs: ${(e as Error).message}` } };
  }
}

/** The two ORT variants: the fused contrib op, and the same composition as tfjs from standard ops. */
type OrtVariant = 'mha' | 'ops';

function ortModel(variant: OrtVariant, c: AttentionCase, o: AttentionBenchOptions): Uint8Array {
  return variant === 'mha'
    ? attentionOnnxModel(o.batch, o.heads, c.seqLen, o.headDim, c.causal)
    : attentionCompositionOnnxModel(o.batch, o.heads, c.seqLen, o.headDim, c.causal);
}

/**
 * Where ORT placed the nodes of `variant`'s model, from a separate verbose session (verbose
 * logging must not slow a timed one).
 */
async function ortPlacement(
  ort: Ort,
  variant: OrtVariant,
  c: AttentionCase,
  o: AttentionBenchOptions,
): Promise<string> {
  try {
    const verbose = await createWebgpuSession(ort, ortModel(variant, c, o), true);
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
  data: AttentionData,
  c: AttentionCase,
  o: AttentionBenchOptions,
  variant: OrtVariant,
  placement: string | undefined,
  otherDevices: object[],
): Promise<Measured> {
  const { batch: B, heads: H, headDim: D } = o;
  const T = c.seqLen;
  try {
    const model = ortModel(variant, c, o);
    const devicesBefore = new Set(memory.knownDevices());
    const { session } = await createWebgpuSession(ort, model, false);
    // MultiHeadAttention: Q/K/V [B, T, H·D]; the composition: [B, H, T, D] like seqgpu and tfjs.
    const layout = variant === 'mha' ? (x: Float32Array) => toBSD(x, B, H, T, D) : (x: Float32Array) => x;
    const dims = variant === 'mha' ? [B, T, H * D] : [B, H, T, D];
    const names = variant === 'mha' ? ['query', 'key', 'value'] : ['q', 'k', 'v'];
    const inputs = [data.q, data.k, data.v].map(layout);
    const call = async () => {
      const feeds = Object.fromEntries(names.map((name, i) => [name, new ort.Tensor('float32', inputs[i], dims)]));
      const out = await session.run(feeds);
      const y = (await out.output.getData()).slice(); // a copy: dispose() may release what getData returned
      for (const t of Object.values(out)) t.dispose();
      return y;
    };
    const t0 = performance.now();
    const y = await call();
    const result = [variant === 'mha' ? fromBSD(y, B, H, T, D) : y];
    const plan = timing(o.peerReps, performance.now() - t0);
    // ORT's device: onnxruntime-web 1.30 opens a device per session unless env.webgpu.device is
    // set; it is the device that appeared with this session (else the one the env reports).
    const fresh = memory.knownDevices().filter((d) => !devicesBefore.has(d) && !otherDevices.includes(d));
    const envDevice: unknown = await (ort.env as unknown as { webgpu?: { device?: Promise<GPUDevice> } }).webgpu
      ?.device;
    const device = fresh.length
      ? fresh.reduce((a, b) => (memory.snapshot(b).liveBytes > memory.snapshot(a).liveBytes ? b : a))
      : envDevice && typeof envDevice === 'object'
        ? envDevice
        : null;
    const before = device && !fresh.includes(device) ? memory.snapshot(device).liveBytes : 0;
    if (device) memory.resetPeak(device);
    const wall = await timeRuns(call, plan.reps, 0, plan.warmupMs);
    const peakBytes = device ? memory.snapshot(device).peakBytes : undefined;
    await session.release();
    const what =
      variant === 'mha'
        ? `com.microsoft MultiHeadAttention, Q/K/V [B, T, ` +
          `H·D]${c.causal ? ', causal as an attention_bias initializer [1, 1, T, T] (0 / −∞)' : ''}`
        : `ONNX Mul + Transpose + MatMul ` +
          `+ ${c.causal ? 'Add (0 / −∞ mask) + ' : ''}Softmax + MatMul ([B, H, T, T] ` +
          `scores in memory)`;
    return {
      m: {
        wallMs: median(wall),
        wallRuns: wall,
        reps: plan.reps,
        peakBytes,
        note: [
          what,
          placement,
          `${plan.reps} timed runs`,
          peakBytes === undefined
            ? 'memory not measured (ORT device not found)'
            : `memory ${memoryNote(before, peakBytes)}`,
        ]
          .filter(Boolean)
          .join('; '),
      },
      result,
    };
  } catch (e) {
    console.error(`[bench] ort failed: ${(e as Error).stack ?? e}`);
    return { m: { error: `ort: ${(e as Error).message}` } };
  }
}

/** Outputs further than this from seqgpu's (relative to its largest) are reported as wrong. */
const WRONG_OUTPUT = 1e-3;

export async function attentionRows(
  gpu: Gpu,
  peers: { tf: Tf | { error: string }; ort: Ort | { error: string } },
  memory: GpuMemoryTracker,
  cases: AttentionCase[],
  o: AttentionBenchOptions,
  log: (s: string) => void,
): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  // Placement of both ORT models, proven once, before any timed session.
  const placement: Partial<Record<OrtVariant, string>> = {};
  const firstForward = cases.find((c) => !c.backward);
  if (!('error' in peers.ort) && firstForward) {
    for (const variant of ['mha', 'ops'] as const)
      placement[variant] = await ortPlacement(peers.ort, variant, firstForward, o);
  }
  const tfDevice = 'error' in peers.tf ? null : (peers.tf.backend() as unknown as { device: GPUDevice }).device;
  const others = [gpu.device, ...(tfDevice ? [tfDevice] : [])];
  for (const c of cases) {
    const workload = attentionWorkload(c, o);
    log(`running ${workload}`);
    const n = o.batch * o.heads * c.seqLen * o.headDim;
    const data: AttentionData = { q: randomData(n), k: randomData(n), v: randomData(n), dO: randomData(n) };
    const s = await measureSeqgpu(gpu, memory, data, c, o);
    const extra: Record<string, string> = {
      FLOPs:
        `${c.backward ? '3.5 × ' : ''}` +
        `4·B·H·T²·D${c.causal ? ' ÷ 2 (causal: half the scores)' : ''}` +
        `${c.backward ? ' (backward counted as 2.5× the forward)' : ''} ` +
        `= ${(attentionFlops(c, o) / 1e9).toFixed(3)} GFLOP`,
      ...s.extra,
    };
    const row: BenchRow = {
      group: 'attention',
      workload,
      flops: attentionFlops(c, o),
      seqgpu: s.m as Measurement,
      peers: {},
      extra,
    };
    const measured: Array<[string, Measured]> = [];
    measured.push([
      'tfjs-webgpu',
      'error' in peers.tf ? { m: peers.tf } : await measureTf(peers.tf, memory, data, c, o),
    ]);
    for (const [name, variant] of [
      ['ort-webgpu MHA', 'mha'],
      ['ort-webgpu ops', 'ops'],
    ] as const) {
      if (c.backward) measured.push([name, { m: { error: 'n/a (onnxruntime-web has no training)' } }]);
      else if ('error' in peers.ort) measured.push([name, { m: peers.ort }]);
      else {
        measured.push([name, await measureOrt(peers.ort, memory, data, c, o, variant, placement[variant], others)]);
        delete placement[variant]; // said once, in the first row
      }
    }
    // Every peer's output (forward) or gradients (fwd + bwd) against seqgpu's, same inputs.
    const check: string[] = [];
    for (const [name, r] of measured) {
      row.peers[name] = r.m;
      if (!r.result || !s.result || 'error' in r.m) continue;
      const diff = maxRelDiff(r.result, s.result);
      check.push(`${name} ${diff.toExponential(1)}`);
      if (diff > WRONG_OUTPUT) r.m.wrong = `max |${name} − seqgpu| ÷ max |seqgpu| = ${diff.toFixed(2)}`;
    }
    if (check.length)
      extra[`max |peer − seqgpu| ÷ max |seqgpu| (${c.backward ? 'dQ, dK, dV' : 'output'})`] = check.join(', ');
    rows.push(row);
  }
  return rows;
}
