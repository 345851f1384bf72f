// column_sum.wgsl — the sum of every column of a row-major matrix (bias gradients: Σ over the
// T·B rows of dgates or dlogits), deterministic, without atomics:
//
//   y[c] = Σ_{r < rows} x[offsetX + r·ld + c]          c < cols
//
// Bindings (group 0):
//   0 x      read        the matrix, ld elements between rows
//   1 y      read_write  [cols] at offsetY
//   2 params uniform     { rows, cols, ld, offsetX, offsetY }
// Workgroup: 32 columns × SLICES row slices (SLICES = 8 on a GPU, 1 on a software adapter; see
// src/kernels/columnSum.ts). Thread (c, s) sums rows s, s+SLICES, s+2·SLICES, … of its column
// (consecutive threads read consecutive elements of a row) into 4 running sums, one per row of
// each group of 4 slice rows, added as (a0 + a1) + (a2 + a3), then the rows left over in order.
// SLICES > 1: the partial sums of a column are added in slice order through workgroup memory
// (1 KiB, one barrier). SLICES = 1: no workgroup memory and no barrier — on a software adapter a
// barrier switches through every invocation of the workgroup, and the 4 independent sums let the
// CPU overlap the loads. Each variant's order is fixed: the same input always gives the same bits.
// Grid: ⌈cols / 32⌉.

struct ColumnSumParams {
  rows: u32,
  cols: u32,
  ld: u32,
  offsetX: u32,
  offsetY: u32,
}

const COLS = 32u;
override SLICES: u32 = 8u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: ColumnSumParams;

var<workgroup> partial: array<f32, 256>;

// Σ of rows first, first + SLICES, … of column c (c < cols).
fn slice_sum(c: u32, first: u32) -> f32 {
  let stride = SLICES * params.ld;
  var i = params.offsetX + first * params.ld + c;
  var r = first;
  var a = vec4<f32>(0.0);
  while (r + 3u * SLICES < params.rows) {
    a += vec4<f32>(x[i], x[i + stride], x[i + 2u * stride], x[i + 3u * stride]);
    i += 4u * stride;
    r += 4u * SLICES;
  }
  var s = (a.x + a.y) + (a.z + a.w);
  while (r < params.rows) {
    s += x[i];
    i += stride;
    r += SLICES;
  }
  return s;
}

@compute @workgroup_size(32, SLICES)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let c = wid.x * COLS + lid.x;
  var s = 0.0;
  if (c < params.cols) { s = slice_sum(c, lid.y); }
  if (SLICES == 1u) {
    if (c < params.cols) { y[params.offsetY + c] = s; }
  } else {
    partial[lid.y * COLS + lid.x] = s;
    workgroupBarrier();
    if (lid.y == 0u && c < params.cols) {
      var total = 0.0;
      for (var k = 0u; k < SLICES; k++) { total += partial[k * COLS + lid.x]; }
      y[params.offsetY + c] = total;
    }
  }
}
