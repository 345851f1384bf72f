// backward_steps.wgsl — the loop of the cell-step backward kernels over steps and units, called by
// their entry points (included last; the including kernel declares `slot`, `steps`, the private
// `params`, WG, BT, PERSISTENT and `fn backwardUnit(j, b0)`).
//
// Per step (PERSISTENT off): one dispatch is one step, its BackwardParams in the uniform `slot`;
// grid (⌈H / WG⌉, ⌈B / BT⌉), one unit per thread.
// Persistent: one dispatch is a chunk of steps, their BackwardParams in `steps` (in the order
// processed); grid (1, ⌈B / BT⌉): each workgroup loops over the steps and over every unit of its
// rows (j += WG), so the dgates row of the step before holds its own writes, made visible by a
// storageBarrier() after each step. Rows never read each other's dgates: no cross-workgroup sync.

fn backwardSteps(lid: u32, wid: vec3<u32>, groups: u32) {
  let count = select(1u, arrayLength(&steps), PERSISTENT);
  for (var s = 0u; s < count; s++) {
    if (PERSISTENT) { params = steps[s]; } else { params = slot; }
    for (var j = wid.x * WG + lid; j < params.hidden; j += WG * groups) {
      backwardUnit(j, wid.y * BT);
    }
    if (PERSISTENT) { storageBarrier(); }
  }
}
