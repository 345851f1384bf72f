// LSTM / GRU forward rows: seqgpu's recorded plan vs onnxruntime-web WebGPU (one ONNX LSTM/GRU
// node) and TensorFlow.js WebGPU layers, same page, same adapter, same run. Every implementation
// is timed for the whole call: upload the input, run, read the full output sequence back.
import { type Gpu, LSTM, GRU, Tensor, type RecurrentLayer } from '../src/index.js';
import { median, timeRuns, type BenchRow, type Measurement } from './stats.js';
import { recurrentOnnxModel } from './onnx.js';
import { createWebgpuSession, type Ort } from './ort.js';
import type { Tf } from './tf.js';

export interface RecurrentCase {
  cell: 'lstm' | 'gru';
  batch: number;
  hidden: number;
}

export interface RecurrentBenchOptions {
  seqLen: number;
  inputSize: number;
  reps: number;
  peerReps: number;
  /** Also time a sweep of step-kernel tiles. */
  tiles?: boolean;
}

const TILE_SWEEP = [
  [64, 1],
  [64, 2],
  [64, 4],
  [64, 8],
  [32, 1],
  [128, 1],
  [256, 1],
] as const;

/** Wall time of one forward (upload, run, read back) at each tile of the sweep. */
async function tileSweep(gpu: Gpu, data: Float32Array, c: RecurrentCase, o: RecurrentBenchOptions): Promise<string> {
  const parts: string[] = [];
  const x = Tensor.empty(gpu, [o.seqLen, c.batch, o.inputSize]);
  for (const [wg, bt] of TILE_SWEEP) {
    if (bt > c.batch) continue;
    const opts = { inputSize: o.inputSize, hiddenSize: c.hidden, stepTile: { wg, bt } };
    const layer = c.cell === 'lstm' ? new LSTM(gpu, opts) : new GRU(gpu, opts);
    const wall = await timeRuns(async () => {
      x.write(data);
      const { output, hN, cN } = layer.forward(x);
      await output.read();
      for (const t of [output, hN, cN]) t?.destroy();
    }, o.reps);
    parts.push(`${wg}×${bt}: ${median(wall).toFixed(2)}`);
    layer.destroy();
  }
  x.destroy();
  return parts.join(', ');
}

export function recurrentWorkload(c: RecurrentCase, o: RecurrentBenchOptions): string {
  return `${c.cell} fwd B${c.batch} T${o.seqLen} I${o.inputSize} H${c.hidden}`;
}

function randomData(n: number): Float32Array {
  return Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
}

async function measureSeqgpu(
  gpu: Gpu,
  layer: RecurrentLayer,
  data: Float32Array,
  c: RecurrentCase,
  o: RecurrentBenchOptions,
): Promise<{ m: Measurement; extra: Record<string, string> }> {
  const T = o.seqLen;
  const x = Tensor.empty(gpu, [T, c.batch, o.inputSize]);
  const call = async () => {
    x.write(data);
    const { output, hN, cN } = layer.forward(x);
    await output.read();
    for (const t of [output, hN, cN]) t?.destroy();
  };
  const wall = await timeRuns(call, o.reps);
  const dispatches = layer.lastRun!.dispatches;
  const extra: Record<string, string> = {};
  let gpuMs: number | undefined;
  const profiler = gpu.createProfiler(dispatches);
  if (profiler) {
    const plan = layer.plan(T, c.batch);
    const totals: number[] = [];
    let gemm = 0;
    let steps = 0;
    for (let i = 0; i < Math.min(3, o.reps); i++) {
      gpu.run(plan.dispatches, profiler);
      const t = await profiler.read();
      totals.push(t.kernels.reduce((s, k) => s + k.ms, 0));
      gemm = t.kernels.filter((k) => k.label.endsWith('xproj')).reduce((s, k) => s + k.ms, 0);
      steps = t.kernels.filter((k) => k.label.includes('.step')).reduce((s, k) => s + k.ms, 0);
    }
    gpuMs = median(totals);
    extra['GPU split'] =
      `input GEMM ${gemm.toFixed(1)} ms + ${T} steps ${steps.toFixed(1)} ms (${(steps / T).toFixed(3)} ms/step)`;
    profiler.destroy();
  }
  if (c.batch === 1 && layer.config.bidirectional === false) {
    const stepper = layer.createStepper(1);
    const xt = Tensor.empty(gpu, [1, o.inputSize]);
    const token = data.subarray(0, o.inputSize);
    const times = await timeRuns(
      async () => {
        xt.write(token);
        const h = stepper.step(xt);
        await h.read();
        h.destroy();
      },
      20,
      3,
    );
    extra['step-wise latency (B1)'] = `${median(times).toFixed(2)} ms/token`;
    xt.destroy();
    stepper.destroy();
  }
  x.destroy();
  return { m: { wallMs: median(wall), gpuMs, reps: o.reps, dispatches }, extra };
}

async function measureOrt(
  ort: Ort,
  data: Float32Array,
  c: RecurrentCase,
  o: RecurrentBenchOptions,
  proveePlacement: boolean,
): Promise<Measurement | { error: string }> {
  try {
    const model = recurrentOnnxModel(c.cell, o.seqLen, c.batch, o.inputSize, c.hidden);
    // Placement is proven on a separate verbose session: verbose logging must not slow the timed one.
    let placement: string[] = [];
    if (proveePlacement) {
      const verbose = await createWebgpuSession(ort, model, true);
      placement = verbose.placement;
      await verbose.session.release();
    }
    const { session } = await createWebgpuSession(ort, model, false);
    const call = async () => {
      const out = await session.run({ X: new ort.Tensor('float32', data, [o.seqLen, c.batch, o.inputSize]) });
      await out.Y.getData();
      for (const t of Object.values(out)) t.dispose();
    };
    const wall = await timeRuns(call, o.peerReps);
    await session.release();
    const placed = placement.find((l) => /All nodes placed on \[WebGpuExecutionProvider\]/.test(l));
    const note = proveePlacement
      ? placed
        ? 'All nodes placed on [WebGpuExecutionProvider]'
        : `placement NOT proven; log: ${placement.slice(0, 3).join(' | ') || 'none'}`
      : undefined;
    return { wallMs: median(wall), reps: o.peerReps, note };
  } catch (e) {
    console.error(`[bench] ort failed: ${(e as Error).stack ?? e}`);
    return { error: `ort: ${(e as Error).message}` };
  }
}

async function measureTf(
  tf: Tf,
  data: Float32Array,
  c: RecurrentCase,
  o: RecurrentBenchOptions,
): Promise<Measurement | { error: string }> {
  try {
    const cellLayer =
      c.cell === 'lstm'
        ? tf.layers.lstm({
            units: c.hidden,
            returnSequences: true,
            recurrentActivation: 'sigmoid',
            inputShape: [o.seqLen, o.inputSize],
          })
        : tf.layers.gru({
            units: c.hidden,
            returnSequences: true,
            recurrentActivation: 'sigmoid',
            inputShape: [o.seqLen, o.inputSize],
          });
    const model = tf.sequential({ layers: [cellLayer] });
    const call = async () => {
      const x = tf.tensor3d(data, [c.batch, o.seqLen, o.inputSize]);
      const y = model.predict(x) as import('@tensorflow/tfjs').Tensor;
      await y.data();
      x.dispose();
      y.dispose();
    };
    const wall = await timeRuns(call, o.peerReps);
    model.dispose();
    return {
      wallMs: median(wall),
      reps: o.peerReps,
      note: c.cell === 'gru' ? 'tfjs GRU is reset-before (PyTorch: reset-after)' : undefined,
    };
  } catch (e) {
    return { error: `tfjs: ${(e as Error).message}` };
  }
}

export async function recurrentRows(
  gpu: Gpu,
  peers: { tf: Tf | { error: string }; ort: Ort | { error: string } },
  cases: RecurrentCase[],
  o: RecurrentBenchOptions,
  log: (s: string) => void,
): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  let placementProven = false;
  for (const c of cases) {
    const workload = recurrentWorkload(c, o);
    log(`running ${workload}`);
    const G = c.cell === 'lstm' ? 4 : 3;
    const data = randomData(o.seqLen * c.batch * o.inputSize);
    const layer =
      c.cell === 'lstm'
        ? new LSTM(gpu, { inputSize: o.inputSize, hiddenSize: c.hidden })
        : new GRU(gpu, { inputSize: o.inputSize, hiddenSize: c.hidden });
    const { m, extra } = await measureSeqgpu(gpu, layer, data, c, o);
    layer.destroy();
    if (o.tiles) extra['tile sweep, wall ms (threads×rows)'] = await tileSweep(gpu, data, c, o);
    const row: BenchRow = {
      group: 'recurrent',
      workload,
      flops: 2 * o.seqLen * c.batch * G * c.hidden * (o.inputSize + c.hidden),
      seqgpu: m,
      peers: {},
      extra,
    };
    row.peers['ort-webgpu'] =
      'error' in peers.ort ? peers.ort : await measureOrt(peers.ort, data, c, o, !placementProven);
    placementProven ||= !('error' in row.peers['ort-webgpu']);
    row.peers['tfjs-webgpu'] = 'error' in peers.tf ? peers.tf : await measureTf(peers.tf, data, c, o);
    rows.push(row);
  }
  return rows;
}
