// Kernels are reflected at build time (tools/wgsl-reflect.mjs, a Vite plugin): each kernel's
// `?raw` import carries one '// seqgpu-reflection: {json}' line, read here — no WGSL parser ships.
import { GpuError } from '../util/errors.js';
import { ShaderStage } from './flags.js';

/** One `@group(0) @binding(n)` variable of a kernel, as reflected from its WGSL. */
export interface BindingInfo {
  /** The variable's name in the WGSL: host code binds buffers by this name. */
  name: string;
  /** Its `@binding(n)` index. */
  binding: number;
  /** Buffer binding type: `var<uniform>`, `var<storage, read_write>` or `var<storage, read>`. */
  type: 'uniform' | 'storage' | 'read-only-storage';
}

/** A scalar member of a uniform struct: where it lives and how to write it. */
export interface UniformField {
  offset: number;
  type: 'u32' | 'i32' | 'f32';
}

export interface UniformLayout {
  size: number;
  fields: Map<string, UniformField>;
}

type OverrideType = 'u32' | 'i32' | 'f32' | 'bool';

/** Constants for a kernel's `override` declarations; booleans are passed as 0/1. */
export type OverrideValues = Record<string, number | boolean>;

const INCLUDE = /^\s*\/\/\s*#include\s+"([^"]+)"\s*$/gm;

/** Prefix of the reflection line tools/wgsl-reflect.mjs appends to a kernel's source. */
const REFLECTION_PREFIX = '// seqgpu-reflection: ';
const REFLECTION_LINE = /^\/\/ seqgpu-reflection: (.*)$\n?/m;

/**
 * What the build-time reflection line holds (tools/wgsl-reflect.mjs, encodeReflection): the entry
 * point; per binding [name, index, u | s | r]; per uniform [size, then name, offset, type per
 * member]; per override name, type — types u = u32, i = i32, f = f32, b = bool.
 */
interface EncodedReflection {
  e: string;
  b: [string, number, 'u' | 's' | 'r'][];
  u: Record<string, (string | number)[]>;
  o: string[];
}
const BINDING_TYPES = { u: 'uniform', s: 'storage', r: 'read-only-storage' } as const;
const SCALAR_TYPES = { u: 'u32', i: 'i32', f: 'f32', b: 'bool' } as const;

/**
 * A kernel's WGSL as a module holds it: each kernel module imports its own `.wgsl` files (Vite
 * `?raw`) and passes this object wherever it gets the kernel (`gpu.pipeline(MATMUL_SHADER, …)`),
 * so an app's bundle carries the WGSL of the kernels it can reach and no other.
 */
export interface WgslShader {
  /** Its file name in `shaders/`, e.g. `'matmul.wgsl'`: the kernel's name in caches, labels and errors. */
  readonly name: string;
  /** Its source, with its `// #include "file.wgsl"` lines not yet resolved. */
  readonly code: string;
  /** The source of each file it includes, by file name. */
  readonly includes: Readonly<Record<string, string>>;
}

/** A kernel as `Gpu` methods take it: its {@link WgslShader}, or the file name of a defined one. */
export type ShaderRef = WgslShader | string;

// Shaders by name, for lookups by file name only (`gpu.kernel('matmul.wgsl')` in tests and
// debugging). seqgpu itself always passes the WgslShader, so nothing depends on this map being
// complete: in a bundle it holds the shaders the bundler kept.
const defined = new Map<string, WgslShader>();

/**
 * Makes a kernel's {@link WgslShader} and makes its name known to by-name lookups. Kernel modules
 * annotate the call as pure (`#__PURE__`): the registration is a convenience (see
 * {@link lookupShader}), so a bundler may drop the call, and the WGSL with it, when the app never
 * reaches the shader.
 * @param name - The file name in `shaders/`.
 * @param code - The file's text.
 * @param includes - The text of each file it `// #include`s, by file name.
 */
export function defineShader(name: string, code: string, includes: Record<string, string> = {}): WgslShader {
  const shader: WgslShader = { name, code, includes };
  defined.set(name, shader);
  return shader;
}

/** Every shader defined so far by the loaded modules (tests check each one's reflection). */
export function definedShaders(): WgslShader[] {
  return [...defined.values()];
}

/** The file name of `ref`. */
export function shaderName(ref: ShaderRef): string {
  return typeof ref === 'string' ? ref : ref.name;
}

/**
 * `ref` itself, or for a file name the shader defined under it.
 * @throws GpuError for a name no loaded module defined (in a bundle: a kernel the app cannot reach).
 */
export function lookupShader(ref: ShaderRef): WgslShader {
  if (typeof ref !== 'string') return ref;
  const shader = defined.get(ref);
  if (!shader) {
    throw new GpuError(
      `unknown shader '${ref}'; known: ${[...defined.keys()].sort().join(', ')} (pass ` +
        `the kernel's WgslShader: bundles keep only the shaders an app can reach)`,
    );
  }
  return shader;
}

/** `shader`'s code with its `// #include "file.wgsl"` lines replaced by those files' text (one level, no cycles). */
export function resolveIncludes(shader: WgslShader): string {
  const { name, code, includes } = shader;
  return code.replace(INCLUDE, (_line, inc: string) => {
    const text = Object.hasOwn(includes, inc) ? includes[inc] : undefined;
    if (text === undefined) throw new GpuError(`shader '${name}' includes unknown file '${inc}'`);
    if (/^\s*\/\/\s*#include\s/m.test(text))
      throw new GpuError(`shader '${inc}' (included by '${name}') may not include other files`);
    return text.replace(REFLECTION_LINE, '');
  });
}

/**
 * A WGSL compute kernel and what reflection tells about it: its bindings (by name), the
 * layout of its uniform structs, and its `override` constants. The bind group layout is built
 * from this reflection, so bindings are written once, in the `.wgsl` file. The reflection is done
 * at build time: seqgpu's Vite plugin (tools/wgsl-reflect.mjs) parses each kernel's include-resolved
 * WGSL with wgsl_reflect and appends the result to its `?raw` import as one
 * `// seqgpu-reflection: {json}` line, which this class reads.
 */
export class KernelSource {
  /** Name of the kernel's single `@compute` entry point. */
  readonly entryPoint: string;
  /** The `@group(0)` buffer bindings, in declaration order. */
  readonly bindings: BindingInfo[] = [];
  /**
   * Byte layout of each uniform struct, by binding name (offsets and scalar types of its members).
   */
  readonly uniforms = new Map<string, UniformLayout>();
  /** The `override` constants and their scalar types, by name. */
  readonly overrides = new Map<string, OverrideType>();
  /** The WGSL given to the compiler: the source without its reflection line. */
  readonly code: string;

  /**
   * Reads the build-time reflection line of `source`.
   * @param name - The shader's file name in `shaders/` (used in error messages and labels).
   * @param source - WGSL source with its `// #include` lines already resolved and its
   *   `// seqgpu-reflection:` line (from tools/wgsl-reflect.mjs).
   * @throws GpuError when the reflection line is missing or malformed (the WGSL was not loaded
   *   through seqgpu's Vite plugin).
   */
  constructor(
    readonly name: string,
    source: string,
  ) {
    const line = REFLECTION_LINE.exec(source);
    if (!line) {
      throw new GpuError(
        `${name}: the WGSL has no '${REFLECTION_PREFIX.trim()}' line: kernels are reflected at build ` +
          "time by seqgpu's Vite plugin (tools/wgsl-reflect.mjs), which adds it to `shaders/*.wgsl?raw` imports",
      );
    }
    let r: EncodedReflection;
    try {
      r = JSON.parse(line[1]) as EncodedReflection;
    } catch (e) {
      throw new GpuError(`${name}: its reflection line is not valid JSON (${(e as Error).message})`);
    }
    const bad = (what: string) => new GpuError(`${name}: its reflection line has a malformed ${what}`);
    const scalar = (code: unknown) => {
      const t = SCALAR_TYPES[code as keyof typeof SCALAR_TYPES];
      if (!t) throw bad(`type code ${JSON.stringify(code)}`);
      return t;
    };
    if (typeof r?.e !== 'string' || !Array.isArray(r.b) || !r.u || !Array.isArray(r.o)) throw bad('record');
    this.code = source.replace(REFLECTION_LINE, '');
    this.entryPoint = r.e;
    for (const [bindingName, binding, code] of r.b) {
      const type = BINDING_TYPES[code];
      if (!type) throw bad(`binding '${bindingName}'`);
      this.bindings.push({ name: bindingName, binding, type });
    }
    for (const [binding, [size, ...members]] of Object.entries(r.u)) {
      const fields = new Map<string, UniformField>();
      for (let i = 0; i + 2 < members.length; i += 3) {
        const type = scalar(members[i + 2]);
        if (type === 'bool') throw bad(`uniform member ${binding}.${members[i]}`);
        fields.set(String(members[i]), { offset: Number(members[i + 1]), type });
      }
      this.uniforms.set(binding, { size: Number(size), fields });
    }
    for (let i = 0; i + 1 < r.o.length; i += 2) this.overrides.set(r.o[i], scalar(r.o[i + 1]));
  }

  /**
   * The bind group layout entries for `createBindGroupLayout`, one per binding, visible to the
   * compute stage.
   */
  layoutEntries(): GPUBindGroupLayoutEntry[] {
    return this.bindings.map((b) => ({
      binding: b.binding,
      visibility: ShaderStage.COMPUTE,
      buffer: { type: b.type },
    }));
  }

  /**
   * Checks constant names and types against the shader's `override` declarations.
   * @param values - Override values by name; booleans for `bool` overrides, integers for u32 (≥ 0)
   *   and i32.
   * @returns The values as the numbers `GPUProgrammableStage.constants` takes (booleans as 0/1).
   * @throws GpuError naming the override when a name is unknown or a value has the wrong type.
   */
  constants(values: OverrideValues): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(values)) {
      const t = this.overrides.get(k);
      if (!t)
        throw new GpuError(
          `${this.name}: no override named '${k}'; overrides: ${[...this.overrides.keys()].join(', ')}`,
        );
      if (t === 'bool') {
        if (typeof v !== 'boolean') throw new GpuError(`${this.name}: override '${k}' is bool, got ${v}`);
        out[k] = v ? 1 : 0;
      } else {
        if (
          typeof v !== 'number' ||
          !Number.isFinite(v) ||
          ((t === 'u32' || t === 'i32') && !Number.isInteger(v)) ||
          (t === 'u32' && v < 0)
        ) {
          throw new GpuError(`${this.name}: override '${k}' is ${t}, got ${v}`);
        }
        out[k] = v;
      }
    }
    return out;
  }

  /**
   * Packs `values` into the byte layout of uniform `binding`; every member must be given.
   * @param binding - Name of the uniform variable in the WGSL.
   * @param values - One number per struct member, by member name (u32/i32 members must be integers
   *   in range).
   * @param target - Buffer to write into (at least the struct's size); a new one when omitted.
   * @returns The packed bytes (`target` when given), padded to a multiple of 16.
   * @throws GpuError for an unknown binding or member, a missing member or an out-of-range integer.
   */
  packUniform(binding: string, values: Record<string, number>, target?: ArrayBuffer): ArrayBuffer {
    const layout = this.uniforms.get(binding);
    if (!layout) throw new GpuError(`${this.name}: no uniform binding named '${binding}'`);
    const buf = target ?? new ArrayBuffer(layout.size);
    const view = new DataView(buf);
    for (const k of Object.keys(values)) {
      if (!layout.fields.has(k)) throw new GpuError(`${this.name}: uniform '${binding}' has no member '${k}'`);
    }
    for (const [k, f] of layout.fields) {
      const v = values[k];
      if (v === undefined) throw new GpuError(`${this.name}: uniform '${binding}' member '${k}' was not given`);
      if (f.type === 'f32') view.setFloat32(f.offset, v, true);
      else if (f.type === 'u32') {
        if (!Number.isInteger(v) || v < 0 || v > 0xffffffff)
          throw new GpuError(`${this.name}: ${binding}.${k} must be a u32, got ${v}`);
        view.setUint32(f.offset, v, true);
      } else {
        if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff)
          throw new GpuError(`${this.name}: ${binding}.${k} must be an i32, got ${v}`);
        view.setInt32(f.offset, v, true);
      }
    }
    return buf;
  }
}
