// beam_search_step.wgsl — one step of beam search for `batch` sources × K beams (row = b·K + j)
//
//   logp[row, v]  = logits[row, v] − log Σ_u exp(logits[row, u])             (log-softmax)
//   cand(row, v)  = beamScore[row] + logp[row, v]                              live beam
//                 = beamScore[row] if v = eos, else −∞                         finished beam
//                 = −∞                                                         dead beam (score −∞)
//   per source b: the K best of its K·vocab candidates, ordered by score (descending), then
//   beam j, then token v (ascending), become the new beams r = 0 … K−1:
//     beamScore[b·K + r] = cand,   finished[b·K + r] = finished[parent] ∨ v = eos,
//     parents[step, b, r] = j,     tokens[step, b, r] = next[b·K + r] = v.
// The caller starts with beamScore = [0, −∞, …, −∞] per source (only beam 0 live at step 0);
// −∞ candidates lose every tie to finite ones and among themselves follow (beam, token).
//
// Two passes (one PASS override each, one bind group):
//   PASS 0, one workgroup per beam row: one sweep over the row keeps a running max/sum per
//     thread (online log-sum-exp) and each thread's K best (key, token) of its strided slice in
//     private registers (insertion into a sorted list of ≤ MAX_K); the row's K best are then
//     picked in K rounds of a workgroup argmax over the threads' list heads. The key is the
//     logit itself (ordering within a row by logit = by candidate score, exactly: k = 1 is
//     greedy argmax), eos-first for finished beams, −∞ for dead beams. The K candidates
//     (score bits, token | newFinished << 31) go to cand[row, 0 … K−1], in order.
//   PASS 1, one workgroup per source: its K·K candidates (≤ 256) are ranked by counting the
//     candidates that beat each one (score descending, then position b·K·K + j·K + rank, which
//     is (beam, token) order for equal scores); ranks < K are written out. PASS 1 reads only
//     cand, so beamScore and finished are updated in place.
// Candidate slots a row could not fill (vocab < K) hold token 0x7fffffff, which loses to all.
// Logits must not be NaN; each live row needs at least one finite logit.
//
// Bindings (group 0):
//   0 logits    storage, read        array<f32>  batch·K rows of vocab, stride ldLogits, from offsetLogits
//   1 beamScore storage, read_write  array<f32>  batch·K   (PASS 0 reads, PASS 1 writes)
//   2 finished  storage, read_write  array<u32>  batch·K   (PASS 0 reads, PASS 1 writes)
//   3 cand      storage, read_write  array<u32>  batch·K·K·2 (PASS 0 writes, PASS 1 reads)
//   4 parents   storage, read_write  array<i32>  [maxSteps, batch, K], step slot at offsetHistory
//   5 tokens    storage, read_write  array<i32>  [maxSteps, batch, K], step slot at offsetHistory
//   6 next      storage, read_write  array<i32>  batch·K from offsetNext
//   7 params    uniform              Params
// Workgroup: WG threads (a power of two). PASS 0: WG per beam row, workgroup memory 3·WG words;
//   PASS 1: WG ≥ K·K, one thread per candidate. K ≤ MAX_K = 16.
// Grid: (gridX, ⌈n / gridX⌉) with n = batch·K, gridX = gridRows (PASS 0) or n = batch,
//   gridX = gridSources (PASS 1); index x + y·gridX.

struct Params {
  batch: u32, vocab: u32, ldLogits: u32, offsetLogits: u32,
  eosToken: u32, offsetHistory: u32, offsetNext: u32,
  gridRows: u32,      // gridX of PASS 0 (batch·K workgroups)
  gridSources: u32,   // gridX of PASS 1 (batch workgroups)
  negInf: f32,        // −∞, set by the host (WGSL has no infinity literal)
}

override PASS: u32 = 0u;
override WG: u32 = 256u;
override K: u32 = 4u;

const MAX_K = 16u;
const NONE = 0x7fffffffu;                 // token of an empty candidate slot
const LOWEST = -0x1.fffffep+127f;        // lowest finite f32; a score below it is −∞

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> beamScore: array<f32>;
@group(0) @binding(2) var<storage, read_write> finished: array<u32>;
@group(0) @binding(3) var<storage, read_write> cand: array<u32>;
@group(0) @binding(4) var<storage, read_write> parents: array<i32>;
@group(0) @binding(5) var<storage, read_write> tokens: array<i32>;
@group(0) @binding(6) var<storage, read_write> next: array<i32>;
@group(0) @binding(7) var<uniform> params: Params;

var<workgroup> wf: array<f32, WG>;
var<workgroup> wf2: array<f32, WG>;
var<workgroup> wu: array<u32, WG>;

// (ka, ta) comes before (kb, tb): a real token before an empty slot, a larger key, then the lower token.
fn before(ka: f32, ta: u32, kb: f32, tb: u32) -> bool {
  return ta != NONE && (tb == NONE || ka > kb || (ka == kb && ta < tb));
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  if (PASS == 0u) {
    // ---- per beam row: log-sum-exp and the row's K best candidates ----
    let row = wid.x + wid.y * params.gridRows;
    if (row >= params.batch * K) { return; }
    let V = params.vocab;
    let eos = params.eosToken;
    let negInf = params.negInf;
    let base = params.offsetLogits + row * params.ldLogits;
    let s = beamScore[row];
    let fin = finished[row] != 0u;
    let dead = s < LOWEST;

    var m = LOWEST;
    var sum = 0.0;
    var kv: array<f32, MAX_K>;
    var kt: array<u32, MAX_K>;
    var n = 0u;
    for (var v = lid; v < V; v += WG) {
      let x = logits[base + v];
      let mNew = max(m, x);
      sum = sum * exp(m - mNew) + exp(x - mNew);
      m = mNew;
      var key = x;
      if (dead) { key = negInf; } else if (fin) { key = select(negInf, 0.0, v == eos); }
      // Tokens arrive in increasing order: on equal keys the earlier one stays ahead.
      if (n < K || key > kv[K - 1u]) {
        var q = min(n, K - 1u);
        while (q > 0u && kv[q - 1u] < key) {
          kv[q] = kv[q - 1u];
          kt[q] = kt[q - 1u];
          q--;
        }
        kv[q] = key;
        kt[q] = v;
        n = min(n + 1u, K);
      }
    }
    // Row log-sum-exp: combine the threads' (max, sum).
    wf[lid] = m;
    wf2[lid] = sum;
    workgroupBarrier();
    for (var st = WG / 2u; st > 0u; st >>= 1u) {
      if (lid < st) {
        let m1 = wf[lid];
        let m2 = wf[lid + st];
        let mm = max(m1, m2);
        wf2[lid] = wf2[lid] * exp(m1 - mm) + wf2[lid + st] * exp(m2 - mm);
        wf[lid] = mm;
      }
      workgroupBarrier();
    }
    let lse = wf[0] + log(wf2[0]);
    workgroupBarrier();

    // K rounds: the best list head of all threads is the row's next candidate. Token v lives in
    // the list of thread v % WG, which then advances its head.
    var head = 0u;
    for (var r = 0u; r < K; r++) {
      var hk = negInf;
      var ht = NONE;
      if (head < n) {
        hk = kv[head];
        ht = kt[head];
      }
      wf[lid] = hk;
      wu[lid] = ht;
      workgroupBarrier();
      for (var st = WG / 2u; st > 0u; st >>= 1u) {
        if (lid < st && before(wf[lid + st], wu[lid + st], wf[lid], wu[lid])) {
          wf[lid] = wf[lid + st];
          wu[lid] = wu[lid + st];
        }
        workgroupBarrier();
      }
      let wk = wf[0];
      let wt = wu[0];
      if (wt != NONE && wt % WG == lid) { head++; }
      if (lid == 0u) {
        var score = negInf;
        var tag = NONE;
        if (wt != NONE) {
          if (!dead) {
            if (fin) { score = select(negInf, s, wt == eos); } else { score = s + (wk - lse); }
          }
          tag = wt | select(0u, 0x80000000u, fin || wt == eos);
        }
        let c = 2u * (row * K + r);
        cand[c] = bitcast<u32>(score);
        cand[c + 1u] = tag;
      }
      workgroupBarrier();
    }
  } else {
    // ---- per source: the K best of its K·K candidates ----
    let b = wid.x + wid.y * params.gridSources;
    if (b >= params.batch) { return; }
    let C = K * K;
    let i = lid;
    let c0 = 2u * b * C;
    if (i < C) {
      wf[i] = bitcast<f32>(cand[c0 + 2u * i]);
      wu[i] = cand[c0 + 2u * i + 1u];
    }
    workgroupBarrier();
    if (i < C) {
      let si = wf[i];
      let ti = wu[i] & 0x7fffffffu;
      let vi = ti < params.vocab;
      var rank = 0u;
      for (var j = 0u; j < C; j++) {
        let sj = wf[j];
        let vj = (wu[j] & 0x7fffffffu) < params.vocab;
        if (vj && (!vi || sj > si || (sj == si && j < i))) { rank++; }
      }
      if (vi && rank < K) {
        let out = b * K + rank;
        beamScore[out] = si;
        finished[out] = wu[i] >> 31u;
        parents[params.offsetHistory + out] = i32(i / K);
        tokens[params.offsetHistory + out] = i32(ti);
        next[params.offsetNext + out] = i32(ti);
      }
    }
  }
}
