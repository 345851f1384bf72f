// column_sum.wgsl — the sum of every column of a row-major matrix (bias gradients: Σ over the
// T·B rows of dgates or dlogits), deterministic, without atomics:
//
//   y[c] = Σ_{k < 8} s_k,   s_k = Σ_{r ≡ k (mod 8), r < rows} x[offsetX + r·ld + c]
//
// in one fixed order on every adapter and in both variants: each slice sum s_k adds its rows in
// increasing r starting from 0.0, then y[c] = ((((0 + s_0) + s_1) + …) + s_7). So a column sum
// gives the same bits whichever variant runs it.
//
// Bindings (group 0):
//   0 x      read        the matrix, ld elements between rows
//   1 y      read_write  [cols] at offsetY
//   2 params uniform     { rows, cols, ld, offsetX, offsetY }
// Workgroup: 32 columns × SLICES threads (consecutive threads read consecutive elements of a row).
//   SLICES = 8 (GPU default): thread (c, k) computes s_k; the 8 slice sums meet in workgroup
//   memory (1 KiB, one barrier). SLICES = 1 (software default, src/kernels/columnSum.ts): one
//   thread per column keeps all 8 slice sums in registers (8 independent adds per group of 8 rows),
//   with no workgroup memory and no barrier — on a software adapter a barrier switches through
//   every invocation of the workgroup. Grid: ⌈cols / 32⌉.

struct ColumnSumParams {
  rows: u32,
  cols: u32,
  ld: u32,
  offsetX: u32,
  offsetY: u32,
}

const COLS = 32u;
// Slices of the summation order (fixed).
const SPLIT = 8u;
// Threads per column: 8 (one per slice) or 1 (one thread runs the 8 slices).
override SLICES: u32 = 8u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: ColumnSumParams;

var<workgroup> partial: array<f32, 256>;

// SLICES = 1: y[c] by one thread, in the order of the 8-thread variant.
fn serial_sum(c: u32) -> f32 {
  let ld = params.ld;
  var lo = vec4<f32>(0.0);  // s_0 … s_3
  var hi = vec4<f32>(0.0);  // s_4 … s_7
  var i = params.offsetX + c;
  var r = 0u;
  while (r + SPLIT <= params.rows) {
    lo += vec4<f32>(x[i], x[i + ld], x[i + 2u * ld], x[i + 3u * ld]);
    hi += vec4<f32>(x[i + 4u * ld], x[i + 5u * ld], x[i + 6u * ld], x[i + 7u * ld]);
    i += SPLIT * ld;
    r += SPLIT;
  }
  let t = params.rows - r;  // 0…7 rows left: slices 0 … t−1 get one more each
  if (t > 0u) { lo.x += x[i]; }
  if (t > 1u) { lo.y += x[i + ld]; }
  if (t > 2u) { lo.z += x[i + 2u * ld]; }
  if (t > 3u) { lo.w += x[i + 3u * ld]; }
  if (t > 4u) { hi.x += x[i + 4u * ld]; }
  if (t > 5u) { hi.y += x[i + 5u * ld]; }
  if (t > 6u) { hi.z += x[i + 6u * ld]; }
  var total = 0.0;
  total += lo.x;
  total += lo.y;
  total += lo.z;
  total += lo.w;
  total += hi.x;
  total += hi.y;
  total += hi.z;
  total += hi.w;
  return total;
}

@compute @workgroup_size(32, SLICES)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let c = wid.x * COLS + lid.x;
  if (SLICES == 1u) {
    if (c < params.cols) { y[params.offsetY + c] = serial_sum(c); }
    return;
  }
  var s = 0.0;
  if (c < params.cols) {
    for (var r = lid.y; r < params.rows; r += SPLIT) {
      s += x[params.offsetX + r * params.ld + c];
    }
  }
  partial[lid.y * COLS + lid.x] = s;
  workgroupBarrier();
  if (lid.y == 0u && c < params.cols) {
    var total = 0.0;
    for (var k = 0u; k < SPLIT; k++) { total += partial[k * COLS + lid.x]; }
    y[params.offsetY + c] = total;
  }
}
