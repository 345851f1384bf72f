// step_thread.wgsl — what one thread of an LSTM / GRU step kernel does (included by
// lstm_step.wgsl and gru_step.wgsl after recurrent_matvec.wgsl; the kernel defines
// unitStep(j, b0, acc), the step of unit j for the rows b0 … b0 + BT − 1 given their products).
//
//   one unit:  j = x·WG + lane,       acc = recurrentMatvec(j, b0)
//   QUAD:      j = 4·(x·WG + lane),   the units j … j+3 from one recurrentMatvecQuad(j, b0, qp)
//              (a GRU with ROWS: recurrentMatvecQuadRows)
// where x is the workgroup's column (grid x) and b0 = y·BT its first batch row (grid y).

fn stepThread(lane: u32, x: u32, y: u32) {
  let H = params.hidden;
  let b0 = y * BT;
  if (QUAD) {
    // Every thread of the workgroup runs the product (its row loads may be shared by a quad): a
    // thread past the last unit computes the last 4 units' sums and writes nothing.
    let qp = quadPosition(lane);
    let j = 4u * (x * WG + lane);
    let col = min(j, H - 4u);
    var q: Quad;
    if (ROWS) { q = recurrentMatvecQuadRows(col, b0, qp); } else { q = recurrentMatvecQuad(col, b0, qp); }
    if (j >= H) { return; }
    unitStep(j, b0, q.a);
    unitStep(j + 1u, b0, q.b);
    unitStep(j + 2u, b0, q.c);
    unitStep(j + 3u, b0, q.d);
    return;
  }
  let j = x * WG + lane;
  if (j >= H) { return; }
  unitStep(j, b0, recurrentMatvec(j, b0));
}
