// embedding.wgsl — embedding lookup (PyTorch nn.Embedding forward), a row gather
//
//   y[n, e] = W[idx[n], e]      for 0 ≤ idx[n] < V
//   y[n, e] = 0                 for an out-of-range idx[n] (nothing is read out of bounds)
//
// Bindings (group 0):
//   0 indices storage, read        array<i32>  tokens from offsetIdx
//   1 weight  storage, read        array<f32>  vocab × dim from offsetW
//   2 y       storage, read_write  array<f32>  tokens × dim from offsetY
//   3 params  uniform              Params
// Workgroup: WG threads, one output element each (consecutive threads read one row of W).
// Grid: (gridX, ⌈tokens·dim / (gridX·WG)⌉).

struct Params {
  tokens: u32, dim: u32, vocab: u32,
  offsetIdx: u32, offsetW: u32, offsetY: u32,
  gridX: u32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> indices: array<i32>;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let k = gid.x + gid.y * params.gridX * WG;
  if (k >= params.tokens * params.dim) { return; }
  let n = k / params.dim;
  let e = k % params.dim;
  let v = indices[params.offsetIdx + n];
  var r = 0.0;
  if (v >= 0 && u32(v) < params.vocab) { r = weight[params.offsetW + u32(v) * params.dim + e]; }
  y[params.offsetY + k] = r;
}
