// column_sum.wgsl — the sum of every column of a row-major matrix (bias gradients: Σ over the
// T·B rows of dgates or dlogits), deterministic, without atomics:
//
//   y[c] = Σ_{r < rows} x[offsetX + r·ld + c]          c < cols
//
// Bindings (group 0):
//   0 x      read        the matrix, ld elements between rows
//   1 y      read_write  [cols] at offsetY
//   2 params uniform     { rows, cols, ld, offsetX, offsetY }
// Workgroup: 64 threads, one column each; consecutive threads read consecutive elements of a row.

struct ColumnSumParams {
  rows: u32,
  cols: u32,
  ld: u32,
  offsetX: u32,
  offsetY: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: ColumnSumParams;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= params.cols) { return; }
  var s = 0.0;
  for (var r = 0u; r < params.rows; r++) {
    s += x[params.offsetX + r * params.ld + c];
  }
  y[params.offsetY + c] = s;
}
