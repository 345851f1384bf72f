// backward_gates_subgroups.wgsl — backward_gates.wgsl's read of one row's gate gradients shared by
// the 4 threads of a quad (which read the same rows): the thread at quad position p loads gate p
// (a GRU's position 3 its gate 2 again) and quadBroadcast hands each gate to the other three —
// one vec4 load per thread instead of GATES. On a software adapter (SwiftShader) a load whose
// address the compiler cannot prove uniform is a gather lane by lane, and a broadcast a register
// shuffle (matmul_subgroups.wgsl; LSTM B32 H256 BPTT step on SwiftShader: bench/RESULTS.md).
// Needs subgroups at least 4 wide (the host checks) and every thread of the quad present.

struct QuadGates { g0: vec4<f32>, g1: vec4<f32>, g2: vec4<f32>, g3: vec4<f32> }

// A thread's position in its quad, found by broadcasting `lid` (distinct per thread): the mapping of
// threads to subgroup lanes is the device's, the position is what quadBroadcast indexes.
fn quadPosition(lid: u32) -> u32 {
  let l0 = quadBroadcast(lid, 0u);
  let l1 = quadBroadcast(lid, 1u);
  let l2 = quadBroadcast(lid, 2u);
  return select(select(select(3u, 2u, l2 == lid), 1u, l1 == lid), 0u, l0 == lid);
}

fn quadGates(base: u32, blk: vec4<u32>, qp: u32) -> QuadGates {
  let k = min(qp, GATES - 1u);
  let own = dgates[(base + select(select(select(blk.w, blk.z, k == 2u), blk.y, k == 1u), blk.x, k == 0u)) >> 2u];
  var g: QuadGates;
  g.g0 = quadBroadcast(own, 0u);
  g.g1 = quadBroadcast(own, 1u);
  g.g2 = quadBroadcast(own, 2u);
  if (GATES == 4u) { g.g3 = quadBroadcast(own, 3u); }
  return g;
}
