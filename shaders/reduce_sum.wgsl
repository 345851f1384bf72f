// reduce_sum.wgsl — deterministic chunked sum (optionally of clamped values, of squares)
//
//   sums[offsetOut + g] = alpha · Σ_{i ∈ chunk g} f(x[offsetX + i]),
//   chunk g = [g·chunk, min(n, (g+1)·chunk)),   f(v) = (CLAMP ? clamp(v, −clampValue, clampValue) : v)^(SQUARE ? 2 : 1)
//
// One launch of G workgroups writes G partial sums (G = 1: the whole sum). The host chains two
// launches for large n (partials, then one workgroup over the partials), so the result is a
// fixed-order sum: the same input always gives the same bits.
//
// Bindings (group 0):
//   0 x      storage, read        array<f32>   n elements from offsetX
//   1 sums   storage, read_write  array<f32>   G elements from offsetOut
//   2 params uniform              Params
// Workgroup: WG threads (a power of two); thread l sums elements l, l+WG, … of its chunk in
//   order, then a tree reduction in workgroup memory (WG floats). Grid: (G, 1, 1), G ≤ 65535.

struct Params {
  n: u32,
  offsetX: u32,
  offsetOut: u32,
  chunk: u32,
  alpha: f32,
  clampValue: f32,
}

override WG: u32 = 256u;
override SQUARE: bool = false;
override CLAMP: bool = false;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> sums: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

var<workgroup> scratch: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let g = wid.x;
  let start = g * params.chunk;
  let end = min(params.n, start + params.chunk);
  var acc = 0.0;
  for (var i = start + lid; i < end; i += WG) {
    var v = x[params.offsetX + i];
    if (CLAMP) { v = clamp(v, -params.clampValue, params.clampValue); }
    if (SQUARE) { v = v * v; }
    acc += v;
  }
  scratch[lid] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { scratch[lid] += scratch[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { sums[params.offsetOut + g] = params.alpha * scratch[0]; }
}
