// exportOnnx: a Module's (or a SequenceModel's) traced forward as an ONNX model.
//
// The forward is traced (nothing runs) twice in evaluation mode, with different sizes for the
// symbolic dims of `inputs` (onnxGraph.ts: a dim that differs between the traces is dynamic).
// The nodes the outputs depend on are written in recording order, each by the emitter of its
// kind (Node.attrs.kind: onnxOps.ts, onnxRecurrent.ts, onnxAttention.ts); parameters become
// initializers under their PyTorch names (`layers.0.linear1.weight`), constant tables (a
// sinusoid, position ids) initializers under their trace names. An op with no ONNX form is an
// ExportError naming the op and the module that recorded it.
import { Graph, type Node, type Value } from '../graph/graph.js';
import { Tensor, type DType } from '../gpu/tensor.js';
import { ProtoWriter, onnxModel, onnxNode, onnxValueInfo } from '../io/onnxProto.js';
import { Module } from '../nn/module.js';
import { ArgumentError } from '../util/errors.js';
import { show } from '../util/options.js';
import { ExportError, OnnxBuilder, TRACE_SIZES, type Symbol } from './onnxGraph.js';
import { onnxAttention, onnxAttentionInProj, onnxAttentionMask, onnxAttentionWeights } from './onnxAttention.js';
import { OP_EMITTERS, type EmitContext, type Emitter } from './onnxOps.js';
import { onnxRecurrent } from './onnxRecurrent.js';
import { SequenceModel } from './sequenceModel.js';

/** One graph input of {@link exportOnnx}: a forward argument, in order. */
export interface OnnxInputSpec {
  /** The ONNX input's name. */
  name: string;
  /**
   * Sizes; a string is a dynamic axis of that name (`['batch', 'seq', 16]`), or a multiple of one
   * that also appears alone (`'4*batch'`, e.g. a per-head mask [batch·heads, T, T]).
   */
  shape: ReadonlyArray<number | string>;
  /** `'f32'` (default; ONNX float) or `'i32'` (token ids; ONNX int32). */
  dtype?: DType;
}

/** Options of {@link exportOnnx}. */
export interface ExportOnnxOptions {
  /** forward's tensor arguments, in order. */
  inputs: readonly OnnxInputSpec[];
  /**
   * The ONNX opset, 13 to 21. Default: the lowest that has every op written (13; 17 with
   * LayerNormalization). GELU is written as Gelu from opset 20, else as its Erf / Tanh formula.
   */
  opset?: number;
  /**
   * Names of the outputs, in the order of forward's result (default: `output` for a tensor, the
   * keys for an object, e.g. `logits`, `hN`, `cN`).
   */
  outputs?: readonly string[];
}

const OPSETS = { min: 13, max: 21 };

/** Every op kind with an ONNX form. */
const EMITTERS: Record<string, Emitter> = {
  ...OP_EMITTERS,
  recurrent: onnxRecurrent,
  attentionInProj: onnxAttentionInProj,
  attention: onnxAttention,
  attentionMask: onnxAttentionMask,
  attentionWeights: onnxAttentionWeights,
};

/**
 * Exports a model's traced forward to ONNX (inference: dropout is the identity).
 * @param model - A Module (its `forward` takes the inputs in order) or a SequenceModel (inputs:
 *   the time-major batch [seqLen, batch] i32 tokens or [seqLen, batch, inputSize] f32 values;
 *   outputs `logits`, `hN` and, for an LSTM, `cN`).
 * @param options - `inputs` (name, shape with dynamic axes as strings, dtype), `opset`, `outputs`.
 * @returns The `.onnx` file's bytes.
 * @throws ArgumentError naming the option for bad options; ExportError naming the op and the module
 *   for an op with no ONNX form.
 * @example
 * ```ts
 * const bytes = await exportOnnx(lm, { inputs: [{ name: 'tokens', shape: ['batch', 'seq'], dtype: 'i32' }] });
 * ```
 */
export async function exportOnnx(model: Module | SequenceModel, options: ExportOnnxOptions): Promise<Uint8Array> {
  const o = checkExportOptions(options);
  let module: Module;
  if (model instanceof SequenceModel) {
    model['life'].assertLive('exportOnnx');
    module = model['net'];
  } else if (model instanceof Module) module = model;
  else
    throw new ArgumentError(`exportOnnx: 'model' must be a Module or a SequenceModel, got ${show(model as unknown)}`);
  module.assertModuleAlive('exportOnnx');
  const symbols: Symbol[] = [];
  for (const inp of o.inputs)
    inp.shape.forEach((d, axis) => {
      if (typeof d === 'string' && !d.includes('*') && !symbols.some((s) => s.name === d))
        symbols.push({ name: d, sizes: [0, 0], input: inp.name, axis });
    });
  o.inputs.forEach((inp, i) =>
    inp.shape.forEach((d, k) => {
      if (typeof d === 'string' && !symbols.some((s) => s.name === parseDim(d).name))
        throw new ArgumentError(
          `exportOnnx: option 'inputs[${i}].shape[${k}]' is '${d}'; the dynamic axis ` +
            `'${parseDim(d).name}' must also be a dim of its own in some input (where its size is read)`,
        );
    }),
  );
  if (symbols.length > TRACE_SIZES.length)
    throw new ArgumentError(
      `exportOnnx: option 'inputs' names ${symbols.length} dynamic axes ` +
        `(${symbols.map((s) => s.name).join(', ')}); at most ${TRACE_SIZES.length}`,
    );
  symbols.forEach((s, k) => (s.sizes = [TRACE_SIZES[k], TRACE_SIZES[k] + 1]));
  const traces: Trace[] = [];
  try {
    for (const t of [0, 1]) traces.push(traceModule(module, o.inputs, symbols, t));
    const [a, b] = traces;
    if (
      a.graph.nodes.length !== b.graph.nodes.length ||
      a.graph.values.length !== b.graph.values.length ||
      a.graph.nodes.some((n, i) => n.op !== b.graph.nodes[i].op)
    )
      throw new ExportError(
        `exportOnnx: ${module.constructor.name}.forward records different ops for different sizes of the ` +
          `dynamic axes (${symbols.map((s) => s.name).join(', ')}); give those dims fixed sizes in 'inputs'`,
        module.constructor.name,
        '',
      );
    if (o.outputs && o.outputs.length !== a.outputs.length)
      throw new ArgumentError(
        `exportOnnx: option 'outputs' names ${o.outputs.length} outputs; forward returns ${a.outputs.length} ` +
          `(${a.outputs.map((x) => x.path).join(', ')})`,
      );
    return await writeModel(module, o, symbols, a, (v) => b.graph.values[v.id].shape);
  } finally {
    for (const t of traces) t.graph.dispose();
  }
}

/** A forward traced with one set of sizes: the graph, its outputs and each node's module. */
interface Trace {
  graph: Graph;
  inputs: Value[];
  outputs: Array<{ path: string; value: Value }>;
  modules: Map<Node, { path: string; cls: string }>;
}

function traceModule(module: Module, inputs: readonly OnnxInputSpec[], symbols: Symbol[], t: number): Trace {
  const graph = new Graph(module.gpu, false, 'exportOnnx');
  const modules = new Map<Node, { path: string; cls: string }>();
  const restore: Array<() => void> = [];
  // Each module's forward notes the nodes it recorded (the innermost module claims a node first).
  for (const [path, m] of module.namedModules()) {
    const own = Object.getOwnPropertyDescriptor(m, 'forward');
    const fwd = (m as unknown as { forward: (...a: unknown[]) => unknown }).forward;
    Object.defineProperty(m, 'forward', {
      configurable: true,
      writable: true,
      value: (...args: unknown[]) => {
        const start = graph.nodes.length;
        try {
          return fwd.apply(m, args);
        } finally {
          for (const n of graph.nodes.slice(start))
            if (!modules.has(n)) modules.set(n, { path, cls: m.constructor.name });
        }
      },
    });
    restore.push(() => (own ? Object.defineProperty(m, 'forward', own) : delete (m as { forward?: unknown }).forward));
  }
  try {
    const values = inputs.map((inp) =>
      graph.input(
        inp.shape.map((d) => {
          if (typeof d === 'number') return d;
          const { times, name } = parseDim(d);
          return times * symbols.find((s) => s.name === name)!.sizes[t];
        }),
        inp.dtype ?? 'f32',
        inp.name,
      ),
    );
    let result: unknown;
    try {
      result = graph.trace(() => module.forward(...(values.map((v) => v.tensor) as never[])));
    } catch (e) {
      if (!(e instanceof ArgumentError) || symbols.length === 0) throw e;
      const sizes = symbols.map((s) => `${s.name} = ${s.sizes[t]}`).join(', ');
      const both = symbols.map((s) => `${s.name} ${s.sizes.join(' and ')}`).join(', ');
      throw new ExportError(
        `exportOnnx: ${module.constructor.name}.forward fails when traced with the dynamic axes at ` +
          `${sizes} (it traces each at two sizes: ${both}; ` +
          `give an axis that cannot take these sizes a fixed size in 'inputs'): ${e.message}`,
        module.constructor.name,
        '',
      );
    }
    const outputs: Trace['outputs'] = [];
    const walk = (r: unknown, path: string) => {
      if (r instanceof Tensor) outputs.push({ path: path || 'output', value: graph.of('exportOnnx', 'result', r) });
      else if (Array.isArray(r)) r.forEach((x, i) => walk(x, path ? `${path}.${i}` : `output_${i}`));
      else if (r && typeof r === 'object') for (const [k, x] of Object.entries(r)) walk(x, path ? `${path}.${k}` : k);
    };
    walk(result, '');
    if (outputs.length === 0)
      throw new ArgumentError(`exportOnnx: ${module.constructor.name}.forward returned no tensor`);
    return { graph, inputs: values, outputs, modules };
  } catch (e) {
    graph.dispose();
    throw e;
  } finally {
    for (const r of restore) r();
  }
}

async function writeModel(
  module: Module,
  o: ExportOnnxOptions,
  symbols: Symbol[],
  trace: Trace,
  second: (v: Value) => readonly number[],
): Promise<Uint8Array> {
  const { graph } = trace;
  // What the outputs depend on.
  const needed = new Set<Node>();
  const live = new Set<Value>(trace.outputs.map((x) => x.value));
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    const n = graph.nodes[i];
    if (!n.outputs.some((v) => live.has(v))) continue;
    needed.add(n);
    for (const v of n.inputs) live.add(v);
  }
  const b = new OnnxBuilder(o.opset ?? 17, symbols, second);
  for (const inp of o.inputs) b.reserve(inp.name);
  const names = new Map<Value, string>();
  trace.inputs.forEach((v, i) => names.set(v, o.inputs[i].name));
  // Parameters under their PyTorch names, constants under their trace names.
  const params = new Map(
    module.namedParameters().map((p) => [`${p.owner.constructor.name}#${p.owner.id}.${p.localName}`, p]),
  );
  const fullName = new Map<Value, string>();
  // Every readback is submitted here, before the first await: a call made after exportOnnx (a
  // Trainer step) cannot change what this export writes. The initializers follow in graph order.
  const written: Array<[Value, () => Promise<string>]> = [];
  for (const v of graph.values) {
    if (!live.has(v) || names.has(v) || v.producer) continue;
    if (v.param) {
      const p = params.get(v.param.name);
      if (!p) throw new ExportError(`exportOnnx: parameter '${v.param.name}' is not in the model's tree`, v.op, '');
      fullName.set(v, p.name);
      const data = observed(p.read());
      written.push([v, async () => b.init(p.name, v.shape, await data)]);
    } else if (v.fixed) written.push([v, constant(module, b, v)]);
  }
  for (const [v, write] of written) names.set(v, await write());
  const packed = new Map<Value, readonly string[]>();
  for (const node of graph.nodes) {
    if (!needed.has(node)) continue;
    const where = trace.modules.get(node) ?? { path: '', cls: module.constructor.name };
    const fail = (message: string): never => {
      throw new ExportError(
        `exportOnnx: op '${node.op}'${node.attrs ? ` (${node.attrs.kind})` : ''} in module ` +
          `'${where.path}' (${where.cls}): ${message}`,
        node.op,
        where.path,
      );
    };
    const emit = node.attrs ? EMITTERS[node.attrs.kind] : undefined;
    if (!emit) fail(`no ONNX form; exportable kinds: ${Object.keys(EMITTERS).join(', ')}`);
    const ctx: EmitContext = {
      b,
      name: (v) => names.get(v) ?? fail(`its input ${v.describe()} was not written`),
      set: (v, n) => void names.set(v, n),
      packed,
      paramName: (v) => fullName.get(v) ?? null,
      fail,
    };
    emit!(node, ctx);
  }
  const opset = o.opset ?? b.required.opset;
  if (opset < b.required.opset)
    throw new ArgumentError(
      `exportOnnx: option 'opset' is ${opset}; this model needs opset ≥ ${b.required.opset} (${b.required.why})`,
    );
  const g = new ProtoWriter();
  for (const n of b.nodes) g.msg(1, n);
  const outNames = trace.outputs.map((x, i) => o.outputs?.[i] ?? x.path);
  trace.outputs.forEach((x, i) => g.msg(1, onnxNode('Identity', [names.get(x.value)!], [outNames[i]])));
  g.str(2, module.constructor.name);
  for (const init of b.initializers) g.msg(5, init);
  for (const inp of o.inputs) g.msg(11, onnxValueInfo(inp.name, inp.shape, inp.dtype === 'i32' ? 'int32' : 'float'));
  trace.outputs.forEach((x, i) =>
    g.msg(12, b.valueInfo(outNames[i], b.dims(x.value), x.value.dtype === 'i32' ? 'int32' : 'float')),
  );
  return onnxModel(g, [{ domain: '', version: opset }], 'seqgpu');
}

/** A constant table's values as an initializer; a dynamic length reads its prefix (Slice). */
/** `promise`, with its rejection marked handled (it is awaited later, maybe after another one threw). */
function observed<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

/** Submits the readback of a constant now; the returned function writes its initializer. */
function constant(module: Module, b: OnnxBuilder, v: Value): () => Promise<string> {
  const ref = v.fixed!();
  const dims = b.dims(v);
  const dynamic = dims.some(([x, y]) => x !== y);
  const count = dynamic ? ref.buffer.size / 4 - ref.offset : v.size;
  const read = observed(module.gpu.readBuffer(ref.buffer, ref.offset * 4, count * 4));
  return async () => constantInit(b, v, dims, count, await read);
}

function constantInit(
  b: OnnxBuilder,
  v: Value,
  dims: ReturnType<OnnxBuilder['dims']>,
  count: number,
  bytes: ArrayBuffer,
): string {
  const dynamic = dims.some(([x, y]) => x !== y);
  const data = v.dtype === 'i32' ? new Int32Array(bytes) : new Float32Array(bytes);
  if (!dynamic) return b.init(v.op, v.shape, data);
  const sym = b.symbolOf(dims[0]);
  if (v.shape.length !== 1 || !sym)
    throw new ExportError(
      `exportOnnx: constant '${v.op}' ${JSON.stringify(v.shape)} has a size that depends on the dynamic axes ` +
        `in a way the export cannot write (only a rank-1 table whose length is one axis)`,
      v.op,
      '',
    );
  const table = b.init(v.op, [count], data);
  return b.node('Slice', [table, b.ints([0]), b.symbolSize(sym), b.ints([0])]);
}

/** A dynamic dim: a name, or a positive multiple of one (`4*batch`). */
const DIM = /^(?:([1-9][0-9]*)\*)?([A-Za-z_][A-Za-z0-9_]*)$/;

function parseDim(d: string): { times: number; name: string } {
  const m = DIM.exec(d)!;
  return { times: m[1] ? Number(m[1]) : 1, name: m[2] };
}

/** Checks exportOnnx's options before anything is traced. */
function checkExportOptions(options: ExportOnnxOptions): ExportOnnxOptions {
  const bad = (field: string, v: unknown, want: string): never => {
    throw new ArgumentError(`exportOnnx: option '${field}' is ${show(v)}; expected ${want}`);
  };
  if (!options || typeof options !== 'object') bad('options', options, 'an object { inputs, opset?, outputs? }');
  for (const k of Object.keys(options))
    if (!['inputs', 'opset', 'outputs'].includes(k))
      bad(k, (options as never)[k], 'no such option (inputs, opset, outputs)');
  const { inputs, opset, outputs } = options;
  if (!Array.isArray(inputs) || inputs.length === 0)
    bad('inputs', inputs, 'a non-empty array of { name, shape, dtype }');
  const seen = new Set<string>();
  inputs.forEach((inp, i) => {
    const f = `inputs[${i}]`;
    if (!inp || typeof inp !== 'object') bad(f, inp, 'an object { name, shape, dtype }');
    for (const k of Object.keys(inp))
      if (!['name', 'shape', 'dtype'].includes(k))
        bad(`${f}.${k}`, (inp as never)[k], 'no such field (name, shape, dtype)');
    if (typeof inp.name !== 'string' || inp.name === '' || seen.has(inp.name))
      bad(`${f}.name`, inp.name, 'a non-empty string, unique among the inputs');
    seen.add(inp.name);
    if (!Array.isArray(inp.shape) || inp.shape.length === 0) bad(`${f}.shape`, inp.shape, 'a non-empty array of sizes');
    inp.shape.forEach((d: number | string, k: number) => {
      if (!(typeof d === 'string' ? DIM.test(d) : Number.isInteger(d) && d > 0))
        bad(`${f}.shape[${k}]`, d, "a positive integer, a dynamic axis name (letters, digits, _) or 'n*name'");
    });
    if (inp.dtype !== undefined && inp.dtype !== 'f32' && inp.dtype !== 'i32')
      bad(`${f}.dtype`, inp.dtype, "'f32' or 'i32'");
  });
  if (opset !== undefined && !(Number.isInteger(opset) && opset >= OPSETS.min && opset <= OPSETS.max))
    bad('opset', opset, `an integer in [${OPSETS.min}, ${OPSETS.max}]`);
  if (outputs !== undefined) {
    if (!Array.isArray(outputs)) bad('outputs', outputs, 'an array of names');
    outputs.forEach((n, i) => {
      if (typeof n !== 'string' || n === '' || seen.has(n))
        bad(`outputs[${i}]`, n, 'a non-empty string, unique among the inputs and outputs');
      seen.add(n);
    });
  }
  return options;
}
