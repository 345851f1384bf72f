// recurrent_matvec_backward.wgsl — the recurrent part of dh_t shared by the cell-step backward
// kernels (included; the including kernel declares `params`, `Whh`, `dgates`, `dhN`, the
// constants GATES and DG_WIDTH, and `fn dgCol(k: u32, H: u32) -> u32`).
//
//   acc[r] = Σ_k dgates_{t'}[b0 + r, dgCol(k)] · W_hh[k, j]       k < GATES·H,  r < BT
//
// i.e. the gradient reaching h_t through the pre-activations of the step processed before
// (t' = t+1 forward). On the first step processed there is no t': acc = dhN (the gradient of
// the final state). W_hh is read in PyTorch's layout [GATES·H, H]: for a fixed k, consecutive
// threads read consecutive j (coalesced); the dgates value is the same for every thread of the
// workgroup (a broadcast). No workgroup memory, no barriers.

override WG: u32 = 64u;   // threads per workgroup, one hidden unit each
override BT: u32 = 4u;    // batch rows per thread, 1 … 8

fn dhFromNext(j: u32, b0: u32) -> array<f32, 8> {
  var acc: array<f32, 8>;
  let H = params.hidden;
  let rows = min(BT, params.batch - b0);
  if (params.first != 0u) {
    for (var r = 0u; r < BT; r++) {
      if (r < rows) { acc[r] = dhN[params.stateOffset + (b0 + r) * H + j]; }
    }
    return acc;
  }
  let width = DG_WIDTH * H;
  for (var k = 0u; k < GATES * H; k++) {
    let w = Whh[k * H + j];
    let col = dgCol(k, H);
    for (var r = 0u; r < BT; r++) {
      if (r < rows) {
        acc[r] += dgates[(params.nextRow0 + (b0 + r) * params.rowStrideB) * width + col] * w;
      }
    }
  }
  return acc;
}
