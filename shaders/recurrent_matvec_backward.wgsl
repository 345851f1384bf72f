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
fn dhFromNextQuad(j4: u32, b0: u32) -> array<vec4<f32>, 8> {
  var acc: array<vec4<f32>, 8>;
  for (var r = 0u; r < 8u; r++) { acc[r] = vec4<f32>(0.0); } // explicit: see recurrent_persistent.wgsl
  let H = params.hidden;
  let rows = min(BT, params.batch - b0);
  if (params.first != 0u) {
    for (var r = 0u; r < BT; r++) {
      if (r < rows) {
        let i = params.stateOffset + (b0 + r) * H + j4;
        acc[r] = vec4<f32>(dhN[i], dhN[i + 1u], dhN[i + 2u], dhN[i + 3u]);
      }
    }
    return acc;
  }
  let width = DG_WIDTH * H;
  let hv = H >> 2u;        // vec4s per row of W_hh
  let gs = H * hv;         // vec4s per gate block of W_hh (H rows)
  let blk = GATE_BLOCKS * H;
  for (var u = 0u; u < H; u += 4u) {
    let w = (u * H + j4) >> 2u;   // gate 0, row u, columns j4 … j4+3
    if (GATES == 1u) {
      let w0 = Wb[w];
      let w1 = Wb[w + hv];
      let w2 = Wb[w + 2u * hv];
      let w3 = Wb[w + 3u * hv];
      for (var r = 0u; r < BT; r++) {
        if (r < rows) {
          let d = dgates[(nextDg(b0 + r, width) + u) >> 2u];
          acc[r] += d.x * w0 + d.y * w1 + d.z * w2 + d.w * w3;
        }
      }
      continue;
    }
    // Rows u … u+3 of gates 0, 1, 2 (and 3: an LSTM's o).
    let a0 = Wb[w];
    let a1 = Wb[w + hv];
    let a2 = Wb[w + 2u * hv];
    let a3 = Wb[w + 3u * hv];
    let b0w = Wb[w + gs];
    let b1w = Wb[w + gs + hv];
    let b2w = Wb[w + gs + 2u * hv];
    let b3w = Wb[w + gs + 3u * hv];
    let c0 = Wb[w + 2u * gs];
    let c1 = Wb[w + 2u * gs + hv];
    let c2 = Wb[w + 2u * gs + 2u * hv];
    let c3 = Wb[w + 2u * gs + 3u * hv];
    var e0 = vec4<f32>(0.0);
    var e1 = vec4<f32>(0.0);
    var e2 = vec4<f32>(0.0);
    var e3 = vec4<f32>(0.0);
    if (GATES == 4u) {
      e0 = Wb[w + 3u * gs];
      e1 = Wb[w + 3u * gs + hv];
      e2 = Wb[w + 3u * gs + 2u * hv];
      e3 = Wb[w + 3u * gs + 3u * hv];
    }
    for (var r = 0u; r < BT; r++) {
      if (r < rows) {
        let base = nextDg(b0 + r, width) + u;
        let g0 = dgates[(base + blk.x) >> 2u];   // gate 0 of units u … u+3
        let g1 = dgates[(base + blk.y) >> 2u];
        let g2 = dgates[(base + blk.z) >> 2u];
        var s0 = g0.x * a0 + g1.x * b0w + g2.x * c0;
        var s1 = g0.y * a1 + g1.y * b1w + g2.y * c1;
        var s2 = g0.z * a2 + g1.z * b2w + g2.z * c2;
        var s3 = g0.w * a3 + g1.w * b3w + g2.w * c3;
        if (GATES == 4u) {
          let g3 = dgates[(base + blk.w) >> 2u];
          s0 += g3.x * e0;
          s1 += g3.y * e1;
          s2 += g3.z * e2;
          s3 += g3.w * e3;
        }
        acc[r] += s0 + s1 + s2 + s3;
      }
    }
  }
  return acc;
}
