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
//   seqgpu.checkpoint        "1", the layout version
//   seqgpu.class             "SequenceModel" | "Seq2Seq" | "RNN" | "LSTM" | "GRU" | "MultiHeadAttention"
//   seqgpu.config            JSON: the options of the model that saved it; those that define what
//                            the parameters mean (cell, sizes, mode, …) must match on load
//   seqgpu.crc32             CRC-32 (IEEE) of the data section, 8 hex digits: corruption is detected
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
// and, after the optimizer state, the model's own training tensors under `seqgpu.` names
// (SequenceModel with carryState: the state carried between batches, seqgpu.carried.h.batch<B>
// and seqgpu.carried.c.batch<B>, [numLayers·D, B, hiddenSize]); PyTorch loaders skip them.
//
// Loading checks everything before anything changes (structure, offsets, CRC, class, config,
// every name, shape, dtype and value, the optimizer's hyperparameters), then restores: the saved
// hyperparameters replace the configured ones (as torch's optimizer.load_state_dict does), the
// step count and moments are loaded, and training continues bit for bit. What a file cannot hold
// (a schedule function, carryState, teacherForcingRatio) comes from the model's current training
// options or from `train`. A safetensors file without seqgpu's metadata (e.g.
// `safetensors.torch.save_file(model.state_dict())`) loads as parameters only.
import { ShapeError, fmtShape } from '../gpu/errors.js';
import { resolve as resolveOptimizer, type OptimizerOptions, type OptimizerState, type Optimizer } from '../optim/optimizer.js';
import type { ParameterStore } from '../nn/parameters.js';
import { parseSafetensors, writeSafetensors } from './safetensors.js';
import type { NamedTensor, StateDict } from './stateDict.js';

/** The layout version written in `seqgpu.checkpoint`. */
export const CHECKPOINT_VERSION = '1';

/** Bytes of a safetensors header seqgpu accepts (the safetensors crate's own limit). */
const MAX_HEADER_BYTES = 100_000_000;
const DTYPE_BYTES: Record<string, number> = { F32: 4, F64: 8, F16: 2, BF16: 2 };

/** A checkpoint as read by {@link readCheckpoint}: tensors in file order and the metadata. */
export interface CheckpointFile {
  /** Every tensor by name, converted to f32, in file order. */
  tensors: Record<string, NamedTensor>;
  /** The `__metadata__` string pairs (empty when the file has none). */
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
  /** Options written to `seqgpu.config`. */
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
     * Checks the saved counters and `seqgpu.*` tensors, throwing a ShapeError without changing
     * anything, and returns what restores the training: it creates the optimizer from `options`,
     * loads `state` and sets the counters and tensors. Called before anything changes; the
     * returned function runs (unless `optimizer: false`) after every other check passed.
     */
    prepare(counters: Record<string, unknown>, tensors: Record<string, NamedTensor>, where: string): (options: OptimizerOptions, state: OptimizerState) => void;
  };
}

let crcTable: Uint32Array | null = null;

/**
 * CRC-32 (IEEE 802.3, as zlib's crc32) of `bytes`.
 * @param bytes - The data.
 * @returns The checksum as an unsigned 32-bit integer.
 */
export function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const hex8 = (n: number) => n.toString(16).padStart(8, '0');

/**
 * Reads and validates a safetensors file strictly: header length and JSON, every entry's dtype,
 * shape and offsets (contiguous, no holes or overlaps, nothing past the end, nothing after the
 * last tensor), the metadata (strings), and the data CRC when `seqgpu.crc32` is present. Throws a
 * {@link ShapeError} saying what is wrong, prefixed by `where`.
 * @param file - The bytes of a `.safetensors` file.
 * @param where - Prefix of error messages (the caller's name).
 */
export function readCheckpoint(file: ArrayBuffer | Uint8Array, where = 'readCheckpoint'): CheckpointFile {
  const fail = (msg: string): never => {
    throw new ShapeError(`${where}: ${msg}`);
  };
  if (!(file instanceof Uint8Array) && !(file instanceof ArrayBuffer)) fail(`expected the file's bytes (Uint8Array or ArrayBuffer), got ${file === null ? 'null' : typeof file}`);
  const bytes = file instanceof Uint8Array ? file : new Uint8Array(file);
  if (bytes.byteLength < 8) fail(`the file is ${bytes.byteLength} bytes, too short for safetensors' 8-byte header length (truncated?)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > MAX_HEADER_BYTES) fail(`the header length field says ${headerLen} bytes (more than ${MAX_HEADER_BYTES}): not a safetensors file, or corrupt`);
  if (8 + headerLen > bytes.byteLength) fail(`the header claims ${headerLen} bytes but only ${bytes.byteLength - 8} follow the length field (truncated)`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)));
  } catch (e) {
    return fail(`the header is not valid JSON (${(e as Error).message}): corrupt`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) return fail('the header is not a JSON object: corrupt');
  const dataStart = 8 + headerLen;
  const dataLen = bytes.byteLength - dataStart;
  const metadata: Record<string, string> = {};
  const entries: Array<{ name: string; dtype: string; shape: number[]; begin: number; end: number }> = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (!info || typeof info !== 'object' || Array.isArray(info)) fail('__metadata__ is not an object of strings');
      for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__['${k}'] is ${typeof v}; safetensors metadata values are strings`);
        metadata[k] = v as string;
      }
      continue;
    }
    const e = info as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
    if (!e || typeof e !== 'object') return fail(`tensor '${name}' has no {dtype, shape, data_offsets} entry`);
    const { dtype, shape, data_offsets: offsets } = e;
    if (typeof dtype !== 'string' || !DTYPE_BYTES[dtype]) fail(`tensor '${name}' has dtype ${String(dtype)}; a checkpoint holds F32 (F64, F16 and BF16 are converted)`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) fail(`tensor '${name}' has shape ${JSON.stringify(shape)}; expected a list of non-negative integers`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0) || offsets[1] < offsets[0]) {
      fail(`tensor '${name}' has data_offsets ${JSON.stringify(offsets)}; expected [begin, end] with 0 ≤ begin ≤ end`);
    }
    const [begin, end] = offsets as number[];
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    if (end - begin !== count * DTYPE_BYTES[dtype as string]) fail(`tensor '${name}' ${dtype}${fmtShape(shape as number[])} needs ${count * DTYPE_BYTES[dtype as string]} bytes, its data_offsets span ${end - begin}: corrupt header`);
    if (end > dataLen) fail(`tensor '${name}' ends at byte ${end} of the data section, which has ${dataLen} bytes (truncated)`);
    entries.push({ name, dtype: dtype as string, shape: shape as number[], begin, end });
  }
  // The data section must be covered exactly: no holes, no overlaps, nothing after the last tensor.
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const e of byOffset) {
    if (e.begin !== at) fail(e.begin < at ? `tensor '${e.name}' overlaps the tensor before it (data_offsets [${e.begin}, ${e.end}]): corrupt header` : `the data section has a hole of ${e.begin - at} bytes before tensor '${e.name}': corrupt header`);
    at = e.end;
  }
  if (at !== dataLen) fail(`the data section has ${dataLen} bytes but its tensors cover ${at}: ${dataLen - at} trailing bytes (corrupt, or a file appended)`);
  if (metadata['seqgpu.crc32'] !== undefined) {
    const want = metadata['seqgpu.crc32'];
    const got = hex8(crc32(bytes.subarray(dataStart)));
    if (got !== want) fail(`the data section's CRC-32 is ${got} but the header records ${want}: the file is corrupt`);
  }
  const decoded = parseSafetensors(bytes);
  const tensors: Record<string, NamedTensor> = {};
  for (const e of entries) tensors[e.name] = decoded[e.name];
  return { tensors, metadata };
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
  const group = o.kind === 'sgd'
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
        tensors[`optimizer.state.${name}.${MOMENT_NAMES[moment]}`] = { shape: [...s.shape], data: flat.slice(s.offset, s.offset + s.size) };
      }
    }
    const o = optimizer.options;
    metadata['optimizer.class'] = TORCH_CLASS[o.kind];
    metadata['optimizer.step'] = String(state.step);
    metadata['optimizer.param_groups'] = JSON.stringify([paramGroup(o, state.lr ?? optimizer.lr, host.names)]);
    metadata['optimizer.seqgpu'] = JSON.stringify({ clipNorm: o.clipNorm ?? null, clipValue: o.clipValue ?? null, trackGradNorm: o.trackGradNorm });
    const own = await host.training?.save?.();
    if (own?.counters) metadata['seqgpu.training'] = JSON.stringify(own.counters);
    Object.assign(tensors, own?.tensors);
  }
  // The CRC covers the data section, which does not depend on the metadata: write, hash, rewrite.
  const draft = writeSafetensors(tensors, metadata);
  const dataStart = 8 + Number(new DataView(draft.buffer, draft.byteOffset).getBigUint64(0, true));
  metadata['seqgpu.crc32'] = hex8(crc32(draft.subarray(dataStart)));
  return writeSafetensors(tensors, metadata);
}

function parseJson(where: string, key: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ShapeError(`${where}: __metadata__['${key}'] is not valid JSON (${(e as Error).message})`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/** OptimizerOptions from the file's metadata (validated as the Optimizer constructor would). */
function optimizerOptions(where: string, meta: Record<string, string>, names: readonly string[]): { options: OptimizerOptions; lr: number; step: number } {
  for (const key of ['optimizer.step', 'optimizer.param_groups']) {
    if (meta[key] === undefined) throw new ShapeError(`${where}: the file has optimizer.class but no __metadata__['${key}']`);
  }
  const cls = meta['optimizer.class'];
  const kind = (Object.keys(TORCH_CLASS) as Array<OptimizerOptions['kind']>).find((k) => TORCH_CLASS[k] === cls);
  if (!kind) throw new ShapeError(`${where}: optimizer.class is '${cls}'; seqgpu restores SGD, Adam and AdamW`);
  const stepText = meta['optimizer.step'];
  const step = Number(stepText);
  if (!/^\d+$/.test(stepText) || !Number.isSafeInteger(step)) throw new ShapeError(`${where}: optimizer.step is '${stepText}'; expected a non-negative integer`);
  const groups = parseJson(where, 'optimizer.param_groups', meta['optimizer.param_groups']);
  if (!Array.isArray(groups) || groups.length !== 1 || !isObject(groups[0])) throw new ShapeError(`${where}: optimizer.param_groups must be a list of ONE group (seqgpu trains all parameters as one group)`);
  const g = groups[0];
  const params = g.params;
  if (!Array.isArray(params) || params.length !== names.length || params.some((p, i) => p !== names[i])) {
    throw new ShapeError(`${where}: optimizer.param_groups[0].params is ${JSON.stringify(params)}; this model's parameters are ${JSON.stringify(names)}`);
  }
  if (g.amsgrad === true) throw new ShapeError(`${where}: the optimizer used amsgrad, which seqgpu does not implement`);
  if (g.maximize === true) throw new ShapeError(`${where}: the optimizer used maximize, which seqgpu does not implement`);
  const num = (k: string): number | undefined => {
    const v = g[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number') throw new ShapeError(`${where}: optimizer.param_groups[0].${k} is ${JSON.stringify(v)}; expected a number`);
    return v;
  };
  const lr = num('lr');
  if (lr === undefined) throw new ShapeError(`${where}: optimizer.param_groups[0] has no 'lr'`);
  const extra = meta['optimizer.seqgpu'] === undefined ? {} : parseJson(where, 'optimizer.seqgpu', meta['optimizer.seqgpu']);
  if (!isObject(extra)) throw new ShapeError(`${where}: __metadata__['optimizer.seqgpu'] must be a JSON object {clipNorm, clipValue, trackGradNorm}`);
  const opt = (v: unknown, k: string): number | undefined => {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number') throw new ShapeError(`${where}: optimizer.seqgpu.${k} is ${JSON.stringify(v)}; expected a number or null`);
    return v;
  };
  const options: OptimizerOptions = { kind, lr: num('initial_lr') ?? lr, weightDecay: num('weight_decay') };
  if (kind === 'sgd') {
    options.momentum = num('momentum');
    options.dampening = num('dampening');
    options.nesterov = g.nesterov === undefined ? undefined : g.nesterov === true;
  } else {
    const betas = g.betas;
    if (betas !== undefined && (!Array.isArray(betas) || betas.length !== 2 || !betas.every((b) => typeof b === 'number'))) {
      throw new ShapeError(`${where}: optimizer.param_groups[0].betas is ${JSON.stringify(betas)}; expected [beta1, beta2]`);
    }
    if (betas) [options.beta1, options.beta2] = betas as number[];
    options.eps = num('eps');
  }
  const clipNorm = opt(extra.clipNorm, 'clipNorm');
  const clipValue = opt(extra.clipValue, 'clipValue');
  if (clipNorm !== undefined) options.clipNorm = clipNorm;
  if (clipValue !== undefined) options.clipValue = clipValue;
  if (extra.trackGradNorm === true) options.trackGradNorm = true;
  for (const k of Object.keys(options) as Array<keyof OptimizerOptions>) if (options[k] === undefined) delete options[k];
  try {
    resolveOptimizer(options);
  } catch (e) {
    throw new ShapeError(`${where}: the file's optimizer hyperparameters are invalid: ${(e as Error).message}`);
  }
  if (!(Number.isFinite(lr) && lr >= 0)) throw new ShapeError(`${where}: optimizer.param_groups[0].lr is ${lr}; expected a finite number ≥ 0`);
  return { options, lr, step };
}

/**
 * Loads a checkpoint into `host` (see the layout above): checks everything, then restores the
 * optimizer (when the file has one and `opts.optimizer` is not false) and writes the parameters.
 */
export function loadCheckpoint(host: CheckpointHost, file: ArrayBuffer | Uint8Array, opts: LoadCheckpointOptions = {}): void {
  const where = `${host.className}.loadCheckpoint`;
  if (opts === null || typeof opts !== 'object') throw new ShapeError(`${where}: options must be an object, got ${String(opts)}`);
  const { tensors, metadata } = readCheckpoint(file, where);

  // Which model wrote it, and does it mean the same parameters?
  if (metadata['seqgpu.checkpoint'] !== undefined) {
    if (metadata['seqgpu.checkpoint'] !== CHECKPOINT_VERSION) throw new ShapeError(`${where}: the file has checkpoint layout version ${metadata['seqgpu.checkpoint']}; this seqgpu reads version ${CHECKPOINT_VERSION}`);
    const cls = metadata['seqgpu.class'];
    if (cls !== host.className) throw new ShapeError(`${where}: the file holds a ${cls ?? '(unnamed class)'} checkpoint, not a ${host.className} one`);
    const config = parseJson(where, 'seqgpu.config', metadata['seqgpu.config'] ?? '{}');
    if (!isObject(config)) throw new ShapeError(`${where}: __metadata__['seqgpu.config'] must be a JSON object`);
    for (const k of host.structural) {
      const [a, b] = [JSON.stringify(config[k]), JSON.stringify(host.config[k])];
      if (a !== b) throw new ShapeError(`${where}: the checkpoint's ${host.className} has ${k} = ${a ?? 'unset'}, this one has ${k} = ${b ?? 'unset'}`);
    }
  }

  // Parameters: every name present, shape equal, values finite; nothing unknown.
  const prefix = host.prefix ?? '';
  const expected = new Map(host.names.map((n) => [n, host.store.slot(prefix + n).shape]));
  const params: Record<string, NamedTensor> = {};
  for (const [name, shape] of expected) {
    const t = tensors[name];
    if (!t) throw new ShapeError(`${where}: the file has no tensor '${name}' (${fmtShape(shape)}), a parameter of this ${host.className}`);
    checkTensor(where, name, t, shape);
    params[name] = t;
  }
  const stateKeys = Object.keys(tensors).filter((k) => k.startsWith('optimizer.state.'));
  const ownKeys = Object.keys(tensors).filter((k) => k.startsWith('seqgpu.'));
  const hasOptimizer = metadata['optimizer.class'] !== undefined;
  for (const k of Object.keys(tensors)) {
    if (!expected.has(k) && !stateKeys.includes(k) && !ownKeys.includes(k)) throw new ShapeError(`${where}: unexpected tensor '${k}': neither a parameter of this ${host.className} (${[...expected.keys()].join(', ')}) nor optimizer state`);
  }
  for (const k of [...stateKeys, ...ownKeys]) {
    if (!hasOptimizer) throw new ShapeError(`${where}: tensor '${k}' is training state but the file has no __metadata__['optimizer.class']`);
  }

  // Optimizer: the hyperparameters, the step and every moment buffer, as flat [n] arrays.
  let restore: (() => void) | null = null;
  if (hasOptimizer) {
    if (!host.training) throw new ShapeError(`${where}: the file holds optimizer state; a bare ${host.className} loads parameters only (load it into the model that trained it)`);
    const { options, lr, step } = optimizerOptions(where, metadata, host.names);
    const moments = options.kind === 'sgd' ? ((options.momentum ?? 0) !== 0 ? ['momentum'] : []) : ['m', 'v'];
    const wanted = new Set(moments.flatMap((m) => host.names.map((n) => `optimizer.state.${n}.${MOMENT_NAMES[m]}`)));
    for (const k of stateKeys) {
      if (!wanted.has(k)) throw new ShapeError(`${where}: unexpected tensor '${k}' for a ${metadata['optimizer.class']} optimizer${moments.length ? ` (its state is ${moments.map((m) => MOMENT_NAMES[m]).join(', ')} per parameter)` : ' without momentum (it has no state tensors)'}`);
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
        if (!t) throw new ShapeError(`${where}: the file has no tensor '${key}' (${fmtShape(s.shape)}), state of its ${metadata['optimizer.class']} optimizer`);
        checkTensor(where, key, t, s.shape);
        flat.set(t.data, s.offset);
      }
      buffers[m] = flat;
    }
    let counters: unknown = {};
    if (metadata['seqgpu.training'] !== undefined) counters = parseJson(where, 'seqgpu.training', metadata['seqgpu.training']);
    if (!isObject(counters)) throw new ShapeError(`${where}: __metadata__['seqgpu.training'] must be a JSON object`);
    const own: Record<string, NamedTensor> = {};
    for (const k of ownKeys) own[k] = tensors[k];
    const apply = host.training.prepare(counters, own, where);
    restore = () => apply(options, { step, lr, buffers });
  }

  // Everything checked: change the model.
  if (restore && opts.optimizer !== false) restore();
  host.loadStateDict(params);
}

/** @internal Throws unless `counters` holds only `allowed` keys, each an integer ≥ 0. */
export function checkCounters(where: string, counters: Record<string, unknown>, allowed: readonly string[]): Record<string, number | undefined> {
  for (const [k, v] of Object.entries(counters)) {
    if (!allowed.includes(k)) throw new ShapeError(`${where}: seqgpu.training has an unknown counter '${k}'${allowed.length ? `; expected ${allowed.join(', ')}` : ''}`);
    if (!Number.isSafeInteger(v) || (v as number) < 0) throw new ShapeError(`${where}: seqgpu.training.${k} is ${JSON.stringify(v)}; expected an integer ≥ 0`);
  }
  return counters as Record<string, number | undefined>;
}

/** @internal Throws unless `t` has `shape` and finite values, naming `key`. */
export function checkTensor(where: string, key: string, t: NamedTensor, shape: readonly number[]): void {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) throw new ShapeError(`${where}: tensor '${key}' has shape ${fmtShape(t.shape)}, expected ${fmtShape(shape)}`);
  for (let i = 0; i < t.data.length; i++) {
    if (!Number.isFinite(t.data[i])) throw new ShapeError(`${where}: tensor '${key}' holds ${t.data[i]} at index ${i}; a checkpoint must be finite`);
  }
}
