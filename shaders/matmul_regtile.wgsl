// matmul_regtile.wgsl — batched GEMM, register-blocked, without workgroup memory
//
//   C[b] = alpha · op(A[b]) · op(B[b])  (+ bias)  (+ beta · C[b])     (as shaders/matmul.wgsl)
//
// Bindings (group 0, declared in matmul_common.wgsl): 0 A, 1 B (read, vec4-typed), 2 bias,
//   3 C (read_write), 4 params.
// Workgroup: WG_X × WG_Y threads; each thread owns a 4×4 block of C and walks K four at a
//   time: it loads the 4×4 blocks of op(A) and op(B) straight from global memory (8 vec4 loads
//   when aligned, bounds-checked scalars at the edges), transposes in registers where the
//   stored layout runs the other way, and does 16 vec4 FMAs. No barriers, no shared tiles.
//   Chosen on CPU-backed adapters (SwiftShader), where workgroup memory and barriers are
//   emulated and the shared-memory kernel measured slower; real GPUs use matmul.wgsl.
// Grid: (⌈N / (4·WG_X)⌉, ⌈M / (4·WG_Y)⌉, batch).

// #include "matmul_common.wgsl"

override WG_X: u32 = 8u;
override WG_Y: u32 = 8u;

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let m0 = gid.y * 4u;
  let n0 = gid.x * 4u;
  if (m0 >= params.M || n0 >= params.N) { return; }
  let baseA = params.offsetA + gid.z * params.batchStrideA;
  let baseB = params.offsetB + gid.z * params.batchStrideB;
  let baseC = params.offsetC + gid.z * params.batchStrideC;
  let rowsA = min(4u, params.M - m0);
  let colsB = min(4u, params.N - n0);

  var acc: array<vec4<f32>, 4>;
  for (var k = 0u; k < params.K; k += 4u) {
    let kv = min(4u, params.K - k);
    // a[kk] = (op(A)[m0 .. m0+3, k+kk]), b[kk] = (op(B)[k+kk, n0 .. n0+3]); zeros past the edges.
    // Every element is assigned each iteration (a load of 0 valid elements is a zero vec4).
    var a: array<vec4<f32>, 4>;
    var b: array<vec4<f32>, 4>;
    if (TRANS_A) {            // stored K×M: a row of storage is a column block of op(A)
      for (var kk = 0u; kk < 4u; kk++) { a[kk] = loadA4(baseA + (k + kk) * params.lda + m0, select(0u, rowsA, kk < kv)); }
    } else {                  // stored M×K: load 4 rows along k, transpose in registers
      var r: array<vec4<f32>, 4>;
      for (var i = 0u; i < 4u; i++) { r[i] = loadA4(baseA + (m0 + i) * params.lda + k, select(0u, kv, i < rowsA)); }
      a[0] = vec4<f32>(r[0].x, r[1].x, r[2].x, r[3].x);
      a[1] = vec4<f32>(r[0].y, r[1].y, r[2].y, r[3].y);
      a[2] = vec4<f32>(r[0].z, r[1].z, r[2].z, r[3].z);
      a[3] = vec4<f32>(r[0].w, r[1].w, r[2].w, r[3].w);
    }
    if (TRANS_B) {            // stored N×K: load 4 rows along k, transpose in registers
      var r: array<vec4<f32>, 4>;
      for (var j = 0u; j < 4u; j++) { r[j] = loadB4(baseB + (n0 + j) * params.ldb + k, select(0u, kv, j < colsB)); }
      b[0] = vec4<f32>(r[0].x, r[1].x, r[2].x, r[3].x);
      b[1] = vec4<f32>(r[0].y, r[1].y, r[2].y, r[3].y);
      b[2] = vec4<f32>(r[0].z, r[1].z, r[2].z, r[3].z);
      b[3] = vec4<f32>(r[0].w, r[1].w, r[2].w, r[3].w);
    } else {                  // stored K×N: a row of storage is a row block of op(B)
      for (var kk = 0u; kk < 4u; kk++) { b[kk] = loadB4(baseB + (k + kk) * params.ldb + n0, select(0u, colsB, kk < kv)); }
    }
    for (var kk = 0u; kk < 4u; kk++) {
      acc[0] += a[kk].x * b[kk];
      acc[1] += a[kk].y * b[kk];
      acc[2] += a[kk].z * b[kk];
      acc[3] += a[kk].w * b[kk];
    }
  }
  storeBlock(baseC, m0, n0, acc);
}
