// Backpropagation through time for a recurrent stack, recorded ahead like the forward: for one
// training RecurrentPlan (which saved the activations) it prepares every buffer, uniform and
// bind group up front, and a flat list of dispatches, top layer first:
//   per layer l, per direction d:  T fused backward steps   (shaders/{rnn,lstm,gru}_step_backward.wgsl)
//   then, as GEMMs over all T·B rows at once (the foundation matmul):
//     dW_ih = dgatesᵀ·x_l     dW_hh = dgates_hᵀ·h_{t−1}
//   and db_ih, db_hh = column sums of dgates (shaders/column_sum.wgsl)
//     dx_l  = Σ_d dgates_d·W_ih,d   (the gradient of the layer below's output, or of the input)
// An LSTM with projSize P (h_t = W_hr·m_t) runs 2 dispatches per backward step: dh_t [B, P]
// (shaders/recurrent_matvec_project_backward.wgsl), then the cell step on dm = W_hrᵀ·dh_t; dh_t
// is kept for every row and dW_hr = dhᵀ·m is one more GEMM per layer-direction.
// Nothing is allocated per timestep. The caller writes `dout` (gradient of the top layer's output
// sequence) and/or `dhN` (gradient of the final hidden state) inside the same command buffer.
// A forward plan built with lengths makes a backward with lengths (the same buffer, fwd.lengths):
// padded steps get dgates = 0 and pass dh (dc) through, so the GEMMs below need no change.
import type { Gpu } from '../gpu/device.js';
import type { Dispatch } from '../gpu/dispatch.js';
import { TENSOR_USAGE, UNIFORM_USAGE } from '../gpu/flags.js';
import { elementwiseDispatch } from '../kernels/elementwise.js';
import { gemmDispatches, type GemmArgs } from '../kernels/matmul.js';
import { columnSumDispatch } from '../kernels/columnSum.js';
import {
  backwardParamsSize,
  backwardQuad,
  backwardSharedGates,
  backwardSlotSize,
  cellStepBackwardDispatch,
  dgatesWidth,
  packBackwardParams,
  projectionBackwardDispatch,
} from '../kernels/cellStepBackward.js';
import { gateCount, realHiddenSize, type RecurrentConfig } from '../kernels/recurrentConfig.js';
import type { ParameterStore } from '../io/parameters.js';
import type { DirectionParams, RecurrentPlan } from './recurrentPlan.js';
import type { Dropout } from '../kernels/dropout.js';
import { pushAll } from '../util/arrays.js';

export class RecurrentBackward {
  readonly dispatches: Dispatch[] = [];
  /**
   * Gradient of the top layer's output sequence [rows, D·H] ([rows, D·P] with a projection; caller's layout); write it
   * before the pass.
   */
  readonly dout: GPUBuffer;
  /**
   * Gradient of the final hidden state [L·D, B, H] (P with a projection); cleared by {@link encodeInit} unless given.
   */
  readonly dhN: GPUBuffer;
  /** LSTM: dcN on entry, dc0 after the pass ([L·D, B, H]). GRU: the z ⊙ dh carry. Absent for RNN. */
  readonly carry: GPUBuffer | null;
  /** Gradient of the layer input [rows, inputSize], when asked for (e.g. to train an embedding). */
  readonly dinput: GPUBuffer | null;
  /**
   * Gradient of the initial hidden state h0 [L·D, B, H] (P with a projection), when asked for (`initialStateGrad`; an
   * encoder-decoder backpropagates it into the encoder). The LSTM's dc0 is in {@link carry}.
   */
  readonly dh0: GPUBuffer | null;
  private readonly owned: GPUBuffer[] = [];
  private readonly stateBytes: number;
  private readonly cStateBytes: number;

  constructor(
    private readonly gpu: Gpu,
    private readonly cfg: RecurrentConfig,
    params: readonly DirectionParams[],
    store: ParameterStore,
    fwd: RecurrentPlan,
    opts: { inputGrad?: boolean; initialStateGrad?: boolean; dropout?: Dropout | null } = {},
  ) {
    const { cell, hiddenSize: H, numLayers: L, batchFirst } = cfg;
    const T = fwd.seqLen;
    const B = fwd.batch;
    const D = cfg.bidirectional ? 2 : 1;
    const G = gateCount(cell);
    // P: features of h (an LSTM's projSize, else H); layer outputs are D·P wide.
    const P = realHiddenSize(cfg);
    const proj = cfg.projSize ? P : 0;
    const DP = D * P;
    const rows = fwd.rows;
    const width = dgatesWidth(cell, H);
    const buffer = (elements: number, label: string) => {
      const b = gpu.pool.acquire(elements * 4, TENSOR_USAGE, label);
      this.owned.push(b);
      return b;
    };
    this.stateBytes = fwd.stateBytes;
    this.cStateBytes = fwd.cStateBytes;
    this.dout = buffer(rows * DP, 'rnn.dout');
    this.dhN = buffer(L * D * B * P, 'rnn.dhN');
    this.carry = cell === 'rnn' ? null : buffer(L * D * B * H, 'rnn.carry');
    this.dinput = opts.inputGrad ? buffer(rows * cfg.inputSize, 'rnn.dinput') : null;
    this.dh0 = opts.initialStateGrad ? buffer(L * D * B * P, 'rnn.dh0') : null;
    const lengths = fwd.lengths;
    // With lengths, B extra rows after the T·B rows: the reverse direction's step t = lengths[b]−1
    // (its first step forward) copies its dgates row there, for dh0.
    const dgates = Array.from({ length: D }, (_, d) => buffer((rows + (lengths ? B : 0)) * width, `rnn.dgates${d}`));
    const dlayer = Array.from({ length: L - 1 }, (_, l) => buffer(rows * DP, `rnn.dseq${l}`));
    // A projection's dh_t [rows, P] per direction (reused by every layer, like dgates).
    const dhProj = proj ? Array.from({ length: D }, (_, d) => buffer(rows * P, `rnn.dh${d}`)) : [];
    // With dropout, dx of layer l ≥ 1 is the gradient of the dropped input: the same mask (same
    // salt, same step counter) maps it back to the gradient of layer l−1's output.
    const drop = opts.dropout ?? null;
    const ddropped = drop && L > 1 ? buffer(rows * DP, 'rnn.ddropped') : null;

    const take = (d: Dispatch) => {
      pushAll(this.owned, d.transient ?? []);
      this.dispatches.push({ ...d, transient: undefined });
    };
    const gemm = (args: GemmArgs) => gemmDispatches(gpu, args).forEach(take);
    const rowOf = (t: number, b: number) => (batchFirst ? b * T + t : t * B + b);
    const rowStrideB = batchFirst ? T : 1;
    const slot = backwardSlotSize(gpu);
    // A persistent forward gets a persistent backward (unless it asks for the step kernels):
    // ⌈T / steps⌉ chunks per layer-direction, each reading its steps' BackwardParams from a storage
    // array (chunks at storage-offset alignment).
    const chunkSteps = fwd.persistent && !fwd.persistent.stepBackward ? fwd.persistent.steps : 0;
    const chunks = chunkSteps ? Math.ceil(T / chunkSteps) : 0;
    const entry = backwardParamsSize(gpu);
    const storageAlign = gpu.device.limits.minStorageBufferOffsetAlignment;
    const chunkStride = Math.ceil((chunkSteps * entry) / storageAlign) * storageAlign;
    // The per-step kernels' `steps` binding (unread): one entry's worth of storage.
    const noSteps = chunkSteps ? null : { buffer: buffer(entry / 4, 'rnn.noSteps') };
    const grads = store.grads;
    // 4 units per thread in the BPTT steps (gpu.tuning.backwardUnits), reading W_hh where the
    // parameter store keeps it (its views start at a storage-aligned offset).
    const quad = backwardQuad(gpu, cfg, 'backward');
    // Their quads sharing each row's gate loads (gpu.tuning.backwardGates).
    const sharedGates = backwardSharedGates(gpu, cfg.cell, quad, 'backward');
    const whhBinding = (p: DirectionParams): GPUBufferBinding => ({
      buffer: p.whh.buffer,
      offset: p.whh.offset * 4,
      size: G * H * H * 4,
    });

    for (let l = L - 1; l >= 0; l--) {
      const inFeatures = l === 0 ? cfg.inputSize : DP;
      const dout = l === L - 1 ? this.dout : dlayer[l];
      for (let d = 0; d < D; d++) {
        const p = params[l * D + d];
        const saved = fwd.saved[l * D + d];
        // What every backward step (or chunk) of this layer-direction binds and is sized by.
        const backOpts = {
          hidden: H,
          batch: B,
          nonlinearity: cfg.nonlinearity,
          gate: cfg.recurrentActivation,
          lengths: !!lengths,
          quad,
          sharedGates,
        };
        const backBuffers = {
          dgates: dgates[d],
          saved: saved.buffer,
          dhN: this.dhN,
          carry: this.carry ?? undefined,
          lengths: lengths ?? undefined,
        };
        const uniforms = gpu.pool.acquire(T * slot, UNIFORM_USAGE, `rnn.l${l}d${d}.backsteps`);
        this.owned.push(uniforms);
        const data = new ArrayBuffer(T * slot);
        const stepsData = chunkSteps ? new ArrayBuffer(chunks * chunkStride) : null;
        // Backward visits the steps in the reverse of the forward's order.
        for (let s = 0; s < T; s++) {
          const t = d === 0 ? T - 1 - s : s;
          const tNext = d === 0 ? t + 1 : t - 1;
          packBackwardParams(
            gpu,
            cell,
            {
              batch: B,
              hidden: H,
              row0: rowOf(t, 0),
              rowStrideB,
              nextRow0: s === 0 ? 0 : rowOf(tNext, 0),
              first: s === 0 ? 1 : 0,
              doutOffset: rowOf(t, 0) * DP + d * P,
              doutStrideB: rowStrideB * DP,
              stateOffset: (l * D + d) * B * H,
              hprevBase: saved.hprevBase,
              cprevBase: saved.cprevBase,
              t,
              reverse: d,
              firstRow0: rows,
            },
            data,
            s * slot,
          );
          const stepParams = { buffer: uniforms, offset: s * slot, size: slot };
          if (chunkSteps) {
            // Persistent: the same values, packed into this step's chunk of the `steps` array.
            const k = Math.floor(s / chunkSteps);
            const at = k * chunkStride + (s - k * chunkSteps) * entry;
            new Uint8Array(stepsData!, at, entry).set(new Uint8Array(data, s * slot, entry));
            continue;
          }
          if (proj) {
            // dh_t = dout_t + dgates_{t'}·W_hh (or dhN), then the cell step on dm = W_hrᵀ·dh_t.
            this.dispatches.push(
              projectionBackwardDispatch(
                gpu,
                { hidden: H, proj, batch: B, tile: fwd.tile, label: `l${l}d${d}.backproject${t}`, lengths: !!lengths },
                {
                  dgates: dgates[d],
                  wb: p.wb,
                  dout,
                  dhN: this.dhN,
                  dh: dhProj[d],
                  params: stepParams,
                  lengths: lengths ?? undefined,
                },
              ),
            );
          }
          this.dispatches.push(
            cellStepBackwardDispatch(
              gpu,
              cell,
              { ...backOpts, tile: fwd.tile, label: `l${l}d${d}.backstep${t}`, proj },
              {
                ...backBuffers,
                wb: proj ? p.proj!.wrb : quad ? whhBinding(p) : p.wb,
                dout: proj ? dhProj[d] : dout,
                params: stepParams,
                steps: noSteps!,
              },
            ),
          );
        }
        gpu.device.queue.writeBuffer(uniforms, 0, data);
        if (chunkSteps) {
          const steps = gpu.pool.acquire(chunks * chunkStride, TENSOR_USAGE, `rnn.l${l}d${d}.backchunks`);
          this.owned.push(steps);
          gpu.device.queue.writeBuffer(steps, 0, stepsData!);
          for (let k = 0; k < chunks; k++) {
            const count = Math.min(chunkSteps, T - k * chunkSteps);
            this.dispatches.push(
              cellStepBackwardDispatch(
                gpu,
                cell,
                {
                  ...backOpts,
                  tile: fwd.persistent!.tile,
                  label: `l${l}d${d}.backsteps${k * chunkSteps}`,
                  persistent: true,
                },
                {
                  ...backBuffers,
                  wb: quad ? whhBinding(p) : p.wb,
                  dout,
                  params: { buffer: uniforms, offset: 0, size: slot },
                  steps: { buffer: steps, offset: k * chunkStride, size: count * entry },
                },
              ),
            );
          }
        }
      }
      for (let d = 0; d < D; d++) {
        const p = params[l * D + d];
        const saved = fwd.saved[l * D + d];
        const label = `l${l}d${d}`;
        const gradOf = (name: string) => store.slot(name).offset;
        // dW_ih [G·H, in] = dgatesᵀ · x   (input-side columns: the first G·H)
        gemm({
          M: G * H,
          N: inFeatures,
          K: rows,
          transposeA: true,
          a: { buffer: dgates[d], ld: width },
          b: { buffer: fwd.layerInputs[l], ld: inFeatures },
          c: { buffer: grads, offset: gradOf(p.names.wih), ld: inFeatures },
          label: `${label}.dW_ih`,
        });
        // dW_hh [G·H, P] = dgates_hᵀ · h_{t−1}; GRU's hidden-side n block is the 4th column block.
        const hiddenBlocks: Array<{ col: number; row: number; n: number }> =
          cell === 'gru'
            ? [
                { col: 0, row: 0, n: 2 * H },
                { col: 3 * H, row: 2 * H, n: H },
              ]
            : [{ col: 0, row: 0, n: G * H }];
        for (const blk of hiddenBlocks) {
          gemm({
            M: blk.n,
            N: P,
            K: rows,
            transposeA: true,
            a: { buffer: dgates[d], offset: blk.col, ld: width },
            b: { buffer: saved.buffer, offset: saved.hprevBase, ld: P },
            c: { buffer: grads, offset: gradOf(p.names.whh) + blk.row * P, ld: P },
            label: `${label}.dW_hh`,
          });
        }
        // dW_hr [P, H] = dhᵀ · m over every row.
        if (proj)
          gemm({
            M: P,
            N: H,
            K: rows,
            transposeA: true,
            a: { buffer: dhProj[d], ld: P },
            b: { buffer: saved.m!, ld: H },
            c: { buffer: grads, offset: gradOf(p.proj!.name), ld: H },
            label: `${label}.dW_hr`,
          });
        if (p.names.bih && p.names.bhh) {
          // db_ih, db_hh = Σ over rows of dgates (input-side, hidden-side columns).
          take(
            columnSumDispatch(gpu, {
              rows,
              cols: G * H,
              x: { buffer: dgates[d], ld: width },
              y: { buffer: grads, offset: gradOf(p.names.bih) },
              label: `${label}.db_ih`,
            }),
          );
          for (const blk of hiddenBlocks) {
            take(
              columnSumDispatch(gpu, {
                rows,
                cols: blk.n,
                x: { buffer: dgates[d], offset: blk.col, ld: width },
                y: { buffer: grads, offset: gradOf(p.names.bhh) + blk.row },
                label: `${label}.db_hh`,
              }),
            );
          }
        }
      }
      if (this.dh0) {
        // dh0 = dgates of the first step processed forward (t = 0; T−1 reversed) · W_hh, whose
        // rows are the pre-activations' h-columns; GRU adds its direct path z ⊙ dh (the carry).
        // With lengths the reverse direction's first step is t = lengths[b]−1: its rows were
        // copied after the T·B rows (the padding before it passed dh through unchanged).
        for (let d = 0; d < D; d++) {
          const p = params[l * D + d];
          const t0 = d === 0 ? 0 : T - 1;
          const first =
            d === 1 && lengths
              ? { offset: rows * width, ld: width }
              : { offset: rowOf(t0, 0) * width, ld: width * rowStrideB };
          const state = (l * D + d) * B * P;
          const blocks: Array<{ col: number; row: number; n: number }> =
            cell === 'gru'
              ? [
                  { col: 0, row: 0, n: 2 * H },
                  { col: 3 * H, row: 2 * H, n: H },
                ]
              : [{ col: 0, row: 0, n: G * H }];
          if (cell === 'gru')
            take(
              elementwiseDispatch(gpu, {
                op: 'scale',
                n: B * H,
                x: { buffer: this.carry!, offset: state },
                y: { buffer: this.dh0, offset: state },
                alpha: 1,
                label: `l${l}d${d}.dh0.carry`,
              }),
            );
          blocks.forEach((blk, i) =>
            gemm({
              M: B,
              N: P,
              K: blk.n,
              a: { buffer: dgates[d], offset: first.offset + blk.col, ld: first.ld },
              b: { buffer: p.whh.buffer, offset: p.whh.offset + blk.row * P, ld: P },
              c: { buffer: this.dh0!, offset: state, ld: P },
              beta: cell === 'gru' || i > 0 ? 1 : undefined,
              label: `l${l}d${d}.dh0`,
            }),
          );
        }
      }
      const dx = l > 0 ? (ddropped ?? dlayer[l - 1]) : this.dinput;
      if (dx) {
        for (let d = 0; d < D; d++) {
          const p = params[l * D + d];
          gemm({
            M: rows,
            N: inFeatures,
            K: G * H,
            a: { buffer: dgates[d], ld: width },
            b: { buffer: p.wih.buffer, offset: p.wih.offset, ld: inFeatures },
            c: { buffer: dx, ld: inFeatures },
            beta: d === 0 ? undefined : 1,
            label: `l${l}d${d}.dx`,
          });
        }
        if (l > 0 && drop && ddropped)
          this.dispatches.push(
            drop.dispatch({
              n: rows * DP,
              x: { buffer: ddropped },
              y: { buffer: dlayer[l - 1] },
              salt: l,
              label: `l${l}.dropout.backward`,
            }),
          );
      }
    }
  }

  /** Encodes, before the pass: dhN and the carry cleared, or copied from the given buffers. */
  encodeInit(encoder: GPUCommandEncoder, given: { dhN?: GPUBuffer | null; dcN?: GPUBuffer | null } = {}): void {
    const stateBytes = this.stateBytes;
    if (given.dhN) encoder.copyBufferToBuffer(given.dhN, 0, this.dhN, 0, stateBytes);
    else encoder.clearBuffer(this.dhN);
    if (this.carry) {
      if (given.dcN && this.cfg.cell === 'lstm')
        encoder.copyBufferToBuffer(given.dcN, 0, this.carry, 0, this.cStateBytes);
      else encoder.clearBuffer(this.carry);
    }
  }

  destroy(): void {
    for (const b of this.owned.splice(0)) this.gpu.pool.release(b);
  }
}
