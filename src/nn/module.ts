// Module: PyTorch's nn.Module for seqgpu. Children and parameters are found from fields in
// declaration order and named as PyTorch names them (`embed.weight`, `lstm.weight_ih_l0_reverse`,
// `layers.0.linear1.bias`). `forward` is traced, not run: outside a Trainer, a call traces it once
// per key (argument shapes, dtypes, option values, train/eval) into a plan and replays that plan
// as one submit; inside a trace (a parent's forward, a Trainer step) it records its ops.
import type { Gpu } from '../gpu/device.js';
import { ArgumentError, DestroyedError, fmtShape } from '../util/errors.js';
import { activeGraph, Graph, type Value } from '../graph/graph.js';
import { GraphPlan } from '../graph/plan.js';
import type { NamedTensor, StateDict } from '../io/stateDict.js';
import { Tensor } from '../gpu/tensor.js';
import { PlanCache } from '../util/planCache.js';
import { checkLoadStateDict, ParameterStore } from '../io/parameters.js';
import type { ComputedBuffer, StateDictSource, TiedName } from '../io/torchStateDict.js';

/** A module's own parameters: where they live and their local names (`weight`, `bias`, …). */
export interface LocalParameters {
  /** The store holding them (the layer's own, or the model's after a Trainer gathered them). */
  store: ParameterStore;
  /** Prefix of the local names inside `store`. */
  prefix: string;
  /** Local names and shapes, in registration order. */
  names: ReadonlyArray<{ name: string; shape: readonly number[] }>;
}

/** One parameter as `namedParameters()` lists it. */
export interface Parameter {
  /** Full PyTorch-style name, e.g. `lstm.weight_ih_l0`. */
  readonly name: string;
  /** Its shape (PyTorch's). */
  readonly shape: readonly number[];
  /** The module that owns it and its local name there. */
  readonly owner: Module;
  /** Its name inside the owner (`weight`, `bias_ih_l0`, …). */
  readonly localName: string;
  /** Reads the values back. */
  read(): Promise<Float32Array>;
  /** Reads its gradient as left by the last training step (zeros before one). */
  readonly grad: { read(): Promise<Float32Array> };
}

/** Forward arguments with every Tensor replaced by a graph input. */
type Mapped = { args: unknown[]; inputs: Tensor[] };

/** Typed arrays among forward's arguments (host data such as `lengths`), in argument order. */
export function argumentHostData(args: readonly unknown[]): ArrayLike<number>[] {
  const out: ArrayLike<number>[] = [];
  const walk = (a: unknown) => {
    if (ArrayBuffer.isView(a) && !(a instanceof DataView)) out.push(a as unknown as ArrayLike<number>);
    else if (Array.isArray(a)) a.forEach(walk);
    else if (a && typeof a === 'object' && !(a instanceof Tensor) && Object.getPrototypeOf(a) === Object.prototype)
      Object.values(a).forEach(walk);
  };
  args.forEach(walk);
  return out;
}

/** The key of a traced call: tensor shapes and dtypes, option values, train/eval. */
export function callKey(args: readonly unknown[], training: boolean): string {
  // Which arguments are the same tensor is part of the key (one graph input per distinct tensor).
  const ids = new Map<Tensor, number>();
  const enc = (a: unknown): unknown => {
    if (a instanceof Tensor) {
      if (!ids.has(a)) ids.set(a, ids.size);
      return `T${ids.get(a)}${a.dtype}${fmtShape(a.shape)}`;
    }
    if (Array.isArray(a)) return a.map(enc);
    if (a && typeof a === 'object') return Object.fromEntries(Object.entries(a).map(([k, v]) => [k, enc(v)]));
    if (ArrayBuffer.isView(a) && !(a instanceof DataView))
      return `H${a.constructor.name}[${(a as unknown as ArrayLike<number>).length}]`;
    if (typeof a === 'function')
      throw new ArgumentError(
        `forward: a function argument cannot be traced; pass tensors, numbers, strings, booleans or objects of them`,
      );
    return a;
  };
  return JSON.stringify([training, args.map(enc)]);
}

/** Replaces every Tensor in `args` (nested in arrays and objects) with a graph input placeholder. */
export function mapInputs(graph: Graph, args: readonly unknown[], where: string): Mapped {
  const inputs: Tensor[] = [];
  // One graph input per distinct tensor: forward(x, x, x) sees the same placeholder three times
  // (so ops can tell that their operands are one tensor, e.g. self-attention's single GEMM).
  const seen = new Map<Tensor, Tensor>();
  const map = (a: unknown, path: string): unknown => {
    if (a instanceof Tensor) {
      if (a.gpu !== graph.gpu) throw new ArgumentError(`${where}: argument ${path} is a Tensor of another Gpu`);
      if (a.destroyed) throw new ArgumentError(`${where}: argument ${path} was destroyed`);
      const known = seen.get(a);
      if (known) return known;
      inputs.push(a);
      const p = graph.input(a.shape, a.dtype, `input ${path}`).tensor;
      seen.set(a, p);
      return p;
    }
    if (ArrayBuffer.isView(a) && !(a instanceof DataView)) {
      graph.hostInputs.push(a as unknown as ArrayLike<number>);
      return a;
    }
    if (Array.isArray(a)) return a.map((v, i) => map(v, `${path}[${i}]`));
    if (a && typeof a === 'object' && Object.getPrototypeOf(a) === Object.prototype)
      return Object.fromEntries(Object.entries(a).map(([k, v]) => [k, map(v, `${path}.${k}`)]));
    return a;
  };
  return { args: args.map((a, i) => map(a, `${i}`)), inputs };
}

/**
 * The tensors among forward's arguments, in the order {@link mapInputs} makes them graph inputs
 * (what a replay copies in), checked to be live tensors of `gpu`.
 */
export function argumentTensors(gpu: Gpu, args: readonly unknown[], where: string): Tensor[] {
  const out: Tensor[] = [];
  const walk = (a: unknown, path: string) => {
    if (a instanceof Tensor) {
      if (a.gpu !== gpu) throw new ArgumentError(`${where}: argument ${path} is a Tensor of another Gpu`);
      if (a.destroyed) throw new ArgumentError(`${where}: argument ${path} was destroyed`);
      if (!out.includes(a)) out.push(a);
    } else if (Array.isArray(a)) a.forEach((v, i) => walk(v, `${path}[${i}]`));
    else if (a && typeof a === 'object' && Object.getPrototypeOf(a) === Object.prototype)
      for (const [k, v] of Object.entries(a)) walk(v, `${path}.${k}`);
  };
  args.forEach((a, i) => walk(a, `${i}`));
  return out;
}

/** Every placeholder tensor in a forward's result (a Tensor, or arrays/objects of them). */
export function collectOutputs(graph: Graph, out: unknown, where: string): Value[] {
  const values: Value[] = [];
  const walk = (o: unknown) => {
    if (o instanceof Tensor) values.push(graph.of(where, 'result', o));
    else if (Array.isArray(o)) o.forEach(walk);
    else if (o && typeof o === 'object') Object.values(o).forEach(walk);
  };
  walk(out);
  return values;
}

/** A traced forward outside a Trainer: its plan, inputs and outputs. */
class InferencePlan {
  constructor(
    readonly plan: GraphPlan,
    readonly outputs: Value[],
    readonly shape: unknown,
  ) {}
  destroy(): void {
    this.plan.destroy();
  }
}

/**
 * Base class of every layer and model. Subclasses assign child modules to fields in the
 * constructor and write `forward(...)` with ops and child calls; PyTorch names follow.
 * What forward's arguments mean to the trace: a Tensor is a graph input (its shape and dtype are
 * part of the key; the same tensor passed twice is one input); an Int32Array (or other typed
 * array) is host data such as an LSTM's per-row `lengths` (its length is part of the key, its
 * values are checked and written at every call, so one plan serves every batch); numbers,
 * strings, booleans and plain arrays/objects of them are options (their values are the key).
 * @example
 * ```ts
 * class Tagger extends Module {
 *   embed: Embedding; lstm: LSTM; head: Linear;
 *   constructor(gpu: Gpu) {
 *     super(gpu);
 *     this.embed = new Embedding(gpu, { numEmbeddings: 20, embeddingDim: 8 });
 *     this.lstm = new LSTM(gpu, { inputSize: 8, hiddenSize: 12, batchFirst: true, bidirectional: true });
 *     this.head = new Linear(gpu, { inFeatures: 24, outFeatures: 5 });
 *   }
 *   forward(tokens: Tensor): Tensor {
 *     return this.head.forward(this.lstm.forward(this.embed.forward(tokens)).output);
 *   }
 * }
 * ```
 */
export abstract class Module {
  /** True in training mode (dropout on); `train()` / `eval()` set it on the whole tree. */
  training = true;
  private readonly inference = new PlanCache<InferencePlan>();
  private moduleDestroyed = false;
  /** @internal The one store a Trainer gathered the tree's parameters into (owned by this root). */
  gathered: ParameterStore | null = null;

  /**
   * Sets up forward tracing; subclasses then assign their layers to fields.
   * @param gpu - The device every parameter and plan of the module lives on.
   */
  constructor(readonly gpu: Gpu) {
    if (!gpu || typeof (gpu as Gpu).assertUsable !== 'function')
      throw new ArgumentError(
        `${new.target.name}: the first argument must be a Gpu (from requestGpu()), ` +
          `got ${gpu === null ? 'null' : typeof gpu}`,
      );
    const impl = (this as unknown as { forward: (...a: unknown[]) => unknown }).forward;
    Object.defineProperty(this, 'forward', {
      enumerable: false,
      configurable: true,
      writable: true,
      value: (...args: unknown[]) =>
        activeGraph() || this.runsEagerly ? impl.apply(this, args) : this.forwardOutsideTrace(impl, args),
    });
  }

  /**
   * The module's computation, traced into a plan (see the class docs). Override it.
   * @param args - Tensors and option objects.
   */
  abstract forward(...args: never[]): unknown;

  /** @internal True for layers whose forward runs its own plan outside a trace (RNN/LSTM/GRU). */
  protected get runsEagerly(): boolean {
    return false;
  }

  /** @internal The module's own parameters (leaf layers); null for containers. */
  localParameters(): LocalParameters | null {
    return null;
  }

  /** @internal Called after the parameters moved into a shared store (cached views are stale). */
  parametersMoved(): void {
    this.inference.clear();
  }

  /** Child modules by field name, in declaration order (arrays of modules as `name.0`, `name.1`, …). */
  namedChildren(): Array<[string, Module]> {
    const out: Array<[string, Module]> = [];
    for (const [k, v] of Object.entries(this)) {
      if (v instanceof Module) out.push([k, v]);
      else if (Array.isArray(v) && v.length > 0 && v.every((m) => m instanceof Module))
        v.forEach((m, i) => out.push([`${k}.${i}`, m as Module]));
    }
    return out;
  }

  /** Child modules in declaration order. */
  children(): Module[] {
    return this.namedChildren().map(([, m]) => m);
  }

  /**
   * Every module of the tree with its dotted name ('' for this one), depth first.
   * @param prefix - Name of this module (default '').
   */
  namedModules(prefix = ''): Array<[string, Module]> {
    const out: Array<[string, Module]> = [[prefix, this]];
    for (const [k, m] of this.namedChildren()) out.push(...m.namedModules(prefix ? `${prefix}.${k}` : k));
    return out;
  }

  /** Every parameter with its full PyTorch name, in declaration order. */
  namedParameters(): Parameter[] {
    const out: Parameter[] = [];
    const seen = new Set<string>();
    for (const [prefix, m] of this.namedModules()) {
      const local = m.localParameters();
      if (!local) continue;
      for (const { name, shape } of local.names) {
        const key = `${m.id}:${name}`;
        if (seen.has(key)) continue; // a module registered twice is listed once (PyTorch too)
        seen.add(key);
        const full = prefix ? `${prefix}.${name}` : name;
        out.push({
          name: full,
          shape,
          owner: m,
          localName: name,
          read: () => local.store.read(local.prefix + name),
          grad: { read: () => local.store.readGrad(local.prefix + name) },
        });
      }
    }
    return out;
  }

  /** Every parameter, in declaration order. */
  parameters(): Parameter[] {
    return this.namedParameters();
  }

  /**
   * @internal Second names PyTorch's state_dict gives this module's parameters (tied weights), as
   * `[alias, target]` local names (e.g. `['head.weight', 'tok_embed.weight']`). Default none.
   */
  localAliases(): ReadonlyArray<readonly [string, string]> {
    return [];
  }

  /**
   * @internal Tensors a PyTorch twin of this module keeps in its state_dict (register_buffer)
   * that seqgpu computes itself, with local names (e.g. a sinusoid table `pe`). Default none.
   */
  localBuffers(): ReadonlyArray<ComputedBuffer> {
    return [];
  }

  /**
   * @internal Every second name of a tied parameter in the tree, as PyTorch's state_dict lists it: a
   * module's own aliases (a head tied to an embedding) and the parameters of a module registered
   * under two names (the later name; {@link namedParameters} lists the first).
   * @returns Each alias with the parameter's name and shape, depth first.
   */
  tiedParameterNames(): TiedName[] {
    const out: TiedName[] = [];
    const first = new Map<Module, string>();
    const join = (prefix: string, name: string) => (prefix ? `${prefix}.${name}` : name);
    for (const [prefix, m] of this.namedModules()) {
      const local = m.localParameters();
      const p0 = first.get(m);
      if (p0 === undefined) first.set(m, prefix);
      else if (local)
        for (const { name, shape } of local.names)
          out.push({ alias: join(prefix, name), target: join(p0, name), shape });
      for (const [alias, target] of m.localAliases()) {
        const shape = local?.names.find((n) => n.name === target)?.shape ?? m.aliasShape(target);
        out.push({ alias: join(prefix, alias), target: join(p0 ?? prefix, target), shape });
      }
    }
    return out;
  }

  /** The shape of a descendant's parameter by its name relative to this module. */
  private aliasShape(name: string): readonly number[] {
    const p = this.namedParameters().find((q) => q.name === name);
    if (!p) throw new ArgumentError(`${this.constructor.name}: tied name of an unknown parameter '${name}'`);
    return p.shape;
  }

  /**
   * @internal The tensors of the tree a PyTorch state_dict may hold that seqgpu computes (registered
   * buffers such as a sinusoid table `pos_embed.pe`), with full names.
   * @returns Each buffer with its full name, depth first.
   */
  computedBuffers(): ComputedBuffer[] {
    const out: ComputedBuffer[] = [];
    for (const [prefix, m] of this.namedModules())
      for (const b of m.localBuffers()) out.push({ ...b, name: prefix ? `${prefix}.${b.name}` : b.name });
    return out;
  }

  /**
   * The parameters by full name as `{shape, data}` (read back from the GPU), as PyTorch's
   * state_dict lists them: a tied parameter under each of its names (the same values).
   * Buffers seqgpu computes are not listed (PyTorch's `persistent=False`).
   */
  async stateDict(): Promise<Record<string, NamedTensor>> {
    this.assertModuleAlive('stateDict');
    const out: Record<string, NamedTensor> = {};
    // Every readback submitted now, before the first await: a call made after this one (a Trainer
    // step) does not change what it returns.
    const params = this.namedParameters();
    const data = await Promise.all(params.map((p) => p.read()));
    params.forEach((p, i) => (out[p.name] = { shape: [...p.shape], data: data[i] }));
    for (const t of this.tiedParameterNames()) out[t.alias] = out[t.target];
    return out;
  }

  /**
   * Loads parameters by full name: PyTorch's `state_dict()` unchanged, as a dict or as the bytes
   * of the `.safetensors` file `safetensors.torch.save_file` / `save_model` wrote. Every key is
   * checked (present, shape, finite) before anything is written, so a bad dict or file changes
   * nothing. A tied parameter may come under either of its names or both (then equal):
   * `save_model` keeps one name of a tied pair. Buffers the PyTorch twin registered that seqgpu
   * computes (a sinusoid table `pe`) may be present: they are checked against seqgpu's values
   * and not loaded.
   * @param dict - `{name: {shape, data}}`, tensors or nested arrays (PyTorch's state_dict as JSON
   *   or from {@link parseSafetensors}), or a `.safetensors` file's bytes (Uint8Array / ArrayBuffer).
   * @param opts - `strict` (default true): keys that are neither a parameter, a tied name nor a
   *   computed buffer are an error (as PyTorch's); false ignores them. A missing parameter is
   *   always an error.
   * @throws ArgumentError / ShapeError naming the key: missing, wrong shape (with the expected
   *   one), non-finite, unexpected, a tied pair that differs, a buffer that differs from seqgpu's;
   *   or the safetensors file's defect (truncated, bad header).
   * @example
   * ```ts
   * // Python: safetensors.torch.save_model(model, 'model.safetensors')
   * model.loadStateDict(new Uint8Array(await (await fetch('model.safetensors')).arrayBuffer()));
   * ```
   */
  loadStateDict(dict: StateDictSource, opts: { strict?: boolean } = {}): void {
    const where = `${this.constructor.name}.loadStateDict`;
    this.assertModuleAlive('loadStateDict');
    const params = this.namedParameters();
    const values = checkLoadStateDict(
      where,
      dict,
      opts,
      params.map((p) => ({ name: p.name, shape: p.shape })),
      { tied: this.tiedParameterNames(), buffers: this.computedBuffers() },
    );
    const owners = new Set<Module>();
    for (const p of params) {
      const local = p.owner.localParameters()!;
      local.store.write(local.prefix + p.localName, values.get(p.name)!);
      owners.add(p.owner);
    }
    for (const m of owners) m.parametersWritten();
  }

  /**
   * @internal The graph value of one of this module's own parameters in the active trace.
   * @param name - Its local name (`weight`, `bias`, …).
   */
  protected param(name: string): Value {
    const g = activeGraph();
    if (!g) throw new ArgumentError(`${this.constructor.name}: parameters are read inside a traced forward only`);
    const local = this.localParameters();
    if (!local) throw new ArgumentError(`${this.constructor.name} has no parameters`);
    const shape = local.names.find((n) => n.name === name)?.shape;
    if (!shape) throw new ArgumentError(`${this.constructor.name} has no parameter '${name}'`);
    return g.parameter(
      `${this.constructor.name}#${this.id}.${name}`,
      shape,
      () => local.store.view(local.prefix + name),
      () => local.store.gradView(local.prefix + name),
    );
  }

  /**
   * @internal The graph value of one of this module's own parameters, for a parent's op that
   * reads it directly (a head tied to an embedding, a KV-cache decoding step).
   * @param name - Its local name.
   */
  parameterValue(name: string): Value {
    return this.param(name);
  }

  /**
   * @internal The graph value of a tensor argument of a traced forward.
   * @param arg - The argument's name, for errors.
   * @param t - The tensor.
   */
  protected input(arg: string, t: unknown): Value {
    const g = activeGraph();
    if (!g) throw new ArgumentError(`${this.constructor.name}.forward: called outside a trace`);
    return g.of(`${this.constructor.name}.forward`, arg, t);
  }

  /** @internal Called after new parameter values were written (e.g. recurrent layers repack W_hh). */
  parametersWritten(): void {}

  /**
   * Training mode (dropout on) for the whole tree.
   * @param mode - True (default) for training, false for evaluation.
   */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  /** Evaluation mode for the whole tree (dropout off). */
  eval(): this {
    return this.train(false);
  }

  /** Releases every buffer and plan of the tree; later calls throw DestroyedError. */
  destroy(): void {
    for (const [, m] of this.namedModules().reverse()) m.destroyOwn();
  }

  /** @internal Releases this module's own buffers (not its children's). */
  protected destroyOwn(): void {
    if (this.moduleDestroyed) return;
    this.moduleDestroyed = true;
    this.inference.clear();
    this.localParameters()?.store.destroy();
    this.gathered?.destroy();
    this.gathered = null;
  }

  /** @internal Throws DestroyedError after destroy(). */
  assertModuleAlive(what: string): void {
    if (this.moduleDestroyed) throw new DestroyedError(`${this.constructor.name}.${what}: this module was destroyed`);
  }

  private static ids = 0;
  /** @internal A unique id (parameter identity in traces). */
  readonly id = Module.ids++;

  /** Traces `impl` once per key and replays it: one submit, new tensors out. */
  private forwardOutsideTrace(impl: (...a: unknown[]) => unknown, args: unknown[]): unknown {
    const where = `${this.constructor.name}.forward`;
    this.assertModuleAlive('forward');
    this.gpu.assertUsable();
    const key = callKey(args, this.training);
    let inputs: Tensor[] = [];
    const entry = this.inference.get(key, () => {
      const graph = new Graph(this.gpu, false, where);
      let result: unknown;
      let mapped: Mapped;
      let outputs: Value[];
      try {
        mapped = graph.trace(() => {
          const m = mapInputs(graph, args, where);
          result = impl.apply(this, m.args);
          return m;
        });
        outputs = collectOutputs(graph, result, where);
        if (outputs.length === 0) throw new ArgumentError(`${where}: forward returned no tensor`);
      } catch (e) {
        graph.dispose();
        throw e;
      }
      inputs = mapped.inputs;
      for (const o of outputs) o.pinned = true;
      return new InferencePlan(new GraphPlan(this.gpu, graph), outputs, result);
    });
    if (inputs.length === 0) inputs = argumentTensors(this.gpu, args, where);
    const plan = entry.plan;
    const host = argumentHostData(args);
    plan.checkHost(host);
    plan.writeHost(host);
    plan.beforeReplay({ step: 0, training: false });
    const encoder = this.gpu.device.createCommandEncoder({ label: where });
    plan.graph.inputs.forEach((v, i) => {
      const r = plan.view(v);
      encoder.copyBufferToBuffer(inputs[i].buffer, 0, r.buffer, r.offset * 4, v.size * 4);
    });
    const n = plan.encode(encoder);
    const made = new Map<Value, Tensor>();
    for (const o of entry.outputs) {
      if (made.has(o)) continue;
      const t = Tensor.empty(this.gpu, o.shape, o.op, o.dtype);
      const r = plan.view(o);
      encoder.copyBufferToBuffer(r.buffer, r.offset * 4, t.buffer, 0, o.size * 4);
      made.set(o, t);
    }
    this.gpu.submit(encoder, n);
    const byTensor = new Map(entry.outputs.map((o) => [o.tensor, made.get(o)!]));
    const rebuild = (o: unknown): unknown => {
      if (o instanceof Tensor) return byTensor.get(o);
      if (Array.isArray(o)) return o.map(rebuild);
      if (o && typeof o === 'object') return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, rebuild(v)]));
      return o;
    };
    return rebuild(entry.shape);
  }
}

/** Moves every parameter of the tree into one store (one optimizer dispatch over all of them). */
export function gatherParameters(root: Module): ParameterStore {
  if (root.gathered) return root.gathered;
  const params = root.namedParameters();
  if (params.length === 0) throw new ArgumentError(`${root.constructor.name}: the model has no parameters to train`);
  const store = new ParameterStore(root.gpu);
  const owners = new Map<Module, string>();
  for (const p of params) {
    if (!owners.has(p.owner)) owners.set(p.owner, p.name.slice(0, p.name.length - p.localName.length));
    store.add(p.name, [...p.shape]);
  }
  store.allocate();
  for (const [m, prefix] of owners) {
    const local = m.localParameters()!;
    // The module's names live under local.prefix in its store; adoptInto maps each to prefix + name.
    local.store.adoptInto(store, prefix, local.prefix);
    m.parametersMoved();
  }
  // Containers too: their cached forward plans read the parameters where they were (buffers the
  // pool now hands out again), not in the new store.
  for (const [, m] of root.namedModules()) if (!owners.has(m)) m.parametersMoved();
  root.gathered = store;
  return store;
}
