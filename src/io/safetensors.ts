// safetensors (the format of `safetensors.torch.save_file`): an 8-byte little-endian header
// length, a JSON header {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?},
// then the raw little-endian tensor bytes. seqgpu reads F32, F64, F16 and BF16 (as f32) and
// writes F32.
//
// ONE strict reader (readSafetensors) serves parseSafetensors and readCheckpoint: the header is
// at most 100 MB of UTF-8 JSON; every entry is exactly {dtype, shape, data_offsets}; the tensors
// cover the data section exactly (contiguous, no holes, no overlaps, nothing past the end, no
// trailing bytes); metadata values are strings. Names are stored in null-prototype objects, so a
// tensor or metadata key named `__proto__`, `constructor` or `toString` is an ordinary own key.
// Bad structure or values throw an ArgumentError; bad sizes, lengths and offsets a ShapeError.
import { ArgumentError, ShapeError, fmtShape } from '../util/errors.js';
import type { NamedTensor } from './stateDict.js';
import { showValue } from '../util/options.js';

/** Bytes of a safetensors header seqgpu accepts (the safetensors crate's own limit, 100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

const DTYPE_BYTES = new Map([
  ['F32', 4],
  ['F64', 8],
  ['F16', 2],
  ['BF16', 2],
]);
const ENTRY_KEYS = ['dtype', 'shape', 'data_offsets'];

/** @internal A safetensors file as {@link readSafetensors} returns it. */
export interface SafetensorsFile {
  /** Every tensor by name (a null-prototype object), converted to f32, in header order. */
  tensors: Record<string, NamedTensor>;
  /** The `__metadata__` string pairs (a null-prototype object; empty when the file has none). */
  metadata: Record<string, string>;
  /** The file's bytes. */
  bytes: Uint8Array;
  /** Where the data section starts: 8 + the header length. */
  dataStart: number;
}

/**
 * An IEEE 754 half-precision value (its 16 bits) as a number (subnormals, ±Infinity and NaN included).
 * @param h - The half's bits.
 * @returns Its value.
 */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/** Reads `count` values of `dtype` at byte `at` of `view` as f32. */
function decode(view: DataView, dtype: string, at: number, count: number): Float32Array {
  const out = new Float32Array(count);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < count; i++) {
    if (dtype === 'F32')
      bits[i] = view.getUint32(at + 4 * i, true); // bit-exact, NaN payloads included
    else if (dtype === 'F64') out[i] = view.getFloat64(at + 8 * i, true);
    else if (dtype === 'F16') out[i] = f16ToF32(view.getUint16(at + 2 * i, true));
    else bits[i] = view.getUint16(at + 2 * i, true) << 16; // BF16: the high half of an f32
  }
  return out;
}

/**
 * @internal Reads and validates a safetensors file strictly (see the top of this file); every
 * message starts with `where`.
 * @param file - The bytes of a `.safetensors` file.
 * @param where - The public entry point, e.g. `'parseSafetensors'` or `'LSTM.loadCheckpoint'`.
 * @throws ArgumentError when the file is not bytes, its header is not a UTF-8 JSON object of
 *   {dtype, shape, data_offsets} entries and string metadata, or a dtype is not F32, F64, F16 or BF16.
 * @throws ShapeError when the file is truncated, the header is longer than 100 MB, or a shape or
 *   byte range is wrong (past the end, not matching its shape, a hole, an overlap, trailing bytes).
 */
export function readSafetensors(file: ArrayBuffer | Uint8Array, where: string): SafetensorsFile {
  const bad = (msg: string): never => {
    throw new ArgumentError(`${where}: ${msg}`);
  };
  const badSize = (msg: string): never => {
    throw new ShapeError(`${where}: ${msg}`);
  };
  if (!(file instanceof Uint8Array) && !(file instanceof ArrayBuffer))
    bad(`expected the file's bytes (Uint8Array or ArrayBuffer), got ${file === null ? 'null' : typeof file}`);
  const bytes = file instanceof Uint8Array ? file : new Uint8Array(file);
  if (bytes.byteLength < 8)
    badSize(`the file is ${bytes.byteLength} bytes, too short for its 8-byte header length (truncated?)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const claimed = view.getBigUint64(0, true);
  if (claimed > BigInt(MAX_HEADER_BYTES))
    badSize(
      `the header length field says ${claimed} bytes, more than ` +
        `the ${MAX_HEADER_BYTES} allowed: not a safetensors file, or corrupt`,
    );
  const headerLen = Number(claimed);
  if (8 + headerLen > bytes.byteLength)
    badSize(
      `the header claims ${headerLen} bytes but the file has ${bytes.byteLength - 8} after the length (truncated?)`,
    );
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)));
  } catch (e) {
    return bad(`the header is not valid JSON (${(e as Error).message}): corrupt`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    return bad(`the header must be a JSON object {name: {dtype, shape, data_offsets}}, got ${showValue(header)}`);
  }
  const dataStart = 8 + headerLen;
  const dataLen = bytes.byteLength - dataStart;
  const metadata: Record<string, string> = Object.create(null);
  const entries: Array<{ name: string; dtype: string; shape: number[]; begin: number; end: number }> = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (info === null || typeof info !== 'object' || Array.isArray(info))
        bad(`__metadata__ must be an object of strings, got ${showValue(info)}`);
      for (const [k, v] of Object.entries(info as object)) {
        if (typeof v !== 'string')
          bad(`__metadata__['${k}'] is ${showValue(v)} (${typeof v}); safetensors metadata values are strings`);
        metadata[k] = v;
      }
      continue;
    }
    if (info === null || typeof info !== 'object' || Array.isArray(info))
      return bad(`tensor '${name}' must be {dtype, shape, data_offsets}, got ${showValue(info)}`);
    for (const k of Object.keys(info))
      if (!ENTRY_KEYS.includes(k))
        bad(`tensor '${name}' has an unknown key '${k}'; an entry holds dtype, shape and data_offsets`);
    const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
    const size = typeof dtype === 'string' ? DTYPE_BYTES.get(dtype) : undefined;
    if (size === undefined)
      return bad(`tensor '${name}' has dtype ${showValue(dtype)}; seqgpu reads F32, F64, F16, BF16`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      return badSize(`tensor '${name}' has shape ${showValue(shape)}, expected a list of non-negative integers`);
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o)) ||
      !(0 <= offsets[0] && offsets[0] <= offsets[1])
    ) {
      return badSize(`tensor '${name}' data_offsets ${showValue(offsets)} must be integers 0 ≤ begin ≤ end`);
    }
    const [begin, end] = offsets as number[];
    const need = shape.reduce((a: number, b: number) => a * b, 1) * size;
    if (end - begin !== need)
      badSize(`tensor '${name}' ${dtype}${fmtShape(shape)} needs ${need} bytes, its offsets span ${end - begin}`);
    if (end > dataLen)
      badSize(
        `tensor '${name}' ends at byte ${dataStart + end}, past the end of the file (${bytes.byteLength}): truncated`,
      );
    entries.push({ name, dtype: dtype as string, shape: [...shape], begin, end });
  }
  // The data section must be covered exactly: no holes, no overlaps, nothing after the last tensor.
  let at = 0;
  for (const e of [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end)) {
    if (e.begin < at)
      badSize(`tensor '${e.name}' overlaps the tensor before it (data_offsets [${e.begin}, ${e.end}]): corrupt header`);
    if (e.begin > at)
      badSize(`the data section has a hole of ${e.begin - at} bytes before tensor '${e.name}': corrupt header`);
    at = e.end;
  }
  if (at !== dataLen)
    badSize(
      `the data section has ${dataLen} bytes but its tensors ` +
        `cover ${at}: ${dataLen - at} trailing bytes (corrupt, or a file appended)`,
    );
  const tensors: Record<string, NamedTensor> = Object.create(null);
  for (const e of entries)
    tensors[e.name] = {
      shape: e.shape,
      data: decode(view, e.dtype, dataStart + e.begin, (e.end - e.begin) / DTYPE_BYTES.get(e.dtype)!),
    };
  return { tensors, metadata, bytes, dataStart };
}

/**
 * Parses a safetensors file into named f32 tensors; throws naming what is malformed.
 * @param file - The bytes of a `.safetensors` file (as `safetensors.torch.save_file` writes it).
 * @returns Every tensor by name, converted to f32 (F32, F64, F16 and BF16 are read), in a
 *   null-prototype object (a tensor named `__proto__` is an own key like any other);
 *   `__metadata__` is skipped.
 * @throws ArgumentError when the file is not bytes, the header is not a UTF-8 JSON object of
 *   {dtype, shape, data_offsets} entries and string metadata, or a dtype is not supported.
 * @throws ShapeError when the file is truncated, the header is over 100 MB, or the tensors'
 *   byte ranges do not match their shapes or do not cover the data section exactly.
 * @example
 * ```ts
 * const dict = parseSafetensors(await (await fetch('lstm.safetensors')).arrayBuffer());
 * lstm.loadStateDict(dict);
 * ```
 */
export function parseSafetensors(file: ArrayBuffer | Uint8Array): Record<string, NamedTensor> {
  return readSafetensors(file, 'parseSafetensors').tensors;
}

/**
 * Writes named f32 tensors as a safetensors file (keys in the given order).
 * @param tensors - Tensors by name; written as F32.
 * @param metadata - String pairs stored under `__metadata__`.
 * @returns The file's bytes (header padded so the data starts 8-byte aligned);
 *   `safetensors.torch.load_file` reads it.
 * @throws ShapeError when a tensor's data length is not the product of its shape.
 */
export function writeSafetensors(tensors: Record<string, NamedTensor>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = Object.create(null);
  if (metadata) header.__metadata__ = { ...metadata };
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    if (name === '__metadata__')
      throw new ArgumentError("writeSafetensors: a tensor cannot be named '__metadata__' (the header's metadata key)");
    const n =
      Array.isArray(t?.shape) && t.shape.every((d) => Number.isInteger(d) && d >= 0)
        ? t.shape.reduce((a, b) => a * b, 1)
        : -1;
    if (n < 0 || !t.data || t.data.length !== n) {
      throw new ShapeError(
        `writeSafetensors: '${name}' has ` +
          (`shape ${Array.isArray(t?.shape) ? fmtShape(t.shape) : JSON.stringify(t?.shape)}` +
            `${n >= 0 ? ` (${n} values)` : ''} `) +
          `but ${t?.data?.length} values; expected { shape: non-negative integers, data: ` +
          `their product of values }`,
      );
    }
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.length * 4] };
    offset += t.data.length * 4;
  }
  // Align the data section to 8 bytes, counting the header in UTF-8 bytes (names may be non-ASCII).
  const encoded = new TextEncoder().encode(JSON.stringify(header));
  const headerBytes = new Uint8Array(encoded.length + ((8 - ((8 + encoded.length) % 8)) % 8)).fill(0x20);
  headerBytes.set(encoded);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const t of Object.values(tensors)) {
    for (let i = 0; i < t.data.length; i++) view.setFloat32(at + 4 * i, t.data[i], true);
    at += t.data.length * 4;
  }
  return out;
}
