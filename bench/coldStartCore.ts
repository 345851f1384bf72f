// One cold-start measurement (bench/coldStart.mjs): the demo's char-LM model built on a fresh
// device, then, after `warmup` in mode 'warm', its first forward, first training step, first
// 20-token generate and a second forward, each timed until its result is read back, with the
// pipelines each created. Runs in Node (Vite SSR) and in Chromium (bench/coldStart.html).
import { SequenceModel, Tensor, Trainer, TransformerLM, type Gpu } from '../src/index.js';

/** Which model (the demo's SwiftShader presets) and whether warmup runs first. */
export interface ColdStartCase {
  model: 'lstm' | 'transformer';
  mode: 'cold' | 'warm';
}

/** Milliseconds and pipelines created by one call. */
export interface Timed {
  ms: number;
  pipelines: number;
}

export interface ColdStartResult extends ColdStartCase {
  adapter: Gpu['adapterInfo'];
  warmup?: Timed;
  firstForward: Timed;
  firstStep: Timed;
  firstGenerate: Timed;
  nextForward: Timed;
  /** onProgress calls of the warmup. */
  progressReports?: number;
  totalPipelines: number;
  asyncPipelines: number;
}

const VOCAB = 65;
const T = 16;
const B = 8;

/**
 * Measures one case on `gpu` (a device nothing was compiled on).
 * @param gpu - A fresh Gpu.
 * @param c - The model and the mode.
 */
export async function coldStart(gpu: Gpu, c: ColdStartCase): Promise<ColdStartResult> {
  const ids = (n: number, salt: number) => Int32Array.from({ length: n }, (_, i) => (i * 7 + salt) % VOCAB);
  const out = { ...c, adapter: gpu.adapterInfo } as ColdStartResult;
  const time = async (
    name: 'warmup' | 'firstForward' | 'firstStep' | 'firstGenerate' | 'nextForward',
    fn: () => Promise<unknown>,
  ) => {
    const before = gpu.stats.pipelinesCreated;
    const t0 = performance.now();
    await fn();
    out[name] = { ms: performance.now() - t0, pipelines: gpu.stats.pipelinesCreated - before };
  };
  let progress = 0;
  const onProgress = () => progress++;
  if (c.model === 'lstm') {
    const m = new SequenceModel(gpu, {
      cell: 'lstm',
      vocabSize: VOCAB,
      embeddingDim: 16,
      hiddenSize: 32,
      numLayers: 1,
      outputSize: VOCAB,
      mode: 'manyToMany',
      loss: 'crossEntropy',
    });
    m.configureTraining({ optimizer: { kind: 'adam', lr: 0.01, clipNorm: 1 } });
    const batch = { inputs: ids(T * B, 1), targets: ids(T * B, 2), seqLen: T, batch: B };
    if (c.mode === 'warm') await time('warmup', () => m.warmup({ seqLen: T, batch: B, generate: true, onProgress }));
    await time('firstForward', () => m.predict(batch.inputs, T, B));
    await time('firstStep', () => m.trainStep(batch, { readLoss: true }));
    await time('firstGenerate', () => m.generate([1, 2, 3], 20));
    await time('nextForward', () => m.predict(batch.inputs, T, B));
    m.destroy();
  } else {
    const lm = new TransformerLM(gpu, {
      vocabSize: VOCAB,
      dModel: 32,
      nhead: 4,
      numLayers: 1,
      dimFeedforward: 128,
      maxSeqLen: 256,
      dropout: 0,
    });
    const tokens = Tensor.from(gpu, ids(B * T, 1), [B, T]);
    const targets = Tensor.from(gpu, ids(B * T, 2), [B, T]);
    const trainer = new Trainer(lm, { loss: 'crossEntropy', optimizer: { kind: 'adam', lr: 0.003 }, clipGradNorm: 1 });
    if (c.mode === 'warm')
      await time('warmup', async () => {
        await trainer.warmup({ inputs: tokens, targets }, { onProgress });
        await lm.warmup({ seqLen: T, batch: B, generate: true, onProgress });
      });
    const forward = async () => {
      lm.eval();
      const y = lm.forward(tokens);
      await y.read();
      y.destroy();
      lm.train();
    };
    await time('firstForward', forward);
    await time('firstStep', () => trainer.step({ inputs: tokens, targets }, { readLoss: true }));
    await time('firstGenerate', () => lm.generate([1, 2, 3], { maxNewTokens: 20 }));
    await time('nextForward', forward);
    trainer.destroy();
    lm.destroy();
    tokens.destroy();
    targets.destroy();
  }
  if (c.mode === 'warm') out.progressReports = progress;
  out.totalPipelines = gpu.stats.pipelinesCreated;
  out.asyncPipelines = gpu.stats.pipelinesCreatedAsync;
  return out;
}
