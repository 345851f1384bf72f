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
import { GpuLostError } from '../gpu/errors.js';
import type { OptimizerState } from '../optim/optimizer.js';
import type { NamedTensor, StateDict } from '../io/stateDict.js';
import type { ParameterStore } from './parameters.js';

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

/** Throws a GpuLostError when the device is lost, or when `generation` (of the caller's buffers) is not the Gpu's current one. */
export function assertSameDevice(gpu: Gpu, generation: number, what: string, remedy = 'call its `await recover()` first (it restores the last snapshot() or the state you pass)'): void {
  gpu.assertUsable();
  if (generation !== gpu.generation) {
    throw new GpuLostError(`${what}: its GPU buffers belonged to a device that was lost; ${remedy}`, 'recovered');
  }
}

/** Every parameter of `store` (names starting with `prefix`, which is removed), read back in ONE readback. */
export async function readParameters(store: ParameterStore, prefix = ''): Promise<Record<string, NamedTensor>> {
  const flat = new Float32Array(await store.gpu.readBuffer(store.params, 0, store.length * 4));
  const out: Record<string, NamedTensor> = {};
  for (const name of store.names) {
    if (!name.startsWith(prefix)) continue;
    const s = store.slot(name);
    out[name.slice(prefix.length)] = { shape: [...s.shape], data: flat.slice(s.offset, s.offset + s.size) };
  }
  return out;
}
