// reduce_axis.wgsl — the (scaled) sum over the middle axis of a contiguous [outer, n, inner] view
//
//   y[offsetY + o·inner + i] = alpha · Σ_{k < n} x[offsetX + (o·n + k)·inner + i]
//
//   alpha = 1/n gives the mean. The sum is compensated (Kahan), so long axes (n up to millions)
//   keep close to f32 rounding of the exact sum.
//
// Bindings (group 0):
//   0 x      storage, read        array<f32>   outer·n·inner elements from offsetX
//   1 y      storage, read_write  array<f32>   outer·inner elements from offsetY
//   2 params uniform              Params
// Workgroup: WG threads, one output element (o, i) each; consecutive threads take consecutive i,
//   so their reads of each k are contiguous when inner is large. Grid: (gridX, ⌈outer·inner /
//   (gridX·WG)⌉); flat output index = gid.x + gid.y·gridX·WG.

struct Params {
  outer: u32, n: u32, inner: u32,
  offsetX: u32, offsetY: u32,
  gridX: u32,
  alpha: f32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x + gid.y * params.gridX * WG;
  let inner = params.inner;
  if (t >= params.outer * inner) { return; }
  let o = t / inner;
  let i = t - o * inner;
  var p = params.offsetX + o * params.n * inner + i;
  var s = 0.0;
  var c = 0.0;  // Kahan compensation: the low-order part lost by the last addition
  for (var k = 0u; k < params.n; k++) {
    let v = x[p] - c;
    let u = s + v;
    c = (u - s) - v;
    s = u;
    p += inner;
  }
  y[params.offsetY + t] = params.alpha * s;
}
