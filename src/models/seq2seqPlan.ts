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
// Built as a graph (src/graph/): the encoder is the encoder layer's traced forward (embedding
// op + the recurrent op over the packed sources), the bridge one op per state, the decoder loop
// one node (its steps interleave the decoder cell, attention, the output layer and the choice of
// the next input, so they are recorded here as a unit) and the loss the fused cross-entropy
// node; autodiff appends the backward (decoder node → bridge → encoder BPTT → embedding).
//
// Luong et al. 2015 ("global attention"): the decoder state h_t attends over the encoder outputs
// h̄_s, c_t = Σ_s α_ts h̄_s, and h̃_t = tanh(W_c [c_t; h_t] + b_c) feeds the output layer. Without
// attention the output layer reads h_t. Everything is time-major ([step, row, ·]); decoder rows of
// step t are contiguous, so every per-step GEMM is a slice. Nothing is allocated per step or run.
import type { Gpu } from '../gpu/device.js';
import type { Dispatch } from '../gpu/dispatch.js';
import { TENSOR_USAGE } from '../gpu/flags.js';
import { gemmDispatches, type GemmArgs } from '../kernels/matmul.js';
import { elementwiseDispatch } from '../kernels/elementwise.js';
import { columnSumDispatch } from '../kernels/columnSum.js';
import { embeddingBackwardDispatch, embeddingDispatch } from '../kernels/embedding.js';
import { defaultStepTile, stepUnitThreads } from '../kernels/cellStep.js';
import { RnnAttentionPlan, type SeqView } from '../kernels/rnnAttention.js';
import {
  nextTokenDispatch,
  beamSearchStepDispatches,
  beamSearchScratchSize,
  gatherBeamRowsDispatch,
} from '../kernels/decode.js';
import { RecurrentPlan } from '../graph/recurrentPlan.js';
import { checkRecurrentPlanLimits } from '../graph/recurrentLimits.js';
import { backwardQuad, backwardSharedGates } from '../kernels/cellStepBackward.js';
import { checkBindingSizes, checkWorkgroups } from '../gpu/limits.js';
import { RecurrentBackward } from '../graph/recurrentBackward.js';
import type { BufferRef, Graph, Value } from '../graph/graph.js';
import type { GraphPlan } from '../graph/plan.js';
import { recordForward, recordStep } from '../graph/recordStep.js';
import { owned, record } from '../graph/record.js';
import { embeddingValue } from '../graph/ops/embedding.js';
import { lossValue } from '../graph/ops/loss.js';
import { ShapeError } from '../util/errors.js';
import type { Seq2SeqConfig } from './seq2seqOptions.js';
import type { RecurrentLayer } from '../nn/recurrent.js';
import type { BufferView, ParameterStore } from '../io/parameters.js';
import { pushAll } from '../util/arrays.js';

/** What a plan reads from its Seq2Seq model (the model passes itself). */
export interface Seq2SeqPlanModel {
  readonly options: Readonly<Seq2SeqConfig>;
  readonly store: ParameterStore;
  readonly encoder: RecurrentLayer;
  readonly decoder: RecurrentLayer;
}

export type Seq2SeqMode = 'train' | 'greedy' | 'beam';

const whole = (buffer: GPUBuffer): BufferRef => ({ buffer, offset: 0 });

export class Seq2SeqPlan {
  /** The recorded graph: forward (with the loss in train mode) and, in train mode, the backward. */
  readonly plan: GraphPlan;
  /** Dispatches of the forward (through the loss in train mode): the start of the plan's list. */
  readonly forwardDispatches: number;
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
  /** The per-row source lengths the encoder runs over (host data of every replay). */
  private readonly lengths: Int32Array;
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
    const Ts = srcLen;
    const Tt = tgtLen;
    const R = mode === 'beam' ? batch * beamWidth : batch;
    this.rows = R;
    const N = Tt * R;
    const training = mode === 'train';
    // Before anything is allocated: the plan's buffers (and its recurrent plans') within the device's limits.
    const where = `${entry}: ${training ? 'target length' : 'maxLen'} ${Tt} × ${R} rows`;
    const A = o.attention === 'none' ? 0 : Math.max(o.attnDim, H);
    const V = o.tgtVocab;
    const DH = D * H;
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
    if (training) {
      const decoder = model.decoder.config;
      const at = `${where}: the decoder`;
      backwardSharedGates(gpu, decoder.cell, backwardQuad(gpu, decoder, at), at);
    }
    const buffer = (elements: number, label: string) => {
      const b = gpu.pool.acquire(Math.max(1, elements) * 4, TENSOR_USAGE, label);
      this.owned.push(b);
      return b;
    };
    this.keyMask = buffer(R * Ts, 's2s.keyMask');
    this.decIn = buffer((Tt + 1) * R, 's2s.decIn');
    this.teacherIn = buffer((Tt + 1) * R, 's2s.teacherIn');
    this.useTeacher = buffer((Tt + 1) * R, 's2s.useTeacher');
    this.pred = buffer(N, 's2s.pred');
    this.alpha = o.attention === 'none' ? null : buffer(R * Tt * Ts, 's2s.alpha');
    if (mode === 'beam') {
      this.beam = {
        score: buffer(R, 'beam.score'),
        finished: buffer(R, 'beam.finished'),
        parents: buffer(Tt * R, 'beam.parents'),
        tokens: buffer(Tt * R, 'beam.tokens'),
        next: buffer(R, 'beam.next'),
      };
    }
    this.lengths = new Int32Array(R).fill(Ts);
    let src: Value,
      targets: Value | null = null,
      loss: Value | null = null;
    const body = (g: Graph): Value | null => {
      src = g.input([Ts, R], 'i32', 'srcTokens');
      g.hostInputs.push(this.lengths);
      const param = (name: string) =>
        g.parameter(
          name,
          store.slot(name).shape,
          () => store.view(name),
          () => store.gradView(name),
        );
      // Encoder over the packed sources.
      const x = embeddingValue(src, param('encoder.embedding.weight'), o.padToken, 'encoder.embedding');
      const enc = model.encoder.forward(x.tensor, { lengths: this.lengths });
      const keys = g.of(where, 'encoder output', enc.output);
      const decoder = new DecoderLoop(gpu, model, this, { Ts, Tt, R, training, where }, buffer);
      // Bridge: decoder h0 (c0) of layer l = the encoder's final state of layer l, summed over directions.
      const h0 = bridgeValue(g.of(where, 'encoder hN', enc.hN), L, D, 'bridge.h', () => whole(decoder.plan.h0));
      const c0 =
        enc.cN && decoder.plan.c
          ? bridgeValue(g.of(where, 'encoder cN', enc.cN), L, D, 'bridge.c', () => whole(decoder.plan.c!))
          : null;
      const logits = decoder.record(h0, c0, keys, (name) => param(name));
      if (!training) return null;
      targets = g.input([N], 'i32', 'targets');
      // Mean cross-entropy over the target tokens (padding = ignoreIndex −100).
      return lossValue('crossEntropy', logits, targets, -100);
    };
    if (training) {
      const r = recordStep(gpu, where, true, (g) => ({ loss: body(g)! }));
      this.plan = r.plan;
      loss = r.loss;
    } else {
      this.plan = recordForward(gpu, where, (g) => void body(g));
    }
    const planned = (v: Value) => {
      const r = this.plan.view(v);
      if (r.offset !== 0) throw new ShapeError(`${where}: ${v.describe()} is not at the start of its buffer`);
      return r.buffer;
    };
    this.srcTokens = planned(src!);
    this.targets = targets ? planned(targets) : buffer(1, 's2s.noTargets');
    this.loss = loss ? planned(loss) : buffer(1, 's2s.noLoss');
    this.forwardDispatches = loss ? this.plan.dispatchesThrough(loss.producer!) : this.plan.dispatches.length;
  }

  /** The forward (through the loss in train mode). */
  get forward(): readonly Dispatch[] {
    return this.plan.dispatches.slice(0, this.forwardDispatches);
  }

  /** Train mode: everything after the loss, down to both embeddings' gradients. */
  get backward(): readonly Dispatch[] {
    return this.plan.dispatches.slice(this.forwardDispatches);
  }

  /** Sets the per-row source lengths of the next runs (checked before anything is written). */
  writeLengths(lengths: ArrayLike<number>): void {
    this.plan.checkHost([lengths]);
    this.plan.writeHost([lengths]);
  }

  /**
   * Encodes one run into one compute pass: the forward (and, with `withBackward`, the backward
   * followed by `extra`: the optimizer update and the W_hh repacks).
   * @returns The dispatches encoded.
   */
  encode(encoder: GPUCommandEncoder, extra: readonly Dispatch[], withBackward: boolean): number {
    return withBackward
      ? this.plan.encode(encoder, [...extra, ...this.plan.afterUpdate])
      : this.plan.encode(encoder, [], this.forwardDispatches);
  }

  destroy(): void {
    this.plan.destroy();
    for (const b of this.owned.splice(0)) this.gpu.pool.release(b);
  }
}

/**
 * The bridge: [L, rows, H] = the encoder's final state [L·D, rows, H] summed over directions (a
 * copy when unidirectional), written straight into the decoder's initial state (`target`).
 * Backward: every direction of encoder layer l receives decoder layer l's gradient.
 */
function bridgeValue(hN: Value, L: number, D: number, op: string, target: () => BufferRef): Value {
  const [, R, H] = hN.shape;
  const layer = R * H;
  const [out] = record({
    op,
    inputs: [hN],
    outputs: [{ shape: [L, R, H] }],
    build: ([hv], [yv], ctx) =>
      D === 1
        ? [elementwiseDispatch(ctx.gpu, { op: 'scale', alpha: 1, n: L * layer, x: hv, y: yv, label: op })]
        : Array.from({ length: L }, (_, l) =>
            elementwiseDispatch(ctx.gpu, {
              op: 'add',
              n: layer,
              x: { buffer: hv.buffer, offset: hv.offset + 2 * l * layer },
              b: { buffer: hv.buffer, offset: hv.offset + (2 * l + 1) * layer },
              y: { buffer: yv.buffer, offset: yv.offset + l * layer },
              label: `${op}${l}`,
            }),
          ),
    backward: ([dy], needs) => {
      if (!dy || !needs[0]) return [null];
      const [dhN] = record({
        op: `${op}.backward`,
        inputs: [dy],
        outputs: [{ shape: hN.shape }],
        build: ([gv], [dv], ctx) =>
          Array.from({ length: L * D }, (_, i) =>
            elementwiseDispatch(ctx.gpu, {
              op: 'scale',
              alpha: 1,
              n: layer,
              x: { buffer: gv.buffer, offset: gv.offset + Math.floor(i / D) * layer },
              y: { buffer: dv.buffer, offset: dv.offset + i * layer },
              label: `${op}.d${Math.floor(i / D)}.${i % D}`,
            }),
          ),
      });
      return [dhN];
    },
  });
  out.fixed = target;
  return out;
}

/** The decoder's steps: its own step-wise recurrent plan, attention, output layer, next input. */
class DecoderLoop {
  readonly plan: RecurrentPlan;
  readonly attn: RnnAttentionPlan | null;

  constructor(
    private readonly gpu: Gpu,
    private readonly model: Seq2SeqPlanModel,
    private readonly s2s: Seq2SeqPlan,
    private readonly dims: { Ts: number; Tt: number; R: number; training: boolean; where: string },
    readonly buffer: (elements: number, label: string) => GPUBuffer,
  ) {
    const o = model.options;
    const H = o.hiddenSize;
    const D = o.bidirectional ? 2 : 1;
    const cell = model.decoder.config.cell;
    const threads = stepUnitThreads(cell, H, false);
    const tile = defaultStepTile(dims.R, gpu.adapterInfo.isFallbackAdapter, threads);
    this.plan = new RecurrentPlan(
      gpu,
      model.decoder.config,
      model.decoder.directionParams,
      dims.Tt,
      dims.R,
      tile,
      dims.training,
      null,
      true,
    );
    try {
      this.attn =
        o.attention === 'none'
          ? null
          : new RnnAttentionPlan(gpu, {
              score: o.attention,
              batch: dims.R,
              seqLenQ: dims.Tt,
              seqLenS: dims.Ts,
              queryDim: H,
              keyDim: D * H,
              attnDim: o.attnDim,
            });
    } catch (e) {
      this.plan.destroy();
      throw e;
    }
  }

  /** The model's sizes both directions of the node use. */
  private sizes() {
    const o = this.model.options;
    const H = o.hiddenSize;
    const D = o.bidirectional ? 2 : 1;
    const N = this.dims.Tt * this.dims.R;
    return { o, store: this.model.store, H, L: o.numLayers, D, DH: D * H, E: o.embeddingDim, V: o.tgtVocab, N };
  }

  /**
   * Records the decoder node: `h0`/`c0` are the bridge's outputs (living in the decoder plan's
   * state buffers), `keys` the encoder outputs; returns the logits [tgtLen·rows, tgtVocab].
   */
  record(h0: Value, c0: Value | null, keys: Value, param: (name: string) => Value): Value {
    const { gpu, model, s2s, plan: dec, attn, buffer } = this;
    const { o, store, H, L, DH, E, V, N } = this.sizes();
    const { Ts, Tt, R, training } = this.dims;
    const { decIn, keyMask, teacherIn, useTeacher, pred } = s2s;
    const beam = s2s.beam;
    const batch = s2s.batch;
    const beamWidth = s2s.beamWidth;
    const paramNames = store.names.filter((n) => n.startsWith('decoder.') || n.startsWith('attention.'));
    const params = paramNames.map(param);
    const view = (name: string) => store.view(name);
    const gradView = (name: string) => store.gradView(name);
    const attnParams: Record<string, BufferView> = {};
    const attnGrads: Record<string, BufferView> = {};
    for (const { name } of attn?.parameterShapes ?? []) {
      attnParams[name] = view(`attention.${name}`);
      attnGrads[name] = gradView(`attention.${name}`);
    }
    const query: SeqView = { buffer: dec.output, strideBatch: H, strideTime: R * H };
    const ctx = attn ? buffer(N * DH, 's2s.context') : null;
    const ctxView: SeqView | null = ctx && { buffer: ctx, strideBatch: DH, strideTime: R * DH };
    const alphaView: SeqView | null = s2s.alpha && { buffer: s2s.alpha, strideBatch: Tt * Ts, strideTime: Ts };
    const pre = attn ? buffer(N * H, 's2s.combine') : null;
    const htil = attn ? buffer(N * H, 's2s.htilde') : null;
    const features = htil ?? dec.output;
    const Wc = attn ? view('decoder.combine.weight') : null; // [H, D·H + H]: columns [c_t | h_t]
    const bc = attn ? view('decoder.combine.bias') : null;
    const Wo = view('decoder.out.weight'); // [V, H]
    const bo = view('decoder.out.bias');
    const scratch = beam ? buffer(L * R * H, 'beam.gather') : null;
    const candidates = beam ? buffer(beamSearchScratchSize(batch, beamWidth), 'beam.candidates') : null;
    const inputs = [h0, ...(c0 ? [c0] : []), keys, ...params];
    const [logitsValue] = record({
      op: 'decoder',
      inputs,
      outputs: [{ shape: [N, V] }],
      build: (ins, [lv], planCtx) => {
        const F: Dispatch[] = [];
        const take = (list: Dispatch[], ds: Dispatch | Dispatch[]) => pushAll(list, Array.isArray(ds) ? ds : [ds]);
        const gemm = (list: Dispatch[], args: GemmArgs) => take(list, gemmDispatches(gpu, args));
        const copy = (
          list: Dispatch[],
          n: number,
          x: { buffer: GPUBuffer; offset: number },
          y: { buffer: GPUBuffer; offset: number },
          label: string,
        ) => take(list, elementwiseDispatch(gpu, { op: 'scale', alpha: 1, n, x, y, label }));
        const kv = ins[c0 ? 2 : 1];
        const keys: SeqView = { buffer: kv.buffer, strideBatch: DH, strideTime: R * DH };
        if (kv.offset !== 0 || lv.offset !== 0)
          throw new ShapeError(`decoder: keys and logits must start their buffers`);
        const logits = lv.buffer;
        if (attn) take(F, attn.prepareDispatches({ keys, params: attnParams }));
        for (let t = 0; t < Tt; t++) {
          const inputTokens = beam ? { buffer: beam.next } : { buffer: decIn, offset: t * R };
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
                keyMask: keyMask,
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
                teacher: training ? { buffer: teacherIn, offset: (t + 1) * R } : undefined,
                useTeacher: training ? { buffer: useTeacher, offset: (t + 1) * R } : undefined,
                next: { buffer: decIn, offset: (t + 1) * R },
                pred: { buffer: pred, offset: t * R },
                label: `next${t}`,
              }),
            );
          }
        }
        return owned(planCtx, F);
      },
      backward: training
        ? (grads, needs) =>
            this.backward(grads, needs, inputs, params, {
              c0,
              ctx,
              ctxView,
              alphaView,
              pre,
              htil,
              features,
              Wc,
              Wo,
              attnParams,
              attnGrads,
              query,
            })
        : undefined,
      hooks: {
        // The decoder's W_hh repack after the optimizer (the encoder's comes from its own node).
        afterUpdate: () => (training ? model.decoder.repackDispatches() : []),
        destroy: () => (dec.destroy(), attn?.destroy()),
      },
    });
    return logitsValue;
  }

  /** The decoder node's backward: output layer, combine, attention, decoder BPTT, decoder embedding. */
  private backward(
    grads: readonly (Value | null)[],
    needs: readonly boolean[],
    inputs: readonly Value[],
    params: readonly Value[],
    f: {
      c0: Value | null;
      ctx: GPUBuffer | null;
      ctxView: SeqView | null;
      alphaView: SeqView | null;
      pre: GPUBuffer | null;
      htil: GPUBuffer | null;
      features: GPUBuffer;
      Wc: BufferView | null;
      Wo: BufferView;
      attnParams: Record<string, BufferView>;
      attnGrads: Record<string, BufferView>;
      query: SeqView;
    },
  ): (Value | null)[] {
    const [dLogits] = grads;
    const out: (Value | null)[] = inputs.map(() => null);
    if (!dLogits) return out;
    const { gpu, model, s2s, plan: dec, attn, buffer } = this;
    const { o, store, H, DH, E, V, N } = this.sizes();
    const { R } = this.dims;
    const keyMask = s2s.keyMask;
    const { c0, ctx, ctxView, alphaView, pre, htil, features, Wc, Wo, attnParams, attnGrads, query } = f;
    const decB = new RecurrentBackward(gpu, model.decoder.config, model.decoder.directionParams, store, dec, {
      inputGrad: true,
      initialStateGrad: true,
    });
    const gradView = (name: string) => store.gradView(name);
    const g = (name: string) => gradView(name).offset;
    // Outputs: dh0 (dc0) — the bridge's gradient, in the decoder backward's buffers —, the
    // encoder outputs' gradient (attention only) and every decoder-side parameter's gradient.
    const keysIndex = c0 ? 2 : 1;
    const dKeysNeeded = needs[keysIndex] && attn !== null;
    const result = record({
      op: 'decoder.backward',
      inputs: [dLogits, ...inputs],
      outputs: [
        { shape: inputs[0].shape },
        ...(c0 ? [{ shape: c0.shape }] : []),
        ...(dKeysNeeded ? [{ shape: inputs[keysIndex].shape }] : []),
        ...params.map((p) => ({ shape: p.shape })),
      ],
      build: ([dlv], outs, planCtx) => {
        const Bk: Dispatch[] = [];
        const take = (list: Dispatch[], ds: Dispatch | Dispatch[]) => pushAll(list, Array.isArray(ds) ? ds : [ds]);
        const gemm = (list: Dispatch[], args: GemmArgs) => take(list, gemmDispatches(gpu, args));
        if (dlv.offset !== 0) throw new ShapeError('decoder.backward: dlogits must start its buffer');
        const dlogits = dlv.buffer;
        const grads = store.grads;
        const keysView = planCtx.view(inputs[keysIndex]);
        const keys: SeqView = { buffer: keysView.buffer, strideBatch: DH, strideTime: R * DH };
        const dKeysBuf = dKeysNeeded ? outs[c0 ? 2 : 1].buffer : null;
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
          // d pre = d h̃ ⊙ (1 − h̃²); dW_c = d preᵀ·[c | h]; db_c = Σ d pre;
          // dc = d pre·W_c[:, :DH]; dh = d pre·W_c[:, DH:].
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
              keyMask: keyMask,
              params: attnParams,
              alpha: alphaView,
              dContext: { buffer: dctx, strideBatch: DH, strideTime: R * DH },
              dQuery: { buffer: decB.dout, strideBatch: H, strideTime: R * H, accumulate: true },
              dKeys: { buffer: dKeysBuf!, strideBatch: DH, strideTime: R * DH },
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
            indices: { buffer: s2s.decIn },
            dY: { buffer: decB.dinput! },
            dW: gradView('decoder.embedding.weight'),
            paddingIdx: o.padToken,
            label: 'decoder.embedding.backward',
          }),
        );
        return owned(planCtx, Bk);
      },
      hooks: {
        encodeBefore: (encoder) => decB.encodeInit(encoder),
        destroy: () => decB.destroy(),
      },
    });
    let k = 0;
    const dh0 = result[k++];
    dh0.fixed = () => whole(decB.dh0!);
    out[0] = dh0;
    if (c0) {
      const dc0 = result[k++];
      dc0.fixed = () => whole(decB.carry!);
      out[1] = dc0;
    }
    if (dKeysNeeded) out[keysIndex] = result[k++];
    params.forEach((p, i) => {
      const dp = result[k + i];
      dp.fixed = p.param!.grad;
      out[keysIndex + 1 + i] = dp;
    });
    return out;
  }
}
