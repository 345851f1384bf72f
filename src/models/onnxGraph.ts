// The ONNX graph an export writes, with dynamic axes. A model is traced twice with different sizes
// for its symbolic dims (exportOnnx's `inputs[i].shape` strings); a dim that is the same in both
// traces is static, one that differs is dynamic: it equals a symbol's sizes (read at run time
// from the input that declared it: Shape → Gather) or is derived from them (a Reshape's −1).
import type { Value } from '../graph/graph.js';
import {
  ProtoWriter,
  onnxInt64Tensor,
  onnxNode,
  onnxTensor,
  onnxValueInfo,
  type OnnxAttributeValue,
} from '../io/onnxProto.js';
import { ArgumentError } from '../util/errors.js';

/**
 * Thrown by {@link exportOnnx} when the traced graph holds an op (or an op setting) with no ONNX
 * form: the message names the op, its kind and the module that recorded it.
 */
export class ExportError extends ArgumentError {
  /**
   * An export error.
   * @param message - The message (names the op and the module).
   * @param op - The op's label in the trace.
   * @param modulePath - Dotted path of the module that recorded it ('' the root).
   */
  constructor(
    message: string,
    readonly op: string,
    readonly modulePath: string,
  ) {
    super(message);
  }
}
Object.defineProperty(ExportError, 'name', { value: 'ExportError' });
Object.defineProperty(ExportError.prototype, 'name', { value: 'ExportError', writable: true, configurable: true });

/** One symbolic dim: its name, its sizes in the two traces, and where it is read at run time. */
export interface Symbol {
  name: string;
  sizes: [number, number];
  input: string;
  axis: number;
}

/** A dim of a traced value: its sizes in the two traces. */
export type DimPair = [number, number];

/** Builds the nodes and initializers of one ONNX graph. */
export class OnnxBuilder {
  readonly nodes: ProtoWriter[] = [];
  readonly initializers: ProtoWriter[] = [];
  private readonly names = new Set<string>();
  private readonly cache = new Map<string, string>();
  /** The lowest opset that has every op emitted so far (13: Softmax over the last axis, Split/Unsqueeze inputs). */
  required = { opset: 13, why: 'Softmax, Unsqueeze and Slice with axes as inputs' };

  constructor(
    /** The opset the nodes are written for. */
    readonly opset: number,
    /** The symbolic dims. */
    readonly symbols: readonly Symbol[],
    /** Each traced value's dims in the second trace. */
    private readonly second: (v: Value) => readonly number[],
  ) {}

  /**
   * A name not used yet.
   * @param hint - Its start.
   */
  fresh(hint: string): string {
    const base = hint.replace(/[^A-Za-z0-9_.:/-]/g, '_') || 'v';
    let name = base;
    for (let i = 1; this.names.has(name); i++) name = `${base}_${i}`;
    this.names.add(name);
    return name;
  }

  /** Reserves a name given from outside (graph inputs). */
  reserve(name: string): void {
    this.names.add(name);
  }

  /** Records that an op needs opset ≥ `opset`. */
  need(opset: number, why: string): void {
    if (opset > this.required.opset) this.required = { opset, why };
  }

  /**
   * Appends a node; returns its output names.
   * @param op - Operator type.
   * @param inputs - Input names.
   * @param attrs - Attributes.
   * @param outputs - Number of outputs (or their names).
   */
  nodeN(
    op: string,
    inputs: readonly string[],
    attrs: Record<string, OnnxAttributeValue> = {},
    outputs: number | readonly string[] = 1,
  ): string[] {
    const outs =
      typeof outputs === 'number' ? Array.from({ length: outputs }, () => this.fresh(op.toLowerCase())) : [...outputs];
    this.nodes.push(onnxNode(op, inputs, outs, { attrs }));
    return outs;
  }

  /** Appends a one-output node; returns the output's name. */
  node(op: string, inputs: readonly string[], attrs: Record<string, OnnxAttributeValue> = {}): string {
    return this.nodeN(op, inputs, attrs)[0];
  }

  /** Adds an initializer under `name` (made unique); returns its name. */
  init(name: string, dims: readonly number[], data: Float32Array | Int32Array | BigInt64Array): string {
    const n = this.fresh(name);
    this.initializers.push(onnxTensor(n, dims, data));
    return n;
  }

  /** An int64 constant (1-D, or a scalar with `scalar`), shared by every use. */
  ints(values: readonly number[], scalar = false): string {
    const key = `i64:${scalar}:${values.join(',')}`;
    let n = this.cache.get(key);
    if (!n) {
      n = this.fresh(`const_${scalar ? 's' : ''}${values.join('_').replace(/-/g, 'm')}`);
      this.initializers.push(onnxInt64Tensor(n, values, scalar ? [] : undefined));
      this.cache.set(key, n);
    }
    return n;
  }

  /** A float scalar constant, shared by every use. */
  float(value: number): string {
    const key = `f32:${value}`;
    let n = this.cache.get(key);
    if (!n) {
      n = this.fresh('const_f');
      this.initializers.push(onnxTensor(n, [], Float32Array.of(value)));
      this.cache.set(key, n);
    }
    return n;
  }

  /** The result of `make` computed once per key (e.g. one Transpose of a weight for every use). */
  once(key: string, make: () => string): string {
    let n = this.cache.get(key);
    if (!n) {
      n = make();
      this.cache.set(key, n);
    }
    return n;
  }

  /** The dims of a traced value in both traces. */
  dims(v: Value): DimPair[] {
    const b = this.second(v);
    return v.shape.map((a, i) => [a, b[i]]);
  }

  /** True when a traced value's dims are the same in both traces. */
  isStatic(v: Value): boolean {
    return this.dims(v).every(([a, b]) => a === b);
  }

  /** The symbol with these sizes, if any. */
  symbolOf([a, b]: DimPair): Symbol | undefined {
    return this.symbols.find((s) => s.sizes[0] === a && s.sizes[1] === b);
  }

  /** A symbol's size at run time: int64 [1] (Shape of its input, Gather of its axis). */
  symbolSize(s: Symbol): string {
    return this.once(`sym:${s.name}`, () =>
      this.node('Gather', [this.node('Shape', [s.input]), this.ints([s.axis])], { axis: { int: 0 } }),
    );
  }

  /**
   * The dim's name in a ValueInfo: its size when static, a symbol's name, or a product of symbols
   * (`2*batch*seq`), or null when it is none of these.
   */
  dimName([a, b]: DimPair): number | string | null {
    if (a === b) return a;
    const n = this.symbols.length;
    for (let mask = 1; mask < 1 << n; mask++) {
      const picked = this.symbols.filter((_, i) => mask & (1 << i));
      const pa = picked.reduce((p, s) => p * s.sizes[0], 1);
      const pb = picked.reduce((p, s) => p * s.sizes[1], 1);
      if (a % pa === 0 && b % pb === 0 && a / pa === b / pb) {
        const c = a / pa;
        return [...(c === 1 ? [] : [String(c)]), ...picked.map((s) => s.name)].join('*');
      }
    }
    return null;
  }

  /**
   * A Reshape of `x` (traced as `from`) to the dims of `to`: static dims as numbers, a dynamic
   * dim equal to `from`'s at the same index as 0 (copy), one other dynamic dim as −1, and the rest
   * as their symbols' run-time sizes.
   * @param fail - Throws the error for dims it cannot write.
   */
  reshape(x: string, from: readonly DimPair[], to: readonly DimPair[], fail: (message: string) => never): string {
    const pieces: Array<number | string> = [];
    let inferred = false;
    to.forEach(([a, b], i) => {
      if (a === b) pieces.push(a);
      else if (from[i] && from[i][0] === a && from[i][1] === b) pieces.push(0);
      else if (!inferred) {
        pieces.push(-1);
        inferred = true;
      } else {
        const s = this.symbolOf([a, b]);
        if (!s)
          fail(
            `its result has two dims that depend on the dynamic axes in different ways; ` +
              `give them fixed sizes in 'inputs'`,
          );
        pieces.push(this.symbolSize(s));
      }
    });
    const shape = pieces.every((p) => typeof p === 'number')
      ? this.ints(pieces as number[])
      : this.node(
          'Concat',
          pieces.map((p) => (typeof p === 'number' ? this.ints([p]) : p)),
          { axis: { int: 0 } },
        );
    return this.node('Reshape', [x, shape]);
  }

  /** A ValueInfoProto with the dims' names (an unnamed dynamic dim gets `name_dim_i`). */
  valueInfo(name: string, dims: readonly DimPair[], dtype: 'float' | 'int32'): ProtoWriter {
    return onnxValueInfo(
      name,
      dims.map((d, i) => this.dimName(d) ?? `${name}_dim_${i}`),
      dtype,
    );
  }
}

/**
 * A symbol's size in the first trace (distinct primes: products of symbols stay apart); the second
 * trace takes one more. Small, so that a model with a short maxSeqLen still traces.
 */
export const TRACE_SIZES = [2, 3, 5, 7, 11, 13];
