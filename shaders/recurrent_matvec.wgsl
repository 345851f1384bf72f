// recurrent_matvec.wgsl — the recurrent product shared by the cell-step kernels
// (included with `// #include "recurrent_matvec.wgsl"`; the including kernel declares the
// bindings `params`, `Wp`, `h0` and `hseq` used here).
//
//   acc[r] = Σₖ h_prev[b0 + r, k] · Wp[k, col]          r < BT, k < hidden
//
// Wp is W_hh repacked so that one vec4 holds what one thread needs per k (src/kernels/cellStep.ts):
// LSTM the 4 gates (i,f,g,o) of unit `col`, GRU the 3 gates (r,z,n, 0) of unit `col`, RNN the
// units 4·col … 4·col+3. Consecutive threads read consecutive vec4s (coalesced); every thread of
// a workgroup reads the same h_prev element (a broadcast). No workgroup memory, no barriers.
// h_prev is h0 on the first step of a sequence, else the previous step's row of hseq.

override WG: u32 = 64u;   // threads per workgroup, one vec4 column each
override BT: u32 = 4u;    // batch rows per thread, 1 … 8

fn recurrentMatvec(col: u32, b0: u32) -> array<vec4<f32>, 8> {
  var acc: array<vec4<f32>, 8>;
  let H = params.hidden;
  let rows = min(BT, params.batch - b0);
  if (params.first == 1u) {
    for (var k = 0u; k < H; k++) {
      let w = Wp[k * params.cols + col];
      for (var r = 0u; r < BT; r++) {
        if (r < rows) { acc[r] += h0[params.stateOffset + (b0 + r) * H + k] * w; }
      }
    }
  } else {
    for (var k = 0u; k < H; k++) {
      let w = Wp[k * params.cols + col];
      for (var r = 0u; r < BT; r++) {
        if (r < rows) { acc[r] += hseq[params.prevOffset + (b0 + r) * params.hStrideB + k] * w; }
      }
    }
  }
  return acc;
}

// h_prev[b, j], from the same place recurrentMatvec reads it.
fn hPrevAt(b: u32, j: u32) -> f32 {
  if (params.first == 1u) { return h0[params.stateOffset + b * params.hidden + j]; }
  return hseq[params.prevOffset + b * params.hStrideB + j];
}
