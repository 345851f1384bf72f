// softmax_backward.wgsl — the gradient of the row softmax from its output
//
//   dx[r, c] = y[r, c] · (dy[r, c] − Σ_c' dy[r, c']·y[r, c'])        y = softmax(x) by rows
//
// Bindings (group 0):
//   0 y      storage, read        array<f32>   rows × cols, row-major from offsetY (the softmax output)
//   1 dy     storage, read        array<f32>   rows × cols, row-major from offsetDy (dL/dy)
//   2 dx     storage, read_write  array<f32>   rows × cols, row-major from offsetDx (dL/dx)
//   3 params uniform              Params
// Workgroup: WG threads (a power of two) per row. A row longer than WG is walked in strides of
//   WG; the dot product Σ dy·y is reduced in workgroup memory (WG floats).
// Grid: (gridX, ⌈rows / gridX⌉): row = workgroup_id.x + workgroup_id.y · gridX.

struct Params {
  rows: u32, cols: u32,
  offsetY: u32, offsetDy: u32, offsetDx: u32,
  gridX: u32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> y: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

var<workgroup> scratch: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let row = wid.x + wid.y * params.gridX;
  if (row >= params.rows) { return; }  // uniform per workgroup
  let cols = params.cols;
  let ys = params.offsetY + row * cols;
  let gs = params.offsetDy + row * cols;
  let xs = params.offsetDx + row * cols;

  var s = 0.0;
  for (var j = lid; j < cols; j += WG) { s += dy[gs + j] * y[ys + j]; }
  scratch[lid] = s;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) { scratch[lid] += scratch[lid + k]; }
    workgroupBarrier();
  }
  let dot = scratch[0];

  for (var j = lid; j < cols; j += WG) { dx[xs + j] = y[ys + j] * (dy[gs + j] - dot); }
}
