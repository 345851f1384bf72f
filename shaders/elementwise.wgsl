// elementwise.wgsl — one map over n elements
//
//   OP 0 add:     y = x + b        OP 3 sigmoid: y = 1/(1+e^{−x})
//   OP 1 mul:     y = x ⊙ b        OP 4 tanh:    y = tanh(x)
//   OP 2 scale:   y = alpha · x    OP 5 relu:    y = max(x, 0)
//   OP 6 tanhGrad: y = b ⊙ (1 − x²)   (x = tanh's output, b = dL/d output: the gradient of its input)
//
// Bindings (group 0):
//   0 x      storage, read        array<f32>   n elements from offsetX
//   1 b      storage, read        array<f32>   n elements from offsetB (add, mul, tanhGrad only)
//   2 y      storage, read_write  array<f32>   n elements from offsetY
//   3 params uniform              Params
// Workgroup: WG threads, one element each. Grid: (gridX, ⌈n / (gridX·WG)⌉).

// #include "activations.wgsl"

struct Params {
  n: u32,
  offsetX: u32, offsetB: u32, offsetY: u32,
  gridX: u32,
  alpha: f32,
}

override OP: u32 = 0u;
override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * params.gridX * WG;
  if (i >= params.n) { return; }
  let v = x[params.offsetX + i];
  var r: f32;
  switch OP {
    case 0u: { r = v + b[params.offsetB + i]; }
    case 1u: { r = v * b[params.offsetB + i]; }
    case 2u: { r = params.alpha * v; }
    case 3u: { r = activate(v, 1u); }
    case 4u: { r = activate(v, 2u); }
    case 6u: { r = b[params.offsetB + i] * (1.0 - v * v); }
    default: { r = activate(v, 3u); }
  }
  y[params.offsetY + i] = r;
}
