// glu.wgsl — gated linear unit over the last dimension (PyTorch nn.GLU(dim=-1)) and its backward
//
//   x [rows, 2h] = [a | b]: a = the first h columns of a row, b = the last h; σ(v) = 1/(1+e^{−v}).
//   OP 0 forward:   y[r, j]      = a[r, j] · σ(b[r, j])                         y  [rows, h]
//   OP 1 backward:  dx[r, j]     = dy[r, j] · σ(b[r, j])                        dx [rows, 2h]
//                   dx[r, h + j] = dy[r, j] · a[r, j] · σ(b[r, j]) · (1 − σ(b[r, j]))
//
// Bindings (group 0):
//   0 x      storage, read        array<f32>   rows·2h elements from offsetX (the layer's input)
//   1 dy     storage, read        array<f32>   rows·h elements from offsetDy (backward only; the
//                                                forward binds a dummy buffer)
//   2 y      storage, read_write  array<f32>   from offsetY: forward y (rows·h), backward dx (rows·2h)
//   3 params uniform              Params
// Workgroup: WG threads, one (r, j) pair each (n = rows·h pairs; the backward thread writes both
//   halves of its pair). Grid: (gridX, ⌈n / (gridX·WG)⌉); flat index = gid.x + gid.y·gridX·WG.

// #include "activations.wgsl"

struct Params {
  n: u32,
  h: u32,
  offsetX: u32, offsetDy: u32, offsetY: u32,
  gridX: u32,
}

override OP: u32 = 0u;
override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * params.gridX * WG;
  if (i >= params.n) { return; }
  let h = params.h;
  let r = i / h;
  let j = i - r * h;
  let ia = params.offsetX + r * 2u * h + j;  // a[r, j]; b[r, j] is h further on
  let a = x[ia];
  let s = sigmoid(x[ia + h]);
  if (OP == 0u) {
    y[params.offsetY + i] = a * s;
  } else {
    let g = dy[params.offsetDy + i];
    let o = params.offsetY + r * 2u * h + j;
    y[o] = g * s;
    y[o + h] = g * a * s * (1.0 - s);
  }
}
