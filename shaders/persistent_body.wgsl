// persistent_body.wgsl — the step loop of the persistent recurrent kernel, included by
// recurrent_persistent.wgsl (one layer-direction per dispatch) and recurrent_persistent_bidir.wgsl
// (both directions of a layer in one dispatch). See recurrent_persistent.wgsl for the equations,
// the bindings and the workgroup shape. The including file declares `params` (a PersistentParams),
// `hin`, `hout`, `hseq`, `c`, whh() / whhScale(), splitSum() and the accessors of its
// direction's buffers: xpAt(i) (xproj), bhhAt(i) (b_hh), savedPut(i, v) (saved activations).

struct PersistentParams {
  batch: u32,
  hidden: u32,
  cols: u32,         // vec4 columns of Wp
  seqLen: u32,
  stepBegin: u32,    // first step s of this chunk (steps run in the direction's order)
  steps: u32,        // steps in this chunk
  reverse: u32,      // 1: step s is timestep seqLen − 1 − s
  rowStrideT: u32,   // rows between timesteps (B time-major, 1 batch-first)
  rowStrideB: u32,   // rows between batch entries (1 time-major, T batch-first)
  hWidth: u32,       // row length of hseq (D·H)
  hDirOffset: u32,   // this direction's first column in hseq (d·H)
  stateOffset: u32,  // this layer-direction's [B, H] block in hin, hout and c
  hprevBase: u32,    // SAVE: start of the h_{t−1} section of `saved`
  cprevBase: u32,    // SAVE, LSTM: start of the c_{t−1} section
  lengthsBase: u32,  // LENGTHS: element offset of the i32 lengths in `c`
}

override CELL: u32 = 1u;        // 0 RNN, 1 LSTM, 2 GRU
override ACT: u32 = 2u;         // RNN: 2 tanh, 3 relu (activations.wgsl codes)
override GATE_ACT: u32 = 1u;    // LSTM, GRU gates: 1 σ, 6 hard sigmoid (activations.wgsl)
override WG: u32 = 64u;         // threads per workgroup
override BT: u32 = 4u;          // batch rows per workgroup, 1 … 8
override HBUF: u32 = 512u;      // 2·BT·⌈H/4⌉ vec4s: the double-buffered h of the workgroup's rows
override SAVE: bool = false;
override LENGTHS: bool = false;
override SPLIT: u32 = 1u;       // lanes per W_hh column (split-K, a power of two dividing WG); 1: one
override RED: u32 = 1u;         // WG with workgroup-memory split sums, else 1

var<workgroup> hbuf: array<vec4<f32>, HBUF>;

// vec4s per row of h in hbuf.
fn hRow() -> u32 {
  return (params.hidden + 3u) / 4u;
}

// h[r, j] of the half starting at vec4 `half`.
fn hAt(half: u32, r: u32, j: u32) -> f32 {
  return hbuf[half + r * hRow() + j / 4u][j % 4u];
}

fn hPut(half: u32, r: u32, j: u32, v: f32) {
  hbuf[half + r * hRow() + j / 4u][j % 4u] = v;
}

fn rowLength(b: u32) -> u32 {
  return u32(bitcast<i32>(c[params.lengthsBase + b]));
}

// Gate width of a saved / xproj row: LSTM and GRU rows hold 4H saved (GRU's 4th: u_n) and G·H xproj.
fn gateCount() -> u32 {
  return select(select(3u, 4u, CELL == 1u), 1u, CELL == 0u);
}

// SAVE (LSTM, GRU): the gates [rows, 4H] and h_{t−1} [rows, H] of unit j, as the step kernels save them.
fn saveGates(row: u32, j: u32, gates: vec4<f32>, hp: f32) {
  let H = params.hidden;
  let at = row * 4u * H + j;
  savedPut(at, gates.x);
  savedPut(at + H, gates.y);
  savedPut(at + 2u * H, gates.z);
  savedPut(at + 3u * H, gates.w);
  savedPut(params.hprevBase + row * H + j, hp);
}

// One LSTM unit j of row r: pre-activations `pre` (recurrent product + b_hh + xproj).
fn lstmUnit(r: u32, b: u32, j: u32, row: u32, cur: u32, nxt: u32, pre: vec4<f32>, pad: bool) {
  let H = params.hidden;
  let hp = hAt(cur, r, j);
  let s = params.stateOffset + b * H + j;
  let cPrev = c[s];
  var h = hp;
  var gates = vec4<f32>(0.0);
  if (!pad) {
    gates = vec4<f32>(gate_act(pre.x, GATE_ACT), gate_act(pre.y, GATE_ACT), tanh_safe(pre.z), gate_act(pre.w, GATE_ACT));
    let cNew = gates.y * cPrev + gates.x * gates.z;
    c[s] = cNew;
    h = gates.w * tanh_safe(cNew);
  }
  if (SAVE) {
    saveGates(row, j, gates, hp);
    savedPut(params.cprevBase + row * H + j, cPrev);
  }
  hseq[row * params.hWidth + params.hDirOffset + j] = select(h, 0.0, pad);
  hPut(nxt, r, j, h);
}

// One GRU unit: `u` = h_{t−1}·W_hhᵀ + b_hh (gates r, z, n), `x` = xproj (r, z, n).
fn gruUnit(r: u32, j: u32, row: u32, cur: u32, nxt: u32, u: vec3<f32>, x: vec3<f32>, pad: bool) {
  let H = params.hidden;
  let hp = hAt(cur, r, j);
  var h = hp;
  var gates = vec4<f32>(0.0);
  if (!pad) {
    let rg = gate_act(x.x + u.x, GATE_ACT);
    let z = gate_act(x.y + u.y, GATE_ACT);
    let n = tanh_safe(x.z + rg * u.z);
    gates = vec4<f32>(rg, z, n, u.z);
    h = (1.0 - z) * n + z * hp;
  }
  if (SAVE) { saveGates(row, j, gates, hp); }
  hseq[row * params.hWidth + params.hDirOffset + j] = select(h, 0.0, pad);
  hPut(nxt, r, j, h);
}

// One RNN unit: `pre` = xproj + recurrent product + b_hh.
fn rnnUnit(r: u32, j: u32, row: u32, cur: u32, nxt: u32, pre: f32, pad: bool) {
  let H = params.hidden;
  let hp = hAt(cur, r, j);
  var h = hp;
  if (!pad) { h = activate(pre, ACT); }
  if (SAVE) {
    savedPut(row * H + j, select(h, 0.0, pad));
    savedPut(params.hprevBase + row * H + j, hp);
  }
  hseq[row * params.hWidth + params.hDirOffset + j] = select(h, 0.0, pad);
  hPut(nxt, r, j, h);
}

// The chunk's steps for the rows b0 … b0 + BT − 1 (thread `tid` of WG). `steps` and `C` (the vec4
// columns of Wp) come from a uniform in the caller: the loops holding barriers stay uniform.
fn persistentSteps(tid: u32, b0: u32, steps: u32, C: u32) {
  let H = params.hidden;
  let rows = min(BT, params.batch - b0);
  let xWidth = gateCount() * H;
  let H4 = hRow();
  // h entering the chunk → half 0 (rows past the batch, lanes past H: zeros, never written out).
  for (var i = tid; i < 2u * BT * H4; i += WG) { hbuf[i] = vec4<f32>(0.0); }
  workgroupBarrier();
  for (var i = tid; i < rows * H; i += WG) { hPut(0u, i / H, i % H, hin[params.stateOffset + b0 * H + i]); }
  workgroupBarrier();
  for (var s = 0u; s < steps; s++) {
    let odd = (s & 1u) == 1u;
    let cur = select(0u, BT * H4, odd);
    let nxt = select(BT * H4, 0u, odd);
    let step = params.stepBegin + s;
    let t = select(step, params.seqLen - 1u - step, params.reverse != 0u);
    // Passes over the columns, WG / SPLIT at a time (a uniform count: splitSum may hold barriers).
    let perPass = WG / SPLIT;
    let lane = tid % SPLIT;
    for (var p = 0u; p < (C + perPass - 1u) / perPass; p++) {
      let col = p * perPass + tid / SPLIT;
      let c = min(col, C - 1u);   // lanes past the last column load a real one and write nothing
      // Zeroed explicitly: SwiftShader keeps a loop-body `var`'s value across iterations.
      var acc: array<vec4<f32>, 8>;
      for (var r = 0u; r < BT; r++) { acc[r] = vec4<f32>(0.0); }
      for (var k4 = lane; k4 < H4; k4 += SPLIT) {
        let k = 4u * k4;
        // Rows of W_hh past H do not exist: their weights are 0 (the h lanes there are 0 too).
        let w0 = whh(k, c);
        let w1 = select(vec4<f32>(0.0), whh(min(k + 1u, H - 1u), c), k + 1u < H);
        let w2 = select(vec4<f32>(0.0), whh(min(k + 2u, H - 1u), c), k + 2u < H);
        let w3 = select(vec4<f32>(0.0), whh(min(k + 3u, H - 1u), c), k + 3u < H);
        for (var r = 0u; r < BT; r++) {
          if (r < rows) {
            let h = hbuf[cur + r * H4 + k4];
            acc[r] += h.x * w0 + h.y * w1 + h.z * w2 + h.w * w3;
          }
        }
      }
      for (var r = 0u; r < BT; r++) { acc[r] = splitSum(acc[r], tid); }
      // Lane 0 of each real column: the pointwise update with the column's whole sum.
      if (col < C && lane == 0u) {
        let scale = whhScale(col);
        for (var r = 0u; r < rows; r++) {
          acc[r] *= scale;
          let b = b0 + r;
          let row = t * params.rowStrideT + b * params.rowStrideB;
          let pad = LENGTHS && t >= rowLength(b);
          let x = row * xWidth;
          if (CELL == 1u) {
            let j = col;
            let bias = vec4<f32>(bhhAt(j), bhhAt(H + j), bhhAt(2u * H + j), bhhAt(3u * H + j));
            let xp = vec4<f32>(xpAt(x + j), xpAt(x + H + j), xpAt(x + 2u * H + j), xpAt(x + 3u * H + j));
            lstmUnit(r, b, j, row, cur, nxt, acc[r] + bias + xp, pad);
          } else if (CELL == 2u) {
            let j = col;
            let u = acc[r].xyz + vec3<f32>(bhhAt(j), bhhAt(H + j), bhhAt(2u * H + j));
            gruUnit(r, j, row, cur, nxt, u, vec3<f32>(xpAt(x + j), xpAt(x + H + j), xpAt(x + 2u * H + j)), pad);
          } else {
            for (var q = 0u; q < 4u; q++) {
              let j = 4u * col + q;
              if (j < H) { rnnUnit(r, j, row, cur, nxt, acc[r][q] + bhhAt(j) + xpAt(x + j), pad); }
            }
          }
        }
      }
    }
    workgroupBarrier();
  }
  let fin = (steps % 2u) * BT * H4;
  for (var i = tid; i < rows * H; i += WG) {
    hout[params.stateOffset + b0 * H + i] = hAt(fin, i / H, i % H);
  }
}
