// cross_entropy.wgsl — fused, numerically stable softmax + cross-entropy (PyTorch
// F.cross_entropy with integer targets, ignore_index, reduction='mean'), loss and gradient.
//
//   row n counts  ⇔  t_n ≠ ignoreIndex  ∧  0 ≤ t_n < C  ∧  (no mask ∨ rowMask[n] ≠ 0)
//   M             = number of counted rows                       (PASS 0, on the GPU)
//   scale         = 1/M  (0 when M = 0)
//   lse_n         = m_n + log Σ_c exp(x[n,c] − m_n),   m_n = max_c x[n,c]
//   rowLoss[n]    = scale · (lse_n − x[n, t_n])  for counted rows, else 0     (PASS 1)
//   dLogits[n,c]  = scale · (softmax(x_n)_c − [c = t_n]) for counted rows, else 0
// so Σ_n rowLoss[n] (reduce_sum.wgsl) is the mean loss. A target outside [0, C) that is not
// ignoreIndex is never read through: its row is skipped like an ignored row.
//
// Bindings (group 0):
//   0 logits  storage, read        array<f32>  rows × cols from offsetLogits
//   1 targets storage, read        array<i32>  rows from offsetTargets
//   2 rowMask storage, read        array<f32>  rows from offsetMask (HAS_MASK only)
//   3 rowLoss storage, read_write  array<f32>  rows from offsetLoss            (PASS 1 writes)
//   4 dLogits storage, read_write  array<f32>  rows × cols from offsetGrad     (PASS 1, WRITE_GRAD)
//   5 count   storage, read_write  array<f32>  1 element at offsetCount: M    (PASS 0 writes, PASS 1 reads)
//   6 params  uniform              Params
// Workgroup: WG threads. PASS 0: one workgroup counts all rows (strided loop + tree sum).
//   PASS 1: TPR threads per row (a power of two ≤ WG), WG/TPR rows per workgroup; a row longer
//   than TPR is walked in strides of TPR; max and sum are segmented tree reductions in workgroup
//   memory (WG floats). Grid: (gridX, ⌈⌈rows·TPR/WG⌉ / gridX⌉): workgroup index x + y·gridX.

struct Params {
  rows: u32, cols: u32,
  offsetLogits: u32, offsetTargets: u32, offsetMask: u32,
  offsetLoss: u32, offsetGrad: u32, offsetCount: u32,
  gridX: u32,
  ignoreIndex: i32,
}

override PASS: u32 = 1u;
override WG: u32 = 256u;
override TPR: u32 = 256u;
override HAS_MASK: bool = false;
override WRITE_GRAD: bool = true;

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> targets: array<i32>;
@group(0) @binding(2) var<storage, read> rowMask: array<f32>;
@group(0) @binding(3) var<storage, read_write> rowLoss: array<f32>;
@group(0) @binding(4) var<storage, read_write> dLogits: array<f32>;
@group(0) @binding(5) var<storage, read_write> count: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;

var<workgroup> scratch: array<f32, WG>;

fn counted(row: u32) -> bool {
  let t = targets[params.offsetTargets + row];
  var ok = t != params.ignoreIndex && t >= 0 && u32(t) < params.cols;
  if (HAS_MASK) { ok = ok && rowMask[params.offsetMask + row] != 0.0; }
  return ok;
}

// Tree reduction within aligned segments of TPR lanes: max when isMax, else sum.
// Call in uniform control flow; every lane of a segment gets the result.
fn segReduce(v: f32, isMax: bool, lid: u32) -> f32 {
  scratch[lid] = v;
  workgroupBarrier();
  let lane = lid % TPR;
  for (var s = TPR / 2u; s > 0u; s >>= 1u) {
    if (lane < s) {
      let o = scratch[lid + s];
      scratch[lid] = select(scratch[lid] + o, max(scratch[lid], o), isMax);
    }
    workgroupBarrier();
  }
  let r = scratch[lid - lane];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let rows = params.rows;
  let cols = params.cols;
  if (PASS == 0u) {
    var c = 0.0;  // exact: f32 counts integers up to 2^24 rows
    for (var r = lid; r < rows; r += WG) { c += select(0.0, 1.0, counted(r)); }
    scratch[lid] = c;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
      if (lid < s) { scratch[lid] += scratch[lid + s]; }
      workgroupBarrier();
    }
    if (lid == 0u) { count[params.offsetCount] = scratch[0]; }
    return;
  }

  let wg = wid.x + wid.y * params.gridX;
  let row = wg * (WG / TPR) + lid / TPR;
  let lane = lid % TPR;
  let valid = row < rows;
  var live = false;
  var t = 0u;
  if (valid) {
    live = counted(row);
    t = u32(max(targets[params.offsetTargets + row], 0));
  }
  let xs = params.offsetLogits + row * cols;

  var m = -0x1.fffffep+127f;  // lowest finite f32
  if (live) { for (var j = lane; j < cols; j += TPR) { m = max(m, logits[xs + j]); } }
  m = segReduce(m, true, lid);
  var s = 0.0;
  if (live) { for (var j = lane; j < cols; j += TPR) { s += exp(logits[xs + j] - m); } }
  s = segReduce(s, false, lid);

  if (!valid) { return; }
  let M = count[params.offsetCount];
  let scale = select(0.0, 1.0 / M, M > 0.0);
  if (lane == 0u) {
    var l = 0.0;
    if (live) { l = scale * ((m - logits[xs + t]) + log(s)); }
    rowLoss[params.offsetLoss + row] = l;
  }
  if (WRITE_GRAD) {
    let gs = params.offsetGrad + row * cols;
    let inv = 1.0 / s;
    for (var j = lane; j < cols; j += TPR) {
      var d = 0.0;
      if (live) { d = scale * (exp(logits[xs + j] - m) * inv - select(0.0, 1.0, j == t)); }
      dLogits[gs + j] = d;
    }
  }
}
