// recurrent_wavefront.wgsl — one wave of a unidirectional recurrent stack: every layer l in
// [layerLo, layerLo + grid z) runs its step t = wave − l in this one dispatch (workgroup z = l − layerLo),
// so L layers over T steps take T + L − 1 dispatches instead of T·L (plus layer 0's input GEMM).
// Layer l's input at t (h^{l−1}_t) and its own h^l_{t−1} were both written by the previous wave.
//
//   a = xproj_t                              layer 0 (x_t·W_ihᵀ + b_ih, one GEMM for all t)
//   a = h^{l−1}_t·W_ihᵀ + b_ih               layer l > 0, here
//   u = h^l_{t−1}·W_hhᵀ + b_hh
//   LSTM  [i f g o] = a + u;  c_t = σ(f) ⊙ c_{t−1} + σ(i) ⊙ tanh(g);  h_t = σ(o) ⊙ tanh(c_t)
//   GRU   r = σ(a_r + u_r), z = σ(a_z + u_z), n = tanh(a_n + r ⊙ u_n), h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}
//   RNN   h_t = act(a + u)                   (σ: GATE_ACT, the logistic or the hard sigmoid)
// The weights are read in PyTorch's layout, W[g·H + j, k] (gate order i,f,g,o / r,z,n), straight
// from the parameter buffer: nothing to repack after an optimizer update.
//
// Bindings (group 0):
//   0 xproj    read        [rows, G·H] layer 0's input projection; then, at params.layersBase, each
//                          layer's (W_ih, W_hh, b_ih, b_hh) element offsets in `weights` as u32 bits
//                          (a 9th storage buffer would pass WebGPU's default limit of 8)
//   1 weights  read        the parameters: layer l's W_ih [G·H, H] (l > 0), W_hh [G·H, H], b_ih, b_hh
//   2 h0       read        [L, B, H] the initial state, read at t = 0
//   3 state0   read_write  [L, B, H] h_t of even t; step t reads h_{t−1} from state[(t − 1) % 2]
//   4 state1   read_write  [L, B, H] h_t of odd t (hN is state[(T − 1) % 2], as with the step kernels)
//   5 seqs     read_write  [min(2, L − 1), rows, H] outputs of the layers below the top, layer l in
//                          slot l % 2 (layer l + 1 reads row t one wave after it is written; layer
//                          l + 2 overwrites it one wave later still)
//   6 output   read_write  [rows, H] the top layer's output
//   7 c        read_write  LSTM: the cell state [L, B, H]; with LENGTHS the i32 lengths [B] at
//                          params.lengthsBase (GRU, RNN: the lengths alone)
//   8 params   uniform     WaveParams, one slot per wave
// LENGTHS (PyTorch's packed sequences): at t ≥ lengths[b] row b is padding: h and c stay, the output is 0.
// Workgroup: WG threads along hidden units × BT batch rows per thread.
// Grid: (⌈H / WG⌉, ⌈B / BT⌉, layers in this wave).

// #include "activations.wgsl"

struct WaveParams {
  batch: u32,
  hidden: u32,
  numLayers: u32,
  wave: u32,
  layerLo: u32,      // the layer of workgroup z = 0
  rowStrideT: u32,   // rows of the sequence buffers between timesteps (B time-major, 1 batch-first)
  rowStrideB: u32,   // … between batch rows (1 time-major, T batch-first)
  seqSlot: u32,      // elements of one slot of `seqs` (rows · H)
  lengthsBase: u32,  // LENGTHS: element offset of the lengths in `c`
  layersBase: u32,   // element offset of the per-layer weight offsets in `xproj`
}

@group(0) @binding(0) var<storage, read> xproj: array<f32>;
@group(0) @binding(1) var<storage, read> weights: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> h0: array<f32>;
@group(0) @binding(3) var<storage, read_write> state0: array<f32>;
@group(0) @binding(4) var<storage, read_write> state1: array<f32>;
@group(0) @binding(5) var<storage, read_write> seqs: array<f32>;
@group(0) @binding(6) var<storage, read_write> output: array<f32>;
@group(0) @binding(7) var<storage, read_write> c: array<f32>;
@group(0) @binding(8) var<uniform> params: WaveParams;

override WG: u32 = 64u;           // threads per workgroup, one hidden unit each
override BT: u32 = 4u;            // batch rows per thread, 1 … 8
override CELL: u32 = 1u;          // 0 RNN, 1 LSTM, 2 GRU
override ACT: u32 = 2u;           // RNN: 2 tanh, 3 relu (activations.wgsl)
override GATE_ACT: u32 = 1u;      // LSTM, GRU gates: 1 σ, 6 hard sigmoid
override VEC: bool = false;       // H % 4 == 0: weight rows read as vec4 (offsets are 4-aligned)
override BIAS: bool = true;       // b_ih, b_hh exist
override LENGTHS: bool = false;

fn gateCount() -> u32 {
  return select(select(3u, 4u, CELL == 1u), 1u, CELL == 0u);
}

fn weightAt(i: u32) -> f32 {
  return weights[i >> 2u][i & 3u];
}

// h_{t−1}[i] of a layer at step t: h0 at t = 0, else state[(t − 1) % 2]. `src` is uniform per workgroup.
fn hPrevAt(src: u32, i: u32) -> f32 {
  if (src == 0u) { return h0[i]; }
  if (src == 1u) { return state0[i]; }
  return state1[i];
}

// One input of the matvec: k-th feature of batch row r (`base[r]` + k), from h_{t−1} (`fromSeq`
// false) or from the layer below's output in `seqs`.
fn inputAt(fromSeq: bool, src: u32, i: u32) -> f32 {
  if (fromSeq) { return seqs[i]; }
  return hPrevAt(src, i);
}

// Σₖ in[r, k] · (W[0·H + j, k], W[1·H + j, k], W[2·H + j, k], W[3·H + j, k]) for r < rows (gates ≥ G are 0).
fn matvec(w0: u32, j: u32, fromSeq: bool, src: u32, base: array<u32, 8>, rows: u32) -> array<vec4<f32>, 8> {
  var acc: array<vec4<f32>, 8>;
  let H = params.hidden;
  let G = gateCount();
  if (VEC) {
    let q = H >> 2u;
    for (var k4 = 0u; k4 < q; k4++) {
      var w: array<vec4<f32>, 4>;
      for (var g = 0u; g < G; g++) { w[g] = weights[((w0 + (g * H + j) * H) >> 2u) + k4]; }
      for (var r = 0u; r < BT; r++) {
        if (r < rows) {
          let i = base[r] + 4u * k4;
          let x = vec4<f32>(inputAt(fromSeq, src, i), inputAt(fromSeq, src, i + 1u),
                            inputAt(fromSeq, src, i + 2u), inputAt(fromSeq, src, i + 3u));
          acc[r] += vec4<f32>(dot(x, w[0]), dot(x, w[1]), dot(x, w[2]), dot(x, w[3]));
        }
      }
    }
  } else {
    for (var k = 0u; k < H; k++) {
      var w = vec4<f32>(0.0);
      for (var g = 0u; g < G; g++) { w[g] = weightAt(w0 + (g * H + j) * H + k); }
      for (var r = 0u; r < BT; r++) {
        if (r < rows) { acc[r] += inputAt(fromSeq, src, base[r] + k) * w; }
      }
    }
  }
  return acc;
}

fn bias(b0: u32, j: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  if (!BIAS) { return v; }
  let H = params.hidden;
  for (var g = 0u; g < gateCount(); g++) { v[g] = weightAt(b0 + g * H + j); }
  return v;
}

// (W_ih, W_hh, b_ih, b_hh) of layer l: element offsets in `weights`.
fn layerOffsets(l: u32) -> vec4<u32> {
  let i = params.layersBase + 4u * l;
  return vec4<u32>(bitcast<u32>(xproj[i]), bitcast<u32>(xproj[i + 1u]), bitcast<u32>(xproj[i + 2u]),
                   bitcast<u32>(xproj[i + 3u]));
}

fn rowLength(b: u32) -> u32 {
  return u32(bitcast<i32>(c[params.lengthsBase + b]));
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let H = params.hidden;
  let B = params.batch;
  let l = params.layerLo + wid.z;
  let t = params.wave - l;
  let j = wid.x * WG + lid.x;
  let b0 = wid.y * BT;
  if (j >= H) { return; }
  let rows = min(BT, B - b0);
  let off = layerOffsets(l);
  let G = gateCount();
  let src = select(select(2u, 1u, (t & 1u) == 1u), 0u, t == 0u);
  var stateRow: array<u32, 8>;   // [b, 0] of layer l in the [L, B, H] state buffers
  var seqRow: array<u32, 8>;     // (t, b) row of the sequence buffers
  var belowRow: array<u32, 8>;   // [t, b, 0] of the layer below's output in `seqs`
  for (var r = 0u; r < BT; r++) {
    let b = b0 + r;
    stateRow[r] = (l * B + b) * H;
    seqRow[r] = t * params.rowStrideT + b * params.rowStrideB;
    belowRow[r] = ((l + 1u) & 1u) * params.seqSlot + seqRow[r] * H;
  }
  let u = matvec(off.y, j, false, src, stateRow, rows);
  var a: array<vec4<f32>, 8>;
  if (l > 0u) { a = matvec(off.x, j, true, src, belowRow, rows); }
  let bhh = bias(off.w, j);
  let bih = bias(off.z, j);
  let top = l + 1u == params.numLayers;
  for (var r = 0u; r < BT; r++) {
    if (r >= rows) { break; }
    let b = b0 + r;
    let s = stateRow[r] + j;
    let hp = hPrevAt(src, s);
    let out = select(((l & 1u) * params.seqSlot) + seqRow[r] * H + j, seqRow[r] * H + j, top);
    var h = hp;
    var y = 0.0;
    if (!(LENGTHS && t >= rowLength(b))) {
      var x = vec4<f32>(0.0);
      if (l == 0u) {
        let xi = seqRow[r] * G * H + j;
        for (var g = 0u; g < G; g++) { x[g] = xproj[xi + g * H]; }
      } else {
        x = a[r] + bih;
      }
      let hh = u[r] + bhh;
      if (CELL == 1u) {
        let pre = hh + x;
        let i = gate_act(pre.x, GATE_ACT);
        let f = gate_act(pre.y, GATE_ACT);
        let g = tanh_safe(pre.z);
        let o = gate_act(pre.w, GATE_ACT);
        let cNew = f * c[s] + i * g;
        c[s] = cNew;
        h = o * tanh_safe(cNew);
      } else if (CELL == 2u) {
        let rg = gate_act(x.x + hh.x, GATE_ACT);
        let z = gate_act(x.y + hh.y, GATE_ACT);
        let n = tanh_safe(x.z + rg * hh.z);
        h = (1.0 - z) * n + z * hp;
      } else {
        h = activate(hh.x + x.x, ACT);
      }
      y = h;
    }
    if (top) { output[out] = y; } else { seqs[out] = y; }
    if ((t & 1u) == 0u) { state0[s] = h; } else { state1[s] = h; }
  }
}
