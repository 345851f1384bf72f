// A small ONNX protobuf reader for the tests: decodes the wire format independently of the writer
// (src/io/onnxProto.ts) and returns what an exported model declares: opsets, graph inputs and
// outputs (name, element type, dims with dim_param names), initializers (name, dims), node types.

type Field = number | Uint8Array;

/** The fields of one message by number (repeated fields in order). */
function fields(buf: Uint8Array): Map<number, Field[]> {
  const out = new Map<number, Field[]>();
  let i = 0;
  const varint = () => {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      const b = buf[i++];
      v |= BigInt(b & 0x7f) << shift;
      shift += 7n;
      if (!(b & 0x80)) return Number(BigInt.asIntN(64, v));
    }
  };
  while (i < buf.length) {
    const tag = varint();
    const [field, wire] = [tag >>> 3, tag & 7];
    let value: Field;
    if (wire === 0) value = varint();
    else if (wire === 2) {
      const n = varint();
      value = buf.subarray(i, i + n);
      i += n;
    } else if (wire === 5 || wire === 1) {
      const n = wire === 5 ? 4 : 8;
      value = buf.subarray(i, i + n);
      i += n;
    } else throw new Error(`onnxRead: wire type ${wire} at byte ${i}`);
    if (!out.has(field)) out.set(field, []);
    out.get(field)!.push(value);
  }
  return out;
}

const text = (f: Field | undefined) => (f instanceof Uint8Array ? new TextDecoder().decode(f) : '');
const msgs = (m: Map<number, Field[]>, n: number) => (m.get(n) ?? []).map((f) => fields(f as Uint8Array));

/** A graph input or output: name, element type (1 float, 6 int32) and dims. */
export interface ReadValueInfo {
  name: string;
  elemType: number;
  dims: Array<number | string>;
}

/** What a model declares. */
export interface ReadModel {
  opsets: Array<{ domain: string; version: number }>;
  inputs: ReadValueInfo[];
  outputs: ReadValueInfo[];
  initializers: Array<{ name: string; dims: number[] }>;
  opTypes: string[];
}

function valueInfo(m: Map<number, Field[]>): ReadValueInfo {
  const tensor = msgs(msgs(m, 2)[0], 1)[0];
  const dims = msgs(msgs(tensor, 2)[0] ?? new Map(), 1).map((d) =>
    d.has(1) ? (d.get(1)![0] as number) : text(d.get(2)?.[0]),
  );
  return { name: text(m.get(1)?.[0]), elemType: tensor.get(1)![0] as number, dims };
}

/**
 * Decodes an ONNX model's bytes.
 * @param bytes - A ModelProto.
 */
export function readOnnx(bytes: Uint8Array): ReadModel {
  const model = fields(bytes);
  const graph = msgs(model, 7)[0];
  return {
    opsets: msgs(model, 8).map((o) => ({ domain: text(o.get(1)?.[0]), version: o.get(2)![0] as number })),
    inputs: msgs(graph, 11).map(valueInfo),
    outputs: msgs(graph, 12).map(valueInfo),
    initializers: msgs(graph, 5).map((t) => ({
      name: text(t.get(8)?.[0]),
      dims: (t.get(1) ?? []) as number[],
    })),
    opTypes: msgs(graph, 1).map((n) => text(n.get(4)?.[0])),
  };
}
