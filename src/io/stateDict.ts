// PyTorch-style state dicts: names like `weight_ih_l0`, `bias_hh_l1_reverse`, values with shapes.
import { ShapeError, fmtShape } from '../gpu/errors.js';

/** One parameter as seqgpu returns it: row-major f32 values and their shape. */
export interface NamedTensor {
  /** Sizes of the dimensions, outermost first. */
  shape: number[];
  /** The values, row-major; length = the product of `shape`. */
  data: Float32Array;
}

/**
 * A value a state dict may hold: `{shape, data}` (e.g. from safetensors or `stateDict()`), a
 * nested array (PyTorch `tensor.tolist()` exported to JSON) or a flat array / Float32Array
 * (then only its length is checked).
 */
export type StateDictValue = NamedTensor | { shape: number[]; data: ArrayLike<number> } | ArrayLike<number> | NestedArray;
type NestedArray = Array<number | NestedArray>;
/** Parameters by name (PyTorch's `state_dict()` keys, e.g. `weight_ih_l0`, `head.bias`). */
export type StateDict = Record<string, StateDictValue>;

function flattenNested(v: NestedArray, shape: number[], out: number[], depth: number, key: string): void {
  if (shape.length <= depth) shape.push(v.length);
  else if (shape[depth] !== v.length) throw new ShapeError(`state_dict['${key}'] is a ragged nested array`);
  for (const x of v) {
    if (Array.isArray(x)) flattenNested(x, shape, out, depth + 1, key);
    else out.push(x);
  }
}

/**
 * Reads `dict[key]` as `expected`-shaped f32 values; throws naming the key, the expected shape
 * and what was found (missing, wrong shape, wrong length, NaN/Inf).
 * @param dict - The state dict.
 * @param key - The parameter's name.
 * @param expected - Its shape in the model.
 * @returns The values as a new Float32Array of the expected size.
 * @throws ShapeError naming `key` when it is missing, has another shape or length, is ragged, or
 *   holds NaN/Inf.
 */
export function readParameter(dict: StateDict, key: string, expected: readonly number[]): Float32Array {
  const v = dict[key];
  const size = expected.reduce((a, b) => a * b, 1);
  if (v === undefined || v === null) throw new ShapeError(`state_dict is missing '${key}' (expected shape ${fmtShape(expected)})`);
  let data: ArrayLike<number>;
  let shape: number[] | undefined;
  if (typeof v === 'object' && 'data' in v && 'shape' in v) {
    data = v.data;
    shape = [...v.shape];
  } else if (Array.isArray(v) && v.some(Array.isArray)) {
    const flat: number[] = [];
    shape = [];
    flattenNested(v as NestedArray, shape, flat, 0, key);
    data = flat;
  } else {
    data = v as ArrayLike<number>;
  }
  if (shape && (shape.length !== expected.length || shape.some((d, i) => d !== expected[i]))) {
    throw new ShapeError(`state_dict['${key}'] has shape ${fmtShape(shape)}, expected ${fmtShape(expected)}`);
  }
  if (data.length !== size) {
    throw new ShapeError(`state_dict['${key}'] has ${data.length} values, expected ${size} (shape ${fmtShape(expected)})`);
  }
  const out = Float32Array.from(data);
  for (let i = 0; i < out.length; i++) {
    if (!Number.isFinite(out[i])) throw new ShapeError(`state_dict['${key}'] holds ${out[i]} at index ${i}: weights must be finite`);
  }
  return out;
}
