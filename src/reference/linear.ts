/**
 * Float64 reference of PyTorch nn.Linear, forward and backward. Row-major layouts:
 * x [N, inFeatures], weight [outFeatures, inFeatures] (PyTorch's layout), bias [outFeatures], y / dY [N, outFeatures].
 *
 *   y  = x Wᵀ + b          y[n, o]  = b[o] + Σᵢ x[n, i] · W[o, i]
 *   dX = dY W              dX[n, i] = Σₒ dY[n, o] · W[o, i]
 *   dW = dYᵀ x             dW[o, i] = Σₙ dY[n, o] · x[n, i]
 *   db = Σₙ dY[n, :]
 */

export interface LinearDims {
  inFeatures: number;
  outFeatures: number;
}

function rowsOf(
  what: string,
  x: ArrayLike<number>,
  weight: ArrayLike<number>,
  { inFeatures, outFeatures }: LinearDims,
): number {
  if (weight.length !== outFeatures * inFeatures)
    throw new Error(`${what}: weight length ${weight.length}, expected ${outFeatures}·${inFeatures}`);
  if (x.length % inFeatures !== 0)
    throw new Error(`${what}: x length ${x.length} is not a multiple of inFeatures ${inFeatures}`);
  return x.length / inFeatures;
}

/** y [N, outFeatures] = x Wᵀ + b; N = x.length / inFeatures. */
export function linearRef(
  x: ArrayLike<number>,
  weight: ArrayLike<number>,
  bias: ArrayLike<number> | undefined,
  dims: LinearDims,
): Float64Array {
  const N = rowsOf('linearRef', x, weight, dims);
  const { inFeatures: I, outFeatures: O } = dims;
  if (bias && bias.length !== O) throw new Error(`linearRef: bias length ${bias.length}, expected ${O}`);
  const y = new Float64Array(N * O);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++) {
      let s = bias ? bias[o] : 0;
      for (let i = 0; i < I; i++) s += x[n * I + i] * weight[o * I + i];
      y[n * O + o] = s;
    }
  return y;
}

/** Gradients of y = x Wᵀ + b given dY [N, outFeatures]: dX [N, in], dWeight [out, in], dBias [out]. */
export function linearBackwardRef(
  x: ArrayLike<number>,
  weight: ArrayLike<number>,
  dY: ArrayLike<number>,
  dims: LinearDims,
): { dX: Float64Array; dWeight: Float64Array; dBias: Float64Array } {
  const N = rowsOf('linearBackwardRef', x, weight, dims);
  const { inFeatures: I, outFeatures: O } = dims;
  if (dY.length !== N * O) throw new Error(`linearBackwardRef: dY length ${dY.length}, expected ${N}·${O}`);
  const dX = new Float64Array(N * I);
  const dWeight = new Float64Array(O * I);
  const dBias = new Float64Array(O);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++) {
      const g = dY[n * O + o];
      dBias[o] += g;
      for (let i = 0; i < I; i++) {
        dX[n * I + i] += g * weight[o * I + i];
        dWeight[o * I + i] += g * x[n * I + i];
      }
    }
  return { dX, dWeight, dBias };
}
