// bias_act.wgsl — fused bias + activation over a row-major rows × cols matrix
//
//   y[r, c] = act(x[r, c] + b[c])      act (ACT): 0 identity, 1 sigmoid, 2 tanh, 3 relu
//
// Bindings (group 0):
//   0 x      storage, read        array<f32>   rows × cols from offsetX
//   1 b      storage, read        array<f32>   cols from offsetB
//   2 y      storage, read_write  array<f32>   rows × cols from offsetY
//   3 params uniform              Params
// Workgroup: WG threads, one element each. Grid: (gridX, ⌈n / (gridX·WG)⌉), n = rows·cols.

// #include "activations.wgsl"

struct Params {
  n: u32, cols: u32,
  offsetX: u32, offsetB: u32, offsetY: u32,
  gridX: u32,
}

override ACT: u32 = 0u;
override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * params.gridX * WG;
  if (i >= params.n) { return; }
  y[params.offsetY + i] = activate(x[params.offsetX + i] + b[params.offsetB + i % params.cols], ACT);
}
