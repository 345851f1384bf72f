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
// Some 4×4 blocks reach past M or N (M or N not a multiple of the workgroup's tile): the epilogue
// checks each row and column. Off, it has no checks — a constant because SwiftShader runs every
// branch's code (lanes masked off) even where no lane takes it.
override EDGES: bool = true;

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
// (op(A)·op(B))[m + i][n + j]; elements outside M×N are skipped. Written with constant indices
// only: SwiftShader keeps an array indexed by a loop variable in memory (a 4×4 loop over acc[i][j]
// cost a software adapter more than a whole step of 4 along K; bench/RESULTS.md, 2026-12-07).
fn storeBlock(z: u32, m: u32, n: u32, acc: array<vec4<f32>, 4>) {
  var b = vec4<f32>(0.0);
  if (HAS_BIAS) { b = biasRun(n); }
  storeBlockBias(z, m, n, acc, b);
}

// bias[n .. n+3], zeros past N (no checks unless EDGES).
fn biasRun(n: u32) -> vec4<f32> {
  let o = params.offsetBias + n;
  if (!EDGES) { return vec4<f32>(bias[o], bias[o + 1u], bias[o + 2u], bias[o + 3u]); }
  let cols = select(0u, min(4u, params.N - n), n < params.N);
  var b = vec4<f32>(0.0);
  if (cols > 0u) { b.x = bias[o]; }
  if (cols > 1u) { b.y = bias[o + 1u]; }
  if (cols > 2u) { b.z = bias[o + 2u]; }
  if (cols > 3u) { b.w = bias[o + 3u]; }
  return b;
}

// storeBlock with the block's 4 bias values `b` already loaded (zeros without HAS_BIAS).
fn storeBlockBias(z: u32, m: u32, n: u32, acc: array<vec4<f32>, 4>, b: vec4<f32>) {
  if (!EDGES) {                  // every block inside M×N: no checks
    storeRow4(z, m, n, params.alpha * acc[0] + b);
    storeRow4(z, m + 1u, n, params.alpha * acc[1] + b);
    storeRow4(z, m + 2u, n, params.alpha * acc[2] + b);
    storeRow4(z, m + 3u, n, params.alpha * acc[3] + b);
    return;
  }
  let cols = select(0u, min(4u, params.N - n), n < params.N);   // columns of the block inside N
  let M = params.M;
  if (m < M) { storeRow(z, m, n, cols, params.alpha * acc[0] + b); }
  if (m + 1u < M) { storeRow(z, m + 1u, n, cols, params.alpha * acc[1] + b); }
  if (m + 2u < M) { storeRow(z, m + 2u, n, cols, params.alpha * acc[2] + b); }
  if (m + 3u < M) { storeRow(z, m + 3u, n, cols, params.alpha * acc[3] + b); }
}

// C[row][n .. n + cols − 1] from Z's values there (alpha and the bias applied).
fn storeRow(z: u32, row: u32, n: u32, cols: u32, pre: vec4<f32>) {
  if (cols > 0u) { storeElement(z, row, n, pre.x); }
  if (cols > 1u) { storeElement(z, row, n + 1u, pre.y); }
  if (cols > 2u) { storeElement(z, row, n + 2u, pre.z); }
  if (cols > 3u) { storeElement(z, row, n + 3u, pre.w); }
}

// storeRow's 4 columns, unchecked (EDGES false). A plain epilogue (C = Z) computes the row's index
// once: the per-element path reloads the uniforms and redoes the arithmetic for each of the 4.
fn storeRow4(z: u32, row: u32, n: u32, pre: vec4<f32>) {
  if (!STORE_PRE && ACT == 0u && !HAS_RESIDUAL && !ACCUMULATE) {
    let i = params.offsetC + z * params.batchStrideC + row * params.ldc + n;
    C[i] = pre.x;
    C[i + 1u] = pre.y;
    C[i + 2u] = pre.z;
    C[i + 3u] = pre.w;
    return;
  }
  storeElement(z, row, n, pre.x);
  storeElement(z, row, n + 1u, pre.y);
  storeElement(z, row, n + 2u, pre.z);
  storeElement(z, row, n + 3u, pre.w);
}

// C[row][col] = act(Z) (+ R) (+ beta·C), Z also stored when STORE_PRE.
fn storeElement(z: u32, row: u32, col: u32, pre: f32) {
  var v = pre;
  if (STORE_PRE) { C[params.offsetZ + z * params.batchStrideZ + row * params.ldz + col] = v; }
  if (ACT != 0u) { v = activate(v, ACT); }
  if (HAS_RESIDUAL) { v += R[params.offsetR + z * params.batchStrideR + row * params.ldr + col]; }
  let idx = params.offsetC + z * params.batchStrideC + row * params.ldc + col;
  if (ACCUMULATE) { v += params.beta * C[idx]; }
  C[idx] = v;
}
