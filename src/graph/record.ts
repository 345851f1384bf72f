// How an op records itself: one call that checks there is a trace, makes the output values and
// appends the node. Ops (src/graph/ops/) are short functions on top of this.
import type { Dispatch } from '../gpu/dispatch.js';
import { ArgumentError } from '../util/errors.js';
import type { DType } from '../gpu/tensor.js';
import {
  activeGraph,
  type BufferRef,
  type BuildContext,
  type Graph,
  type Node,
  type OpAttrs,
  type Value,
} from './graph.js';

/** One recorded op: its inputs, output shapes, dispatch builder and gradient. */
export interface OpSpec {
  op: string;
  inputs: readonly Value[];
  outputs: ReadonlyArray<{ shape: readonly number[]; dtype?: DType }>;
  /** Dispatches, given the planned views of inputs and outputs. */
  build(ins: BufferRef[], outs: BufferRef[], ctx: BuildContext): Dispatch[];
  /** Gradient nodes: dL/d outputs → dL/d inputs (see {@link Node.backward}). */
  backward?(grads: readonly (Value | null)[], needs: readonly boolean[], outs: readonly Value[]): (Value | null)[];
  /** The op's kind and settings for export (see {@link OpAttrs}). */
  attrs?: OpAttrs;
  /** Extra node hooks (encodeBefore, beforeReplay, afterUpdate, destroy). */
  hooks?: Partial<Pick<Node, 'encodeBefore' | 'beforeReplay' | 'afterUpdate' | 'destroy'>>;
}

/** The active graph, or an error naming the op (ops only run inside a trace). */
export function graphFor(op: string): Graph {
  const g = activeGraph();
  if (!g)
    throw new ArgumentError(
      `${op}: graph ops run inside a traced forward (Module.forward, Trainer.step); ` +
        `outside one use the layer's forward`,
    );
  return g;
}

/** Takes over a dispatch list's transient uniforms (the plan owns them) and returns the list. */
export function owned(ctx: BuildContext, ds: readonly Dispatch[]): Dispatch[] {
  const out: Dispatch[] = [];
  for (const d of ds) {
    if (d.transient) ctx.own(d.transient);
    out.push({ ...d, transient: undefined });
  }
  return out;
}

/** Records one op in the active graph and returns its output values. */
export function record(spec: OpSpec): Value[] {
  const g = graphFor(spec.op);
  const outs = spec.outputs.map((o) => g.value(o.shape, o.dtype ?? 'f32', spec.op));
  const node: Node = {
    op: spec.op,
    attrs: spec.attrs,
    inputs: spec.inputs,
    outputs: outs,
    build: (ctx) =>
      owned(
        ctx,
        spec.build(
          spec.inputs.map((v) => ctx.view(v)),
          outs.map((v) => ctx.view(v)),
          ctx,
        ),
      ),
    backward: spec.backward && ((grads, needs) => spec.backward!(grads, needs, outs)),
    ...spec.hooks,
  };
  g.add(node);
  return outs;
}
