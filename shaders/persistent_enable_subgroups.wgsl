// persistent_enable_subgroups.wgsl: recurrent_persistent.wgsl with subgroup split-K sums (see
// persistent_split_subgroups.wgsl) needs the subgroups extension, a device feature.
enable subgroups;
