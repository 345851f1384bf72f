// Shader reflection at build time. A kernel's bindings, uniform struct layouts and `override`
// constants are read from its WGSL here, by wgsl_reflect, when Vite loads a `shaders/*.wgsl?raw`
// import; the plugin appends them to the source as one comment line of compact JSON,
//   // seqgpu-reflection: {"e":"main","b":[["x",0,"r"],["y",1,"s"],["params",2,"u"]],
//                          "u":{"params":[32,"rows",0,"u","cols",4,"u"]},"o":["WG","u"]}
// (e: entry point; b: [name, @binding, u = uniform | s = storage | r = read-only storage];
// u: per uniform [size, then name, offset, type per member]; o: override name, type per pair;
// types u = u32, i = i32, f = f32, b = bool), which src/gpu/kernel.ts decodes at run time (a
// JSON.parse), so the built library carries no WGSL parser. Files without a @compute entry point
// (pieces other kernels `// #include`) get no line.
// Used by vite.config.ts (library build, tests, dev pages), bench/vite.node.config.ts and
// demo/vite.config.ts; test/node/coldStart.test.ts checks the line against a run-time parse.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { WgslReflect, ResourceType } from 'wgsl_reflect/wgsl_reflect.module.js';

/** The comment line's prefix (src/gpu/kernel.ts has the same constant). */
export const REFLECTION_PREFIX = '// seqgpu-reflection: ';

const INCLUDE = /^\s*\/\/\s*#include\s+"([^"]+)"\s*$/gm;
const SCALARS = ['u32', 'i32', 'f32'];

/**
 * Reflects one kernel's WGSL (includes already resolved).
 * @param {string} name - The shader's file name, for error messages.
 * @param {string} code - WGSL with one @compute entry point.
 * @returns {import('./wgsl-reflect.d.mts').ShaderReflection}
 */
export function reflectWgsl(name, code) {
  const reflect = new WgslReflect(code);
  const entries = reflect.entry.compute;
  if (entries.length !== 1)
    throw new Error(`${name}: expected exactly one @compute entry point, found ${entries.length}`);
  const groups = reflect.getBindGroups();
  if (groups.length > 1) throw new Error(`${name}: kernels use @group(0) only, found ${groups.length} groups`);
  const bindings = [];
  const uniforms = [];
  for (const v of groups[0] ?? []) {
    if (!v) continue;
    let type;
    if (v.resourceType === ResourceType.Uniform) {
      type = 'uniform';
      uniforms.push(uniformLayout(name, v));
    } else if (v.resourceType === ResourceType.Storage) {
      type = v.access === 'read_write' ? 'storage' : 'read-only-storage';
    } else {
      throw new Error(`${name}: binding '${v.name}' is not a buffer; compute kernels bind buffers only`);
    }
    bindings.push({ name: v.name, binding: v.binding, type });
  }
  const overrides = [];
  for (const o of reflect.overrides) {
    const t = o.type?.name;
    if (![...SCALARS, 'bool'].includes(t))
      throw new Error(`${name}: override '${o.name}' must have an explicit scalar type, got ${t}`);
    overrides.push({ name: o.name, type: t });
  }
  return { entryPoint: entries[0].name, bindings, uniforms, overrides };
}

function uniformLayout(kernel, v) {
  if (!v.members) throw new Error(`${kernel}: uniform '${v.name}' must be a struct`);
  const fields = v.members.map((m) => {
    const t = m.type.name;
    if (!SCALARS.includes(t))
      throw new Error(`${kernel}: uniform member ${v.name}.${m.name} must be u32, i32 or f32 (got ${t})`);
    return { name: m.name, offset: m.offset, type: t };
  });
  return { binding: v.name, size: Math.max(16, Math.ceil(v.size / 16) * 16), fields };
}

const BINDING_CODE = { uniform: 'u', storage: 's', 'read-only-storage': 'r' };
const TYPE_CODE = { u32: 'u', i32: 'i', f32: 'f', bool: 'b' };

/**
 * The reflection line's JSON (the compact form described at the top of this file).
 * @param {import('./wgsl-reflect.d.mts').ShaderReflection} r
 * @returns {string}
 */
export function encodeReflection(r) {
  return JSON.stringify({
    e: r.entryPoint,
    b: r.bindings.map((b) => [b.name, b.binding, BINDING_CODE[b.type]]),
    u: Object.fromEntries(
      r.uniforms.map((u) => [u.binding, [u.size, ...u.fields.flatMap((f) => [f.name, f.offset, TYPE_CODE[f.type]])]]),
    ),
    o: r.overrides.flatMap((o) => [o.name, TYPE_CODE[o.type]]),
  });
}

/**
 * `code` with its `// #include "file.wgsl"` lines replaced by the text of those files, read from
 * `dir` (one level, as src/gpu/kernel.ts resolves them at run time).
 * @param {string} name
 * @param {string} code
 * @param {(file: string) => string} read - Reads an included file by name.
 * @returns {{ code: string, files: string[] }} The resolved code and the files it read.
 */
export function resolveIncludesFrom(name, code, read) {
  const files = [];
  const resolved = code.replace(INCLUDE, (_line, inc) => {
    const text = read(inc);
    if (/^\s*\/\/\s*#include\s/m.test(text))
      throw new Error(`shader '${inc}' (included by '${name}') may not include other files`);
    files.push(inc);
    return text;
  });
  return { code: resolved, files };
}

/** True when `code` declares a compute entry point (a kernel, not a piece to include). */
export function isKernel(code) {
  return /@compute\b/.test(code.replace(/\/\/[^\n]*/g, ''));
}

/**
 * The text a `?raw` import of the WGSL file at `path` gets: the file, plus for a kernel the
 * reflection line of its include-resolved code.
 * @param {string} path - Absolute path of the .wgsl file.
 * @returns {{ code: string, files: string[] }} The module's string and the included files' paths.
 */
export function annotateWgsl(path) {
  const name = path.split(/[\\/]/).pop();
  const code = readFileSync(path, 'utf8');
  if (!isKernel(code)) return { code, files: [] };
  const dir = dirname(path);
  const { code: resolved, files } = resolveIncludesFrom(name, code, (f) => readFileSync(join(dir, f), 'utf8'));
  const json = encodeReflection(reflectWgsl(name, resolved));
  const sep = code.endsWith('\n') ? '' : '\n';
  return { code: `${code}${sep}${REFLECTION_PREFIX}${json}\n`, files: files.map((f) => join(dir, f)) };
}

/**
 * Vite plugin: `*.wgsl?raw` imports get the file's text with its build-time reflection line
 * ({@link annotateWgsl}); other `?raw` imports are left to Vite.
 * @returns {import('vite').Plugin}
 */
export function wgslReflectPlugin() {
  return {
    name: 'seqgpu-wgsl-reflect',
    enforce: 'pre',
    load(id) {
      const [path, query] = id.split('?', 2);
      if (!path.endsWith('.wgsl') || query !== 'raw') return null;
      const { code, files } = annotateWgsl(path);
      this.addWatchFile(path);
      for (const f of files) this.addWatchFile(f);
      return `export default ${JSON.stringify(code)};`;
    },
  };
}
