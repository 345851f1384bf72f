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
// #include "matmul_operands.wgsl"

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
