// matmul_operands.wgsl — op(A) / op(B) loads in 4×4 blocks for the barrier-free GEMM kernels
// (`// #include "matmul_operands.wgsl"` after "matmul_common.wgsl"): checked blocks (zeros past M,
// N and K), and the start indices and step of the unchecked vec4 runs (FAST_A / FAST_B in
// shaders/matmul_registers.wgsl and shaders/matmul_subgroups.wgsl).

// Rows m .. m+3 of op(A), columns k .. k+3, as a matrix whose column i is op(A)[m + i][k .. k+4]
// (zeros past M and K).
fn blockA(base: u32, m: u32, k: u32) -> mat4x4<f32> {
  let M = params.M;
  let K = params.K;
  let lda = params.lda;
  if (TRANS_A) {            // stored K×M: runs along m, one per k
    let v = runLength(m, M, true);
    return transpose(mat4x4<f32>(
      loadA4(base + k * lda + m, select(0u, v, k < K)),
      loadA4(base + (k + 1u) * lda + m, select(0u, v, k + 1u < K)),
      loadA4(base + (k + 2u) * lda + m, select(0u, v, k + 2u < K)),
      loadA4(base + (k + 3u) * lda + m, select(0u, v, k + 3u < K))));
  }
  let v = runLength(k, K, true);  // stored M×K: runs along k, one per m
  return mat4x4<f32>(
    loadA4(base + m * lda + k, select(0u, v, m < M)),
    loadA4(base + (m + 1u) * lda + k, select(0u, v, m + 1u < M)),
    loadA4(base + (m + 2u) * lda + k, select(0u, v, m + 2u < M)),
    loadA4(base + (m + 3u) * lda + k, select(0u, v, m + 3u < M)));
}

// Rows k .. k+3 of op(B), columns n .. n+3, as a matrix whose column j is op(B)[k + j][n .. n+4]
// (zeros past N and K).
fn blockB(base: u32, k: u32, n: u32) -> mat4x4<f32> {
  let N = params.N;
  let K = params.K;
  let ldb = params.ldb;
  if (TRANS_B) {            // stored N×K: runs along k, one per n
    let v = runLength(k, K, true);
    return transpose(mat4x4<f32>(
      loadB4(base + n * ldb + k, select(0u, v, n < N)),
      loadB4(base + (n + 1u) * ldb + k, select(0u, v, n + 1u < N)),
      loadB4(base + (n + 2u) * ldb + k, select(0u, v, n + 2u < N)),
      loadB4(base + (n + 3u) * ldb + k, select(0u, v, n + 3u < N))));
  }
  let v = runLength(n, N, true);  // stored K×N: runs along n, one per k
  return mat4x4<f32>(
    loadB4(base + k * ldb + n, select(0u, v, k < K)),
    loadB4(base + (k + 1u) * ldb + n, select(0u, v, k + 1u < K)),
    loadB4(base + (k + 2u) * ldb + n, select(0u, v, k + 2u < K)),
    loadB4(base + (k + 3u) * ldb + n, select(0u, v, k + 3u < K)));
}

// Where FAST_A's four vec4 loads start (at k = 0; vec4 indices into A); one step of 4 along K adds
// fastStepA(). Rows along K (stored M×K): the starts of rows m .. m+3, rows past M clamped to the
// last; step 1. A run along M (TRANS_A, stored K×M, M a multiple of 4): rows 0 .. 3 of the run at
// m (a run past M moved to the last one); step lda (4 rows of lda / 4 vec4s).
fn fastStartA(base: u32, m: u32) -> vec4<u32> {
  let M = params.M;
  let lda = params.lda;
  if (TRANS_A) {
    let i = (base + min(m, M - 4u)) >> 2u;
    let s = lda >> 2u;
    return vec4<u32>(i, i + s, i + 2u * s, i + 3u * s);
  }
  let last = M - 1u;
  let rows = vec4<u32>(min(m, last), min(m + 1u, last), min(m + 2u, last), min(m + 3u, last));
  return (vec4<u32>(base) + rows * lda) >> vec4<u32>(2u);
}

fn fastStepA() -> u32 {
  return select(1u, params.lda, TRANS_A);
}

// The same for B: rows along K (TRANS_B, stored N×K) are rows n .. n+3 clamped to N, step 1; a
// run along N (stored K×N, N a multiple of 4) is rows 0 .. 3 of the run at n, step ldb.
fn fastStartB(base: u32, n: u32) -> vec4<u32> {
  let N = params.N;
  let ldb = params.ldb;
  if (TRANS_B) {
    let last = N - 1u;
    let rows = vec4<u32>(min(n, last), min(n + 1u, last), min(n + 2u, last), min(n + 3u, last));
    return (vec4<u32>(base) + rows * ldb) >> vec4<u32>(2u);
  }
  let i = (base + min(n, N - 4u)) >> 2u;
  let s = ldb >> 2u;
  return vec4<u32>(i, i + s, i + 2u * s, i + 3u * s);
}

fn fastStepB() -> u32 {
  return select(params.ldb, 1u, TRANS_B);
}
