/**
 * Float64 reference of PyTorch nn.Linear, forward and backward. Row-major layouts:
 * x [N, inFeatures], weight [outFeatures, inFeatures] (PyTorch's layout), bias [outFeatures], y / dY [N, outFeatures].
 *
 *   y  = x Wᵀ + b          y[n, o]  = b[o] + Σᵢ x[n, i] · W[o, i]
 *   dX = dY W              dX[n, i] = Σₒ dY[n, o] · W[o, i]
 *   dW = dYᵀ x             dW[o, i] = Σₙ dY[n, o] · x[n, i]
 *   db = Σₙ dY[n, :]
 *
 * With the fused GEMM epilogue (linearActRef / linearActBackwardRef):
 *   z  = x Wᵀ + b          y = act(z) + r        (act: identity, relu, gelu, gelu_tanh; r optional)
 *   dZ = dY ⊙ act'(z)      dR = dY               then dX, dW, db as above with dZ for dY
 */
import { geluDerivRef, geluRef, geluTanhDerivRef, geluTanhRef } from './elementwise.js';

/** An activation of the GEMM epilogue (shaders/matmul.wgsl ACT). */
export type EpilogueActivation = 'identity' | 'relu' | 'gelu' | 'gelu_tanh';

/**
 * act(z) for one value.
 * @param act - The activation.
 * @param z - Its input.
 */
export function epilogueActRef(act: EpilogueActivation, z: number): number {
  switch (act) {
    case 'identity':
      return z;
    case 'relu':
      return Math.max(z, 0);
    case 'gelu':
      return geluRef(z);
    case 'gelu_tanh':
      return geluTanhRef(z);
    default:
      throw new Error(`epilogueActRef: unknown activation '${String(act)}'`);
  }
}

/**
 * act'(z) for one value (relu' is 1 for z > 0, else 0, as PyTorch).
 * @param act - The activation.
 * @param z - Its input.
 */
export function epilogueActDerivRef(act: EpilogueActivation, z: number): number {
  switch (act) {
    case 'identity':
      return 1;
    case 'relu':
      return z > 0 ? 1 : 0;
    case 'gelu':
      return geluDerivRef(z);
    case 'gelu_tanh':
      return geluTanhDerivRef(z);
    default:
      throw new Error(`epilogueActDerivRef: unknown activation '${String(act)}'`);
  }
}

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

/**
 * y [N, outFeatures] = act(x Wᵀ + b) + residual, and z = x Wᵀ + b (the pre-activation).
 * @param x - [N, inFeatures].
 * @param weight - [outFeatures, inFeatures].
 * @param bias - [outFeatures], or undefined.
 * @param dims - inFeatures and outFeatures.
 * @param epilogue - The activation (default identity) and a residual [N, outFeatures].
 */
export function linearActRef(
  x: ArrayLike<number>,
  weight: ArrayLike<number>,
  bias: ArrayLike<number> | undefined,
  dims: LinearDims,
  epilogue: { activation?: EpilogueActivation; residual?: ArrayLike<number> } = {},
): { y: Float64Array; z: Float64Array } {
  const z = linearRef(x, weight, bias, dims);
  const r = epilogue.residual;
  if (r && r.length !== z.length) throw new Error(`linearActRef: residual length ${r.length}, expected ${z.length}`);
  const act = epilogue.activation ?? 'identity';
  const y = z.map((v, i) => epilogueActRef(act, v) + (r ? r[i] : 0));
  return { y, z };
}

/**
 * Gradients of y = act(x Wᵀ + b) + residual given dY [N, outFeatures] and the pre-activation z.
 * @param x - [N, inFeatures].
 * @param weight - [outFeatures, inFeatures].
 * @param z - [N, outFeatures], from {@link linearActRef}.
 * @param dY - [N, outFeatures].
 * @param dims - inFeatures and outFeatures.
 * @param activation - The activation (default identity).
 * @returns dX, dWeight, dBias, dZ = dY ⊙ act'(z) and dResidual = dY.
 */
export function linearActBackwardRef(
  x: ArrayLike<number>,
  weight: ArrayLike<number>,
  z: ArrayLike<number>,
  dY: ArrayLike<number>,
  dims: LinearDims,
  activation: EpilogueActivation = 'identity',
): { dX: Float64Array; dWeight: Float64Array; dBias: Float64Array; dZ: Float64Array; dResidual: Float64Array } {
  if (z.length !== dY.length) throw new Error(`linearActBackwardRef: z length ${z.length}, dY length ${dY.length}`);
  const dZ = Float64Array.from({ length: dY.length }, (_, i) => dY[i] * epilogueActDerivRef(activation, z[i]));
  return { ...linearBackwardRef(x, weight, dZ, dims), dZ, dResidual: Float64Array.from(dY as ArrayLike<number>) };
}
