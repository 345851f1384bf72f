// activations.wgsl — scalar activations shared by kernels through `// #include "activations.wgsl"`.
//   ACT codes: 0 identity, 1 sigmoid σ(x) = 1/(1+e^{−x}), 2 tanh, 3 relu max(x, 0),
//   4 gelu (exact, x·Φ(x)), 5 gelu_tanh (PyTorch's approximate='tanh').
//   Both σ and tanh saturate cleanly for |x| up to f32's range (no inf/inf = NaN).
//   GELU helpers: gelu, gelu_tanh (also ACT codes 4 and 5) and their derivatives gelu_grad,
//   gelu_tanh_grad.
//   Gates of an LSTM / GRU (the kernels' GATE_ACT override): gate_act, and gate_grad (times an
//   upstream gradient) from the gate's value; code 1 σ, 6 the hard sigmoid clip(0.2·x + 0.5, 0, 1)
//   (TensorFlow.js's default).

fn sigmoid(x: f32) -> f32 {
  return 1.0 / (1.0 + exp(-x));
}

// A recurrent gate: σ(x), or (act 6) the hard sigmoid clip(0.2·x + 0.5, 0, 1).
fn gate_act(x: f32, act: u32) -> f32 {
  if (act == 6u) { return clamp(0.2 * x + 0.5, 0.0, 1.0); }
  return sigmoid(x);
}

// upstream · d gate / dx from the gate's value y: upstream·y·(1 − y) for σ (multiplied in that
// order, as the kernels always did: the same bits); the hard sigmoid's 0.2 inside (0, 1), 0 where clipped.
fn gate_grad(upstream: f32, y: f32, act: u32) -> f32 {
  if (act == 6u) { return upstream * select(0.0, 0.2, y > 0.0 && y < 1.0); }
  return upstream * y * (1.0 - y);
}

// tanh(±9) rounds to ±1 in f32; clamping keeps implementations that form e^{2x} finite.
fn tanh_safe(x: f32) -> f32 {
  return tanh(clamp(x, -9.0, 9.0));
}

fn activate(x: f32, act: u32) -> f32 {
  switch act {
    case 1u: { return sigmoid(x); }
    case 2u: { return tanh_safe(x); }
    case 3u: { return max(x, 0.0); }
    case 4u: { return gelu(x); }
    case 5u: { return gelu_tanh(x); }
    default: { return x; }
  }
}

// erfc(z) for z ≥ 0 with relative error below ~2e-7 over f32's range (Numerical Recipes' erfcc
// Chebyshev fit, fractional error < 1.2e-7 in exact arithmetic). Relative accuracy in the tail
// is what keeps gelu(x) accurate for negative x, where 1 + erf(x/√2) would cancel.
fn erfc_pos(z: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.5 * z);
  let p = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
          t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return t * exp(-z * z + p);
}

// Φ(x) = P(N(0, 1) ≤ x) = ½·erfc(−x/√2): relative accuracy for x < 0, absolute ~1e-7 for x ≥ 0.
// |x|/√2 is clamped at 14: erfc(14) ≈ 1e-87 is 0 in f32, and z² stays finite.
fn normal_cdf(x: f32) -> f32 {
  let h = 0.5 * erfc_pos(min(abs(x) * 0.70710678118654752, 14.0));
  return select(1.0 - h, h, x < 0.0);
}

// Exact GELU: x·Φ(x) = ½·x·(1 + erf(x/√2)).
fn gelu(x: f32) -> f32 {
  return x * normal_cdf(x);
}

// d/dx x·Φ(x) = Φ(x) + x·φ(x), φ(x) = e^{−x²/2}/√(2π).
// x·φ(x) is 0 in f32 beyond |x| = 20; the clamp keeps x² finite.
fn gelu_grad(x: f32) -> f32 {
  let xc = clamp(x, -20.0, 20.0);
  return normal_cdf(x) + xc * 0.39894228040143268 * exp(-0.5 * xc * xc);
}

// The tanh form's inner argument doubled: 2u, u = √(2/π)·(x + 0.044715·x³), clamped to ±80
// (x to ±100 first, so x³ stays finite): σ(80) is 1 in f32 and σ(−80) ≈ 1.8e-35.
fn gelu_tanh_2u(x: f32) -> f32 {
  let xc = clamp(x, -100.0, 100.0);
  return clamp(1.5957691216057308 * (xc + 0.044715 * xc * xc * xc), -80.0, 80.0);
}

// Tanh GELU: ½·x·(1 + tanh u) = x·σ(2u) (the σ form does not cancel for x < 0). Where 2u reaches
// −80 (x ≲ −9.3) the exact value, |x|·e^{2u} < 1e-32, is returned as 0: x·σ(−80) would not be
// small for huge |x|.
fn gelu_tanh(x: f32) -> f32 {
  let v = gelu_tanh_2u(x);
  return select(x * sigmoid(v), 0.0, v <= -80.0);
}

// d/dx x·σ(2u) = σ(2u) + 2x·σ(2u)·σ(−2u)·du/dx,  du/dx = √(2/π)·(1 + 3·0.044715·x²).
fn gelu_tanh_grad(x: f32) -> f32 {
  let v = gelu_tanh_2u(x);
  let sp = sigmoid(v);
  let sn = sigmoid(-v);
  let xc = clamp(x, -100.0, 100.0);
  let du = 0.79788456080286536 * (1.0 + 0.134145 * xc * xc);
  return sp + 2.0 * xc * sp * sn * du;
}
