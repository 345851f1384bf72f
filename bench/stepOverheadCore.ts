// Step overhead (issue 19, item 7), the measurement shared by the Node runner
// (bench/stepOverhead.mjs) and the Chromium page (bench/stepOverhead.html): a
// SequenceModel.trainStep vs the bare forward + backward of the same recorded plan, and where the
// difference goes.
//
// One model (char LM: vocab 64, embedding 32, one layer, cross-entropy, Adam; NaN/Inf guard on
// unless `guard: false`) and four timed variants, interleaved step by step (the order rotates) so
// that machine noise hits all alike:
//   trainStep  model.trainStep(batch) + gpu.sync()               (what a training loop pays)
//   readLoss   model.trainStep(batch, { readLoss: true })         (the loss read back too)
//   bare       the step's forward + backward dispatches (stepDispatches) in one submit + gpu.sync()
//   bareNoLoss bare without the loss's dispatches (cross-entropy forward: a forward + backward
//              as a module measures it, given dLogits)
// Medians over `steps` after `warmup`, and each ÷ bare. Then `profile` profiled runs of the whole
// list (forward, backward, update: one pass per dispatch with timestamp queries, so the absolute
// times include a pass per dispatch): GPU ms per section and the largest kernels by label.
import { type Gpu, SequenceModel, rng } from '../src/index.js';

export interface StepOverheadOptions {
  cell: 'lstm' | 'gru';
  seqLen: number;
  batch: number;
  hidden: number;
  steps: number;
  warmup: number;
  profile: number;
  clipNorm?: number;
  guard: boolean;
  /** Forces gpu.tuning.reductionWidth (e.g. 256: the GPU's reduction kernels on a software adapter). */
  reductionWidth?: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * Runs the measurement (see the file comment).
 * @param gpu - The device to measure on.
 * @param o - Model shape, optimizer clipping, guard, and the numbers of steps and profiled runs.
 * @param log - Progress lines (one per step).
 * @returns The report as lines of text (a markdown table and the profile).
 */
export async function stepOverhead(gpu: Gpu, o: StepOverheadOptions, log = (_: string) => {}): Promise<string[]> {
  const V = 64;
  const T = o.seqLen;
  if (o.reductionWidth) gpu.tuning.reductionWidth = o.reductionWidth;
  const B = o.batch;
  const model = new SequenceModel(gpu, {
    cell: o.cell,
    vocabSize: V,
    embeddingDim: 32,
    hiddenSize: o.hidden,
    outputSize: V,
    mode: 'manyToMany',
    loss: 'crossEntropy',
    seed: 1,
  });
  const lines: string[] = [];
  try {
    model.configureTraining({
      optimizer: { kind: 'adam', lr: 1e-3, ...(o.clipNorm ? { clipNorm: o.clipNorm } : {}) },
      nanGuard: o.guard,
    });
    const r = rng(3);
    const batches = Array.from({ length: 4 }, () => ({
      inputs: Int32Array.from({ length: T * B }, () => Math.floor(r() * V)),
      targets: Int32Array.from({ length: T * B }, () => Math.floor(r() * V)),
      seqLen: T,
      batch: B,
    }));
    await model.trainStep(batches[0]); // records the plan
    await gpu.sync();
    const lists = model.stepDispatches(T, B);
    const bare = [...lists.forward, ...lists.backward];
    // The same without the loss's dispatches (the backward then reads stale dLogits: same work).
    const noLoss = [...lists.forward.filter((d) => !d.label.startsWith('crossEntropy')), ...lists.backward];
    const variants: Record<string, (b: (typeof batches)[number]) => Promise<void>> = {
      trainStep: async (b) => {
        await model.trainStep(b);
        await gpu.sync();
      },
      readLoss: async (b) => {
        await model.trainStep(b, { readLoss: true });
      },
      bare: async () => {
        gpu.run(bare);
        await gpu.sync();
      },
      bareNoLoss: async () => {
        gpu.run(noLoss);
        await gpu.sync();
      },
    };
    const names = Object.keys(variants);
    const times: Record<string, number[]> = Object.fromEntries(names.map((k) => [k, []]));
    for (let i = 0; i < o.warmup + o.steps; i++) {
      const b = batches[i % batches.length];
      for (let j = 0; j < names.length; j++) {
        const k = names[(i + j) % names.length];
        const t0 = performance.now();
        await variants[k](b);
        const dt = performance.now() - t0;
        if (i >= o.warmup) times[k].push(dt);
      }
      log(`[bench] step ${i + 1}/${o.warmup + o.steps}`);
    }
    const info = gpu.adapterInfo;
    lines.push(
      `adapter: ${info.vendor} ${info.architecture} ${info.description ?? ''}; ${o.cell} T${T} B${B} ` +
        `H${o.hidden} V${V} E32, adam${o.clipNorm ? ` clipNorm ${o.clipNorm}` : ''}, guard ` +
        `${o.guard ? 'on' : 'off'}${o.reductionWidth ? `, reductionWidth ${o.reductionWidth}` : ''}; ` +
        `${o.steps} steps after ${o.warmup} warm-up`,
      `dispatches: forward ${lists.forward.length}, backward ${lists.backward.length}, update ` +
        `${lists.update.length} (trainStep encodes ${model.lastRun?.dispatches})`,
      '| variant | median ms | min | max | ÷ bare (median) | ÷ bare (min) |',
      '|---|---|---|---|---|---|',
    );
    const bareMedian = median(times.bare);
    const bareMin = Math.min(...times.bare);
    for (const k of names) {
      const xs = times[k];
      lines.push(
        `| ${k} | ${median(xs).toFixed(1)} | ${Math.min(...xs).toFixed(1)} | ${Math.max(...xs).toFixed(1)} | ` +
          `${(median(xs) / bareMedian).toFixed(3)}× | ${(Math.min(...xs) / bareMin).toFixed(3)}× |`,
      );
    }
    const profiler = o.profile > 0 ? gpu.createProfiler(256) : null;
    if (profiler) {
      const all = [...lists.forward, ...lists.backward, ...lists.update];
      const nf = lists.forward.length;
      const nb = nf + lists.backward.length;
      const section = (j: number) => (j < nf ? 'forward' : j < nb ? 'backward' : 'update');
      const perSection: Record<string, number[]> = { forward: [], backward: [], update: [] };
      const perLabel = new Map<string, number[]>();
      for (let i = 0; i < o.profile; i++) {
        gpu.run(all, profiler);
        const { kernels } = await profiler.read();
        const sums = new Map<string, number>();
        const secs = new Map<string, number>();
        kernels.forEach((k, j) => {
          // Per-timestep kernels (l0d0.step17, l0d0.backstep3) summed under one name.
          const key = `${section(j)}: ${k.label.replace(/\d+$/, '*')}`;
          sums.set(key, (sums.get(key) ?? 0) + k.ms);
          secs.set(section(j), (secs.get(section(j)) ?? 0) + k.ms);
        });
        for (const [s, ms] of secs) perSection[s].push(ms);
        for (const [key, ms] of sums) perLabel.set(key, [...(perLabel.get(key) ?? []), ms]);
      }
      profiler.destroy();
      lines.push('', `profile (timestamp queries, one pass per dispatch, median of ${o.profile}):`);
      for (const s of Object.keys(perSection)) lines.push(`  ${s}: ${median(perSection[s]).toFixed(1)} ms`);
      const rows = [...perLabel].map(([key, xs]) => [key, median(xs)] as const).sort((a, b) => b[1] - a[1]);
      for (const [key, ms] of rows) lines.push(`  ${ms.toFixed(2).padStart(9)} ms  ${key}`);
    }
  } finally {
    model.destroy();
  }
  return lines;
}
