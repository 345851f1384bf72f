// counter_hash.wgsl — the counter-based hash behind every dropout mask (included, not a kernel):
// pcg (one u32) and pcg3d (three u32 lanes mixed together), from Jarzynski & Olano, "Hash Functions
// for GPU Rendering" (JCGT 2020). A mask bit is a pure function of (element index, step counter,
// seed + salt), so the forward and the backward recompute the same bits and no mask is stored.

fn pcg(v: u32) -> u32 {
  let s = v * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}

fn pcg3d(a: vec3<u32>) -> vec3<u32> {
  var v = a * 1664525u + 1013904223u;
  v.x += v.y * v.z; v.y += v.z * v.x; v.z += v.x * v.y;
  v ^= v >> vec3<u32>(16u);
  v.x += v.y * v.z; v.y += v.z * v.x; v.z += v.x * v.y;
  return v;
}
