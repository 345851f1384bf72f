// gru_reset_before.wgsl — a GRU timestep whose reset gate multiplies h_{t−1} BEFORE the recurrent
// matmul (Keras' reset_after=False, the only GRU TensorFlow.js runs), in two dispatches (n needs
// r of every unit); override PHASE picks the half:
//
//   PHASE 0   [u_r u_z] = h_{t−1}·[W_hr W_hz]ᵀ + [b_hr b_hz]
//             r = σ(a_r + u_r),  z = σ(a_z + u_z)      (a = xproj_t = x_t·W_ihᵀ + b_ih; σ: GATE_ACT)
//             out ← r ⊙ h_{t−1} (the `rh` buffer),  hnext ← z
//   PHASE 1   u_n = (r ⊙ h_{t−1})·W_hnᵀ + b_hn         (the n column of the matvec over `hprev` = rh)
//             n = tanh(a_n + u_n),  h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}
//             out ← h_t (the layer's output sequence), hnext ← h_t (z read there first, same invocation)
// Inference only (no SAVE).
//
// Bindings (group 0):
//   0 xproj  read        [rows, 3H]  input projection of every timestep (PyTorch column order r,z,n)
//   1 Wp     read        [H, H] vec4 W_hh repacked: Wp[k, j] = (W_r[j,k], W_z[j,k], W_n[j,k], 0)
//                        (or its f16 / int8 copy: recurrent_weights*.wgsl)
//   2 bhh    read        [3H]        b_hh (zeros when bias=False)
//   3 hprev  read        the matvec's input, vec4-typed: PHASE 0 h_{t−1} [L·D, B, H], PHASE 1 rh (same layout)
//   4 hnext  read_write  [L·D, B, H] PHASE 0 writes z; PHASE 1 reads it and writes h_t
//   5 out    read_write  PHASE 0 rh [L·D, B, H]; PHASE 1 the output sequence [rows, D·H], h_t at (t, b, d·H + j)
//   6 hold   read        [L·D, B, H] h_{t−1}
//   7 params uniform     StepParams (one slot per timestep)
//   8 lengths read       LENGTHS only: i32 [B] per-row sequence lengths (otherwise any buffer, unread)
// LENGTHS: at t ≥ lengths[b] row b is padding: rh = 0, then h_t = h_{t−1} and the output is 0.
// Workgroup: WG threads along hidden units × BT batch rows per thread. Grid: (⌈H / WG⌉, ⌈B / BT⌉).

// #include "activations.wgsl"
// #include "step_params.wgsl"

@group(0) @binding(0) var<storage, read> xproj: array<f32>;
@group(0) @binding(2) var<storage, read> bhh: array<f32>;
@group(0) @binding(3) var<storage, read> hprev: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> hnext: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read> hold: array<f32>;
@group(0) @binding(7) var<uniform> params: StepParams;
@group(0) @binding(8) var<storage, read> lengths: array<i32>;

override PHASE: u32 = 0u;         // 0: the gates r, z; 1: n and h_t
override LENGTHS: bool = false;   // off: no length check is compiled in
override GATE_ACT: u32 = 1u;      // the gates' activation: 1 σ, 6 hard sigmoid (activations.wgsl)

// #include "recurrent_weights.wgsl"
// #include "recurrent_matvec.wgsl"
// #include "step_rows.wgsl"

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
    let seq = params.hOffset + b * params.hStrideB + j;
    let pad = LENGTHS && params.t >= u32(lengths[b]);
    let x = params.xOffset + b * params.xStrideB + j;
    if (PHASE == 0u) {
      if (pad) {
        out[s] = 0.0;
        continue;
      }
      hnext[s] = gate_act(xproj[x + H] + acc[r].y + bhh[H + j], GATE_ACT);
      out[s] = gate_act(xproj[x] + acc[r].x + bhh[j], GATE_ACT) * hp;
    } else {
      if (pad) {
        out[seq] = 0.0;
        hnext[s] = hp;
        continue;
      }
      let n = tanh_safe(xproj[x + 2u * H] + acc[r].z + bhh[2u * H + j]);
      let z = hnext[s];
      let h = (1.0 - z) * n + z * hp;
      out[seq] = h;
      hnext[s] = h;
    }
  }
}
