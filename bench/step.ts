// One LSTM / GRU timestep, the unit of step-wise inference (generation): seqgpu's stepper
// (`layer.createStepper(batch).step(x_t)`: the input projection GEMM + the fused cell step, one
// submit, h and c kept on the GPU between calls) timed for the whole call: upload x_t, step, read
// h_t back. The peers run the same timestep as a sequence of length 1 from a zero state (the work
// of one step: onnxruntime-web WebGPU, one ONNX LSTM/GRU node; TensorFlow.js WebGPU layers),
// measured by the recurrent rows' own code (bench/recurrent.ts at seqLen 1, which also times
// seqgpu's forward at seqLen 1: reported beside the stepper).
import { type Gpu, LSTM, GRU, Tensor } from '../src/index.js';
import { median, timeRuns, type BenchRow } from './stats.js';
import { recurrentRows } from './recurrent.js';
import type { Ort } from './ort.js';
import type { Tf } from './tf.js';

export interface StepCase {
  cell: 'lstm' | 'gru';
  batch: number;
  inputSize: number;
  hidden: number;
}

export interface StepBenchOptions {
  reps: number;
  peerReps: number;
}

export function stepWorkload(c: StepCase): string {
  return `${c.cell} step B${c.batch} I${c.inputSize} H${c.hidden}`;
}

/** 2·B·G·H·(I + H): the input and recurrent products of one timestep (pointwise work not counted). */
export function stepFlops(c: StepCase): number {
  const G = c.cell === 'lstm' ? 4 : 3;
  return 2 * c.batch * G * c.hidden * (c.inputSize + c.hidden);
}

function randomData(n: number): Float32Array {
  return Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
}

export async function stepRows(
  gpu: Gpu,
  peers: { tf: Tf | { error: string }; ort: Ort | { error: string } },
  cases: StepCase[],
  o: StepBenchOptions,
  log: (s: string) => void = () => {},
): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const c of cases) {
    const workload = stepWorkload(c);
    log(`running ${workload}`);
    const opts = { inputSize: c.inputSize, hiddenSize: c.hidden };
    const layer = c.cell === 'lstm' ? new LSTM(gpu, opts) : new GRU(gpu, opts);
    const stepper = layer.createStepper(c.batch);
    const x = Tensor.empty(gpu, [c.batch, c.inputSize]);
    const data = randomData(c.batch * c.inputSize);
    const wall = await timeRuns(
      async () => {
        x.write(data);
        const h = stepper.step(x);
        await h.read();
        h.destroy();
      },
      o.reps,
      3,
    );
    const dispatches = layer.lastRun!.dispatches;
    const extra: Record<string, string> = {
      seqgpu:
        `stepper: input projection GEMM + fused ${c.cell.toUpperCase()} cell ` +
        `step, ${dispatches} dispatches in 1 submit, state carried on the GPU; x_t ` +
        `uploaded and h_t read back per call`,
    };
    let gpuMs: number | undefined;
    let gpuRuns: number[] | undefined;
    const plan = layer.plan(1, c.batch); // the plan the stepper replays
    const profiler = gpu.createProfiler(plan.dispatches.length);
    if (profiler) {
      const totals: number[] = [];
      const gemm: number[] = [];
      const cellStep: number[] = [];
      for (let i = 0; i < Math.max(3, o.reps); i++) {
        gpu.run(plan.dispatches, profiler);
        const t = await profiler.read();
        totals.push(t.kernels.reduce((s, k) => s + k.ms, 0));
        gemm.push(t.kernels.filter((k) => k.label.includes('xproj')).reduce((s, k) => s + k.ms, 0));
        cellStep.push(t.kernels.filter((k) => k.label.includes('.step')).reduce((s, k) => s + k.ms, 0));
      }
      profiler.destroy();
      gpuMs = median(totals);
      gpuRuns = totals;
      extra['GPU split'] = `input GEMM ${median(gemm).toFixed(3)} ms + cell step ${median(cellStep).toFixed(3)} ms`;
    }
    x.destroy();
    stepper.destroy();
    layer.destroy();
    const row: BenchRow = {
      group: 'step',
      workload,
      flops: stepFlops(c),
      seqgpu: { wallMs: median(wall), gpuMs, wallRuns: wall, gpuRuns, reps: o.reps, dispatches },
      peers: {},
      extra,
    };
    // The peers at seqLen 1, measured by the recurrent rows (with seqgpu's forward at T = 1 for reference).
    const [ref] = await recurrentRows(
      gpu,
      peers,
      [{ cell: c.cell, batch: c.batch, hidden: c.hidden }],
      { seqLen: 1, inputSize: c.inputSize, reps: o.reps, peerReps: o.peerReps },
      () => {},
    );
    extra['seqgpu forward at seqLen 1 (zero state)'] =
      `${ref.seqgpu.wallMs.toFixed(3)} ms ` +
      `wall${ref.seqgpu.gpuMs === undefined ? '' : `, ${ref.seqgpu.gpuMs.toFixed(3)} ms GPU`}`;
    for (const [name, m] of Object.entries(ref.peers)) {
      row.peers[name] =
        'error' in m ? m : { ...m, note: [`seqLen 1 from a zero state`, m.note].filter(Boolean).join('; ') };
    }
    rows.push(row);
  }
  return rows;
}
