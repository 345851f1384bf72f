// backward_params.wgsl — the per-timestep uniform of the cell-step backward kernels (one slot per
// step, written once when a training plan is built). Offsets count f32 elements; rows are the
// (t, b) rows of the sequence buffers in the caller's layout, as in step_params.wgsl.
// With per-row lengths (override LENGTHS) the steps t ≥ lengths[b] of row b are padding: their
// dgates are 0 and dh (dc, the GRU carry) passes through them unchanged.
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
  t: u32,             // LENGTHS: this step's timestep
  reverse: u32,       // LENGTHS: 1 for the reverse direction (it ran t = T−1 … 0)
  firstRow0: u32,     // LENGTHS, reverse: dgates row where row b's first forward step (t = lengths[b]−1) is copied, at firstRow0 + b (for dh0)
}
