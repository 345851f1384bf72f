// matmul_registers.wgsl — batched GEMM without workgroup memory: each thread keeps its 4×4 block
// of C in registers and reads its operands straight from the storage buffers (the caches serve
// the reuse). The same product, layouts and epilogue as shaders/matmul.wgsl:
//
//   Z[b] = alpha · op(A[b]) · op(B[b])  (+ bias)
//   C[b] = act(Z[b])  (+ R[b])  (+ beta · C[b])
//
// Bindings (group 0), Params and switches: shaders/matmul_common.wgsl (as in matmul.wgsl).
//   0 A read (vec4), 1 B read (vec4), 2 bias read, 3 C read_write, 4 params uniform, 5 R read.
//
// Workgroup: WG_X × WG_Y threads, thread (x, y) computing the 4×4 block of C at rows
//   m0 + 4y …, columns n0 + 4x … of the workgroup's TM×TN = (4·WG_Y)×(4·WG_X) tile. K is walked
//   4 at a time: 4 runs of 4 of op(A)'s rows and 4 of op(B)'s (one vec4 load each when VEC_A /
//   VEC_B, else bounds-checked scalars; runs past M, N or K read as zeros), then 16 vec4
//   multiply-adds. No barrier and no workgroup memory: on a software adapter (SwiftShader, where
//   a barrier switches through every invocation of the workgroup as a coroutine) this beats the
//   staged tiles of matmul.wgsl; GPUs keep the staged tiles, which share each load across the
//   workgroup (src/kernels/matmulTile.ts). Grid: (⌈N/TN⌉, ⌈M/TM⌉, batch), as matmul.wgsl's, so
//   the host dispatches either kernel the same way.

// #include "activations.wgsl"
// #include "matmul_common.wgsl"

override WG_X: u32 = 8u;
override WG_Y: u32 = 8u;
// Every run of 4 along op(A)'s / op(B)'s stored rows is one aligned vec4 that stays inside the
// operand: VEC_A / VEC_B, and for runs along M (TRANS_A) or N (!TRANS_B), M / N a multiple of 4.
// Then the loop over K's multiples of 4 loads plain vec4s at indices set up once per thread and
// stepped per 4 of K, rows past M / N clamped to the last one (their products land outside C and
// are not stored); otherwise, and for K's last 1–3 columns, the checked loads below (zeros past
// M, N and K).
override FAST_A: bool = false;
override FAST_B: bool = false;
// K % 4 ≠ 0: the checked loads of K's last 1–3 columns after the loop. A constant, not just the
// run-time test, because SwiftShader runs a branch's code (lanes masked off) even where no lane
// takes it: the never-taken tail cost a 3200×1024×128 product as much as 3 steps of its K loop.
override K_TAIL: bool = true;

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

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let m = wid.y * 4u * WG_Y + 4u * lid.y;
  let n = wid.x * 4u * WG_X + 4u * lid.x;
  let baseA = params.offsetA + wid.z * params.batchStrideA;
  let baseB = params.offsetB + wid.z * params.batchStrideB;
  let K = params.K;
  // FAST_A / FAST_B: vec4 indices of the next loads, moved by one step per 4 of K.
  var ia = vec4<u32>(0u);
  var ib = vec4<u32>(0u);
  if (FAST_A) { ia = fastStartA(baseA, m); }
  if (FAST_B) { ib = fastStartB(baseB, n); }
  let stepA = vec4<u32>(fastStepA());
  let stepB = vec4<u32>(fastStepB());
  var acc: array<vec4<f32>, 4>;
  var k = 0u;
  for (; k + 4u <= K; k += 4u) {
    var a: mat4x4<f32>;             // a[i][kk] = op(A)[m + i][k + kk]
    var b: mat4x4<f32>;             // b[kk] = op(B)[k + kk][n .. n+4]
    if (FAST_A) {
      a = mat4x4<f32>(A[ia.x], A[ia.y], A[ia.z], A[ia.w]);
      if (TRANS_A) { a = transpose(a); }
      ia += stepA;
    } else {
      a = blockA(baseA, m, k);
    }
    if (FAST_B) {
      b = mat4x4<f32>(B[ib.x], B[ib.y], B[ib.z], B[ib.w]);
      if (TRANS_B) { b = transpose(b); }
      ib += stepB;
    } else {
      b = blockB(baseB, k, n);
    }
    acc[0] += b * a[0];
    acc[1] += b * a[1];
    acc[2] += b * a[2];
    acc[3] += b * a[3];
  }
  if (K_TAIL && k < K) {            // K's last 1–3 columns: checked loads, zeros past K
    let a = blockA(baseA, m, k);
    let b = blockB(baseB, k, n);
    acc[0] += b * a[0];
    acc[1] += b * a[1];
    acc[2] += b * a[2];
    acc[3] += b * a[3];
  }
  storeBlock(wid.z, m, n, acc);
}
