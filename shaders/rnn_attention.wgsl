// rnn_attention.wgsl — RNN (encoder-decoder) attention forward: score, masked softmax over the
// source and context, fused; TPR threads per query row, WG / TPR rows per workgroup.
//
//   score_s = qs·ks_s                          (dot: qs = h_t, ks = h̄_s; general: qs = h_t, ks = W·h̄_s)
//   score_s = Σ_a v_a·tanh(qs_a + ks_sa)       (ADDITIVE: qs = W1·h_t, ks = W2·h̄_s, v at weights[vOffset])
//   α_s = exp(score_s − max) / Σ_s' exp(score_s' − max) over kept keys (keyMask[b, s] ≠ 0), 0 on masked keys
//   c_d = Σ_s α_s·h̄_sd
// A row whose keys are all masked gets α = 0 and c = 0. The projections (W·h̄, W1·h, W2·h̄) are GEMMs
// done beforehand (src/kernels/rnnAttention.ts).
//
// Bindings (group 0); every sequence is addressed as offset + b·strideB + t·strideT + d (f32 elements):
//   0 qs      read        query-side rows of the score, [batch, seqLenQ, scoreDim] (h_t, or W1·h_t)
//   1 ks      read        key-side rows of the score, [batch, seqLenS, scoreDim] (h̄_s, W·h̄_s or W2·h̄_s)
//   2 values  read        h̄, [batch, seqLenS, valueDim]
//   3 keyMask read        [batch, seqLenS] f32, 1 keep / 0 pad (a 16-byte dummy without KEY_MASK)
//   4 weights read        v [scoreDim] at vOffset (ADDITIVE; a dummy otherwise)
//   5 alpha   read_write  α, [batch, seqLenQ, seqLenS]; holds the raw scores until they are normalized
//   6 context read_write  c, [batch, seqLenQ, valueDim]
//   7 params  uniform     RnnAttentionParams
// Workgroup: WG threads = WG / TPR query rows × TPR threads per row (powers of two); row
// (wid.x + wid.y·gridX)·(WG / TPR) + lid.x / TPR of the batch·steps rows is (b, t0 + i), b·steps + i.
//   scores:  TPR / KL keys at a time, KL threads per key splitting scoreDim (consecutive d), their
//            partial sums added through workgroup memory (no barrier when KL = 1); the thread with
//            lane 0 owns its keys: writes the raw score and keeps an online max / sum of exp;
//   softmax: the owners' (max, sum) pairs are combined through workgroup memory (one barrier),
//            each owner normalizes its keys in place in α (one storage barrier before the context);
//   context: COLS consecutive columns × TPR / COLS slices of the keys, slices added in workgroup
//            memory (no barrier when COLS = TPR).
// With TPR = 1 (software adapters) a thread does its whole row and the kernel has no barrier.
// Workgroup memory: 2·WG floats.

struct RnnAttentionParams {
  batch: u32,
  steps: u32,
  t0: u32,
  seqLenS: u32,
  scoreDim: u32,
  valueDim: u32,
  gridX: u32,
  vOffset: u32,
  qOffset: u32, qStrideB: u32, qStrideT: u32,
  kOffset: u32, kStrideB: u32, kStrideT: u32,
  hOffset: u32, hStrideB: u32, hStrideT: u32,
  aOffset: u32, aStrideB: u32, aStrideT: u32,
  cOffset: u32, cStrideB: u32, cStrideT: u32,
}

override WG: u32 = 256u;      // threads per workgroup, a power of two
override TPR: u32 = 256u;     // threads per query row (divides WG)
override KL: u32 = 8u;        // threads per key in the score phase (divides TPR)
override COLS: u32 = 64u;     // context columns per pass (divides TPR)
override ADDITIVE: bool = false;
override KEY_MASK: bool = false;

@group(0) @binding(0) var<storage, read> qs: array<f32>;
@group(0) @binding(1) var<storage, read> ks: array<f32>;
@group(0) @binding(2) var<storage, read> values: array<f32>;
@group(0) @binding(3) var<storage, read> keyMask: array<f32>;
@group(0) @binding(4) var<storage, read> weights: array<f32>;
@group(0) @binding(5) var<storage, read_write> alpha: array<f32>;
@group(0) @binding(6) var<storage, read_write> context: array<f32>;
@group(0) @binding(7) var<uniform> params: RnnAttentionParams;

var<workgroup> red: array<f32, 2u * WG>;

const NEG_INF = -3.0e38;

fn kept(b: u32, s: u32) -> bool {
  if (KEY_MASK) { return keyMask[b * params.seqLenS + s] != 0.0; }
  return true;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let i = lid.x;
  let r0 = i - i % TPR;                  // this row's first thread in the workgroup
  let j = i % TPR;                       // thread within the row
  let row = (wid.x + wid.y * params.gridX) * (WG / TPR) + i / TPR;
  // Rows past the end still reach every barrier (uniform control flow) but read and write nothing.
  let valid = row < params.batch * params.steps;
  let b = select(0u, row / params.steps, valid);
  let t = params.t0 + select(0u, row % params.steps, valid);
  let S = params.seqLenS;
  let D = params.scoreDim;
  let qBase = params.qOffset + b * params.qStrideB + t * params.qStrideT;
  let aBase = params.aOffset + b * params.aStrideB + t * params.aStrideT;

  // 1. Raw scores into alpha (masked keys: −∞); the owner keeps an online max m and Σ exp(score − m).
  let slot = j / KL;
  let lane = j % KL;
  let keysPerPass = TPR / KL;
  var m = NEG_INF;
  var l = 0.0;
  for (var s0 = 0u; s0 < S; s0 += keysPerPass) {
    let s = s0 + slot;
    let live = valid && s < S && kept(b, s);
    var score = 0.0;
    if (live) {
      let kBase = params.kOffset + b * params.kStrideB + s * params.kStrideT;
      for (var d = lane; d < D; d += KL) {
        if (ADDITIVE) {
          score += weights[params.vOffset + d] * tanh(clamp(qs[qBase + d] + ks[kBase + d], -9.0, 9.0));
        } else {
          score += qs[qBase + d] * ks[kBase + d];
        }
      }
    }
    if (KL > 1u) {
      red[i] = score;
      workgroupBarrier();
      if (lane == 0u) {
        score = 0.0;
        for (var k = 0u; k < KL; k++) { score += red[i + k]; }
      }
      workgroupBarrier();
    }
    if (lane == 0u && valid && s < S) {
      alpha[aBase + s] = select(NEG_INF, score, live);
      if (live) {
        let mNew = max(m, score);
        l = l * exp(m - mNew) + exp(score - mNew);
        m = mNew;
      }
    }
  }

  // 2. Combine the owners' (m, l) of the row; normalize the own keys in place.
  if (TPR > 1u) {
    red[i] = m;
    red[WG + i] = l;
    workgroupBarrier();
    var mAll = NEG_INF;
    for (var k = 0u; k < TPR; k += KL) { mAll = max(mAll, red[r0 + k]); }
    var lAll = 0.0;
    for (var k = 0u; k < TPR; k += KL) { lAll += red[WG + r0 + k] * exp(red[r0 + k] - mAll); }
    m = mAll;
    l = lAll;
  }
  let inv = select(0.0, 1.0 / l, l > 0.0);    // every key masked: α = 0, c = 0
  if (lane == 0u && valid) {
    for (var s = slot; s < S; s += keysPerPass) {
      var a = 0.0;
      if (kept(b, s)) { a = exp(alpha[aBase + s] - m) * inv; }
      alpha[aBase + s] = a;
    }
  }
  if (TPR > 1u) { storageBarrier(); }

  // 3. Context c = Σ_s α_s·h̄_s.
  let H = params.valueDim;
  let col = j % COLS;
  let slice = j / COLS;
  let slices = TPR / COLS;
  let cBase = params.cOffset + b * params.cStrideB + t * params.cStrideT;
  for (var d0 = 0u; d0 < H; d0 += COLS) {
    let d = d0 + col;
    var acc = 0.0;
    if (valid && d < H) {
      for (var s = slice; s < S; s += slices) {
        let a = alpha[aBase + s];
        if (a != 0.0) { acc += a * values[params.hOffset + b * params.hStrideB + s * params.hStrideT + d]; }
      }
    }
    if (slices > 1u) {
      red[i] = acc;
      workgroupBarrier();
      if (slice == 0u) {
        acc = 0.0;
        for (var k = 0u; k < slices; k++) { acc += red[r0 + k * COLS + col]; }
      }
      workgroupBarrier();
    }
    if (slice == 0u && valid && d < H) { context[cBase + d] = acc; }
  }
}
