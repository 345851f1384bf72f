// backward_gates.wgsl — how dhFromNextQuad (recurrent_matvec_backward.wgsl) reads one batch row's
// gate gradients of the step processed before, for the units u … u+3: g_k = dgates[base + blk_k ..
// + 3] (gate k's block; g3 an LSTM's o, zeros for a GRU). Every thread of the workgroup reads the
// same rows: here each loads all of its gates. backward_gates_subgroups.wgsl is the same read
// shared by the 4 threads of a quad.

struct QuadGates { g0: vec4<f32>, g1: vec4<f32>, g2: vec4<f32>, g3: vec4<f32> }

// A thread's position in its quad (unused here).
fn quadPosition(lid: u32) -> u32 {
  return 0u;
}

fn quadGates(base: u32, blk: vec4<u32>, qp: u32) -> QuadGates {
  var g: QuadGates;
  g.g0 = dgates[(base + blk.x) >> 2u];
  g.g1 = dgates[(base + blk.y) >> 2u];
  g.g2 = dgates[(base + blk.z) >> 2u];
  if (GATES == 4u) { g.g3 = dgates[(base + blk.w) >> 2u]; }
  return g;
}
