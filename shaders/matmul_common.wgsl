// matmul_common.wgsl — what the GEMM kernels share (`// #include "matmul_common.wgsl"` after
// "activations.wgsl"): the Params uniform, the bindings, the layout / epilogue switches, the
// operand loads in runs of 4 and the epilogue that writes a thread's 4×4 block of C.
//   Z = alpha·(op(A)·op(B))[m][n] (+ bias[n]);  C[m][n] = act(Z) (+ R[m][n]) (+ beta·C[m][n]);
//   Z is also stored (at offsetZ, row stride ldz, through binding C) when STORE_PRE.
// See shaders/matmul.wgsl for the bindings and the meaning of every field and switch.

struct Params {
  M: u32, N: u32, K: u32,
  lda: u32, ldb: u32, ldc: u32,
  offsetA: u32, offsetB: u32, offsetC: u32, offsetBias: u32,
  batchStrideA: u32, batchStrideB: u32, batchStrideC: u32,
  alpha: f32, beta: f32,
  offsetR: u32, ldr: u32, batchStrideR: u32,
  offsetZ: u32, ldz: u32, batchStrideZ: u32,
}

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override VEC_A: bool = false;    // offsetA, lda, batchStrideA are multiples of 4
override VEC_B: bool = false;    // offsetB, ldb, batchStrideB are multiples of 4
override HAS_BIAS: bool = false;
override ACCUMULATE: bool = false;
override ACT: u32 = 0u;          // activation code (activations.wgsl), applied after the bias
override HAS_RESIDUAL: bool = false;
override STORE_PRE: bool = false;

@group(0) @binding(0) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> B: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
@group(0) @binding(5) var<storage, read> R: array<f32>;

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

// The epilogue for the 4×4 block of batch `z` whose first element is (m, n): acc[i][j] is
// (op(A)·op(B))[m + i][n + j]; elements outside M×N are skipped.
fn storeBlock(z: u32, m: u32, n: u32, acc: array<vec4<f32>, 4>) {
  let baseC = params.offsetC + z * params.batchStrideC;
  let baseR = params.offsetR + z * params.batchStrideR;
  let baseZ = params.offsetZ + z * params.batchStrideZ;
  for (var i = 0u; i < 4u; i++) {
    let row = m + i;
    if (row >= params.M) { break; }
    for (var j = 0u; j < 4u; j++) {
      let col = n + j;
      if (col >= params.N) { break; }
      var v = params.alpha * acc[i][j];
      if (HAS_BIAS) { v += bias[params.offsetBias + col]; }
      if (STORE_PRE) { C[baseZ + row * params.ldz + col] = v; }
      if (ACT != 0u) { v = activate(v, ACT); }
      if (HAS_RESIDUAL) { v += R[baseR + row * params.ldr + col]; }
      let idx = baseC + row * params.ldc + col;
      if (ACCUMULATE) { v += params.beta * C[idx]; }
      C[idx] = v;
    }
  }
}
