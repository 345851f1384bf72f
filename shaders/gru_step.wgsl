// gru_step.wgsl — one fused GRU timestep (PyTorch semantics: the reset gate multiplies the
// recurrent term *after* the matmul), recurrent product for all three gates, bias,
// nonlinearities and state update in one dispatch.
//
//   [a_r a_z a_n] = xproj_t                 (= x_t·W_ihᵀ + b_ih, precomputed for all t by one GEMM)
//   [u_r u_z u_n] = h_{t−1}·W_hhᵀ + b_hh
//   r = σ(a_r + u_r),  z = σ(a_z + u_z),  n = tanh(a_n + r ⊙ u_n)
//   h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}                (σ: GATE_ACT, the logistic or the hard sigmoid)
//
// Bindings (group 0):
//   0 xproj  read        [rows, 3H]  input projection of every timestep (PyTorch column order r,z,n)
//   1 Wp     read        [H, H] vec4 W_hh repacked: Wp[k, j] = (W_r[j,k], W_z[j,k], W_n[j,k], 0)
//                        (an inference plan may bind its f16 / int8 copy: recurrent_weights*.wgsl);
//                        ROWS (QUAD, f32): W_hh [3H, H] as PyTorch stores it, the parameters themselves
//   2 bhh    read        [3H]        b_hh (zeros when bias=False)
//   3 hprev  read        [L·D, B, H] h_{t−1} (h0 on the first step), vec4-typed
//   4 hnext  read_write  [L·D, B, H] h_t (the plan alternates two state buffers; the last is hN)
//   5 hseq   read_write  [rows, D·H] this layer's output sequence
//   6 params uniform     StepParams (one slot per timestep)
//   7 saved  read_write  training only (SAVE): [rows, 4H] r, z, n, u_n (= h_{t−1}·W_hnᵀ + b_hn) | [rows, H] h_{t−1}
//                        (inference binds a 16-byte dummy and never touches it)
//   8 lengths read       LENGTHS only: i32 [B] per-row sequence lengths (otherwise any buffer, unread)
// LENGTHS (PyTorch's packed sequences): at t ≥ lengths[b] row b is padding: h_t = h_{t−1}, the
// output is 0; SAVE stores gates 0 and h_{t−1} there (finite values for the backward's GEMMs).
// Workgroup: WG threads along hidden units × BT batch rows per thread. Grid: (⌈H / WG⌉, ⌈B / BT⌉);
// QUAD (recurrent_matvec.wgsl): 4 consecutive units per thread, grid (⌈H / (4·WG)⌉, ⌈B / BT⌉).

// Its '#subgroups' variant (src/kernels/cellStep.ts, gpu.tuning.forwardRows) includes
// step_enable_subgroups.wgsl and step_rows_subgroups.wgsl in place of step_enable.wgsl and
// step_rows.wgsl: with QUAD and BT > 1, the 4 threads of a quad share their loads of h_{t−1}.
// #include "step_enable.wgsl"
// #include "activations.wgsl"
// #include "step_params.wgsl"

@group(0) @binding(0) var<storage, read> xproj: array<f32>;
@group(0) @binding(2) var<storage, read> bhh: array<f32>;
@group(0) @binding(3) var<storage, read> hprev: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> hnext: array<f32>;
@group(0) @binding(5) var<storage, read_write> hseq: array<f32>;
@group(0) @binding(6) var<uniform> params: StepParams;
@group(0) @binding(7) var<storage, read_write> saved: array<f32>;
@group(0) @binding(8) var<storage, read> lengths: array<i32>;

override SAVE: bool = false;
override GATE_ACT: u32 = 1u;      // the gates' activation: 1 σ, 6 hard sigmoid (activations.wgsl)
override LENGTHS: bool = false;   // off: no length check is compiled in

// #include "recurrent_weights.wgsl"
// #include "recurrent_matvec.wgsl"
// #include "step_rows.wgsl"
// #include "step_thread.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  stepThread(lid.x, wid.x, wid.y);
}

// The step of unit j for the rows b0 … b0 + BT − 1, given their recurrent products acc[r].
fn unitStep(j: u32, b0: u32, acc: array<vec4<f32>, 8>) {
  let H = params.hidden;
  let bias = vec3<f32>(bhh[j], bhh[H + j], bhh[2u * H + j]);
  for (var r = 0u; r < BT; r++) {
    let b = b0 + r;
    if (b >= params.batch) { break; }
    if (LENGTHS && params.t >= u32(lengths[b])) {
      let hp = hPrevAt(b, j);
      if (SAVE) {
        let row = params.row0 + b * params.rowStrideB;
        let gates = row * 4u * H + j;
        saved[gates] = 0.0;
        saved[gates + H] = 0.0;
        saved[gates + 2u * H] = 0.0;
        saved[gates + 3u * H] = 0.0;
        saved[params.hprevBase + row * H + j] = hp;
      }
      hseq[params.hOffset + b * params.hStrideB + j] = 0.0;
      hnext[params.stateOffset + b * H + j] = hp;
      continue;
    }
    let x = params.xOffset + b * params.xStrideB + j;
    let u = acc[r].xyz + bias;
    let rg = gate_act(xproj[x] + u.x, GATE_ACT);
    let z = gate_act(xproj[x + H] + u.y, GATE_ACT);
    let n = tanh_safe(xproj[x + 2u * H] + rg * u.z);
    let hp = hPrevAt(b, j);
    let h = (1.0 - z) * n + z * hp;
    if (SAVE) {
      let row = params.row0 + b * params.rowStrideB;
      let gates = row * 4u * H + j;
      saved[gates] = rg;
      saved[gates + H] = z;
      saved[gates + 2u * H] = n;
      saved[gates + 3u * H] = u.z;
      saved[params.hprevBase + row * H + j] = hp;
    }
    hseq[params.hOffset + b * params.hStrideB + j] = h;
    hnext[params.stateOffset + b * H + j] = h;
  }
}
