// persistent_enable.wgsl: the extensions recurrent_persistent.wgsl enables (included first).
// This variant enables none; persistent_enable_subgroups.wgsl enables subgroups for its split sums.
