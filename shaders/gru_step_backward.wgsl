// gru_step_backward.wgsl — one GRU timestep of backpropagation through time (PyTorch semantics,
// reset applied after the recurrent matmul), for every (batch row, hidden unit), in one dispatch.
// With the forward's saved r, z, n, u_n = h_{t−1}·W_hnᵀ + b_hn and h_{t−1}:
//
//   dh     = dout_t + dgates_h,{t+1}·W_hh + carry     (dhN on the first step processed; carry = 0)
//   dpre_n = dh ⊙ (1−z) ⊙ (1−n²)
//   dpre_z = dh ⊙ (h_{t−1} − n) ⊙ σ'(z)              σ'(y) = y(1−y), or with the hard sigmoid (GATE_ACT 6)
//   dpre_r = dpre_n ⊙ u_n ⊙ σ'(r)                       0.2 inside (0, 1) and 0 where it clipped
//   carry ← dh ⊙ z                                     (the direct path h_{t−1} → h_t)
//
// dgates_t row = [dpre_r | dpre_z | dpre_n | dpre_n ⊙ r]: the first three columns blocks are the
// gradient of x·W_ihᵀ + b_ih; blocks r, z and the fourth are that of h·W_hhᵀ + b_hh.
//
// Bindings (group 0):
//   0 dgates read_write (vec4-typed) [rows, 4H]  reads row t+1 (written by the previous dispatch), writes row t
//   1 Wb     read       [H, H] vec4  W_hh repacked: Wb[u, j] = (W_r[u,j], W_z[u,j], W_n[u,j], 0) (recurrent_matvec_backward.wgsl);
//                       QUAD: W_hh itself, [3H, H] as PyTorch stores it
//   2 saved  read       the forward's saved activations (gru_step.wgsl, SAVE)
//   3 dout   read       [rows, D·H] gradient of this layer's output sequence
//   4 dhN    read       [L·D, B, H] gradient of the final hidden state
//   5 carry  read_write [L·D, B, H] z ⊙ dh of the step processed before (cleared on entry)
//   6 slot   uniform    BackwardParams of this step (one slot per timestep; unread with PERSISTENT)
//   7 lengths read      LENGTHS only: i32 [B] per-row sequence lengths (a dummy otherwise)
//   8 steps  read       PERSISTENT only: the chunk's BackwardParams, in the order processed (else unread)
// LENGTHS (PyTorch's packed sequences): at t ≥ lengths[b] the forward kept row b's state, so
// dgates = 0 there and dh (the carry) passes through unchanged; dout there is ignored. Forward
// direction: the last real step t = lengths[b]−1 receives dhN. Reverse direction: the step
// t = lengths[b]−1 also writes its dgates to row firstRow0 + b (for dh0).
// Workgroup: WG threads along hidden units × BT batch rows per thread. Grid: (⌈H / WG⌉, ⌈B / BT⌉);
// QUAD (H % 4 = 0): 4 consecutive units per thread, grid (⌈H / (4·WG)⌉, ⌈B / BT⌉).
// PERSISTENT: a chunk of steps in one dispatch, grid (1, ⌈B / BT⌉) (the entry point: backward_steps.wgsl).

// Its '#subgroups' variant (src/kernels/cellStepBackward.ts, gpu.tuning.backwardGates) includes
// backward_enable_subgroups.wgsl and backward_gates_subgroups.wgsl in place of backward_enable.wgsl
// and backward_gates.wgsl: with QUAD, the 4 threads of a quad share each row's gate loads.
// #include "backward_enable.wgsl"
// #include "activations.wgsl"
// #include "backward_params.wgsl"

const DG_WIDTH: u32 = 4u;
const GATES: u32 = 3u;   // gates (rows of W_hh per unit) the QUAD product sums over
// Column blocks paired with Wb's gates r, z, n: r, z and the hidden-side n (dpre_n ⊙ r); the
// 4th pairs with Wb's zero.
const GATE_BLOCKS = vec4<u32>(0u, 1u, 3u, 0u);
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

// The backward of unit j for the rows b0 … b0 + BT − 1 at the step in `params` (backwardSteps,
// backward_steps.wgsl, calls it per step and unit).
fn backwardUnit(j: u32, b0: u32) {
  cellBackward(j, b0, dhFromNext(j, b0));
}

// The cell's backward of unit j for the rows b0 … b0 + BT − 1, given the recurrent part of their
// dh: dhr[r] for row b0 + r.
fn cellBackward(j: u32, b0: u32, dhr: array<f32, 8>) {
  let H = params.hidden;
  for (var r = 0u; r < BT; r++) {
    let b = b0 + r;
    if (b >= params.batch) { break; }
    let row = params.row0 + b * params.rowStrideB;
    let s = params.stateOffset + b * H + j;
    let at = row * 4u * H + j;
    var dh = dhr[r];
    if (LENGTHS) {
      let len = u32(lengths[b]);
      if (params.t >= len) {
        setDg4(at, H, vec4<f32>(0.0));
        continue;
      }
      if (params.reverse == 0u && params.first == 0u && params.t + 1u == len) { dh = dhN[s]; }
    }
    dh += dout[params.doutOffset + b * params.doutStrideB + j] + carry[s];
    let rg = saved[at];
    let z = saved[at + H];
    let n = saved[at + 2u * H];
    let un = saved[at + 3u * H];
    let hp = saved[params.hprevBase + row * H + j];
    let dn = dh * (1.0 - z) * (1.0 - n * n);
    let dg = vec4<f32>(gate_grad(dn * un, rg, GATE_ACT), gate_grad(dh * (hp - n), z, GATE_ACT), dn, dn * rg);
    setDg4(at, H, dg);
    if (LENGTHS && params.reverse != 0u && params.t + 1u == u32(lengths[b])) { setDg4((params.firstRow0 + b) * 4u * H + j, H, dg); }
    carry[s] = dh * z;
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
