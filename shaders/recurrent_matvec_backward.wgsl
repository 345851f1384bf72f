// recurrent_matvec_backward.wgsl — the recurrent part of dh_t shared by the cell-step backward
// kernels (included; the including kernel declares `params`, `Wb`, `dgates` (vec4-typed), `dhN`,
// and the constants DG_WIDTH, GATES, GATE_BLOCKS and RNN_PACK).
//
//   acc[r] = Σ_{gate g, unit u} dgates_{t'}[b0 + r, block_g·H + u] · W_hh[g·H + u, j]     r < BT
//
// i.e. the gradient reaching h_t through the pre-activations of the step processed before
// (t' = t+1 forward). On the first step processed there is no t': acc = dhN.
// Wb is W_hh repacked for this product — the vec4 transpose of the forward's Wp:
//   LSTM/GRU: Wb[u, j] = (W[0·H+u, j], W[1·H+u, j], W[2·H+u, j], W[3·H+u, j])   (GRU: 4th = 0)
//   RNN (RNN_PACK): Wb[q, j] = (W[4q, j], W[4q+1, j], W[4q+2, j], W[4q+3, j])
// so consecutive threads (j) read consecutive vec4s, and with VEC_H the dgates of 4 consecutive
// units of one gate are one vec4 (the same for every thread of the workgroup: a broadcast).
// Per 4 units: 4 vec4 loads of Wb, 4 of dgates, 16 FMAs — the forward's loop shape.
// With an LSTM's projection (PROJ = P > 0) h has P features: j < P, Wb is [H, P]
// (Wb[u, j] at u·P + j) and dhN is [L·D, B, P] (this block at (stateOffset / hidden)·P).

override WG: u32 = 64u;        // threads per workgroup, one hidden unit each
override BT: u32 = 4u;         // batch rows per thread, 1 … 8
override VEC_H: bool = false;  // hidden % 4 == 0: dgates rows load as vec4
override PROJ: u32 = 0u;       // LSTM projection size P, 0 = none
// QUAD (hidden % 4 == 0, no PROJ): each thread computes 4 consecutive units j … j+3 (dhFromNextQuad),
// `Wb` bound to W_hh in PyTorch's layout [GATES·H, H] (no repack), so every dgates load serves 4
// units: per 4 units u of a gate, 4 vec4 loads of W_hh and one vec4 of dgates per row, 64 FMAs
// per row — a quarter of the dgates loads of the unit-per-thread loop above.
override QUAD: bool = false;

// Start of batch row b's dgates row of the step processed before (`width` columns per row).
fn nextDg(b: u32, width: u32) -> u32 {
  return (params.nextRow0 + b * params.rowStrideB) * width;
}

fn dgAt(i: u32) -> f32 {
  return dgates[i >> 2u][i & 3u];
}

fn dhFromNext(j: u32, b0: u32) -> array<f32, 8> {
  var acc: array<f32, 8>;
  for (var r = 0u; r < 8u; r++) { acc[r] = 0.0; } // explicit: see recurrent_persistent.wgsl
  let H = params.hidden;
  let rows = min(BT, params.batch - b0);
  // K: features of h (the row length of Wb and dhN).
  let K = select(H, PROJ, PROJ != 0u);
  let hBase = select(params.stateOffset, (params.stateOffset / H) * PROJ, PROJ != 0u);
  if (params.first != 0u) {
    for (var r = 0u; r < BT; r++) {
      if (r < rows) { acc[r] = dhN[hBase + (b0 + r) * K + j]; }
    }
    return acc;
  }
  let width = DG_WIDTH * H;
  let blk = GATE_BLOCKS * H;
  if (RNN_PACK) {
    for (var q = 0u; 4u * q < H; q++) {
      let w = Wb[q * H + j];
      for (var r = 0u; r < BT; r++) {
        if (r < rows) {
          let base = nextDg(b0 + r, width) + 4u * q;
          var dg: vec4<f32>;
          if (VEC_H) { dg = dgates[base >> 2u]; } else {
            for (var c = 0u; c < 4u; c++) { if (4u * q + c < H) { dg[c] = dgAt(base + c); } }
          }
          acc[r] += dot(dg, w);
        }
      }
    }
    return acc;
  }
  if (VEC_H) {
    for (var u = 0u; u < H; u += 4u) {
      let w0 = Wb[u * K + j];
      let w1 = Wb[(u + 1u) * K + j];
      let w2 = Wb[(u + 2u) * K + j];
      let w3 = Wb[(u + 3u) * K + j];
      for (var r = 0u; r < BT; r++) {
        if (r < rows) {
          let base = nextDg(b0 + r, width) + u;
          let g0 = dgates[(base + blk.x) >> 2u];   // gate 0 of units u … u+3
          let g1 = dgates[(base + blk.y) >> 2u];
          let g2 = dgates[(base + blk.z) >> 2u];
          let g3 = dgates[(base + blk.w) >> 2u];
          acc[r] += dot(vec4<f32>(g0.x, g1.x, g2.x, g3.x), w0) + dot(vec4<f32>(g0.y, g1.y, g2.y, g3.y), w1)
                  + dot(vec4<f32>(g0.z, g1.z, g2.z, g3.z), w2) + dot(vec4<f32>(g0.w, g1.w, g2.w, g3.w), w3);
        }
      }
    }
  } else {
    for (var u = 0u; u < H; u++) {
      let w = Wb[u * K + j];
      for (var r = 0u; r < BT; r++) {
        if (r < rows) {
          let base = nextDg(b0 + r, width) + u;
          acc[r] += dot(vec4<f32>(dgAt(base + blk.x), dgAt(base + blk.y), dgAt(base + blk.z), dgAt(base + blk.w)), w);
        }
      }
    }
  }
  return acc;
}

// dgates[i] = v (dgates is vec4-typed for the loads above).
fn setDg(i: u32, v: f32) {
  dgates[i >> 2u][i & 3u] = v;
}

// The four gate columns of one unit: dgates[at + k·H] = v[k], k < 4 (LSTM, GRU).
fn setDg4(at: u32, H: u32, v: vec4<f32>) {
  setDg(at, v.x);
  setDg(at + H, v.y);
  setDg(at + 2u * H, v.z);
  setDg(at + 3u * H, v.w);
}

// QUAD: acc[r] = dh_t[b0 + r, j4 … j4+3] = Σ_{gate g, unit u} dgates_{t'}[b0 + r, block_g·H + u] ·
// W_hh[g·H + u, j4 … j4+3] (W_hh in `Wb` as PyTorch stores it, [GATES·H, H], vec4 along j); dhN on
// the first step processed. The terms are added in the order of the unit-per-thread loop above
// (per 4 units: each unit's gates i, f, g, o, then the 4 units), so both give the same bits.
// The row sums are named vec4s s0 … s7, never an array indexed by a loop variable (SwiftShader keeps
// such an array in memory and loads / stores it at every `+=`; recurrent_matvec.wgsl): rows past BT
// are constant-folded away, rows past the batch (its last row group) recompute its last row, and
// cellBackward uses none of them.
// `qp`: the thread's quad position (backward_gates*.wgsl's quadPosition); called by every thread of
// the workgroup at once (the gate reads may be shared across a quad).
fn dhFromNextQuad(j4: u32, b0: u32, qp: u32) -> array<vec4<f32>, 8> {
  let H = params.hidden;
  if (params.first != 0u) {
    var acc: array<vec4<f32>, 8>;
    for (var r = 0u; r < 8u; r++) { acc[r] = vec4<f32>(0.0); } // explicit: see recurrent_persistent.wgsl
    let rows = min(BT, params.batch - b0);
    for (var r = 0u; r < BT; r++) {
      if (r < rows) {
        let i = params.stateOffset + (b0 + r) * H + j4;
        acc[r] = vec4<f32>(dhN[i], dhN[i + 1u], dhN[i + 2u], dhN[i + 3u]);
      }
    }
    return acc;
  }
  let width = DG_WIDTH * H;
  let last = params.batch - 1u;
  // Start of each row's dgates row of the step processed before (rows past the batch: its last).
  let d0 = nextDg(b0, width);
  let d1 = nextDg(min(b0 + 1u, last), width);
  let d2 = nextDg(min(b0 + 2u, last), width);
  let d3 = nextDg(min(b0 + 3u, last), width);
  let d4 = nextDg(min(b0 + 4u, last), width);
  let d5 = nextDg(min(b0 + 5u, last), width);
  let d6 = nextDg(min(b0 + 6u, last), width);
  let d7 = nextDg(min(b0 + 7u, last), width);
  var s0 = vec4<f32>(0.0);
  var s1 = vec4<f32>(0.0);
  var s2 = vec4<f32>(0.0);
  var s3 = vec4<f32>(0.0);
  var s4 = vec4<f32>(0.0);
  var s5 = vec4<f32>(0.0);
  var s6 = vec4<f32>(0.0);
  var s7 = vec4<f32>(0.0);
  for (var u = 0u; u < H; u += 4u) {
    let w = quadBackWeights(u, j4);
    s0 += quadBackTerms(d0 + u, w, qp);
    if (BT > 1u) { s1 += quadBackTerms(d1 + u, w, qp); }
    if (BT > 2u) { s2 += quadBackTerms(d2 + u, w, qp); }
    if (BT > 3u) { s3 += quadBackTerms(d3 + u, w, qp); }
    if (BT > 4u) { s4 += quadBackTerms(d4 + u, w, qp); }
    if (BT > 5u) { s5 += quadBackTerms(d5 + u, w, qp); }
    if (BT > 6u) { s6 += quadBackTerms(d6 + u, w, qp); }
    if (BT > 7u) { s7 += quadBackTerms(d7 + u, w, qp); }
  }
  return array<vec4<f32>, 8>(s0, s1, s2, s3, s4, s5, s6, s7);
}

// Rows u … u+3 of each gate's block of W_hh at columns j4 … j4+3: g0 (gate 0: a0 … a3), g1, g2, g3
// (an LSTM's o; zeros for a GRU; GATES = 1: only g0).
struct QuadBackWeights { g0: mat4x4<f32>, g1: mat4x4<f32>, g2: mat4x4<f32>, g3: mat4x4<f32> }

fn quadBackWeights(u: u32, j4: u32) -> QuadBackWeights {
  let hv = params.hidden >> 2u;           // vec4s per row of W_hh
  let gs = params.hidden * hv;            // vec4s per gate block of W_hh (H rows)
  let w = (u * params.hidden + j4) >> 2u; // gate 0, row u, columns j4 … j4+3
  var q: QuadBackWeights;
  q.g0 = mat4x4<f32>(Wb[w], Wb[w + hv], Wb[w + 2u * hv], Wb[w + 3u * hv]);
  if (GATES == 1u) { return q; }
  q.g1 = mat4x4<f32>(Wb[w + gs], Wb[w + gs + hv], Wb[w + gs + 2u * hv], Wb[w + gs + 3u * hv]);
  let w2 = w + 2u * gs;
  q.g2 = mat4x4<f32>(Wb[w2], Wb[w2 + hv], Wb[w2 + 2u * hv], Wb[w2 + 3u * hv]);
  if (GATES == 4u) {
    let w3 = w + 3u * gs;
    q.g3 = mat4x4<f32>(Wb[w3], Wb[w3 + hv], Wb[w3 + 2u * hv], Wb[w3 + 3u * hv]);
  }
  return q;
}

// One row's terms of units u … u+3 (its dgates row of the step before at `base` = row start + u);
// the gates' dgates read by quadGates (backward_gates.wgsl, or shared by a quad).
fn quadBackTerms(base: u32, w: QuadBackWeights, qp: u32) -> vec4<f32> {
  if (GATES == 1u) {
    let d = dgates[base >> 2u];
    return d.x * w.g0[0] + d.y * w.g0[1] + d.z * w.g0[2] + d.w * w.g0[3];
  }
  let g = quadGates(base, GATE_BLOCKS * params.hidden, qp);   // g.g0: gate 0 of units u … u+3
  var s0 = g.g0.x * w.g0[0] + g.g1.x * w.g1[0] + g.g2.x * w.g2[0];
  var s1 = g.g0.y * w.g0[1] + g.g1.y * w.g1[1] + g.g2.y * w.g2[1];
  var s2 = g.g0.z * w.g0[2] + g.g1.z * w.g1[2] + g.g2.z * w.g2[2];
  var s3 = g.g0.w * w.g0[3] + g.g1.w * w.g1[3] + g.g2.w * w.g2[3];
  if (GATES == 4u) {
    s0 += g.g3.x * w.g3[0];
    s1 += g.g3.y * w.g3[1];
    s2 += g.g3.z * w.g3[2];
    s3 += g.g3.w * w.g3[3];
  }
  return s0 + s1 + s2 + s3;
}
