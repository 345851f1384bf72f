// Training-step rows: one step of forward + MSE loss + backward + Adam on an LSTM/GRU sequence
// model (values in, one linear head at every timestep), seqgpu's recorded step (one submit) vs
// TensorFlow.js WebGPU `trainOnBatch` on the same model, same page/process, same adapter. Both
// read the loss back every step (so each timed call includes waiting for the GPU).
import { type Gpu, SequenceModel } from '../src/index.js';
import { median, timeRuns, type BenchRow, type Measurement } from './stats.js';
import type { Tf } from './tf.js';

export interface TrainingCase {
  cell: 'lstm' | 'gru';
  batch: number;
  hidden: number;
}

export interface TrainingBenchOptions {
  seqLen: number;
  inputSize: number;
  outputSize: number;
  reps: number;
  peerReps: number;
}

export function trainingWorkload(c: TrainingCase, o: TrainingBenchOptions): string {
  return `${c.cell} train B${c.batch} T${o.seqLen} I${o.inputSize} H${c.hidden}`;
}

function randomData(n: number): Float32Array {
  return Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
}

async function measureTfTraining(
  tf: Tf,
  x: Float32Array,
  y: Float32Array,
  c: TrainingCase,
  o: TrainingBenchOptions,
): Promise<Measurement | { error: string }> {
  try {
    const rnn =
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
    const model = tf.sequential({ layers: [rnn, tf.layers.dense({ units: o.outputSize })] });
    model.compile({ optimizer: tf.train.adam(1e-3), loss: 'meanSquaredError' });
    const xs = tf.tensor3d(x, [c.batch, o.seqLen, o.inputSize]);
    const ys = tf.tensor3d(y, [c.batch, o.seqLen, o.outputSize]);
    const wall = await timeRuns(async () => {
      await model.trainOnBatch(xs, ys);
    }, o.peerReps);
    xs.dispose();
    ys.dispose();
    model.dispose();
    return { wallMs: median(wall), wallRuns: wall, reps: o.peerReps };
  } catch (e) {
    return { error: `tfjs: ${(e as Error).message}` };
  }
}

export async function trainingRows(
  gpu: Gpu,
  tf: Tf | { error: string },
  cases: TrainingCase[],
  o: TrainingBenchOptions,
  log: (s: string) => void,
): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const c of cases) {
    const workload = trainingWorkload(c, o);
    log(`running ${workload}`);
    const x = randomData(o.seqLen * c.batch * o.inputSize);
    const y = randomData(o.seqLen * c.batch * o.outputSize);
    const model = new SequenceModel(gpu, {
      cell: c.cell,
      inputSize: o.inputSize,
      hiddenSize: c.hidden,
      outputSize: o.outputSize,
      mode: 'manyToMany',
      loss: 'mse',
    });
    model.configureTraining({ optimizer: { kind: 'adam', lr: 1e-3 } });
    const batch = { inputs: x, targets: y, seqLen: o.seqLen, batch: c.batch };
    const wall = await timeRuns(() => model.trainStep(batch, { readLoss: true }), o.reps);
    const stats = model.lastRun!;
    // GPU time of the parts, from timestamp queries (one pass per dispatch): forward (through the
    // loss) vs backward + update.
    let gpuMs: number | undefined;
    let gpuRuns: number[] | undefined;
    let split: string | undefined;
    const parts = model.stepDispatches(o.seqLen, c.batch);
    const all = [...parts.forward, ...parts.backward, ...parts.update];
    const profiler = gpu.createProfiler(all.length);
    if (profiler) {
      const fwd: number[] = [];
      const rest: number[] = [];
      const byKind = new Map<string, number>();
      for (let i = 0; i < Math.min(3, o.reps); i++) {
        gpu.run(all, profiler);
        const t = await profiler.read();
        const sum = (from: number, to: number) => t.kernels.slice(from, to).reduce((a, k) => a + k.ms, 0);
        fwd.push(sum(0, parts.forward.length));
        rest.push(sum(parts.forward.length, all.length));
        byKind.clear();
        // Kernel kinds: labels without layer/direction prefix and timestep suffix.
        for (const k of t.kernels) {
          const kind = k.label
            .replace(/^l\d+d\d+\./, '')
            .replace(/^l\d+\./, '')
            .replace(/\d+$/, '');
          byKind.set(kind, (byKind.get(kind) ?? 0) + k.ms);
        }
      }
      profiler.destroy();
      gpuMs = median(fwd) + median(rest);
      gpuRuns = fwd.map((f, i) => f + rest[i]);
      const top = [...byKind.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 8)
        .map(([k, ms]) => `${k} ${ms.toFixed(2)}`)
        .join(', ');
      split =
        `forward ${median(fwd).toFixed(2)} ms, backward + ` +
        `update ${median(rest).toFixed(2)} ms ` +
        `(${(median(rest) / median(fwd)).toFixed(2)}× the forward); by kernel ` +
        `(ms): ${top}`;
    }
    model.destroy();
    const G = c.cell === 'lstm' ? 4 : 3;
    // forward ≈ 2·T·B·G·H·(I + H) + head; backward ≈ 2× forward (dgates·W_hh, dW_ih, dW_hh, dx)
    const forwardFlops = 2 * o.seqLen * c.batch * (G * c.hidden * (o.inputSize + c.hidden) + c.hidden * o.outputSize);
    const row: BenchRow = {
      group: 'training',
      workload,
      flops: 3 * forwardFlops,
      seqgpu: { wallMs: median(wall), gpuMs, wallRuns: wall, gpuRuns, reps: o.reps, dispatches: stats.dispatches },
      peers: {},
      extra: {
        'per step':
          `${stats.dispatches} dispatches, ${stats.submits} submit (forward + MSE + BPTT ` +
          `+ Adam + W_hh repack), loss read back each step`,
        ...(split ? { 'GPU split': split } : {}),
      },
    };
    row.peers['tfjs-webgpu'] = 'error' in tf ? tf : await measureTfTraining(tf, x, y, c, o);
    rows.push(row);
  }
  return rows;
}
