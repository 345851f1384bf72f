// layer_norm_backward.wgsl — the input gradient of PyTorch nn.LayerNorm over the last dimension,
// one row per workgroup (the weight/bias gradients are layer_norm_param_grad.wgsl):
//
//   x̂[r, c]  = (x[r, c] − mean_r) · rstd_r            (mean, rstd from layer_norm.wgsl)
//   g[r, c]  = dy[r, c] · weight[c]                    (g = dy when !HAS_WEIGHT)
//   dx[r, c] = rstd_r · (g[r, c] − (1/cols) Σ_c' g[r, c'] − x̂[r, c] · (1/cols) Σ_c' g[r, c'] · x̂[r, c'])
//
// Bindings (group 0):
//   0 x      storage, read        array<f32>  rows × cols, row-major from offsetX
//   1 dy     storage, read        array<f32>  rows × cols from offsetDy
//   2 weight storage, read        array<f32>  [cols] from offsetW (a stand-in when !HAS_WEIGHT)
//   3 mean   storage, read        array<f32>  [rows] from offsetMean
//   4 rstd   storage, read        array<f32>  [rows] from offsetRstd
//   5 dx     storage, read_write  array<f32>  rows × cols from offsetDx (written, not added)
//   6 params uniform              Params
// Workgroup: WG threads (a power of two) per row, strides of WG along the row; both row sums
// are reduced together in a fixed tree (deterministic) in workgroup memory (WG vec2 = 8·WG bytes).
// Grid: (gridX, ⌈rows / gridX⌉): row = wid.x + wid.y · gridX.

struct Params {
  rows: u32, cols: u32,
  offsetX: u32, offsetDy: u32, offsetW: u32,
  offsetMean: u32, offsetRstd: u32, offsetDx: u32,
  gridX: u32,
}

override WG: u32 = 256u;
override HAS_WEIGHT: bool = true;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> rstd: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;

var<workgroup> scratch: array<vec2<f32>, WG>;

fn gradOut(row: u32, j: u32) -> f32 {
  var g = dy[params.offsetDy + row * params.cols + j];
  if (HAS_WEIGHT) { g *= weight[params.offsetW + j]; }
  return g;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let row = wid.x + wid.y * params.gridX;
  if (row >= params.rows) { return; }  // uniform per workgroup: the barriers below stay uniform
  let cols = params.cols;
  let xs = params.offsetX + row * cols;
  let mu = mean[params.offsetMean + row];
  let rs = rstd[params.offsetRstd + row];

  // (Σ g, Σ g·x̂) over this thread's elements, then over the workgroup.
  var s = vec2<f32>(0.0, 0.0);
  for (var j = lid; j < cols; j += WG) {
    let g = gradOut(row, j);
    let xh = (x[xs + j] - mu) * rs;
    s += vec2<f32>(g, g * xh);
  }
  scratch[lid] = s;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) { scratch[lid] = scratch[lid] + scratch[lid + k]; }
    workgroupBarrier();
  }
  let inv = 1.0 / f32(cols);
  let meanG = scratch[0].x * inv;
  let meanGX = scratch[0].y * inv;

  let ds = params.offsetDx + row * cols;
  for (var j = lid; j < cols; j += WG) {
    let g = gradOut(row, j);
    let xh = (x[xs + j] - mu) * rs;
    dx[ds + j] = rs * (g - meanG - xh * meanGX);
  }
}
