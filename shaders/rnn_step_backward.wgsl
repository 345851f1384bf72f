// rnn_step_backward.wgsl — one Elman RNN timestep of backpropagation through time, for every
// (batch row, hidden unit), in one dispatch. With the forward's saved h_t:
//
//   dh   = dout_t + dpre_{t+1}·W_hh         (dhN on the first step processed)
//   dpre = dh ⊙ act'(h_t)                   tanh: 1 − h_t²;  relu: 1 if h_t > 0 else 0
//
// dpre_t is the gradient of both x·W_ihᵀ + b_ih and h·W_hhᵀ + b_hh.
//
// Bindings (group 0):
//   0 dgates read_write (vec4-typed) [rows, H]    reads row t+1 (written by the previous dispatch), writes row t
//   1 Wb     read       [⌈H/4⌉, H] vec4  W_hh repacked: Wb[q, j] = (W[4q,j], …, W[4q+3,j]) (recurrent_matvec_backward.wgsl);
//                       QUAD: W_hh itself, [H, H] as PyTorch stores it
//   2 saved  read       the forward's saved activations (rnn_step.wgsl, SAVE)
//   3 dout   read       [rows, D·H]  gradient of this layer's output sequence
//   4 dhN    read       [L·D, B, H]  gradient of the final hidden state
//   5 slot   uniform    BackwardParams of this step (one slot per timestep; unread with PERSISTENT)
//   6 lengths read      LENGTHS only: i32 [B] per-row sequence lengths (a dummy otherwise)
//   7 steps  read       PERSISTENT only: the chunk's BackwardParams, in the order processed (else unread)
// LENGTHS (PyTorch's packed sequences): at t ≥ lengths[b] the forward kept row b's state, so
// dpre = 0 there and dh passes through unchanged; dout there is ignored. Forward direction: the
// last real step t = lengths[b]−1 receives dhN. Reverse direction: the step t = lengths[b]−1 also
// writes its dpre to row firstRow0 + b (for dh0).
// Workgroup: WG threads along hidden units × BT batch rows per thread. Grid: (⌈H / WG⌉, ⌈B / BT⌉);
// QUAD (H % 4 = 0): 4 consecutive units per thread, grid (⌈H / (4·WG)⌉, ⌈B / BT⌉).
// PERSISTENT: a chunk of steps in one dispatch, grid (1, ⌈B / BT⌉) (the entry point: backward_steps.wgsl).

// #include "backward_params.wgsl"

override ACT: u32 = 2u;   // 2 tanh, 3 relu (as activations.wgsl)

const DG_WIDTH: u32 = 1u;
const GATES: u32 = 1u;   // gates (rows of W_hh per unit) the QUAD product sums over
const GATE_BLOCKS = vec4<u32>(0u, 0u, 0u, 0u); // unused: RNN_PACK reads 4 units per vec4
const RNN_PACK = true;

@group(0) @binding(0) var<storage, read_write> dgates: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> Wb: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> saved: array<f32>;
@group(0) @binding(3) var<storage, read> dout: array<f32>;
@group(0) @binding(4) var<storage, read> dhN: array<f32>;
@group(0) @binding(5) var<uniform> slot: BackwardParams;
@group(0) @binding(6) var<storage, read> lengths: array<i32>;
@group(0) @binding(7) var<storage, read> steps: array<BackwardParams>;

// The step being processed: `slot`, or steps[s] of a persistent chunk.
var<private> params: BackwardParams;

override LENGTHS: bool = false;   // off: no length check is compiled in
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
    var dh = dhr[r];
    if (LENGTHS) {
      let len = u32(lengths[b]);
      if (params.t >= len) {
        setDg(row * H + j, 0.0);
        continue;
      }
      if (params.reverse == 0u && params.first == 0u && params.t + 1u == len) { dh = dhN[params.stateOffset + b * H + j]; }
    }
    dh += dout[params.doutOffset + b * params.doutStrideB + j];
    let h = saved[row * H + j];
    var dpre = dh * (1.0 - h * h);
    if (ACT == 3u) { dpre = select(0.0, dh, h > 0.0); }
    setDg(row * H + j, dpre);
    if (LENGTHS && params.reverse != 0u && params.t + 1u == u32(lengths[b])) { setDg((params.firstRow0 + b) * H + j, dpre); }
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
