// The traced graph: values (shape, dtype, where they live) and the nodes that produce them.
//
// A traced `forward` calls ops (src/graph/ops/); each op appends ONE node {inputs, outputs,
// build, backward}. Nothing runs while tracing: `build` turns the node into dispatches once the
// plan (src/graph/plan.ts) has given every value a buffer, and `backward` appends the nodes of
// its gradient (src/graph/autodiff.ts). A recurrent layer is one node whose build is the fused
// recurrent plan, not an unrolled loop of small ops.
import type { Gpu } from '../gpu/device.js';
import type { Dispatch } from '../gpu/dispatch.js';
import { ArgumentError, fmtShape } from '../util/errors.js';
import { Tensor, type DType } from '../gpu/tensor.js';

/** Where a value's data lives once planned: a buffer and an element offset. */
export interface BufferRef {
  buffer: GPUBuffer;
  offset: number;
}

/**
 * One tensor of the graph. `fixed` values live in a buffer given up front (parameters, their
 * gradients, a recurrent plan's own buffers); `alias` values are views of another value's buffer
 * (reshape); every other value gets a buffer from the plan, reused by lifetime.
 */
export class Value {
  /** The placeholder tensor user code sees while tracing. */
  readonly tensor: Tensor;
  /** Number of elements. */
  readonly size: number;
  /** Needs a gradient (a parameter, or computed from one). */
  requiresGrad = false;
  /** The node that writes it (null for graph inputs, parameters and other fixed values). */
  producer: Node | null = null;
  /** A buffer given up front, or bound later (see {@link Graph.bindTo}). */
  fixed: (() => BufferRef) | null = null;
  /** A view of `of`'s buffer from element `offset`. */
  alias: { of: Value; offset: number } | null = null;
  /** Kept alive to the end of the plan (outputs, the loss). */
  pinned = false;
  /** Parameter name when it is a parameter (for gradients). */
  param: { name: string; grad: () => BufferRef } | null = null;

  constructor(
    gpu: Gpu,
    readonly id: number,
    readonly shape: readonly number[],
    readonly dtype: DType,
    /** The op that made it, for error messages and labels. */
    readonly op: string,
  ) {
    this.size = shape.reduce((a, b) => a * b, 1);
    this.tensor = Tensor.placeholder(gpu, shape, dtype, this);
  }

  /** `op [shape]`, for messages. */
  describe(): string {
    return `${this.op} ${fmtShape(this.shape)}`;
  }
}

/** What a node's `build` sees: the planned place of each value. */
export interface BuildContext {
  readonly gpu: Gpu;
  /** The buffer and element offset of a value. */
  view(v: Value): BufferRef;
  /** Takes over pool buffers a builder allocated (uniforms, scratch): the plan releases them. */
  own(buffers: readonly GPUBuffer[]): void;
}

/**
 * What an exporter (src/models/onnxExport.ts) needs that the values' shapes do not say: the op's
 * kind ('linear', 'transpose', …; the node's `op` is only a label) and its settings.
 */
export interface OpAttrs {
  readonly kind: string;
  readonly [setting: string]: unknown;
}

/** One recorded op. */
export interface Node {
  /** The op's name ('linear', 'lstm', 'add', …), used in labels and errors. */
  readonly op: string;
  /** The op's kind and settings, for export (absent: not exportable). */
  readonly attrs?: OpAttrs;
  readonly inputs: readonly Value[];
  readonly outputs: readonly Value[];
  /** Dispatches of the op, with every buffer planned. */
  build(ctx: BuildContext): Dispatch[];
  /**
   * Appends the nodes of the gradient: `grads[i]` is dL/d outputs[i] (null: no gradient flows
   * there); returns dL/d inputs[i] for the inputs that need one (null elsewhere).
   */
  backward?(grads: readonly (Value | null)[], needs: readonly boolean[]): (Value | null)[];
  /** Commands encoded before the compute pass of every replay (e.g. a state copy or clear). */
  encodeBefore?(encoder: GPUCommandEncoder, ctx: BuildContext): void;
  /** Per-replay updates on the host (dropout counters), before the submit. */
  beforeReplay?(replay: ReplayInfo): void;
  /** Dispatches to run after the optimizer (e.g. a recurrent layer's W_hh repack). */
  afterUpdate?(): readonly Dispatch[];
  /** Releases what the node allocated while tracing (e.g. a recurrent plan). */
  destroy?(): void;
}

/** What changes between replays of one plan. */
export interface ReplayInfo {
  /** Training steps taken before this one (dropout masks are drawn from it). */
  step: number;
  /** Training (dropout on) or evaluation. */
  training: boolean;
}

/** The trace being recorded, if any (a trace is synchronous: one at a time). */
let current: Graph | null = null;

/** The graph of the trace in progress, or null outside a trace. */
export function activeGraph(): Graph | null {
  return current;
}

/**
 * A traced program: values and nodes in recording order (forward, then loss, then backward).
 */
export class Graph {
  readonly values: Value[] = [];
  readonly nodes: Node[] = [];
  /** Graph inputs in argument order (written or copied in by each replay). */
  readonly inputs: Value[] = [];
  private readonly byTensor = new Map<Tensor, Value>();
  /**
   * Host data among forward's arguments (typed arrays, e.g. per-row `lengths`): the objects the
   * trace saw, in argument order. Their values are not part of the key: each replay hands in the
   * current call's arrays (see {@link useHost}).
   */
  readonly hostInputs: ArrayLike<number>[] = [];
  /** What nodes do with host data at each replay: check (before anything changes), then write. */
  readonly hostUses: Array<{
    index: number;
    constant: ArrayLike<number>;
    check(data: ArrayLike<number>): void;
    write(data: ArrayLike<number>): void;
  }> = [];
  /** Parameters seen, by name (one value per parameter). */
  private readonly params = new Map<string, Value>();

  constructor(
    readonly gpu: Gpu,
    /** Training (dropout on, gradients) or evaluation. */
    readonly training: boolean,
    /** The public entry point, for messages. */
    readonly where: string,
  ) {}

  /** A new value (not yet produced). */
  value(shape: readonly number[], dtype: DType, op: string): Value {
    const v = new Value(this.gpu, this.values.length, shape, dtype, op);
    this.values.push(v);
    this.byTensor.set(v.tensor, v);
    return v;
  }

  /** A graph input of the given shape (its data comes from the caller at every replay). */
  input(shape: readonly number[], dtype: DType, name: string): Value {
    const v = this.value(shape, dtype, name);
    this.inputs.push(v);
    return v;
  }

  /**
   * The value of a parameter (one per name), living in `ref()`, its gradient in `grad()`.
   * @param trainable - False for frozen tensors (no gradient).
   */
  parameter(
    name: string,
    shape: readonly number[],
    ref: () => BufferRef,
    grad: () => BufferRef,
    trainable = true,
  ): Value {
    let v = this.params.get(name);
    if (!v) {
      v = this.value(shape, 'f32', name);
      v.fixed = ref;
      v.requiresGrad = this.training && trainable;
      v.param = { name, grad };
      this.params.set(name, v);
    }
    return v;
  }

  /**
   * A value living in a buffer its caller owns and fills (a constant table, position ids): no
   * producer, no gradient, never planned.
   * @param name - Names the value in labels and errors.
   * @param ref - Where it lives.
   */
  constant(name: string, shape: readonly number[], dtype: DType, ref: () => BufferRef): Value {
    const v = this.value(shape, dtype, name);
    v.fixed = ref;
    return v;
  }

  /**
   * The graph value behind a tensor a traced op received: a placeholder of this trace, or an
   * error naming the op and the argument.
   */
  of(op: string, arg: string, t: unknown): Value {
    if (!(t instanceof Tensor))
      throw new ArgumentError(
        `${op}: argument '${arg}' must be a Tensor, ` +
          `got ${t === null ? 'null' : Array.isArray(t) ? 'an array' : typeof t}`,
      );
    const v = this.byTensor.get(t);
    if (!v) {
      throw new ArgumentError(
        `${op}: argument '${arg}' ${fmtShape(t.shape)} is a tensor from outside this ` +
          `forward (${this.where}); pass it as an argument of forward (or register it as a ` +
          `parameter) so that each replay sees its current values`,
      );
    }
    return v;
  }

  /**
   * Registers a node's use of host data: `data` is one of forward's typed-array arguments (then
   * each replay checks and writes the current call's values) or a constant (written each replay).
   */
  useHost(data: ArrayLike<number>, check: (d: ArrayLike<number>) => void, write: (d: ArrayLike<number>) => void): void {
    check(data);
    this.hostUses.push({ index: this.hostInputs.indexOf(data), constant: data, check, write });
  }

  /** Appends a node and marks its outputs as produced by it (and needing gradients as its inputs do). */
  add(node: Node): Node {
    const needs = this.training && node.inputs.some((v) => v.requiresGrad) && node.backward !== undefined;
    for (const o of node.outputs) {
      o.producer = node;
      o.requiresGrad = needs && o.dtype === 'f32';
    }
    this.nodes.push(node);
    return node;
  }

  /**
   * Runs `fn` with this graph as the active trace (ops record into it). Not re-entrant across
   * graphs: a trace inside a trace is an error.
   */
  trace<T>(fn: () => T): T {
    if (current)
      throw new ArgumentError(
        `${this.where}: a trace is already in progress (${current.where}); forward() ` +
          `must not start another model's step or inference`,
      );
    current = this;
    try {
      return fn();
    } finally {
      current = null;
    }
  }

  /** Releases what the recorded nodes allocated (a trace that failed before becoming a plan). */
  dispose(): void {
    for (const n of this.nodes) n.destroy?.();
  }

  /** Runs `fn` with this graph active again (appending the loss and backward nodes). */
  extend<T>(fn: () => T): T {
    return this.trace(fn);
  }
}
