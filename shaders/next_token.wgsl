// next_token.wgsl — next decoder input per batch row: greedy argmax or teacher forcing
//
//   pred[b] = argmax_v logits[b, v]            (lowest v on ties; NaN logits never win)
//   next[b] = useTeacher[b] ≠ 0 ? teacher[b] : pred[b]
//   (HAS_TEACHER without HAS_USE: next = teacher for every row — teacher forcing ratio 1;
//    without HAS_TEACHER: next = pred)
//
// Bindings (group 0):
//   0 logits     storage, read        array<f32>  batch rows of vocab, row stride ldLogits, from offsetLogits
//   1 teacher    storage, read        array<i32>  batch from offsetTeacher     (HAS_TEACHER only)
//   2 useTeacher storage, read        array<u32>  batch from offsetUse         (HAS_USE only)
//   3 next       storage, read_write  array<i32>  batch from offsetNext
//   4 pred       storage, read_write  array<i32>  batch from offsetPred       (WRITE_PRED only)
//   5 params     uniform              Params
// Workgroup: WG threads (a power of two) per batch row. Each thread scans the row in strides of
//   WG keeping its first maximum; the (value, index) pairs are tree-reduced in workgroup memory
//   (2·WG words), the larger value winning and the lower index on equal values.
// Grid: (gridX, ⌈batch / gridX⌉): row = workgroup_id.x + workgroup_id.y · gridX.

struct Params {
  batch: u32, vocab: u32, ldLogits: u32,
  offsetLogits: u32, offsetTeacher: u32, offsetUse: u32, offsetNext: u32, offsetPred: u32,
  gridX: u32,
}

override WG: u32 = 256u;
override HAS_TEACHER: bool = false;
override HAS_USE: bool = false;
override WRITE_PRED: bool = false;

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> teacher: array<i32>;
@group(0) @binding(2) var<storage, read> useTeacher: array<u32>;
@group(0) @binding(3) var<storage, read_write> next: array<i32>;
@group(0) @binding(4) var<storage, read_write> pred: array<i32>;
@group(0) @binding(5) var<uniform> params: Params;

var<workgroup> bestV: array<f32, WG>;
var<workgroup> bestI: array<u32, WG>;

const NONE = 0xffffffffu;   // "no candidate yet": loses to every real index

// (va, ia) beats (vb, ib): a real candidate beats none; larger value; on equal values the lower index.
fn beats(va: f32, ia: u32, vb: f32, ib: u32) -> bool {
  return ia != NONE && (ib == NONE || va > vb || (va == vb && ia < ib));
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let row = wid.x + wid.y * params.gridX;
  if (row >= params.batch) { return; }
  let base = params.offsetLogits + row * params.ldLogits;

  var v = 0.0;
  var i = NONE;
  for (var j = lid; j < params.vocab; j += WG) {
    let x = logits[base + j];
    if (beats(x, j, v, i) && x == x) { v = x; i = j; }   // x == x: skip NaN
  }
  bestV[lid] = v;
  bestI[lid] = i;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s && beats(bestV[lid + s], bestI[lid + s], bestV[lid], bestI[lid])) {
      bestV[lid] = bestV[lid + s];
      bestI[lid] = bestI[lid + s];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let p = select(i32(bestI[0]), 0, bestI[0] == NONE);   // an all-NaN row predicts token 0
    var n = p;
    if (HAS_TEACHER) {
      var forced = true;
      if (HAS_USE) { forced = useTeacher[params.offsetUse + row] != 0u; }
      if (forced) { n = teacher[params.offsetTeacher + row]; }
    }
    next[params.offsetNext + row] = n;
    if (WRITE_PRED) { pred[params.offsetPred + row] = p; }
  }
}
