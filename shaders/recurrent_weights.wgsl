// recurrent_weights.wgsl — how the recurrent forward kernels read W_hh (included by the step
// kernels and recurrent_persistent.wgsl; `params.cols` is the vec4 columns of the repacked matrix):
//   whh(k, col) · whhScale(col) = Wp[k, col], the repacked W_hh (src/kernels/cellStep.ts)
// This file: f32, as the parameters. Inference plans may read a quantized copy instead, made from
// Wp at the start of each forward (quantize_whh.wgsl): recurrent_weights_f16.wgsl,
// recurrent_weights_int8.wgsl — the same names, binding 1 `Wp`, f32 arithmetic.

@group(0) @binding(1) var<storage, read> Wp: array<vec4<f32>>;

fn whh(k: u32, col: u32) -> vec4<f32> {
  return Wp[k * params.cols + col];
}

// Per-column scale applied once to the finished sum (int8 only).
fn whhScale(col: u32) -> vec4<f32> {
  return vec4<f32>(1.0);
}
