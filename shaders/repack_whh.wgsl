// repack_whh.wgsl — W_hh from PyTorch's layout [G·H, K] to the step kernels' layouts, on the GPU,
// after every optimizer update of W_hh: the forward's Wp (recurrent_matvec.wgsl) and the
// backward's Wb, its vec4 transpose (recurrent_matvec_backward.wgsl). K (`inner`) is H, or an
// LSTM's projection size P; an LSTM's W_hr [P, H] is repacked as KIND 0 with hidden = P, K = H
// (recurrent_matvec_project.wgsl, lstm_step_backward.wgsl):
//
//   LSTM, GRU (KIND 1):  Wp[k, j] = (W[0·H + j, k], W[1·H + j, k], W[2·H + j, k], W[3·H + j, k])  (GRU: 4th = 0)
//   RNN       (KIND 0):  Wp[k, q] = (W[4q, k], W[4q + 1, k], W[4q + 2, k], W[4q + 3, k])          (rows ≥ hidden: 0)
//   both:                Wb[col, k] = Wp[k, col]
//
// Bindings (group 0):
//   0 Whh    read        [G·H, K]
//   1 Wp     read_write  [K, cols] vec4
//   2 Wb     read_write  [cols, K] vec4
//   3 params uniform     { hidden, cols, gates, inner = K }
// Workgroup: 64 threads along columns; grid (⌈cols / 64⌉, K): one thread per vec4.

struct RepackParams {
  hidden: u32,
  cols: u32,
  gates: u32,
  inner: u32,
}

override KIND: u32 = 1u;

@group(0) @binding(0) var<storage, read> Whh: array<f32>;
@group(0) @binding(1) var<storage, read_write> Wp: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> Wb: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> params: RepackParams;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let H = params.hidden;
  let K = params.inner;
  let col = gid.x;
  let k = gid.y;
  if (col >= params.cols || k >= K) { return; }
  var v = vec4<f32>(0.0);
  for (var q = 0u; q < 4u; q++) {
    // KIND 1: gate q of unit col; KIND 0: unit 4·col + q.
    var row = 4u * col + q;
    var valid = row < H;
    if (KIND == 1u) {
      row = q * H + col;
      valid = q < params.gates;
    }
    if (valid) { v[q] = Whh[row * K + k]; }
  }
  Wp[k * params.cols + col] = v;
  Wb[col * K + k] = v;
}
