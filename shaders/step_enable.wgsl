// step_enable.wgsl: the extensions an LSTM / GRU step kernel enables (included first). This
// variant enables none; step_enable_subgroups.wgsl enables subgroups for step_rows_subgroups.wgsl.
