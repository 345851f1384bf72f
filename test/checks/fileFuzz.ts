// Helpers for the file tests (Node only: node:zlib): an independent implementation of the
// checkpoint CRC (zlib.crc32), an independent strict safetensors decoder, and seeded mutations of
// files (bit flips, truncations, splices, duplicated or deleted ranges, header JSON edits).
import { crc32 as zlibCrc32 } from 'node:zlib';
import { writeSafetensors, type NamedTensor } from '../../src/index.js';

const ascii = (s: string) => new TextEncoder().encode(s);
const CRC_FIELD = ascii('"seqgpu.file_crc32":"');

/** Start of the data section (8 + the header length field). */
export const dataStart = (bytes: Uint8Array) =>
  8 + Number(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true));

/**
 * Where the 8 CRC digits of a file written by JSON.stringify are, or -1 (not exactly once in the header, or not 8 hex
 * digits).
 */
function crcDigits(bytes: Uint8Array): number {
  const header = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, dataStart(bytes)));
  const at = header.indexOf(CRC_FIELD);
  const digits = at + CRC_FIELD.length;
  if (
    at < 0 ||
    header.indexOf(CRC_FIELD, at + 1) >= 0 ||
    !/^[0-9a-f]{8}"$/.test(header.toString('latin1', digits, digits + 9))
  )
    return -1;
  return digits;
}

/** zlib's CRC-32 of the whole file with its CRC digits read as "00000000", as 8 hex digits. */
export function zlibFileCrc(bytes: Uint8Array): string {
  const at = crcDigits(bytes);
  if (at < 0) throw new Error('zlibFileCrc: no single "seqgpu.file_crc32" field in the header');
  const copy = new Uint8Array(bytes);
  copy.set(ascii('00000000'), at);
  return (zlibCrc32(copy) >>> 0).toString(16).padStart(8, '0');
}

/** The file with its seqgpu.file_crc32 digits set to the file's CRC (zlib), i.e. made valid again after an edit. */
export function seal(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes);
  out.set(ascii(zlibFileCrc(out)), crcDigits(out));
  return out;
}

/** A version-2 checkpoint file of these tensors and metadata (its CRC key replaced), sealed with zlib. */
export function writeSealed(tensors: Record<string, NamedTensor>, metadata: Record<string, string>): Uint8Array {
  const meta: Record<string, string> = { ...metadata, 'seqgpu.file_crc32': '00000000' };
  delete meta['seqgpu.crc32'];
  return seal(writeSafetensors(tensors, meta));
}

/** The file with its JSON header replaced by `edit(header)` (or the edited header), data unchanged. */
export function editHeader(bytes: Uint8Array, edit: (h: Record<string, any>) => unknown): Uint8Array {
  const start = dataStart(bytes);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, start)));
  const text = ascii(JSON.stringify(edit(header) ?? header));
  const out = new Uint8Array(8 + text.length + bytes.length - start);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  out.set(bytes.subarray(start), 8 + text.length);
  return out;
}

// ---- an independent strict safetensors decoder (the rules of src/io/safetensors.ts, written again) ----

const SIZES: Record<string, number> = { F32: 4, F64: 8, F16: 2, BF16: 2 };

/** f16 bits → the f32 bits of the same value (NaN: any quiet NaN). */
function f16Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const e = (h >> 10) & 31;
  const f = h & 0x3ff;
  if (e === 31) return sign | 0x7f800000 | (f ? 0x400000 : 0);
  if (e > 0) return sign | ((e - 15 + 127) << 23) | (f << 13);
  if (f === 0) return sign;
  let shift = 0; // subnormal: normalise
  while (!((f << shift) & 0x400)) shift++;
  return sign | ((1 - 15 - shift + 127) << 23) | (((f << shift) & 0x3ff) << 13);
}

/** The tensors of a strict safetensors file, or null when the file breaks a rule. */
export function referenceDecode(bytes: Uint8Array): Array<[string, NamedTensor]> | null {
  if (bytes.length < 8) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const n = view.getBigUint64(0, true);
  if (n > 100_000_000n || 8n + n > BigInt(bytes.length)) return null;
  let header: any;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + Number(n))));
  } catch {
    return null;
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) return null;
  const base = 8 + Number(n);
  const out: Array<[string, NamedTensor]> = [];
  const spans: Array<[number, number]> = [];
  for (const name of Object.keys(header)) {
    const e = header[name];
    if (typeof e !== 'object' || e === null || Array.isArray(e)) return null;
    if (name === '__metadata__') {
      if (Object.values(e).some((v) => typeof v !== 'string')) return null;
      continue;
    }
    if (Object.keys(e).some((k) => k !== 'dtype' && k !== 'shape' && k !== 'data_offsets')) return null;
    const size = typeof e.dtype === 'string' && Object.hasOwn(SIZES, e.dtype) ? SIZES[e.dtype] : 0;
    const shape = e.shape;
    const off = e.data_offsets;
    if (!size || !Array.isArray(shape) || shape.some((d: unknown) => !Number.isSafeInteger(d) || (d as number) < 0))
      return null;
    if (
      !Array.isArray(off) ||
      off.length !== 2 ||
      off.some((o: unknown) => !Number.isSafeInteger(o)) ||
      off[0] < 0 ||
      off[1] < off[0]
    )
      return null;
    const count = shape.reduce((a: number, b: number) => a * b, 1);
    if (off[1] - off[0] !== count * size || base + off[1] > bytes.length) return null;
    spans.push([off[0], off[1]]);
    const bits = new Uint32Array(count);
    for (let i = 0; i < count; i++) {
      const at = base + off[0] + i * size;
      if (e.dtype === 'F32') bits[i] = view.getUint32(at, true);
      else if (e.dtype === 'F16') bits[i] = f16Bits(view.getUint16(at, true));
      else if (e.dtype === 'BF16') bits[i] = view.getUint16(at, true) * 65536;
      else new Float32Array(bits.buffer)[i] = view.getFloat64(at, true);
    }
    out.push([name, { shape: [...shape], data: new Float32Array(bits.buffer) }]);
  }
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let end = 0;
  for (const [b, e] of spans) {
    if (b !== end) return null;
    end = e;
  }
  return end === bytes.length - base ? out : null;
}

/** Whether two tensor lists are equal: names in order, shapes, and values bit for bit (any NaN equals any NaN). */
export function sameTensors(a: Array<[string, NamedTensor]>, b: Array<[string, NamedTensor]>): boolean {
  if (a.length !== b.length) return false;
  return a.every(([name, t], i) => {
    const [name2, u] = b[i];
    if (
      name !== name2 ||
      t.shape.length !== u.shape.length ||
      t.shape.some((d, j) => d !== u.shape[j]) ||
      t.data.length !== u.data.length
    )
      return false;
    const [x, y] = [
      new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length),
      new Uint32Array(u.data.buffer, u.data.byteOffset, u.data.length),
    ];
    for (let j = 0; j < x.length; j++)
      if (x[j] !== y[j] && !(Number.isNaN(t.data[j]) && Number.isNaN(u.data[j]))) return false;
    return true;
  });
}

// ---- mutations ----

/** One mutated file: what was done, and the bytes. */
export interface Mutation {
  what: string;
  bytes: Uint8Array;
}

const pick = <T>(rand: () => number, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
const int = (rand: () => number, n: number) => Math.floor(rand() * n);

/**
 * A random edit of one place inside a JSON object or array (numbers, values and their types, keys), in place; says what
 * it did.
 */
function editJson(rand: () => number, root: object, prefix: string): string | null {
  const places: Array<{ parent: any; key: string | number; path: string }> = [];
  const walk = (v: any, path: string) => {
    if (v === null || typeof v !== 'object') return;
    for (const k of Array.isArray(v) ? v.keys() : Object.keys(v)) {
      places.push({ parent: v, key: k, path: `${path}.${k}` });
      walk(v[k], `${path}.${k}`);
    }
  };
  walk(root, prefix);
  if (!places.length) return null;
  const { parent, key, path } = pick(rand, places);
  const v = parent[key];
  const op = int(rand, 6);
  const other = <T>(xs: T[]) =>
    pick(
      rand,
      xs.filter((x) => JSON.stringify(x) !== JSON.stringify(v)),
    );
  if (op === 0 && typeof v === 'number') {
    parent[key] = other([v + 1, v - 1, 0, -1, v * 2, v + 0.5, 1e300, 2 ** 53, 4294967296]);
    return `number ${path}: ${v} → ${parent[key]}`;
  }
  if (op <= 1) {
    parent[key] = other([
      String(v),
      'false',
      'true',
      '',
      '1',
      'F16',
      'F64',
      'BF16',
      'I32',
      'f32',
      null,
      true,
      false,
      0,
      7,
      [],
      {},
      [1, 2],
    ]);
    return `value ${path}: ${JSON.stringify(v)?.slice(0, 20)} → ${JSON.stringify(parent[key])}`;
  }
  if (Array.isArray(parent)) {
    if (op === 2) parent.splice(key as number, 1);
    else parent.push(pick(rand, [0, 1, 'x', null]));
    return `array ${path.slice(0, path.lastIndexOf('.'))}: ${op === 2 ? 'removed an element' : 'added an element'}`;
  }
  if (op === 2) {
    delete parent[key];
    return `deleted key ${path}`;
  }
  const name = other(
    [
      'extra',
      '__proto__',
      'constructor',
      'toString',
      `${key}x`,
      String(key).toUpperCase(),
      'lr',
      'dtype',
      'shape',
    ].filter((k) => !Object.hasOwn(parent, k)),
  );
  const define = (o: object, k: string, value: unknown) =>
    Object.defineProperty(o, k, { value, enumerable: true, writable: true, configurable: true });
  if (op === 3) {
    const entries = Object.entries(parent).map(([k, x]): [string, unknown] => [k === key ? name : k, x]);
    for (const k of Object.keys(parent)) delete parent[k];
    for (const [k, x] of entries) define(parent, k, x);
    return `renamed key ${path} → ${name}`;
  }
  define(parent, name, pick(rand, [1, 'x', null, true, { dtype: 'F32', shape: [1], data_offsets: [0, 4] }]));
  return `added key ${name} next to ${path}`;
}

/** A random edit of the header: of its JSON, or of the JSON object inside a metadata string. */
function editHeaderJson(rand: () => number, bytes: Uint8Array): Mutation {
  let what: string | null = null;
  const out = editHeader(bytes, (h) => {
    const meta = h.__metadata__;
    const inner = meta && typeof meta === 'object' ? Object.keys(meta).filter((k) => /^[[{]/.test(meta[k])) : [];
    if (inner.length && rand() < 0.5) {
      const k = pick(rand, inner);
      const value = JSON.parse(meta[k]);
      what = editJson(rand, value, k);
      meta[k] = JSON.stringify(value);
    }
    what ??= editJson(rand, h, '');
  });
  return { what: `header edit, ${what}`, bytes: out };
}

/**
 * One random mutation of `file` (seeded by `rand`): bit flips (anywhere, or in the header),
 * truncation, a range copied over another place, a range duplicated, a range deleted, bytes
 * appended, or a header JSON edit (the data section unchanged).
 */
export function mutate(rand: () => number, file: Uint8Array): Mutation {
  const n = file.length;
  const header = Math.min(n, dataStart(file));
  const kind = int(rand, 8);
  if (kind <= 1) {
    const bytes = new Uint8Array(file);
    const flips = 1 + int(rand, 3);
    const where: number[] = [];
    for (let i = 0; i < flips; i++) {
      const at = kind === 0 ? int(rand, n) : int(rand, header);
      bytes[at] ^= 1 << int(rand, 8);
      where.push(at);
    }
    return { what: `bit flip at ${where.join(', ')}${kind === 1 ? ' (header)' : ''}`, bytes };
  }
  if (kind === 2) {
    const at = int(rand, n);
    return { what: `truncated to ${at} of ${n} bytes`, bytes: file.slice(0, at) };
  }
  const a = int(rand, n);
  const len = 1 + int(rand, Math.min(64, n - a));
  if (kind === 3) {
    const to = int(rand, n - len + 1);
    const bytes = new Uint8Array(file);
    bytes.set(file.slice(a, a + len), to);
    return { what: `bytes [${a}, ${a + len}) copied over ${to}`, bytes };
  }
  if (kind === 4) {
    const at = int(rand, n + 1);
    return {
      what: `bytes [${a}, ${a + len}) duplicated at ${at}`,
      bytes: Uint8Array.from([...file.subarray(0, at), ...file.subarray(a, a + len), ...file.subarray(at)]),
    };
  }
  if (kind === 5)
    return {
      what: `bytes [${a}, ${a + len}) deleted`,
      bytes: Uint8Array.from([...file.subarray(0, a), ...file.subarray(a + len)]),
    };
  if (kind === 6)
    return { what: `${len} bytes appended`, bytes: Uint8Array.from([...file, ...file.subarray(a, a + len)]) };
  return editHeaderJson(rand, file);
}

/** A header JSON edit of a checkpoint, sealed again (valid CRC): what the checks after the CRC must catch. */
export function mutateSealed(rand: () => number, file: Uint8Array): Mutation {
  for (;;) {
    const m = editHeaderJson(rand, file);
    if (crcDigits(m.bytes) >= 0) return { what: `${m.what} (sealed)`, bytes: seal(m.bytes) };
  }
}
