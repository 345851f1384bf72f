// One declarative validator for every options object of the public API.
//
//   const o = checkOptions('SequenceModel', 'options', opts, {
//     hiddenSize: { type: 'int', min: 1, required: true },
//     mode: { type: 'enum', values: ['manyToMany', 'manyToOne'] },
//   });
//
// null / undefined options mean "all defaults" ({}); anything else that is not a plain object is
// an ArgumentError. An unknown key is an ArgumentError naming the nearest valid key; a value of
// the wrong type (the string 'false' for a boolean, '0.1' for a number) or out of range is an
// ArgumentError naming the key, what is allowed and the value. `undefined` values count as absent.
import { ArgumentError } from './errors.js';

/** What one option may hold. */
export type OptionSpec =
  | { type: 'number'; min?: number; max?: number; /** Exclusive lower bound. */ above?: number; required?: boolean }
  | { type: 'int'; min?: number; max?: number; required?: boolean }
  | { type: 'boolean'; required?: boolean }
  | { type: 'enum'; values: readonly (string | number)[]; required?: boolean }
  | { type: 'function'; required?: boolean }
  | { type: 'string'; required?: boolean }
  | { type: 'object'; required?: boolean }
  | { type: 'array'; required?: boolean }
  /** Checked by the caller (e.g. a name or a function). */
  | { type: 'any'; required?: boolean };

/** Specs by option name. */
export type OptionSchema = Record<string, OptionSpec>;

/** A value shown in a message: strings quoted, objects by their type. */
export function show(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'function') return 'a function';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v && typeof v === 'object') return ArrayBuffer.isView(v) ? `a ${v.constructor.name}` : 'an object';
  return String(v);
}

/** Levenshtein distance (small strings). */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diag + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1));
      diag = up;
    }
  }
  return row[b.length];
}

/** The valid name closest to `key`, or null when none is close (distance > ⌈len/2⌉). */
export function nearestName(key: string, names: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const n of names) {
    const d = distance(key, n);
    if (d < bestD) [best, bestD] = [n, d];
  }
  return bestD <= Math.max(2, Math.ceil(key.length / 2)) ? best : null;
}

/** Why `v` does not satisfy `spec`, or null when it does. */
function violation(spec: OptionSpec, v: unknown): string | null {
  switch (spec.type) {
    case 'number':
    case 'int': {
      const kind = spec.type === 'int' ? 'an integer' : 'a finite number';
      const above = 'above' in spec ? spec.above : undefined;
      if (spec.type === 'int' && spec.min === 1 && spec.max === undefined) {
        return typeof v === 'number' && Number.isSafeInteger(v) && v >= 1 ? null : 'a positive integer';
      }
      const range =
        spec.min !== undefined && spec.max !== undefined
          ? ` in [${spec.min}, ${spec.max}]`
          : [
              spec.min !== undefined ? ` ≥ ${spec.min}` : '',
              above !== undefined ? ` > ${above}` : '',
              spec.max !== undefined ? ` ≤ ${spec.max}` : '',
            ].join('');
      const want = kind + range;
      if (typeof v !== 'number' || !Number.isFinite(v) || (spec.type === 'int' && !Number.isSafeInteger(v)))
        return want;
      if (
        (spec.min !== undefined && v < spec.min) ||
        (spec.max !== undefined && v > spec.max) ||
        (above !== undefined && !(v > above))
      )
        return want;
      return null;
    }
    case 'boolean':
      return typeof v === 'boolean' ? null : 'true or false (a boolean)';
    case 'enum':
      return spec.values.includes(v as string) ? null : `one of ${spec.values.map(show).join(', ')}`;
    case 'function':
      return typeof v === 'function' ? null : 'a function';
    case 'string':
      return typeof v === 'string' ? null : 'a string';
    case 'object':
      return v !== null && typeof v === 'object' && !Array.isArray(v) ? null : 'an object';
    case 'array':
      return Array.isArray(v) ? null : 'an array';
    case 'any':
      return null;
  }
}

/**
 * Checks an options object against `schema`; returns it (or `{}` for null/undefined).
 * @param where - The public entry point, e.g. `'SequenceModel.configureTraining'`.
 * @param arg - The argument's name in messages, e.g. `'options'`.
 * @param value - What the user passed.
 * @param schema - The allowed keys and their specs.
 * @throws ArgumentError for a non-object, an unknown key (naming the nearest valid one), a
 *   missing required key, or a value of the wrong type or range.
 */
export function checkOptions<T extends object>(
  where: string,
  arg: string,
  value: unknown,
  schema: OptionSchema,
): Partial<T> {
  if (value === undefined || value === null) value = {};
  if (typeof value !== 'object' || Array.isArray(value) || ArrayBuffer.isView(value)) {
    throw new ArgumentError(
      `${where}: '${arg}' must be an options object {${Object.keys(schema).join(', ')}}, got ${show(value)}`,
    );
  }
  const names = Object.keys(schema);
  for (const key of Object.keys(value as object)) {
    if (Object.hasOwn(schema, key)) continue;
    const near = nearestName(key, names);
    throw new ArgumentError(
      `${where}: unknown option '${key}' in ` +
        `'${arg}'${near ? ` (did you mean '${near}'?)` : ''}; ` +
        `allowed: ${names.join(', ')}`,
    );
  }
  const o = value as Record<string, unknown>;
  for (const [key, spec] of Object.entries(schema)) {
    const v = o[key];
    if (v === undefined) {
      if (spec.required)
        throw new ArgumentError(
          `${where}: option '${key}' is required in '${arg}' (${violation(spec, Symbol()) ?? spec.type})`,
        );
      continue;
    }
    const want = violation(spec, v);
    if (want) throw new ArgumentError(`${where}: option '${key}' must be ${want}, got ${show(v)}`);
  }
  return o as Partial<T>;
}

/** @internal `v` for a message: JSON where it has one, else its type; long text cut short. */
export function showValue(v: unknown): string {
  let text: string | undefined;
  try {
    text = typeof v === 'bigint' ? `${v}n` : JSON.stringify(v);
  } catch {
    // a cyclic object: its type below
  }
  text ??= v === undefined ? 'undefined' : typeof v === 'function' ? 'a function' : typeof v;
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
