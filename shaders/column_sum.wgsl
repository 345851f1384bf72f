// column_sum.wgsl — the sum of every column of a row-major matrix (bias gradients: Σ over the
// T·B rows of dgates or dlogits), deterministic, without atomics:
//
//   y[c] = Σ_{r < rows} x[offsetX + r·ld + c]          c < cols
//
// Bindings (group 0):
//   0 x      read        the matrix, ld elements between rows
//   1 y      read_write  [cols] at offsetY
//   2 params uniform     { rows, cols, ld, offsetX, offsetY }
// Workgroup: 32 columns × 8 row slices. Thread (c, s) sums rows s, s+8, s+16, … of its column
// (consecutive threads read consecutive elements of a row); the 8 partial sums of a column are
// then added in a fixed order through workgroup memory (1 KiB). Grid: ⌈cols / 32⌉.

struct ColumnSumParams {
  rows: u32,
  cols: u32,
  ld: u32,
  offsetX: u32,
  offsetY: u32,
}

const COLS = 32u;
const SLICES = 8u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: ColumnSumParams;

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(32, 8)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let c = wid.x * COLS + lid.x;
  var s = 0.0;
  if (c < params.cols) {
    for (var r = lid.y; r < params.rows; r += SLICES) {
      s += x[params.offsetX + r * params.ld + c];
    }
  }
  partial[lid.y * COLS + lid.x] = s;
  workgroupBarrier();
  if (lid.y == 0u && c < params.cols) {
    var total = 0.0;
    for (var k = 0u; k < SLICES; k++) { total += partial[k * COLS + lid.x]; }
    y[params.offsetY + c] = total;
  }
}
