// recurrent_persistent_bidir.wgsl — both directions of a bidirectional recurrent layer in ONE
// dispatch: the persistent kernel (recurrent_persistent.wgsl, same equations and step loop,
// persistent_body.wgsl) with workgroup (x, y) running the rows x·BT … x·BT + BT − 1 of direction y
// (0 forward over t = 0 … T−1, 1 reverse over t = T−1 … 0). The directions share nothing but the
// output sequence (disjoint columns hDirOffset = d·H), the state buffers (disjoint blocks at
// stateOffset) and the LSTM cell state (likewise), so no synchronisation between them is needed;
// a GPU runs them side by side (twice the workgroups of a per-direction dispatch).
//
// Bindings (group 0): those of recurrent_persistent.wgsl for direction 0 (params at 7 is
// direction 0's PersistentParams) and, for direction 1,
//   9 xproj1  read        [rows, G·H]   its input projection
//  10 Wp1     read        [H, cols] vec4  its W_hh repacked (f32; quantized copies run per direction)
//  11 bhh1    read        [G·H]         its b_hh
//  12 saved1  read_write  training only (SAVE): its saved activations
//  13 params1 uniform     its PersistentParams
// 12 storage buffers: the host uses this kernel where maxStorageBuffersPerShaderStage ≥ 12.
// Grid: (⌈B / BT⌉, 2, 1). Workgroup: WG threads × BT rows, as recurrent_persistent.wgsl.

// #include "persistent_enable.wgsl"
// #include "activations.wgsl"

@group(0) @binding(0) var<storage, read> xproj: array<f32>;
@group(0) @binding(1) var<storage, read> Wp: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> bhh: array<f32>;
@group(0) @binding(3) var<storage, read> hin: array<f32>;
@group(0) @binding(4) var<storage, read_write> hout: array<f32>;
@group(0) @binding(5) var<storage, read_write> hseq: array<f32>;
@group(0) @binding(6) var<storage, read_write> c: array<f32>;
@group(0) @binding(7) var<uniform> params0: PersistentParams;
@group(0) @binding(8) var<storage, read_write> saved: array<f32>;
@group(0) @binding(9) var<storage, read> xproj1: array<f32>;
@group(0) @binding(10) var<storage, read> Wp1: array<vec4<f32>>;
@group(0) @binding(11) var<storage, read> bhh1: array<f32>;
@group(0) @binding(12) var<storage, read_write> saved1: array<f32>;
@group(0) @binding(13) var<uniform> params1: PersistentParams;

// #include "persistent_split.wgsl"

// This workgroup's direction and its PersistentParams (copied once from params0 / params1).
var<private> dir: u32;
var<private> params: PersistentParams;

fn whh(k: u32, col: u32) -> vec4<f32> {
  if (dir == 0u) { return Wp[k * params.cols + col]; }
  return Wp1[k * params.cols + col];
}

fn whhScale(col: u32) -> vec4<f32> {
  return vec4<f32>(1.0);
}

fn xpAt(i: u32) -> f32 {
  if (dir == 0u) { return xproj[i]; }
  return xproj1[i];
}

fn bhhAt(i: u32) -> f32 {
  if (dir == 0u) { return bhh[i]; }
  return bhh1[i];
}

fn savedPut(i: u32, v: f32) {
  if (dir == 0u) {
    saved[i] = v;
  } else {
    saved1[i] = v;
  }
}

// #include "persistent_body.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  dir = wid.y;
  if (dir == 0u) {
    params = params0;
  } else {
    params = params1;
  }
  // The loop bounds from the uniforms themselves (wid.y is uniform in the workgroup): the barriers
  // inside the loops stay in uniform control flow.
  let steps = select(params0.steps, params1.steps, wid.y == 1u);
  persistentSteps(lid.x, wid.x * BT, steps, params0.cols);
}
