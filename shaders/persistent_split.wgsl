// persistent_split.wgsl — the sum over the SPLIT lanes of one W_hh column in recurrent_persistent.wgsl
// (split-K: lane i of a column sums k ≡ i mod SPLIT), through workgroup memory: every thread writes
// its partial to red[tid], a barrier, each sums its column's SPLIT slots. Two barriers per call;
// called in uniform control flow by every thread. SPLIT 1: no work, no barrier.
// persistent_split_subgroups.wgsl is the same sum with subgroup shuffles.

var<workgroup> red: array<vec4<f32>, RED>;

fn splitSum(v: vec4<f32>, tid: u32) -> vec4<f32> {
  if (SPLIT == 1u) { return v; }
  workgroupBarrier();   // the previous call's reads are done
  red[tid] = v;
  workgroupBarrier();
  let first = tid - tid % SPLIT;
  var s = vec4<f32>(0.0);
  for (var i = 0u; i < SPLIT; i++) { s += red[first + i]; }
  return s;
}
