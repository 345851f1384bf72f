// attention_weights.wgsl — the attention probabilities that the fused kernel (attention.wgsl)
// never stores, recomputed from its log-sum-exp for PyTorch's `need_weights`:
//
//   P[b, h, i, j] = exp(scale·q_bhi·k_bhj + M[b, h, i, j] − LSE[b, h, i])   (0 where masked:
//                   CAUSAL and j > i, or M ≤ −3e38 / −∞, or a fully masked row)
//   AVERAGE: W[b, i, j] = (1/heads)·Σ_h P[b, h, i, j]        else W[b, h, i, j] = P[b, h, i, j]
// (grouped-query attention: query head h reads key head ⌊h / groupSize⌋). With DROPOUT, P is
// multiplied by the forward's dropout factor z (0 or 1/(1 − p), attention.wgsl's hash), as
// PyTorch returns the dropped-out weights.
//
// Layout: q and k are strided views as in attention.wgsl (element (b, h, t, d) at
// xOffset + b·xStrideB + h·xStrideH + t·xStrideT + d); M is the optional additive mask view
// (mOffset + b·mStrideB + h·mStrideH + i·mStrideT + j); LSE is [batch, heads, seqLenQ].
//
// Bindings (group 0):
//   0 q       read        queries
//   1 k       read        keys (may be q's buffer)
//   2 lse     read        the forward's log-sum-exp (from element lseOffset)
//   3 mask    read        M (a 16-byte dummy without ADD_MASK)
//   4 w       read_write  W from element wOffset, contiguous [batch, seqLenQ, seqLenK] or [batch, heads, seqLenQ, seqLenK]
//   5 params  uniform     WeightsParams
//   6 drop    uniform     DropoutState (read with DROPOUT only)
// Workgroup: WG threads, one element of W each. Grid: (gridX, ⌈total / (gridX·WG)⌉).

struct WeightsParams {
  total: u32,
  gridX: u32,
  heads: u32,
  groupSize: u32,
  seqLenQ: u32,
  seqLenK: u32,
  headDim: u32,
  scale: f32,
  qOffset: u32, qStrideB: u32, qStrideH: u32, qStrideT: u32,
  kOffset: u32, kStrideB: u32, kStrideH: u32, kStrideT: u32,
  mOffset: u32, mStrideB: u32, mStrideH: u32, mStrideT: u32,
  wOffset: u32,
  lseOffset: u32,
  dropSalt: u32,
}

// Attention dropout state (an AttentionDropout's uniform; counter rewritten once per step).
struct DropoutState {
  seed: u32,
  counter: u32,
  threshold: u32,   // round(p·2²⁴); 0 in evaluation: every probability kept
  scale: f32,       // 1/(1 − p); 1 in evaluation
}

override AVERAGE: bool = true;
override CAUSAL: bool = false;
override ADD_MASK: bool = false;
override WG: u32 = 256u;
override DROPOUT: bool = false;

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> lse: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<f32>;
@group(0) @binding(4) var<storage, read_write> w: array<f32>;
@group(0) @binding(5) var<uniform> params: WeightsParams;
@group(0) @binding(6) var<uniform> drop: DropoutState;

// pcg, pcg3d: the counter-based hash of every dropout mask.
// #include "counter_hash.wgsl"

// Dropout factor of probability number `idx` = ((b·heads + h)·seqLenQ + i)·seqLenK + j (mod 2³²):
// 0 (dropped) or drop.scale = 1/(1 − p), kept when (pcg3d(idx, counter, pcg(seed) + salt).x >> 8)
// ≥ threshold — dropout.wgsl's keep bit for element idx. `salted` is pcg(drop.seed) + salt.
fn dropFactor(idx: u32, salted: u32) -> f32 {
  let hsh = pcg3d(vec3<u32>(idx, drop.counter, salted)).x;
  return select(0.0, drop.scale, (hsh >> 8u) >= drop.threshold);
}

// Probability of (b, h, query i, key j).
fn prob(b: u32, h: u32, i: u32, j: u32) -> f32 {
  if (CAUSAL && j > i) { return 0.0; }
  let l = lse[params.lseOffset + (b * params.heads + h) * params.seqLenQ + i];
  if (l <= -3.0e38) { return 0.0; }   // every key of the row is masked (the kernel outputs 0)
  var m = 0.0;
  if (ADD_MASK) {
    m = mask[params.mOffset + b * params.mStrideB + h * params.mStrideH + i * params.mStrideT + j];
    if (m <= -3.0e38 || bitcast<u32>(m) == 0xff800000u) { return 0.0; }
  }
  let qb = params.qOffset + b * params.qStrideB + h * params.qStrideH + i * params.qStrideT;
  let kb = params.kOffset + b * params.kStrideB + (h / params.groupSize) * params.kStrideH + j * params.kStrideT;
  var s = 0.0;
  for (var d = 0u; d < params.headDim; d++) { s += q[qb + d] * k[kb + d]; }
  var z = 1.0;
  if (DROPOUT) {
    z = dropFactor(((b * params.heads + h) * params.seqLenQ + i) * params.seqLenK + j, pcg(drop.seed) + params.dropSalt);
  }
  return exp(s * params.scale + m - l) * z;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.x + gid.y * params.gridX * WG;
  if (idx >= params.total) { return; }
  let j = idx % params.seqLenK;
  let i = (idx / params.seqLenK) % params.seqLenQ;
  let rest = idx / (params.seqLenK * params.seqLenQ);
  if (AVERAGE) {
    var sum = 0.0;
    for (var h = 0u; h < params.heads; h++) { sum += prob(rest, h, i, j); }
    w[params.wOffset + idx] = sum / f32(params.heads);
  } else {
    w[params.wOffset + idx] = prob(rest / params.heads, rest % params.heads, i, j);
  }
}
