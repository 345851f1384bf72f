// Host side of shaders/nan_guard.wgsl: the NaN/Inf check of a training step's loss, gradient
// norm and (with `updateFlag`) the optimizer's check pass, between those and the optimizer update
// (see src/train/nanGuard.ts).
import type { Gpu } from '../gpu/device.js';
import type { Dispatch } from '../gpu/dispatch.js';
import { ArgumentError, ShapeError } from '../util/errors.js';
import { defineShader } from '../gpu/kernel.js';
import nanGuardWgsl from '../../shaders/nan_guard.wgsl?raw';

const NAN_GUARD_SHADER = /*#__PURE__*/ defineShader('nan_guard.wgsl', nanGuardWgsl);

/** Bytes of the guard's record (GuardRecord in the WGSL, padded to 16-byte units). */
export const NAN_GUARD_RECORD_BYTES = 32;
/** Byte offset of `record.step`, which the host writes before each step. */
export const NAN_GUARD_STEP_OFFSET = 16;

/** Flag of {@link GuardRecord.flags}: the loss was NaN or ±Inf. */
export const NAN_GUARD_LOSS = 1;
/** Flag of {@link GuardRecord.flags}: the gradient norm was NaN or ±Inf. */
export const NAN_GUARD_GRAD = 2;
/**
 * Flag of {@link GuardRecord.flags}: the optimizer's check pass found that the update would make a
 * weight or a moment NaN or ±Inf (only with {@link NanGuardArgs.updateFlag}).
 */
export const NAN_GUARD_UPDATE = 4;

/** The guard's record as read back. */
export interface GuardRecord {
  /** The last step's loss — or, once `flags` is set, the first bad step's. */
  loss: number;
  /** Likewise Σ g². */
  normSq: number;
  /** 0, or {@link NAN_GUARD_LOSS} | {@link NAN_GUARD_GRAD} | {@link NAN_GUARD_UPDATE}. */
  flags: number;
  /** `step` of the first bad step (valid when flags ≠ 0). */
  badStep: number;
  /** The step the host wrote last. */
  step: number;
  /** The last step's own loss (unlike `loss`, also once `flags` is set). */
  stepLoss: number;
  /** The last step's own Σ g². */
  stepNormSq: number;
}

/** Buffers of {@link nanGuardDispatch}. */
export interface NanGuardArgs {
  /** [0] = the step's loss. */
  loss: GPUBuffer;
  /** [0] = Σ g² (read), [1] = the skip flag (written); ≥ 2 f32. */
  normSq: GPUBuffer;
  /** {@link NAN_GUARD_RECORD_BYTES} bytes, zero-initialised; keeps its state across steps. */
  record: GPUBuffer;
  /**
   * The optimizer's update flag (≥ 4 bytes, `Optimizer.updateFlagBuffer`): [0] ≠ 0 when its check
   * pass found a non-finite new weight or moment; read, then cleared. Absent: not checked.
   */
  updateFlag?: GPUBuffer;
  /** Names the dispatch in errors and profiles. Default `'nanGuard'`. */
  label?: string;
}

/**
 * One dispatch of one thread. No uniform: nothing is transient.
 * @param gpu - The device.
 * @param args - The loss, Σ g², record and (optionally) update-flag buffers.
 * @throws ShapeError when a buffer is missing or too small, or two of them are the same buffer.
 */
export function nanGuardDispatch(gpu: Gpu, args: NanGuardArgs): Dispatch {
  const label = args.label ?? 'nanGuard';
  const need: Array<[string, GPUBuffer | undefined, number]> = [
    ['loss', args.loss, 4],
    ['normSq', args.normSq, 8],
    ['record', args.record, NAN_GUARD_RECORD_BYTES],
  ];
  if (args.updateFlag !== undefined) need.push(['updateFlag', args.updateFlag, 4]);
  for (const [name, b, bytes] of need) {
    if (!b || typeof b.size !== 'number') throw new ArgumentError(`${label}: buffer '${name}' is required`);
    if (b.size < bytes) throw new ShapeError(`${label}: buffer '${name}' has ${b.size} bytes, needs ≥ ${bytes}`);
  }
  const distinct = new Set(need.map(([, b]) => b));
  if (distinct.size !== need.length)
    throw new ArgumentError(`${label}: '${need.map(([n]) => n).join("', '")}' must be different buffers`);
  const updateCheck = args.updateFlag !== undefined;
  return {
    label,
    pipeline: gpu.pipeline(NAN_GUARD_SHADER, { UPDATE_CHECK: updateCheck }),
    bindGroup: gpu.bindGroup(NAN_GUARD_SHADER, {
      loss: args.loss,
      normSq: args.normSq,
      record: args.record,
      updateFlag: args.updateFlag ?? gpu.dummyBuffer,
    }),
    workgroups: [1, 1, 1],
  };
}

/**
 * Decodes the record's bytes.
 * @param data - The record ({@link NAN_GUARD_RECORD_BYTES} bytes) read back from the GPU; with
 *   only its first 20 bytes, `stepLoss` / `stepNormSq` are copies of `loss` / `normSq`.
 */
export function decodeGuardRecord(data: ArrayBuffer): GuardRecord {
  const words = data.byteLength >= 28 ? 7 : 5;
  const f = new Float32Array(data, 0, words);
  const u = new Uint32Array(data, 0, words);
  return {
    loss: f[0],
    normSq: f[1],
    flags: u[2],
    badStep: u[3],
    step: u[4],
    stepLoss: words === 7 ? f[5] : f[0],
    stepNormSq: words === 7 ? f[6] : f[1],
  };
}
