// The weights of a TensorFlow.js layers-format model (model.json's weightsManifest + the
// concatenated weight files): every entry checked (name, dtype, shape, byte range) and decoded to
// f32 before any layer is built. tfjs writes the manifest's groups in order and each group's
// weights back to back, so entry i starts where entry i−1 ended; the data must end exactly there.
//   float32        4 bytes per value, little endian
//   quantized      tfjs converter's --quantize_*: uint8 / uint16 q with value = q·scale + min,
//                  or float16 (IEEE half): decoded to f32 here
// Names are `layer/…/role` (`lstm/lstm_cell/kernel`, `bidirectional/forward_gru/kernel`).
import { ArgumentError, ShapeError, UnsupportedError, fmtShape } from '../util/errors.js';
import { showValue } from '../util/options.js';
import { f16ToF32 } from './safetensors.js';

const WHERE = 'loadTfjsModel';

/** One weight of the manifest, decoded (Keras layout, e.g. an LSTM kernel [in, 4H]). */
export interface TfjsWeight {
  /** The manifest's name, e.g. `lstm_LSTM1/kernel`. */
  name: string;
  /** The manifest's shape. */
  shape: number[];
  /** The values, row-major. */
  data: Float32Array;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The weight bytes as one Uint8Array: an ArrayBuffer, a typed array / DataView, or tfjs 4's ArrayBuffer[]. */
export function weightBytes(weightData: unknown): Uint8Array {
  if (weightData instanceof ArrayBuffer) return new Uint8Array(weightData);
  if (ArrayBuffer.isView(weightData))
    return new Uint8Array(weightData.buffer, weightData.byteOffset, weightData.byteLength);
  if (Array.isArray(weightData) && weightData.every((b) => b instanceof ArrayBuffer)) {
    const out = new Uint8Array(weightData.reduce((a, b: ArrayBuffer) => a + b.byteLength, 0));
    let at = 0;
    for (const b of weightData as ArrayBuffer[]) {
      out.set(new Uint8Array(b), at);
      at += b.byteLength;
    }
    return out;
  }
  throw new ArgumentError(
    `${WHERE}: 'weightData' must be an ArrayBuffer (the weight files concatenated in manifest order), ` +
      `a typed array or an array of ArrayBuffers, got ${weightData === null ? 'null' : typeof weightData}`,
  );
}

/** Bytes and decoder of one manifest entry. */
function entryCodec(
  at: string,
  entry: Record<string, unknown>,
): { bytes: number; read: (v: DataView, o: number) => number } {
  if (entry.dtype !== 'float32')
    throw new ArgumentError(
      `${at}: field 'dtype' is ${showValue(entry.dtype)}; allowed: 'float32' (the weights of Embedding, ` +
        `LSTM, GRU, SimpleRNN and Dense)`,
    );
  const q = entry.quantization;
  if (q === undefined || q === null) return { bytes: 4, read: (v, o) => v.getFloat32(o, true) };
  if (!isObject(q)) throw new ArgumentError(`${at}: field 'quantization' must be an object, got ${showValue(q)}`);
  if (q.dtype === 'float16') return { bytes: 2, read: (v, o) => f16ToF32(v.getUint16(o, true)) };
  if (q.dtype !== 'uint8' && q.dtype !== 'uint16')
    throw new UnsupportedError(
      `${at}: field 'quantization.dtype' is ${showValue(q.dtype)}; supported: 'uint8', 'uint16', 'float16'`,
    );
  const { scale, min } = q;
  if (typeof scale !== 'number' || !Number.isFinite(scale) || typeof min !== 'number' || !Number.isFinite(min))
    throw new ArgumentError(
      `${at}: 'quantization' needs finite numbers 'scale' and 'min' for ${q.dtype}, ` +
        `got scale ${showValue(scale)}, min ${showValue(min)}`,
    );
  return q.dtype === 'uint8'
    ? { bytes: 1, read: (v, o) => v.getUint8(o) * scale + min }
    : { bytes: 2, read: (v, o) => v.getUint16(o, true) * scale + min };
}

/**
 * Checks the manifest against the bytes and decodes every weight (nothing is allocated on a GPU).
 * @param manifest - model.json's `weightsManifest`: `[{paths, weights: [{name, shape, dtype, quantization?}]}]`.
 * @param bytes - The weight files concatenated in manifest order.
 * @returns The weights in manifest order.
 * @throws ArgumentError for a malformed entry, a repeated name, a dtype other than float32 or a
 *   non-finite value; ShapeError when the bytes are fewer or more than the manifest describes.
 */
export function readTfjsWeights(manifest: unknown, bytes: Uint8Array): TfjsWeight[] {
  if (!Array.isArray(manifest))
    throw new ArgumentError(
      `${WHERE}: field 'weightsManifest' must be an array of {paths, weights} groups, got ${showValue(manifest)}`,
    );
  const entries: Array<{ at: string; entry: Record<string, unknown> }> = [];
  manifest.forEach((group, g) => {
    if (!isObject(group) || !Array.isArray(group.weights))
      throw new ArgumentError(
        `${WHERE}: weightsManifest[${g}] must be {paths, weights: [...]}, got ${showValue(group)}`,
      );
    group.weights.forEach((entry: unknown, i: number) => {
      const at = `${WHERE}: weightsManifest[${g}].weights[${i}]`;
      if (!isObject(entry)) throw new ArgumentError(`${at} must be {name, shape, dtype}, got ${showValue(entry)}`);
      entries.push({ at: `${at} ('${String(entry.name)}')`, entry });
    });
  });
  // Pass 1: names, shapes, dtypes and the total byte count, before decoding anything.
  const names = new Set<string>();
  let total = 0;
  const plan = entries.map(({ at, entry }) => {
    if (typeof entry.name !== 'string' || entry.name === '')
      throw new ArgumentError(`${at}: field 'name' must be a non-empty string, got ${showValue(entry.name)}`);
    if (names.has(entry.name)) throw new ArgumentError(`${at}: the name '${entry.name}' appears twice in the manifest`);
    names.add(entry.name);
    const shape = entry.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0))
      throw new ShapeError(`${at}: field 'shape' must be an array of non-negative integers, got ${showValue(shape)}`);
    const codec = entryCodec(at, entry);
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    const start = total;
    total += count * codec.bytes;
    return { at, name: entry.name, shape: [...(shape as number[])], count, codec, start };
  });
  if (total !== bytes.byteLength) {
    const cut = plan.find((p) => p.start + p.count * p.codec.bytes > bytes.byteLength);
    throw new ShapeError(
      `${WHERE}: 'weightData' has ${bytes.byteLength} bytes but the manifest's ${plan.length} weights take ` +
        `${total}` +
        (cut
          ? ` (the data ends inside ${cut.at.slice(WHERE.length + 2)}, bytes [${cut.start}, ` +
            `${cut.start + cut.count * cut.codec.bytes}))`
          : ` (${bytes.byteLength - total} bytes past the last weight)`) +
        `; pass every weight file, concatenated in manifest order`,
    );
  }
  // Pass 2: decode, checking every value is finite.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return plan.map(({ at, name, shape, count, codec, start }) => {
    const data = new Float32Array(count);
    for (let i = 0; i < count; i++) {
      const v = codec.read(view, start + i * codec.bytes);
      if (!Number.isFinite(v)) throw new ArgumentError(`${at}: value ${i} is ${v}; every weight must be finite`);
      data[i] = v;
    }
    return { name, shape, data };
  });
}

/**
 * Checks that a weight has the shape a layer needs.
 * @param where - The layer, for the message.
 * @param w - The weight.
 * @param shape - The expected shape.
 */
export function expectWeightShape(where: string, w: TfjsWeight, shape: readonly number[]): void {
  if (fmtShape(w.shape) !== fmtShape(shape))
    throw new ShapeError(`${where}: weight '${w.name}' has shape ${fmtShape(w.shape)}, expected ${fmtShape(shape)}`);
}

/** Wᵀ of a row-major [rows, cols] matrix (Keras kernel [in, out] → PyTorch weight [out, in]). */
export function transposed(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return out;
}

/**
 * Gate blocks of H columns reordered: `order[k]` is the Keras block that becomes PyTorch block k
 * (GRU: Keras z, r, h → PyTorch r, z, n is [1, 0, 2]; LSTM i, f, c, o = i, f, g, o is the identity).
 * @param data - Row-major [rows, order.length·H].
 * @param rows - Rows (1 for a bias).
 * @param H - Block width.
 * @param order - Source block of each destination block.
 */
export function reorderGates(data: Float32Array, rows: number, H: number, order: readonly number[]): Float32Array {
  const G = order.length;
  const out = new Float32Array(rows * G * H);
  for (let r = 0; r < rows; r++)
    for (let k = 0; k < G; k++)
      out.set(data.subarray(r * G * H + order[k] * H, r * G * H + (order[k] + 1) * H), r * G * H + k * H);
  return out;
}
