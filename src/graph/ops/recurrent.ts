// A whole RNN/LSTM/GRU stack as ONE graph node: its build is the layer's fused recurrent plan
// (input GEMMs + one cell-step dispatch per step and layer-direction), its backward the fused
// BPTT plan (src/graph/recurrentBackward.ts) writing the weight gradients straight into their
// slots. Values that the plan reads or writes (input, output, hN, cN, dOutput, …) are bound to
// the plan's own buffers where possible, else copied in one dispatch inside the pass.
import type { Dispatch } from '../../gpu/dispatch.js';
import { ArgumentError, ShapeError, fmtShape } from '../../util/errors.js';
import { elementwiseDispatch } from '../../kernels/elementwise.js';
import type { RecurrentBackward } from '../recurrentBackward.js';
import { checkLengths, type RecurrentPlan } from '../recurrentPlan.js';
import type { BufferRef, BuildContext, Graph, Node, Value } from '../graph.js';
import { graphFor, owned } from '../record.js';

/** What the node needs from a recurrent layer (src/nn/recurrent.ts passes itself). */
export interface RecurrentHost {
  readonly config: {
    readonly cell: 'rnn' | 'lstm' | 'gru';
    readonly inputSize: number;
    readonly hiddenSize: number;
    readonly numLayers: number;
    readonly bidirectional: boolean;
    readonly batchFirst: boolean;
    readonly projSize?: number;
  };
  readonly dropout: { setTraining(training: boolean): void; setStep(counter: number): void } | null;
  createTrainingPlan(
    where: string,
    seqLen: number,
    batch: number,
    opts: { inputGrad?: boolean; initialStateGrad?: boolean; lengths?: boolean },
  ): { forward: RecurrentPlan; backward: RecurrentBackward; destroy(): void };
  createPlan(where: string, seqLen: number, batch: number, lengths?: boolean): RecurrentPlan;
  repackDispatches(): Dispatch[];
}

/** The graph values of a recurrent node's outputs. */
export interface RecurrentValues {
  output: Value;
  hN: Value;
  cN: Value | undefined;
}

/**
 * Binds `v` to a buffer the plan owns when nothing else fixes its place; false: copy it there.
 * `input`: a graph input may be bound too (each replay copies the caller's data straight into the
 * plan's buffer) — only for buffers the plan never writes (its input sequence, not h0/c0, which
 * the steps overwrite).
 */
function bind(graph: Graph, v: Value, target: () => BufferRef, input = false): boolean {
  if (v.fixed || v.alias || v.pinned) return false;
  if (graph.inputs.includes(v) ? !input : !v.producer) return false;
  v.fixed = target;
  return true;
}

const whole = (buffer: GPUBuffer): BufferRef => ({ buffer, offset: 0 });

/** Values copied into the plan's buffers inside the pass: [value, target, elements]. */
type Copies = Array<[Value, () => BufferRef, number]>;

/** One copy dispatch per entry (its uniform owned by the graph plan). */
function copyDispatches(ctx: BuildContext, copies: Copies, label: string): Dispatch[] {
  return owned(
    ctx,
    copies.map(([v, target, n]) =>
      elementwiseDispatch(ctx.gpu, { op: 'scale', n, x: ctx.view(v), y: target(), alpha: 1, label }),
    ),
  );
}

/**
 * Records a recurrent stack over `x`. `params` are the layer's parameter values in the order of
 * `paramNames` (their gradients are written by the fused backward).
 */
export function recurrentValue(
  host: RecurrentHost,
  name: string,
  x: Value,
  params: readonly Value[],
  h0: Value | null,
  c0: Value | null,
  lengths: ArrayLike<number> | null = null,
): RecurrentValues {
  const g = graphFor(name);
  const cfg = host.config;
  const D = cfg.bidirectional ? 2 : 1;
  const H = cfg.hiddenSize;
  // h (h0, hN, each direction's output) has P features: an LSTM's projSize, else H; c keeps H.
  const P = cfg.projSize ? cfg.projSize : H;
  if (x.dtype !== 'f32' || x.shape.length !== 3 || x.shape[2] !== cfg.inputSize) {
    throw new ShapeError(
      `${name}: input has shape ${fmtShape(x.shape)} (${x.dtype}), expected ` +
        `f32 ${cfg.batchFirst ? '[batch, seqLen' : '[seqLen, batch'}, ${cfg.inputSize}] ` +
        `(inputSize)`,
    );
  }
  const [T, B] = cfg.batchFirst ? [x.shape[1], x.shape[0]] : [x.shape[0], x.shape[1]];
  const stateShape = [cfg.numLayers * D, B, P];
  const cellShape = [cfg.numLayers * D, B, H];
  for (const [k, s, want] of [
    ['h0', h0, stateShape],
    ['c0', c0, cellShape],
  ] as const) {
    if (s && (s.shape.length !== 3 || s.shape.some((d, i) => d !== want[i]))) {
      throw new ShapeError(
        `${name}: ${k} has shape ${fmtShape(s.shape)}, expected ${fmtShape(want)} ` +
          `[numLayers·numDirections, ` +
          `batch, ${k === 'h0' && cfg.projSize ? 'projSize' : 'hiddenSize'}]`,
      );
    }
  }
  if (c0 && cfg.cell !== 'lstm') throw new ArgumentError(`${name}: c0 is only for LSTM`);
  const training =
    g.training && (x.requiresGrad || params.some((p) => p.requiresGrad) || !!h0?.requiresGrad || !!c0?.requiresGrad);
  const stateGrad = training && (!!h0?.requiresGrad || !!c0?.requiresGrad);
  const where = g.where;
  // Per-row lengths (host data): checked now, before any plan exists; written at every replay.
  const checkRows = (d: ArrayLike<number>) => void checkLengths(`${name}.forward`, d, T, B);
  if (lengths) checkRows(lengths);
  const trainPlan = training
    ? host.createTrainingPlan(where, T, B, {
        inputGrad: x.requiresGrad,
        initialStateGrad: stateGrad,
        lengths: !!lengths,
      })
    : null;
  let fwd: RecurrentPlan;
  try {
    fwd = trainPlan ? trainPlan.forward : host.createPlan(where, T, B, !!lengths);
  } catch (e) {
    trainPlan?.destroy();
    throw e;
  }
  const destroy = () => (trainPlan ? trainPlan.destroy() : fwd.destroy());
  if (lengths) g.useHost(lengths, checkRows, (d) => fwd.writeLengths(d, `${name}.forward`));
  const copies: Copies = [];
  // Graph inputs that cannot be bound are complete before the pass: copied in before it, not by a dispatch.
  const preCopies: Copies = [];
  const feed = (v: Value, target: () => BufferRef, input = false) => {
    if (bind(g, v, target, input)) return;
    (g.inputs.includes(v) ? preCopies : copies).push([v, target, v.size]);
  };
  // The plan never writes its input sequence nor h0 (the steps write the two state buffers);
  // an LSTM's c is updated in place, so c0 is copied.
  feed(x, () => whole(fwd.input), true);
  if (h0) feed(h0, () => whole(fwd.h0), true);
  if (c0) feed(c0, () => whole(fwd.c!));
  const outShape = cfg.batchFirst ? [B, T, D * P] : [T, B, D * P];
  const output = g.value(outShape, 'f32', name);
  output.fixed = () => whole(fwd.output);
  const hN = g.value(stateShape, 'f32', `${name}.hN`);
  hN.fixed = () => whole(fwd.hN);
  const cN = fwd.c ? g.value(cellShape, 'f32', `${name}.cN`) : undefined;
  if (cN) cN.fixed = () => whole(fwd.c!);
  const inputs = [x, ...params, ...(h0 ? [h0] : []), ...(c0 ? [c0] : [])];
  const node: Node = {
    op: name,
    attrs: { kind: 'recurrent', config: cfg, h0: !!h0, c0: !!c0, lengths: !!lengths },
    inputs,
    outputs: cN ? [output, hN, cN] : [output, hN],
    build: (ctx) => [...copyDispatches(ctx, copies, `${name}.copyIn`), ...fwd.dispatches],
    encodeBefore: (encoder, ctx) => {
      if (!h0) encoder.clearBuffer(fwd.h0, 0, fwd.stateBytes);
      if (fwd.c && !c0) encoder.clearBuffer(fwd.c, 0, fwd.cStateBytes);
      for (const [v, target, n] of preCopies) {
        const from = ctx.view(v);
        const to = target();
        encoder.copyBufferToBuffer(from.buffer, from.offset * 4, to.buffer, to.offset * 4, n * 4);
      }
    },
    beforeReplay: (info) => {
      if (trainPlan && host.dropout) {
        host.dropout.setTraining(info.training);
        host.dropout.setStep(info.step % 2 ** 32);
      }
    },
    afterUpdate: () => (params.some((p) => p.requiresGrad) ? host.repackDispatches() : []),
    destroy,
  };
  if (trainPlan)
    node.backward = (grads, needs) =>
      recurrentBackward(g, name, trainPlan.backward, grads, needs, inputs, params, x, h0, c0);
  g.add(node);
  return { output, hN, cN };
}

/** The BPTT node: upstream gradients into the plan's buffers, gradients out of them. */
function recurrentBackward(
  g: Graph,
  name: string,
  bwd: RecurrentBackward,
  grads: readonly (Value | null)[],
  needs: readonly boolean[],
  inputs: readonly Value[],
  params: readonly Value[],
  x: Value,
  h0: Value | null,
  c0: Value | null,
): (Value | null)[] {
  const [dOut, dhN, dcN] = grads;
  const copies: Copies = [];
  const feed = (v: Value | null | undefined, target: () => BufferRef) => {
    if (v && !bind(g, v, target)) copies.push([v, target, v.size]);
  };
  feed(dOut, () => whole(bwd.dout));
  feed(dhN, () => whole(bwd.dhN));
  if (bwd.carry) feed(dcN, () => whole(bwd.carry!));
  const out: (Value | null)[] = inputs.map(() => null);
  const outputs: Value[] = [];
  if (needs[0] && bwd.dinput) {
    const dx = g.value(x.shape, 'f32', `${name}.dInput`);
    dx.fixed = () => whole(bwd.dinput!);
    out[0] = dx;
    outputs.push(dx);
  }
  params.forEach((p, i) => {
    if (!needs[1 + i] || !p.param) return;
    const dp = g.value(p.shape, 'f32', `${p.param.name}.grad`);
    dp.fixed = p.param.grad;
    out[1 + i] = dp;
    outputs.push(dp);
  });
  let k = 1 + params.length;
  if (h0) {
    if (needs[k] && bwd.dh0) {
      const d = g.value(h0.shape, 'f32', `${name}.dh0`);
      d.fixed = () => whole(bwd.dh0!);
      out[k] = d;
      outputs.push(d);
    }
    k++;
  }
  if (c0 && needs[k] && bwd.carry) {
    const d = g.value(c0.shape, 'f32', `${name}.dc0`);
    d.fixed = () => whole(bwd.carry!);
    out[k] = d;
    outputs.push(d);
  }
  const upstream = [dOut, dhN, dcN].filter((v): v is Value => !!v);
  g.add({
    op: `${name}.backward`,
    inputs: [...upstream, ...inputs],
    outputs,
    build: (ctx) => [...copyDispatches(ctx, copies, `${name}.gradIn`), ...bwd.dispatches],
    encodeBefore: (encoder) => {
      encoder.clearBuffer(bwd.dout);
      bwd.encodeInit(encoder);
    },
  });
  return out;
}
