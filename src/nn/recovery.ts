// Device-loss recovery shared by the models and layers (README "Device loss").
//
// A model keeps nothing on the CPU by itself: `snapshot()` reads its parameters (one readback of
// the flat parameter buffer), its optimizer state and its step counter back into a
// {@link ModelSnapshot}, and remembers the last one. After the device is lost, `recover(from?)`
// opens a new device (`gpu.recover()`, shared by every model on that Gpu), forgets every buffer,
// plan and pipeline of the old one, allocates fresh buffers and uploads the snapshot (or the
// state dict / checkpoint given): parameters and optimizer state come back bit for bit. Until
// then every call on the model throws a GpuLostError instead of touching dead buffers.
import type { Gpu } from '../gpu/device.js';
import { ArgumentError, GpuLostError, ShapeError } from '../util/errors.js';
import { checkLr, type OptimizerOptions, type OptimizerState } from '../kernels/optimizer.js';
import type { NamedTensor, StateDict } from '../io/stateDict.js';
import type { CheckpointHost } from './checkpoint.js';
import { show } from '../util/options.js';
import type { ParameterStore } from '../io/parameters.js';

/** What `snapshot()` returns and `recover()` restores: a CPU copy of a model's training state. */
export interface ModelSnapshot {
  /** Every parameter under its PyTorch name (a state dict). */
  parameters: Record<string, NamedTensor>;
  /** The optimizer's step and moment buffers; null when training was not configured. */
  optimizer: OptimizerState | null;
  /** The model's own count of training steps (the LR schedule's index); 0 for a bare layer. */
  step: number;
  /** `gpu.generation` when it was taken (informational). */
  generation: number;
  /** Other training counters of the model (Seq2Seq: the teacher-forcing coin's seed and draws). */
  counters?: Record<string, number>;
}

/**
 * What `recover(from)` accepts: a {@link ModelSnapshot}, a state dict (parameters only: the
 * optimizer starts afresh), or — for models — checkpoint bytes from `saveCheckpoint()`.
 */
export type RecoverSource = ModelSnapshot | StateDict | ArrayBuffer | Uint8Array;

/** True for a {@link ModelSnapshot} (not a state dict, not bytes). */
export function isSnapshot(x: unknown): x is ModelSnapshot {
  if (!x || typeof x !== 'object' || x instanceof ArrayBuffer || ArrayBuffer.isView(x)) return false;
  const s = x as Partial<ModelSnapshot>;
  return !!s.parameters && typeof s.parameters === 'object' && 'optimizer' in s && typeof s.step === 'number';
}

/**
 * Throws a GpuLostError when the device is lost, or when `generation` (of the caller's buffers) is not the Gpu's
 * current one.
 */
export function assertSameDevice(
  gpu: Gpu,
  generation: number,
  what: string,
  remedy = 'call its `await recover()` first (it restores the last snapshot() or the state you pass)',
): void {
  gpu.assertUsable();
  if (generation !== gpu.generation) {
    throw new GpuLostError(`${what}: its GPU buffers belonged to a device that was lost; ${remedy}`, 'recovered');
  }
}

/**
 * Every parameter (or, with `grads`, its gradient) of `store` whose name starts with `prefix` (removed), read back in
 * ONE readback.
 */
export async function readParameters(
  store: ParameterStore,
  prefix = '',
  grads = false,
): Promise<Record<string, NamedTensor>> {
  const flat = new Float32Array(await store.gpu.readBuffer(grads ? store.grads : store.params, 0, store.length * 4));
  const out: Record<string, NamedTensor> = {};
  for (const name of store.names) {
    if (!name.startsWith(prefix)) continue;
    const s = store.slot(name);
    out[name.slice(prefix.length)] = { shape: [...s.shape], data: flat.slice(s.offset, s.offset + s.size) };
  }
  return out;
}

/** The moment buffers an optimizer of these options keeps (names as in OptimizerState.buffers). */
function momentNames(o: OptimizerOptions): string[] {
  return o.kind === 'sgd' ? ((o.momentum ?? 0) !== 0 ? ['momentum'] : []) : ['m', 'v'];
}

/**
 * Checks a `recover(from)` source that is not bytes — a snapshot or a state dict — completely
 * against `store` (every parameter, no unknown key), the optimizer the model would restore
 * (`optimizer`: its options, or null when training is not configured) and the counters the model
 * keeps (`counters`: allowed names), before anything changes.
 * @returns The parameters by name, the optimizer state to load (null: start afresh), the step and counters.
 * @throws ArgumentError / ShapeError naming what does not fit.
 */
export function checkRecoverSource(
  where: string,
  source: RecoverSource,
  store: ParameterStore,
  optimizer: OptimizerOptions | null,
  counters: readonly string[],
): {
  parameters: Map<string, Float32Array>;
  optimizer: OptimizerState | null;
  step: number;
  counters: Record<string, number>;
} {
  if (!source || typeof source !== 'object')
    throw new ArgumentError(
      `${where}: 'from' must be a snapshot, a state dict or checkpoint bytes, got ${show(source)}`,
    );
  if (!isSnapshot(source))
    return {
      parameters: store.checkStateDict(where, source as StateDict, true),
      optimizer: null,
      step: 0,
      counters: {},
    };
  const parameters = store.checkStateDict(where, source.parameters, true);
  if (!Number.isSafeInteger(source.step) || source.step < 0)
    throw new ArgumentError(`${where}: snapshot.step must be an integer ≥ 0, got ${show(source.step)}`);
  const got: Record<string, number> = {};
  for (const [k, v] of Object.entries(source.counters ?? {})) {
    if (!counters.includes(k))
      throw new ArgumentError(
        `${where}: snapshot.counters has an unknown counter '${k}'; this model ` +
          `keeps ${counters.length ? counters.join(', ') : 'none'}`,
      );
    if (!Number.isSafeInteger(v) || v < 0)
      throw new ArgumentError(`${where}: snapshot.counters.${k} must be an integer ≥ 0, got ${show(v)}`);
    got[k] = v;
  }
  const state = source.optimizer;
  if (state === null || optimizer === null) return { parameters, optimizer: null, step: source.step, counters: got };
  if (typeof state !== 'object')
    throw new ArgumentError(`${where}: snapshot.optimizer must be an optimizer state or null, got ${show(state)}`);
  if (!Number.isSafeInteger(state.step) || state.step < 0)
    throw new ArgumentError(`${where}: snapshot.optimizer.step must be an integer ≥ 0, got ${show(state.step)}`);
  if (state.lr !== undefined) checkLr(where, state.lr, ' (snapshot.optimizer.lr)');
  const want = momentNames(optimizer);
  const keys = Object.keys(state.buffers ?? {});
  if (keys.length !== want.length || !want.every((k) => keys.includes(k))) {
    throw new ArgumentError(
      `${where}: snapshot.optimizer holds buffers {${keys.join(', ')}}; this model's ` +
        `'${optimizer.kind}' optimizer keeps {${want.join(', ')}}`,
    );
  }
  for (const k of want) {
    const data = state.buffers[k];
    if (!(data instanceof Float32Array) || data.length !== store.length)
      throw new ShapeError(
        `${where}: snapshot.optimizer.buffers.${k} must be a Float32Array ` +
          `of ${store.length} elements (this model's parameter buffer), ` +
          `got ${show(data)}${data && typeof data === 'object' && 'length' in data ? ` of ${data.length}` : ''}`,
      );
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i]) || (k === 'v' && data[i] < 0))
        throw new ArgumentError(
          `${where}: snapshot.optimizer.buffers.${k} holds ${data[i]} at index ${i}; ` +
            `optimizer state must be finite${k === 'v' ? ' and ≥ 0' : ''}`,
        );
    }
  }
  return { parameters, optimizer: state, step: source.step, counters: got };
}

/**
 * A copy of a checkpoint host whose writes do nothing: loading a file into it runs every check
 * of the real load (structure, CRC, config, names, shapes, values, optimizer, counters) and
 * changes nothing — the first half of validate-then-mutate for `recover(bytes)` and calls queued
 * behind others.
 */
export function dryRun(host: CheckpointHost): CheckpointHost {
  const training = host.training;
  return {
    ...host,
    loadStateDict: () => {},
    training: training && {
      ...training,
      prepare: (counters, tensors, where) => {
        training.prepare(counters, tensors, where);
        return () => {};
      },
    },
  };
}

/** A private copy of a file's bytes (validated then applied later must be the same bytes). */
export function copyBytes(where: string, file: unknown): Uint8Array {
  if (file instanceof Uint8Array) return file.slice();
  if (file instanceof ArrayBuffer) return new Uint8Array(file.slice(0));
  throw new ArgumentError(
    `${where}: expected the file's bytes (Uint8Array or ArrayBuffer), got ${file === null ? 'null' : typeof file}`,
  );
}
