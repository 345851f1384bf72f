// recurrent_weights_int8.wgsl — W_hh as int8 with one scale per W_hh row (see
// recurrent_weights.wgsl): Wp holds [cols] vec4 scales (f32 bits: max |W| of the row, per gate of
// the column) then [K, cols] u32 of pack4x8snorm(W / scale). whh() returns W / scale; the kernel
// multiplies the finished sum by whhScale(col). A quarter of the bytes streamed per step.

@group(0) @binding(1) var<storage, read> Wp: array<u32>;

fn whh(k: u32, col: u32) -> vec4<f32> {
  return unpack4x8snorm(Wp[4u * params.cols + k * params.cols + col]);
}

fn whhScale(col: u32) -> vec4<f32> {
  let i = 4u * col;
  return vec4<f32>(bitcast<f32>(Wp[i]), bitcast<f32>(Wp[i + 1u]), bitcast<f32>(Wp[i + 2u]), bitcast<f32>(Wp[i + 3u]));
}
