// One recorded training step of a SequenceModel for a (seqLen, batch): every buffer, uniform and
// bind group prepared once, and the dispatch list of
//   forward:  [embedding gather] → recurrent forward (saving activations) → head GEMM → loss → loss sum
//   backward: head GEMMs (dW, db, d input) → recurrent BPTT → [embedding scatter-add]
//   update:   gradient norm → optimizer (clipping fused) → W_hh repack
// A step writes the batch with queue.writeBuffer, encodes the list into ONE compute pass and
// submits ONCE; the loss stays on the GPU unless asked for.
import type { Gpu } from '../gpu/device.js';
import { encodeDispatches, type Dispatch } from '../gpu/dispatch.js';
import { TENSOR_USAGE } from '../gpu/flags.js';
import { checkBindingSize, checkWorkgroups } from '../gpu/limits.js';
import { gemmDispatches, type GemmArgs } from '../kernels/matmul.js';
import { columnSumDispatch } from '../kernels/columnSum.js';
import { crossEntropyDispatches } from '../kernels/crossEntropy.js';
import { mseDispatch } from '../kernels/mse.js';
import { reduceSumDispatches } from '../kernels/reduceSum.js';
import { embeddingDispatch, embeddingBackwardDispatch } from '../kernels/embedding.js';
import type { SequenceModelConfig } from './sequenceModelOptions.js';
import type { ParameterSlot, ParameterStore } from '../io/parameters.js';
import type { RecurrentLayer } from '../nn/recurrent.js';

/** What a step reads from its SequenceModel (the model passes itself). */
export interface TrainStepModel {
  readonly options: Readonly<SequenceModelConfig>;
  readonly embeddingSlot: ParameterSlot | null;
  readonly rnn: RecurrentLayer;
  readonly store: ParameterStore;
}
import type { TrainingPlan } from '../nn/recurrent.js';
import { pushAll } from '../util/arrays.js';

export class TrainStep {
  /** Embedding → recurrent → head → loss → loss sum. */
  readonly forward: Dispatch[] = [];
  /** Head backward → BPTT → embedding backward. */
  readonly backward: Dispatch[] = [];
  readonly rnn: TrainingPlan;
  /** i32 tokens [seqLen·batch] (token models) or f32 inputs [seqLen·batch·inputSize] (the recurrent plan's input). */
  readonly inputs: GPUBuffer;
  /** i32 class targets or f32 regression targets, one row per logits row. */
  readonly targets: GPUBuffer;
  /** [rows, outputSize]: rows = seqLen·batch (many-to-many) or batch (many-to-one). */
  readonly logits: GPUBuffer;
  /** The mean loss of the last step (1 f32). */
  readonly loss: GPUBuffer;
  readonly logitRows: number;
  private readonly owned: GPUBuffer[] = [];

  /**
   * Records the step; it owns its recurrent training plan and every buffer, and releases them if
   * building throws. `where` names the public entry point in limit errors.
   */
  constructor(
    private readonly gpu: Gpu,
    model: TrainStepModel,
    readonly seqLen: number,
    readonly batch: number,
    where = 'SequenceModel',
  ) {
    const o = model.options;
    const T = seqLen;
    const B = batch;
    const rows = T * B;
    const out = o.outputSize;
    const tokenInput = model.embeddingSlot !== null;
    // Before anything is allocated (the recurrent plan checks its own buffers): the head's buffers
    // and grids within the device's limits.
    const logitRows = o.mode === 'manyToOne' ? B : rows;
    const limitWhere = `${where}: seqLen ${T} × batch ${B}`;
    checkBindingSize(
      gpu,
      limitWhere,
      `the logits buffer [${o.mode === 'manyToOne' ? 'batch' : 'seqLen·batch'}, outputSize ${out}]`,
      logitRows * out,
    );
    checkWorkgroups(
      gpu,
      limitWhere,
      `the head's bias gradient (32 of outputSize ${out} per workgroup)`,
      Math.ceil(out / 32),
    );
    this.rnn = model.rnn.createTrainingPlan(where, T, B, { inputGrad: tokenInput });
    try {
      [this.inputs, this.targets, this.logits, this.loss, this.logitRows] = this.record(model, where);
    } catch (e) {
      this.destroy();
      throw e;
    }
  }

  private record(model: TrainStepModel, where: string): [GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer, number] {
    const gpu = this.gpu;
    const o = model.options;
    const store = model.store;
    const H = o.hiddenSize;
    const D = o.bidirectional ? 2 : 1;
    const L = o.numLayers;
    const T = this.seqLen;
    const B = this.batch;
    const rows = T * B;
    const out = o.outputSize;
    const tokenInput = model.embeddingSlot !== null;
    let inputs_: GPUBuffer, targets_: GPUBuffer;
    const fwd = this.rnn.forward;
    const bwd = this.rnn.backward;
    const buffer = (elements: number, label: string) => {
      const b = gpu.pool.acquire(elements * 4, TENSOR_USAGE, label);
      this.owned.push(b);
      return b;
    };
    const take = (list: Dispatch[], ds: Dispatch[]) => {
      for (const d of ds) {
        pushAll(this.owned, d.transient ?? []);
        list.push({ ...d, transient: undefined });
      }
    };
    const gemm = (list: Dispatch[], args: GemmArgs) => take(list, gemmDispatches(gpu, args));

    // Forward: inputs → recurrent stack.
    if (tokenInput) {
      inputs_ = buffer(rows, 'train.tokens');
      const E = o.embeddingDim!;
      take(this.forward, [
        embeddingDispatch(gpu, {
          tokens: rows,
          vocab: o.vocabSize!,
          dim: E,
          indices: { buffer: inputs_ },
          weight: store.view('embedding.weight'),
          y: { buffer: fwd.input },
          label: 'embedding',
        }),
      ]);
    } else {
      inputs_ = fwd.input;
    }
    pushAll(this.forward, fwd.dispatches);

    // Head: logits = features · W_headᵀ + b_head.
    const manyToOne = o.mode === 'manyToOne';
    const logitRows_ = manyToOne ? B : rows;
    const logits_ = buffer(logitRows_ * out, 'train.logits');
    const dlogits = buffer(logitRows_ * out, 'train.dlogits');
    const W = store.view('head.weight');
    const bias = store.view('head.bias');
    const dW = store.gradView('head.weight');
    const db = store.gradView('head.bias');
    // Many-to-one reads the top layer's final state, direction by direction: hN[(L−1)·D + d] is
    // [B, H] at a fixed offset, multiplying columns d·H … of W_head.
    const features = manyToOne
      ? Array.from({ length: D }, (_, d) => ({
          buffer: fwd.hN,
          offset: ((L - 1) * D + d) * B * H,
          ld: H,
          cols: H,
          wcol: d * H,
        }))
      : [{ buffer: fwd.output, offset: 0, ld: D * H, cols: D * H, wcol: 0 }];
    features.forEach((f, i) => {
      gemm(this.forward, {
        M: logitRows_,
        N: out,
        K: f.cols,
        transposeB: true,
        a: { buffer: f.buffer, offset: f.offset, ld: f.ld },
        b: { buffer: W.buffer, offset: W.offset + f.wcol, ld: D * H },
        c: { buffer: logits_, ld: out },
        bias: i === 0 ? { buffer: bias.buffer, offset: bias.offset } : undefined,
        beta: i === 0 ? undefined : 1,
        label: 'head',
      });
    });

    // Loss (mean over rows; cross-entropy skips ignoreIndex rows) and its gradient.
    const rowLoss = buffer(logitRows_, 'train.rowLoss');
    const loss_ = buffer(1, 'train.loss');
    if (o.loss === 'crossEntropy') {
      targets_ = buffer(logitRows_, 'train.targets');
      take(
        this.forward,
        crossEntropyDispatches(gpu, {
          rows: logitRows_,
          cols: out,
          logits: { buffer: logits_ },
          targets: { buffer: targets_ },
          rowLoss: { buffer: rowLoss },
          dLogits: { buffer: dlogits },
          ignoreIndex: o.ignoreIndex,
          label: 'crossEntropy',
        }),
      );
    } else {
      targets_ = buffer(logitRows_ * out, 'train.targets');
      take(this.forward, [
        mseDispatch(gpu, {
          rows: logitRows_,
          cols: out,
          pred: { buffer: logits_ },
          target: { buffer: targets_ },
          rowLoss: { buffer: rowLoss },
          dPred: { buffer: dlogits },
          label: 'mse',
        }),
      ]);
    }
    take(this.forward, reduceSumDispatches(gpu, { x: rowLoss, n: logitRows_, out: { buffer: loss_ }, label: 'loss' }));

    // Backward of the head: dW = dlogitsᵀ·features, db = Σ_rows dlogits, d features = dlogits·W.
    for (const f of features) {
      gemm(this.backward, {
        M: out,
        N: f.cols,
        K: logitRows_,
        transposeA: true,
        a: { buffer: dlogits, ld: out },
        b: { buffer: f.buffer, offset: f.offset, ld: f.ld },
        c: { buffer: dW.buffer, offset: dW.offset + f.wcol, ld: D * H },
        label: 'head.dW',
      });
    }
    take(this.backward, [
      columnSumDispatch(gpu, {
        rows: logitRows_,
        cols: out,
        x: { buffer: dlogits, ld: out },
        y: { buffer: db.buffer, offset: db.offset },
        label: 'head.db',
      }),
    ]);
    if (manyToOne) {
      features.forEach((f, d) => {
        gemm(this.backward, {
          M: B,
          N: H,
          K: out,
          a: { buffer: dlogits, ld: out },
          b: { buffer: W.buffer, offset: W.offset + f.wcol, ld: D * H },
          c: { buffer: bwd.dhN, offset: ((L - 1) * D + d) * B * H, ld: H },
          label: 'head.dhN',
        });
      });
    } else {
      gemm(this.backward, {
        M: rows,
        N: D * H,
        K: out,
        a: { buffer: dlogits, ld: out },
        b: { buffer: W.buffer, offset: W.offset, ld: D * H },
        c: { buffer: bwd.dout, ld: D * H },
        label: 'head.dout',
      });
    }
    pushAll(this.backward, bwd.dispatches);
    if (tokenInput) {
      take(this.backward, [
        embeddingBackwardDispatch(gpu, {
          tokens: rows,
          vocab: o.vocabSize!,
          dim: o.embeddingDim!,
          indices: { buffer: inputs_ },
          dY: { buffer: bwd.dinput! },
          dW: store.gradView('embedding.weight'),
          paddingIdx: o.paddingIdx,
          label: 'embedding.backward',
        }),
      ]);
    }
    return [inputs_, targets_, logits_, loss_, logitRows_];
  }

  /**
   * Encodes one step into `encoder`: the initial state (from `h0`/`c0`, else zeros), the cleared
   * upstream gradients, and one compute pass with `dispatches`.
   */
  encode(
    encoder: GPUCommandEncoder,
    dispatches: readonly Dispatch[],
    state: { h0: GPUBuffer | null; c0: GPUBuffer | null },
    withBackward: boolean,
  ): void {
    const fwd = this.rnn.forward;
    fwd.encodeInitialState(encoder, state.h0, state.c0);
    if (withBackward) {
      // Many-to-one writes only the top layer's dhN blocks and no dout: the rest must be zero.
      this.rnn.backward.encodeInit(encoder);
      encoder.clearBuffer(this.rnn.backward.dout);
    }
    const pass = encoder.beginComputePass({ label: 'train.step' });
    encodeDispatches(pass, dispatches);
    pass.end();
  }

  /** Releases the step's buffers and its recurrent training plan. */
  destroy(): void {
    for (const b of this.owned.splice(0)) this.gpu.pool.release(b);
    this.rnn.destroy();
  }
}
