/**
 * Float64 reference of PyTorch nn.Embedding, forward and backward. weight [V, E] row-major
 * (numEmbeddings V, embeddingDim E), indices [N] integers in [0, V), output / dOut [N, E].
 *
 *   out[n, :] = weight[indices[n], :]
 *   dW[v, :]  = Σ_{n : indices[n] = v} dOut[n, :]   (scatter-add: repeated indices accumulate)
 *   dW[paddingIdx, :] = 0                          (PyTorch padding_idx; negative counts from V)
 *
 * padding_idx does not change the forward (the row is read as stored).
 */

function checkIndex(what: string, v: number, V: number): void {
  if (!Number.isInteger(v) || v < 0 || v >= V) throw new Error(`${what}: index ${v} is not in [0, ${V})`);
}

/** out [N, embeddingDim]: the rows of weight [V, embeddingDim] picked by indices. */
export function embeddingRef(
  weight: ArrayLike<number>,
  indices: ArrayLike<number>,
  embeddingDim: number,
): Float64Array {
  const E = embeddingDim;
  if (weight.length % E !== 0)
    throw new Error(`embeddingRef: weight length ${weight.length} is not a multiple of embeddingDim ${E}`);
  const V = weight.length / E;
  const out = new Float64Array(indices.length * E);
  for (let n = 0; n < indices.length; n++) {
    checkIndex('embeddingRef', indices[n], V);
    for (let e = 0; e < E; e++) out[n * E + e] = weight[indices[n] * E + e];
  }
  return out;
}

/** dWeight [V, E] from dOut [N, E]; the paddingIdx row (if given) gets zero gradient. */
export function embeddingBackwardRef(
  V: number,
  E: number,
  indices: ArrayLike<number>,
  dOut: ArrayLike<number>,
  paddingIdx?: number,
): Float64Array {
  if (dOut.length !== indices.length * E)
    throw new Error(`embeddingBackwardRef: dOut length ${dOut.length}, expected ${indices.length}·${E}`);
  const pad = paddingIdx === undefined ? -1 : paddingIdx < 0 ? V + paddingIdx : paddingIdx;
  if (paddingIdx !== undefined) checkIndex('embeddingBackwardRef: paddingIdx', pad, V);
  const dW = new Float64Array(V * E);
  for (let n = 0; n < indices.length; n++) {
    const v = indices[n];
    checkIndex('embeddingBackwardRef', v, V);
    if (v === pad) continue;
    for (let e = 0; e < E; e++) dW[v * E + e] += dOut[n * E + e];
  }
  return dW;
}
