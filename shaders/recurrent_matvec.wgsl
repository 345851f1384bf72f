// recurrent_matvec.wgsl — the recurrent product shared by the cell-step kernels
// (included with `// #include "recurrent_matvec.wgsl"`; the including kernel declares the
// bindings `params` and `hprev`, and includes recurrent_weights*.wgsl for `whh` / `whhScale`).
//
//   acc[r] = Σₖ h_prev[b0 + r, k] · Wp[k, col]          r < BT, k < hidden
//
// Wp is W_hh repacked so that one vec4 holds what one thread needs per k (src/kernels/cellStep.ts):
// LSTM the 4 gates (i,f,g,o) of unit `col`, GRU the 3 gates (r,z,n, 0) of unit `col`, RNN the
// units 4·col … 4·col+3. Consecutive threads read consecutive vec4s (coalesced); all threads of
// a workgroup read the same h_prev values (a broadcast), 4 k at a time as one vec4 when VEC_H.
// No workgroup memory, no barriers. h_prev (`hprev`) is h0 on a sequence's first step, else
// the state the previous step wrote (the plan ping-pongs two state buffers).
//
// With an LSTM's projection (PROJ = P > 0, PyTorch's proj_size) h has P features, not hidden:
// the sum runs over k < P, Wp is [P, cols] and the h state [L·D, B, P] starts at
// (stateOffset / hidden)·P (stateOffset indexes the [L·D, B, hidden] cell state).

override WG: u32 = 64u;        // threads per workgroup, one vec4 column each
override BT: u32 = 4u;         // batch rows per thread, 1 … 8
override VEC_H: bool = false;  // h size (hidden, or PROJ) % 4 == 0: h_prev rows load as vec4
override PROJ: u32 = 0u;       // LSTM projection size P, 0 = none (h has `hidden` features)
// QUAD (LSTM / GRU step kernels; VEC_H, no PROJ, cols % 4 = 0): each thread computes the columns
// col … col+3 (recurrentMatvecQuad), each h_prev load serving 4 columns.
override QUAD: bool = false;
// ROWS (with QUAD, a GRU step reading f32 weights): binding 1 holds W_hh as PyTorch stores it,
// [3H, H] row-major (the parameters themselves), not the repacked Wp: recurrentMatvecQuadRows
// reads a unit's 3 gate rows, 12 vec4 loads per 4 of k for 4 units instead of the repacked
// layout's 16 (whose 4th component is a GRU's zero). The sums run in recurrentMatvec's order.
override ROWS: bool = false;

// Features of h: PROJ when projecting, else hidden.
fn hSize() -> u32 {
  return select(params.hidden, PROJ, PROJ != 0u);
}

// Start of this layer-direction's [batch, hSize()] block of the h state.
fn hStateBase() -> u32 {
  if (PROJ == 0u) { return params.stateOffset; }
  return (params.stateOffset / params.hidden) * PROJ;
}

fn recurrentMatvec(col: u32, b0: u32) -> array<vec4<f32>, 8> {
  if (BT == 1u && VEC_H) { return recurrentMatvec1(col, b0); }
  var acc: array<vec4<f32>, 8>;
  let H = hSize();
  let C = params.cols;
  let rows = min(BT, params.batch - b0);
  let base = hStateBase() + b0 * H;
  if (VEC_H) {
    for (var k = 0u; k < H; k += 4u) {
      let w0 = whh(k, col);
      let w1 = whh(k + 1u, col);
      let w2 = whh(k + 2u, col);
      let w3 = whh(k + 3u, col);
      for (var r = 0u; r < BT; r++) {
        if (r < rows) {
          let h = hprev[(base + r * H + k) >> 2u];
          acc[r] += h.x * w0 + h.y * w1 + h.z * w2 + h.w * w3;
        }
      }
    }
  } else {
    for (var k = 0u; k < H; k++) {
      let w = whh(k, col);
      for (var r = 0u; r < BT; r++) {
        if (r < rows) {
          let i = base + r * H + k;
          acc[r] += hprev[i >> 2u][i & 3u] * w;
        }
      }
    }
  }
  let scale = whhScale(col);
  for (var r = 0u; r < BT; r++) { acc[r] *= scale; }
  return acc;
}

// BT = 1 with VEC_H: recurrentMatvec's sum in a named vec4 (see recurrentMatvecQuad1).
fn recurrentMatvec1(col: u32, b0: u32) -> array<vec4<f32>, 8> {
  let H = hSize();
  let hRow = (hStateBase() + b0 * H) >> 2u;
  var sum = vec4<f32>(0.0);
  for (var k = 0u; k < H; k += 4u) {
    let h = hprev[hRow + (k >> 2u)];
    sum += h.x * whh(k, col) + h.y * whh(k + 1u, col) + h.z * whh(k + 2u, col) + h.w * whh(k + 3u, col);
  }
  var acc: array<vec4<f32>, 8>;
  acc[0] = sum * whhScale(col);
  return acc;
}

// h_prev[b, j], j < hSize().
fn hPrevAt(b: u32, j: u32) -> f32 {
  let i = hStateBase() + b * hSize() + j;
  return hprev[i >> 2u][i & 3u];
}

// QUAD: the products of columns col … col+3 for rows b0 + r, r < BT (a for col, b col+1, c
// col+2, d col+3), each term added in recurrentMatvec's order (the same bits per column).
struct Quad {
  a: array<vec4<f32>, 8>,
  b: array<vec4<f32>, 8>,
  c: array<vec4<f32>, 8>,
  d: array<vec4<f32>, 8>,
}

// The sums are never an array indexed by a loop variable: SwiftShader keeps such an array in
// memory and loads / stores it on every `+=`; named values stay in registers. BT = 1: four named
// vec4s (recurrentMatvecQuad1; an LSTM B1 H256 step in Node 1.45 → 0.82 ms). BT > 1: one mat4x4
// per row, s0 … s7, whose column u is column col+u's sum (recurrentMatvecQuadN; LSTM B32 H256
// forward in Node 2.1–2.4 → 1.4–1.5 s). Rows past BT are constant-folded away; rows past the
// batch (its last row group) recompute its last row, and unitStep stores nothing for them.
fn recurrentMatvecQuad(col: u32, b0: u32, qp: u32) -> Quad {
  if (BT == 1u) { return recurrentMatvecQuad1(col, b0); }
  return recurrentMatvecQuadN(col, b0, qp);
}

// vec4 index of h_prev[min(b, batch − 1), 0].
fn hRowVec4(b: u32) -> u32 {
  let H = hSize();
  return (hStateBase() + min(b, params.batch - 1u) * H) >> 2u;
}

// Row r's sums as Quad's entries r, times the per-column scale.
fn setQuadRow(q: ptr<function, Quad>, r: u32, s: mat4x4<f32>, scale: mat4x4<f32>) {
  (*q).a[r] = s[0] * scale[0];
  (*q).b[r] = s[1] * scale[1];
  (*q).c[r] = s[2] * scale[2];
  (*q).d[r] = s[3] * scale[3];
}

fn quadFromRows(s: array<mat4x4<f32>, 8>, scale: mat4x4<f32>) -> Quad {
  var q: Quad;
  setQuadRow(&q, 0u, s[0], scale);
  if (BT > 1u) { setQuadRow(&q, 1u, s[1], scale); }
  if (BT > 2u) { setQuadRow(&q, 2u, s[2], scale); }
  if (BT > 3u) { setQuadRow(&q, 3u, s[3], scale); }
  if (BT > 4u) { setQuadRow(&q, 4u, s[4], scale); }
  if (BT > 5u) { setQuadRow(&q, 5u, s[5], scale); }
  if (BT > 6u) { setQuadRow(&q, 6u, s[6], scale); }
  if (BT > 7u) { setQuadRow(&q, 7u, s[7], scale); }
  return q;
}

// One k-block's terms h[k] · w[k] + … + h[k+3] · w[k+3] of one column (recurrentMatvec's order).
fn blockTerms(h: vec4<f32>, w: mat4x4<f32>) -> vec4<f32> {
  return h.x * w[0] + h.y * w[1] + h.z * w[2] + h.w * w[3];
}

// Column c's 4 vec4s at k … k+3.
fn columnWeights(k: u32, c: u32) -> mat4x4<f32> {
  return mat4x4<f32>(whh(k, c), whh(k + 1u, c), whh(k + 2u, c), whh(k + 3u, c));
}

// BT > 1: W_hh at k … k+3 for the units col … col+3 as 4 mat4x4s. Repacked (QUAD): w[u] column
// kk = unit col+u's 4 gates at k+kk. ROWS (GRU): w[0], w[1], w[2] = the r, z, n rows, column u
// = unit col+u's row at k … k+3; w[3] unused.
struct BlockWeights {
  w0: mat4x4<f32>,
  w1: mat4x4<f32>,
  w2: mat4x4<f32>,
  w3: mat4x4<f32>,
}

fn blockWeights(kv: u32, col: u32) -> BlockWeights {
  if (ROWS) {
    let rowVec4s = params.hidden >> 2u;
    let r0 = col * rowVec4s + kv;     // vec4 index of W_hh[col, k]
    let z0 = r0 + params.hidden * rowVec4s;
    let n0 = z0 + params.hidden * rowVec4s;
    return BlockWeights(gateRows(r0, rowVec4s), gateRows(z0, rowVec4s), gateRows(n0, rowVec4s), mat4x4<f32>());
  }
  let k = 4u * kv;
  return BlockWeights(columnWeights(k, col), columnWeights(k, col + 1u), columnWeights(k, col + 2u),
                      columnWeights(k, col + 3u));
}

// ROWS: 4 consecutive units' rows of one gate at one k-block (vec4 i, i + rowVec4s, …).
fn gateRows(i: u32, rowVec4s: u32) -> mat4x4<f32> {
  return mat4x4<f32>(whh(0u, i), whh(0u, i + rowVec4s), whh(0u, i + 2u * rowVec4s), whh(0u, i + 3u * rowVec4s));
}

// One unit's (r, z, n, 0) terms of this k-block (ROWS).
fn unitRowTerms(h: vec4<f32>, w: BlockWeights, u: u32) -> vec4<f32> {
  return vec4<f32>(rowTerms(h, w.w0[u]), rowTerms(h, w.w1[u]), rowTerms(h, w.w2[u]), 0.0);
}

// A row's 4 column sums plus this k-block's terms.
fn quadTerms(s: mat4x4<f32>, h: vec4<f32>, w: BlockWeights) -> mat4x4<f32> {
  if (ROWS) {
    return mat4x4<f32>(s[0] + unitRowTerms(h, w, 0u), s[1] + unitRowTerms(h, w, 1u), s[2] + unitRowTerms(h, w, 2u),
                       s[3] + unitRowTerms(h, w, 3u));
  }
  return mat4x4<f32>(s[0] + blockTerms(h, w.w0), s[1] + blockTerms(h, w.w1), s[2] + blockTerms(h, w.w2),
                     s[3] + blockTerms(h, w.w3));
}

// The rows of h_{t−1} come from quadRows (step_rows.wgsl, or shared by a quad: `qp` is the thread's
// quad position, and every thread of the workgroup calls this at once).
fn recurrentMatvecQuadN(col: u32, b0: u32, qp: u32) -> Quad {
  let rows = rowBases(b0, qp);
  var s0 = mat4x4<f32>();
  var s1 = mat4x4<f32>();
  var s2 = mat4x4<f32>();
  var s3 = mat4x4<f32>();
  var s4 = mat4x4<f32>();
  var s5 = mat4x4<f32>();
  var s6 = mat4x4<f32>();
  var s7 = mat4x4<f32>();
  for (var kv = 0u; kv < (hSize() >> 2u); kv++) {
    let w = blockWeights(kv, col);
    let h = quadRows(rows, kv);
    s0 = quadTerms(s0, h.h0, w);
    if (BT > 1u) { s1 = quadTerms(s1, h.h1, w); }
    if (BT > 2u) { s2 = quadTerms(s2, h.h2, w); }
    if (BT > 3u) { s3 = quadTerms(s3, h.h3, w); }
    if (BT > 4u) { s4 = quadTerms(s4, h.h4, w); }
    if (BT > 5u) { s5 = quadTerms(s5, h.h5, w); }
    if (BT > 6u) { s6 = quadTerms(s6, h.h6, w); }
    if (BT > 7u) { s7 = quadTerms(s7, h.h7, w); }
  }
  var scale = mat4x4<f32>(vec4<f32>(1.0), vec4<f32>(1.0), vec4<f32>(1.0), vec4<f32>(1.0));
  if (!ROWS) { scale = mat4x4<f32>(whhScale(col), whhScale(col + 1u), whhScale(col + 2u), whhScale(col + 3u)); }
  return quadFromRows(array<mat4x4<f32>, 8>(s0, s1, s2, s3, s4, s5, s6, s7), scale);
}

// BT = 1 (one batch row per thread: batch 1, or a forced tile): recurrentMatvecQuad with its 4
// sums in named vec4s, kept apart from recurrentMatvecQuadN because its BlockWeights / mat4x4 form
// measured slower at BT = 1 (LSTM B1 forward in Node 108 → 155 ms). The same terms, same order.
fn recurrentMatvecQuad1(col: u32, b0: u32) -> Quad {
  let H = hSize();
  let hRow = (hStateBase() + b0 * H) >> 2u;   // vec4 index of h_prev[b0, 0]
  var a = vec4<f32>(0.0);
  var b = vec4<f32>(0.0);
  var c = vec4<f32>(0.0);
  var d = vec4<f32>(0.0);
  for (var k = 0u; k < H; k += 4u) {
    let h = hprev[hRow + (k >> 2u)];
    a += h.x * whh(k, col) + h.y * whh(k + 1u, col) + h.z * whh(k + 2u, col) + h.w * whh(k + 3u, col);
    b += h.x * whh(k, col + 1u) + h.y * whh(k + 1u, col + 1u) + h.z * whh(k + 2u, col + 1u)
      + h.w * whh(k + 3u, col + 1u);
    c += h.x * whh(k, col + 2u) + h.y * whh(k + 1u, col + 2u) + h.z * whh(k + 2u, col + 2u)
      + h.w * whh(k + 3u, col + 2u);
    d += h.x * whh(k, col + 3u) + h.y * whh(k + 1u, col + 3u) + h.z * whh(k + 2u, col + 3u)
      + h.w * whh(k + 3u, col + 3u);
  }
  var q: Quad;
  q.a[0] = a * whhScale(col);
  q.b[0] = b * whhScale(col + 1u);
  q.c[0] = c * whhScale(col + 2u);
  q.d[0] = d * whhScale(col + 3u);
  return q;
}

// ROWS: the 4 terms h[k] · w[k] … h[k+3] · w[k+3] of one W_hh row's product, in recurrentMatvec's order.
fn rowTerms(h: vec4<f32>, w: vec4<f32>) -> f32 {
  return h.x * w.x + h.y * w.y + h.z * w.z + h.w * w.w;
}

// ROWS (GRU): recurrentMatvecQuad's products from W_hh in PyTorch's layout, row g·H + j read as
// vec4s along k: whh(0, i) is the bound buffer's vec4 i (f32 only: the host sets ROWS with the
// parameters bound, never a quantized copy). q.a[r] = (r, z, n, 0) gate sums of unit col, etc.
fn recurrentMatvecQuadRows(col: u32, b0: u32, qp: u32) -> Quad {
  if (BT == 1u) { return recurrentMatvecQuadRows1(col, b0); }
  return recurrentMatvecQuadN(col, b0, qp);
}

// BT = 1: recurrentMatvecQuadRows with its sums in named vec4s (see recurrentMatvecQuad1).
fn recurrentMatvecQuadRows1(col: u32, b0: u32) -> Quad {
  let H = params.hidden;
  let rowVec4s = H >> 2u;
  let hRow = (hStateBase() + b0 * H) >> 2u;
  let r0 = col * rowVec4s;             // vec4 index of W_hh[col, 0]: the reset gate's row of unit col
  let z0 = r0 + H * rowVec4s;          // W_hh[H + col, 0]
  let n0 = z0 + H * rowVec4s;          // W_hh[2H + col, 0]
  var a = vec4<f32>(0.0);
  var b = vec4<f32>(0.0);
  var c = vec4<f32>(0.0);
  var d = vec4<f32>(0.0);
  for (var kv = 0u; kv < rowVec4s; kv++) {
    let h = hprev[hRow + kv];
    a += vec4<f32>(rowTerms(h, whh(0u, r0 + kv)), rowTerms(h, whh(0u, z0 + kv)), rowTerms(h, whh(0u, n0 + kv)), 0.0);
    let o1 = rowVec4s + kv;
    b += vec4<f32>(rowTerms(h, whh(0u, r0 + o1)), rowTerms(h, whh(0u, z0 + o1)), rowTerms(h, whh(0u, n0 + o1)), 0.0);
    let o2 = 2u * rowVec4s + kv;
    c += vec4<f32>(rowTerms(h, whh(0u, r0 + o2)), rowTerms(h, whh(0u, z0 + o2)), rowTerms(h, whh(0u, n0 + o2)), 0.0);
    let o3 = 3u * rowVec4s + kv;
    d += vec4<f32>(rowTerms(h, whh(0u, r0 + o3)), rowTerms(h, whh(0u, z0 + o3)), rowTerms(h, whh(0u, n0 + o3)), 0.0);
  }
  var q: Quad;
  q.a[0] = a;
  q.b[0] = b;
  q.c[0] = c;
  q.d[0] = d;
  return q;
}
