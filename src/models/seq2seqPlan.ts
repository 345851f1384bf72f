// One recorded encoder-decoder pass of a Seq2Seq model for (srcLen, tgtLen, rows), in three modes:
//
//   train   forward: source embedding → encoder (saving) → bridge hN → decoder h0 → per decoder
//           step t: input embedding → decoder step → attention → combine → logits → next input
//           (teacher token or the argmax, per token: teacherForcingRatio); then the loss.
//           backward (all steps at once; the inputs actually fed are known by then): logits →
//           combine → attention → decoder BPTT (→ dh0) → bridge → encoder BPTT → embeddings.
//   greedy  the forward with every next input the argmax (no teacher), no loss, no backward.
//   beam    rows = batch·beamWidth: per step the beam-search kernel picks the k best extensions
//           of each source and the decoder state is reordered by their parent beams.
//
// Luong et al. 2015 ("global attention"): the decoder state h_t attends over the encoder outputs
// h̄_s, c_t = Σ_s α_ts h̄_s, and h̃_t = tanh(W_c [c_t; h_t] + b_c) feeds the output layer. Without
// attention the output layer reads h_t. Everything is time-major ([step, row, ·]); decoder rows of
// step t are contiguous, so every per-step GEMM is a slice. Nothing is allocated per step or run.
import type { Gpu } from '../gpu/device.js';
import { encodeDispatches, type Dispatch } from '../gpu/dispatch.js';
import { TENSOR_USAGE } from '../gpu/flags.js';
import { gemmDispatches, type GemmArgs } from '../kernels/matmul.js';
import { elementwiseDispatch } from '../kernels/elementwise.js';
import { columnSumDispatch } from '../kernels/columnSum.js';
import { crossEntropyDispatches } from '../kernels/crossEntropy.js';
import { reduceSumDispatches } from '../kernels/reduceSum.js';
import { embeddingDispatch, embeddingBackwardDispatch } from '../kernels/embedding.js';
import { defaultStepTile } from '../kernels/cellStep.js';
import { RnnAttentionPlan, type SeqView } from '../kernels/rnnAttention.js';
import {
  nextTokenDispatch,
  beamSearchStepDispatches,
  beamSearchScratchSize,
  gatherBeamRowsDispatch,
} from '../kernels/decode.js';
import { RecurrentPlan } from '../graph/recurrentPlan.js';
import { checkRecurrentPlanLimits } from '../graph/recurrentLimits.js';
import { checkBindingSizes, checkWorkgroups } from '../gpu/limits.js';
import { RecurrentBackward } from '../graph/recurrentBackward.js';
import type { Seq2SeqConfig } from './seq2seqOptions.js';
import type { RecurrentLayer } from '../nn/recurrent.js';

/** What a plan reads from its Seq2Seq model (the model passes itself). */
export interface Seq2SeqPlanModel {
  readonly options: Readonly<Seq2SeqConfig>;
  readonly store: ParameterStore;
  readonly encoder: RecurrentLayer;
  readonly decoder: RecurrentLayer;
}
import type { BufferView, ParameterStore } from '../io/parameters.js';
import { pushAll } from '../util/arrays.js';

export type Seq2SeqMode = 'train' | 'greedy' | 'beam';

export class Seq2SeqPlan {
  /** Encoder, bridge and the decoder steps (with the loss in train mode). */
  readonly forward: Dispatch[] = [];
  /** Train mode: everything after the loss, down to both embeddings' gradients. */
  readonly backward: Dispatch[] = [];
  /** Decoder rows: batch (train, greedy) or batch·beamWidth (beam). */
  readonly rows: number;
  /** i32 [srcLen, rows] source tokens. */
  readonly srcTokens: GPUBuffer;
  /** f32 [rows, srcLen]: 1 for a source token, 0 for padding. */
  readonly keyMask: GPUBuffer;
  /** i32 [tgtLen + 1, rows] decoder inputs: row 0 (BOS) written by the host, row t+1 by step t. */
  readonly decIn: GPUBuffer;
  /** Train: i32 [tgtLen + 1, rows] teacher inputs and u32 [tgtLen + 1, rows] 1 = feed the teacher token. */
  readonly teacherIn: GPUBuffer;
  readonly useTeacher: GPUBuffer;
  /** Train: i32 [tgtLen, rows] targets (ignoreIndex −100 for padding). */
  readonly targets: GPUBuffer;
  /** i32 [tgtLen, rows] the argmax of each step's logits. */
  readonly pred: GPUBuffer;
  /** f32 [rows, tgtLen, srcLen] attention weights (null without attention). */
  readonly alpha: GPUBuffer | null;
  /** Train: the mean loss (1 f32). */
  readonly loss: GPUBuffer;
  /**
   * Beam: f32 [rows] scores, u32 [rows] finished, i32 [tgtLen, batch, k] parents and tokens, i32 [rows] next inputs.
   */
  readonly beam: {
    score: GPUBuffer;
    finished: GPUBuffer;
    parents: GPUBuffer;
    tokens: GPUBuffer;
    next: GPUBuffer;
  } | null = null;
  readonly encoderPlan: RecurrentPlan;
  readonly decoderPlan: RecurrentPlan;
  readonly encoderBackward: RecurrentBackward | null = null;
  readonly decoderBackward: RecurrentBackward | null = null;
  private readonly attention: RnnAttentionPlan | null = null;
  private readonly owned: GPUBuffer[] = [];

  constructor(
    private readonly gpu: Gpu,
    model: Seq2SeqPlanModel,
    readonly srcLen: number,
    readonly tgtLen: number,
    readonly batch: number,
    readonly mode: Seq2SeqMode,
    readonly beamWidth = 1,
    /** The public entry point named in limit errors. */
    entry = 'Seq2Seq',
  ) {
    const o = model.options;
    const store = model.store;
    const H = o.hiddenSize;
    const L = o.numLayers;
    const D = o.bidirectional ? 2 : 1;
    const DH = D * H;
    const E = o.embeddingDim;
    const V = o.tgtVocab;
    const Ts = srcLen;
    const Tt = tgtLen;
    const R = mode === 'beam' ? batch * beamWidth : batch;
    this.rows = R;
    const N = Tt * R;
    const training = mode === 'train';
    // Before anything is allocated: the plan's buffers (and its recurrent plans') within the device's limits.
    const where = `${entry}: ${training ? 'target length' : 'maxLen'} ${Tt} × ${R} rows`;
    const A = o.attention === 'none' ? 0 : Math.max(o.attnDim, H);
    checkBindingSizes(gpu, where, {
      [`the logits buffer [steps·rows, tgtVocab ${V}]`]: N * V,
      'the attention weights [rows, steps, srcLen]': o.attention === 'none' ? 0 : R * Tt * Ts,
      'the attention contexts [steps·rows, D·hiddenSize]': o.attention === 'none' ? 0 : N * DH,
      'the attention scratch [rows·(steps + srcLen), attnDim]': R * (Tt + Ts) * (A + 4) + R * Tt * Ts,
    });
    checkWorkgroups(gpu, where, `the output bias gradient (32 of tgtVocab ${V} per workgroup)`, Math.ceil(V / 32));
    const bt = defaultStepTile(R, gpu.adapterInfo.isFallbackAdapter).bt;
    checkRecurrentPlanLimits(gpu, `${where}: the encoder`, model.encoder.config, Ts, R, training, bt);
    checkRecurrentPlanLimits(gpu, `${where}: the decoder`, model.decoder.config, Tt, R, training, bt);
    const buffer = (elements: number, label: string) => {
      const b = gpu.pool.acquire(Math.max(1, elements) * 4, TENSOR_USAGE, label);
      this.owned.push(b);
      return b;
    };
    const take = (list: Dispatch[], ds: Dispatch | Dispatch[]) => {
      for (const d of Array.isArray(ds) ? ds : [ds]) {
        pushAll(this.owned, d.transient ?? []);
        list.push({ ...d, transient: undefined });
      }
    };
    const gemm = (list: Dispatch[], args: GemmArgs) => take(list, gemmDispatches(gpu, args));
    const copy = (
      list: Dispatch[],
      n: number,
      x: { buffer: GPUBuffer; offset: number },
      y: { buffer: GPUBuffer; offset: number },
      label: string,
    ) => take(list, elementwiseDispatch(gpu, { op: 'scale', alpha: 1, n, x, y, label }));
    const view = (name: string) => store.view(name);
    const gradView = (name: string) => store.gradView(name);

    this.srcTokens = buffer(Ts * R, 's2s.srcTokens');
    this.keyMask = buffer(R * Ts, 's2s.keyMask');
    this.decIn = buffer((Tt + 1) * R, 's2s.decIn');
    this.teacherIn = buffer((Tt + 1) * R, 's2s.teacherIn');
    this.useTeacher = buffer((Tt + 1) * R, 's2s.useTeacher');
    this.targets = buffer(N, 's2s.targets');
    this.pred = buffer(N, 's2s.pred');
    this.loss = buffer(1, 's2s.loss');

    const tile = defaultStepTile(R, gpu.adapterInfo.isFallbackAdapter);
    // Packed sources: each row's encoder runs over its own length (written by the model before a run).
    const enc = new RecurrentPlan(
      gpu,
      model.encoder.config,
      model.encoder.directionParams,
      Ts,
      R,
      tile,
      training,
      null,
      false,
      { lengths: true },
    );
    const dec = new RecurrentPlan(
      gpu,
      model.decoder.config,
      model.decoder.directionParams,
      Tt,
      R,
      tile,
      training,
      null,
      true,
    );
    this.encoderPlan = enc;
    this.decoderPlan = dec;
    const F = this.forward;
    const Bk = this.backward;

    // Encoder over the whole source.
    take(
      F,
      embeddingDispatch(gpu, {
        tokens: Ts * R,
        vocab: o.srcVocab,
        dim: E,
        indices: { buffer: this.srcTokens },
        weight: view('encoder.embedding.weight'),
        y: { buffer: enc.input },
        label: 'encoder.embedding',
      }),
    );
    pushAll(F, enc.dispatches);

    // Bridge: decoder h0 (c0) of layer l = the encoder's final state of layer l, summed over directions.
    const layerState = R * H;
    const bridge = (src: GPUBuffer, dst: GPUBuffer, what: string) => {
      if (D === 1) copy(F, L * layerState, { buffer: src, offset: 0 }, { buffer: dst, offset: 0 }, `bridge.${what}`);
      else {
        for (let l = 0; l < L; l++) {
          take(
            F,
            elementwiseDispatch(gpu, {
              op: 'add',
              n: layerState,
              x: { buffer: src, offset: 2 * l * layerState },
              b: { buffer: src, offset: (2 * l + 1) * layerState },
              y: { buffer: dst, offset: l * layerState },
              label: `bridge.${what}${l}`,
            }),
          );
        }
      }
    };
    bridge(enc.hN, dec.h0, 'h');
    if (enc.c && dec.c) bridge(enc.c, dec.c, 'c');

    // Attention over the encoder outputs (keys = values = h̄, [Ts, R, D·H]).
    const attn =
      o.attention === 'none'
        ? null
        : new RnnAttentionPlan(gpu, {
            score: o.attention,
            batch: R,
            seqLenQ: Tt,
            seqLenS: Ts,
            queryDim: H,
            keyDim: DH,
            attnDim: o.attnDim,
          });
    this.attention = attn;
    const attnParams: Record<string, BufferView> = {};
    const attnGrads: Record<string, BufferView> = {};
    for (const { name } of attn?.parameterShapes ?? []) {
      attnParams[name] = view(`attention.${name}`);
      attnGrads[name] = gradView(`attention.${name}`);
    }
    const keys: SeqView = { buffer: enc.output, strideBatch: DH, strideTime: R * DH };
    const query: SeqView = { buffer: dec.output, strideBatch: H, strideTime: R * H };
    const ctx = attn ? buffer(N * DH, 's2s.context') : null;
    const ctxView: SeqView | null = ctx && { buffer: ctx, strideBatch: DH, strideTime: R * DH };
    this.alpha = attn ? buffer(R * Tt * Ts, 's2s.alpha') : null;
    const alphaView: SeqView | null = this.alpha && { buffer: this.alpha, strideBatch: Tt * Ts, strideTime: Ts };
    const pre = attn ? buffer(N * H, 's2s.combine') : null;
    const htil = attn ? buffer(N * H, 's2s.htilde') : null;
    const features = htil ?? dec.output;
    const logits = buffer(N * V, 's2s.logits');
    if (attn) take(F, attn.prepareDispatches({ keys, params: attnParams }));

    const Wc = attn ? view('decoder.combine.weight') : null; // [H, D·H + H]: columns [c_t | h_t]
    const bc = attn ? view('decoder.combine.bias') : null;
    const Wo = view('decoder.out.weight'); // [V, H]
    const bo = view('decoder.out.bias');
    if (mode === 'beam') {
      this.beam = {
        score: buffer(R, 'beam.score'),
        finished: buffer(R, 'beam.finished'),
        parents: buffer(Tt * R, 'beam.parents'),
        tokens: buffer(Tt * R, 'beam.tokens'),
        next: buffer(R, 'beam.next'),
      };
    }
    const beam = this.beam;
    const scratch = beam ? buffer(L * R * H, 'beam.gather') : null;
    const candidates = beam ? buffer(beamSearchScratchSize(batch, beamWidth), 'beam.candidates') : null;

    for (let t = 0; t < Tt; t++) {
      const inputTokens = beam ? { buffer: beam.next } : { buffer: this.decIn, offset: t * R };
      take(
        F,
        embeddingDispatch(gpu, {
          tokens: R,
          vocab: V,
          dim: E,
          indices: inputTokens,
          weight: view('decoder.embedding.weight'),
          y: { buffer: dec.input, offset: t * R * E },
          label: `decoder.embedding${t}`,
        }),
      );
      pushAll(F, dec.stepGroups[t]);
      if (attn && ctxView && alphaView && pre && htil && Wc && bc) {
        take(
          F,
          attn.forwardDispatches({
            t0: t,
            steps: 1,
            query,
            keys,
            keyMask: this.keyMask,
            params: attnParams,
            context: ctxView,
            alpha: alphaView,
          }),
        );
        // h̃_t = tanh(W_c[:, :DH]·c_t + W_c[:, DH:]·h_t + b_c)
        gemm(F, {
          M: R,
          N: H,
          K: DH,
          transposeB: true,
          a: { buffer: ctx!, offset: t * R * DH, ld: DH },
          b: { buffer: Wc.buffer, offset: Wc.offset, ld: DH + H },
          c: { buffer: pre, offset: t * R * H, ld: H },
          bias: { buffer: bc.buffer, offset: bc.offset },
          label: `combine${t}.c`,
        });
        gemm(F, {
          M: R,
          N: H,
          K: H,
          transposeB: true,
          a: { buffer: dec.output, offset: t * R * H, ld: H },
          b: { buffer: Wc.buffer, offset: Wc.offset + DH, ld: DH + H },
          c: { buffer: pre, offset: t * R * H, ld: H },
          beta: 1,
          label: `combine${t}.h`,
        });
        take(
          F,
          elementwiseDispatch(gpu, {
            op: 'tanh',
            n: R * H,
            x: { buffer: pre, offset: t * R * H },
            y: { buffer: htil, offset: t * R * H },
            label: `combine${t}.tanh`,
          }),
        );
      }
      gemm(F, {
        M: R,
        N: V,
        K: H,
        transposeB: true,
        a: { buffer: features, offset: t * R * H, ld: H },
        b: { buffer: Wo.buffer, offset: Wo.offset, ld: H },
        c: { buffer: logits, offset: t * R * V, ld: V },
        bias: { buffer: bo.buffer, offset: bo.offset },
        label: `out${t}`,
      });
      if (beam && scratch) {
        take(
          F,
          beamSearchStepDispatches(gpu, {
            batch,
            beamWidth,
            vocab: V,
            step: t,
            eosToken: o.eosToken,
            logits: { buffer: logits, offset: t * R * V, ld: V },
            beamScore: beam.score,
            finished: beam.finished,
            parents: beam.parents,
            tokens: beam.tokens,
            next: beam.next,
            scratch: candidates!,
            label: `beam${t}`,
          }),
        );
        // The decoder state written at step t, reordered by the chosen parents (via a scratch copy).
        const states = [dec.states[t % 2], ...(dec.c ? [dec.c] : [])];
        for (const s of states) {
          take(
            F,
            gatherBeamRowsDispatch(gpu, {
              groups: L,
              batch,
              beamWidth,
              width: H,
              step: t,
              parents: beam.parents,
              src: s,
              dst: scratch,
              label: `beam${t}.gather`,
            }),
          );
          copy(F, L * R * H, { buffer: scratch, offset: 0 }, { buffer: s, offset: 0 }, `beam${t}.reorder`);
        }
      } else {
        take(
          F,
          nextTokenDispatch(gpu, {
            batch: R,
            vocab: V,
            logits: { buffer: logits, offset: t * R * V, ld: V },
            teacher: training ? { buffer: this.teacherIn, offset: (t + 1) * R } : undefined,
            useTeacher: training ? { buffer: this.useTeacher, offset: (t + 1) * R } : undefined,
            next: { buffer: this.decIn, offset: (t + 1) * R },
            pred: { buffer: this.pred, offset: t * R },
            label: `next${t}`,
          }),
        );
      }
    }
    if (!training) return;

    // Loss: mean cross-entropy over the target tokens (padding = ignoreIndex −100).
    const rowLoss = buffer(N, 's2s.rowLoss');
    const dlogits = buffer(N * V, 's2s.dlogits');
    take(
      F,
      crossEntropyDispatches(gpu, {
        rows: N,
        cols: V,
        logits: { buffer: logits },
        targets: { buffer: this.targets },
        rowLoss: { buffer: rowLoss },
        dLogits: { buffer: dlogits },
        label: 's2s.crossEntropy',
      }),
    );
    take(F, reduceSumDispatches(gpu, { x: rowLoss, n: N, out: { buffer: this.loss }, label: 's2s.loss' }));

    const encB = new RecurrentBackward(gpu, model.encoder.config, model.encoder.directionParams, store, enc, {
      inputGrad: true,
    });
    const decB = new RecurrentBackward(gpu, model.decoder.config, model.decoder.directionParams, store, dec, {
      inputGrad: true,
      initialStateGrad: true,
    });
    this.encoderBackward = encB;
    this.decoderBackward = decB;
    const grads = store.grads;
    const g = (name: string) => gradView(name).offset;

    // Output layer: dW_o = dlogitsᵀ·features, db_o = Σ dlogits, d features = dlogits·W_o.
    gemm(Bk, {
      M: V,
      N: H,
      K: N,
      transposeA: true,
      a: { buffer: dlogits, ld: V },
      b: { buffer: features, ld: H },
      c: { buffer: grads, offset: g('decoder.out.weight'), ld: H },
      label: 'out.dW',
    });
    take(
      Bk,
      columnSumDispatch(gpu, {
        rows: N,
        cols: V,
        x: { buffer: dlogits, ld: V },
        y: { buffer: grads, offset: g('decoder.out.bias') },
        label: 'out.db',
      }),
    );
    if (attn && ctx && ctxView && alphaView && pre && htil && Wc) {
      const dhtil = buffer(N * H, 's2s.dhtilde');
      const dctx = buffer(N * DH, 's2s.dcontext');
      gemm(Bk, {
        M: N,
        N: H,
        K: V,
        a: { buffer: dlogits, ld: V },
        b: { buffer: Wo.buffer, offset: Wo.offset, ld: H },
        c: { buffer: dhtil, ld: H },
        label: 'out.dfeatures',
      });
      // d pre = d h̃ ⊙ (1 − h̃²); dW_c = d preᵀ·[c | h]; db_c = Σ d pre; dc = d pre·W_c[:, :DH]; dh = d pre·W_c[:,
      // DH:].
      take(
        Bk,
        elementwiseDispatch(gpu, {
          op: 'tanhGrad',
          n: N * H,
          x: { buffer: htil, offset: 0 },
          b: { buffer: dhtil, offset: 0 },
          y: { buffer: pre, offset: 0 },
          label: 'combine.dtanh',
        }),
      );
      gemm(Bk, {
        M: H,
        N: DH,
        K: N,
        transposeA: true,
        a: { buffer: pre, ld: H },
        b: { buffer: ctx, ld: DH },
        c: { buffer: grads, offset: g('decoder.combine.weight'), ld: DH + H },
        label: 'combine.dW.c',
      });
      gemm(Bk, {
        M: H,
        N: H,
        K: N,
        transposeA: true,
        a: { buffer: pre, ld: H },
        b: { buffer: dec.output, ld: H },
        c: { buffer: grads, offset: g('decoder.combine.weight') + DH, ld: DH + H },
        label: 'combine.dW.h',
      });
      take(
        Bk,
        columnSumDispatch(gpu, {
          rows: N,
          cols: H,
          x: { buffer: pre, ld: H },
          y: { buffer: grads, offset: g('decoder.combine.bias') },
          label: 'combine.db',
        }),
      );
      gemm(Bk, {
        M: N,
        N: DH,
        K: H,
        a: { buffer: pre, ld: H },
        b: { buffer: Wc.buffer, offset: Wc.offset, ld: DH + H },
        c: { buffer: dctx, ld: DH },
        label: 'combine.dc',
      });
      gemm(Bk, {
        M: N,
        N: H,
        K: H,
        a: { buffer: pre, ld: H },
        b: { buffer: Wc.buffer, offset: Wc.offset + DH, ld: DH + H },
        c: { buffer: decB.dout, ld: H },
        label: 'combine.dh',
      });
      take(
        Bk,
        attn.backwardDispatches({
          query,
          keys,
          keyMask: this.keyMask,
          params: attnParams,
          alpha: alphaView,
          dContext: { buffer: dctx, strideBatch: DH, strideTime: R * DH },
          dQuery: { buffer: decB.dout, strideBatch: H, strideTime: R * H, accumulate: true },
          dKeys: { buffer: encB.dout, strideBatch: DH, strideTime: R * DH },
          grads: attnGrads,
        }),
      );
    } else {
      gemm(Bk, {
        M: N,
        N: H,
        K: V,
        a: { buffer: dlogits, ld: V },
        b: { buffer: Wo.buffer, offset: Wo.offset, ld: H },
        c: { buffer: decB.dout, ld: H },
        label: 'out.dh',
      });
    }
    pushAll(Bk, decB.dispatches);
    take(
      Bk,
      embeddingBackwardDispatch(gpu, {
        tokens: N,
        vocab: V,
        dim: E,
        indices: { buffer: this.decIn },
        dY: { buffer: decB.dinput! },
        dW: gradView('decoder.embedding.weight'),
        paddingIdx: o.padToken,
        label: 'decoder.embedding.backward',
      }),
    );
    // Bridge backward: every direction of encoder layer l receives decoder layer l's dh0 (dc0).
    for (let l = 0; l < L; l++) {
      for (let d = 0; d < D; d++) {
        copy(
          Bk,
          layerState,
          { buffer: decB.dh0!, offset: l * layerState },
          { buffer: encB.dhN, offset: (l * D + d) * layerState },
          `bridge.dh${l}.${d}`,
        );
        if (o.cell === 'lstm')
          copy(
            Bk,
            layerState,
            { buffer: decB.carry!, offset: l * layerState },
            { buffer: encB.carry!, offset: (l * D + d) * layerState },
            `bridge.dc${l}.${d}`,
          );
      }
    }
    pushAll(Bk, encB.dispatches);
    take(
      Bk,
      embeddingBackwardDispatch(gpu, {
        tokens: Ts * R,
        vocab: o.srcVocab,
        dim: E,
        indices: { buffer: this.srcTokens },
        dY: { buffer: encB.dinput! },
        dW: gradView('encoder.embedding.weight'),
        paddingIdx: o.padToken,
        label: 'encoder.embedding.backward',
      }),
    );
  }

  /**
   * Encodes one run: zero initial encoder state and (with `withBackward`) zeroed upstream gradients, then one compute
   * pass.
   */
  encode(encoder: GPUCommandEncoder, dispatches: readonly Dispatch[], withBackward: boolean): void {
    this.encoderPlan.encodeInitialState(encoder, null, null);
    if (withBackward && this.encoderBackward && this.decoderBackward) {
      this.decoderBackward.encodeInit(encoder);
      this.encoderBackward.encodeInit(encoder);
      // Without attention nothing writes the encoder's output gradient: it must be zero.
      encoder.clearBuffer(this.encoderBackward.dout);
    }
    const pass = encoder.beginComputePass({ label: `seq2seq.${this.mode}` });
    encodeDispatches(pass, dispatches);
    pass.end();
  }

  destroy(): void {
    this.encoderPlan.destroy();
    this.decoderPlan.destroy();
    this.encoderBackward?.destroy();
    this.decoderBackward?.destroy();
    this.attention?.destroy();
    for (const b of this.owned.splice(0)) this.gpu.pool.release(b);
  }
}
