// attention_backward.wgsl — backward of fused scaled dot-product attention, recomputing the
// probabilities tile by tile from the forward's log-sum-exp (no Tq×Tk matrix in memory):
//
//   p_ij  = exp(s_ij − LSE_i),  s_ij = scale·q_i·k_j (+ M_ij with ADD_MASK)  (p = 0 where masked)
//   Δ_i   = Σ_d dO_id · O_id
//   dp_ij = (dO_i · v_j)·z_ij,   ds_ij = p_ij·(dp_ij − Δ_i)
//   dQ_i  = scale · Σ_j ds_ij k_j        (PASS 0: a thread per query row; also writes Δ_i)
//   dK_j  = scale · Σ_i ds_ij q_i        (PASS 1: a thread per key row, after PASS 0)
//   dV_j  = Σ_i p_ij z_ij dO_i
// z_ij is the forward's dropout factor (0 or 1/(1 − p), from the same hash of (seed, counter,
// salt, index of (b, h, i, j)) as attention.wgsl; 1 without DROPOUT). Δ = rowsum(dO ⊙ O) holds
// with dropout too: Σ_j p_ij·dp_ij = dO_i · Σ_j p_ij z_ij v_j = dO_i · O_i.
//
// Grouped-query attention: K, V, dK and dV have kvHeads = heads / groupSize heads; query head h
// reads kv head ⌊h / groupSize⌋. PASS 1 runs per kv head, and each thread sums its key row's dK
// and dV over the groupSize query heads of the group in turn (no two threads write one row).
//
// Layout: every [batch, heads, seqLen, headDim] operand is a strided view, element (b, h, t, d)
// at X[xOffset + b·xStrideB + h·xStrideH + t·xStrideT + d] (headDim contiguous): contiguous
// [batch, heads, seqLen, headDim] and the [batch, seqLen, heads·headDim] rows of Q/K/V
// projections alike. dQ, dK and dV are three such views into the one `grads` buffer.
//
// Bindings (group 0):
//   0 q, 1 k, 2 v, 3 o, 4 dO   read  views [batch, heads, seqLen, headDim] (k, v: kvHeads heads)
//   5 rowStats                 read_write [2, batch, heads, seqLenQ]: LSE (the forward's `lse`
//                              output), then Δ (written by PASS 0) — one binding, so 8 storage
//                              buffers in all
//   6 grads                    read_write  views dQ (PASS 0), dK and dV (PASS 1)
//   7 keyMask                  read  [batch, seqLenK] (a dummy without KEY_MASK), or with
//                              ADD_MASK the forward's additive mask view M(b, h, i, j)
//   8 params                   uniform
//   9 drop                     uniform DropoutState (read with DROPOUT only)
// Workgroup: BR threads, one row each (a query row in PASS 0, a key row in PASS 1); the other
// side streams through workgroup memory in tiles of BC rows (two tiles of BC·MAX_D floats, BC
// chosen by the host to fit maxComputeWorkgroupStorageSize); four private rows of PRIV_D floats.
// Grid: (⌈rows / BR⌉, heads, batch) in PASS 0, (⌈seqLenK / BR⌉, kvHeads, batch) in PASS 1.

struct AttentionBackwardParams {
  seqLenQ: u32,
  seqLenK: u32,
  headDim: u32,
  heads: u32,
  groupSize: u32,     // query heads per kv head
  scale: f32,
  deltaOffset: u32,   // start of Δ in rowStats (= batch·heads·seqLenQ)
  qOffset: u32, qStrideB: u32, qStrideH: u32, qStrideT: u32,
  kOffset: u32, kStrideB: u32, kStrideH: u32, kStrideT: u32,
  vOffset: u32, vStrideB: u32, vStrideH: u32, vStrideT: u32,
  oOffset: u32, oStrideB: u32, oStrideH: u32, oStrideT: u32,
  dOOffset: u32, dOStrideB: u32, dOStrideH: u32, dOStrideT: u32,
  dqOffset: u32, dqStrideB: u32, dqStrideH: u32, dqStrideT: u32,
  dkOffset: u32, dkStrideB: u32, dkStrideH: u32, dkStrideT: u32,
  dvOffset: u32, dvStrideB: u32, dvStrideH: u32, dvStrideT: u32,
  mOffset: u32, mStrideB: u32, mStrideH: u32, mStrideT: u32,   // ADD_MASK only
  dropSalt: u32,                                                // DROPOUT only
}

// Attention dropout state (an AttentionDropout's uniform; counter rewritten once per step).
struct DropoutState {
  seed: u32,
  counter: u32,
  threshold: u32,   // round(p·2²⁴); 0 in evaluation: every probability kept
  scale: f32,       // 1/(1 − p); 1 in evaluation
}

override PASS: u32 = 0u;
override BR: u32 = 64u;
override BC: u32 = 16u;
override MAX_D: u32 = 128u;   // headDim ≤ MAX_D ≤ PRIV_D
override CAUSAL: bool = false;
override KEY_MASK: bool = false;
override ADD_MASK: bool = false;
override DROPOUT: bool = false;

// Length of the per-thread private rows (a WGSL constant: private arrays cannot be sized by an
// override). The host compiles a second module from this text with 256 for headDim 129…256.
const PRIV_D = 128u;

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> o: array<f32>;
@group(0) @binding(4) var<storage, read> dO: array<f32>;
@group(0) @binding(5) var<storage, read_write> rowStats: array<f32>;
@group(0) @binding(6) var<storage, read_write> grads: array<f32>;
@group(0) @binding(7) var<storage, read> keyMask: array<f32>;
@group(0) @binding(8) var<uniform> params: AttentionBackwardParams;
@group(0) @binding(9) var<uniform> drop: DropoutState;

var<workgroup> tileA: array<f32, BC * MAX_D>;
var<workgroup> tileB: array<f32, BC * MAX_D>;
var<workgroup> tileRow: array<f32, 2 * BC>;   // PASS 1: LSE and Δ of the query rows of the tile

const MASK_FLOOR = -3.0e38;

// pcg, pcg3d: the counter-based hash of every dropout mask.
// #include "counter_hash.wgsl"

// Dropout factor of probability number `idx` = ((b·heads + h)·seqLenQ + i)·seqLenK + j (mod 2³²):
// 0 (dropped) or drop.scale = 1/(1 − p), kept when (pcg3d(idx, counter, pcg(seed) + salt).x >> 8)
// ≥ threshold — dropout.wgsl's keep bit for element idx. `salted` is pcg(drop.seed) + salt.
fn dropFactor(idx: u32, salted: u32) -> f32 {
  let hsh = pcg3d(vec3<u32>(idx, drop.counter, salted)).x;
  return select(0.0, drop.scale, (hsh >> 8u) >= drop.threshold);
}

// The additive mask of (b, h, query i, key j): 0 without ADD_MASK.
fn maskAt(b: u32, h: u32, i: u32, j: u32) -> f32 {
  if (!ADD_MASK) { return 0.0; }
  return keyMask[params.mOffset + b * params.mStrideB + h * params.mStrideH + min(i, params.seqLenQ - 1u) * params.mStrideT + min(j, params.seqLenK - 1u)];
}

// As the forward's: −∞ (by its bits) or ≤ −3e38 removes the key.
fn maskedOut(x: f32) -> bool {
  return x <= MASK_FLOOR || bitcast<u32>(x) == 0xff800000u;
}

fn kept(b: u32, i: u32, j: u32) -> bool {
  var keep = i < params.seqLenQ && j < params.seqLenK;
  if (CAUSAL) { keep = keep && j <= i; }
  if (KEY_MASK) { keep = keep && keyMask[b * params.seqLenK + min(j, params.seqLenK - 1u)] != 0.0; }
  return keep;
}

@compute @workgroup_size(BR)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let D = params.headDim;
  let Tq = params.seqLenQ;
  let Tk = params.seqLenK;
  let G = params.groupSize;
  let b = wid.z;
  let row = wid.x * BR + lid.x;
  var salted = 0u;
  if (DROPOUT) { salted = pcg(drop.seed) + params.dropSalt; }
  var a: array<f32, PRIV_D>;     // PASS 0: q_i;     PASS 1: k_j
  var c: array<f32, PRIV_D>;     // PASS 0: dO_i;    PASS 1: v_j
  var g1: array<f32, PRIV_D>;    // PASS 1: dK_j
  var g2: array<f32, PRIV_D>;    // PASS 0: dQ_i;    PASS 1: dV_j

  if (PASS == 0u) {
    let h = wid.y;                 // query head
    let hk = h / G;                // its kv head
    let bh = b * params.heads + h;
    // Start of (b, h) in every view; row t then adds t·strideT.
    let qBase = params.qOffset + b * params.qStrideB + h * params.qStrideH;
    let kBase = params.kOffset + b * params.kStrideB + hk * params.kStrideH;
    let vBase = params.vOffset + b * params.vStrideB + hk * params.vStrideH;
    let oBase = params.oOffset + b * params.oStrideB + h * params.oStrideH;
    let dOBase = params.dOOffset + b * params.dOStrideB + h * params.dOStrideH;
    let valid = row < Tq;
    let r = min(row, Tq - 1u);
    let qr = qBase + r * params.qStrideT;
    let orow = oBase + r * params.oStrideT;
    let dOr = dOBase + r * params.dOStrideT;
    var dlt = 0.0;
    for (var d = 0u; d < D; d++) {
      a[d] = q[qr + d];
      c[d] = dO[dOr + d];
      dlt += c[d] * o[orow + d];
      g2[d] = 0.0;
    }
    let l = rowStats[bh * Tq + r];
    for (var t0 = 0u; t0 < Tk; t0 += BC) {
      for (var i = lid.x; i < BC * D; i += BR) {
        let key = min(t0 + i / D, Tk - 1u);
        tileA[i] = k[kBase + key * params.kStrideT + i % D];
        tileB[i] = v[vBase + key * params.vStrideT + i % D];
      }
      workgroupBarrier();
      if (valid) {
        for (var cc = 0u; cc < BC; cc++) {
          let j = t0 + cc;
          if (!kept(b, row, j)) { continue; }
          let mv = maskAt(b, h, row, j);
          if (maskedOut(mv)) { continue; }
          var s = 0.0;
          var dp = 0.0;
          for (var d = 0u; d < D; d++) {
            s += a[d] * tileA[cc * D + d];
            dp += c[d] * tileB[cc * D + d];
          }
          let p = exp(s * params.scale + mv - l);
          if (DROPOUT) { dp *= dropFactor((bh * Tq + row) * Tk + j, salted); }
          let ds = p * (dp - dlt);
          for (var d = 0u; d < D; d++) { g2[d] += ds * tileA[cc * D + d]; }
        }
      }
      workgroupBarrier();
    }
    if (valid) {
      rowStats[params.deltaOffset + bh * Tq + row] = dlt;
      let dq = params.dqOffset + b * params.dqStrideB + h * params.dqStrideH + row * params.dqStrideT;
      for (var d = 0u; d < D; d++) { grads[dq + d] = g2[d] * params.scale; }
    }
    return;
  }

  // PASS 1: a thread per key row j of kv head hk; the query rows of each query head of the
  // group stream through the tiles in turn.
  let hk = wid.y;
  let kBase = params.kOffset + b * params.kStrideB + hk * params.kStrideH;
  let vBase = params.vOffset + b * params.vStrideB + hk * params.vStrideH;
  let valid = row < Tk;
  let r = min(row, Tk - 1u);
  for (var d = 0u; d < D; d++) {
    a[d] = k[kBase + r * params.kStrideT + d];
    c[d] = v[vBase + r * params.vStrideT + d];
    g1[d] = 0.0;
    g2[d] = 0.0;
  }
  for (var h = hk * G; h < hk * G + G; h++) {
    let bh = b * params.heads + h;
    let qBase = params.qOffset + b * params.qStrideB + h * params.qStrideH;
    let dOBase = params.dOOffset + b * params.dOStrideB + h * params.dOStrideH;
    for (var t0 = 0u; t0 < Tq; t0 += BC) {
      for (var i = lid.x; i < BC * D; i += BR) {
        let qi = min(t0 + i / D, Tq - 1u);
        tileA[i] = q[qBase + qi * params.qStrideT + i % D];
        tileB[i] = dO[dOBase + qi * params.dOStrideT + i % D];
      }
      for (var i = lid.x; i < BC; i += BR) {
        let qi = min(t0 + i, Tq - 1u);
        tileRow[i] = rowStats[bh * Tq + qi];
        tileRow[BC + i] = rowStats[params.deltaOffset + bh * Tq + qi];
      }
      workgroupBarrier();
      if (valid) {
        for (var cc = 0u; cc < BC; cc++) {
          let i = t0 + cc;
          if (!kept(b, i, row)) { continue; }
          let mv = maskAt(b, h, i, row);
          if (maskedOut(mv)) { continue; }
          var s = 0.0;
          var dp = 0.0;
          for (var d = 0u; d < D; d++) {
            s += tileA[cc * D + d] * a[d];
            dp += tileB[cc * D + d] * c[d];
          }
          let p = exp(s * params.scale + mv - tileRow[cc]);
          var z = 1.0;
          if (DROPOUT) { z = dropFactor((bh * Tq + i) * Tk + row, salted); }
          let ds = p * (dp * z - tileRow[BC + cc]);
          let pz = p * z;
          for (var d = 0u; d < D; d++) {
            g1[d] += ds * tileA[cc * D + d];
            g2[d] += pz * tileB[cc * D + d];
          }
        }
      }
      workgroupBarrier();
    }
  }
  if (valid) {
    let dk = params.dkOffset + b * params.dkStrideB + hk * params.dkStrideH + row * params.dkStrideT;
    let dv = params.dvOffset + b * params.dvStrideB + hk * params.dvStrideH + row * params.dvStrideT;
    for (var d = 0u; d < D; d++) {
      grads[dk + d] = g1[d] * params.scale;
      grads[dv + d] = g2[d];
    }
  }
}
