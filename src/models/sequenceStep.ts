// One recorded training step of a SequenceModel for a (seqLen, batch): its network
// (src/models/sequenceNet.ts) traced with the fused loss and the backward into ONE GraphPlan —
// the same trace, autodiff and buffer planning as any Module under a Trainer (src/graph/):
//   forward:  [embedding] → recurrent stack (activations saved) → head → loss
//   backward: head → BPTT → [embedding scatter-add]
// The model writes the batch into the step's inputs, sets (or clears) the initial state, encodes
// the plan plus its optimizer update into one compute pass and submits once. Evaluation and
// prediction replay the forward part of the same plan with dropout off.
import type { Gpu } from '../gpu/device.js';
import { checkBindingSize, checkWorkgroups } from '../gpu/limits.js';
import type { BufferRef, Value } from '../graph/graph.js';
import { lossValue } from '../graph/ops/loss.js';
import type { GraphPlan } from '../graph/plan.js';
import { recordForward, recordStep } from '../graph/recordStep.js';
import type { SequenceModelConfig } from './sequenceModelOptions.js';
import type { SequenceNet } from './sequenceNet.js';

export class SequenceStep {
  /** The recorded forward, loss and backward. */
  readonly plan: GraphPlan;
  /** Dispatches of the forward through the loss (the start of the plan's list). */
  readonly forwardDispatches: number;
  /** i32 tokens [seqLen·batch] or f32 inputs [seqLen·batch·inputSize]. */
  readonly inputs: BufferRef;
  /** i32 class targets or f32 regression targets, one row per logits row. */
  readonly targets: BufferRef;
  /** [rows, outputSize]: rows = seqLen·batch (many-to-many) or batch (many-to-one). */
  readonly logits: BufferRef;
  /** The mean loss of the last step (1 f32). */
  readonly loss: BufferRef;
  /** Initial state h0 (c0: LSTM) [L·D, batch, H], written or cleared before each run. */
  readonly h0: BufferRef;
  readonly c0: BufferRef | null;
  /** Final state hN (cN: LSTM) after each run. */
  readonly hN: BufferRef;
  readonly cN: BufferRef | null;
  /** Bytes of one state tensor. */
  readonly stateBytes: number;
  readonly logitRows: number;

  /**
   * Records the step; its plan owns every buffer and releases them if recording throws.
   * @param where - The public entry point, named in limit errors.
   */
  constructor(
    gpu: Gpu,
    net: SequenceNet,
    o: Readonly<SequenceModelConfig>,
    readonly seqLen: number,
    readonly batch: number,
    where = 'SequenceModel',
  ) {
    const T = seqLen;
    const B = batch;
    const out = o.outputSize;
    const manyToOne = o.mode === 'manyToOne';
    const rows = manyToOne ? B : T * B;
    // Before anything is allocated (the recurrent plan checks its own buffers): the head's buffers
    // and grids within the device's limits.
    const limitWhere = `${where}: seqLen ${T} × batch ${B}`;
    checkBindingSize(
      gpu,
      limitWhere,
      `the logits buffer [${manyToOne ? 'batch' : 'seqLen·batch'}, outputSize ${out}]`,
      rows * out,
    );
    checkWorkgroups(
      gpu,
      limitWhere,
      `the head's bias gradient (32 of outputSize ${out} per workgroup)`,
      Math.ceil(out / 32),
    );
    const stateShape = [o.numLayers * (o.bidirectional ? 2 : 1), B, o.hiddenSize];
    let values: Record<'x' | 'target' | 'h0' | 'logits' | 'hN', Value> & { c0: Value | null; cN: Value | null };
    const { plan, loss } = recordStep(gpu, where, true, (g) => {
      const x = o.vocabSize ? g.input([T, B], 'i32', 'inputs') : g.input([T, B, o.inputSize], 'f32', 'inputs');
      const h0 = g.input(stateShape, 'f32', 'h0');
      const c0 = o.cell === 'lstm' ? g.input(stateShape, 'f32', 'c0') : null;
      const r = net.forward(x.tensor, { h0: h0.tensor, c0: c0?.tensor });
      const logits = g.of(where, 'logits', r.logits);
      logits.pinned = true; // predict reads it after the forward
      const target =
        o.loss === 'crossEntropy' ? g.input([rows], 'i32', 'targets') : g.input([rows, out], 'f32', 'targets');
      values = {
        x,
        target,
        h0,
        c0,
        logits,
        hN: g.of(where, 'hN', r.hN),
        cN: r.cN ? g.of(where, 'cN', r.cN) : null,
      };
      return { loss: lossValue(o.loss, logits, target, o.ignoreIndex) };
    });
    this.plan = plan;
    const v = values!;
    const view = (x: Value) => plan.view(x);
    this.inputs = view(v.x);
    this.targets = view(v.target);
    this.logits = view(v.logits);
    this.loss = view(loss);
    this.h0 = view(v.h0);
    this.c0 = v.c0 && view(v.c0);
    this.hN = view(v.hN);
    this.cN = v.cN && view(v.cN);
    this.stateBytes = stateShape.reduce((a, b) => a * b, 4);
    this.logitRows = rows;
    this.forwardDispatches = plan.dispatchesThrough(loss.producer!);
  }

  /** Releases the plan's buffers and what its nodes allocated. */
  destroy(): void {
    this.plan.destroy();
  }
}

/**
 * Step-wise generation: the network traced for one token (seqLen 1, batch 1), forward only. The
 * recurrent state stays on the GPU between tokens: each run reads it from h0/c0 and the model
 * copies hN/cN back there after the pass.
 */
export class SequenceGenerator {
  /** The recorded forward of one token. */
  readonly plan: GraphPlan;
  /** The token id (1 i32) and the logits [outputSize]. */
  readonly token: BufferRef;
  readonly logits: BufferRef;
  /** The state read by a run (h0, c0: LSTM) and written by it (hN, cN). */
  readonly h0: BufferRef;
  readonly c0: BufferRef | null;
  readonly hN: BufferRef;
  readonly cN: BufferRef | null;
  /** Bytes of one state tensor [numLayers, 1, hiddenSize]. */
  readonly stateBytes: number;

  /**
   * Records the one-token forward of a unidirectional token model.
   * @param where - The public entry point, named in errors.
   */
  constructor(gpu: Gpu, net: SequenceNet, o: Readonly<SequenceModelConfig>, where: string) {
    const stateShape = [o.numLayers, 1, o.hiddenSize];
    let v: Record<'token' | 'logits' | 'h0' | 'hN', Value> & { c0: Value | null; cN: Value | null };
    this.plan = recordForward(gpu, where, (g) => {
      const token = g.input([1, 1], 'i32', 'token');
      const h0 = g.input(stateShape, 'f32', 'h0');
      const c0 = o.cell === 'lstm' ? g.input(stateShape, 'f32', 'c0') : null;
      const r = net.forward(token.tensor, { h0: h0.tensor, c0: c0?.tensor });
      const logits = g.of(where, 'logits', r.logits);
      logits.pinned = true;
      v = { token, logits, h0, c0, hN: g.of(where, 'hN', r.hN), cN: r.cN ? g.of(where, 'cN', r.cN) : null };
    });
    const view = (x: Value) => this.plan.view(x);
    this.token = view(v!.token);
    this.logits = view(v!.logits);
    this.h0 = view(v!.h0);
    this.c0 = v!.c0 && view(v!.c0);
    this.hN = view(v!.hN);
    this.cN = v!.cN && view(v!.cN);
    this.stateBytes = stateShape.reduce((a, b) => a * b, 4);
  }

  /**
   * Encodes one token's run: zeros as the state first when `fresh`, then the pass, then the final
   * state copied back to where the next run reads it.
   * @returns The dispatches encoded.
   */
  encode(encoder: GPUCommandEncoder, fresh: boolean): number {
    const states: Array<[BufferRef, BufferRef | null]> = [[this.h0, this.hN]];
    if (this.c0) states.push([this.c0, this.cN]);
    if (fresh) for (const [to] of states) encoder.clearBuffer(to.buffer, to.offset * 4, this.stateBytes);
    const n = this.plan.encode(encoder);
    for (const [to, from] of states)
      if (from) encoder.copyBufferToBuffer(from.buffer, from.offset * 4, to.buffer, to.offset * 4, this.stateBytes);
    return n;
  }

  /** Releases the plan's buffers. */
  destroy(): void {
    this.plan.destroy();
  }
}
