// backward_enable.wgsl: the extensions a cell-step backward kernel enables (included first).
// This variant enables none; backward_enable_subgroups.wgsl enables subgroups for backward_gates_subgroups.wgsl.
