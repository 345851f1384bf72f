// recurrent_matvec_backward.wgsl — the recurrent part of dh_t shared by the cell-step backward
// kernels (included; the including kernel declares `params`, `Wb`, `dgates` (vec4-typed), `dhN`,
// and the constants DG_WIDTH, GATE_BLOCKS and RNN_PACK).
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
          let base = (params.nextRow0 + (b0 + r) * params.rowStrideB) * width + 4u * q;
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
          let base = (params.nextRow0 + (b0 + r) * params.rowStrideB) * width + u;
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
          let base = (params.nextRow0 + (b0 + r) * params.rowStrideB) * width + u;
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
