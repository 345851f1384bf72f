// step_params.wgsl — the per-timestep uniform of the cell-step kernels (one slot per step,
// written once when a plan is built). Offsets and strides count f32 elements; "rows" are the
// (t, b) rows of every sequence buffer, in the caller's layout (time-major or batch-first).
// With per-row lengths (override LENGTHS), row b is padding at the steps t ≥ lengths[b]
// (PyTorch's packed sequences): the step keeps its state (h, c) and writes 0 to the output.
struct StepParams {
  batch: u32,
  hidden: u32,
  cols: u32,          // vec4 columns of Wp: hidden (LSTM, GRU) or ⌈hidden/4⌉ (RNN)
  xOffset: u32,       // xproj: (t, b = 0, column 0)
  xStrideB: u32,      // xproj: between batch rows
  hOffset: u32,       // hseq: (t, b = 0, unit 0) of this direction
  hStrideB: u32,      // hseq: between batch rows
  stateOffset: u32,   // hprev, hnext, c: this layer-direction's [batch, hidden] block
  row0: u32,          // training (SAVE): row of (t, b = 0) in the saved buffer
  rowStrideB: u32,    // training (SAVE): rows between batch entries
  hprevBase: u32,     // training (SAVE): start of the saved h_{t−1} section [rows, H]
  cprevBase: u32,     // training (SAVE, LSTM): start of the saved c_{t−1} section [rows, H]
  t: u32,             // LENGTHS: this slot's timestep
  lengthsBase: u32,   // LENGTHS, LSTM: element offset in `c` of the i32 lengths [batch] packed after the state
}
