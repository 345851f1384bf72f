// matmul_subgroups.wgsl — the barrier-free GEMM of matmul_registers.wgsl with 8×16 blocks of C per
// invocation, op(B) shared by the 4 invocations of a subgroup. The same product, layouts, bindings
// and epilogue as shaders/matmul.wgsl:
//
//   Z[b] = alpha · op(A[b]) · op(B[b])  (+ bias)
//   C[b] = act(Z[b])  (+ R[b])  (+ beta · C[b])
//
// Bindings (group 0), Params and switches: shaders/matmul_common.wgsl (as in matmul.wgsl).
//   0 A read (vec4), 1 B read (vec4), 2 bias read, 3 C read_write, 4 params uniform, 5 R read.
//
// Why: on a software adapter (SwiftShader) the 4 invocations of a subgroup are the 4 SIMD lanes of
// one CPU thread. A storage load whose address differs per lane is a gather (each lane's element
// loaded and inserted on its own, 4 per vec4 component): loads, not multiply-adds, bound the
// registers kernel (bench/RESULTS.md, 2026-12-07). Here the 4 lanes of a quad share op(B): each
// loads a quarter and subgroupBroadcast, a register shuffle, hands it to the others.
//
// Workgroup: WG_X × WG_Y threads, WG_X a multiple of 4. A quad — invocations 4q .. 4q+3 along x,
// which must form one subgroup of exactly 4 (the host allows this kernel only where the adapter's
// subgroups are 4 wide; a quad found split across subgroups makes its outputs NaN rather than
// wrong) — owns a 32×16 block of C: lane l (= lid.x mod 4) rows 8l .. 8l+7, all 16 columns, summed
// in eight named mat4x4s (constant indices only: SwiftShader keeps a loop-indexed array in memory).
// The workgroup's tile is TM×TN = (32·WG_Y)×(4·WG_X). Per step of 4 along K a lane loads its 8 rows
// of op(A) (8 vec4s) and 4 of the quad's 16 op(B) vec4s, receives the other 12, and multiplies:
//   acc[rb][c] += B_c · A_rb   (B_c: op(B)[k .. k+3][n + 4c .. n + 4c + 3] as 4 columns,
//                               A_rb: column i = op(A)[m + 4rb + i][k .. k+3]).
// Grid: (⌈N/TN⌉, ⌈M/TM⌉, batch), as matmul.wgsl's.
enable subgroups;

// #include "activations.wgsl"
// #include "matmul_common.wgsl"
// #include "matmul_operands.wgsl"

override WG_X: u32 = 8u;
override WG_Y: u32 = 4u;
// As in matmul_registers.wgsl: unchecked vec4 runs (FAST_A / FAST_B), and the checked K tail.
override FAST_A: bool = false;
override FAST_B: bool = false;
override K_TAIL: bool = true;

// The quad's op(B) at k .. k+3, columns n .. n+15, as B_0 .. B_3 (column kk of B_c is
// op(B)[k + kk][n + 4c .. n + 4c + 3]).
struct QuadB { c0: mat4x4<f32>, c1: mat4x4<f32>, c2: mat4x4<f32>, c3: mat4x4<f32> }

// Lane l holds vectors 4q + l (q = 0..3) in column q of `own`; vector v goes to every lane.
// Vector v is, stored N×K (TRANS_B): B's row n + v at k .. k+3 (op(B)'s column n + v);
// stored K×N: B's row k + v / 4 at columns n + 4·(v mod 4) .. +3.
fn shareB(own: mat4x4<f32>) -> QuadB {
  let v0 = subgroupBroadcast(own[0], 0u);
  let v1 = subgroupBroadcast(own[0], 1u);
  let v2 = subgroupBroadcast(own[0], 2u);
  let v3 = subgroupBroadcast(own[0], 3u);
  let v4 = subgroupBroadcast(own[1], 0u);
  let v5 = subgroupBroadcast(own[1], 1u);
  let v6 = subgroupBroadcast(own[1], 2u);
  let v7 = subgroupBroadcast(own[1], 3u);
  let v8 = subgroupBroadcast(own[2], 0u);
  let v9 = subgroupBroadcast(own[2], 1u);
  let v10 = subgroupBroadcast(own[2], 2u);
  let v11 = subgroupBroadcast(own[2], 3u);
  let v12 = subgroupBroadcast(own[3], 0u);
  let v13 = subgroupBroadcast(own[3], 1u);
  let v14 = subgroupBroadcast(own[3], 2u);
  let v15 = subgroupBroadcast(own[3], 3u);
  if (TRANS_B) {
    return QuadB(transpose(mat4x4<f32>(v0, v1, v2, v3)), transpose(mat4x4<f32>(v4, v5, v6, v7)),
                 transpose(mat4x4<f32>(v8, v9, v10, v11)), transpose(mat4x4<f32>(v12, v13, v14, v15)));
  }
  return QuadB(mat4x4<f32>(v0, v4, v8, v12), mat4x4<f32>(v1, v5, v9, v13),
               mat4x4<f32>(v2, v6, v10, v14), mat4x4<f32>(v3, v7, v11, v15));
}

// FAST_B: where lane l's 4 vectors start at k = 0 (vec4 indices into B); a step of 4 along K adds
// fastStepB(). Rows past N are clamped to the last one, a run past N moved to the last one (their
// products land outside C and are not stored).
fn quadStartB(base: u32, n: u32, l: u32) -> vec4<u32> {
  let N = params.N;
  let ldb = params.ldb;
  if (TRANS_B) {
    let last = N - 1u;
    let rows = vec4<u32>(min(n + l, last), min(n + 4u + l, last), min(n + 8u + l, last), min(n + 12u + l, last));
    return (vec4<u32>(base) + rows * ldb) >> vec4<u32>(2u);
  }
  let col = min(n + 4u * l, N - 4u);
  return (vec4<u32>(base + col) + vec4<u32>(0u, 1u, 2u, 3u) * ldb) >> vec4<u32>(2u);
}

// Lane l's 4 vectors at k, checked (zeros past N and K).
fn quadLoadB(base: u32, k: u32, n: u32, l: u32) -> mat4x4<f32> {
  let N = params.N;
  let K = params.K;
  let ldb = params.ldb;
  if (TRANS_B) {
    let v = runLength(k, K, true);
    let r = n + l;
    return mat4x4<f32>(
      loadB4(base + r * ldb + k, select(0u, v, r < N)),
      loadB4(base + (r + 4u) * ldb + k, select(0u, v, r + 4u < N)),
      loadB4(base + (r + 8u) * ldb + k, select(0u, v, r + 8u < N)),
      loadB4(base + (r + 12u) * ldb + k, select(0u, v, r + 12u < N)));
  }
  let c = n + 4u * l;
  let v = runLength(c, N, true);
  return mat4x4<f32>(
    loadB4(base + k * ldb + c, select(0u, v, k < K)),
    loadB4(base + (k + 1u) * ldb + c, select(0u, v, k + 1u < K)),
    loadB4(base + (k + 2u) * ldb + c, select(0u, v, k + 2u < K)),
    loadB4(base + (k + 3u) * ldb + c, select(0u, v, k + 3u < K)));
}

fn columns(x: mat4x4<f32>) -> array<vec4<f32>, 4> {
  return array<vec4<f32>, 4>(x[0], x[1], x[2], x[3]);
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) lanes: u32) {
  let l = lid.x & 3u;
  let quad = (lid.y * WG_X + lid.x) >> 2u;
  // This quad is one subgroup of 4 with lane ids l: else every sum starts at NaN (lid.z is 0: the
  // NaN is made at run time, not a constant the compiler would refuse). `&`, not `&&`: the
  // broadcast must run in uniform control flow.
  let inQuad = (lanes == 4u) & (lane == l) & (subgroupBroadcast(quad, 0u) == quad);
  let start = select(vec4<f32>(bitcast<f32>(0x7fc00000u + lid.z)), vec4<f32>(0.0), inQuad);
  let m = wid.y * 32u * WG_Y + 32u * lid.y + 8u * l;
  let n = wid.x * 4u * WG_X + 16u * (lid.x >> 2u);
  let baseA = params.offsetA + wid.z * params.batchStrideA;
  let baseB = params.offsetB + wid.z * params.batchStrideB;
  let K = params.K;
  var ia0 = vec4<u32>(0u);
  var ia1 = vec4<u32>(0u);
  var ib = vec4<u32>(0u);
  if (FAST_A) {
    ia0 = fastStartA(baseA, m);
    ia1 = fastStartA(baseA, m + 4u);
  }
  if (FAST_B) { ib = quadStartB(baseB, n, l); }
  let stepA = vec4<u32>(fastStepA());
  let stepB = vec4<u32>(fastStepB());
  let s = mat4x4<f32>(start, start, start, start);
  var acc00 = s;
  var acc01 = s;
  var acc02 = s;
  var acc03 = s;
  var acc10 = s;
  var acc11 = s;
  var acc12 = s;
  var acc13 = s;
  var k = 0u;
  for (; k + 4u <= K; k += 4u) {
    var a0: mat4x4<f32>;
    var a1: mat4x4<f32>;
    var own: mat4x4<f32>;
    if (FAST_A) {
      a0 = mat4x4<f32>(A[ia0.x], A[ia0.y], A[ia0.z], A[ia0.w]);
      a1 = mat4x4<f32>(A[ia1.x], A[ia1.y], A[ia1.z], A[ia1.w]);
      if (TRANS_A) {
        a0 = transpose(a0);
        a1 = transpose(a1);
      }
      ia0 += stepA;
      ia1 += stepA;
    } else {
      a0 = blockA(baseA, m, k);
      a1 = blockA(baseA, m + 4u, k);
    }
    if (FAST_B) {
      own = mat4x4<f32>(B[ib.x], B[ib.y], B[ib.z], B[ib.w]);
      ib += stepB;
    } else {
      own = quadLoadB(baseB, k, n, l);
    }
    let b = shareB(own);
    acc00 += b.c0 * a0;
    acc01 += b.c1 * a0;
    acc02 += b.c2 * a0;
    acc03 += b.c3 * a0;
    acc10 += b.c0 * a1;
    acc11 += b.c1 * a1;
    acc12 += b.c2 * a1;
    acc13 += b.c3 * a1;
  }
  if (K_TAIL && k < K) {            // K's last 1–3 columns: checked loads, zeros past K
    let a0 = blockA(baseA, m, k);
    let a1 = blockA(baseA, m + 4u, k);
    let b = shareB(quadLoadB(baseB, k, n, l));
    acc00 += b.c0 * a0;
    acc01 += b.c1 * a0;
    acc02 += b.c2 * a0;
    acc03 += b.c3 * a0;
    acc10 += b.c0 * a1;
    acc11 += b.c1 * a1;
    acc12 += b.c2 * a1;
    acc13 += b.c3 * a1;
  }
  // The quad's 16 bias values: lane l loads columns n + 4l .. n + 4l + 3, the others receive them.
  var own = vec4<f32>(0.0);
  if (HAS_BIAS) { own = biasRun(n + 4u * l); }
  let b0 = subgroupBroadcast(own, 0u);
  let b1 = subgroupBroadcast(own, 1u);
  let b2 = subgroupBroadcast(own, 2u);
  let b3 = subgroupBroadcast(own, 3u);
  storeBlockBias(wid.z, m, n, columns(acc00), b0);
  storeBlockBias(wid.z, m, n + 4u, columns(acc01), b1);
  storeBlockBias(wid.z, m, n + 8u, columns(acc02), b2);
  storeBlockBias(wid.z, m, n + 12u, columns(acc03), b3);
  storeBlockBias(wid.z, m + 4u, n, columns(acc10), b0);
  storeBlockBias(wid.z, m + 4u, n + 4u, columns(acc11), b1);
  storeBlockBias(wid.z, m + 4u, n + 8u, columns(acc12), b2);
  storeBlockBias(wid.z, m + 4u, n + 12u, columns(acc13), b3);
}
