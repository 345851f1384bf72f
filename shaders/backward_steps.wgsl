// backward_steps.wgsl — the loop of the cell-step backward kernels over steps and units, called by
// their entry points (included last; the including kernel declares `slot`, `steps`, the private
// `params`, WG, BT, PERSISTENT, QUAD, `fn backwardUnit(j, b0)` and `fn cellBackward(j, b0, dhr)`).
//
// Per step (PERSISTENT off): one dispatch is one step, its BackwardParams in the uniform `slot`;
// grid (⌈H / WG⌉, ⌈B / BT⌉), one unit per thread.
// Persistent: one dispatch is a chunk of steps, their BackwardParams in `steps` (in the order
// processed); grid (1, ⌈B / BT⌉): each workgroup loops over the steps and over every unit of its
// rows (j += WG), so the dgates row of the step before holds its own writes, made visible by a
// storageBarrier() after each step. Rows never read each other's dgates: no cross-workgroup sync.

// QUAD (recurrent_matvec_backward.wgsl): a thread takes 4 consecutive units, j = 4·(its index),
// and runs the cell's backward of each with its share of one dhFromNextQuad. Every thread of the
// workgroup runs dhFromNextQuad together (its gate reads may be shared by a quad): a thread past
// the last unit computes the last 4 units' sums and writes nothing.
fn backwardQuad(j4: u32, b0: u32, qp: u32) {
  let H = params.hidden;
  let q = dhFromNextQuad(min(j4, H - 4u), b0, qp);
  if (j4 >= H) { return; }
  for (var c = 0u; c < 4u; c++) {
    var dhr: array<f32, 8>;
    for (var r = 0u; r < 8u; r++) { dhr[r] = q[r][c]; }
    cellBackward(j4 + c, b0, dhr);
  }
}

fn backwardSteps(lid: u32, wid: vec3<u32>, groups: u32) {
  let count = select(1u, arrayLength(&steps), PERSISTENT);
  let qp = quadPosition(lid);
  for (var s = 0u; s < count; s++) {
    if (PERSISTENT) { params = steps[s]; } else { params = slot; }
    if (QUAD) {
      // The workgroup's first unit, the same for all its threads (their loop runs in step).
      for (var first = 4u * wid.x * WG; first < params.hidden; first += 4u * WG * groups) {
        backwardQuad(first + 4u * lid, wid.y * BT, qp);
      }
    } else {
      for (var j = wid.x * WG + lid; j < params.hidden; j += WG * groups) {
        backwardUnit(j, wid.y * BT);
      }
    }
    if (PERSISTENT) { storageBarrier(); }
  }
}
