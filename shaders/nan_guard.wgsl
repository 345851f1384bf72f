// nan_guard.wgsl — the NaN/Inf guard of a training step: one thread, run after the gradient-norm
// reduction and the optimizer's check pass, before the optimizer update, in the same compute pass.
//
//   upd = UPDATE_CHECK && updateFlag[0] != 0     (raised by optimizer.wgsl's CHECK pass: some new
//                                                 weight or moment would be NaN/±Inf); then cleared
//   bad = (loss[0] non-finite ? 1 : 0) | (normSq[0] non-finite ? 2 : 0) | (upd ? 4 : 0)
//   if record.flags == 0:                 (sticky: the first bad step is kept until the host clears it)
//     record.loss = loss[0];  record.normSq = normSq[0]
//     if bad != 0: record.flags = bad;  record.badStep = record.step
//   record.stepLoss = loss[0];  record.stepNormSq = normSq[0]     (always: this step's own values)
//   normSq[1] = (record.flags != 0) ? 1 : 0       the optimizer kernel (override GUARD) skips its
//                                                 update when normSq[1] != 0
// "Non-finite" is tested on the bit pattern (exponent bits all ones: NaN or ±Inf), because WGSL
// lets a compiler assume that floats are finite and fold `x != x` away.
// record.step is written by the host before each submit (the optimizer's step count t).
//
// Bindings (group 0):
//   0 loss        storage, read        array<f32>   [0] = the step's mean loss
//   1 normSq      storage, read_write  array<f32>   [0] = Σ g² (read), [1] = skip flag (written)
//   2 record      storage, read_write  GuardRecord  sticky state, read back by the host
//   3 updateFlag  storage, read_write  array<u32>   [0]: the check pass's flag (UPDATE_CHECK only;
//                                                   read, then cleared for the next step)
// Workgroup: 1 thread. Grid: (1, 1, 1).

struct GuardRecord {
  loss: f32,       // the step's loss, or the first bad step's once flags != 0
  normSq: f32,     // likewise Σ g²
  flags: u32,      // 0, or 1 = loss non-finite | 2 = gradient norm non-finite | 4 = update non-finite
  badStep: u32,    // record.step of the first bad step
  step: u32,       // written by the host before each step
  stepLoss: f32,   // the last step's own loss (also after flags != 0)
  stepNormSq: f32, // the last step's own Σ g²
}

override UPDATE_CHECK: bool = false;

@group(0) @binding(0) var<storage, read> loss: array<f32>;
@group(0) @binding(1) var<storage, read_write> normSq: array<f32>;
@group(0) @binding(2) var<storage, read_write> record: GuardRecord;
@group(0) @binding(3) var<storage, read_write> updateFlag: array<u32>;

fn nonFinite(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u;
}

@compute @workgroup_size(1)
fn main() {
  let l = loss[0];
  let n = normSq[0];
  var upd = false;
  if (UPDATE_CHECK) {
    upd = updateFlag[0] != 0u;
    updateFlag[0] = 0u;
  }
  if (record.flags == 0u) {
    record.loss = l;
    record.normSq = n;
    let bad = select(0u, 1u, nonFinite(l)) | select(0u, 2u, nonFinite(n)) | select(0u, 4u, upd);
    if (bad != 0u) {
      record.flags = bad;
      record.badStep = record.step;
    }
  }
  record.stepLoss = l;
  record.stepNormSq = n;
  normSq[1] = select(0.0, 1.0, record.flags != 0u);
}
