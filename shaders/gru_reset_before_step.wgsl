// gru_reset_before_step.wgsl — second half of a GRU timestep with the reset applied before the
// recurrent matmul (Keras' reset_after=False; the first half is gru_reset_before_gates.wgsl):
//
//   u_n = (r ⊙ h_{t−1})·W_hnᵀ + b_hn               (the n column of the shared matvec, over `rh`)
//   n   = tanh(a_n + u_n)                           (a_n = the n block of xproj_t)
//   h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}                 (z from the first half, in `hnext`)
//
// Bindings (group 0):
//   0 xproj  read        [rows, 3H]  input projection of every timestep (PyTorch column order r,z,n)
//   1 Wp     read        [H, H] vec4 W_hh repacked as for gru_step.wgsl (or its f16 / int8 copy)
//   2 bhh    read        [3H]        b_hh (zeros when bias=False)
//   3 hprev  read        [L·D, B, H] r ⊙ h_{t−1} (the first half's `rh`), vec4-typed: the matvec input
//   4 hnext  read_write  [L·D, B, H] z in, h_t out (each entry read and written by one invocation)
//   5 hseq   read_write  [rows, D·H] this layer's output sequence: h_t at (t, b, d·H + j)
//   6 hold   read        [L·D, B, H] h_{t−1}
//   7 params uniform     StepParams (one slot per timestep)
//   8 lengths read       LENGTHS only: i32 [B] per-row sequence lengths (otherwise any buffer, unread)
// LENGTHS: at t ≥ lengths[b] row b is padding: h_t = h_{t−1}, the output is 0.
// Workgroup: WG threads along hidden units × BT batch rows per thread. Grid: (⌈H / WG⌉, ⌈B / BT⌉).

// #include "activations.wgsl"
// #include "step_params.wgsl"

@group(0) @binding(0) var<storage, read> xproj: array<f32>;
@group(0) @binding(2) var<storage, read> bhh: array<f32>;
@group(0) @binding(3) var<storage, read> hprev: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> hnext: array<f32>;
@group(0) @binding(5) var<storage, read_write> hseq: array<f32>;
@group(0) @binding(6) var<storage, read> hold: array<f32>;
@group(0) @binding(7) var<uniform> params: StepParams;
@group(0) @binding(8) var<storage, read> lengths: array<i32>;

override LENGTHS: bool = false;   // off: no length check is compiled in

// #include "recurrent_weights.wgsl"
// #include "recurrent_matvec.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let H = params.hidden;
  let j = wid.x * WG + lid.x;
  let b0 = wid.y * BT;
  if (j >= H) { return; }
  let acc = recurrentMatvec(j, b0);
  for (var r = 0u; r < BT; r++) {
    let b = b0 + r;
    if (b >= params.batch) { break; }
    let s = params.stateOffset + b * H + j;
    let hp = hold[s];
    let out = params.hOffset + b * params.hStrideB + j;
    if (LENGTHS && params.t >= u32(lengths[b])) {
      hseq[out] = 0.0;
      hnext[s] = hp;
      continue;
    }
    let x = params.xOffset + b * params.xStrideB + j;
    let n = tanh_safe(xproj[x + 2u * H] + acc[r].z + bhh[2u * H + j]);
    let z = hnext[s];
    let h = (1.0 - z) * n + z * hp;
    hseq[out] = h;
    hnext[s] = h;
  }
}
