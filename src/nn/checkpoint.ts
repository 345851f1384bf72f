// Checkpoints: a model's parameters and its optimizer's state in ONE safetensors file, under
// PyTorch's names, so any safetensors reader opens it and the equivalent PyTorch modules and
// torch.optim optimizer load it (test/fixtures/load_checkpoint.py does exactly that).
//
// Tensors (all F32, little-endian, in this order):
//   <param>                                   every parameter under its PyTorch state_dict name,
//                                             in the model's parameter order (= torch's
//                                             model.parameters() order for the same modules)
//   optimizer.state.<param>.exp_avg           Adam / AdamW first moment, the shape of <param>
//   optimizer.state.<param>.exp_avg_sq        Adam / AdamW second moment
//   optimizer.state.<param>.momentum_buffer   SGD with momentum > 0 (none for plain SGD)
// __metadata__ (safetensors allows only string values):
//   format                   "pt"
//   seqgpu.checkpoint        "2", the layout version
//   seqgpu.class             "SequenceModel" | "Seq2Seq" | "RNN" | "LSTM" | "GRU" | "MultiHeadAttention"
//   seqgpu.config            JSON: the options of the model that saved it; those that define what
//                            the parameters mean (cell, sizes, mode, …) must match on load
//   optimizer.class          "SGD" | "Adam" | "AdamW" (the torch.optim class)        — trained models only
//   optimizer.step           steps taken: torch's state[p]['step'] for every parameter
//   optimizer.param_groups   JSON: torch's param_groups (one group) with parameter NAMES in
//                            'params': Adam(W) {lr, betas, eps, weight_decay, amsgrad, maximize},
//                            SGD {lr, momentum, dampening, weight_decay, nesterov, maximize};
//                            'lr' is the learning rate of the last step, 'initial_lr' the base
//                            rate a schedule starts from (as torch's LR schedulers record it)
//   optimizer.seqgpu         JSON: what seqgpu fuses into its update {clipNorm, clipValue,
//                            trackGradNorm} (torch.nn.utils.clip_grad_norm_ / _value_ in PyTorch)
//   seqgpu.training          JSON: the model's own training counters (Seq2Seq: the teacher-forcing
//                            coin's seed and draws), so training continues exactly
//   seqgpu.file_crc32        CRC-32 (IEEE, as zlib.crc32) of EVERY byte of the file — length field,
//                            header, padding and data — computed with these 8 hex digits (lowercase)
//                            set to "00000000", then written in their place. The key must appear
//                            literally, once, as `"seqgpu.file_crc32":"xxxxxxxx"` (JSON whitespace
//                            around the colon allowed), so a reader finds the digits in the bytes.
// and, after the optimizer state, the model's own training tensors under `seqgpu.` names
// (SequenceModel with carryState: the state carried between batches, seqgpu.carried.h.batch<B>
// and seqgpu.carried.c.batch<B>, [numLayers·D, B, hiddenSize]); PyTorch loaders skip them.
//
// Version 1 (seqgpu before the whole-file CRC; test/fixtures/make_checkpoint_fixture.py writes it)
// is still read: the same layout with `seqgpu.crc32`, a CRC-32 of the data section only, instead
// of seqgpu.file_crc32 — so an edit of a version-1 HEADER is not detected. seqgpu writes version 2.
//
// Loading checks everything before anything changes (structure, offsets, CRC, class, config,
// every metadata key, every name, shape, dtype and value, the optimizer's hyperparameters), then
// restores: the saved hyperparameters replace the configured ones (as torch's
// optimizer.load_state_dict does), the step count and moments are loaded, and training continues
// bit for bit. Unknown keys (of seqgpu's `seqgpu.` / `optimizer.` metadata, of seqgpu.config, of
// the param group, of optimizer.seqgpu, of seqgpu.training), missing ones (required metadata,
// torch's param-group keys, clipping keys, counters) and unknown or missing tensors are errors
// naming them; so is a value of the wrong JSON type (the string "false" for a boolean). A config
// key the file lacks is an error only when it is structural (it must match); other metadata keys
// (outside seqgpu's namespace, e.g. "format") are kept and not checked.
// What a file cannot hold (a schedule function, carryState, teacherForcingRatio) comes from the
// model's current training options or from `train`. A safetensors file without seqgpu's metadata
// (e.g. `safetensors.torch.save_file(model.state_dict())`) loads as parameters only.
import { ArgumentError, ShapeError, fmtShape } from '../util/errors.js';
import {
  resolve as resolveOptimizer,
  type OptimizerOptions,
  type OptimizerState,
  type Optimizer,
} from '../kernels/optimizer.js';
import type { ParameterStore } from '../io/parameters.js';
import { readSafetensors, writeSafetensors, type SafetensorsFile } from '../io/safetensors.js';
import { showValue } from '../util/options.js';
import type { NamedTensor, StateDict } from '../io/stateDict.js';

/** The layout version written in `seqgpu.checkpoint` (version 1 files are still read). */
export const CHECKPOINT_VERSION = '2';

/** The CRC key of each version readable: v2 covers the whole file, v1 only the data section. */
const CRC_KEY: Record<string, string> = { '1': 'seqgpu.crc32', '2': 'seqgpu.file_crc32' };
/** seqgpu's metadata keys besides the CRC; any other `seqgpu.` or `optimizer.` key is an error. */
const METADATA_KEYS = [
  'seqgpu.checkpoint',
  'seqgpu.class',
  'seqgpu.config',
  'seqgpu.training',
  'optimizer.class',
  'optimizer.step',
  'optimizer.param_groups',
  'optimizer.seqgpu',
];
const inNamespace = (k: string) => k.startsWith('seqgpu.') || k.startsWith('optimizer.');
/** `"seqgpu.file_crc32": "<8 lowercase hex digits>"` in the header text. */
const FILE_CRC_FIELD = /"seqgpu\.file_crc32"[ \t\n\r]*:[ \t\n\r]*"([0-9a-f]{8})"/g;
const CRC_PLACEHOLDER = new TextEncoder().encode('00000000');

/** A checkpoint as read by {@link readCheckpoint}: tensors in file order and the metadata. */
export interface CheckpointFile {
  /** Every tensor by name, converted to f32, in file order (a null-prototype object). */
  tensors: Record<string, NamedTensor>;
  /** The `__metadata__` string pairs (a null-prototype object; empty when the file has none). */
  metadata: Record<string, string>;
}

/** Options of `model.loadCheckpoint(bytes, opts)`. */
export interface LoadCheckpointOptions {
  /**
   * Restore the optimizer state when the file has one (default true). false loads the
   * parameters only and leaves the model's optimizer as it is.
   */
  optimizer?: boolean;
}

/** torch.optim names of seqgpu's moment buffers. */
const MOMENT_NAMES: Record<string, string> = { m: 'exp_avg', v: 'exp_avg_sq', momentum: 'momentum_buffer' };
const TORCH_CLASS: Record<OptimizerOptions['kind'], string> = { sgd: 'SGD', adam: 'Adam', adamw: 'AdamW' };

/**
 * @internal What a model or layer lends the checkpoint code: its parameters and, for models
 * that train, its optimizer and a way to restore one.
 */
export interface CheckpointHost {
  className: string;
  /**
   * Options written to `seqgpu.config`; on load, the file's config may hold only these keys, each of the same JSON
   * type.
   */
  config: Record<string, unknown>;
  /** The keys of `config` that must match on load. */
  structural: readonly string[];
  store: ParameterStore;
  /** Prefix of the parameters' keys in `store` (a layer inside a model); the file has none. */
  prefix?: string;
  /** PyTorch names, in order. */
  names: readonly string[];
  /** Writes validated parameters (the model's loadStateDict). */
  loadStateDict(dict: StateDict): void;
  training?: {
    optimizer: Optimizer | null;
    /** The model's counters (`seqgpu.training`) and tensors (`seqgpu.*` names), saved with the optimizer. */
    save?(): Promise<{ counters?: Record<string, number>; tensors?: Record<string, NamedTensor> }>;
    /**
     * Checks the saved counters and `seqgpu.*` tensors, throwing an ArgumentError without
     * changing anything, and returns what restores the training: it creates the optimizer from
     * `options`, loads `state` and sets the counters and tensors. Called before anything changes;
     * the returned function runs (unless `optimizer: false`) after every other check passed.
     */
    prepare(
      counters: Record<string, unknown>,
      tensors: Record<string, NamedTensor>,
      where: string,
    ): (options: OptimizerOptions, state: OptimizerState) => void;
  };
}

let crcTable: Uint32Array | null = null;

/**
 * CRC-32 (IEEE 802.3, as zlib's crc32) of `bytes`, optionally continuing a previous one.
 * @param bytes - The data.
 * @param crc - The CRC of the bytes before `bytes` (default 0: none), as `zlib.crc32(data, value)`.
 * @returns The checksum as an unsigned 32-bit integer.
 */
export function crc32(bytes: Uint8Array, crc = 0): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = (crc ^ 0xffffffff) >>> 0;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const hex8 = (n: number) => n.toString(16).padStart(8, '0');

/**
 * The seqgpu.file_crc32 field of a file: where its 8 digits are, what they say and the CRC the
 * file has (its digits counted as "00000000"); null unless the field is in the header exactly once.
 */
function fileCrc(bytes: Uint8Array, dataStart: number): { at: number; stored: string; actual: string } | null {
  const text = new TextDecoder().decode(bytes.subarray(8, dataStart));
  const found = [...text.matchAll(FILE_CRC_FIELD)];
  if (found.length !== 1) return null;
  const [match, stored] = found[0];
  const at = 8 + new TextEncoder().encode(text.slice(0, found[0].index + match.length - 9)).length;
  const actual = crc32(bytes.subarray(at + 8), crc32(CRC_PLACEHOLDER, crc32(bytes.subarray(0, at))));
  return { at, stored, actual: hex8(actual) };
}

/**
 * Checks seqgpu's metadata of a file read by readSafetensors: the keys (known for the version,
 * the required ones present) and the CRC (v2: the whole file, v1: the data section).
 */
function checkSeqgpuMetadata(where: string, file: SafetensorsFile): void {
  const fail = (msg: string): never => {
    throw new ArgumentError(`${where}: ${msg}`);
  };
  const meta = file.metadata;
  const keys = Object.keys(meta).filter(inNamespace);
  if (keys.length === 0) return; // a plain safetensors file: parameters only
  const version = meta['seqgpu.checkpoint'];
  if (version === undefined)
    fail(`__metadata__ has seqgpu keys (${keys.join(', ')}) but no 'seqgpu.checkpoint' (the layout version)`);
  const crcKey = Object.hasOwn(CRC_KEY, version)
    ? CRC_KEY[version]
    : fail(
        `the file has checkpoint layout version '${version}'; this seqgpu reads ` +
          `versions ${Object.keys(CRC_KEY).join(' and ')}`,
      );
  const known = [...METADATA_KEYS, crcKey];
  for (const k of keys)
    if (!known.includes(k))
      fail(`__metadata__ has an unknown key '${k}'; a version ${version} checkpoint has ${known.join(', ')}`);
  for (const k of ['seqgpu.class', 'seqgpu.config', crcKey])
    if (meta[k] === undefined) fail(`the version ${version} checkpoint has no __metadata__['${k}']`);
  if (meta['optimizer.class'] === undefined) {
    const orphan = keys.find((k) => k.startsWith('optimizer.') || k === 'seqgpu.training');
    if (orphan) fail(`__metadata__ has '${orphan}' but no 'optimizer.class'`);
  }
  if (version === '1') {
    const got = hex8(crc32(file.bytes.subarray(file.dataStart)));
    if (meta[crcKey] !== got)
      fail(`the data section's CRC-32 is ${got} but the header records ${meta[crcKey]}: the file is corrupt`);
    return;
  }
  const crc = fileCrc(file.bytes, file.dataStart);
  if (!crc)
    return fail(
      `the header must hold "${crcKey}":"<8 lowercase hex digits>" exactly once, ` +
        `literally; it holds ${showValue(meta[crcKey])}: the file is corrupt`,
    );
  if (crc.stored !== crc.actual || meta[crcKey] !== crc.stored)
    fail(`the file's CRC-32 is ${crc.actual} but the header records ${meta[crcKey]}: the file is corrupt`);
}

/**
 * Reads and validates a safetensors file strictly: header length (≤ 100 MB) and JSON, every
 * entry's dtype, shape and offsets (contiguous, no holes or overlaps, nothing past the end,
 * nothing after the last tensor), the metadata (strings); and, when the file has seqgpu's
 * metadata, its keys (each known, the required ones present) and its CRC: version 2's
 * `seqgpu.file_crc32` over every byte of the file, version 1's `seqgpu.crc32` over the data.
 * @param file - The bytes of a `.safetensors` file.
 * @param where - Prefix of error messages (the caller's name).
 * @returns The tensors and the metadata, in null-prototype objects.
 * @throws ArgumentError (ShapeError for sizes, lengths and offsets) saying what is wrong,
 *   prefixed by `where`.
 */
export function readCheckpoint(file: ArrayBuffer | Uint8Array, where = 'readCheckpoint'): CheckpointFile {
  const read = readSafetensors(file, where);
  checkSeqgpuMetadata(where, read);
  return { tensors: read.tensors, metadata: read.metadata };
}

/** Reads the whole parameter buffer once and slices it per name. */
async function readParameters(host: CheckpointHost): Promise<Record<string, NamedTensor>> {
  const store = host.store;
  const all = new Float32Array(await store.gpu.readBuffer(store.params, 0, store.length * 4));
  const out: Record<string, NamedTensor> = {};
  for (const name of host.names) {
    const s = store.slot((host.prefix ?? '') + name);
    out[name] = { shape: [...s.shape], data: all.slice(s.offset, s.offset + s.size) };
  }
  return out;
}

/** torch's param_groups[0] (names in 'params') for seqgpu's resolved options. */
function paramGroup(o: Optimizer['options'], lr: number, names: readonly string[]): Record<string, unknown> {
  const common = { lr, initial_lr: o.lr, weight_decay: o.weightDecay, maximize: false };
  const group =
    o.kind === 'sgd'
      ? { ...common, momentum: o.momentum, dampening: o.dampening, nesterov: o.nesterov }
      : { ...common, betas: [o.beta1, o.beta2], eps: o.eps, amsgrad: false };
  return { ...group, params: [...names] };
}

/** Writes `host`'s checkpoint (layout at the top of this file). */
export async function saveCheckpoint(host: CheckpointHost): Promise<Uint8Array> {
  const tensors: Record<string, NamedTensor> = await readParameters(host);
  const metadata: Record<string, string> = {
    format: 'pt',
    'seqgpu.checkpoint': CHECKPOINT_VERSION,
    'seqgpu.class': host.className,
    'seqgpu.config': JSON.stringify(host.config),
  };
  const optimizer = host.training?.optimizer;
  if (optimizer) {
    const state = await optimizer.readState();
    for (const [moment, flat] of Object.entries(state.buffers)) {
      for (const name of host.names) {
        const s = host.store.slot((host.prefix ?? '') + name);
        tensors[`optimizer.state.${name}.${MOMENT_NAMES[moment]}`] = {
          shape: [...s.shape],
          data: flat.slice(s.offset, s.offset + s.size),
        };
      }
    }
    const o = optimizer.options;
    metadata['optimizer.class'] = TORCH_CLASS[o.kind];
    metadata['optimizer.step'] = String(state.step);
    metadata['optimizer.param_groups'] = JSON.stringify([paramGroup(o, state.lr ?? optimizer.lr, host.names)]);
    metadata['optimizer.seqgpu'] = JSON.stringify({
      clipNorm: o.clipNorm ?? null,
      clipValue: o.clipValue ?? null,
      trackGradNorm: o.trackGradNorm,
    });
    const own = await host.training?.save?.();
    if (own?.counters) metadata['seqgpu.training'] = JSON.stringify(own.counters);
    Object.assign(tensors, own?.tensors);
  }
  // Write with the CRC's digits as the placeholder, then put the whole file's CRC in their place.
  metadata[CRC_KEY[CHECKPOINT_VERSION]] = new TextDecoder().decode(CRC_PLACEHOLDER);
  const out = writeSafetensors(tensors, metadata);
  const crc = fileCrc(out, 8 + Number(new DataView(out.buffer).getBigUint64(0, true)))!;
  out.set(new TextEncoder().encode(crc.actual), crc.at);
  return out;
}

function parseJson(where: string, key: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ArgumentError(`${where}: __metadata__['${key}'] is not valid JSON (${(e as Error).message})`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/** JSON value kinds of the file's objects, and their tests. */
const KINDS = {
  'a number': (v: unknown) => typeof v === 'number',
  'a string': (v: unknown) => typeof v === 'string',
  'a boolean': (v: unknown) => typeof v === 'boolean',
  'a number or null': (v: unknown) => v === null || typeof v === 'number',
  'a boolean or null': (v: unknown) => v === null || typeof v === 'boolean',
  'a number, string, boolean or null': (v: unknown) => v === null || ['number', 'string', 'boolean'].includes(typeof v),
  'any JSON value': () => true,
  '[beta1, beta2] (numbers)': (v: unknown) =>
    Array.isArray(v) && v.length === 2 && v.every((b) => typeof b === 'number'),
  'a list of parameter names': (v: unknown) => Array.isArray(v) && v.every((n) => typeof n === 'string'),
};
type Kind = keyof typeof KINDS;
/** Allowed keys of a JSON object in the file: their kind and whether they must be there. */
type Fields = Record<string, { kind: Kind; required: boolean }>;

/** The kind of a JSON value like `v` (a host's option): its scalar type; any scalar where it is unset. */
function kindOf(v: unknown): Kind {
  if (v === undefined || v === null) return 'a number, string, boolean or null';
  return typeof v === 'number'
    ? 'a number'
    : typeof v === 'string'
      ? 'a string'
      : typeof v === 'boolean'
        ? 'a boolean'
        : 'any JSON value';
}

/** Throws unless `obj` (`what` in messages) has only `fields`, the required ones, each of its kind. */
function checkFields(where: string, what: string, obj: Record<string, unknown>, fields: Fields): void {
  for (const [k, v] of Object.entries(obj)) {
    if (!Object.hasOwn(fields, k))
      throw new ArgumentError(
        `${where}: ${what} has an unknown key '${k}'; expected ${Object.keys(fields).join(', ')}`,
      );
    if (!KINDS[fields[k].kind](v))
      throw new ArgumentError(
        `${where}: ${what}.${k} is ${showValue(v)} ` +
          `(${v === null ? 'null' : Array.isArray(v) ? 'an array' : `a ${typeof v}`}); ` +
          `expected ${fields[k].kind}`,
      );
  }
  for (const [k, f] of Object.entries(fields)) {
    if (f.required && !Object.hasOwn(obj, k)) throw new ArgumentError(`${where}: ${what} has no '${k}' (${f.kind})`);
  }
}

const fields = (required: Record<string, Kind>, optional: Record<string, Kind> = {}): Fields => ({
  ...Object.fromEntries(Object.entries(required).map(([k, kind]) => [k, { kind, required: true }])),
  ...Object.fromEntries(Object.entries(optional).map(([k, kind]) => [k, { kind, required: false }])),
});
/**
 * torch's group keys: those every group has, and those it may have (a scheduler's base rate, and implementation
 * switches that do not change the arithmetic).
 */
const GROUP_COMMON: Record<string, Kind> = {
  params: 'a list of parameter names',
  lr: 'a number',
  weight_decay: 'a number',
  maximize: 'a boolean',
};
const GROUP_OPTIONAL: Record<string, Kind> = {
  initial_lr: 'a number',
  foreach: 'a boolean or null',
  fused: 'a boolean or null',
  capturable: 'a boolean or null',
  differentiable: 'a boolean or null',
};
const GROUP_FIELDS: Record<'sgd' | 'adam', Fields> = {
  sgd: fields({ ...GROUP_COMMON, momentum: 'a number', dampening: 'a number', nesterov: 'a boolean' }, GROUP_OPTIONAL),
  adam: fields(
    { ...GROUP_COMMON, betas: '[beta1, beta2] (numbers)', eps: 'a number', amsgrad: 'a boolean' },
    GROUP_OPTIONAL,
  ),
};
const FUSED_FIELDS = fields({
  clipNorm: 'a number or null',
  clipValue: 'a number or null',
  trackGradNorm: 'a boolean',
});

/** OptimizerOptions from the file's metadata (validated as the Optimizer constructor would). */
function optimizerOptions(
  where: string,
  meta: Record<string, string>,
  names: readonly string[],
): { options: OptimizerOptions; lr: number; step: number } {
  const fail = (msg: string): never => {
    throw new ArgumentError(`${where}: ${msg}`);
  };
  for (const key of ['optimizer.step', 'optimizer.param_groups']) {
    if (meta[key] === undefined) fail(`the file has optimizer.class but no __metadata__['${key}']`);
  }
  const cls = meta['optimizer.class'];
  const kind = (Object.keys(TORCH_CLASS) as Array<OptimizerOptions['kind']>).find((k) => TORCH_CLASS[k] === cls);
  if (!kind) return fail(`optimizer.class is '${cls}'; seqgpu restores SGD, Adam and AdamW`);
  const stepText = meta['optimizer.step'];
  const step = Number(stepText);
  if (!/^\d+$/.test(stepText) || !Number.isSafeInteger(step))
    fail(`optimizer.step is '${stepText}'; expected a non-negative integer`);
  const groups = parseJson(where, 'optimizer.param_groups', meta['optimizer.param_groups']);
  if (!Array.isArray(groups) || groups.length !== 1 || !isObject(groups[0]))
    fail('optimizer.param_groups must be a list of ONE group (seqgpu trains all parameters as one group)');
  const g = (groups as Array<Record<string, unknown>>)[0];
  checkFields(where, 'optimizer.param_groups[0]', g, GROUP_FIELDS[kind === 'sgd' ? 'sgd' : 'adam']);
  const params = g.params as string[];
  if (params.length !== names.length || params.some((p, i) => p !== names[i])) {
    fail(
      `optimizer.param_groups[0].params is ${showValue(params)}; this model's parameters are ${JSON.stringify(names)}`,
    );
  }
  if (g.amsgrad === true) fail('the optimizer used amsgrad, which seqgpu does not implement');
  if (g.maximize === true) fail('the optimizer used maximize, which seqgpu does not implement');
  const lr = g.lr as number;
  const extra = parseJson(
    where,
    'optimizer.seqgpu',
    meta['optimizer.seqgpu'] ?? '{"clipNorm":null,"clipValue":null,"trackGradNorm":false}',
  );
  if (!isObject(extra))
    return fail(
      `__metadata__['optimizer.seqgpu'] must be a JSON object {clipNorm, clipValue, ` +
        `trackGradNorm}, got ${showValue(extra)}`,
    );
  checkFields(where, 'optimizer.seqgpu', extra, FUSED_FIELDS);
  const options: OptimizerOptions = {
    kind,
    lr: (g.initial_lr as number | undefined) ?? lr,
    weightDecay: g.weight_decay as number,
  };
  if (kind === 'sgd') Object.assign(options, { momentum: g.momentum, dampening: g.dampening, nesterov: g.nesterov });
  else Object.assign(options, { beta1: (g.betas as number[])[0], beta2: (g.betas as number[])[1], eps: g.eps });
  if (extra.clipNorm !== null) options.clipNorm = extra.clipNorm as number;
  if (extra.clipValue !== null) options.clipValue = extra.clipValue as number;
  if (extra.trackGradNorm === true) options.trackGradNorm = true;
  // The optimizer's own checks: of the options, and of the last step's rate (as loadState checks it).
  for (const [what, rate] of [
    ['hyperparameters are', options.lr],
    ['last learning rate (param_groups[0].lr) is', lr],
  ] as const) {
    try {
      resolveOptimizer({ ...options, lr: rate });
    } catch (e) {
      fail(`the file's optimizer ${what} invalid: ${(e as Error).message}`);
    }
  }
  return { options, lr, step };
}

/** Throws unless the file was written by a `host.className` whose structural options equal `host`'s. */
function checkIdentity(where: string, host: CheckpointHost, metadata: Record<string, string>): void {
  const cls = metadata['seqgpu.class'];
  if (cls !== host.className)
    throw new ArgumentError(`${where}: the file holds a ${cls} checkpoint, not a ${host.className} one`);
  const config = parseJson(where, 'seqgpu.config', metadata['seqgpu.config']);
  if (!isObject(config))
    throw new ArgumentError(`${where}: __metadata__['seqgpu.config'] must be a JSON object, got ${showValue(config)}`);
  // Only the keys the host's config has, each of the JSON type of its value.
  checkFields(
    where,
    'seqgpu.config',
    config,
    fields({}, Object.fromEntries(Object.entries(host.config).map(([k, v]) => [k, kindOf(v)]))),
  );
  for (const k of host.structural) {
    const [a, b] = [JSON.stringify(config[k]), JSON.stringify(host.config[k])];
    if (a !== b)
      throw new ShapeError(
        `${where}: the checkpoint's ${host.className} has ${k} = ${a ?? 'unset'}, this one has ${k} = ${b ?? 'unset'}`,
      );
  }
}

/**
 * Loads a checkpoint into `host` (see the layout above): checks everything, then restores the
 * optimizer (when the file has one and `opts.optimizer` is not false) and writes the parameters.
 */
export function loadCheckpoint(
  host: CheckpointHost,
  file: ArrayBuffer | Uint8Array,
  opts: LoadCheckpointOptions = {},
): void {
  const where = `${host.className}.loadCheckpoint`;
  if (opts === null || typeof opts !== 'object')
    throw new ArgumentError(`${where}: options must be an object, got ${showValue(opts)}`);
  for (const k of Object.keys(opts))
    if (k !== 'optimizer' && k !== 'train')
      throw new ArgumentError(
        `${where}: options has an unknown key '${k}'; expected optimizer${host.training ? ', train' : ''}`,
      );
  if (opts.optimizer !== undefined && typeof opts.optimizer !== 'boolean')
    throw new ArgumentError(
      `${where}: options.optimizer is ${showValue(opts.optimizer)}; expected true or false (a boolean)`,
    );
  const { tensors, metadata } = readCheckpoint(file, where);
  if (metadata['seqgpu.checkpoint'] !== undefined) checkIdentity(where, host, metadata);

  // Parameters: every name present, shape equal, values finite; nothing unknown.
  const prefix = host.prefix ?? '';
  const expected = new Map(host.names.map((n) => [n, host.store.slot(prefix + n).shape]));
  const params: Record<string, NamedTensor> = {};
  for (const [name, shape] of expected) {
    const t = tensors[name];
    if (!t)
      throw new ArgumentError(
        `${where}: the file has no tensor '${name}' (${fmtShape(shape)}), a parameter of this ${host.className}`,
      );
    checkTensor(where, name, t, shape);
    params[name] = t;
  }
  const names = Object.keys(tensors);
  const stateKeys = names.filter((k) => k.startsWith('optimizer.state.'));
  const ownKeys = names.filter((k) => k.startsWith('seqgpu.'));
  const hasOptimizer = metadata['optimizer.class'] !== undefined;
  for (const k of names) {
    if (!expected.has(k) && !stateKeys.includes(k) && !ownKeys.includes(k))
      throw new ArgumentError(
        `${where}: unexpected tensor '${k}': neither a parameter of ` +
          `this ${host.className} (${[...expected.keys()].join(', ')}) nor optimizer state`,
      );
  }
  for (const k of [...stateKeys, ...ownKeys]) {
    if (!hasOptimizer)
      throw new ArgumentError(
        `${where}: tensor '${k}' is training state but the file has no __metadata__['optimizer.class']`,
      );
  }

  // Optimizer: the hyperparameters, the step and every moment buffer, as flat [n] arrays.
  let restore: (() => void) | null = null;
  if (hasOptimizer) {
    if (!host.training)
      throw new ArgumentError(
        `${where}: the file holds optimizer state; a bare ${host.className} loads ` +
          `parameters only (load it into the model that trained it)`,
      );
    const { options, lr, step } = optimizerOptions(where, metadata, host.names);
    const moments = options.kind === 'sgd' ? ((options.momentum ?? 0) !== 0 ? ['momentum'] : []) : ['m', 'v'];
    const wanted = new Set(moments.flatMap((m) => host.names.map((n) => `optimizer.state.${n}.${MOMENT_NAMES[m]}`)));
    for (const k of stateKeys) {
      if (!wanted.has(k))
        throw new ArgumentError(
          `${where}: unexpected tensor '${k}' for a ${metadata['optimizer.class']} ` +
            'optimizer' +
            (moments.length
              ? ` (its state is ${moments.map((m) => MOMENT_NAMES[m]).join(', ')} per parameter)`
              : ' without momentum (it has no state tensors)'),
        );
    }
    // torch creates the state at the first step: a step-0 file may have none (all zero).
    const empty = step === 0 && stateKeys.length === 0;
    const n = host.store.length;
    const buffers: Record<string, Float32Array> = {};
    for (const m of moments) {
      const flat = new Float32Array(n);
      for (const name of host.names) {
        const key = `optimizer.state.${name}.${MOMENT_NAMES[m]}`;
        if (empty) continue;
        const t = tensors[key];
        const s = host.store.slot(prefix + name);
        if (!t)
          throw new ArgumentError(
            `${where}: the file has no tensor '${key}' (${fmtShape(s.shape)}), state of ` +
              `its ${metadata['optimizer.class']} optimizer`,
          );
        checkTensor(where, key, t, s.shape);
        const negative = m === 'v' ? t.data.findIndex((x) => x < 0) : -1;
        if (negative >= 0)
          throw new ArgumentError(
            `${where}: tensor '${key}' holds ${t.data[negative]} at index ${negative}; a ` +
              `second moment (a mean of squared gradients) is ≥ 0`,
          );
        flat.set(t.data, s.offset);
      }
      buffers[m] = flat;
    }
    const counters = parseJson(where, 'seqgpu.training', metadata['seqgpu.training'] ?? '{}');
    if (!isObject(counters))
      throw new ArgumentError(
        `${where}: __metadata__['seqgpu.training'] must be a JSON object, got ${showValue(counters)}`,
      );
    const own: Record<string, NamedTensor> = {};
    for (const k of ownKeys) own[k] = tensors[k];
    const apply = host.training.prepare(counters, own, where);
    restore = () => apply(options, { step, lr, buffers });
  }

  // Everything checked: change the model.
  if (restore && opts.optimizer !== false) restore();
  host.loadStateDict(params);
}

/**
 * @internal Throws an ArgumentError unless `counters` (a file's seqgpu.training) holds only
 * `allowed` keys, each an integer ≥ 0, and — unless it is empty (a file without counters, e.g.
 * written by PyTorch) — every one of them.
 */
export function checkCounters(
  where: string,
  counters: Record<string, unknown>,
  allowed: readonly string[],
): Record<string, number | undefined> {
  for (const [k, v] of Object.entries(counters)) {
    if (!allowed.includes(k))
      throw new ArgumentError(
        `${where}: seqgpu.training has an unknown counter ` +
          `'${k}'${allowed.length ? `; expected ${allowed.join(', ')}` : ' (this model saves none)'}`,
      );
    if (!Number.isSafeInteger(v) || (v as number) < 0)
      throw new ArgumentError(`${where}: seqgpu.training.${k} is ${showValue(v)}; expected an integer ≥ 0`);
  }
  const missing = Object.keys(counters).length ? allowed.find((k) => !Object.hasOwn(counters, k)) : undefined;
  if (missing)
    throw new ArgumentError(`${where}: seqgpu.training has no '${missing}' (it holds ${allowed.join(', ')})`);
  return counters as Record<string, number | undefined>;
}

/** @internal Throws unless `t` has `shape` (ShapeError) and finite values (ArgumentError), naming `key`. */
export function checkTensor(where: string, key: string, t: NamedTensor, shape: readonly number[]): void {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
    throw new ShapeError(`${where}: tensor '${key}' has shape ${fmtShape(t.shape)}, expected ${fmtShape(shape)}`);
  for (let i = 0; i < t.data.length; i++) {
    if (!Number.isFinite(t.data[i]))
      throw new ArgumentError(
        `${where}: tensor '${key}' holds ${t.data[i]} at index ${i}; a checkpoint must be finite`,
      );
  }
}
