// backward_params.wgsl — the per-timestep uniform of the cell-step backward kernels (one slot per
// step, written once when a training plan is built). Offsets count f32 elements; rows are the
// (t, b) rows of the sequence buffers in the caller's layout, as in step_params.wgsl.
struct BackwardParams {
  batch: u32,
  hidden: u32,
  row0: u32,          // row of (t, b = 0): saved activations and dgates of this step
  rowStrideB: u32,    // rows between batch entries
  nextRow0: u32,      // row of (t', b = 0) of the step processed just before (t' = t+1 forward, t−1 reverse)
  first: u32,         // 1 on the first step processed (t = T−1 forward, t = 0 reverse): dh comes from dhN
  doutOffset: u32,    // dout: (t, b = 0) of this direction's columns
  doutStrideB: u32,   // dout: between batch rows
  stateOffset: u32,   // dhN, carry: this layer-direction's [batch, hidden] block
  hprevBase: u32,     // saved: start of the h_{t−1} section
  cprevBase: u32,     // saved: start of the c_{t−1} section (LSTM)
}
