// lstm_step.wgsl — one fused LSTM timestep for every (batch row, hidden unit): recurrent
// product for all four gates, bias, nonlinearities and state update in one dispatch.
//
//   [i f g o] = xproj_t + h_{t−1}·W_hhᵀ + b_hh      (xproj_t = x_t·W_ihᵀ + b_ih, precomputed
//   i = σ(i), f = σ(f), g = tanh(g), o = σ(o)        for all t by one GEMM; PyTorch gate order)
//   (σ: GATE_ACT, the logistic sigmoid or the hard sigmoid)
//   c_t = f ⊙ c_{t−1} + i ⊙ g
//   h_t = o ⊙ tanh(c_t)
//
// Bindings (group 0):
//   0 xproj  read        [rows, 4H]  input projection of every timestep (PyTorch column order)
//   1 Wp     read        [H, H] vec4 W_hh repacked: Wp[k, j] = (W_i[j,k], W_f[j,k], W_g[j,k], W_o[j,k])
//                        (an inference plan may bind its f16 / int8 copy: recurrent_weights*.wgsl)
//   2 bhh    read        [4H]        b_hh (zeros when bias=False)
//   3 hprev  read        [L·D, B, H] h_{t−1} (h0 on the first step), vec4-typed ([L·D, B, P] with PROJ)
//   4 hnext  read_write  [L·D, B, H] h_t (the plan alternates two state buffers; the last is hN)
//   5 hseq   read_write  [rows, D·H] this layer's output sequence: h_t is written at (t, b, d·H + j)
//   6 c      read_write  [L·D, B, H] cell state: c0 on entry, c_T (= cN) after the last step;
//                        with LENGTHS, followed (at params.lengthsBase) by the i32 lengths [B]
//                        (packed here: a separate binding would be the 9th storage buffer)
//   7 params uniform     StepParams (one slot per timestep)
//   8 saved  read_write  training only (SAVE): what the backward needs, per layer-direction:
//                        [rows, 4H] gates i,f,g,o after their nonlinearity | [rows, H] h_{t−1} | [rows, H] c_{t−1}
//                        (inference binds a 16-byte dummy and never touches it)
// PROJ = P > 0 (PyTorch's proj_size): h has P features, h_t = W_hr·m_t with m_t = o ⊙ tanh(c_t).
// This step reads h_{t−1} [L·D, B, P] (Wp is [P, H] vec4) and writes m_t to `hseq` bound to the
// layer-direction's m buffer [rows, H] at row (row0 + b·rowStrideB); it leaves `hnext` alone: the
// projection dispatch right after it (recurrent_matvec_project.wgsl) writes h_t to hnext and to
// the output sequence. SAVE's h_{t−1} section is then [rows, P].
// LENGTHS (per-row sequence lengths, PyTorch's packed sequences): at t ≥ lengths[b] row b is
// padding: h and c stay as they are (h_t = h_{t−1}), the output is 0; SAVE stores gates 0 and
// h_{t−1}, c_{t−1} there, so the backward's GEMMs over all rows read finite values.
// Workgroup: WG threads along hidden units × BT batch rows per thread.
// Grid: (⌈H / WG⌉, ⌈B / BT⌉); QUAD (recurrent_matvec.wgsl): 4 consecutive units per thread,
// grid (⌈H / (4·WG)⌉, ⌈B / BT⌉).

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
@group(0) @binding(6) var<storage, read_write> c: array<f32>;
@group(0) @binding(7) var<uniform> params: StepParams;
@group(0) @binding(8) var<storage, read_write> saved: array<f32>;

override SAVE: bool = false;
override GATE_ACT: u32 = 1u;      // the gates' activation: 1 σ, 6 hard sigmoid (activations.wgsl)
override LENGTHS: bool = false;   // off: no length check is compiled in

// lengths[b], stored as i32 after the state in `c`.
fn rowLength(b: u32) -> u32 {
  return u32(bitcast<i32>(c[params.lengthsBase + b]));
}

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
  let bias = vec4<f32>(bhh[j], bhh[H + j], bhh[2u * H + j], bhh[3u * H + j]);
  let K = hSize();     // features of h: H, or PROJ
  let hasH = j < K;    // this unit has an h column (always without PROJ)
  for (var r = 0u; r < BT; r++) {
    let b = b0 + r;
    if (b >= params.batch) { break; }
    let s = params.stateOffset + b * H + j;
    let row = params.row0 + b * params.rowStrideB;
    if (LENGTHS && params.t >= rowLength(b)) {
      if (SAVE) {
        let gates = row * 4u * H + j;
        saved[gates] = 0.0;
        saved[gates + H] = 0.0;
        saved[gates + 2u * H] = 0.0;
        saved[gates + 3u * H] = 0.0;
        if (hasH) { saved[params.hprevBase + row * K + j] = hPrevAt(b, j); }
        saved[params.cprevBase + row * H + j] = c[s];
      }
      if (PROJ != 0u) {
        hseq[row * H + j] = 0.0;   // m; the projection step keeps h and zeroes the output
      } else {
        hseq[params.hOffset + b * params.hStrideB + j] = 0.0;
        hnext[s] = hPrevAt(b, j);
      }
      continue;
    }
    let x = params.xOffset + b * params.xStrideB + j;
    let pre = acc[r] + bias + vec4<f32>(xproj[x], xproj[x + H], xproj[x + 2u * H], xproj[x + 3u * H]);
    let i = gate_act(pre.x, GATE_ACT);
    let f = gate_act(pre.y, GATE_ACT);
    let g = tanh_safe(pre.z);
    let o = gate_act(pre.w, GATE_ACT);
    let cPrev = c[s];
    let cNew = f * cPrev + i * g;
    c[s] = cNew;
    let h = o * tanh_safe(cNew);
    if (SAVE) {
      let gates = row * 4u * H + j;
      saved[gates] = i;
      saved[gates + H] = f;
      saved[gates + 2u * H] = g;
      saved[gates + 3u * H] = o;
      if (hasH) { saved[params.hprevBase + row * K + j] = hPrevAt(b, j); }
      saved[params.cprevBase + row * H + j] = cPrev;
    }
    if (PROJ != 0u) {
      hseq[row * H + j] = h;       // m_t, projected by the next dispatch
    } else {
      hseq[params.hOffset + b * params.hStrideB + j] = h;
      hnext[s] = h;
    }
  }
}
