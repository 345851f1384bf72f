// rnn_attention_backward.wgsl — RNN attention backward, fused per query row (PASS 0) and per key
// row (PASS 1), given the forward's α; the products with the weights are GEMMs in
// src/kernels/rnnAttention.ts. SCORE: 0 dot, 1 general, 2 additive.
//
// PASS 0, query row (b, t):
//   dα_s  = dc_t·h̄_s                                  (skipped where α_s = 0: masked or underflowed)
//   δ     = Σ_s α_s·dα_s
//   ds_s  = α_s·(dα_s − δ)                             → dS[b·seqLenQ + t, s]
//   dot:      dh_t (+)= Σ_s ds_s·h̄_s                    → out (dQuery)
//   general:  dh_t (+)= Σ_s ds_s·kp_s,  kp_s = W·h̄_s    → out (dQuery)
//   additive (u_sa = tanh(qp_a + kp_sa), qp = W1·h_t, kp_s = W2·h̄_s):
//   dqp_a = v_a·Σ_s ds_s·(1 − u_sa²)                   → dQp[b, t, a]
//   dvr_a = Σ_s ds_s·u_sa                              → dvRow[b·seqLenQ + t, a]   (dv = column sum of dvRow)
// PASS 1, key row (b, s):
//   dh̄_s (+)= Σ_t α_ts·dc_t  (dot: + Σ_t ds_ts·h_t)      → out (dKeys)
//   general:  dkp_s = Σ_t ds_ts·h_t                    → dKp[b, s, ·]  (dh̄ += dKp·W and dW = dKpᵀ·h̄ are GEMMs)
//   additive: dkp_sa = v_a·Σ_t ds_ts·(1 − u_tsa²)      → dKp[b, s, a]
// ACCUMULATE: out += instead of out =. Without FUSE the products that are batched GEMMs (per batch
// row: dS·h̄ or dS·kp, αᵀ·dc, dSᵀ·h) are left to GEMMs: PASS 0 stops after dS (dot, general) and
// PASS 1 computes only the additive dkp (the host picks FUSE when those GEMMs would be small).
//
// Bindings (group 0); a sequence is addressed as offset + b·strideB + t·strideT + d (f32 elements):
//   0 alpha    read        α, [batch, seqLenQ, seqLenS]
//   1 dContext read        dc, [batch, seqLenQ, valueDim]
//   2 rows     read        PASS 0: h̄ [batch, seqLenS, valueDim] (h strides); PASS 1: h [batch, seqLenQ, queryDim] (x strides)
//   3 proj     read        general: kp [batch, seqLenS, queryDim]; additive: qp [batch, seqLenQ, attnDim] and kp; else a dummy
//   4 weights  read        v [attnDim] at vOffset (additive; else a dummy)
//   5 work     read_write  dS [batch·seqLenQ, seqLenS] at dsOffset; dQp, dvRow (additive), dKp (general, additive)
//   6 out      read_write  PASS 0: dQuery [batch, seqLenQ, queryDim]; PASS 1: dKeys [batch, seqLenS, valueDim] (o strides)
//   7 params   uniform     RnnAttentionBackwardParams
// Workgroup: WG threads = WG / TPR rows × TPR threads per row (powers of two); row
// (wid.x + wid.y·gridX)·(WG / TPR) + lid.x / TPR.
//   PASS 0 dα: TPR / KL keys at a time, KL threads per key splitting valueDim, partial sums added
//         through workgroup memory (no barrier when KL = 1); the lane-0 thread owns its keys and
//         their part of δ; δ is summed through workgroup memory (one barrier), owners write ds
//         (one storage barrier before the rest of the row reads it);
//   columns (dQuery, dqp/dvr, dKeys, dkp): COLS consecutive columns × TPR / COLS slices of s (or t),
//         slices added in workgroup memory (no barrier when COLS = TPR).
// With TPR = 1 (software adapters) a thread does its whole row and the kernel has no barrier.
// Workgroup memory: 2·WG floats.

struct RnnAttentionBackwardParams {
  batch: u32,
  seqLenQ: u32,
  seqLenS: u32,
  queryDim: u32,
  valueDim: u32,
  attnDim: u32,
  gridX: u32,
  vOffset: u32,
  dsOffset: u32,
  dvOffset: u32,
  aOffset: u32, aStrideB: u32, aStrideT: u32,
  gOffset: u32, gStrideB: u32, gStrideT: u32,
  hOffset: u32, hStrideB: u32, hStrideT: u32,
  xOffset: u32, xStrideB: u32, xStrideT: u32,
  qpOffset: u32, qpStrideB: u32, qpStrideT: u32,
  kpOffset: u32, kpStrideB: u32, kpStrideT: u32,
  dqOffset: u32, dqStrideB: u32, dqStrideT: u32,
  dkOffset: u32, dkStrideB: u32, dkStrideT: u32,
  oOffset: u32, oStrideB: u32, oStrideT: u32,
}

override WG: u32 = 256u;      // threads per workgroup, a power of two
override TPR: u32 = 256u;     // threads per row (divides WG)
override KL: u32 = 8u;        // threads per key in the dα phase (divides TPR)
override COLS: u32 = 64u;     // columns per pass (divides TPR)
override SCORE: u32 = 0u;     // 0 dot, 1 general, 2 additive
override PASS: u32 = 0u;      // 0: per query row; 1: per key row
override ACCUMULATE: bool = false;
override FUSE: bool = true;   // PASS 0: dQuery (dot, general); PASS 1: dKeys and the general dkp

@group(0) @binding(0) var<storage, read> alpha: array<f32>;
@group(0) @binding(1) var<storage, read> dContext: array<f32>;
@group(0) @binding(2) var<storage, read> rows: array<f32>;
@group(0) @binding(3) var<storage, read> proj: array<f32>;
@group(0) @binding(4) var<storage, read> weights: array<f32>;
@group(0) @binding(5) var<storage, read_write> work: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;
@group(0) @binding(7) var<uniform> params: RnnAttentionBackwardParams;

var<workgroup> red: array<f32, 2u * WG>;

fn tanhSafe(x: f32) -> f32 {
  return tanh(clamp(x, -9.0, 9.0));
}

// Adds the TPR / COLS slices of x (the row's threads r0…r0+TPR−1) in workgroup memory; the
// result is valid in slice 0. `half` picks one of the two halves of `red`, so two sums can share
// a pair of barriers. Called in uniform control flow.
fn sliceSum(x: f32, i: u32, r0: u32, col: u32, half: u32) -> f32 {
  red[half * WG + i] = x;
  workgroupBarrier();
  var sum = 0.0;
  for (var k = 0u; k < TPR / COLS; k++) { sum += red[half * WG + r0 + k * COLS + col]; }
  return sum;
}

fn store(index: u32, x: f32) {
  if (ACCUMULATE) { out[index] += x; } else { out[index] = x; }
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let i = lid.x;
  let r0 = i - i % TPR;
  let j = i % TPR;
  let row = (wid.x + wid.y * params.gridX) * (WG / TPR) + i / TPR;
  let S = params.seqLenS;
  let Tq = params.seqLenQ;
  let A = params.attnDim;
  let col = j % COLS;
  let slice = j / COLS;
  let slices = TPR / COLS;

  if (PASS == 0u) {
    // Rows past the end reach every barrier but read and write nothing.
    let valid = row < params.batch * Tq;
    let b = select(0u, row / Tq, valid);
    let t = select(0u, row % Tq, valid);
    let aBase = params.aOffset + b * params.aStrideB + t * params.aStrideT;
    let gBase = params.gOffset + b * params.gStrideB + t * params.gStrideT;
    let dsBase = params.dsOffset + row * S;
    let H = params.valueDim;

    // 1. dα_s = dc·h̄_s into dS; the owner's part of δ = Σ α_s·dα_s.
    let slot = j / KL;
    let lane = j % KL;
    let keysPerPass = TPR / KL;
    var delta = 0.0;
    for (var s0 = 0u; s0 < S; s0 += keysPerPass) {
      let s = s0 + slot;
      var a = 0.0;
      if (valid && s < S) { a = alpha[aBase + s]; }
      var da = 0.0;
      if (a != 0.0) {
        let hBase = params.hOffset + b * params.hStrideB + s * params.hStrideT;
        for (var d = lane; d < H; d += KL) { da += dContext[gBase + d] * rows[hBase + d]; }
      }
      if (KL > 1u) {
        red[i] = da;
        workgroupBarrier();
        if (lane == 0u) {
          da = 0.0;
          for (var k = 0u; k < KL; k++) { da += red[i + k]; }
        }
        workgroupBarrier();
      }
      if (lane == 0u && valid && s < S) {
        work[dsBase + s] = da;
        delta += a * da;
      }
    }
    if (TPR > 1u) {
      red[i] = delta;
      workgroupBarrier();
      delta = 0.0;
      for (var k = 0u; k < TPR; k += KL) { delta += red[r0 + k]; }
    }

    // 2. ds_s = α_s·(dα_s − δ), in place by the owner; 0 where α_s = 0.
    if (lane == 0u && valid) {
      for (var s = slot; s < S; s += keysPerPass) {
        let a = alpha[aBase + s];
        work[dsBase + s] = select(0.0, a * (work[dsBase + s] - delta), a != 0.0);
      }
    }
    if (TPR > 1u) { storageBarrier(); }

    if (SCORE != 2u && FUSE) {
      // 3. dh_t (+)= Σ_s ds_s·src_s, src = h̄ (dot) or kp (general).
      let Hq = params.queryDim;
      let oBase = params.oOffset + b * params.oStrideB + t * params.oStrideT;
      for (var d0 = 0u; d0 < Hq; d0 += COLS) {
        let d = d0 + col;
        var acc = 0.0;
        if (valid && d < Hq) {
          for (var s = slice; s < S; s += slices) {
            let ds = work[dsBase + s];
            if (ds != 0.0) {
              if (SCORE == 0u) {
                acc += ds * rows[params.hOffset + b * params.hStrideB + s * params.hStrideT + d];
              } else {
                acc += ds * proj[params.kpOffset + b * params.kpStrideB + s * params.kpStrideT + d];
              }
            }
          }
        }
        if (slices > 1u) {
          acc = sliceSum(acc, i, r0, col, 0u);
          workgroupBarrier();
        }
        if (slice == 0u && valid && d < Hq) { store(oBase + d, acc); }
      }
    } else if (SCORE == 2u) {
      // 3. dqp_a = v_a·Σ_s ds_s·(1 − u²),  dvr_a = Σ_s ds_s·u.
      let qpBase = params.qpOffset + b * params.qpStrideB + t * params.qpStrideT;
      let dqBase = params.dqOffset + b * params.dqStrideB + t * params.dqStrideT;
      for (var a0 = 0u; a0 < A; a0 += COLS) {
        let a = a0 + col;
        var g = 0.0;
        var h = 0.0;
        if (valid && a < A) {
          let qa = proj[qpBase + a];
          for (var s = slice; s < S; s += slices) {
            let ds = work[dsBase + s];
            if (ds != 0.0) {
              let u = tanhSafe(qa + proj[params.kpOffset + b * params.kpStrideB + s * params.kpStrideT + a]);
              g += ds * (1.0 - u * u);
              h += ds * u;
            }
          }
        }
        if (slices > 1u) {
          g = sliceSum(g, i, r0, col, 0u);
          h = sliceSum(h, i, r0, col, 1u);
          workgroupBarrier();
        }
        if (slice == 0u && valid && a < A) {
          work[dqBase + a] = weights[params.vOffset + a] * g;
          work[params.dvOffset + row * A + a] = h;
        }
      }
    }
  } else {
    // PASS 1, key row (b, s).
    let valid = row < params.batch * S;
    let b = select(0u, row / S, valid);
    let s = select(0u, row % S, valid);
    let H = params.valueDim;
    // dh̄_s (+)= Σ_t α_ts·dc_t (dot: + Σ_t ds_ts·h_t).
    let oBase = params.oOffset + b * params.oStrideB + s * params.oStrideT;
    for (var d0 = 0u; FUSE && d0 < H; d0 += COLS) {
      let d = d0 + col;
      var acc = 0.0;
      if (valid && d < H) {
        for (var t = slice; t < Tq; t += slices) {
          let a = alpha[params.aOffset + b * params.aStrideB + t * params.aStrideT + s];
          if (a != 0.0) { acc += a * dContext[params.gOffset + b * params.gStrideB + t * params.gStrideT + d]; }
          if (SCORE == 0u) {
            let ds = work[params.dsOffset + (b * Tq + t) * S + s];
            if (ds != 0.0) { acc += ds * rows[params.xOffset + b * params.xStrideB + t * params.xStrideT + d]; }
          }
        }
      }
      if (slices > 1u) {
        acc = sliceSum(acc, i, r0, col, 0u);
        workgroupBarrier();
      }
      if (slice == 0u && valid && d < H) { store(oBase + d, acc); }
    }
    if (SCORE == 0u || (SCORE == 1u && !FUSE)) { return; }
    // general: dkp_s = Σ_t ds_ts·h_t (width queryDim); additive: dkp_sa = v_a·Σ_t ds_ts·(1 − u²) (width attnDim).
    let W = select(params.queryDim, A, SCORE == 2u);
    let kpBase = params.kpOffset + b * params.kpStrideB + s * params.kpStrideT;
    let dkBase = params.dkOffset + b * params.dkStrideB + s * params.dkStrideT;
    for (var a0 = 0u; a0 < W; a0 += COLS) {
      let a = a0 + col;
      var g = 0.0;
      if (valid && a < W) {
        var ka = 0.0;
        if (SCORE == 2u) { ka = proj[kpBase + a]; }
        for (var t = slice; t < Tq; t += slices) {
          let ds = work[params.dsOffset + (b * Tq + t) * S + s];
          if (ds != 0.0) {
            if (SCORE == 2u) {
              let u = tanhSafe(proj[params.qpOffset + b * params.qpStrideB + t * params.qpStrideT + a] + ka);
              g += ds * (1.0 - u * u);
            } else {
              g += ds * rows[params.xOffset + b * params.xStrideB + t * params.xStrideT + a];
            }
          }
        }
      }
      if (slices > 1u) {
        g = sliceSum(g, i, r0, col, 0u);
        workgroupBarrier();
      }
      if (slice == 0u && valid && a < W) {
        if (SCORE == 2u) { g *= weights[params.vOffset + a]; }
        work[dkBase + a] = g;
      }
    }
  }
}
