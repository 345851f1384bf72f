// optimizer.wgsl — one optimizer step over a flat parameter buffer, gradient clipping fused in
// (torch.optim.SGD / Adam / AdamW, torch.nn.utils.clip_grad_value_ then clip_grad_norm_).
//
// For every element i of the span [offset, offset + count):
//   g ← grad[i]
//   CLIP_VALUE:  g ← clamp(g, −clipValue, clipValue)                        (first)
//   CLIP_NORM:   g ← g · min(1, maxNorm / (√normSq[0] + 1e−6))              (then; normSq is
//                Σ over all trained elements of the value-clipped g², written by reduce_sum.wgsl)
//   KIND 0, SGD (λ weightDecay, μ momentum, τ dampening, γ lr):
//     g ← g + λθ;   MOMENTUM: b ← g (first step) | μb + (1 − τ)g;   g ← g + μb (NESTEROV) | b
//     θ ← θ − γg
//   KIND 1, Adam:  DECOUPLED (AdamW): θ ← θ·(1 − γλ)   else g ← g + λθ
//     m ← β1 m + (1 − β1) g;   v ← β2 v + (1 − β2) g²
//     θ ← θ − stepSize · m / (√v / √(1 − β2ᵗ) + ε),   stepSize = γ / (1 − β1ᵗ)
// (the torch 1.13 single-tensor formulas, in the same order; the per-step scalars are computed on
// the host in float64 and rounded to f32 once, as torch does for Python-float hyperparameters).
// An element with θ = 0 and g = 0 stays 0 under every kind (padding is left unchanged).
// GUARD (the NaN/Inf guard, nan_guard.wgsl ran before): when normSq[1] != 0 nothing is written —
// θ and the moments keep their values (the step's loss or gradient norm was not finite).
//
// Bindings (group 0):
//   0 theta   storage, read_write  array<f32>  parameters, flat
//   1 grad    storage, read        array<f32>  gradients, same layout
//   2 moment1 storage, read_write  array<f32>  SGD momentum buffer / Adam m (16-byte spare if unused)
//   3 moment2 storage, read_write  array<f32>  Adam v (16-byte spare if unused)
//   4 normSq  storage, read        array<f32>  [0] = Σ g² (CLIP_NORM only), [1] = skip flag (GUARD only)
//   5 hyper   uniform              Hyper   per-step scalars, rewritten before each step
//   6 span    uniform              Span    the element range of this dispatch, fixed
// Workgroup: WG threads, one element each. Grid: (gridX, ⌈count / (gridX·WG)⌉).

struct Hyper {
  lr: f32,
  momentum: f32,
  dampening1: f32,     // 1 − dampening
  weightDecay: f32,
  beta1: f32,
  oneMinusBeta1: f32,
  beta2: f32,
  oneMinusBeta2: f32,
  eps: f32,
  stepSize: f32,       // lr / (1 − β1ᵗ)
  bc2Sqrt: f32,        // √(1 − β2ᵗ)
  decay: f32,          // AdamW: 1 − lr·weightDecay
  maxNorm: f32,
  clipValue: f32,
  first: u32,          // 1 on the first step: the SGD momentum buffer starts as g
}

struct Span {
  offset: u32,
  count: u32,
  gridX: u32,
}

override KIND: u32 = 0u;
override MOMENTUM: bool = false;
override NESTEROV: bool = false;
override DECOUPLED: bool = false;
override CLIP_NORM: bool = false;
override CLIP_VALUE: bool = false;
override GUARD: bool = false;
override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read_write> theta: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> moment1: array<f32>;
@group(0) @binding(3) var<storage, read_write> moment2: array<f32>;
@group(0) @binding(4) var<storage, read> normSq: array<f32>;
@group(0) @binding(5) var<uniform> hyper: Hyper;
@group(0) @binding(6) var<uniform> span: Span;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let k = gid.x + gid.y * span.gridX * WG;
  if (k >= span.count) { return; }
  if (GUARD && normSq[1] != 0.0) { return; }
  let i = span.offset + k;
  var g = grad[i];
  if (CLIP_VALUE) { g = clamp(g, -hyper.clipValue, hyper.clipValue); }
  if (CLIP_NORM) {
    let coef = hyper.maxNorm / (sqrt(normSq[0]) + 1e-6);
    if (coef < 1.0) { g = g * coef; }
  }
  var p = theta[i];
  if (KIND == 0u) {
    g = g + hyper.weightDecay * p;
    if (MOMENTUM) {
      var b = g;
      if (hyper.first == 0u) { b = hyper.momentum * moment1[i] + hyper.dampening1 * g; }
      moment1[i] = b;
      if (NESTEROV) { g = g + hyper.momentum * b; } else { g = b; }
    }
    p = p - hyper.lr * g;
  } else {
    if (DECOUPLED) { p = p * hyper.decay; } else { g = g + hyper.weightDecay * p; }
    let m = hyper.beta1 * moment1[i] + hyper.oneMinusBeta1 * g;
    let v = hyper.beta2 * moment2[i] + hyper.oneMinusBeta2 * g * g;
    moment1[i] = m;
    moment2[i] = v;
    let denom = sqrt(v) / hyper.bc2Sqrt + hyper.eps;
    p = p - hyper.stepSize * (m / denom);
  }
  theta[i] = p;
}
