// backward_enable_subgroups.wgsl: a cell-step backward kernel whose quads share their gate loads
// (backward_gates_subgroups.wgsl) needs the subgroups extension, a device feature. Its quad
// broadcasts run where every thread of the workgroup is (backwardSteps' unit loop is the same for
// all of them: the step's `params` is one value per dispatch), which WGSL's uniformity analysis
// cannot see through the private `params`: its subgroup rule is off.
enable subgroups;
diagnostic(off, subgroup_uniformity);
