// safetensors (the format of `safetensors.torch.save_file`): an 8-byte little-endian header
// length, a JSON header {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?},
// then the raw little-endian tensor bytes. seqgpu reads F32, F64, F16 and BF16 (as f32) and
// writes F32.
import { ShapeError, fmtShape } from '../gpu/errors.js';
import type { NamedTensor } from './stateDict.js';

const BYTES: Record<string, number> = { F32: 4, F64: 8, F16: 2, BF16: 2 };

function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/**
 * Parses a safetensors file into named f32 tensors; throws naming what is malformed.
 * @param file - The bytes of a `.safetensors` file (as `safetensors.torch.save_file` writes it).
 * @returns Every tensor by name, converted to f32 (F32, F64, F16 and BF16 are read); `__metadata__`
 *   is skipped.
 * @throws ShapeError when the file is shorter than its header says (truncated), the header is not
 *   JSON, a dtype is not supported, or a tensor's byte range does not match its shape.
 * @example
 * ```ts
 * const dict = parseSafetensors(await (await fetch('lstm.safetensors')).arrayBuffer());
 * lstm.loadStateDict(dict);
 * ```
 */
export function parseSafetensors(file: ArrayBuffer | Uint8Array): Record<string, NamedTensor> {
  const bytes = file instanceof Uint8Array ? file : new Uint8Array(file);
  if (bytes.byteLength < 8) throw new ShapeError(`safetensors: file is ${bytes.byteLength} bytes, too short for its 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (8 + headerLen > bytes.byteLength) throw new ShapeError(`safetensors: header claims ${headerLen} bytes but the file has ${bytes.byteLength - 8} after the length (truncated?)`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
  } catch (e) {
    throw new ShapeError(`safetensors: header is not valid JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw new ShapeError(`safetensors: header must be a JSON object {name: {dtype, shape, data_offsets}}, got ${JSON.stringify(header)}`);
  }
  const dataStart = 8 + headerLen;
  const out: Record<string, NamedTensor> = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (info === null || typeof info !== 'object') throw new ShapeError(`safetensors: '${name}' must be {dtype, shape, data_offsets}, got ${JSON.stringify(info)}`);
    if (!Array.isArray(info.shape) || !info.shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new ShapeError(`safetensors: '${name}' has shape ${JSON.stringify(info.shape)}, expected a list of non-negative integers`);
    }
    const offsets = info.data_offsets as unknown;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((x) => Number.isSafeInteger(x)) || !(0 <= offsets[0] && offsets[0] <= offsets[1])) {
      throw new ShapeError(`safetensors: '${name}' data_offsets ${JSON.stringify(offsets)} must be integers 0 ≤ begin ≤ end`);
    }
    const size = Object.hasOwn(BYTES, info.dtype) ? BYTES[info.dtype] : 0;
    if (!size) throw new ShapeError(`safetensors: '${name}' has dtype ${info.dtype}; seqgpu reads F32, F64, F16, BF16`);
    const count = info.shape.reduce((a, b) => a * b, 1);
    const [begin, end] = info.data_offsets;
    if (end - begin !== count * size) throw new ShapeError(`safetensors: '${name}' ${info.dtype}[${info.shape.join(', ')}] needs ${count * size} bytes, its offsets span ${end - begin}`);
    if (dataStart + end > bytes.byteLength) throw new ShapeError(`safetensors: '${name}' ends at byte ${dataStart + end}, past the end of the file (${bytes.byteLength}): truncated`);
    const data = new Float32Array(count);
    const at = dataStart + begin;
    for (let i = 0; i < count; i++) {
      const o = at + i * size;
      data[i] =
        info.dtype === 'F32' ? view.getFloat32(o, true)
        : info.dtype === 'F64' ? view.getFloat64(o, true)
        : info.dtype === 'F16' ? f16ToF32(view.getUint16(o, true))
        : new Float32Array(new Uint32Array([view.getUint16(o, true) << 16]).buffer)[0];
    }
    out[name] = { shape: [...info.shape], data };
  }
  return out;
}

/**
 * Writes named f32 tensors as a safetensors file (keys in the given order).
 * @param tensors - Tensors by name; written as F32.
 * @param metadata - String pairs stored under `__metadata__`.
 * @returns The file's bytes (header padded so the data starts 8-byte aligned);
 *   `safetensors.torch.load_file` reads it.
 */
export function writeSafetensors(tensors: Record<string, NamedTensor>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const n = Array.isArray(t?.shape) && t.shape.every((d) => Number.isInteger(d) && d >= 0) ? t.shape.reduce((a, b) => a * b, 1) : -1;
    if (n < 0 || !t.data || t.data.length !== n) {
      throw new ShapeError(`writeSafetensors: '${name}' has shape ${Array.isArray(t?.shape) ? fmtShape(t.shape) : JSON.stringify(t?.shape)}${n >= 0 ? ` (${n} values)` : ''} but ${t?.data?.length} values; expected { shape: non-negative integers, data: their product of values }`);
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
