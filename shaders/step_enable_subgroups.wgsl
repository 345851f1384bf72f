// step_enable_subgroups.wgsl: an LSTM / GRU step kernel whose quads share their loads of h_{t−1}
// (step_rows_subgroups.wgsl) needs the subgroups extension, a device feature.
enable subgroups;
