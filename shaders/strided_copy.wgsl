// strided_copy.wgsl — y = alpha · x (+ y) over a rank-4 index space, both sides strided
//
//   for every i = (i0, i1, i2, i3) < (d0, d1, d2, d3):
//     y[offsetY + Σₖ iₖ·syₖ] = alpha · x[offsetX + Σₖ iₖ·sxₖ]  (+ y[…] itself when accumulate ≠ 0)
//
//   Strides are in elements. An x stride may be 0 (broadcast); y's layout never maps two indices to
//   one element (the host checks), so every thread owns its output element. Permutes, slices,
//   concatenation into a column range, broadcasts with a scale and gradient accumulation are all
//   this one map with other strides.
//
// Bindings (group 0):
//   0 x      storage, read        array<f32>   read at offsetX + Σ iₖ·sxₖ
//   1 y      storage, read_write  array<f32>   written at offsetY + Σ iₖ·syₖ
//   2 params uniform              Params
// Workgroup: WG threads, one output element each, in row-major order of the index space (i3
//   fastest). Grid: (gridX, ⌈n / (gridX·WG)⌉), n = d0·d1·d2·d3; flat index = gid.x + gid.y·gridX·WG.

struct Params {
  n: u32,
  gridX: u32,
  offsetX: u32, offsetY: u32,
  d1: u32, d2: u32, d3: u32,
  sx0: u32, sx1: u32, sx2: u32, sx3: u32,
  sy0: u32, sy1: u32, sy2: u32, sy3: u32,
  accumulate: u32,
  alpha: f32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * params.gridX * WG;
  if (i >= params.n) { return; }
  let i3 = i % params.d3;
  let r3 = i / params.d3;
  let i2 = r3 % params.d2;
  let r2 = r3 / params.d2;
  let i1 = r2 % params.d1;
  let i0 = r2 / params.d1;
  let xi = params.offsetX + i0 * params.sx0 + i1 * params.sx1 + i2 * params.sx2 + i3 * params.sx3;
  let yi = params.offsetY + i0 * params.sy0 + i1 * params.sy1 + i2 * params.sy2 + i3 * params.sy3;
  var v = params.alpha * x[xi];
  if (params.accumulate != 0u) { v += y[yi]; }
  y[yi] = v;
}
