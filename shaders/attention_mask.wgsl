// attention_mask.wgsl — builds the additive mask of multi-head attention (PyTorch's
// nn.MultiheadAttention semantics) from a key padding mask and an attention mask:
//
//   M[b, h, i, j] = A(b, h, i, j) + P(b, j)      written as −3.4e38 when the key is masked out
//   A: attnMask, [seqLenQ, seqLenK] (strides 0, 0, seqLenK) or [batch·heads, seqLenQ, seqLenK];
//      f32 (ATTN 1): added as is (−∞ masks); i32 (ATTN 2): nonzero masks (PyTorch's bool True)
//   P: keyPaddingMask [batch, seqLenK]; f32 (KPM 1): added; i32 (KPM 2): nonzero masks
//
// M is contiguous [outB, outH, outT, seqLenK]; each of outB, outH, outT is 1 when no source
// varies along it (the attention kernel then reads it with stride 0). −∞ is recognised by its bits
// (0xff800000), so nothing relies on IEEE infinities in comparisons.
//
// Bindings (group 0):
//   0 attn    read        the attention mask (a 16-byte dummy when ATTN 0), as raw 32-bit words
//   1 kpm     read        the key padding mask (a dummy when KPM 0), as raw 32-bit words
//   2 out     read_write  M (from element outOffset)
//   3 params  uniform     MaskParams
// Workgroup: WG threads, one element of M each. Grid: (gridX, ⌈total / (gridX·WG)⌉).

struct MaskParams {
  total: u32,
  gridX: u32,
  outH: u32,
  outT: u32,
  seqLenK: u32,
  attnOffset: u32, attnStrideB: u32, attnStrideH: u32, attnStrideT: u32,
  kpmOffset: u32, kpmStrideB: u32,
  outOffset: u32,
}

override ATTN: u32 = 0u;   // 0 none, 1 f32 additive, 2 i32 nonzero = masked
override KPM: u32 = 0u;    // 0 none, 1 f32 additive, 2 i32 nonzero = masked
override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> attn: array<u32>;
@group(0) @binding(1) var<storage, read> kpm: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: MaskParams;

const MASKED_OUT = -3.4e38;

// The contribution of one mask word: f32 (mode 1) as is, −∞ and ≤ −3e38 as MASKED_OUT; i32
// (mode 2): MASKED_OUT when nonzero, else 0.
fn contribution(mode: u32, bits: u32) -> f32 {
  if (mode == 1u) {
    let x = bitcast<f32>(bits);
    return select(x, MASKED_OUT, bits == 0xff800000u || x <= -3.0e38);
  }
  return select(0.0, MASKED_OUT, bits != 0u);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.x + gid.y * params.gridX * WG;
  if (idx >= params.total) { return; }
  let S = params.seqLenK;
  let j = idx % S;
  let i = (idx / S) % params.outT;
  let h = (idx / (S * params.outT)) % params.outH;
  let b = idx / (S * params.outT * params.outH);
  var a = 0.0;
  var p = 0.0;
  if (ATTN != 0u) {
    a = contribution(ATTN, attn[params.attnOffset + b * params.attnStrideB + h * params.attnStrideH + i * params.attnStrideT + j]);
  }
  if (KPM != 0u) {
    p = contribution(KPM, kpm[params.kpmOffset + b * params.kpmStrideB + j]);
  }
  out[params.outOffset + idx] = select(a + p, MASKED_OUT, a == MASKED_OUT || p == MASKED_OUT);
}
