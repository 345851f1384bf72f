// activations.wgsl — scalar activations shared by kernels through `// #include "activations.wgsl"`.
//   ACT codes: 0 identity, 1 sigmoid σ(x) = 1/(1+e^{−x}), 2 tanh, 3 relu max(x, 0).
//   Both σ and tanh saturate cleanly for |x| up to f32's range (no inf/inf = NaN).

fn sigmoid(x: f32) -> f32 {
  return 1.0 / (1.0 + exp(-x));
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
    default: { return x; }
  }
}
