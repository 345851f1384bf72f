// recurrent_weights_f16.wgsl — W_hh as f16 pairs (see recurrent_weights.wgsl): Wp[k, col] is two
// u32 of pack2x16float (gates 0–1, 2–3), unpacked to f32 (no shader-f16 needed); half the bytes
// streamed per step.

@group(0) @binding(1) var<storage, read> Wp: array<vec2<u32>>;

fn whh(k: u32, col: u32) -> vec4<f32> {
  let w = Wp[k * params.cols + col];
  return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y));
}

fn whhScale(col: u32) -> vec4<f32> {
  return vec4<f32>(1.0);
}
