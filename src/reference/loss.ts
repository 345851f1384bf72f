/**
 * Float64 reference losses with their gradients: the spec for the training loss kernels.
 *
 * crossEntropyRef — PyTorch F.cross_entropy(logits, target, ignore_index, reduction='mean'),
 * logits [N, C] row-major, target [N] class indices. A row counts when target ≠ ignoreIndex and
 * (if given) weightMask[n] ≠ 0; with M the number of counted rows:
 *
 *   lse_n   = m_n + log Σ_c exp(x[n, c] − m_n),   m_n = max_c x[n, c]   (max-subtracted, stable)
 *   loss    = (1/M) Σ_{n counted} (lse_n − x[n, target_n])
 *   dx[n,c] = (softmax(x_n)_c − [c = target_n]) / M   for counted rows, 0 for the others
 *
 * M = 0 gives loss NaN (as PyTorch's mean over nothing) and all-zero dLogits.
 *
 * mseRef — PyTorch F.mse_loss(pred, target, reduction='mean') over all K elements:
 *
 *   loss = (1/K) Σ (p − t)²,   dp = 2 (p − t) / K
 */

export interface CrossEntropyOptions {
  /** Rows whose target equals this are skipped (PyTorch ignore_index, default −100). */
  ignoreIndex?: number;
  /** Optional per-row 0/1 mask, length N: rows with 0 are skipped like ignored rows. */
  weightMask?: ArrayLike<number>;
}

/** logits: [N, C]; target: N class indices in [0, C) (or ignoreIndex). Returns the mean loss and dLogits [N, C]. */
export function crossEntropyRef(
  logits: ArrayLike<number>,
  target: ArrayLike<number>,
  opts: CrossEntropyOptions = {},
): { loss: number; dLogits: Float64Array } {
  const N = target.length;
  if (N === 0 || logits.length % N !== 0)
    throw new Error(`crossEntropyRef: logits length ${logits.length} is not N·C with N = ${N}`);
  const C = logits.length / N;
  const ignoreIndex = opts.ignoreIndex ?? -100;
  if (opts.weightMask && opts.weightMask.length !== N)
    throw new Error(`crossEntropyRef: weightMask length ${opts.weightMask.length}, expected ${N}`);

  const counted = (n: number): boolean => target[n] !== ignoreIndex && (!opts.weightMask || opts.weightMask[n] !== 0);
  let M = 0;
  for (let n = 0; n < N; n++) {
    if (!counted(n)) continue;
    if (!Number.isInteger(target[n]) || target[n] < 0 || target[n] >= C)
      throw new Error(`crossEntropyRef: target[${n}] = ${target[n]} is not a class in [0, ${C})`);
    M++;
  }

  const dLogits = new Float64Array(N * C);
  let sum = 0;
  for (let n = 0; n < N; n++) {
    if (!counted(n)) continue;
    const row = n * C;
    let m = -Infinity;
    for (let c = 0; c < C; c++) m = Math.max(m, logits[row + c]);
    let s = 0;
    for (let c = 0; c < C; c++) s += Math.exp(logits[row + c] - m);
    const lse = m + Math.log(s);
    sum += lse - logits[row + target[n]];
    for (let c = 0; c < C; c++) dLogits[row + c] = Math.exp(logits[row + c] - m) / s / M;
    dLogits[row + target[n]] -= 1 / M;
  }
  return { loss: M === 0 ? NaN : sum / M, dLogits };
}

/** Mean squared error over all elements; pred and target have the same length K. */
export function mseRef(pred: ArrayLike<number>, target: ArrayLike<number>): { loss: number; dPred: Float64Array } {
  const K = pred.length;
  if (target.length !== K) throw new Error(`mseRef: pred length ${K} ≠ target length ${target.length}`);
  const dPred = new Float64Array(K);
  let sum = 0;
  for (let k = 0; k < K; k++) {
    const e = pred[k] - target[k];
    sum += e * e;
    dPred[k] = (2 * e) / K;
  }
  return { loss: sum / K, dPred };
}
