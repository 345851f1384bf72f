// recurrent_persistent.wgsl — a whole recurrent layer-direction (all its timesteps, or a chunk
// of them) in ONE dispatch: a persistent kernel (Diamos et al. 2016, in WebGPU's terms).
//
//   for s in steps:  t = s (forward) or seqLen−1−s (reverse)
//     pre = xproj_t + h_{t−1}·W_hhᵀ + b_hh                    (xproj_t = x_t·W_ihᵀ + b_ih, one GEMM before)
//     LSTM  [i f g o] = [σ σ tanh σ](pre);  c_t = f⊙c_{t−1} + i⊙g;  h_t = o⊙tanh(c_t)
//     GRU   r = σ(x_r + u_r), z = σ(x_z + u_z), n = tanh(x_n + r⊙u_n),  h_t = (1−z)⊙n + z⊙h_{t−1}
//           (u = h_{t−1}·W_hhᵀ + b_hh per gate: PyTorch's reset applied after the recurrent product)
//     RNN   h_t = act(pre), act = tanh or relu
//   σ: GATE_ACT, the logistic sigmoid or the hard sigmoid clip(0.2·x + 0.5, 0, 1)
//
// Each workgroup owns BT batch rows and loops over the steps. Rows never read each other's state,
// so the only synchronisation is one workgroupBarrier() per step inside a workgroup (WebGPU has
// no barrier across workgroups). h_{t−1} of the workgroup's rows lives in workgroup memory,
// double-buffered ([2][BT][⌈H/4⌉] vec4s, read 4 k at a time): step s reads half s%2 and writes
// the other; the barrier after the step orders both. W_hh (repacked as for the step kernels, src/kernels/cellStep.ts) is streamed
// from global memory every step (cache-resident on a GPU). The LSTM cell state stays in global
// memory: entry (b, j) is read and written by one invocation only.
// Outputs and saved activations are bit-for-bit the layout of the step kernels
// (lstm_step / gru_step / rnn_step.wgsl), so the step backward kernels read them unchanged.
//
// Bindings (group 0):
//   0 xproj  read        [rows, G·H]   input projection of every timestep (PyTorch gate order)
//   1 Wp     read        [H, cols] vec4  W_hh repacked (cols = H for LSTM/GRU, ⌈H/4⌉ for an RNN)
//                        (an inference plan may bind its f16 / int8 copy: recurrent_weights*.wgsl)
//   2 bhh    read        [G·H]         b_hh (zeros when bias=False)
//   3 hin    read        [L·D, B, H]   h entering the chunk (h0, or the previous chunk's hout)
//   4 hout   read_write  [L·D, B, H]   h after the chunk's last step (hN after the last chunk)
//   5 hseq   read_write  [rows, D·H]   the layer's output sequence, h_t at (t, b, hDirOffset + j)
//   6 c      read_write  LSTM: cell state [L·D, B, H] (c0 in, c after the chunk out); with
//                        LENGTHS the i32 lengths [B] at params.lengthsBase (GRU / RNN bind only the
//                        lengths here: they have no cell state)
//   7 params uniform     PersistentParams
//   8 saved  read_write  training only (SAVE), as the step kernels: gates [rows, 4H] (RNN: h_t
//                        [rows, H]) | h_{t−1} [rows, H] | LSTM c_{t−1} [rows, H]
// LENGTHS: at t ≥ lengths[b] row b is padding (PyTorch's packed sequences): h and c pass through,
// the output is 0, SAVE stores zero gates and h_{t−1}, c_{t−1}.
// Workgroup: WG threads, × all BT rows. SPLIT lanes share a column of Wp (split-K: lane i sums
// k ≡ i mod SPLIT; persistent_split*.wgsl add the lanes, in workgroup memory or by subgroup
// shuffles), WG / SPLIT columns per pass; SPLIT 1: thread lid.x owns columns lid.x, lid.x + WG, ….
// Grid: (⌈B / BT⌉, 1, 1) (recurrent_persistent_bidir.wgsl: both directions of a layer, (⌈B / BT⌉, 2, 1)). Workgroup memory: HBUF = 2·BT·⌈H/4⌉ vec4s (≤ maxComputeWorkgroupStorageSize):
// a row of h is ⌈H/4⌉ vec4s (lanes past H stay 0), read 4 k at a time.
// The step loop is persistent_body.wgsl (shared with recurrent_persistent_bidir.wgsl); this file
// binds one layer-direction and gives the body its accessors.

// #include "persistent_enable.wgsl"
// #include "activations.wgsl"

@group(0) @binding(0) var<storage, read> xproj: array<f32>;
@group(0) @binding(2) var<storage, read> bhh: array<f32>;
@group(0) @binding(3) var<storage, read> hin: array<f32>;
@group(0) @binding(4) var<storage, read_write> hout: array<f32>;
@group(0) @binding(5) var<storage, read_write> hseq: array<f32>;
@group(0) @binding(6) var<storage, read_write> c: array<f32>;
@group(0) @binding(7) var<uniform> params: PersistentParams;
// #include "recurrent_weights.wgsl"
// #include "persistent_split.wgsl"
@group(0) @binding(8) var<storage, read_write> saved: array<f32>;

fn xpAt(i: u32) -> f32 {
  return xproj[i];
}

fn bhhAt(i: u32) -> f32 {
  return bhh[i];
}

fn savedPut(i: u32, v: f32) {
  saved[i] = v;
}

// #include "persistent_body.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  persistentSteps(lid.x, wid.x * BT, params.steps, params.cols);
}
