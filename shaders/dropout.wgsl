// dropout.wgsl — inverted dropout with a stateless counter-based mask (forward and backward)
//
//   h      = pcg3d(i, counter, pcg(seed) + salt).x        (Jarzynski & Olano 2020, a hash: no state)
//   keep_i = (h >> 8) ≥ threshold,   threshold = round(p · 2²⁴)
//   y[i]   = keep_i ? x[i] · scale : 0,   scale = 1 / (1 − p)   (p = 1: nothing kept, scale 0)
// i is the element number within this dispatch (0 … n−1). The same (seed, counter, salt, i)
// always gives the same keep_i, so the backward pass (dX = dY ⊙ mask · scale) is this same
// kernel run on dY: the mask is regenerated, never stored. p = 0 (threshold 0) is the identity.
//
// Bindings (group 0):
//   0 x     storage, read        array<f32>  n elements from offsetX
//   1 y     storage, read_write  array<f32>  n elements from offsetY
//   2 shape uniform              Shape  (fixed per dispatch)
//   3 state uniform              State  (per Dropout: seed, p; counter rewritten by setStep)
// Workgroup: WG threads, one element each. Grid: (gridX, ⌈n / (gridX·WG)⌉).

struct Shape {
  n: u32,
  offsetX: u32,
  offsetY: u32,
  gridX: u32,
  salt: u32,
}

struct State {
  seed: u32,
  counter: u32,
  threshold: u32,
  scale: f32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> shape: Shape;
@group(0) @binding(3) var<uniform> state: State;

// pcg, pcg3d: the counter-based hash of every dropout mask.
// #include "counter_hash.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * shape.gridX * WG;
  if (i >= shape.n) { return; }
  let h = pcg3d(vec3<u32>(i, state.counter, pcg(state.seed) + shape.salt)).x;
  let keep = (h >> 8u) >= state.threshold;
  y[shape.offsetY + i] = select(0.0, x[shape.offsetX + i] * state.scale, keep);
}
