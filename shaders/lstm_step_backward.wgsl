// lstm_step_backward.wgsl — one LSTM timestep of backpropagation through time, for every
// (batch row, hidden unit), in one dispatch. With the forward's saved i, f, g, o, c_{t−1}:
//
//   dh   = dout_t + dgates_{t+1}·W_hh        (dhN on the first step processed)
//   c_t  = f ⊙ c_{t−1} + i ⊙ g,   dc = dc_carry + dh ⊙ o ⊙ (1 − tanh²(c_t))
//   dpre_i = dc ⊙ g ⊙ σ'(i)       dpre_f = dc ⊙ c_{t−1} ⊙ σ'(f)
//   dpre_g = dc ⊙ i ⊙ (1−g²)      dpre_o = dh ⊙ tanh(c_t) ⊙ σ'(o)
//   σ'(y) = y(1−y); with the hard sigmoid (GATE_ACT 6) 0.2 inside (0, 1), 0 where it clipped
//   dc_carry ← dc ⊙ f             (= dL/dc_{t−1}; after the last step processed it is dc0)
//
// dgates_t = [dpre_i | dpre_f | dpre_g | dpre_o] (PyTorch column order) is the gradient of both
// x·W_ihᵀ + b_ih and h·W_hhᵀ + b_hh: the weight gradients are GEMMs over all rows afterwards.
//
// Bindings (group 0):
//   0 dgates read_write (vec4-typed) [rows, 4H]  reads row t+1 (written by the previous dispatch), writes row t
//   1 Wb     read       [H, H] vec4  W_hh repacked: Wb[u, j] = (W_i[u,j], W_f[u,j], W_g[u,j], W_o[u,j]) (recurrent_matvec_backward.wgsl);
//                       QUAD: W_hh itself, [4H, H] as PyTorch stores it
//   2 saved  read       the forward's saved activations (lstm_step.wgsl, SAVE)
//   3 dout   read       [rows, D·H] gradient of this layer's output sequence
//   4 dhN    read       [L·D, B, H] gradient of the final hidden state
//   5 carry  read_write [L·D, B, H] dc: dcN on entry, dc0 after the last step
//   6 slot   uniform    BackwardParams of this step (one slot per timestep; unread with PERSISTENT)
//   7 lengths read      LENGTHS only: i32 [B] per-row sequence lengths (a dummy otherwise)
//   8 steps  read       PERSISTENT only: the chunk's BackwardParams, in the order processed (else unread)
// PROJ = P > 0 (PyTorch's proj_size, h_t = W_hr·m_t, m_t = o ⊙ tanh(c_t)): the dispatch before
// this one (recurrent_matvec_project_backward.wgsl) wrote the whole dh_t [rows, P] (dout, dhN
// and the recurrent part included); here `dout` is bound to it and `Wb` to W_hr repacked for the
// backward (Wb[q, j] = (W_hr[4q, j], …, W_hr[4q+3, j]), 0 past P), and the equations above run
// on dm = W_hrᵀ·dh_t in place of dh (dhN is then unused).
// LENGTHS (PyTorch's packed sequences): at t ≥ lengths[b] the forward kept row b's state, so
// dgates = 0 there and dh, dc pass through unchanged; dout there is ignored. Forward direction:
// the last real step t = lengths[b]−1 receives dhN (and the carry still holds dcN). Reverse
// direction: the step t = lengths[b]−1 also writes its dgates to row firstRow0 + b (for dh0).
// Workgroup: WG threads along hidden units × BT batch rows per thread. Grid: (⌈H / WG⌉, ⌈B / BT⌉);
// QUAD (H % 4 = 0, no PROJ): 4 consecutive units per thread, grid (⌈H / (4·WG)⌉, ⌈B / BT⌉).
// PERSISTENT: a chunk of steps in one dispatch, grid (1, ⌈B / BT⌉) (the entry point: backward_steps.wgsl).

// Its '#subgroups' variant (src/kernels/cellStepBackward.ts, gpu.tuning.backwardGates) includes
// backward_enable_subgroups.wgsl and backward_gates_subgroups.wgsl in place of backward_enable.wgsl
// and backward_gates.wgsl: with QUAD, the 4 threads of a quad share each row's gate loads.
// #include "backward_enable.wgsl"
// #include "activations.wgsl"
// #include "backward_params.wgsl"

const DG_WIDTH: u32 = 4u;
const GATES: u32 = 4u;   // gates (rows of W_hh per unit) the QUAD product sums over
// Column block of each gate's dgates in a row: i, f, g, o.
const GATE_BLOCKS = vec4<u32>(0u, 1u, 2u, 3u);
const RNN_PACK = false;

@group(0) @binding(0) var<storage, read_write> dgates: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> Wb: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> saved: array<f32>;
@group(0) @binding(3) var<storage, read> dout: array<f32>;
@group(0) @binding(4) var<storage, read> dhN: array<f32>;
@group(0) @binding(5) var<storage, read_write> carry: array<f32>;
@group(0) @binding(6) var<uniform> slot: BackwardParams;
@group(0) @binding(8) var<storage, read> steps: array<BackwardParams>;

// The step being processed: `slot`, or steps[s] of a persistent chunk.
var<private> params: BackwardParams;
@group(0) @binding(7) var<storage, read> lengths: array<i32>;

override LENGTHS: bool = false;   // off: no length check is compiled in
override GATE_ACT: u32 = 1u;      // the gates' activation: 1 σ (σ' = y(1−y)), 6 hard sigmoid
override PERSISTENT: bool = false;   // a chunk of steps per dispatch (see above)

// #include "recurrent_matvec_backward.wgsl"
// #include "backward_gates.wgsl"

// PROJ: acc[r] = dm[b0 + r, j] = Σ_p dh_t[b0 + r, p] · W_hr[p, j] (dh_t in `dout`, [rows, P]).
fn dmFromDh(j: u32, b0: u32) -> array<f32, 8> {
  var acc: array<f32, 8>;
  for (var r = 0u; r < 8u; r++) { acc[r] = 0.0; } // explicit: see recurrent_persistent.wgsl
  let H = params.hidden;
  let rows = min(BT, params.batch - b0);
  for (var q = 0u; 4u * q < PROJ; q++) {
    let w = Wb[q * H + j];
    for (var r = 0u; r < BT; r++) {
      if (r < rows) {
        let base = (params.row0 + (b0 + r) * params.rowStrideB) * PROJ + 4u * q;
        var dv = vec4<f32>(0.0);
        for (var k = 0u; k < 4u; k++) { if (4u * q + k < PROJ) { dv[k] = dout[base + k]; } }
        acc[r] += dot(dv, w);
      }
    }
  }
  return acc;
}

// The backward of unit j for the rows b0 … b0 + BT − 1 at the step in `params` (backwardSteps,
// backward_steps.wgsl, calls it per step and unit).
fn backwardUnit(j: u32, b0: u32) {
  if (PROJ == 0u) { cellBackward(j, b0, dhFromNext(j, b0)); } else { cellBackward(j, b0, dmFromDh(j, b0)); }
}

// The cell's backward of unit j for the rows b0 … b0 + BT − 1, given the recurrent part of their
// dh (dm with PROJ): dhr[r] for row b0 + r.
fn cellBackward(j: u32, b0: u32, dhr: array<f32, 8>) {
  let H = params.hidden;
  for (var r = 0u; r < BT; r++) {
    let b = b0 + r;
    if (b >= params.batch) { break; }
    let row = params.row0 + b * params.rowStrideB;
    let at = row * 4u * H + j;
    let s = params.stateOffset + b * H + j;
    var dh = dhr[r];
    if (LENGTHS) {
      let len = u32(lengths[b]);
      if (params.t >= len) {
        setDg4(at, H, vec4<f32>(0.0));
        continue;
      }
      if (PROJ == 0u && params.reverse == 0u && params.first == 0u && params.t + 1u == len) { dh = dhN[s]; }
    }
    if (PROJ == 0u) { dh += dout[params.doutOffset + b * params.doutStrideB + j]; }
    let i = saved[at];
    let f = saved[at + H];
    let g = saved[at + 2u * H];
    let o = saved[at + 3u * H];
    let cPrev = saved[params.cprevBase + row * H + j];
    let tc = tanh_safe(f * cPrev + i * g); // as in the forward
    let dc = carry[s] + dh * o * (1.0 - tc * tc);
    let dg = vec4<f32>(
      gate_grad(dc * g, i, GATE_ACT),
      gate_grad(dc * cPrev, f, GATE_ACT),
      dc * i * (1.0 - g * g),
      gate_grad(dh * tc, o, GATE_ACT),
    );
    setDg4(at, H, dg);
    if (LENGTHS && params.reverse != 0u && params.t + 1u == u32(lengths[b])) { setDg4((params.firstRow0 + b) * 4u * H + j, H, dg); }
    carry[s] = dc * f;
  }
}

// #include "backward_steps.wgsl"

@compute @workgroup_size(WG)
fn main(
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) grid: vec3<u32>,
) {
  backwardSteps(lid.x, wid, grid.x);
}
