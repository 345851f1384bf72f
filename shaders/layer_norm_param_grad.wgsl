// layer_norm_param_grad.wgsl — the weight and bias gradients of PyTorch nn.LayerNorm over the
// last dimension, deterministic (fixed summation order, no atomics):
//
//   dWeight[c] (+)= Σ_r dy[r, c] · (x[r, c] − mean_r) · rstd_r        (HAS_DW)
//   dBias[c]   (+)= Σ_r dy[r, c]                                      (HAS_DB)
//   (+)= : added to the values already there when ACCUMULATE, else written
//
// Two passes of one bind group (the PASS override):
//   PASS 0  grid (⌈cols/32⌉, nChunks). Workgroup (32 columns × 8 row slices) sums rows
//           [chunk·chunkRows, (chunk+1)·chunkRows) of its 32 columns: thread (c, s) takes rows
//           s, s+8, … (consecutive threads read consecutive elements of a row), the 8 slices are
//           added in a fixed order through workgroup memory (2 KiB). DIRECT (nChunks = 1): the
//           result goes to dWeight/dBias; otherwise to partial[chunk·cols + c] (dWeight) and
//           partial[(nChunks + chunk)·cols + c] (dBias).
//   PASS 1  (only when !DIRECT) grid (gridX, ⌈⌈cols/256⌉ / gridX⌉), one thread per column: adds
//           the nChunks partials in chunk order into dWeight/dBias.
//
// Bindings (group 0):
//   0 x       storage, read        array<f32>  rows × cols, row-major from offsetX
//   1 dy      storage, read        array<f32>  rows × cols from offsetDy
//   2 mean    storage, read        array<f32>  [rows] from offsetMean
//   3 rstd    storage, read        array<f32>  [rows] from offsetRstd
//   4 partial storage, read_write  array<f32>  2 · nChunks · cols scratch (a stand-in when DIRECT)
//   5 out0    storage, read_write  array<f32>  dWeight and/or dBias
//   6 out1    storage, read_write  array<f32>  dBias when its buffer is not out0's
//   7 params  uniform              Params
// An output buffer is bound once: DW_SLOT and DB_SLOT (0|1) name the out binding that holds
// dWeight and dBias (WebGPU forbids two bindings of one buffer when one is written).

struct Params {
  rows: u32, cols: u32,
  offsetX: u32, offsetDy: u32, offsetMean: u32, offsetRstd: u32,
  offsetDW: u32, offsetDB: u32,
  chunkRows: u32, nChunks: u32,
  gridX: u32,
}

override PASS: u32 = 0u;
override DIRECT: bool = true;
override HAS_DW: bool = true;
override HAS_DB: bool = true;
override ACCUMULATE: bool = false;
override DW_SLOT: u32 = 0u;
override DB_SLOT: u32 = 1u;

const COLS = 32u;
const SLICES = 8u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> rstd: array<f32>;
@group(0) @binding(4) var<storage, read_write> partial: array<f32>;
@group(0) @binding(5) var<storage, read_write> out0: array<f32>;
@group(0) @binding(6) var<storage, read_write> out1: array<f32>;
@group(0) @binding(7) var<uniform> params: Params;

var<workgroup> sliceW: array<f32, 256>;
var<workgroup> sliceB: array<f32, 256>;

// out[slot][i] = v, or += v when ACCUMULATE.
fn finish(slot: u32, i: u32, v: f32) {
  if (slot == 0u) {
    if (ACCUMULATE) { out0[i] = out0[i] + v; } else { out0[i] = v; }
  } else {
    if (ACCUMULATE) { out1[i] = out1[i] + v; } else { out1[i] = v; }
  }
}

fn emit(c: u32, gw: f32, gb: f32) {
  if (HAS_DW) { finish(DW_SLOT, params.offsetDW + c, gw); }
  if (HAS_DB) { finish(DB_SLOT, params.offsetDB + c, gb); }
}

@compute @workgroup_size(32, 8)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let cols = params.cols;
  if (PASS == 1u) {
    let c = (wid.x + wid.y * params.gridX) * 256u + lid.y * COLS + lid.x;
    if (c < cols) {
      var gw = 0.0;
      var gb = 0.0;
      for (var k = 0u; k < params.nChunks; k++) {
        gw += partial[k * cols + c];
        gb += partial[(params.nChunks + k) * cols + c];
      }
      emit(c, gw, gb);
    }
    return;
  }

  let c = wid.x * COLS + lid.x;
  let chunk = wid.y;
  let r0 = chunk * params.chunkRows;
  let r1 = min(r0 + params.chunkRows, params.rows);
  var gw = 0.0;
  var gb = 0.0;
  if (c < cols) {
    for (var r = r0 + lid.y; r < r1; r += SLICES) {
      let g = dy[params.offsetDy + r * cols + c];
      let xh = (x[params.offsetX + r * cols + c] - mean[params.offsetMean + r]) * rstd[params.offsetRstd + r];
      gw += g * xh;
      gb += g;
    }
  }
  sliceW[lid.y * COLS + lid.x] = gw;
  sliceB[lid.y * COLS + lid.x] = gb;
  workgroupBarrier();
  if (lid.y == 0u && c < cols) {
    var tw = 0.0;
    var tb = 0.0;
    for (var k = 0u; k < SLICES; k++) {
      tw += sliceW[k * COLS + lid.x];
      tb += sliceB[k * COLS + lid.x];
    }
    if (DIRECT) {
      emit(c, tw, tb);
    } else {
      partial[chunk * cols + c] = tw;
      partial[(params.nChunks + chunk) * cols + c] = tb;
    }
  }
}
