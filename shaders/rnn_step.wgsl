// rnn_step.wgsl — one fused Elman RNN timestep: recurrent product, bias and activation in one
// dispatch.
//
//   h_t = act(xproj_t + h_{t−1}·W_hhᵀ + b_hh)     act = tanh (ACT 2) or relu (ACT 3);
//                                                 xproj_t = x_t·W_ihᵀ + b_ih, one GEMM for all t
//
// Bindings (group 0):
//   0 xproj  read        [rows, H]
//   1 Wp     read        [H, ⌈H/4⌉] vec4  W_hh repacked: Wp[k, q] = (W[4q,k], W[4q+1,k], W[4q+2,k], W[4q+3,k])
//                        (an inference plan may bind its f16 / int8 copy: recurrent_weights*.wgsl)
//   2 bhh    read        [H]
//   3 hprev  read        [L·D, B, H] h_{t−1} (h0 on the first step), vec4-typed
//   4 hnext  read_write  [L·D, B, H] h_t (the plan alternates two state buffers; the last is hN)
//   5 hseq   read_write  [rows, D·H]
//   6 params uniform     StepParams (one slot per timestep)
//   7 saved  read_write  training only (SAVE): [rows, H] h_t | [rows, H] h_{t−1}
//                        (inference binds a 16-byte dummy and never touches it)
//   8 lengths read       LENGTHS only: i32 [B] per-row sequence lengths (otherwise any buffer, unread)
// LENGTHS (PyTorch's packed sequences): at t ≥ lengths[b] row b is padding: h_t = h_{t−1}, the
// output is 0; SAVE stores h_t = 0 and h_{t−1} there (finite values for the backward's GEMMs).
// Workgroup: WG threads, each owning 4 consecutive hidden units, × BT batch rows per thread.
// Grid: (⌈⌈H/4⌉ / WG⌉, ⌈B / BT⌉).

// #include "activations.wgsl"
// #include "step_params.wgsl"

override ACT: u32 = 2u;

@group(0) @binding(0) var<storage, read> xproj: array<f32>;
@group(0) @binding(2) var<storage, read> bhh: array<f32>;
@group(0) @binding(3) var<storage, read> hprev: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> hnext: array<f32>;
@group(0) @binding(5) var<storage, read_write> hseq: array<f32>;
@group(0) @binding(6) var<uniform> params: StepParams;
@group(0) @binding(7) var<storage, read_write> saved: array<f32>;
@group(0) @binding(8) var<storage, read> lengths: array<i32>;

override SAVE: bool = false;
override LENGTHS: bool = false;   // off: no length check is compiled in

// #include "recurrent_weights.wgsl"
// #include "recurrent_matvec.wgsl"
// #include "step_rows.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let H = params.hidden;
  let q = wid.x * WG + lid.x;
  let b0 = wid.y * BT;
  if (q >= params.cols) { return; }
  let acc = recurrentMatvec(q, b0);
  for (var r = 0u; r < BT; r++) {
    let b = b0 + r;
    if (b >= params.batch) { break; }
    let pad = LENGTHS && params.t >= u32(lengths[b]);
    for (var u = 0u; u < 4u; u++) {
      let j = 4u * q + u;
      if (j >= H) { break; }
      if (pad) {
        let hp = hPrevAt(b, j);
        hseq[params.hOffset + b * params.hStrideB + j] = 0.0;
        hnext[params.stateOffset + b * H + j] = hp;
        if (SAVE) {
          let row = params.row0 + b * params.rowStrideB;
          saved[row * H + j] = 0.0;
          saved[params.hprevBase + row * H + j] = hp;
        }
        continue;
      }
      let h = activate(acc[r][u] + bhh[j] + xproj[params.xOffset + b * params.xStrideB + j], ACT);
      hseq[params.hOffset + b * params.hStrideB + j] = h;
      hnext[params.stateOffset + b * H + j] = h;
      if (SAVE) {
        let row = params.row0 + b * params.rowStrideB;
        saved[row * H + j] = h;
        saved[params.hprevBase + row * H + j] = hPrevAt(b, j);
      }
    }
  }
}
