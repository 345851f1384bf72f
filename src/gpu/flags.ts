/**
 * WebGPU flag values, fixed by the WebGPU spec. Kept here so that no module depends on the
 * `GPUBufferUsage` / `GPUShaderStage` / `GPUMapMode` globals, which Dawn's Node bindings only
 * define after `Object.assign(globalThis, globals)`.
 */
export const BufferUsage = {
  MAP_READ: 0x0001,
  MAP_WRITE: 0x0002,
  COPY_SRC: 0x0004,
  COPY_DST: 0x0008,
  UNIFORM: 0x0040,
  STORAGE: 0x0080,
  QUERY_RESOLVE: 0x0200,
} as const;

export const ShaderStage = { COMPUTE: 0x4 } as const;

export const MapMode = { READ: 0x0001 } as const;

/** Usage of every tensor buffer: bound as storage, written by uploads, copied out for readback. */
export const TENSOR_USAGE = BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST;
export const UNIFORM_USAGE = BufferUsage.UNIFORM | BufferUsage.COPY_DST;
export const READBACK_USAGE = BufferUsage.MAP_READ | BufferUsage.COPY_DST;
