// kv_cache_write.wgsl — appends one decoding step's key and value rows to a KV cache
//
//   p = position[offsetPos]                      (the step's position; p ≥ maxLen writes nothing)
//   kCache[offsetK + p·cols + c] = src[offsetSrcK + c]     for c < cols
//   vCache[offsetV + p·cols + c] = src[offsetSrcV + c]
//   keep[offsetKeep + p] = 1                     (the attention kernel's key mask: 1 = attend)
//
// src is the step's packed projection row [q | k | v] (offsets of its k and v parts); the caches are
// [maxLen, cols] row-major. Keys p' > p stay masked (keep 0) until their step writes them, so the
// attention of step p over the whole cache sees exactly the keys 0 … p.
//
// Bindings (group 0):
//   0 src      storage, read        array<f32>
//   1 position storage, read        array<i32>
//   2 kCache   storage, read_write  array<f32>
//   3 vCache   storage, read_write  array<f32>
//   4 keep     storage, read_write  array<f32>
//   5 params   uniform              Params
// Workgroup: WG threads, one column each. Grid: (⌈cols / WG⌉, 1, 1).

struct Params {
  cols: u32, maxLen: u32,
  offsetSrcK: u32, offsetSrcV: u32, offsetPos: u32,
  offsetK: u32, offsetV: u32, offsetKeep: u32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read> position: array<i32>;
@group(0) @binding(2) var<storage, read_write> kCache: array<f32>;
@group(0) @binding(3) var<storage, read_write> vCache: array<f32>;
@group(0) @binding(4) var<storage, read_write> keep: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  let p = position[params.offsetPos];
  if (p < 0 || u32(p) >= params.maxLen || c >= params.cols) { return; }
  let row = u32(p) * params.cols;
  kCache[params.offsetK + row + c] = src[params.offsetSrcK + c];
  vCache[params.offsetV + row + c] = src[params.offsetSrcV + c];
  if (c == 0u) { keep[params.offsetKeep + u32(p)] = 1.0; }
}
