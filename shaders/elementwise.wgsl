// elementwise.wgsl — one map over n elements
//
//   OP 0 add:     y = x + b        OP 3 sigmoid: y = 1/(1+e^{−x})
//   OP 1 mul:     y = x ⊙ b        OP 4 tanh:    y = tanh(x)
//   OP 2 scale:   y = alpha · x    OP 5 relu:    y = max(x, 0)
//   OP 6 tanhGrad: y = b ⊙ (1 − x²)   (x = tanh's output, b = dL/d output: the gradient of its input)
//   OP 7 reluGrad:     y = b if x > 0 else 0      (x = relu's input or output)
//   OP 8 sigmoidGrad:  y = b ⊙ x ⊙ (1 − x)        (x = sigmoid's output)
//   OP 9 gelu:         y = ½·x·(1 + erf(x/√2))    (exact GELU)
//   OP 10 geluTanh:    y = ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
//   OP 11 geluGrad:    y = b ⊙ gelu'(x)           (x = gelu's input)
//   OP 12 geluTanhGrad: y = b ⊙ geluTanh'(x)      (x = geluTanh's input)
//   OP 13 sub:         y = x − b
//
// Bindings (group 0):
//   0 x      storage, read        array<f32>   n elements from offsetX
//   1 b      storage, read        array<f32>   n elements from offsetB (binary ops only: add, mul,
//                                                tanhGrad, reluGrad, sigmoidGrad, geluGrad, geluTanhGrad, sub)
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
    case 7u: { r = select(0.0, b[params.offsetB + i], v > 0.0); }
    case 8u: { r = b[params.offsetB + i] * v * (1.0 - v); }
    case 9u: { r = gelu(v); }
    case 10u: { r = gelu_tanh(v); }
    case 11u: { r = b[params.offsetB + i] * gelu_grad(v); }
    case 12u: { r = b[params.offsetB + i] * gelu_tanh_grad(v); }
    case 13u: { r = v - b[params.offsetB + i]; }
    default: { r = activate(v, 3u); }  // 5: relu
  }
  y[params.offsetY + i] = r;
}
