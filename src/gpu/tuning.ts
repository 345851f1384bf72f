// Kernel choices that depend on the adapter (the first of issue 19's "choose per adapter").
//
// Row reductions (LayerNorm, MSE, cross-entropy, …) sum a row in workgroup memory with a tree of
// workgroupBarrier()s. On a GPU a workgroup should be at least a SIMD group wide (≥ 32–64 threads).
// A software adapter (SwiftShader, llvmpipe, WARP) runs a workgroup's invocations as coroutines on
// one CPU core and every barrier switches through all of them: there a 256-thread tree over a
// 256-wide row costs 25–100× an 8-thread one (LayerNorm forward, 1024 × 256 rows on SwiftShader:
// 2.1–3.1 s at 256 threads, 0.4 s at 64, 25–31 ms at 8). So the widths default to 8 threads on a
// software adapter and to the kernels' own (64–256) elsewhere; `gpu.tuning` forces either, for
// tests of both variants and for experiments. Pipelines are cached by their overrides, so a
// change applies to dispatches built afterwards.

/** Adapter-dependent kernel choices of a {@link Gpu} (mutable; read when a dispatch is built). */
export interface GpuTuning {
  /**
   * Threads that reduce one row: `'auto'` (8 on a software adapter, the kernel's default
   * otherwise) or a power of two that caps the kernel's own choice.
   */
  reductionWidth: 'auto' | number;
  /**
   * The GEMM kernel (src/kernels/matmulTile.ts): `'auto'` or unset (on a software adapter the
   * barrier-free `'subgroups'` where subgroups are 4 wide and the product fills its tiles, else
   * `'registers'`; workgroup-memory tiles `'workgroup'` otherwise) or one forced.
   */
  gemmVariant?: 'auto' | 'workgroup' | 'registers' | 'subgroups';
  /**
   * The recurrent kernel of a layer's forward: `'auto'` (the cost model in
   * src/kernels/recurrentPersistent.ts), `'step'` (one fused cell-step dispatch per timestep) or
   * `'persistent'` (a layer-direction's steps in one dispatch per chunk; an error where it cannot run)
   * or `'wavefront'` (an inference forward as seqLen + numLayers − 1 waves, layer l's step t with
   * layer l + 1's step t − 1, src/kernels/recurrentWavefront.ts; an error where it cannot run;
   * training keeps the step kernels).
   */
  recurrentKernel: 'auto' | 'step' | 'persistent' | 'wavefront';
  /** Most timesteps one persistent dispatch runs (longer sequences take ⌈seqLen / this⌉ dispatches). */
  persistentSteps: number;
  /**
   * How a recurrent layer's inference forward reads W_hh: `'f32'` (default), or a copy made at the
   * start of each forward as `'f16'` or `'int8'` (one scale per W_hh row; f32 arithmetic): half or a
   * quarter of the bytes the kernels stream per step. Training, and an LSTM with projSize, use f32.
   */
  recurrentWeights: 'f32' | 'f16' | 'int8';
  /**
   * Recurrent kernels measured on this adapter by `calibrateRecurrent` (the fastest), by
   * {@link recurrentChoiceKey}: `'auto'` follows them before its static model (see
   * {@link measuredRecurrentKernel}). `'wavefront'` is measured for stacks of ≥ 2 layers only.
   */
  recurrentMeasured: Record<string, MeasuredRecurrentKernel>;
  /**
   * Lanes that share one W_hh column's sum in the persistent kernel (split-K): `'auto'` (up to 8
   * on a GPU where a workgroup has fewer columns than threads, 1 on a software adapter) or a power
   * of two.
   */
  persistentSplit: 'auto' | number;
  /** How split lanes are summed: `'auto'` (subgroup shuffles where the device has subgroups wide enough), or forced. */
  persistentSplitReduce: 'auto' | 'workgroup' | 'subgroups';
  /**
   * The persistent forward of a bidirectional layer: `'auto'` (both directions in one dispatch,
   * shaders/recurrent_persistent_bidir.wgsl, where the device allows 12 storage buffers per stage
   * and W_hh is read as f32), `'together'` (that, or a ShapeError where it cannot run) or
   * `'separate'` (a dispatch per direction).
   */
  persistentDirections: 'auto' | 'together' | 'separate';
  /**
   * The BPTT of a training forward that ran the persistent kernel: `'auto'` or `'persistent'`
   * (chunks of steps per dispatch, as the forward) or `'step'` (the step backward kernels, a
   * dispatch per step, on what the persistent forward saved).
   */
  persistentBackward: 'auto' | 'persistent' | 'step';
  /**
   * Hidden units per thread in the BPTT step kernels: `'auto'` (4 on a software adapter, 1 on a
   * GPU), `1` (W_hh repacked, one unit per thread) or `4` (shaders/recurrent_matvec_backward.wgsl
   * QUAD: W_hh read as PyTorch stores it, each dgates load serving 4 units; a ShapeError for a
   * hidden size not a multiple of 4 or an LSTM projection).
   */
  backwardUnits: 'auto' | 1 | 4;
  /**
   * How the BPTT steps with 4 units per thread read each batch row's gate gradients: `'auto'`
   * (`'subgroups'` on a software adapter that has them, else `'loads'`), `'loads'` (every thread
   * loads all gates) or `'subgroups'` (the 4 threads of a quad load one gate each and broadcast:
   * shaders/backward_gates_subgroups.wgsl; a ShapeError where it cannot run — an RNN, 1 unit per
   * thread, no subgroups or subgroups narrower than 4).
   */
  backwardGates: 'auto' | 'loads' | 'subgroups';
  /**
   * Hidden units per thread in the LSTM / GRU forward step kernels: `'auto'`, `1` or `4`
   * (shaders/recurrent_matvec.wgsl QUAD: each load of h_{t−1} serves 4 units; see forwardQuad in
   * src/kernels/cellStep.ts).
   */
  forwardUnits: 'auto' | 1 | 4;
  /**
   * How the LSTM / GRU forward steps with 4 units per thread and 2 or more batch rows per thread
   * read h_{t−1}: `'auto'` (`'subgroups'` on a software adapter that has them, else `'loads'`),
   * `'loads'` (every thread loads each row) or `'subgroups'` (the 4 threads of a quad load one or
   * two rows each and broadcast: shaders/step_rows_subgroups.wgsl; a ShapeError where it cannot
   * run — an RNN, 1 unit or 1 row per thread, no subgroups or subgroups narrower than 4).
   */
  forwardRows: 'auto' | 'loads' | 'subgroups';
}

/** A recurrent kernel `calibrateRecurrent` can measure as the fastest for a shape. */
export type MeasuredRecurrentKernel = 'step' | 'persistent' | 'wavefront';

/**
 * The key of a measured recurrent-kernel choice in {@link GpuTuning.recurrentMeasured}.
 * @param cell - `'rnn'`, `'lstm'` or `'gru'`.
 * @param hiddenSize - H.
 * @param batch - Batch rows.
 * @param numLayers - Layers of the stack (default 1): a stack of ≥ 2 has its own key.
 * @returns E.g. `'lstm H256 B32'`, or `'lstm H256 B32 L3'` for a 3-layer stack.
 */
export function recurrentChoiceKey(cell: string, hiddenSize: number, batch: number, numLayers = 1): string {
  return `${cell} H${hiddenSize} B${batch}${numLayers > 1 ? ` L${numLayers}` : ''}`;
}

/**
 * What `'auto'` follows for a recurrent stack, if anything was measured: the stack's own entry
 * (cell, hidden, batch, layers), else, for the per-layer kernels, the one-layer entry of that
 * cell, hidden size and batch (a stack runs its layers one after the other).
 * @param tuning - Its recurrentMeasured.
 * @param cfg - The stack: cell, hidden size, layers (default 1).
 * @param batch - Batch rows.
 * @returns The measured kernel, or undefined where none was measured.
 */
export function measuredRecurrentKernel(
  tuning: Pick<GpuTuning, 'recurrentMeasured'>,
  cfg: { cell: string; hiddenSize: number; numLayers?: number },
  batch: number,
): MeasuredRecurrentKernel | undefined {
  const layers = cfg.numLayers ?? 1;
  const own = tuning.recurrentMeasured[recurrentChoiceKey(cfg.cell, cfg.hiddenSize, batch, layers)];
  return (
    own ?? (layers > 1 ? tuning.recurrentMeasured[recurrentChoiceKey(cfg.cell, cfg.hiddenSize, batch)] : undefined)
  );
}

/** What {@link isSoftwareAdapter} reads of an adapter. */
export interface AdapterDescription {
  /** GPUAdapterInfo.vendor, e.g. `'google'`. */
  vendor: string;
  /** GPUAdapterInfo.architecture, e.g. `'swiftshader'`. */
  architecture: string;
  /** GPUAdapterInfo.description. */
  description: string;
  /** GPUAdapterInfo.isFallbackAdapter. */
  isFallbackAdapter: boolean;
}

/**
 * True for adapters that run shaders on the CPU (SwiftShader, llvmpipe, WARP, or any fallback adapter).
 * @param info - The adapter's info.
 */
export function isSoftwareAdapter(info: AdapterDescription): boolean {
  return (
    info.isFallbackAdapter ||
    /swiftshader|llvmpipe|lavapipe|warp|software/i.test(`${info.vendor} ${info.architecture} ${info.description}`)
  );
}

/** Threads per row on a software adapter when `reductionWidth` is `'auto'`. */
export const SOFTWARE_REDUCTION_WIDTH = 8;

/**
 * The threads a row reduction uses: the kernel's wish capped by the tuning.
 * @param gpu - Its `tuning` and whether the adapter is software.
 * @param wanted - The kernel's own choice (a power of two).
 * @returns A power of two ≤ wanted (≥ 1).
 */
export function reductionWidth(
  gpu: { tuning: Pick<GpuTuning, 'reductionWidth'>; software: boolean },
  wanted: number,
): number {
  const t = gpu.tuning.reductionWidth;
  const cap = t === 'auto' ? (gpu.software ? SOFTWARE_REDUCTION_WIDTH : wanted) : t;
  return Math.max(1, Math.min(wanted, cap));
}
