// persistent_split_subgroups.wgsl — the split-K sum of persistent_split.wgsl with subgroup shuffles
// (a butterfly over the SPLIT lanes of a column, log2(SPLIT) steps, no barrier, no workgroup
// memory). Needs SPLIT ≤ the subgroup size (the host checks the adapter's minimum) and a column's
// lanes, consecutive invocations aligned to SPLIT, within one subgroup.

var<workgroup> red: array<vec4<f32>, RED>;   // unused here (RED = 1): one shape for both variants

fn splitSum(v: vec4<f32>, tid: u32) -> vec4<f32> {
  var s = v;
  for (var m = SPLIT / 2u; m > 0u; m = m / 2u) { s += subgroupShuffleXor(s, m); }
  return s;
}
