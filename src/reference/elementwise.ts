/** Float64 references for shaders/elementwise.wgsl and shaders/bias_act.wgsl. */
export const sigmoidRef = (x: number): number => 1 / (1 + Math.exp(-x));
export const tanhRef = (x: number): number => Math.tanh(x);
export const reluRef = (x: number): number => Math.max(x, 0);

export const ACTIVATION_REFS = {
  identity: (x: number) => x,
  sigmoid: sigmoidRef,
  tanh: tanhRef,
  relu: reluRef,
} as const;

export function addRef(x: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  return Float64Array.from(x as ArrayLike<number>, (v, i) => v + b[i]);
}

export function mulRef(x: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  return Float64Array.from(x as ArrayLike<number>, (v, i) => v * b[i]);
}

export function scaleRef(x: ArrayLike<number>, alpha: number): Float64Array {
  return Float64Array.from(x as ArrayLike<number>, (v) => alpha * v);
}

export function mapRef(x: ArrayLike<number>, f: (v: number) => number): Float64Array {
  return Float64Array.from(x as ArrayLike<number>, f);
}

/** y[r, c] = act(x[r, c] + b[c]) over rows of length b.length. */
export function biasActRef(x: ArrayLike<number>, b: ArrayLike<number>, act: keyof typeof ACTIVATION_REFS): Float64Array {
  const f = ACTIVATION_REFS[act];
  return Float64Array.from(x as ArrayLike<number>, (v, i) => f(v + b[i % b.length]));
}

/** Backward of tanh from its output: dx = dy · (1 − y²). */
export function tanhGradRef(y: ArrayLike<number>, dy: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: y.length }, (_, i) => dy[i] * (1 - y[i] * y[i]));
}
