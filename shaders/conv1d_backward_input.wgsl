// conv1d_backward_input.wgsl — the input gradient of conv1d.wgsl (groups = 1, zero padding),
// gathered (one thread per dx element, no atomics, deterministic):
//
//   dx[n, c, j] = Σ_{k < K} Σ_{o < Cout} dy[n, o, t] · w[o, c, k]
//                 over the taps with t·stride = j + padding − k·dilation, 0 ≤ t < Lout
//
// A position no output reads (stride > 1 gaps, the tail past the last window) gets 0: dx is
// always written, never accumulated.
//
// Bindings (group 0):
//   0 dy     storage, read        [N, Cout, Lout]  row-major from offsetDy
//   1 w      storage, read        [Cout, Cin, K]   row-major from offsetW
//   2 dx     storage, read_write  [N, Cin, L]      row-major from offsetDx
//   3 params uniform              Params
// Workgroup: WG threads, one dx element each: flat index over [N, Cin, L] with j fastest. The sum
//   runs k outer (skipping taps that miss the stride lattice or fall outside [0, Lout)), o inner.
// Grid: (gridX, ⌈⌈N·Cin·L / WG⌉ / gridX⌉): group = workgroup_id.x + workgroup_id.y · gridX.

struct Params {
  batch: u32, inChannels: u32, outChannels: u32, length: u32,
  kernelSize: u32, stride: u32, padding: u32, dilation: u32,
  outLength: u32,
  offsetDy: u32, offsetW: u32, offsetDx: u32,
  gridX: u32,
}

override WG: u32 = 128u;

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let i = (wid.x + wid.y * params.gridX) * WG + lid;
  let len = params.length;
  let cin = params.inChannels;
  if (i >= params.batch * cin * len) { return; }
  let j = i % len;
  let c = (i / len) % cin;
  let n = i / (len * cin);

  let cout = params.outChannels;
  let lout = params.outLength;
  let kk = params.kernelSize;
  let jp = j + params.padding;
  var acc = 0.0;
  for (var k = 0u; k < kk; k++) {
    let kd = k * params.dilation;
    if (kd > jp) { break; }                    // kd grows with k: no later tap reaches back to j
    let q = jp - kd;                           // = t·stride for the output t that reads j via tap k
    if (q % params.stride != 0u) { continue; }
    let t = q / params.stride;
    if (t >= lout) { continue; }
    let dyCol = params.offsetDy + n * cout * lout + t;
    let wCol = params.offsetW + c * kk + k;
    for (var o = 0u; o < cout; o++) {
      acc += dy[dyCol + o * lout] * w[wCol + o * cin * kk];
    }
  }
  dx[params.offsetDx + i] = acc;
}
