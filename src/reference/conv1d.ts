/**
 * Float64 reference of shaders/conv1d.wgsl and its backward kernels (PyTorch nn.Conv1d,
 * groups = 1, zero padding), plain loops:
 *   x [N, Cin, L], weight [Cout, Cin, K], bias [Cout], y [N, Cout, Lout]
 *   Lout = ⌊(L + 2·padding − dilation·(K − 1) − 1) / stride⌋ + 1
 *   y[n, o, t] = bias[o] + Σ_{c,k} weight[o, c, k] · x[n, c, t·stride − padding + k·dilation]
 * (x outside [0, L) is 0). Row-major, no padding between rows.
 */

/** Sizes and hyper-parameters of a 1-D convolution (stride and dilation default to 1, padding to 0). */
export interface Conv1dDims {
  /** N. */
  batch: number;
  /** Cin. */
  inChannels: number;
  /** Cout. */
  outChannels: number;
  /** L. */
  length: number;
  /** K. */
  kernelSize: number;
  /** Step between output windows (default 1). */
  stride?: number;
  /** Zeros at each end (default 0). */
  padding?: number;
  /** Step between taps (default 1). */
  dilation?: number;
}

/**
 * Lout for `dims`.
 * @param dims - The convolution's sizes.
 * @returns ⌊(L + 2·padding − dilation·(K − 1) − 1) / stride⌋ + 1.
 * @throws RangeError when that is below 1.
 */
export function conv1dRefOutputLength(dims: Conv1dDims): number {
  const { length: L, kernelSize: K } = dims;
  const stride = dims.stride ?? 1;
  const padding = dims.padding ?? 0;
  const dilation = dims.dilation ?? 1;
  const lout = Math.floor((L + 2 * padding - dilation * (K - 1) - 1) / stride) + 1;
  if (lout < 1) throw new RangeError(`conv1dRef: output length ${lout} < 1`);
  return lout;
}

/**
 * The forward: y [N, Cout, Lout].
 * @param x - Input [N, Cin, L].
 * @param weight - Filters [Cout, Cin, K].
 * @param bias - Bias [Cout], or undefined for none.
 * @param dims - Sizes and hyper-parameters.
 * @returns y, float64.
 */
export function conv1dRef(
  x: ArrayLike<number>,
  weight: ArrayLike<number>,
  bias: ArrayLike<number> | undefined,
  dims: Conv1dDims,
): Float64Array {
  const { batch: N, inChannels: Cin, outChannels: Cout, length: L, kernelSize: K } = dims;
  const stride = dims.stride ?? 1;
  const padding = dims.padding ?? 0;
  const dilation = dims.dilation ?? 1;
  const Lout = conv1dRefOutputLength(dims);
  const y = new Float64Array(N * Cout * Lout);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < Cout; o++) {
      for (let t = 0; t < Lout; t++) {
        let s = bias ? bias[o] : 0;
        for (let c = 0; c < Cin; c++) {
          for (let k = 0; k < K; k++) {
            const p = t * stride - padding + k * dilation;
            if (p < 0 || p >= L) continue;
            s += weight[(o * Cin + c) * K + k] * x[(n * Cin + c) * L + p];
          }
        }
        y[(n * Cout + o) * Lout + t] = s;
      }
    }
  }
  return y;
}

/**
 * The backward: every gradient of a loss given ∂loss/∂y.
 *   dx[n, c, p]      = Σ_{o,k,t: t·stride − padding + k·dilation = p} dy[n, o, t] · weight[o, c, k]
 *   dWeight[o, c, k] = Σ_{n,t} dy[n, o, t] · x[n, c, t·stride − padding + k·dilation]
 *   dBias[o]         = Σ_{n,t} dy[n, o, t]
 * (computed by scattering each output's contribution, independently of the GPU's gather).
 * @param x - The forward's input [N, Cin, L].
 * @param weight - The forward's filters [Cout, Cin, K].
 * @param dy - ∂loss/∂y [N, Cout, Lout].
 * @param dims - Sizes and hyper-parameters.
 * @returns dx [N, Cin, L], dWeight [Cout, Cin, K] and dBias [Cout], float64.
 */
export function conv1dBackwardRef(
  x: ArrayLike<number>,
  weight: ArrayLike<number>,
  dy: ArrayLike<number>,
  dims: Conv1dDims,
): { dx: Float64Array; dWeight: Float64Array; dBias: Float64Array } {
  const { batch: N, inChannels: Cin, outChannels: Cout, length: L, kernelSize: K } = dims;
  const stride = dims.stride ?? 1;
  const padding = dims.padding ?? 0;
  const dilation = dims.dilation ?? 1;
  const Lout = conv1dRefOutputLength(dims);
  const dx = new Float64Array(N * Cin * L);
  const dWeight = new Float64Array(Cout * Cin * K);
  const dBias = new Float64Array(Cout);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < Cout; o++) {
      for (let t = 0; t < Lout; t++) {
        const g = dy[(n * Cout + o) * Lout + t];
        dBias[o] += g;
        for (let c = 0; c < Cin; c++) {
          for (let k = 0; k < K; k++) {
            const p = t * stride - padding + k * dilation;
            if (p < 0 || p >= L) continue;
            dx[(n * Cin + c) * L + p] += g * weight[(o * Cin + c) * K + k];
            dWeight[(o * Cin + c) * K + k] += g * x[(n * Cin + c) * L + p];
          }
        }
      }
    }
  }
  return { dx, dWeight, dBias };
}
