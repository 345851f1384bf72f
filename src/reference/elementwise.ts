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
export function biasActRef(
  x: ArrayLike<number>,
  b: ArrayLike<number>,
  act: keyof typeof ACTIVATION_REFS,
): Float64Array {
  const f = ACTIVATION_REFS[act];
  return Float64Array.from(x as ArrayLike<number>, (v, i) => f(v + b[i % b.length]));
}

/** Backward of tanh from its output: dx = dy · (1 − y²). */
export function tanhGradRef(y: ArrayLike<number>, dy: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: y.length }, (_, i) => dy[i] * (1 - y[i] * y[i]));
}

/** y = x − b. */
export function subRef(x: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  return Float64Array.from(x as ArrayLike<number>, (v, i) => v - b[i]);
}

// Σₙ 2ⁿz^{2n+1}/(1·3·…·(2n+1)): every term positive; erf z = 2/√π·e^{−z²}·this.
function erfSeriesSum(z: number): number {
  let term = z;
  let sum = z;
  for (let n = 1; n < 300 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
    term *= (2 * z * z) / (2 * n + 1);
    sum += term;
  }
  return sum;
}

/**
 * erf(x), float64 to ~1e-15: the power series of erf (all terms of one sign) for |x| < 3,
 * 1 − erfc beyond.
 */
export function erfRef(x: number): number {
  if (Math.abs(x) >= 3) return Math.sign(x) * (1 - erfcRef(Math.abs(x)));
  return (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x) * erfSeriesSum(x);
}

/**
 * erfc(z) = 1 − erf(z), float64 with ~1e-15 relative error in the tail: from the series below 3,
 * from the continued fraction erfc z = e^{−z²}/√π · 1/(z + ½/(z + 1/(z + (3/2)/(z + …)))) above.
 */
export function erfcRef(z: number): number {
  if (z < 3) return 1 - erfRef(z);
  let f = z;
  for (let k = 200; k >= 1; k--) f = z + k / 2 / f;
  return Math.exp(-z * z) / Math.sqrt(Math.PI) / f;
}

/** Standard normal CDF Φ(x) = ½·erfc(−x/√2). */
export const normalCdfRef = (x: number): number => 0.5 * erfcRef(-x / Math.SQRT2);

/** Exact GELU: x·Φ(x) = ½·x·(1 + erf(x/√2)). */
export const geluRef = (x: number): number => x * normalCdfRef(x);

const GELU_TANH_C = Math.sqrt(2 / Math.PI);

/** Tanh GELU: ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
export const geluTanhRef = (x: number): number => 0.5 * x * (1 + Math.tanh(GELU_TANH_C * (x + 0.044715 * x * x * x)));

/** d/dx of exact GELU: Φ(x) + x·φ(x). */
export const geluDerivRef = (x: number): number =>
  normalCdfRef(x) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI);

/** d/dx of tanh GELU: ½(1 + tanh u) + ½x(1 − tanh²u)·u', u = √(2/π)(x + 0.044715x³). */
export function geluTanhDerivRef(x: number): number {
  const t = Math.tanh(GELU_TANH_C * (x + 0.044715 * x * x * x));
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_TANH_C * (1 + 3 * 0.044715 * x * x);
}

/** Backward of relu: dx = dy where x > 0, else 0 (x: its input or output). */
export function reluGradRef(x: ArrayLike<number>, dy: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: x.length }, (_, i) => (x[i] > 0 ? dy[i] : 0));
}

/** Backward of sigmoid from its output: dx = dy · y · (1 − y). */
export function sigmoidGradRef(y: ArrayLike<number>, dy: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: y.length }, (_, i) => dy[i] * y[i] * (1 - y[i]));
}

/** Backward of exact GELU from its input: dx = dy · gelu'(x). */
export function geluGradRef(x: ArrayLike<number>, dy: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: x.length }, (_, i) => dy[i] * geluDerivRef(x[i]));
}

/** Backward of tanh GELU from its input: dx = dy · geluTanh'(x). */
export function geluTanhGradRef(x: ArrayLike<number>, dy: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: x.length }, (_, i) => dy[i] * geluTanhDerivRef(x[i]));
}
