import type { Plugin } from 'vite';

/** One `@group(0) @binding(n)` buffer of a kernel. */
export interface ReflectedBinding {
  name: string;
  binding: number;
  type: 'uniform' | 'storage' | 'read-only-storage';
}
/** A uniform struct: its size (padded to 16) and its scalar members. */
export interface ReflectedUniform {
  binding: string;
  size: number;
  fields: { name: string; offset: number; type: 'u32' | 'i32' | 'f32' }[];
}
/** What the plugin writes into a kernel's reflection line. */
export interface ShaderReflection {
  entryPoint: string;
  bindings: ReflectedBinding[];
  uniforms: ReflectedUniform[];
  overrides: { name: string; type: 'u32' | 'i32' | 'f32' | 'bool' }[];
}
export const REFLECTION_PREFIX: string;
export function reflectWgsl(name: string, code: string): ShaderReflection;
export function encodeReflection(r: ShaderReflection): string;
export function resolveIncludesFrom(
  name: string,
  code: string,
  read: (file: string) => string,
): { code: string; files: string[] };
export function isKernel(code: string): boolean;
export function annotateWgsl(path: string): { code: string; files: string[] };
export function wgslReflectPlugin(): Plugin;
