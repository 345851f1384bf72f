// gather_rows.wgsl — reorders beam-state rows by the parents a beam-search step chose
//
//   dst[g, b·K + j, e] = src[g, b·K + parents[step, b, j], e]     g < groups, e < width
//   (a parent outside [0, K) writes 0 for the row: nothing is read out of bounds)
// Rows are copied as 32-bit words (u32), so f32 and i32 state are moved bit for bit.
//
// Bindings (group 0):
//   0 parents storage, read        array<i32>  batch·K from offsetParents (= step·batch·K)
//   1 src     storage, read        array<u32>  groups × rows × width from offsetSrc
//   2 dst     storage, read_write  array<u32>  groups × rows × width from offsetDst
//   3 params  uniform              Params       (rows = batch·K)
// Workgroup: WG threads, one output word each (consecutive threads copy one row).
// Grid: (gridX, ⌈groups·rows·width / (gridX·WG)⌉): element = global x + global y · gridX · WG.

struct Params {
  groups: u32, rows: u32, beamWidth: u32, width: u32,
  offsetParents: u32, offsetSrc: u32, offsetDst: u32,
  gridX: u32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> parents: array<i32>;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let k = gid.x + gid.y * params.gridX * WG;
  let W = params.width;
  let R = params.rows;
  if (k >= params.groups * R * W) { return; }
  let e = k % W;
  let r = (k / W) % R;
  let g = k / (W * R);
  let p = parents[params.offsetParents + r];
  var word = 0u;
  if (p >= 0 && u32(p) < params.beamWidth) {
    let srcRow = r - r % params.beamWidth + u32(p);
    word = src[params.offsetSrc + (g * R + srcRow) * W + e];
  }
  dst[params.offsetDst + k] = word;
}
