// PyTorch-style state dicts: names like `weight_ih_l0`, `bias_hh_l1_reverse`, values with shapes.
import { ArgumentError, ShapeError, fmtShape } from '../util/errors.js';
import { showValue } from '../util/options.js';

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
export type StateDictValue =
  NamedTensor | { shape: number[]; data: ArrayLike<number> } | ArrayLike<number> | NestedArray;
type NestedArray = Array<number | NestedArray>;
/** Parameters by name (PyTorch's `state_dict()` keys, e.g. `weight_ih_l0`, `head.bias`). */
export type StateDict = Record<string, StateDictValue>;

const ALLOWED = 'a Float32Array, a (nested) array of numbers or {shape, data}';

/** What `v` is, for a message: 'null', 'a string ('abc')', 'an object without data', … */
function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object')
    return ArrayBuffer.isView(v)
      ? `a ${v.constructor.name}`
      : Array.isArray(v)
        ? 'an array'
        : `an object with keys ${showValue(Object.keys(v))}`;
  return `a ${typeof v} (${showValue(v)})`;
}

/** A numeric typed array (any but BigInt64Array / BigUint64Array / DataView). */
const isNumberArray = (v: unknown): v is ArrayLike<number> =>
  ArrayBuffer.isView(v) && !(v instanceof DataView) && !(v instanceof BigInt64Array) && !(v instanceof BigUint64Array);

/** Flattens a (nested) array into `out`, recording its shape; throws at a ragged level or a non-number. */
function flattenNested(
  v: unknown[],
  shape: number[],
  out: number[],
  depth: number,
  fail: (msg: string, cls?: typeof ArgumentError) => never,
): void {
  if (shape.length <= depth) shape.push(v.length);
  else if (shape[depth] !== v.length) fail('is a ragged nested array', ShapeError);
  const nested = v.length > 0 && Array.isArray(v[0]);
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (nested !== Array.isArray(x)) fail(`mixes numbers and arrays at depth ${depth}`, ShapeError);
    if (Array.isArray(x)) flattenNested(x, shape, out, depth + 1, fail);
    else if (typeof x !== 'number') fail(`holds ${describe(x)} at depth ${depth}, index ${i}; expected numbers`);
    else out.push(x);
  }
}

/**
 * Reads `dict[key]` as `expected`-shaped f32 values; throws naming the key, the expected shape
 * and what was found (missing, wrong type, wrong shape, wrong length, NaN/Inf). Only the dict's
 * own keys count: `toString` or `__proto__` inherited from a prototype is "missing".
 * @param dict - The state dict (an object; its values {@link StateDictValue}s).
 * @param key - The parameter's name.
 * @param expected - Its shape in the model.
 * @param where - The public entry point, to start the messages with (e.g. `'LSTM.loadStateDict'`).
 * @returns The values as a new Float32Array of the expected size.
 * @throws ArgumentError naming `key` when the dict is not an object, the key is missing, or its
 *   value is not a Float32Array, an array of numbers or {shape, data}, or holds NaN/Inf.
 * @throws ShapeError naming `key` when it has another shape or length, or is ragged.
 */
export function readParameter(dict: StateDict, key: string, expected: readonly number[], where = ''): Float32Array {
  const at = where ? `${where}: ` : '';
  const fail = (msg: string, cls: typeof ArgumentError = ArgumentError): never => {
    throw new cls(`${at}state_dict['${key}']${msg.startsWith('.') ? '' : ' '}${msg}`);
  };
  if (dict === null || typeof dict !== 'object' || Array.isArray(dict))
    throw new ArgumentError(`${at}state_dict must be an object of named parameters, got ${describe(dict)}`);
  if (!Object.hasOwn(dict, key) || dict[key] === undefined)
    throw new ArgumentError(`${at}state_dict is missing '${key}' (expected shape ${fmtShape(expected)})`);
  const v: unknown = dict[key];
  const size = expected.reduce((a, b) => a * b, 1);
  let data: ArrayLike<number>;
  let shape: number[] | undefined;
  if (isNumberArray(v)) {
    data = v;
  } else if (Array.isArray(v)) {
    const flat: number[] = [];
    shape = [];
    flattenNested(v, shape, flat, 0, fail);
    if (shape.length === 1) shape = undefined; // a flat array: only its length is checked
    data = flat;
  } else if (v !== null && typeof v === 'object' && 'data' in v && 'shape' in v) {
    const t = v as { shape: unknown; data: unknown };
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      fail(`has shape ${showValue(t.shape)}; expected a list of non-negative integers`, ShapeError);
    if (!isNumberArray(t.data) && !(Array.isArray(t.data) && t.data.every((x) => typeof x === 'number')))
      fail(`.data is ${describe(t.data)}; expected a Float32Array or an array of numbers`);
    data = t.data as ArrayLike<number>;
    shape = [...(t.shape as number[])];
  } else {
    return fail(`is ${describe(v)}; expected ${ALLOWED}`);
  }
  if (shape && (shape.length !== expected.length || shape.some((d, i) => d !== expected[i]))) {
    fail(`has shape ${fmtShape(shape)}, expected ${fmtShape(expected)}`, ShapeError);
  }
  if (data.length !== size)
    fail(`has ${data.length} values, expected ${size} (shape ${fmtShape(expected)})`, ShapeError);
  const out = Float32Array.from(data);
  for (let i = 0; i < out.length; i++) {
    if (!Number.isFinite(out[i])) fail(`holds ${out[i]} at index ${i}: weights must be finite`);
  }
  return out;
}
