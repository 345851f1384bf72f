// conv1d.wgsl — 1-D convolution, forward (PyTorch nn.Conv1d: groups = 1, zero padding), direct:
//
//   y[n, o, t] = bias[o] + Σ_{c < Cin} Σ_{k < K} w[o, c, k] · x[n, c, t·stride − padding + k·dilation]
//
//   x outside [0, L) reads as 0;  t < Lout = ⌊(L + 2·padding − dilation·(K − 1) − 1) / stride⌋ + 1
//
// Bindings (group 0):
//   0 x      storage, read        [N, Cin, L]      row-major from offsetX
//   1 w      storage, read        [Cout, Cin, K]   row-major from offsetW
//   2 bias   storage, read        [Cout]           from offsetB (read only when HAS_BIAS; else a dummy)
//   3 y      storage, read_write  [N, Cout, Lout]  row-major from offsetY
//   4 params uniform              Params
// Workgroup: WG threads, one output element each: flat index over [N, Cout, Lout] with t fastest,
//   so neighbouring threads read neighbouring x and the same w. Each thread sums c outer, k inner,
//   over the taps k ∈ [kLo, kHi) that land inside x (no per-tap bounds test).
// Grid: (gridX, ⌈⌈N·Cout·Lout / WG⌉ / gridX⌉): group = workgroup_id.x + workgroup_id.y · gridX.

struct Params {
  batch: u32, inChannels: u32, outChannels: u32, length: u32,
  kernelSize: u32, stride: u32, padding: u32, dilation: u32,
  outLength: u32,
  offsetX: u32, offsetW: u32, offsetB: u32, offsetY: u32,
  gridX: u32,
}

override WG: u32 = 128u;
override HAS_BIAS: bool = false;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let i = (wid.x + wid.y * params.gridX) * WG + lid;
  let lout = params.outLength;
  let cout = params.outChannels;
  if (i >= params.batch * cout * lout) { return; }
  let t = i % lout;
  let o = (i / lout) % cout;
  let n = i / (lout * cout);

  // Taps inside x: 0 ≤ s + k·dilation − padding < L  ⇔  kLo ≤ k < kHi.
  let s = t * params.stride;
  let pad = params.padding;
  let dil = params.dilation;
  let len = params.length;
  var kLo = 0u;
  if (s < pad) { kLo = (pad - s + dil - 1u) / dil; }
  var kHi = 0u;
  if (s < len + pad) { kHi = min(params.kernelSize, (len + pad - s + dil - 1u) / dil); }

  let cin = params.inChannels;
  let kk = params.kernelSize;
  var acc = 0.0;
  for (var c = 0u; c < cin; c++) {
    let xRow = params.offsetX + (n * cin + c) * len + s;   // + k·dil − pad ≥ 0 for k ≥ kLo
    let wRow = params.offsetW + (o * cin + c) * kk;
    for (var k = kLo; k < kHi; k++) {
      acc += w[wRow + k] * x[xRow + k * dil - pad];
    }
  }
  if (HAS_BIAS) { acc += bias[params.offsetB + o]; }
  y[params.offsetY + i] = acc;
}
