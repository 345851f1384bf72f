// recurrent_matvec_project_backward.wgsl — BPTT of an LSTM with proj_size P: the gradient of
// h_t (P features), one dispatch per timestep before the cell's backward step
// (lstm_step_backward.wgsl with PROJ, which turns it into dm = W_hrᵀ·dh and the gate gradients):
//
//   dh_t[b, p] = dout_t[b, p] + Σ_{gate g, unit u} dgates_{t'}[b, g·H + u] · W_hh[g·H + u, p]
//
// (dhN in place of the sum on the first step processed; t' = t+1 forward, t−1 reverse). dh_t is
// kept for every row: after the steps, dW_hr = dhᵀ·m is one GEMM over all rows.
//
// Bindings (group 0):
//   0 dgates read_write (vec4-typed, only read here) [rows, 4H]  reads row t'
//   1 Wb     read       [H, P] vec4  W_hh repacked for the backward (Wb[u, p] at u·P + p)
//   2 dout   read       [rows, D·P]  gradient of this layer's output sequence
//   3 dhN    read       [L·D, B, P]  gradient of the final hidden state
//   4 dh     read_write [rows, P]    dh_t at row (t, b)
//   5 params uniform    BackwardParams, the cell backward's slot
//   6 lengths read      LENGTHS only: i32 [B] per-row sequence lengths (a dummy otherwise)
// LENGTHS: at t ≥ lengths[b] dh_t = 0 (the cell's backward writes dgates 0 there, so the sum
// is 0 at the step before); forward direction: the last real step t = lengths[b]−1 takes dhN.
// Workgroup: WG threads along p × BT batch rows per thread. Grid: (⌈P / WG⌉, ⌈B / BT⌉).

// #include "backward_params.wgsl"

const DG_WIDTH: u32 = 4u;
const GATES: u32 = 4u;
const GATE_BLOCKS = vec4<u32>(0u, 1u, 2u, 3u);
const RNN_PACK = false;

@group(0) @binding(0) var<storage, read_write> dgates: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> Wb: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> dout: array<f32>;
@group(0) @binding(3) var<storage, read> dhN: array<f32>;
@group(0) @binding(4) var<storage, read_write> dh: array<f32>;
@group(0) @binding(5) var<uniform> params: BackwardParams;
@group(0) @binding(6) var<storage, read> lengths: array<i32>;

override LENGTHS: bool = false;   // off: no length check is compiled in

// #include "recurrent_matvec_backward.wgsl"
// #include "backward_gates.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let j = wid.x * WG + lid.x;
  let b0 = wid.y * BT;
  if (j >= PROJ) { return; }
  let acc = dhFromNext(j, b0);
  let hBase = (params.stateOffset / params.hidden) * PROJ;
  for (var r = 0u; r < BT; r++) {
    let b = b0 + r;
    if (b >= params.batch) { break; }
    let at = (params.row0 + b * params.rowStrideB) * PROJ + j;
    var v = acc[r];
    if (LENGTHS) {
      let len = u32(lengths[b]);
      if (params.t >= len) {
        dh[at] = 0.0;
        continue;
      }
      if (params.reverse == 0u && params.first == 0u && params.t + 1u == len) { v = dhN[hBase + b * PROJ + j]; }
    }
    dh[at] = v + dout[params.doutOffset + b * params.doutStrideB + j];
  }
}
