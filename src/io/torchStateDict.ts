// A PyTorch state_dict as a user's file holds it, mapped onto a module tree's parameters:
//   bytes          a `.safetensors` file (save_file / save_model) is parsed first (strictly);
//   tied names     one tensor under two names (a head tied to an embedding, a module registered
//                  twice): PyTorch's state_dict lists both, save_model keeps only the
//                  alphabetically first. Either name alone loads the parameter; both must be equal.
//   buffers        tensors PyTorch registers with register_buffer that seqgpu computes itself (a
//                  sinusoid table `pe`): optional (persistent=False leaves them out), and when
//                  present checked against seqgpu's values, never loaded.
// Everything is checked before the caller writes anything; the result is a plain dict of the
// parameters' names only (null prototype: a key named `__proto__` is an ordinary key).
import { ArgumentError, fmtShape } from '../util/errors.js';
import { readSafetensors } from './safetensors.js';
import { readParameter, type StateDict } from './stateDict.js';

/** What `loadStateDict` takes: a state dict, or the bytes of a `.safetensors` file. */
export type StateDictSource = StateDict | Uint8Array | ArrayBuffer;

/** A parameter's second name in PyTorch's state_dict (tied weights). */
export interface TiedName {
  /** The second name (e.g. `head.weight`). */
  alias: string;
  /** The parameter's own name (e.g. `tok_embed.weight`). */
  target: string;
  /** The parameter's shape. */
  shape: readonly number[];
}

/** A tensor PyTorch's state_dict may hold that seqgpu computes (a registered buffer). */
export interface ComputedBuffer {
  /** Its name (full, or local in a module's `localBuffers`). */
  name: string;
  /** Its shape in seqgpu; a file's shape may add size-1 dimensions (`[maxLen, 1, dModel]`). */
  shape: readonly number[];
  /** seqgpu's values, row-major. */
  values(): Float32Array;
  /**
   * How far a stored value may be from seqgpu's at flat index `i` (PyTorch computes in float32).
   * @param i - The flat index.
   * @returns The largest allowed |stored − seqgpu's|.
   */
  tolerance(i: number): number;
  /** What seqgpu computes there, for the message when the values differ. */
  describe: string;
}

/**
 * The dict of a `loadStateDict(dict)` call: bytes are parsed as a safetensors file.
 * @param op - The public entry point, for the messages.
 * @param dict - A state dict, or a `.safetensors` file's bytes (Uint8Array or ArrayBuffer).
 * @returns The state dict (the file's tensors by name for bytes).
 * @throws ArgumentError / ShapeError from the safetensors reader for a malformed or truncated file.
 */
export function stateDictSource(op: string, dict: StateDictSource): StateDict {
  if (dict instanceof Uint8Array || dict instanceof ArrayBuffer) return readSafetensors(dict, op).tensors;
  return dict;
}

const squeeze = (shape: readonly number[]) => shape.filter((d) => d !== 1);
const sameShape = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((d, i) => d === b[i]);

/** Checks one buffer against seqgpu's values; throws naming the key, the index and the tolerance. */
function checkBuffer(op: string, dict: StateDict, b: ComputedBuffer): void {
  const v = dict[b.name] as { shape?: unknown };
  // A {shape, data} record may carry size-1 dimensions more (the PyTorch tutorial's [maxLen, 1, d]).
  const given = v && typeof v === 'object' && Array.isArray(v.shape) ? (v.shape as number[]) : null;
  const shape = given && sameShape(squeeze(given), squeeze(b.shape)) ? given : b.shape;
  const data = readParameter(dict, b.name, shape, op);
  const want = b.values();
  for (let i = 0; i < want.length; i++) {
    const tol = b.tolerance(i);
    if (!(Math.abs(data[i] - want[i]) <= tol))
      throw new ArgumentError(
        `${op}: state_dict['${b.name}'] ${fmtShape(shape)} is a buffer seqgpu computes (${b.describe}); ` +
          `at index ${i} it holds ${data[i]}, seqgpu's value is ${want[i]} ` +
          `(allowed difference ${tol.toPrecision(3)}): ` +
          `the file was made with another table, which this model cannot load`,
      );
  }
}

/**
 * Maps a PyTorch state_dict onto parameter names: tied names resolved (either alone loads the
 * parameter; both must hold the same values), computed buffers checked and dropped.
 * @param op - The public entry point, for the messages.
 * @param dict - The state dict.
 * @param tied - The second names of tied parameters.
 * @param buffers - The buffers seqgpu computes (full names).
 * @returns A null-prototype dict of every other key of `dict`, with each tied parameter under
 *   its own name.
 * @throws ArgumentError when a tied parameter is under neither name or its two names differ, or a buffer
 *   differs from seqgpu's values; ShapeError when either has the wrong shape.
 */
export function resolveTorchKeys(
  op: string,
  dict: StateDict,
  tied: readonly TiedName[],
  buffers: readonly ComputedBuffer[],
): StateDict {
  if (!dict || typeof dict !== 'object' || Array.isArray(dict) || ArrayBuffer.isView(dict)) return dict;
  if (tied.length === 0 && buffers.length === 0) return dict;
  const out: StateDict = Object.create(null);
  for (const k of Object.keys(dict)) out[k] = dict[k];
  for (const b of buffers)
    if (Object.hasOwn(dict, b.name) && dict[b.name] !== undefined) {
      checkBuffer(op, dict, b);
      delete out[b.name];
    }
  for (const { alias, target, shape } of tied) {
    const has = (k: string) => Object.hasOwn(dict, k) && dict[k] !== undefined;
    if (!has(alias)) {
      if (!has(target))
        throw new ArgumentError(
          `${op}: state_dict is missing '${target}' (expected shape ${fmtShape(shape)}), ` +
            `also under its tied name '${alias}'`,
        );
      continue;
    }
    if (has(target)) {
      const [a, t] = [readParameter(dict, alias, shape, op), readParameter(dict, target, shape, op)];
      const i = a.findIndex((v, j) => v !== t[j]);
      if (i >= 0)
        throw new ArgumentError(
          `${op}: '${alias}' differs from '${target}' at index ${i} (${a[i]} vs ${t[i]}), ` +
            `but the model ties them (one tensor under two names)`,
        );
    } else out[target] = dict[alias];
    delete out[alias];
  }
  return out;
}
