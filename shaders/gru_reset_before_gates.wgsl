// gru_reset_before_gates.wgsl — first half of a GRU timestep whose reset gate multiplies h_{t−1}
// BEFORE the recurrent matmul (Keras' reset_after=False, the only GRU TensorFlow.js runs):
//
//   [u_r u_z] = h_{t−1}·[W_hr W_hz]ᵀ + [b_hr b_hz]
//   r = σ(a_r + u_r),  z = σ(a_z + u_z)          (a = xproj_t = x_t·W_ihᵀ + b_ih; σ: GATE_ACT)
//   rh = r ⊙ h_{t−1}                              → `rh`, the input of the second half's matmul
//   z                                             → `hnext`, read and overwritten with h_t by the second half
//
// The second half is gru_reset_before_step.wgsl (n = tanh(a_n + rh·W_hnᵀ + b_hn) and h_t). Two
// dispatches per step because n needs r of every unit. Inference only (no SAVE).
//
// Bindings (group 0):
//   0 xproj  read        [rows, 3H]  input projection of every timestep (PyTorch column order r,z,n)
//   1 Wp     read        [H, H] vec4 W_hh repacked: Wp[k, j] = (W_r[j,k], W_z[j,k], W_n[j,k], 0)
//                        (or its f16 / int8 copy: recurrent_weights*.wgsl)
//   2 bhh    read        [3H]        b_hh (zeros when bias=False)
//   3 hprev  read        [L·D, B, H] h_{t−1}, vec4-typed
//   4 hnext  read_write  [L·D, B, H] z of this step (overwritten with h_t by the second half)
//   5 rh     read_write  [L·D, B, H] r ⊙ h_{t−1}
//   6 params uniform     StepParams (one slot per timestep)
//   7 lengths read       LENGTHS only: i32 [B] per-row sequence lengths (otherwise any buffer, unread)
// LENGTHS: at t ≥ lengths[b] row b is padding: rh = 0 (the second half keeps h there).
// Workgroup: WG threads along hidden units × BT batch rows per thread. Grid: (⌈H / WG⌉, ⌈B / BT⌉).

// #include "activations.wgsl"
// #include "step_params.wgsl"

@group(0) @binding(0) var<storage, read> xproj: array<f32>;
@group(0) @binding(2) var<storage, read> bhh: array<f32>;
@group(0) @binding(3) var<storage, read> hprev: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> hnext: array<f32>;
@group(0) @binding(5) var<storage, read_write> rh: array<f32>;
@group(0) @binding(6) var<uniform> params: StepParams;
@group(0) @binding(7) var<storage, read> lengths: array<i32>;

override LENGTHS: bool = false;   // off: no length check is compiled in
override GATE_ACT: u32 = 1u;      // the gates' activation: 1 σ, 6 hard sigmoid (activations.wgsl)

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
    if (LENGTHS && params.t >= u32(lengths[b])) {
      rh[s] = 0.0;
      continue;
    }
    let x = params.xOffset + b * params.xStrideB + j;
    let rg = gate_act(xproj[x] + acc[r].x + bhh[j], GATE_ACT);
    hnext[s] = gate_act(xproj[x + H] + acc[r].y + bhh[H + j], GATE_ACT);
    rh[s] = rg * hPrevAt(b, j);
  }
}
