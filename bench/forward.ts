// Whole-model forward rows: a SequenceModel (token embedding → RNN/LSTM/GRU stack, optionally
// bidirectional → linear head at every timestep, a character-level language model like
// `npm run train`) running its recorded forward, one submit: upload the tokens, run, read the
// logits back (`model.predict`). No peers: neither TensorFlow.js nor onnxruntime-web is given the
// same model here (the per-layer rows, bench/recurrent.ts, compare the recurrent part).
// The recorded forward is the training step's: it saves the activations the backward needs and
// also computes the loss on whatever targets the step holds (as `evaluate` does).
import { type Gpu, SequenceModel } from '../src/index.js';
import { median, timeRuns, type BenchRow } from './stats.js';

export interface ModelForwardCase {
  cell: 'rnn' | 'lstm' | 'gru';
  vocab: number;
  embeddingDim: number;
  hidden: number;
  numLayers: number;
  bidirectional: boolean;
  seqLen: number;
  batch: number;
}

export interface ModelForwardBenchOptions {
  reps: number;
}

export function modelForwardWorkload(c: ModelForwardCase): string {
  return (
    `${c.cell} model fwd B${c.batch} T${c.seqLen} V${c.vocab} E${c.embeddingDim} ` +
    `H${c.hidden} L${c.numLayers}${c.bidirectional ? ' bidi' : ''}`
  );
}

/** Σ over layers of 2·T·B·D·G·H·(I_l + H), plus the head 2·T·B·D·H·V (gather, pointwise and loss not counted). */
export function modelForwardFlops(c: ModelForwardCase): number {
  const G = c.cell === 'lstm' ? 4 : c.cell === 'gru' ? 3 : 1;
  const D = c.bidirectional ? 2 : 1;
  const rows = c.seqLen * c.batch;
  let flops = 0;
  for (let l = 0; l < c.numLayers; l++)
    flops += 2 * rows * D * G * c.hidden * ((l === 0 ? c.embeddingDim : D * c.hidden) + c.hidden);
  return flops + 2 * rows * D * c.hidden * c.vocab;
}

export async function modelForwardRows(
  gpu: Gpu,
  cases: ModelForwardCase[],
  o: ModelForwardBenchOptions,
  log: (s: string) => void = () => {},
): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const c of cases) {
    const workload = modelForwardWorkload(c);
    log(`running ${workload}`);
    const model = new SequenceModel(gpu, {
      cell: c.cell,
      vocabSize: c.vocab,
      embeddingDim: c.embeddingDim,
      hiddenSize: c.hidden,
      numLayers: c.numLayers,
      bidirectional: c.bidirectional,
      outputSize: c.vocab,
      mode: 'manyToMany',
      loss: 'crossEntropy',
    });
    // The optimizer is never stepped: configureTraining only makes the dispatch lists available.
    model.configureTraining({ optimizer: { kind: 'sgd', lr: 0 } });
    const tokens = Int32Array.from({ length: c.seqLen * c.batch }, () => Math.floor(Math.random() * c.vocab));
    const wall = await timeRuns(() => model.predict(tokens, c.seqLen, c.batch), o.reps);
    const forward = model.stepDispatches(c.seqLen, c.batch).forward;
    let gpuMs: number | undefined;
    let gpuRuns: number[] | undefined;
    let split: string | undefined;
    const profiler = gpu.createProfiler(forward.length);
    if (profiler) {
      const totals: number[] = [];
      const byKind = new Map<string, number>();
      for (let i = 0; i < Math.min(3, o.reps); i++) {
        gpu.run(forward, profiler);
        const t = await profiler.read();
        totals.push(t.kernels.reduce((s, k) => s + k.ms, 0));
        byKind.clear();
        // Kernel kinds: labels without the layer/direction prefix and the timestep suffix.
        for (const k of t.kernels) {
          const kind = k.label
            .replace(/^l\d+d\d+\./, '')
            .replace(/^l\d+\./, '')
            .replace(/\d+$/, '');
          byKind.set(kind, (byKind.get(kind) ?? 0) + k.ms);
        }
      }
      profiler.destroy();
      gpuMs = median(totals);
      gpuRuns = totals;
      split = [...byKind.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 8)
        .map(([k, ms]) => `${k} ${ms.toFixed(2)}`)
        .join(', ');
    }
    model.destroy();
    rows.push({
      group: 'model',
      workload,
      flops: modelForwardFlops(c),
      seqgpu: { wallMs: median(wall), gpuMs, wallRuns: wall, gpuRuns, reps: o.reps, dispatches: forward.length },
      peers: {},
      extra: {
        seqgpu:
          `embedding ` +
          `→ ${c.numLayers}-layer ${c.cell.toUpperCase()}${c.bidirectional ? ' (bidirectional)' : ''} ` +
          `→ head → loss, ${forward.length} dispatches in 1 submit; tokens uploaded and ` +
          `logits [T·B, V] read back per call`,
        ...(split ? { 'GPU by kernel (ms)': split } : {}),
      },
    });
  }
  return rows;
}
