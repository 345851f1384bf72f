// softmax.wgsl — row softmax, numerically stable (max-subtracted)
//
//   y[r, j] = exp(x[r, j] − mₗ) / Σₖ exp(x[r, k] − mₗ),   mₗ = maxₖ x[r, k]
//
// Bindings (group 0):
//   0 x      storage, read        array<f32>   rows × cols, row-major from offsetX
//   1 y      storage, read_write  array<f32>   rows × cols, row-major from offsetY
//   2 params uniform              Params
// Workgroup: WG threads (a power of two) per row. A row longer than WG is walked in strides
//   of WG; the max and the sum are reduced in workgroup memory (WG floats).
// Grid: (gridX, ⌈rows / gridX⌉): row = workgroup_id.x + workgroup_id.y · gridX.

struct Params {
  rows: u32, cols: u32,
  offsetX: u32, offsetY: u32,
  gridX: u32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

var<workgroup> scratch: array<f32, WG>;

// Tree reduction over the workgroup: max when isMax, else sum. Call in uniform control flow.
fn reduce(v: f32, isMax: bool, lid: u32) -> f32 {
  scratch[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      let o = scratch[lid + s];
      scratch[lid] = select(scratch[lid] + o, max(scratch[lid], o), isMax);
    }
    workgroupBarrier();
  }
  let r = scratch[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let row = wid.x + wid.y * params.gridX;
  if (row >= params.rows) { return; }
  let cols = params.cols;
  let xs = params.offsetX + row * cols;
  let ys = params.offsetY + row * cols;

  var m = -0x1.fffffep+127f;  // lowest finite f32
  for (var j = lid; j < cols; j += WG) { m = max(m, x[xs + j]); }
  m = reduce(m, true, lid);

  var s = 0.0;
  for (var j = lid; j < cols; j += WG) { s += exp(x[xs + j] - m); }
  s = reduce(s, false, lid);

  let inv = 1.0 / s;
  for (var j = lid; j < cols; j += WG) { y[ys + j] = exp(x[xs + j] - m) * inv; }
}
