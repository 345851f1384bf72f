// matmul.wgsl — batched GEMM with optional transposes, bias, fused epilogue and accumulation
//
//   Z[b] = alpha · op(A[b]) · op(B[b])  (+ bias)
//   C[b] = act(Z[b])  (+ R[b])  (+ beta · C[b])
//
//   op(A) is M×K: A is stored row-major M×K (row stride lda), or K×M when TRANS_A.
//   op(B) is K×N: B is stored row-major K×N (row stride ldb), or N×K when TRANS_B.
//   C is row-major M×N (row stride ldc); bias has N entries, broadcast over rows and batches.
//   act (ACT, shaders/activations.wgsl codes): 0 identity, 3 relu, 4 gelu (exact, erf),
//   5 gelu_tanh (PyTorch approximate='tanh'); 1 sigmoid and 2 tanh work too.
//   R (HAS_RESIDUAL): a row-major M×N residual (row stride ldr), added after the activation.
//   Z (STORE_PRE): the pre-activation values, written to another M×N view (row stride ldz) of C's
//   buffer, through binding C, for a backward that needs them (gelu'). An optional writable binding
//   would need a spare buffer when unused (Dawn refuses two overlapping writable bindings and a
//   buffer bound for reading and writing), so Z shares C's. Without these switches
//   C = alpha·op(A)·op(B) + bias + beta·C.
//   Offsets and strides count f32 elements; batch b starts at offset + b·batchStride
//   (batchStride 0 broadcasts one matrix over the batch).
//
// Bindings (group 0):
//   0 A     storage, read        array<vec4<f32>>  (vec4-typed: aligned runs load as one vec4)
//   1 B     storage, read        array<vec4<f32>>
//   2 bias  storage, read        array<f32>        (unused unless HAS_BIAS)
//   3 C     storage, read_write  array<f32>        (scalar: no two threads share a vec4)
//   4 params uniform             Params
//   5 R     storage, read        array<f32>        (unused unless HAS_RESIDUAL)
//
// Workgroup: WG_X × WG_Y threads, each computing a 4×4 block of C held in registers, so a
//   workgroup owns a TM×TN = (4·WG_Y)×(4·WG_X) tile of C. K is walked in slabs of TILE_K:
//   the A slab (TM×TILE_K) and B slab (TILE_K×TN) are staged in workgroup memory, loaded in
//   runs of 4 along each matrix's contiguous dimension (one vec4 load when VEC_A / VEC_B say
//   the run is 16-byte aligned, else 4 bounds-checked scalar loads). Defaults: 16×16 threads,
//   64×64 tile, TILE_K 16, 8 KiB of workgroup memory. The epilogue (bias, act, R, Z, beta) runs
//   per output element from the registers: no extra pass over C.
// Grid: (⌈N/TN⌉, ⌈M/TM⌉, batch).

// #include "activations.wgsl"
// #include "matmul_common.wgsl"

override WG_X: u32 = 16u;
override WG_Y: u32 = 16u;
override TILE_K: u32 = 16u;      // multiple of 4

var<workgroup> As: array<f32, 4u * WG_Y * TILE_K>;   // [TILE_K][TM]
var<workgroup> Bs: array<f32, 4u * WG_X * TILE_K>;   // [TILE_K][TN]

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let TM = 4u * WG_Y;
  let TN = 4u * WG_X;
  let tid = lid.y * WG_X + lid.x;
  let threads = WG_X * WG_Y;
  let m0 = wid.y * TM;
  let n0 = wid.x * TN;
  let baseA = params.offsetA + wid.z * params.batchStrideA;
  let baseB = params.offsetB + wid.z * params.batchStrideB;

  var acc: array<vec4<f32>, 4>;
  for (var k0 = 0u; k0 < params.K; k0 += TILE_K) {
    // Stage op(A)[m0 .. m0+TM, k0 .. k0+TILE_K] into As[k][m].
    for (var g = tid; g < TM * TILE_K / 4u; g += threads) {
      if (TRANS_A) {            // stored K×M: runs along m
        let k = g / (TM / 4u);
        let m = (g % (TM / 4u)) * 4u;
        let v = loadA4(baseA + (k0 + k) * params.lda + m0 + m, runLength(m0 + m, params.M, k0 + k < params.K));
        let s = k * TM + m;
        As[s] = v.x; As[s + 1u] = v.y; As[s + 2u] = v.z; As[s + 3u] = v.w;
      } else {                  // stored M×K: runs along k
        let m = g / (TILE_K / 4u);
        let k = (g % (TILE_K / 4u)) * 4u;
        let v = loadA4(baseA + (m0 + m) * params.lda + k0 + k, runLength(k0 + k, params.K, m0 + m < params.M));
        As[k * TM + m] = v.x; As[(k + 1u) * TM + m] = v.y; As[(k + 2u) * TM + m] = v.z; As[(k + 3u) * TM + m] = v.w;
      }
    }
    // Stage op(B)[k0 .. k0+TILE_K, n0 .. n0+TN] into Bs[k][n].
    for (var g = tid; g < TN * TILE_K / 4u; g += threads) {
      if (TRANS_B) {            // stored N×K: runs along k
        let n = g / (TILE_K / 4u);
        let k = (g % (TILE_K / 4u)) * 4u;
        let v = loadB4(baseB + (n0 + n) * params.ldb + k0 + k, runLength(k0 + k, params.K, n0 + n < params.N));
        Bs[k * TN + n] = v.x; Bs[(k + 1u) * TN + n] = v.y; Bs[(k + 2u) * TN + n] = v.z; Bs[(k + 3u) * TN + n] = v.w;
      } else {                  // stored K×N: runs along n
        let k = g / (TN / 4u);
        let n = (g % (TN / 4u)) * 4u;
        let v = loadB4(baseB + (k0 + k) * params.ldb + n0 + n, runLength(n0 + n, params.N, k0 + k < params.K));
        let s = k * TN + n;
        Bs[s] = v.x; Bs[s + 1u] = v.y; Bs[s + 2u] = v.z; Bs[s + 3u] = v.w;
      }
    }
    workgroupBarrier();
    // 4×4 outer products: rows 4·lid.y.., columns 4·lid.x.. of the tile.
    for (var k = 0u; k < TILE_K; k++) {
      let ia = k * TM + 4u * lid.y;
      let ib = k * TN + 4u * lid.x;
      let a = vec4<f32>(As[ia], As[ia + 1u], As[ia + 2u], As[ia + 3u]);
      let b = vec4<f32>(Bs[ib], Bs[ib + 1u], Bs[ib + 2u], Bs[ib + 3u]);
      acc[0] += a.x * b;
      acc[1] += a.y * b;
      acc[2] += a.z * b;
      acc[3] += a.w * b;
    }
    workgroupBarrier();
  }

  storeBlock(wid.z, m0 + 4u * lid.y, n0 + 4u * lid.x, acc);
}
