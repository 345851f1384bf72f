// embedding_backward.wgsl — embedding weight gradient, deterministic (no float atomics)
//
//   dW[v, e] = Σ_{n : idx[n] = v} dY[n, e]      (in increasing n: fixed order, same bits every run)
//   dW[paddingIdx, :] = 0                      (paddingIdx < 0: none)
//   ACCUMULATE: dW[v, e] += that sum instead (gradient accumulation; the padding row is left as is)
// Out-of-range indices match no row: they contribute nothing.
//
// Bindings (group 0):
//   0 indices storage, read        array<i32>  tokens from offsetIdx
//   1 dY      storage, read        array<f32>  tokens × dim from offsetDY
//   2 dW      storage, read_write  array<f32>  vocab × dim from offsetDW
//   3 params  uniform              Params
// Workgroup: WG threads = R = WG/EP vocabulary rows × EP columns (EP = min(WG, nextPow2(dim)));
//   a row wider than WG is split into ⌈dim/WG⌉ column chunks, one workgroup each. The workgroup
//   walks the indices in tiles of WG: each thread loads one index into workgroup memory and,
//   if it falls in the workgroup's rows, flags the tile (workgroup atomicMax of the tile number,
//   so no reset is needed). If the tile has a hit, every thread scans it in order (index reads
//   are broadcasts) and adds dY[n, e] for the n that match its row. Two barriers per tile.
//   Cost: ⌈V/R⌉·chunks workgroups × ⌈tokens/WG⌉ tiles; a tile with a hit costs WG compares per
//   thread, so O(tokens) compares per thread at worst — cheap for character- and small
//   word-level vocabularies; with a large vocabulary most tiles have no hit and cost two
//   barriers. O(tokens·dim) gradient loads in all. Workgroup memory: WG + 1 words.
//   Grid: (gridX, ⌈groups / gridX⌉): workgroup index x + y·gridX, groups = ⌈V/R⌉·chunks.

struct Params {
  tokens: u32, dim: u32, vocab: u32,
  offsetIdx: u32, offsetDY: u32, offsetDW: u32,
  gridX: u32,
  chunks: u32,       // ⌈dim / EP⌉
  groups: u32,       // ⌈vocab / R⌉ · chunks
  paddingIdx: i32,   // −1: none
}

override WG: u32 = 256u;
override EP: u32 = 256u;   // threads per row (a power of two dividing WG)
override ACCUMULATE: bool = false;

@group(0) @binding(0) var<storage, read> indices: array<i32>;
@group(0) @binding(1) var<storage, read> dY: array<f32>;
@group(0) @binding(2) var<storage, read_write> dW: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

var<workgroup> tile: array<i32, WG>;
var<workgroup> lastHit: atomic<u32>;  // zero-initialised; the number (from 1) of the last tile with a hit

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let wg = wid.x + wid.y * params.gridX;
  if (wg >= params.groups) { return; }
  let R = WG / EP;
  let dim = params.dim;
  let v0 = (wg / params.chunks) * R;
  let v1 = min(params.vocab, v0 + R);
  let v = v0 + lid / EP;
  let e = (wg % params.chunks) * EP + lid % EP;
  let inside = v < params.vocab && e < dim;
  let pad = i32(v) == params.paddingIdx;
  let live = inside && !pad;

  var acc = 0.0;
  var t = 0u;
  for (var base = 0u; base < params.tokens; base += WG) {
    t++;
    let n = base + lid;
    var id = -1;
    if (n < params.tokens) { id = indices[params.offsetIdx + n]; }
    tile[lid] = id;
    if (id >= i32(v0) && id < i32(v1)) { atomicMax(&lastHit, t); }
    workgroupBarrier();
    if (live && atomicLoad(&lastHit) == t) {
      let m = min(WG, params.tokens - base);
      for (var j = 0u; j < m; j++) {
        if (tile[j] == i32(v)) { acc += dY[params.offsetDY + (base + j) * dim + e]; }
      }
    }
    workgroupBarrier();  // the tile is rewritten next
  }
  let dst = params.offsetDW + v * dim + e;
  if (live) {
    if (ACCUMULATE) { dW[dst] = dW[dst] + acc; } else { dW[dst] = acc; }
  } else if (inside && !ACCUMULATE) {
    dW[dst] = 0.0;  // the padding row
  }
}
