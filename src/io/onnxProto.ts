// A minimal ONNX protobuf writer (pure: bytes only, no GPU): the wire format (varints, tags,
// length-delimited fields, little-endian floats) and the onnx.proto messages seqgpu writes —
// ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto. Field numbers
// are those of onnx.proto (IR version 8). Used by the ONNX exporter (src/models/onnxExport.ts)
// and the benchmark's hand-built ORT models (bench/onnx.ts).

/** Protobuf wire encoder: fields are appended in call order. */
export class ProtoWriter {
  private bytes: number[] = [];

  /**
   * Appends a base-128 varint (negative numbers as 64-bit two's complement, as protobuf's int64).
   * @param v - An integer.
   * @returns this.
   */
  varint(v: number): this {
    let x = BigInt.asUintN(64, BigInt(v));
    do {
      let b = Number(x & 0x7fn);
      x >>= 7n;
      if (x) b |= 0x80;
      this.bytes.push(b);
    } while (x);
    return this;
  }

  /**
   * Appends a field tag.
   * @param field - The field number.
   * @param wire - The wire type (0 varint, 2 length-delimited, 5 32-bit).
   * @returns this.
   */
  tag(field: number, wire: number): this {
    return this.varint((field << 3) | wire);
  }

  /**
   * Appends an integer field (wire type 0).
   * @param field - The field number.
   * @param v - The value.
   * @returns this.
   */
  int(field: number, v: number): this {
    return this.tag(field, 0).varint(v);
  }

  /**
   * Appends a float field (wire type 5, little-endian f32).
   * @param field - The field number.
   * @param v - The value.
   * @returns this.
   */
  float(field: number, v: number): this {
    this.tag(field, 5);
    for (const b of new Uint8Array(Float32Array.of(v).buffer)) this.bytes.push(b);
    return this;
  }

  /**
   * Appends a bytes field (wire type 2).
   * @param field - The field number.
   * @param data - The bytes.
   * @returns this.
   */
  raw(field: number, data: Uint8Array): this {
    this.tag(field, 2).varint(data.length);
    for (const b of data) this.bytes.push(b);
    return this;
  }

  /**
   * Appends a UTF-8 string field.
   * @param field - The field number.
   * @param s - The string.
   * @returns this.
   */
  str(field: number, s: string): this {
    return this.raw(field, new TextEncoder().encode(s));
  }

  /**
   * Appends a nested message.
   * @param field - The field number.
   * @param w - The message.
   * @returns this.
   */
  msg(field: number, w: ProtoWriter): this {
    return this.raw(field, w.finish());
  }

  /**
   * The bytes written so far.
   * @returns A copy.
   */
  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

/** TensorProto.DataType values seqgpu writes. */
export const ONNX_DTYPE = { float: 1, int32: 6, int64: 7, bool: 9 } as const;

/** The element type name of an ONNX tensor seqgpu writes. */
export type OnnxElementType = keyof typeof ONNX_DTYPE;

/**
 * A ValueInfoProto of a tensor: name, element type and dims (a string is a symbolic dim_param).
 * @param name - The value's name.
 * @param dims - Sizes, or names of dynamic axes.
 * @param type - Element type (default float).
 * @returns The message.
 */
export function onnxValueInfo(
  name: string,
  dims: readonly (number | string)[],
  type: OnnxElementType = 'float',
): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of dims) shape.msg(1, typeof d === 'number' ? new ProtoWriter().int(1, d) : new ProtoWriter().str(2, d));
  const tensorType = new ProtoWriter().int(1, ONNX_DTYPE[type]).msg(2, shape);
  return new ProtoWriter().str(1, name).msg(2, new ProtoWriter().msg(1, tensorType));
}

/**
 * A TensorProto (an initializer) with its data as raw little-endian bytes.
 * @param name - The initializer's name.
 * @param dims - Its shape ([] for a scalar).
 * @param data - Float32Array (float), Int32Array (int32) or BigInt64Array (int64).
 * @returns The message.
 */
export function onnxTensor(
  name: string,
  dims: readonly number[],
  data: Float32Array | Int32Array | BigInt64Array,
): ProtoWriter {
  const w = new ProtoWriter();
  for (const d of dims) w.int(1, d);
  const type = data instanceof Float32Array ? 'float' : data instanceof Int32Array ? 'int32' : 'int64';
  return w
    .int(2, ONNX_DTYPE[type])
    .str(8, name)
    .raw(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

/**
 * An int64 initializer from numbers (shapes, axes, indices).
 * @param name - The initializer's name.
 * @param values - The values.
 * @param dims - Its shape (default [values.length]; [] for a scalar).
 * @returns The message.
 */
export function onnxInt64Tensor(name: string, values: readonly number[], dims?: readonly number[]): ProtoWriter {
  return onnxTensor(name, dims ?? [values.length], BigInt64Array.from(values.map((v) => BigInt(v))));
}

/** An attribute value: integer, float, string, list of integers, or a tensor. */
export type OnnxAttributeValue =
  | { int: number }
  | { float: number }
  | { string: string }
  | { ints: readonly number[] }
  | { strings: readonly string[] }
  | { tensor: ProtoWriter };

/**
 * An AttributeProto.
 * @param name - The attribute's name.
 * @param value - Its value and type.
 * @returns The message.
 */
export function onnxAttribute(name: string, value: OnnxAttributeValue): ProtoWriter {
  const a = new ProtoWriter().str(1, name);
  // AttributeType: FLOAT 1, INT 2, STRING 3, TENSOR 4, INTS 7, STRINGS 8.
  if ('int' in value) return a.int(3, value.int).int(20, 2);
  if ('float' in value) return a.float(2, value.float).int(20, 1);
  if ('string' in value) return a.str(4, value.string).int(20, 3);
  if ('tensor' in value) return a.msg(5, value.tensor).int(20, 4);
  if ('ints' in value) {
    for (const v of value.ints) a.int(8, v);
    return a.int(20, 7);
  }
  for (const s of value.strings) a.str(9, s);
  return a.int(20, 8);
}

/**
 * A NodeProto.
 * @param op - The operator type (`'MatMul'`, `'LSTM'`, …).
 * @param inputs - Input names ('' for an absent optional input).
 * @param outputs - Output names.
 * @param opts - `name` (default the first output), `attrs`, `domain` (default the ONNX domain).
 * @returns The message.
 */
export function onnxNode(
  op: string,
  inputs: readonly string[],
  outputs: readonly string[],
  opts: { name?: string; attrs?: Record<string, OnnxAttributeValue>; domain?: string } = {},
): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of inputs) w.str(1, i);
  for (const o of outputs) w.str(2, o);
  w.str(3, opts.name ?? outputs[0]).str(4, op);
  for (const [k, v] of Object.entries(opts.attrs ?? {})) w.msg(5, onnxAttribute(k, v));
  if (opts.domain) w.str(7, opts.domain);
  return w;
}

/**
 * A ModelProto (IR version 8) around a GraphProto.
 * @param graph - The GraphProto (nodes 1, name 2, initializers 5, inputs 11, outputs 12).
 * @param opsets - Operator set imports: domain ('' the ONNX domain) and version.
 * @param producer - producer_name.
 * @returns The model's bytes.
 */
export function onnxModel(
  graph: ProtoWriter,
  opsets: ReadonlyArray<{ domain: string; version: number }>,
  producer: string,
): Uint8Array {
  const m = new ProtoWriter().int(1, 8).str(2, producer).msg(7, graph);
  for (const o of opsets) m.msg(8, new ProtoWriter().str(1, o.domain).int(2, o.version));
  return m.finish();
}
