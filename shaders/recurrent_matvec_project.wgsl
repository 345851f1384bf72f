// recurrent_matvec_project.wgsl — the projection of an LSTM with proj_size P (PyTorch's
// `proj_size`), one dispatch per timestep right after the cell step (lstm_step.wgsl with PROJ),
// which wrote m_t = o ⊙ tanh(c_t):
//
//   h_t[b, p] = Σ_j m_t[b, j] · W_hr[p, j]        p < P, j < hidden
//
// h_t goes to the h state (`hnext`, the next step's h_{t−1}; the last one is hN) and to the
// layer's output sequence. Each thread makes 4 consecutive outputs p = 4q … 4q+3 for BT batch
// rows: Wr is W_hr repacked like an RNN's W_hh (src/kernels/cellStep.ts, repackWhh('rnn', W_hr,
// P, hidden)): Wr[j, q] = (W_hr[4q, j], W_hr[4q+1, j], W_hr[4q+2, j], W_hr[4q+3, j]) (0 past P),
// so consecutive threads read consecutive vec4s and all threads read the same m values.
//
// Bindings (group 0):
//   0 m      read        [rows, H]   m_t of every row (t, b) at row0 + b·rowStrideB
//   1 Wr     read        [H, ⌈P/4⌉] vec4  W_hr repacked
//   2 hprev  read        [L·D, B, P] h_{t−1} (LENGTHS: kept at the padded steps)
//   3 hnext  read_write  [L·D, B, P] h_t
//   4 hseq   read_write  [rows, D·P] this layer's output sequence: h_t at (t, b, d·P + p)
//   5 params uniform     StepParams, the cell step's slot (this layer-direction's block of the
//                        h state starts at (stateOffset / hidden)·P)
//   6 lengths read       LENGTHS only: i32 [B] per-row sequence lengths (a dummy otherwise)
// LENGTHS: at t ≥ lengths[b] row b is padding: h stays h_{t−1}, the output is 0.
// Workgroup: WG threads along ⌈P/4⌉ vec4 columns × BT batch rows per thread.
// Grid: (⌈⌈P/4⌉ / WG⌉, ⌈B / BT⌉).

// #include "step_params.wgsl"

@group(0) @binding(0) var<storage, read> m: array<f32>;
@group(0) @binding(1) var<storage, read> Wr: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> hprev: array<f32>;
@group(0) @binding(3) var<storage, read_write> hnext: array<f32>;
@group(0) @binding(4) var<storage, read_write> hseq: array<f32>;
@group(0) @binding(5) var<uniform> params: StepParams;
@group(0) @binding(6) var<storage, read> lengths: array<i32>;

override WG: u32 = 64u;          // threads per workgroup, one vec4 column each
override BT: u32 = 4u;           // batch rows per thread, 1 … 8
override PROJ: u32 = 1u;         // P, the projection size
override LENGTHS: bool = false;  // off: no length check is compiled in

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let H = params.hidden;
  let C = (PROJ + 3u) / 4u;
  let q = wid.x * WG + lid.x;
  let b0 = wid.y * BT;
  if (q >= C) { return; }
  let rows = min(BT, params.batch - b0);
  var acc: array<vec4<f32>, 8>;
  for (var j = 0u; j < H; j++) {
    let w = Wr[j * C + q];
    for (var r = 0u; r < BT; r++) {
      if (r < rows) { acc[r] += m[(params.row0 + (b0 + r) * params.rowStrideB) * H + j] * w; }
    }
  }
  let base = (params.stateOffset / H) * PROJ;
  for (var r = 0u; r < BT; r++) {
    let b = b0 + r;
    if (b >= params.batch) { break; }
    let pad = LENGTHS && params.t >= u32(lengths[b]);
    let s = base + b * PROJ;
    let out = params.hOffset + b * params.hStrideB;
    for (var k = 0u; k < 4u; k++) {
      let p = 4u * q + k;
      if (p >= PROJ) { break; }
      if (pad) {
        hnext[s + p] = hprev[s + p];
        hseq[out + p] = 0.0;
      } else {
        let h = acc[r][k];
        hnext[s + p] = h;
        hseq[out + p] = h;
      }
    }
  }
}
