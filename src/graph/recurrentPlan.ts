// The recording scheduler for a recurrent stack: for one (seqLen, batch) it prepares every
// buffer, uniform and bind group up front, and a flat list of dispatches:
//   per layer l, per direction d:  1 GEMM  xproj = x·W_ihᵀ + b_ih  (all T steps at once)
//                                  T fused cell steps  (shaders/{rnn,lstm,gru}_step.wgsl)
//   an LSTM with projSize P adds, after each cell step, its projection h_t = W_hr·m_t
//   (shaders/recurrent_matvec_project.wgsl): 2 dispatches per step instead of 1; so does a GRU
//   with resetAfter false (gru_reset_before.wgsl: the gates, then n and h_t).
// A call only copies the input (and h0/c0) in, encodes that list into one compute pass, copies
// output/hN/cN out into fresh tensors and submits ONCE. Nothing is allocated per timestep.
// A plan built with `{ lengths: true }` runs variable-length rows (PyTorch's packed sequences):
// the caller writes the i32 lengths [batch] ({@link RecurrentPlan.lengths}, writeLengths) before a run.
import type { Gpu } from '../gpu/device.js';
import { encodeDispatches, type Dispatch } from '../gpu/dispatch.js';
import { ArgumentError, ShapeError } from '../util/errors.js';
import { TENSOR_USAGE, UNIFORM_USAGE } from '../gpu/flags.js';
import { gemmDispatches } from '../kernels/matmul.js';
import {
  cellStepDispatch,
  packStepParams,
  projectionDispatch,
  repackedCols,
  stepSlotSize,
  gruRows,
  type RecurrentWeights,
  type StepTile,
} from '../kernels/cellStep.js';
import { gateCount, realHiddenSize, type RecurrentConfig } from '../kernels/recurrentConfig.js';
import { gruResetBeforeDispatches } from '../kernels/gruResetBefore.js';
import { quantizeWhhDispatch, quantizedWhhBytes } from '../kernels/quantizeWhh.js';
import {
  packPersistentParams,
  persistentDispatch,
  persistentSlotSize,
  type PersistentTile,
} from '../kernels/recurrentPersistent.js';
import { Tensor } from '../gpu/tensor.js';

/** How a plan runs the persistent kernel: its tile, most steps per dispatch, both directions paired, BPTT kernels. */
export interface PersistentChoice {
  tile: PersistentTile;
  steps: number;
  pairDirections?: boolean;
  /** Training: the BPTT runs the step backward kernels (a dispatch per step) instead of chunks. */
  stepBackward?: boolean;
}
import type { BufferView } from '../io/parameters.js';
import type { Dropout } from '../kernels/dropout.js';
import { checkRecurrentPlanLimits } from './recurrentLimits.js';
import { wavefrontDispatches } from './recurrentWavefront.js';
import { pushAll } from '../util/arrays.js';

/**
 * GPU buffers of one (layer, direction): views of the parameters (PyTorch layout) in the layer's
 * ParameterStore, and W_hh repacked for the forward step kernels (owned by the layer).
 */
export interface DirectionParams {
  /** Store names, for the gradients (bias names are null when bias=False). */
  names: { wih: string; whh: string; bih: string | null; bhh: string | null };
  wih: BufferView;
  whh: BufferView;
  /** null when bias=False: the GEMM then runs without a bias. */
  bih: BufferView | null;
  /** The b_hh binding: the parameter, or zeros when bias=False. */
  bhh: GPUBufferBinding;
  /** W_hh for the forward steps (repackWhh) and for the backward steps (repackWhhBackward). */
  wp: GPUBuffer;
  wb: GPUBuffer;
  /**
   * An LSTM with projSize only: `weight_hr` [P, H] (its store name and view), and repacked for
   * the projection steps (wrp: repackWhh('rnn', W_hr, P, H)) and their backward (wrb).
   */
  proj?: { name: string; whr: BufferView; wrp: GPUBuffer; wrb: GPUBuffer };
}

/** What a training forward saves per (layer, direction) for the backward (see the step kernels). */
export interface SavedActivations {
  buffer: GPUBuffer;
  /** Elements per row of the gates section: 4H (LSTM, GRU) or H (RNN). */
  gatesWidth: number;
  /** Start of the h_{t−1} section [rows, h size] (H, or projSize P). */
  hprevBase: number;
  /** Start of the c_{t−1} section [rows, H] (LSTM). */
  cprevBase: number;
  /** LSTM with projSize: m_t = o ⊙ tanh(c_t) of every row [rows, H] (the input of W_hr), else null. */
  m: GPUBuffer | null;
}

/** What one recorded forward did: tests assert these counts. */
export interface RunStats {
  /** Timesteps of the run. */
  seqLen: number;
  /** Batch rows of the run. */
  batch: number;
  /** Compute dispatches it submitted. */
  dispatches: number;
  /** Command buffers it submitted (1 for a recorded plan). */
  submits: number;
}

export interface PlanOutputs {
  /** The top layer's outputs, both directions concatenated. */
  output: Tensor;
  /** Final hidden state of every (layer, direction). */
  hN: Tensor;
  /** Final cell state (LSTM only). */
  cN?: Tensor;
}

/**
 * Validates per-row sequence lengths (integers in [1, seqLen], one per batch row) and returns
 * them as i32; throws a ShapeError naming `lengths` otherwise.
 */
export function checkLengths(op: string, lengths: ArrayLike<number>, seqLen: number, batch: number): Int32Array {
  if (!lengths || typeof lengths !== 'object' || typeof lengths.length !== 'number') {
    throw new ShapeError(
      `${op}: argument 'lengths' must be an array of ${batch} integers in [1, ${seqLen}], got ${String(lengths)}`,
    );
  }
  if (lengths.length !== batch)
    throw new ShapeError(
      `${op}: argument 'lengths' has ${lengths.length} entries: expected one per ` +
        `batch row (${batch}), each in [1, ${seqLen}]`,
    );
  const out = new Int32Array(batch);
  for (let b = 0; b < batch; b++) {
    const v = lengths[b];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > seqLen) {
      throw new ShapeError(
        `${op}: argument 'lengths' [${batch}]: lengths[${b}] is ${String(v)}, expected ` +
          `an integer in [1, seqLen=${seqLen}]`,
      );
    }
    out[b] = v;
  }
  return out;
}

/**
 * The recorded forward of a recurrent stack for one (seqLen, batch): every buffer, uniform and
 * bind group made up front, and {@link RecurrentPlan.dispatches} — per layer and direction one
 * input-projection GEMM and seqLen fused cell steps — replayed with one submit by
 * {@link RecurrentPlan.run}. Layers build and cache their plans (`layer.forward`); a model
 * records a plan's dispatches into its own command buffer.
 */
export class RecurrentPlan {
  /**
   * Every dispatch of a run, in order: numLayers · D · (1 + seqLen) of them (more with dropout;
   * numLayers · D · (1 + 2·seqLen) for an LSTM with projSize: each step adds its projection).
   */
  readonly dispatches: Dispatch[] = [];
  /**
   * Step-wise plans only: the dispatches of timestep t (every layer's input-projection slice and
   * cell step), in order; {@link dispatches} is their concatenation. A caller (a decoder whose
   * input at t depends on its output at t−1) records its own dispatches between the groups.
   */
  readonly stepGroups: Dispatch[][] = [];
  /** seqLen · batch: rows of the input and output sequences. */
  readonly rows: number;
  /**
   * The recurrent kernel: one dispatch per `'step'` of each layer-direction, `'persistent'` chunks,
   * or `'wavefront'`: one dispatch per wave of the whole stack (layer l's step t with layer l + 1's step t − 1).
   */
  readonly kernel: 'step' | 'persistent' | 'wavefront';
  /** How the recurrent kernels read W_hh (an inference plan's f16 / int8 copy, or the f32 parameters). */
  readonly weights: RecurrentWeights;
  /**
   * With the persistent kernel: its tile and most steps per dispatch (the backward chunks the same
   * way, or with `stepBackward` runs the step backward kernels); else null.
   */
  readonly persistent: PersistentChoice | null;
  /** Training plans only: per (layer, direction) what the backward reads. */
  readonly saved: SavedActivations[] = [];
  /** The input of each layer (layer 0: {@link input}); distinct buffers in a training plan. */
  readonly layerInputs: GPUBuffer[] = [];
  private readonly owned: GPUBuffer[] = [];
  /** The sequence input [rows, inputSize], in the caller's layout. */
  readonly input: GPUBuffer;
  /** h0 [L·D, B, H] ([L·D, B, P] with an LSTM's projSize P): copied in (or cleared) before each run. */
  readonly h0: GPUBuffer;
  /** h_t ping-pongs between two state buffers; the one written last holds hN. */
  readonly hN: GPUBuffer;
  /**
   * The two state buffers [L·D, B, H] (P): step s (in the order run) reads states[(s+1)%2] (h0 at s=0) and writes
   * states[s%2].
   */
  readonly states: readonly GPUBuffer[];
  /** LSTM cell state [L·D, B, H]: c0 on entry, cN after the run. */
  readonly c: GPUBuffer | null;
  /** The top layer's output sequence [rows, D·H] ([rows, D·P] with a projection). */
  readonly output: GPUBuffer;
  /** Bytes of one hidden-state tensor [numLayers·D, batch, hiddenSize] (projSize with a projection). */
  readonly stateBytes: number;
  /** Bytes of the LSTM cell state [numLayers·D, batch, hiddenSize] (= stateBytes without a projection). */
  readonly cStateBytes: number;
  /**
   * Plans built with `{ lengths: true }`: the per-row sequence lengths, i32 [batch], each in
   * [1, seqLen]; write them before a run ({@link writeLengths}, or a copy inside the command
   * buffer). Row b's steps t ≥ lengths[b] are padding: its state passes through unchanged (so hN
   * is the state after step lengths[b]−1, and the reverse direction starts at lengths[b]−1 from
   * h0) and its output there is 0, as PyTorch's `pack_padded_sequence`. For an LSTM this is the
   * region of {@link c} after the state (the LSTM step kernel has no free storage binding).
   * null without lengths.
   */
  readonly lengths: GPUBufferBinding | null;

  /**
   * Builds the plan: allocates its buffers from the pool and prepares every dispatch.
   * @param gpu - The device.
   * @param cfg - The stack's configuration.
   * @param params - Parameter views of each (layer, direction), index layer·D + direction.
   * @param seqLen - Timesteps.
   * @param batch - Batch rows.
   * @param tile - Thread layout of the cell steps.
   * @throws ShapeError when the batch or sizes need more workgroups than the device allows, or a
   *   step-wise plan is asked for a bidirectional stack or one with dropout.
   */
  constructor(
    private readonly gpu: Gpu,
    private readonly cfg: RecurrentConfig,
    params: readonly DirectionParams[],
    readonly seqLen: number,
    readonly batch: number,
    readonly tile: StepTile,
    /** A training plan saves the activations the backward needs and keeps every layer's input. */
    readonly training = false,
    /** Training only: dropout on every layer's output but the last (salt = index of the layer it feeds). */
    dropout: Dropout | null = null,
    /**
     * Record time-major instead of layer-major: for each t, every layer's slice of the input
     * GEMM (batch rows of step t) then its cell step, so the input of step t may be written by
     * a dispatch placed after step t−1 (see {@link stepGroups}). Unidirectional, no dropout.
     */
    stepwise = false,
    /** `lengths: true`: per-row sequence lengths (see {@link lengths}); a different plan from the one without. */
    options: {
      lengths?: boolean;
      /** The public entry point named in limit errors. */ where?: string;
      /**
       * Run each layer-direction with the persistent kernel (shaders/recurrent_persistent.wgsl):
       * ⌈seqLen / steps⌉ dispatches of up to `steps` timesteps each, `tile` threads and rows per
       * workgroup. Absent: one fused cell-step dispatch per timestep. Not with `stepwise` or a projection.
       */
      persistent?: PersistentChoice;
      /**
       * Inference plans: how the recurrent kernels read W_hh — `'f16'` or `'int8'` run one
       * quantize_whh dispatch per layer-direction at the start of its steps (the copy follows the
       * parameters at every run). Default `'f32'`. Not with training, step-wise plans or a projection.
       */
      weights?: RecurrentWeights;
      /**
       * Inference plans of a unidirectional stack: record the forward as waves
       * (shaders/recurrent_wavefront.wgsl): layer 0's input GEMM, then seqLen + numLayers − 1 dispatches,
       * the input products of layers > 0 computed in the kernel. Not with training, step-wise or
       * persistent plans, a projection, a GRU's reset before the matmul or quantized weights.
       */
      wavefront?: boolean;
      /** LSTM / GRU step kernels: 4 hidden units per thread (cellStep.ts forwardQuad). */
      quad?: boolean;
      /** With `quad` and tile.bt ≥ 2: quads share their loads of h_{t−1} (cellStep.ts forwardSharedRows). */
      sharedRows?: boolean;
    } = {},
  ) {
    const { cell, hiddenSize: H, numLayers: L, batchFirst } = cfg;
    const T = seqLen;
    const B = batch;
    const D = cfg.bidirectional ? 2 : 1;
    const G = gateCount(cell);
    // P: features of h (an LSTM's projSize, else H); the sequences between layers are D·P wide.
    const P = realHiddenSize(cfg);
    const proj = cfg.projSize ? P : 0;
    if (proj && params.some((p) => !p.proj))
      throw new ArgumentError("a recurrent plan with projSize needs every direction's weight_hr");
    const DP = D * P;
    this.rows = T * B;
    const maxWg = gpu.limits.maxComputeWorkgroupsPerDimension;
    if (stepwise && (cfg.bidirectional || (training && dropout && L > 1)))
      throw new ArgumentError('a step-wise recurrent plan must be unidirectional and without dropout');
    // Step-wise plans collect each (layer, t)'s dispatches here and order them by t at the end.
    const perStep: Dispatch[][][] = stepwise
      ? Array.from({ length: T }, () => Array.from({ length: L }, () => []))
      : [];
    if (Math.ceil(B / tile.bt) > maxWg)
      throw new ShapeError(
        `batch ${B} needs more than maxComputeWorkgroupsPerDimension (${maxWg}) workgroups per step`,
      );
    checkRecurrentPlanLimits(gpu, options.where ?? cell.toUpperCase(), cfg, T, B, training, tile.bt);
    // A GRU with the reset before the matmul (Keras' reset_after=False): two step dispatches per
    // step (gru_reset_before_*.wgsl) sharing r ⊙ h_{t−1} through `rh`; inference only.
    const resetBefore = cell === 'gru' && cfg.resetAfter === false;
    if (resetBefore && (training || options.persistent))
      throw new ArgumentError(
        `${options.where ?? 'GRU'}: a GRU with resetAfter false runs inference with the step kernels only ` +
          `(got ${training ? 'a training plan: train it with resetAfter true' : 'the persistent kernel'})`,
      );

    // Every consistency check above the first allocation: a refused plan leaves the pool as it was.
    const persistent = options.persistent ?? null;
    if (persistent && (stepwise || proj))
      throw new ArgumentError('the persistent recurrent kernel runs neither step-wise plans nor an LSTM projection');
    const weights = options.weights ?? 'f32';
    if (weights !== 'f32' && (training || stepwise || proj))
      throw new ArgumentError(
        `recurrent weights '${weights}' are for inference plans (not training, step-wise plans or a projection)`,
      );
    const quad = !!options.quad;
    if (quad && (cell === 'rnn' || proj || resetBefore || H % 4 !== 0))
      throw new ArgumentError('4 units per thread run the LSTM / GRU step kernels (hidden % 4 = 0, no projection)');
    const sharedRows = !!options.sharedRows;
    if (sharedRows && (!quad || tile.bt < 2))
      throw new ArgumentError('shared row loads run with 4 units and 2 or more batch rows per thread');
    const wavefront = !!options.wavefront;
    if (wavefront && (training || stepwise || persistent || D !== 1 || proj || resetBefore || weights !== 'f32'))
      throw new ArgumentError(
        'a wavefront plan is an inference forward of a unidirectional stack with f32 weights (not training, ' +
          'step-wise or persistent, without a projection or a GRU reset before the matmul)',
      );

    const buffer = (elements: number, label: string) => {
      const b = gpu.pool.acquire(elements * 4, TENSOR_USAGE, label);
      this.owned.push(b);
      return b;
    };
    this.stateBytes = L * D * B * P * 4;
    this.cStateBytes = L * D * B * H * 4;
    this.input = buffer(this.rows * cfg.inputSize, 'rnn.input');
    this.h0 = buffer(L * D * B * P, 'rnn.h0');
    const state = [buffer(L * D * B * P, 'rnn.state0'), buffer(L * D * B * P, 'rnn.state1')];
    this.states = state;
    this.persistent = persistent;
    const rh = resetBefore ? buffer(L * D * B * H, 'rnn.rh') : null;
    const chunks = persistent ? Math.ceil(T / persistent.steps) : 0;
    this.weights = weights;
    this.kernel = wavefront ? 'wavefront' : persistent ? 'persistent' : 'step';
    // Step s (or chunk k) writes state[s % 2]: the last one written holds hN.
    this.hN = state[((persistent ? chunks : T) - 1) % 2];
    const withLengths = !!options.lengths;
    // What every recurrent dispatch of this plan is built with (sizes, activations, variant).
    const kernelOpts = {
      hidden: H,
      batch: B,
      nonlinearity: cfg.nonlinearity,
      gate: cfg.recurrentActivation,
      save: training,
      lengths: withLengths,
      weights,
    };
    // An LSTM keeps the lengths in `c`, after the state, at a storage-offset-aligned position.
    const align = gpu.device.limits.minStorageBufferOffsetAlignment / 4;
    const lengthsBase = cell === 'lstm' && withLengths ? Math.ceil((L * D * B * H) / align) * align : 0;
    this.c = cell === 'lstm' ? buffer(withLengths ? lengthsBase + B : L * D * B * H, 'rnn.c') : null;
    this.lengths = !withLengths
      ? null
      : this.c
        ? { buffer: this.c, offset: lengthsBase * 4, size: B * 4 }
        : { buffer: buffer(B, 'rnn.lengths'), offset: 0, size: B * 4 };
    this.output = buffer(this.rows * DP, 'rnn.output');
    // A wavefront's xproj also holds each layer's 4 weight offsets after the projection.
    const xproj = Array.from({ length: D }, (_, d) =>
      buffer(this.rows * G * H + (wavefront ? 4 * L : 0), `rnn.xproj${d}`),
    );
    // Inference ping-pongs two buffers between layers; training keeps every layer's input.
    // (A wavefront keeps both in one buffer, slot l % 2: its waves bind one buffer for all layers.)
    const betweenCount = wavefront ? 0 : training ? L - 1 : Math.min(2, L - 1);
    const between = Array.from({ length: betweenCount }, (_, i) => buffer(this.rows * DP, `rnn.seq${i}`));
    const layerOutput = (l: number) => (l === L - 1 ? this.output : between[l % betweenCount]);
    const drop = training && dropout ? dropout : null;
    const dropped = drop ? Array.from({ length: L - 1 }, (_, i) => buffer(this.rows * DP, `rnn.dropped${i}`)) : [];
    // A projection's m_t [rows, H]: one per direction (inference), kept per layer-direction for
    // the backward's dW_hr (training, in `saved`).
    const mInference = proj && !training ? Array.from({ length: D }, (_, d) => buffer(this.rows * H, `rnn.m${d}`)) : [];
    if (training) {
      const gatesWidth = cell === 'rnn' ? H : 4 * H;
      const hprevBase = this.rows * gatesWidth;
      const cprevBase = hprevBase + this.rows * P;
      const size = cprevBase + (cell === 'lstm' ? this.rows * H : 0);
      for (let i = 0; i < L * D; i++)
        this.saved.push({
          buffer: buffer(size, `rnn.saved${i}`),
          gatesWidth,
          hprevBase,
          cprevBase,
          m: proj ? buffer(this.rows * H, `rnn.m${i}`) : null,
        });
    }

    // Row of (t, b) in every sequence buffer: the user's layout, batch-first or time-major.
    const rowOf = (t: number, b: number) => (batchFirst ? b * T + t : t * B + b);
    const rowStrideB = batchFirst ? T : 1;
    const slot = stepSlotSize(gpu);

    if (wavefront) {
      // One layer has no layer below to feed: a small buffer fills the binding.
      const seqs = buffer(L > 1 ? Math.min(2, L - 1) * this.rows * H : 4, 'rnn.seqs');
      this.layerInputs.push(this.input, ...(L > 1 ? [seqs] : []));
      const p = params[0];
      for (const g of gemmDispatches(gpu, {
        M: this.rows,
        N: G * H,
        K: cfg.inputSize,
        a: { buffer: this.input, offset: 0, ld: cfg.inputSize },
        b: { buffer: p.wih.buffer, offset: p.wih.offset, ld: cfg.inputSize },
        c: { buffer: xproj[0], offset: 0, ld: G * H },
        bias: p.bih ? { buffer: p.bih.buffer, offset: p.bih.offset } : undefined,
        transposeB: true,
        label: 'l0d0.xproj',
      })) {
        pushAll(this.owned, g.transient ?? []);
        this.dispatches.push({ ...g, transient: undefined });
      }
      // GRU / RNN have no cell state: `c` carries the lengths (at 0), or an unused buffer.
      const c = this.c ?? (this.lengths ? this.lengths.buffer : buffer(4, 'rnn.noCell'));
      const waves = wavefrontDispatches(
        gpu,
        cfg,
        params,
        { seqLen: T, batch: B, tile, lengths: withLengths, lengthsBase },
        { xproj: xproj[0], h0: this.h0, state0: state[0], state1: state[1], seqs, output: this.output, c },
        (b) => this.owned.push(b),
      );
      pushAll(this.dispatches, waves);
      return;
    }
    for (let l = 0; l < L; l++) {
      const inFeatures = l === 0 ? cfg.inputSize : DP;
      const layerIn = l === 0 ? this.input : drop ? dropped[l - 1] : layerOutput(l - 1);
      if (drop && l > 0)
        this.dispatches.push(
          drop.dispatch({
            n: this.rows * DP,
            x: { buffer: layerOutput(l - 1) },
            y: { buffer: layerIn },
            salt: l,
            label: `l${l}.dropout`,
          }),
        );
      this.layerInputs.push(layerIn);
      const layerOut = layerOutput(l);
      for (let d = 0; d < D; d++) {
        const p = params[l * D + d];
        // Whole sequence at once, or (step-wise) the B rows of each step t: rows t·B … (time-major)
        // or b·T + t (batch-first, a row stride of T rows).
        const slices = stepwise
          ? Array.from({ length: T }, (_, t) => ({ t, M: B, row: rowOf(t, 0), ldMul: rowStrideB }))
          : [{ t: -1, M: this.rows, row: 0, ldMul: 1 }];
        for (const sl of slices) {
          for (const g of gemmDispatches(gpu, {
            M: sl.M,
            N: G * H,
            K: inFeatures,
            a: { buffer: layerIn, offset: sl.row * inFeatures, ld: inFeatures * sl.ldMul },
            b: { buffer: p.wih.buffer, offset: p.wih.offset, ld: inFeatures },
            c: { buffer: xproj[d], offset: sl.row * G * H, ld: G * H * sl.ldMul },
            bias: p.bih ? { buffer: p.bih.buffer, offset: p.bih.offset } : undefined,
            transposeB: true,
            label: `l${l}d${d}.xproj${sl.t >= 0 ? sl.t : ''}`,
          })) {
            pushAll(this.owned, g.transient ?? []);
            (stepwise ? perStep[sl.t][l] : this.dispatches).push({ ...g, transient: undefined });
          }
        }
      }
      // W_hh as the recurrent kernels read it: the parameters' repacked copy, or (an inference
      // plan with f16 / int8 weights) a quantized copy of it, made here at every run.
      const whh = params.slice(l * D, l * D + D).map((p, d) => {
        if (weights === 'f32') return p.wp;
        const cols = repackedCols(cell, H);
        const wq = buffer(quantizedWhhBytes(weights, P, cols) / 4, `rnn.l${l}d${d}.whh_${weights}`);
        const q = quantizeWhhDispatch(gpu, weights, P, cols, p.wp, wq, `l${l}d${d}.quantize_whh`);
        pushAll(this.owned, q.transient ?? []);
        this.dispatches.push({ ...q, transient: undefined });
        return wq;
      });
      // A GRU's 4-unit steps with f32 weights read W_hh in the parameters by rows (cellStep.ts gruRows).
      const rows = gruRows(cell, quad, weights);
      const whhRows = (rows ? params.slice(l * D, l * D + D) : []).map((p): GPUBufferBinding => ({
        buffer: p.whh.buffer,
        offset: p.whh.offset * 4,
        size: G * H * H * 4,
      }));
      if (persistent) {
        let noCell: GPUBuffer | undefined;
        // Both directions in one dispatch per chunk (recurrent_persistent_bidir.wgsl), or one each.
        const pair = D === 2 && !!persistent.pairDirections && weights === 'f32';
        const chunkArgs: Array<Array<Parameters<typeof persistentDispatch>>> = [];
        for (let d = 0; d < D; d++) {
          chunkArgs.push([]);
          const p = params[l * D + d];
          const saved = this.saved[l * D + d];
          const chunkSlot = persistentSlotSize(gpu);
          const uniforms = gpu.pool.acquire(chunks * chunkSlot, UNIFORM_USAGE, `rnn.l${l}d${d}.chunks`);
          this.owned.push(uniforms);
          const data = new ArrayBuffer(chunks * chunkSlot);
          for (let k = 0; k < chunks; k++) {
            const stepBegin = k * persistent.steps;
            packPersistentParams(
              gpu,
              {
                batch: B,
                hidden: H,
                cols: repackedCols(cell, H),
                seqLen: T,
                stepBegin,
                steps: Math.min(persistent.steps, T - stepBegin),
                reverse: d,
                rowStrideT: batchFirst ? 1 : B,
                rowStrideB,
                hWidth: DP,
                hDirOffset: d * P,
                stateOffset: (l * D + d) * B * H,
                hprevBase: saved?.hprevBase ?? 0,
                cprevBase: saved?.cprevBase ?? 0,
                lengthsBase,
              },
              data,
              k * chunkSlot,
            );
            chunkArgs[d].push([
              gpu,
              cell,
              { ...kernelOpts, tile: persistent.tile, label: `l${l}d${d}.steps${stepBegin}` },
              {
                xproj: xproj[d],
                wp: whh[d],
                bhh: p.bhh,
                hin: k === 0 ? this.h0 : state[(k - 1) % 2],
                hout: state[k % 2],
                hseq: layerOut,
                c: this.c ?? (noCell ??= buffer(4, 'rnn.noCell')),
                lengths: this.lengths ?? undefined,
                params: { buffer: uniforms, offset: k * chunkSlot, size: chunkSlot },
                saved: saved?.buffer,
              },
            ]);
          }
          gpu.device.queue.writeBuffer(uniforms, 0, data);
        }
        if (pair) {
          // Inference binds a small buffer as the reverse direction's (unwritten) saved activations:
          // two writable bindings of one buffer are not allowed in a dispatch.
          const noSaved = training ? null : buffer(4, 'rnn.noSaved1');
          chunkArgs[0].forEach(([, , opts, fwd], k) => {
            const rev = chunkArgs[1][k][3];
            const reverse = {
              xproj: rev.xproj,
              wp: rev.wp,
              bhh: rev.bhh,
              params: rev.params,
              saved: rev.saved ?? noSaved!,
            };
            this.dispatches.push(
              persistentDispatch(
                gpu,
                cell,
                { ...opts, label: `l${l}.steps${k * persistent.steps}` },
                { ...fwd, reverse },
              ),
            );
          });
        } else for (const args of chunkArgs.flat()) this.dispatches.push(persistentDispatch(...args));
        continue;
      }
      for (let d = 0; d < D; d++) {
        const p = params[l * D + d];
        const saved = this.saved[l * D + d];
        const uniforms = gpu.pool.acquire(T * slot, UNIFORM_USAGE, `rnn.l${l}d${d}.steps`);
        this.owned.push(uniforms);
        const data = new ArrayBuffer(T * slot);
        for (let s = 0; s < T; s++) {
          const t = d === 0 ? s : T - 1 - s;
          packStepParams(
            gpu,
            cell,
            {
              batch: B,
              hidden: H,
              cols: repackedCols(cell, H),
              xOffset: rowOf(t, 0) * G * H,
              xStrideB: rowStrideB * G * H,
              hOffset: rowOf(t, 0) * DP + d * P,
              hStrideB: rowStrideB * DP,
              stateOffset: (l * D + d) * B * H,
              row0: rowOf(t, 0),
              rowStrideB,
              hprevBase: saved?.hprevBase ?? 0,
              cprevBase: saved?.cprevBase ?? 0,
              t,
              lengthsBase,
            },
            data,
            s * slot,
          );
          const target = stepwise ? perStep[t][l] : this.dispatches;
          const stepParams = { buffer: uniforms, offset: s * slot, size: slot };
          const hprev = s === 0 ? this.h0 : state[(s - 1) % 2];
          // With a projection the cell step writes m_t (to `hseq`), and the projection h_t = W_hr·m_t.
          const m = proj ? (saved ? saved.m! : mInference[d]) : null;
          if (rh) {
            pushAll(
              target,
              gruResetBeforeDispatches(
                gpu,
                { ...kernelOpts, tile, label: `l${l}d${d}.step${t}` },
                {
                  xproj: xproj[d],
                  wp: whh[d],
                  bhh: p.bhh,
                  hprev,
                  hnext: state[s % 2],
                  hseq: layerOut,
                  rh,
                  params: stepParams,
                  lengths: this.lengths ?? undefined,
                },
              ),
            );
            continue;
          }
          target.push(
            cellStepDispatch(
              gpu,
              cell,
              { ...kernelOpts, tile, label: `l${l}d${d}.step${t}`, proj, quad, rows, sharedRows },
              {
                xproj: xproj[d],
                wp: rows ? whhRows[d] : whh[d],
                bhh: p.bhh,
                c: this.c ?? undefined,
                saved: saved?.buffer,
                hprev,
                hnext: state[s % 2],
                hseq: m ?? layerOut,
                params: stepParams,
                lengths: this.lengths ?? undefined,
              },
            ),
          );
          if (m) {
            target.push(
              projectionDispatch(
                gpu,
                { proj, batch: B, tile, label: `l${l}d${d}.project${t}`, lengths: withLengths },
                {
                  m,
                  wr: p.proj!.wrp,
                  hprev,
                  hnext: state[s % 2],
                  hseq: layerOut,
                  params: stepParams,
                  lengths: this.lengths ?? undefined,
                },
              ),
            );
          }
        }
        gpu.device.queue.writeBuffer(uniforms, 0, data);
      }
    }
    for (const group of perStep) {
      this.stepGroups.push(group.flat());
      pushAll(this.dispatches, group.flat());
    }
  }

  /**
   * Writes the per-row sequence lengths (validated: integers in [1, seqLen], one per batch row)
   * into {@link lengths} through the queue: they hold for every run submitted after this call.
   * @param lengths - One integer in [1, seqLen] per batch row.
   * @param op - Names the caller in error messages.
   * @throws ShapeError when the plan has no lengths or a length is invalid (naming it).
   */
  writeLengths(lengths: ArrayLike<number>, op = 'RecurrentPlan.writeLengths'): void {
    if (!this.lengths)
      throw new ShapeError(`${op}: this plan was built without lengths (new RecurrentPlan(..., { lengths: true }))`);
    const data = checkLengths(op, lengths, this.seqLen, this.batch);
    this.gpu.device.queue.writeBuffer(this.lengths.buffer, this.lengths.offset!, data);
  }

  /**
   * Encodes the copies that set h0 (and c0) for a run: from the given buffers, else zeros.
   * @param encoder - The run's command encoder (outside a pass).
   * @param h0 - Initial hidden state [numLayers·D, batch, hiddenSize], or null for zeros.
   * @param c0 - Initial cell state (LSTM), or null for zeros.
   */
  encodeInitialState(encoder: GPUCommandEncoder, h0: GPUBuffer | null, c0: GPUBuffer | null): void {
    if (h0) encoder.copyBufferToBuffer(h0, 0, this.h0, 0, this.stateBytes);
    else encoder.clearBuffer(this.h0, 0, this.stateBytes);
    if (this.c) {
      if (c0) encoder.copyBufferToBuffer(c0, 0, this.c, 0, this.cStateBytes);
      else encoder.clearBuffer(this.c, 0, this.cStateBytes);
    }
  }

  /**
   * Records and submits one forward: copies `input` (and `h0`, `c0`; zeros when absent) in, runs
   * every dispatch in one compute pass, copies the results out into new tensors. One submit.
   * @param input - The input sequence [seqLen·batch, inputSize] in the layer's layout.
   * @param h0 - Initial hidden state, or null for zeros.
   * @param c0 - Initial cell state (LSTM), or null for zeros.
   * @param outputShape - Shape of the returned `output` tensor.
   * @param stateShape - Shape of the returned `hN` (and `cN`) tensor.
   * @param cellShape - Shape of the returned `cN` when it differs (an LSTM with projSize: [L·D, B, H]).
   * @returns New tensors and the run's counts.
   * @throws GpuLostError when the device is lost.
   */
  run(
    input: GPUBuffer,
    h0: GPUBuffer | null,
    c0: GPUBuffer | null,
    outputShape: number[],
    stateShape: number[],
    cellShape = stateShape,
  ): PlanOutputs & { stats: RunStats } {
    const gpu = this.gpu;
    gpu.assertUsable();
    const output = Tensor.empty(gpu, outputShape, 'rnn.output');
    const hN = Tensor.empty(gpu, stateShape, 'rnn.hN');
    const cN = this.c ? Tensor.empty(gpu, cellShape, 'rnn.cN') : undefined;
    const encoder = gpu.device.createCommandEncoder({ label: 'rnn.forward' });
    encoder.copyBufferToBuffer(input, 0, this.input, 0, this.rows * this.cfg.inputSize * 4);
    this.encodeInitialState(encoder, h0, c0);
    const pass = encoder.beginComputePass({ label: 'rnn.forward' });
    encodeDispatches(pass, this.dispatches);
    pass.end();
    encoder.copyBufferToBuffer(this.output, 0, output.buffer, 0, output.size * 4);
    encoder.copyBufferToBuffer(this.hN, 0, hN.buffer, 0, this.stateBytes);
    if (cN && this.c) encoder.copyBufferToBuffer(this.c, 0, cN.buffer, 0, this.cStateBytes);
    gpu.submit(encoder, this.dispatches.length);
    return {
      output,
      hN,
      cN,
      stats: { seqLen: this.seqLen, batch: this.batch, dispatches: this.dispatches.length, submits: 1 },
    };
  }

  /** Gives every buffer the plan owns back to the pool. */
  destroy(): void {
    for (const b of this.owned.splice(0)) this.gpu.pool.release(b);
  }
}
