// mse.wgsl — mean squared error (PyTorch F.mse_loss, reduction='mean'), loss rows and gradient
//
//   K = rows · cols (all elements; the mean is over K)
//   rowLoss[r]  = Σ_c (p[r,c] − t[r,c])² / K        so Σ_r rowLoss[r] (reduce_sum.wgsl) is the loss
//   dPred[r,c]  = 2 (p[r,c] − t[r,c]) / K           (WRITE_GRAD)
//
// Bindings (group 0):
//   0 pred    storage, read        array<f32>  rows × cols from offsetPred
//   1 targetValues storage, read   array<f32>  rows × cols from offsetTarget
//   2 rowLoss storage, read_write  array<f32>  rows from offsetLoss
//   3 dPred   storage, read_write  array<f32>  rows × cols from offsetGrad (WRITE_GRAD only)
//   4 params  uniform              Params
// Workgroup: WG threads, TPR threads per row (a power of two ≤ WG), WG/TPR rows per workgroup;
//   a row longer than TPR is walked in strides of TPR and its sum is a segmented tree reduction
//   in workgroup memory (WG floats). Grid: (gridX, ⌈⌈rows·TPR/WG⌉ / gridX⌉): index x + y·gridX.

struct Params {
  rows: u32, cols: u32,
  offsetPred: u32, offsetTarget: u32, offsetLoss: u32, offsetGrad: u32,
  gridX: u32,
  invK: f32,  // 1/K, computed on the host in float64
}

override WG: u32 = 256u;
override TPR: u32 = 256u;
override WRITE_GRAD: bool = true;

@group(0) @binding(0) var<storage, read> pred: array<f32>;
@group(0) @binding(1) var<storage, read> targetValues: array<f32>;
@group(0) @binding(2) var<storage, read_write> rowLoss: array<f32>;
@group(0) @binding(3) var<storage, read_write> dPred: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

var<workgroup> scratch: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let wg = wid.x + wid.y * params.gridX;
  let row = wg * (WG / TPR) + lid / TPR;
  let lane = lid % TPR;
  let cols = params.cols;
  let valid = row < params.rows;
  var acc = 0.0;
  if (valid) {
    let base = row * cols;
    for (var j = lane; j < cols; j += TPR) {
      let e = pred[params.offsetPred + base + j] - targetValues[params.offsetTarget + base + j];
      acc += e * e;
      if (WRITE_GRAD) { dPred[params.offsetGrad + base + j] = 2.0 * e * params.invK; }
    }
  }
  scratch[lid] = acc;
  workgroupBarrier();
  for (var s = TPR / 2u; s > 0u; s >>= 1u) {
    if (lane < s) { scratch[lid] += scratch[lid + s]; }
    workgroupBarrier();
  }
  if (valid && lane == 0u) { rowLoss[params.offsetLoss + row] = scratch[lid] * params.invK; }
}
