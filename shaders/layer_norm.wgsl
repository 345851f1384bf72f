// layer_norm.wgsl — PyTorch nn.LayerNorm over the last dimension (forward), one row per workgroup:
//
//   mean_r = (1/cols) Σ_c x[r, c]
//   var_r  = (1/cols) Σ_c (x[r, c] − mean_r)²                      (biased, like PyTorch)
//   rstd_r = 1 / sqrt(var_r + eps)
//   y[r, c] = (x[r, c] − mean_r) · rstd_r · weight[c] + bias[c]     (weight/bias optional)
//
// mean [rows] and rstd [rows] are written for the backward (layer_norm_backward.wgsl).
//
// Numerics: the statistics are taken of x − K with K = x[r, 0] (a member of the row, so
// |x − K| ≤ √cols · std_r: a large common offset cancels exactly and costs no precision), with
// Welford per thread and Chan's pairwise merge of (count, mean, M2) in workgroup memory: no
// E[x²] − E[x]² cancellation. y uses the shifted mean too, so it is accurate to a few ulps of
// the row's spread, not of its offset.
//
// Bindings (group 0):
//   0 x      storage, read        array<f32>  rows × cols, row-major from offsetX
//   1 weight storage, read        array<f32>  [cols] from offsetW (a stand-in when !HAS_WEIGHT)
//   2 bias   storage, read        array<f32>  [cols] from offsetB (a stand-in when !HAS_BIAS)
//   3 out0   storage, read_write  array<f32>  holds y: rows × cols from offsetY
//   4 out1   storage, read_write  array<f32>  mean and/or rstd when they are not in out0's buffer
//   5 out2   storage, read_write  array<f32>  rstd when its buffer is neither out0's nor out1's
//   6 params uniform              Params
// An output buffer is bound once: MEAN_SLOT (0|1) and RSTD_SLOT (0|1|2) name the out binding
// that holds mean and rstd (WebGPU forbids two bindings of one buffer when one is written).
// Workgroup: WG threads (a power of two) per row; a row longer than WG is walked in strides of
// WG. Workgroup memory: 3·WG floats. Grid: (gridX, ⌈rows / gridX⌉): row = wid.x + wid.y · gridX.

struct Params {
  rows: u32, cols: u32,
  offsetX: u32, offsetW: u32, offsetB: u32,
  offsetY: u32, offsetMean: u32, offsetRstd: u32,
  gridX: u32,
  eps: f32,
}

override WG: u32 = 256u;
override HAS_WEIGHT: bool = true;
override HAS_BIAS: bool = true;
override MEAN_SLOT: u32 = 1u;
override RSTD_SLOT: u32 = 2u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> out0: array<f32>;
@group(0) @binding(4) var<storage, read_write> out1: array<f32>;
@group(0) @binding(5) var<storage, read_write> out2: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;

var<workgroup> wCount: array<f32, WG>;
var<workgroup> wMean: array<f32, WG>;
var<workgroup> wM2: array<f32, WG>;

fn store(slot: u32, i: u32, v: f32) {
  switch slot {
    case 0u: { out0[i] = v; }
    case 1u: { out1[i] = v; }
    default: { out2[i] = v; }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let row = wid.x + wid.y * params.gridX;
  if (row >= params.rows) { return; }  // uniform per workgroup: the barriers below stay uniform
  let cols = params.cols;
  let xs = params.offsetX + row * cols;
  let shift = x[xs];

  // Welford over this thread's elements (of x − shift).
  var n = 0.0;
  var m = 0.0;
  var m2 = 0.0;
  for (var j = lid; j < cols; j += WG) {
    let v = x[xs + j] - shift;
    n += 1.0;
    let d = v - m;
    m += d / n;
    m2 += d * (v - m);
  }
  wCount[lid] = n;
  wMean[lid] = m;
  wM2[lid] = m2;
  workgroupBarrier();
  // Chan et al. pairwise merge, a fixed tree (deterministic).
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      let nb = wCount[lid + s];
      if (nb > 0.0) {
        let na = wCount[lid];
        let nab = na + nb;
        let delta = wMean[lid + s] - wMean[lid];
        wMean[lid] = wMean[lid] + delta * (nb / nab);
        wM2[lid] = wM2[lid] + wM2[lid + s] + delta * delta * (na * nb / nab);
        wCount[lid] = nab;
      }
    }
    workgroupBarrier();
  }
  let shiftedMean = wMean[0];
  let variance = max(wM2[0] / f32(cols), 0.0);
  let rstd = 1.0 / sqrt(variance + params.eps);

  if (lid == 0u) {
    store(MEAN_SLOT, params.offsetMean + row, shift + shiftedMean);
    store(RSTD_SLOT, params.offsetRstd + row, rstd);
  }
  let ys = params.offsetY + row * cols;
  for (var j = lid; j < cols; j += WG) {
    var v = ((x[xs + j] - shift) - shiftedMean) * rstd;
    if (HAS_WEIGHT) { v *= weight[params.offsetW + j]; }
    if (HAS_BIAS) { v += bias[params.offsetB + j]; }
    out0[ys + j] = v;
  }
}
