// A traced graph turned into something to replay: every value gets a buffer (intermediates
// share buffers by lifetime: a buffer is free again after the last node that reads its value),
// every node builds its dispatches once, and a replay encodes the list into ONE compute pass.
//
//   lifetime of v = [index of its producer, index of its last reader] (pinned: to the end)
//   allocation: walk the nodes in order; before node i take buffers for its outputs (the
//   smallest free one that fits, else a new one); after node i free the values it read last.
import type { Gpu } from '../gpu/device.js';
import { encodeDispatches, type Dispatch } from '../gpu/dispatch.js';
import { ArgumentError } from '../util/errors.js';
import { TENSOR_USAGE } from '../gpu/flags.js';
import { BufferPool } from '../gpu/pool.js';
import type { BufferRef, BuildContext, Graph, Node, ReplayInfo, Value } from './graph.js';

/** Counts of a plan: deterministic for a graph. */
export interface PlanStats {
  /** Nodes recorded (forward, loss, backward). */
  nodes: number;
  /** Dispatches of one replay (without the optimizer's). */
  dispatches: number;
  /** Pool buffers the plan holds for intermediates (after reuse by lifetime). */
  buffers: number;
  /** Intermediate values that got a buffer: `buffers` < this when lifetimes let them share. */
  planned: number;
}

export class GraphPlan {
  /** Every dispatch of one replay, in node order. */
  readonly dispatches: Dispatch[] = [];
  /** Dispatches to run after the optimizer's (recurrent W_hh repacks). */
  readonly afterUpdate: Dispatch[] = [];
  readonly stats: PlanStats;
  /** Dispatches of the plan up to and including each node (in node order). */
  private readonly nodeEnds = new Map<Node, number>();
  private readonly refs = new Map<Value, BufferRef>();
  private readonly owned: GPUBuffer[] = [];
  private readonly intermediates: GPUBuffer[] = [];
  private readonly ctx: BuildContext;
  private destroyed = false;

  constructor(
    readonly gpu: Gpu,
    readonly graph: Graph,
  ) {
    this.ctx = { gpu, view: (v) => this.view(v), own: (bs) => this.owned.push(...bs) };
    try {
      const planned = this.allocate();
      for (const node of graph.nodes) {
        for (const d of node.build(this.ctx)) this.dispatches.push(d);
        this.nodeEnds.set(node, this.dispatches.length);
        for (const d of node.afterUpdate?.() ?? []) this.afterUpdate.push(d);
      }
      this.stats = {
        nodes: graph.nodes.length,
        dispatches: this.dispatches.length,
        buffers: this.intermediates.length,
        planned,
      };
    } catch (e) {
      this.destroy();
      throw e;
    }
  }

  /** The planned place of a value. */
  view(v: Value): BufferRef {
    const r = this.refs.get(v);
    if (r) return r;
    if (v.fixed) {
      const f = v.fixed();
      this.refs.set(v, f);
      return f;
    }
    if (v.alias) {
      const base = this.view(v.alias.of);
      const a = { buffer: base.buffer, offset: base.offset + v.alias.offset };
      this.refs.set(v, a);
      return a;
    }
    throw new ArgumentError(
      `${this.graph.where}: value ${v.describe()} has no buffer (it is read before any op writes it)`,
    );
  }

  /** Root of an alias chain. */
  private static root(v: Value): Value {
    while (v.alias) v = v.alias.of;
    return v;
  }

  /** Gives every intermediate a pool buffer, reused by lifetime; returns how many values were planned. */
  private allocate(): number {
    const nodes = this.graph.nodes;
    const end = nodes.length;
    const last = new Map<Value, number>();
    const needsBuffer = (v: Value) => !v.fixed && !v.alias;
    // Graph inputs live the whole replay (the caller's data is copied in before the pass).
    for (const v of this.graph.inputs) last.set(v, end);
    nodes.forEach((n, i) => {
      for (const v of n.inputs) {
        const r = GraphPlan.root(v);
        last.set(r, Math.max(last.get(r) ?? -1, i));
      }
      for (const v of n.outputs) {
        const r = GraphPlan.root(v);
        if (v.pinned || r.pinned) last.set(r, end);
        else last.set(r, Math.max(last.get(r) ?? -1, i));
      }
    });
    for (const v of this.graph.values) if (v.pinned) last.set(GraphPlan.root(v), end);
    const free: GPUBuffer[] = [];
    const take = (v: Value) => {
      const bytes = BufferPool.roundSize(Math.max(v.size, 1) * 4);
      let best = -1;
      for (let k = 0; k < free.length; k++)
        if (free[k].size >= bytes && (best < 0 || free[k].size < free[best].size)) best = k;
      let buffer: GPUBuffer;
      if (best >= 0) buffer = free.splice(best, 1)[0];
      else {
        buffer = this.gpu.pool.acquire(bytes, TENSOR_USAGE, `graph.${v.op}`);
        this.intermediates.push(buffer);
      }
      this.refs.set(v, { buffer, offset: 0 });
    };
    let planned = 0;
    for (const v of this.graph.inputs) if (needsBuffer(v)) (take(v), planned++);
    const dying = new Map<number, Value[]>();
    for (const [v, i] of last) {
      if (i < end) {
        let l = dying.get(i);
        if (!l) dying.set(i, (l = []));
        l.push(v);
      }
    }
    nodes.forEach((n, i) => {
      for (const v of n.outputs) if (needsBuffer(v) && !this.refs.has(v)) (take(v), planned++);
      for (const v of dying.get(i) ?? []) {
        const r = this.refs.get(v);
        if (r && needsBuffer(v) && !this.graph.inputs.includes(v)) free.push(r.buffer);
      }
    });
    // Values no node produced nor read (an unused input) still get their buffer above.
    return planned;
  }

  /**
   * Checks the host data of a replay (forward's typed-array arguments, in order) against every
   * use, before anything changes.
   */
  checkHost(data: readonly ArrayLike<number>[]): void {
    for (const u of this.graph.hostUses) u.check(u.index < 0 ? u.constant : data[u.index]);
  }

  /** Writes the host data of a replay (after {@link checkHost}). */
  writeHost(data: readonly ArrayLike<number>[]): void {
    for (const u of this.graph.hostUses) u.write(u.index < 0 ? u.constant : data[u.index]);
  }

  /** Per-replay host updates of every node (dropout counters). */
  beforeReplay(info: ReplayInfo): void {
    for (const n of this.graph.nodes) n.beforeReplay?.(info);
  }

  /**
   * Encodes one replay: the nodes' pre-pass commands, then one compute pass with the plan's
   * dispatches followed by `extra` (the optimizer's).
   * @param extra - Dispatches after the plan's (the optimizer update, the W_hh repacks).
   * @param count - Encode only the first `count` of the plan's dispatches (e.g. the forward).
   * @returns The number of dispatches encoded.
   */
  encode(encoder: GPUCommandEncoder, extra: readonly Dispatch[] = [], count = this.dispatches.length): number {
    for (const n of this.graph.nodes) n.encodeBefore?.(encoder, this.ctx);
    const pass = encoder.beginComputePass({ label: `${this.graph.where}.replay` });
    const own = count === this.dispatches.length ? this.dispatches : this.dispatches.slice(0, count);
    encodeDispatches(pass, own);
    encodeDispatches(pass, extra);
    pass.end();
    return own.length + extra.length;
  }

  /**
   * The number of dispatches of the nodes up to and including `node` (e.g. the loss: the forward
   * part of a training plan, which {@link encode} can replay alone).
   */
  dispatchesThrough(node: Node): number {
    const n = this.nodeEnds.get(node);
    if (n === undefined) throw new ArgumentError(`${this.graph.where}: node '${node.op}' is not in this plan`);
    return n;
  }

  /** The nodes, for hooks. */
  get nodes(): readonly Node[] {
    return this.graph.nodes;
  }

  /** Releases every buffer of the plan and what its nodes allocated. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const n of this.graph.nodes) n.destroy?.();
    for (const b of this.owned.splice(0)) this.gpu.pool.release(b);
    for (const b of this.intermediates.splice(0)) this.gpu.pool.release(b);
  }
}
