// step_rows_subgroups.wgsl — step_rows.wgsl's read of the BT rows of h_{t−1} shared by the 4
// threads of a quad (which read the same rows): the thread at quad position p loads rows p and
// p + 4 (the second only when BT > 4) and quadBroadcast hands each row to the other three — 1 or
// 2 vec4 loads per thread per k-block instead of BT. On a software adapter (SwiftShader) a load
// whose address the compiler cannot prove uniform is a gather lane by lane, a broadcast a register
// shuffle (backward_gates_subgroups.wgsl does the same for the BPTT steps). Needs subgroups at
// least 4 wide (the host checks) and every thread of the quad present (step_thread.wgsl).

struct RowBases { h0: u32, h1: u32, h2: u32, h3: u32, h4: u32, h5: u32, h6: u32, h7: u32 }
struct QuadRows { h0: vec4<f32>, h1: vec4<f32>, h2: vec4<f32>, h3: vec4<f32>,
                  h4: vec4<f32>, h5: vec4<f32>, h6: vec4<f32>, h7: vec4<f32> }

// A thread's position in its quad, found by broadcasting `lid` (distinct per thread): the mapping of
// threads to subgroup lanes is the device's, the position is what quadBroadcast indexes.
fn quadPosition(lid: u32) -> u32 {
  let l0 = quadBroadcast(lid, 0u);
  let l1 = quadBroadcast(lid, 1u);
  let l2 = quadBroadcast(lid, 2u);
  return select(select(select(3u, 2u, l2 == lid), 1u, l1 == lid), 0u, l0 == lid);
}

// This thread's two rows: h0 = row qp, h1 = row qp + 4 (the other fields unused).
fn rowBases(b0: u32, qp: u32) -> RowBases {
  var r: RowBases;
  r.h0 = hRowVec4(b0 + qp);
  r.h1 = hRowVec4(b0 + 4u + qp);
  return r;
}

fn quadRows(r: RowBases, kv: u32) -> QuadRows {
  let own = hprev[r.h0 + kv];
  var q: QuadRows;
  q.h0 = quadBroadcast(own, 0u);
  q.h1 = quadBroadcast(own, 1u);
  q.h2 = quadBroadcast(own, 2u);
  q.h3 = quadBroadcast(own, 3u);
  if (BT > 4u) {
    let own4 = hprev[r.h1 + kv];
    q.h4 = quadBroadcast(own4, 0u);
    q.h5 = quadBroadcast(own4, 1u);
    q.h6 = quadBroadcast(own4, 2u);
    q.h7 = quadBroadcast(own4, 3u);
  }
  return q;
}
