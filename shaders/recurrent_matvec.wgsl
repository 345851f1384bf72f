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

// QUAD: the products of columns col … col+3 for rows b0 + r, r < BT (qa for col, qb col+1, qc
// col+2, qd col+3), each term added in recurrentMatvec's order (the same bits per column).
struct Quad {
  a: array<vec4<f32>, 8>,
  b: array<vec4<f32>, 8>,
  c: array<vec4<f32>, 8>,
  d: array<vec4<f32>, 8>,
}

fn zeroQuad() -> Quad {
  var q: Quad;
  for (var r = 0u; r < 8u; r++) {      // explicit: see recurrent_persistent.wgsl
    q.a[r] = vec4<f32>(0.0);
    q.b[r] = vec4<f32>(0.0);
    q.c[r] = vec4<f32>(0.0);
    q.d[r] = vec4<f32>(0.0);
  }
  return q;
}

fn recurrentMatvecQuad(col: u32, b0: u32) -> Quad {
  if (BT == 1u) { return recurrentMatvecQuad1(col, b0); }
  var q = zeroQuad();
  let H = hSize();
  let rows = min(BT, params.batch - b0);
  let base = hStateBase() + b0 * H;
  for (var k = 0u; k < H; k += 4u) {
    let a0 = whh(k, col);
    let a1 = whh(k + 1u, col);
    let a2 = whh(k + 2u, col);
    let a3 = whh(k + 3u, col);
    let b0w = whh(k, col + 1u);
    let b1 = whh(k + 1u, col + 1u);
    let b2 = whh(k + 2u, col + 1u);
    let b3 = whh(k + 3u, col + 1u);
    let c0 = whh(k, col + 2u);
    let c1 = whh(k + 1u, col + 2u);
    let c2 = whh(k + 2u, col + 2u);
    let c3 = whh(k + 3u, col + 2u);
    let d0 = whh(k, col + 3u);
    let d1 = whh(k + 1u, col + 3u);
    let d2 = whh(k + 2u, col + 3u);
    let d3 = whh(k + 3u, col + 3u);
    for (var r = 0u; r < BT; r++) {
      if (r < rows) {
        let h = hprev[(base + r * H + k) >> 2u];
        q.a[r] += h.x * a0 + h.y * a1 + h.z * a2 + h.w * a3;
        q.b[r] += h.x * b0w + h.y * b1 + h.z * b2 + h.w * b3;
        q.c[r] += h.x * c0 + h.y * c1 + h.z * c2 + h.w * c3;
        q.d[r] += h.x * d0 + h.y * d1 + h.z * d2 + h.w * d3;
      }
    }
  }
  let sa = whhScale(col);
  let sb = whhScale(col + 1u);
  let sc = whhScale(col + 2u);
  let sd = whhScale(col + 3u);
  for (var r = 0u; r < BT; r++) {
    q.a[r] *= sa;
    q.b[r] *= sb;
    q.c[r] *= sc;
    q.d[r] *= sd;
  }
  return q;
}

// BT = 1 (one batch row per thread: batch 1, or a forced tile): recurrentMatvecQuad with its 4
// sums in named vec4s. SwiftShader keeps a function's arrays in memory (Quad's 8-row arrays) and
// loads / stores them on every `+=`; named values stay in registers: an LSTM B1 H256 step in Node
// (Dawn, SwiftShader) 1.45 → 0.82 ms. The same terms in the same order (the same bits).
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
fn recurrentMatvecQuadRows(col: u32, b0: u32) -> Quad {
  if (BT == 1u) { return recurrentMatvecQuadRows1(col, b0); }
  var q = zeroQuad();
  let H = params.hidden;
  let rows = min(BT, params.batch - b0);
  let base = hStateBase() + b0 * H;
  let rowVec4s = H >> 2u;
  let r0 = col * rowVec4s;             // vec4 index of W_hh[col, 0]: the reset gate's row of unit col
  let z0 = r0 + H * rowVec4s;          // W_hh[H + col, 0]
  let n0 = z0 + H * rowVec4s;          // W_hh[2H + col, 0]
  for (var kv = 0u; kv < rowVec4s; kv++) {
    let ra = whh(0u, r0 + kv);
    let rb = whh(0u, r0 + rowVec4s + kv);
    let rc = whh(0u, r0 + 2u * rowVec4s + kv);
    let rd = whh(0u, r0 + 3u * rowVec4s + kv);
    let za = whh(0u, z0 + kv);
    let zb = whh(0u, z0 + rowVec4s + kv);
    let zc = whh(0u, z0 + 2u * rowVec4s + kv);
    let zd = whh(0u, z0 + 3u * rowVec4s + kv);
    let na = whh(0u, n0 + kv);
    let nb = whh(0u, n0 + rowVec4s + kv);
    let nc = whh(0u, n0 + 2u * rowVec4s + kv);
    let nd = whh(0u, n0 + 3u * rowVec4s + kv);
    for (var r = 0u; r < BT; r++) {
      if (r < rows) {
        let h = hprev[(base + r * H) / 4u + kv];
        q.a[r] += vec4<f32>(rowTerms(h, ra), rowTerms(h, za), rowTerms(h, na), 0.0);
        q.b[r] += vec4<f32>(rowTerms(h, rb), rowTerms(h, zb), rowTerms(h, nb), 0.0);
        q.c[r] += vec4<f32>(rowTerms(h, rc), rowTerms(h, zc), rowTerms(h, nc), 0.0);
        q.d[r] += vec4<f32>(rowTerms(h, rd), rowTerms(h, zd), rowTerms(h, nd), 0.0);
      }
    }
  }
  return q;
}

// BT = 1: recurrentMatvecQuadRows with its sums in named vec4s (see recurrentMatvecQuad1).
fn recurrentMatvecQuadRows1(col: u32, b0: u32) -> Quad {
  let H = params.hidden;
  let rowVec4s = H >> 2u;
  let hRow = (hStateBase() + b0 * H) >> 2u;
  let r0 = col * rowVec4s;             // as in recurrentMatvecQuadRows
  let z0 = r0 + H * rowVec4s;
  let n0 = z0 + H * rowVec4s;
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
