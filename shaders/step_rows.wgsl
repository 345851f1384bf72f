// step_rows.wgsl — how recurrentMatvecQuadN (recurrent_matvec.wgsl) reads the BT batch rows of
// h_{t−1} at one k-block: row r's vec4 hprev[h_r + kv]. Every thread of the workgroup reads the
// same rows: here each loads all BT of them. step_rows_subgroups.wgsl is the same read shared by
// the 4 threads of a quad.

// Where each row's h_{t−1} starts (vec4 index; hRowVec4, rows past the batch: its last row).
struct RowBases { h0: u32, h1: u32, h2: u32, h3: u32, h4: u32, h5: u32, h6: u32, h7: u32 }
// Rows b0 … b0 + 7 of h_{t−1} at one k-block (those past BT unset and unread).
struct QuadRows { h0: vec4<f32>, h1: vec4<f32>, h2: vec4<f32>, h3: vec4<f32>,
                  h4: vec4<f32>, h5: vec4<f32>, h6: vec4<f32>, h7: vec4<f32> }

// A thread's position in its quad (unused here).
fn quadPosition(lid: u32) -> u32 {
  return 0u;
}

fn rowBases(b0: u32, qp: u32) -> RowBases {
  return RowBases(hRowVec4(b0), hRowVec4(b0 + 1u), hRowVec4(b0 + 2u), hRowVec4(b0 + 3u), hRowVec4(b0 + 4u),
                  hRowVec4(b0 + 5u), hRowVec4(b0 + 6u), hRowVec4(b0 + 7u));
}

fn quadRows(r: RowBases, kv: u32) -> QuadRows {
  var q: QuadRows;
  q.h0 = hprev[r.h0 + kv];
  if (BT > 1u) { q.h1 = hprev[r.h1 + kv]; }
  if (BT > 2u) { q.h2 = hprev[r.h2 + kv]; }
  if (BT > 3u) { q.h3 = hprev[r.h3 + kv]; }
  if (BT > 4u) { q.h4 = hprev[r.h4 + kv]; }
  if (BT > 5u) { q.h5 = hprev[r.h5 + kv]; }
  if (BT > 6u) { q.h6 = hprev[r.h6 + kv]; }
  if (BT > 7u) { q.h7 = hprev[r.h7 + kv]; }
  return q;
}
