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
// θ and the moments keep their values (the step's loss, gradient norm or update was not finite).
// CHECK (the guard's check pass, run before nan_guard.wgsl): computes every element's new θ and
// moments exactly as the update would (the same function, `updated`) but writes none of them; if
// any is NaN or ±Inf it raises updateFlag[0] (an atomic OR), which nan_guard.wgsl turns into the
// skip flag. So an update that would overflow is skipped as a whole: all elements or none.
// "Non-finite" is tested on the bit pattern (exponent bits all ones), as in nan_guard.wgsl.
//
// Bindings (group 0):
//   0 theta   storage, read_write  array<f32>  parameters, flat
//   1 grad    storage, read        array<f32>  gradients, same layout
//   2 moment1 storage, read_write  array<f32>  SGD momentum buffer / Adam m (16-byte spare if unused)
//   3 moment2 storage, read_write  array<f32>  Adam v (16-byte spare if unused)
//   4 normSq  storage, read        array<f32>  [0] = Σ g² (CLIP_NORM only), [1] = skip flag (GUARD only)
//   5 hyper   uniform              Hyper   per-step scalars, rewritten before each step
//   6 span    uniform              Span    the element range of this dispatch, fixed
//   7 updateFlag storage, read_write array<atomic<u32>>  [0] raised by CHECK (16-byte buffer; unused otherwise)
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
override CHECK: bool = false;
override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read_write> theta: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> moment1: array<f32>;
@group(0) @binding(3) var<storage, read_write> moment2: array<f32>;
@group(0) @binding(4) var<storage, read> normSq: array<f32>;
@group(0) @binding(5) var<uniform> hyper: Hyper;
@group(0) @binding(6) var<uniform> span: Span;
@group(0) @binding(7) var<storage, read_write> updateFlag: array<atomic<u32>>;

// Element i after the step: θ and the moments it keeps (m1: SGD momentum buffer / Adam m; m2:
// Adam v; 0 where unused). Reads only: the one copy of the update math, used by the update and by
// the guard's check pass.
struct Updated {
  theta: f32,
  m1: f32,
  m2: f32,
}

fn updated(i: u32) -> Updated {
  var g = grad[i];
  if (CLIP_VALUE) { g = clamp(g, -hyper.clipValue, hyper.clipValue); }
  if (CLIP_NORM) {
    let coef = hyper.maxNorm / (sqrt(normSq[0]) + 1e-6);
    if (coef < 1.0) { g = g * coef; }
  }
  var p = theta[i];
  var out = Updated(0.0, 0.0, 0.0);
  if (KIND == 0u) {
    g = g + hyper.weightDecay * p;
    if (MOMENTUM) {
      var b = g;
      if (hyper.first == 0u) { b = hyper.momentum * moment1[i] + hyper.dampening1 * g; }
      out.m1 = b;
      if (NESTEROV) { g = g + hyper.momentum * b; } else { g = b; }
    }
    p = p - hyper.lr * g;
  } else {
    if (DECOUPLED) { p = p * hyper.decay; } else { g = g + hyper.weightDecay * p; }
    let m = hyper.beta1 * moment1[i] + hyper.oneMinusBeta1 * g;
    let v = hyper.beta2 * moment2[i] + hyper.oneMinusBeta2 * g * g;
    out.m1 = m;
    out.m2 = v;
    let denom = sqrt(v) / hyper.bc2Sqrt + hyper.eps;
    p = p - hyper.stepSize * (m / denom);
  }
  out.theta = p;
  return out;
}

fn nonFinite(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let k = gid.x + gid.y * span.gridX * WG;
  if (k >= span.count) { return; }
  let i = span.offset + k;
  let keepsM1 = KIND == 1u || MOMENTUM;
  if (CHECK) {
    let u = updated(i);
    var bad = nonFinite(u.theta);
    if (keepsM1) { bad = bad || nonFinite(u.m1); }
    if (KIND == 1u) { bad = bad || nonFinite(u.m2); }
    if (bad) { atomicOr(&updateFlag[0], 1u); }
    return;
  }
  if (GUARD && normSq[1] != 0.0) { return; }
  let u = updated(i);
  if (keepsM1) { moment1[i] = u.m1; }
  if (KIND == 1u) { moment2[i] = u.m2; }
  theta[i] = u.theta;
}
