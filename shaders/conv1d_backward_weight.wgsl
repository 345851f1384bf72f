// conv1d_backward_weight.wgsl — the weight and bias gradients of conv1d.wgsl (groups = 1, zero
// padding), one workgroup per gradient element, deterministic (no atomics):
//
//   BIAS = false:  dW[o, c, k] (+)= Σ_{n < N} Σ_{t < Lout} dy[n, o, t] · x[n, c, t·stride − padding + k·dilation]
//   BIAS = true:   dB[o]       (+)= Σ_{n < N} Σ_{t < Lout} dy[n, o, t]
//
// (x outside [0, L) is 0.) ACCUMULATE adds the sum to the value already in `grad`; otherwise the
// sum is written.
//
// Bindings (group 0):
//   0 dy     storage, read        [N, Cout, Lout]  row-major from offsetDy
//   1 x      storage, read        [N, Cin, L]      row-major from offsetX (a dummy when BIAS)
//   2 grad   storage, read_write  dW [Cout, Cin, K] or dB [Cout], from offsetG
//   3 params uniform              Params
// Workgroup: WG threads (a power of two) for one element e (dW: e = (o·Cin + c)·K + k; dB: e = o).
//   Only the t whose tap lands inside x contribute: t ∈ [tLo, tHi) (all of [0, Lout) for dB).
//   Thread l sums the pairs r = l, l + WG, l + 2·WG, … of the flat range r = n·(tHi − tLo) + (t − tLo);
//   the WG partial sums are then added by a fixed tree in workgroup memory (WG floats) and thread 0
//   writes the element. Same sizes, same WG → same bits.
// Grid: (gridX, ⌈count / gridX⌉): e = workgroup_id.x + workgroup_id.y · gridX, count = Cout·Cin·K or Cout.

struct Params {
  batch: u32, inChannels: u32, outChannels: u32, length: u32,
  kernelSize: u32, stride: u32, padding: u32, dilation: u32,
  outLength: u32,
  offsetDy: u32, offsetX: u32, offsetG: u32,
  count: u32, gridX: u32,
}

override WG: u32 = 64u;
override BIAS: bool = false;
override ACCUMULATE: bool = false;

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> grad: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

var<workgroup> scratch: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let e = wid.x + wid.y * params.gridX;
  if (e >= params.count) { return; }           // the same for the whole workgroup
  let cout = params.outChannels;
  let cin = params.inChannels;
  let kk = params.kernelSize;
  let lout = params.outLength;
  let len = params.length;
  let pad = params.padding;
  let stride = params.stride;

  var o = e;
  var xRow = 0u;                               // x[n, c, ·] is x[xRow + n·Cin·L + ·]
  var kd = 0u;
  var tLo = 0u;
  var tHi = lout;
  if (!BIAS) {
    let k = e % kk;
    let c = (e / kk) % cin;
    o = e / (kk * cin);
    xRow = params.offsetX + c * len;
    kd = k * params.dilation;
    // Outputs whose tap k lands inside x: 0 ≤ t·stride + kd − pad < L.
    tLo = 0u;
    if (kd < pad) { tLo = (pad - kd + stride - 1u) / stride; }
    tHi = 0u;
    if (kd < len + pad) { tHi = min(lout, (len + pad - kd + stride - 1u) / stride); }
  }
  var span = 0u;
  if (tHi > tLo) { span = tHi - tLo; }

  var s = 0.0;
  let dyRow = params.offsetDy + o * lout;
  for (var r = lid; r < params.batch * span; r += WG) {
    let n = r / span;
    let t = tLo + r % span;
    let g = dy[dyRow + n * cout * lout + t];
    if (BIAS) {
      s += g;
    } else {
      s += g * x[xRow + n * cin * len + t * stride + kd - pad];
    }
  }

  scratch[lid] = s;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (lid < h) { scratch[lid] = scratch[lid] + scratch[lid + h]; }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let dst = params.offsetG + e;
    if (ACCUMULATE) { grad[dst] = grad[dst] + scratch[0]; } else { grad[dst] = scratch[0]; }
  }
}
