// attention.wgsl — fused scaled dot-product attention, forward, FlashAttention-style: K and V
// stream through workgroup memory in tiles, the softmax is computed online (running max m and
// running sum l per query row), and the Tq×Tk score matrix never exists in global memory.
//
//   S = Q·Kᵀ · scale + mask          (mask: −∞ where key j > query i when CAUSAL, or where the
//   O = softmax_rows(S) · V           key is padding: keyMask[b, j] == 0; with ADD_MASK the
//                                     binding holds an additive mask M[b, h, i, j] instead)
//   LSE[i] = log Σ_j exp(S[i, j])     (saved for the backward)
//
// Per key j of a query row:  m' = max(m, s_j);  c = e^{m − m'};  l ← l·c + e^{s_j − m'};
//                            acc ← acc·c + e^{s_j − m'}·v_j;  m ← m'.   At the end O = acc / l.
// A row whose keys are all masked gets O = 0 and LSE = −3e38 (−∞; PyTorch would give NaN).
//
// Grouped-query attention: K and V have kvHeads = heads / groupSize heads; query head h reads
// kv head ⌊h / groupSize⌋ (groupSize 1: ordinary multi-head attention).
//
// Layout: Q, K, V and O are strided views, element (b, h, t, d) of X at
//   X[xOffset + b·xStrideB + h·xStrideH + t·xStrideT + d]     (headDim contiguous),
// so [batch, heads, seqLen, headDim] (strides H·T·D, T·D, D) and the [batch, seqLen, heads·headDim]
// rows of a Q/K/V projection (strides T·R, D, R for row length R, e.g. R = 3E in a packed QKV
// buffer with offsets 0, E, 2E) are both read and written in place, with no transpose.
//
// Bindings (group 0):
//   0 q       read        view [batch, heads, seqLenQ, headDim]
//   1 k       read        view [batch, kvHeads, seqLenK, headDim]
//   2 v       read        view [batch, kvHeads, seqLenK, headDim]
//   3 o       read_write  view [batch, heads, seqLenQ, headDim]
//   4 lse     read_write  [batch, heads, seqLenQ] contiguous (the first half of the backward's rowStats)
//   5 keyMask read        [batch, seqLenK] (1 keep, 0 padding; a 16-byte dummy without KEY_MASK),
//                         or with ADD_MASK an additive mask view: M(b, h, i, j) at
//                         mOffset + b·mStrideB + h·mStrideH + i·mStrideT + j (strides may be 0 to
//                         broadcast), added to the scaled score; M ≤ −3e38 or −∞ masks the key out
//   6 params  uniform     AttentionParams
// Workgroup: BR threads, one query row each; tiles of BC keys × headDim of K and of V in
// workgroup memory (2·BC·MAX_D floats, BC chosen by the host to fit the device's
// maxComputeWorkgroupStorageSize: 16 KiB, the WebGPU default, is BC 16 at MAX_D 128 and BC 8 at
// MAX_D 256). Each thread keeps its query row and accumulator in private arrays of PRIV_D floats.
// Grid: (⌈seqLenQ / BR⌉, heads, batch).

struct AttentionParams {
  seqLenQ: u32,
  seqLenK: u32,
  headDim: u32,
  heads: u32,
  groupSize: u32,   // query heads per kv head
  scale: f32,
  qOffset: u32, qStrideB: u32, qStrideH: u32, qStrideT: u32,
  kOffset: u32, kStrideB: u32, kStrideH: u32, kStrideT: u32,
  vOffset: u32, vStrideB: u32, vStrideH: u32, vStrideT: u32,
  oOffset: u32, oStrideB: u32, oStrideH: u32, oStrideT: u32,
  mOffset: u32, mStrideB: u32, mStrideH: u32, mStrideT: u32,   // ADD_MASK only
}

override BR: u32 = 64u;       // query rows per workgroup
override BC: u32 = 16u;       // keys per tile
override MAX_D: u32 = 128u;   // headDim ≤ MAX_D ≤ PRIV_D
override CAUSAL: bool = false;
override KEY_MASK: bool = false;
override ADD_MASK: bool = false;   // binding 5 is an additive mask view (not with KEY_MASK)

// Length of the per-thread private rows (a WGSL constant: private arrays cannot be sized by an
// override). The host compiles a second module from this text with 256 for headDim 129…256.
const PRIV_D = 128u;

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read_write> o: array<f32>;
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;
@group(0) @binding(5) var<storage, read> keyMask: array<f32>;
@group(0) @binding(6) var<uniform> params: AttentionParams;

var<workgroup> kTile: array<f32, BC * MAX_D>;
var<workgroup> vTile: array<f32, BC * MAX_D>;

const NEG_INF = -3.0e38;

// An additive mask entry that removes the key: −∞ (by its bits: no reliance on IEEE infinities in
// comparisons) or anything ≤ −3e38.
fn maskedOut(x: f32) -> bool {
  return x <= NEG_INF || bitcast<u32>(x) == 0xff800000u;
}

@compute @workgroup_size(BR)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let D = params.headDim;
  let Tq = params.seqLenQ;
  let Tk = params.seqLenK;
  let b = wid.z;
  let h = wid.y;
  let bh = b * params.heads + h;                   // (batch, head)
  let row = wid.x * BR + lid.x;                    // query row of this thread
  let valid = row < Tq;
  let r = min(row, Tq - 1u);
  let qBase = params.qOffset + b * params.qStrideB + h * params.qStrideH + r * params.qStrideT;
  let oBase = params.oOffset + b * params.oStrideB + h * params.oStrideH + r * params.oStrideT;
  let hk = h / params.groupSize;                   // kv head
  let kBase = params.kOffset + b * params.kStrideB + hk * params.kStrideH;
  let vBase = params.vOffset + b * params.vStrideB + hk * params.vStrideH;
  let mBase = params.mOffset + b * params.mStrideB + h * params.mStrideH + r * params.mStrideT;

  var qr: array<f32, PRIV_D>;    // headDim ≤ PRIV_D
  var acc: array<f32, PRIV_D>;
  for (var d = 0u; d < D; d++) {
    qr[d] = q[qBase + d] * params.scale;
    acc[d] = 0.0;
  }
  var m = NEG_INF;
  var l = 0.0;

  // Causal: keys after the workgroup's last query row are never needed (uniform across the group).
  var keyEnd = Tk;
  if (CAUSAL) { keyEnd = min(Tk, min(wid.x * BR + BR, Tq)); }
  for (var t0 = 0u; t0 < keyEnd; t0 += BC) {
    // Cooperative load of the K and V tile (zeros past the end).
    for (var i = lid.x; i < BC * D; i += BR) {
      let key = t0 + i / D;
      var kv = 0.0;
      var vv = 0.0;
      if (key < Tk) {
        kv = k[kBase + key * params.kStrideT + i % D];
        vv = v[vBase + key * params.vStrideT + i % D];
      }
      kTile[i] = kv;
      vTile[i] = vv;
    }
    workgroupBarrier();
    if (valid) {
      for (var c = 0u; c < BC; c++) {
        let key = t0 + c;
        var keep = key < Tk;
        if (CAUSAL) { keep = keep && key <= row; }
        if (KEY_MASK) { keep = keep && keyMask[b * Tk + min(key, Tk - 1u)] != 0.0; }
        var s = 0.0;
        if (ADD_MASK) {
          s = keyMask[mBase + min(key, Tk - 1u)];
          keep = keep && !maskedOut(s);
        }
        if (keep) {
          for (var d = 0u; d < D; d++) { s += qr[d] * kTile[c * D + d]; }
          let mNew = max(m, s);
          let corr = exp(m - mNew);
          let p = exp(s - mNew);
          l = l * corr + p;
          for (var d = 0u; d < D; d++) { acc[d] = acc[d] * corr + p * vTile[c * D + d]; }
          m = mNew;
        }
      }
    }
    workgroupBarrier();
  }
  if (valid) {
    let inv = select(0.0, 1.0 / l, l > 0.0);
    for (var d = 0u; d < D; d++) { o[oBase + d] = acc[d] * inv; }
    lse[bh * Tq + row] = select(NEG_INF, m + log(l), l > 0.0);
  }
}
