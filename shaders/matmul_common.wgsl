// matmul_common.wgsl — what the GEMM kernels share (included with
// `// #include "matmul_common.wgsl"`): the Params uniform, the bindings, the variant overrides,
// bounds-checked loads of 4 consecutive elements, and the 4×4 epilogue
// (C = alpha·acc (+ bias) (+ beta·C)). Layout conventions: see shaders/matmul.wgsl.

struct Params {
  M: u32, N: u32, K: u32,
  lda: u32, ldb: u32, ldc: u32,
  offsetA: u32, offsetB: u32, offsetC: u32, offsetBias: u32,
  batchStrideA: u32, batchStrideB: u32, batchStrideC: u32,
  alpha: f32, beta: f32,
}

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override VEC_A: bool = false;    // offsetA, lda, batchStrideA are multiples of 4
override VEC_B: bool = false;    // offsetB, ldb, batchStrideB are multiples of 4
override HAS_BIAS: bool = false;
override ACCUMULATE: bool = false;

@group(0) @binding(0) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> B: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

// The `valid` (0..4) elements of A starting at flat index i; the rest are zero.
fn loadA4(i: u32, valid: u32) -> vec4<f32> {
  if (VEC_A && valid == 4u) { return A[i >> 2u]; }
  var v = vec4<f32>(0.0);
  for (var j = 0u; j < valid; j++) { let e = i + j; v[j] = A[e >> 2u][e & 3u]; }
  return v;
}

fn loadB4(i: u32, valid: u32) -> vec4<f32> {
  if (VEC_B && valid == 4u) { return B[i >> 2u]; }
  var v = vec4<f32>(0.0);
  for (var j = 0u; j < valid; j++) { let e = i + j; v[j] = B[e >> 2u][e & 3u]; }
  return v;
}

// How many of the 4 elements starting at `start` lie below `end`, if `inside` (else 0).
fn runLength(start: u32, end: u32, inside: bool) -> u32 {
  return select(0u, min(4u, end - start), inside && start < end);
}

// Writes the 4×4 block acc (rows m0.., columns n0..) of C[batch at baseC], clipped to M×N.
fn storeBlock(baseC: u32, m0: u32, n0: u32, acc: array<vec4<f32>, 4>) {
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + i;
    if (m >= params.M) { break; }
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + j;
      if (n >= params.N) { break; }
      var v = params.alpha * acc[i][j];
      if (HAS_BIAS) { v += bias[params.offsetBias + n]; }
      let idx = baseC + m * params.ldc + n;
      if (ACCUMULATE) { v += params.beta * C[idx]; }
      C[idx] = v;
    }
  }
}
