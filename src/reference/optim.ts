/**
 * Float64 references of one optimizer step, gradient clipping and learning-rate schedules, with
 * the formulas of the torch 1.13 docs (torch.optim, torch.nn.utils, torch.optim.lr_scheduler).
 *
 * params / grads are parallel lists of flat tensors (Float64Array or Float32Array). The steps
 * UPDATE params IN PLACE (as torch does; a Float32Array param rounds to f32 after each step) and
 * keep their state (momentum buffers, m, v) in float64 inside the caller's `state` object, which
 * starts empty and is filled on the first step. grads are only read, except by the clip functions,
 * which scale them in place like clip_grad_norm_ / clip_grad_value_.
 *
 * SGD (t = 1, 2, …, λ weightDecay, μ momentum, τ dampening, γ lr):
 *   g ← g + λθ
 *   if μ ≠ 0:  b ← g (t = 1),  b ← μb + (1 − τ)g (t > 1);   g ← g + μb if nesterov else g ← b
 *   θ ← θ − γg
 *
 * Adam (β1, β2, ε; step t counted in state.step, incremented before use):
 *   AdamW (decoupled):  θ ← θ − γλθ          Adam:  g ← g + λθ
 *   m ← β1 m + (1 − β1) g        v ← β2 v + (1 − β2) g²
 *   m̂ = m / (1 − β1ᵗ)            v̂ = v / (1 − β2ᵗ)
 *   θ ← θ − γ m̂ / (√v̂ + ε)
 *
 * clip_grad_norm_:   N = (Σ_all |g|ᵖ)^(1/p) (p = 2 by default, ∞: max |g|); if maxNorm / (N + 1e−6) < 1,
 *                    every g ← g · maxNorm / (N + 1e−6); returns N (before clipping).
 * clip_grad_value_:  g ← clamp(g, −clipValue, clipValue).
 *
 * Schedules (closed forms; `step` is the scheduler's last_epoch, 0 before any scheduler.step()):
 *   StepLR         η = η₀ · γ^⌊step / stepSize⌋
 *   ExponentialLR  η = η₀ · γ^step
 *   CosineAnnealingLR  η = η_min + (η₀ − η_min) · (1 + cos(π · step / T_max)) / 2
 */
import type { OptimizerOptions } from '../kernels/optimizer.js';

export type Tensor = Float64Array | Float32Array;

function checkPairs(what: string, params: Tensor[], grads: ArrayLike<number>[]): void {
  if (params.length !== grads.length) throw new Error(`${what}: ${params.length} params but ${grads.length} grads`);
  params.forEach((p, i) => {
    if (p.length !== grads[i].length)
      throw new Error(`${what}: param ${i} has length ${p.length}, its grad ${grads[i].length}`);
  });
}

export interface SgdOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
}

/** Momentum buffers, one per param, created on the first step (when momentum ≠ 0). */
export interface SgdState {
  momentumBuffer?: Float64Array[];
}

/** One torch.optim.SGD step; updates params in place. */
export function sgdStepRef(params: Tensor[], grads: ArrayLike<number>[], state: SgdState, opts: SgdOptions): void {
  checkPairs('sgdStepRef', params, grads);
  const { lr, momentum = 0, dampening = 0, nesterov = false, weightDecay = 0 } = opts;
  if (nesterov && (momentum <= 0 || dampening !== 0))
    throw new Error('sgdStepRef: nesterov needs momentum > 0 and dampening = 0');
  const first = state.momentumBuffer === undefined;
  if (momentum !== 0 && first) state.momentumBuffer = params.map((p) => new Float64Array(p.length));
  params.forEach((p, i) => {
    const buf = state.momentumBuffer?.[i];
    for (let k = 0; k < p.length; k++) {
      let g = grads[i][k] + weightDecay * p[k];
      if (momentum !== 0 && buf) {
        buf[k] = first ? g : momentum * buf[k] + (1 - dampening) * g;
        g = nesterov ? g + momentum * buf[k] : buf[k];
      }
      p[k] -= lr * g;
    }
  });
}

export interface AdamOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay?: number;
  /** AdamW: weight decay applied to θ directly instead of being added to the gradient. */
  decoupled?: boolean;
}

/** step: steps taken so far (0 initially); m, v: first / second moments per param (empty initially). */
export interface AdamState {
  step: number;
  m: Float64Array[];
  v: Float64Array[];
}

export function newAdamState(): AdamState {
  return { step: 0, m: [], v: [] };
}

/** One torch.optim.Adam (or AdamW, decoupled: true) step with bias correction; updates params in place. */
export function adamStepRef(params: Tensor[], grads: ArrayLike<number>[], state: AdamState, opts: AdamOptions): void {
  checkPairs('adamStepRef', params, grads);
  const { lr, beta1, beta2, eps, weightDecay = 0, decoupled = false } = opts;
  const t = ++state.step;
  const bc1 = 1 - beta1 ** t;
  const bc2 = 1 - beta2 ** t;
  params.forEach((p, i) => {
    const m = (state.m[i] ??= new Float64Array(p.length));
    const v = (state.v[i] ??= new Float64Array(p.length));
    for (let k = 0; k < p.length; k++) {
      let g = grads[i][k];
      let theta = p[k];
      if (decoupled) theta -= lr * weightDecay * theta;
      else g += weightDecay * theta;
      m[k] = beta1 * m[k] + (1 - beta1) * g;
      v[k] = beta2 * v[k] + (1 - beta2) * g * g;
      p[k] = theta - (lr * (m[k] / bc1)) / (Math.sqrt(v[k] / bc2) + eps);
    }
  });
}

/**
 * torch.nn.utils.clip_grad_norm_: scales grads in place when their total norm exceeds maxNorm; returns the total norm
 * (before clipping).
 */
export function clipGradNormRef(grads: Tensor[], maxNorm: number, normType = 2): number {
  let norm = 0;
  if (normType === Infinity) {
    for (const g of grads) for (let k = 0; k < g.length; k++) norm = Math.max(norm, Math.abs(g[k]));
  } else {
    let s = 0;
    for (const g of grads) for (let k = 0; k < g.length; k++) s += Math.abs(g[k]) ** normType;
    norm = s ** (1 / normType);
  }
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) for (const g of grads) for (let k = 0; k < g.length; k++) g[k] *= coef;
  return norm;
}

/** torch.nn.utils.clip_grad_value_: clamps every gradient to [−clipValue, clipValue] in place. */
export function clipGradValueRef(grads: Tensor[], clipValue: number): void {
  for (const g of grads) for (let k = 0; k < g.length; k++) g[k] = Math.min(Math.max(g[k], -clipValue), clipValue);
}

/** StepLR: base · gamma^⌊step / stepSize⌋. */
export function stepLR(base: number, step: number, stepSize: number, gamma: number): number {
  return base * gamma ** Math.floor(step / stepSize);
}

/** ExponentialLR: base · gamma^step. */
export function exponentialLR(base: number, step: number, gamma: number): number {
  return base * gamma ** step;
}

/** CosineAnnealingLR (closed form): etaMin + (base − etaMin) · (1 + cos(π · step / tMax)) / 2. */
export function cosineLR(base: number, step: number, tMax: number, etaMin = 0): number {
  return etaMin + ((base - etaMin) * (1 + Math.cos((Math.PI * step) / tMax))) / 2;
}

/**
 * The per-step scalars of shaders/optimizer.wgsl's `Hyper` uniform as Optimizer computes them
 * (float64, then rounded to f32 once), for {@link optimizerElementF32Ref}.
 */
export interface KernelHyperRef {
  lr: number;
  momentum: number;
  dampening1: number;
  weightDecay: number;
  beta1: number;
  oneMinusBeta1: number;
  beta2: number;
  oneMinusBeta2: number;
  eps: number;
  stepSize: number;
  bc2Sqrt: number;
  decay: number;
  maxNorm: number;
  clipValue: number;
  first: boolean;
}

/** Options of {@link kernelHyperRef} / {@link optimizerElementF32Ref}: the optimizer's options without its ranges. */
export type KernelOptionsRef = Omit<OptimizerOptions, 'ranges' | 'trackGradNorm'>;

/** The `Hyper` values of step `step` (1-based) with learning rate `lr`. */
export function kernelHyperRef(o: KernelOptionsRef, step: number, lr = o.lr): KernelHyperRef {
  const f = Math.fround;
  const [beta1, beta2] = [o.beta1 ?? 0.9, o.beta2 ?? 0.999];
  const weightDecay = o.weightDecay ?? (o.kind === 'adamw' ? 1e-2 : 0);
  const t = Math.max(step, 1);
  return {
    lr: f(lr),
    momentum: f(o.momentum ?? 0),
    dampening1: f(1 - (o.dampening ?? 0)),
    weightDecay: f(weightDecay),
    beta1: f(beta1),
    oneMinusBeta1: f(1 - beta1),
    beta2: f(beta2),
    oneMinusBeta2: f(1 - beta2),
    eps: f(o.eps ?? 1e-8),
    stepSize: f(lr / (1 - beta1 ** t)),
    bc2Sqrt: f(Math.sqrt(1 - beta2 ** t)),
    decay: f(1 - lr * weightDecay),
    maxNorm: f(o.clipNorm ?? 0),
    clipValue: f(o.clipValue ?? 0),
    first: step <= 1,
  };
}

/**
 * One element through shaders/optimizer.wgsl's `updated` in f32: every operation rounded to f32,
 * in the kernel's order (a GPU may differ by an ulp in sqrt / division). `normSq` is Σ g² of the
 * step (CLIP_NORM). Returns the new θ and the moments it keeps (0 where unused).
 */
export function optimizerElementF32Ref(
  o: KernelOptionsRef,
  h: KernelHyperRef,
  theta: number,
  grad: number,
  m1: number,
  m2: number,
  normSq: number,
): { theta: number; m1: number; m2: number } {
  const f = Math.fround;
  let g = f(grad);
  if (o.clipValue !== undefined) g = Math.min(Math.max(g, -h.clipValue), h.clipValue);
  if (o.clipNorm !== undefined) {
    const coef = f(h.maxNorm / f(f(Math.sqrt(f(normSq))) + f(1e-6)));
    if (coef < 1) g = f(g * coef);
  }
  let p = f(theta);
  const out = { theta: 0, m1: 0, m2: 0 };
  if (o.kind === 'sgd') {
    g = f(g + f(h.weightDecay * p));
    if ((o.momentum ?? 0) !== 0) {
      const b = h.first ? g : f(f(h.momentum * f(m1)) + f(h.dampening1 * g));
      out.m1 = b;
      g = o.nesterov ? f(g + f(h.momentum * b)) : b;
    }
    p = f(p - f(h.lr * g));
  } else {
    if (o.kind === 'adamw') p = f(p * h.decay);
    else g = f(g + f(h.weightDecay * p));
    const m = f(f(h.beta1 * f(m1)) + f(h.oneMinusBeta1 * g));
    const v = f(f(h.beta2 * f(m2)) + f(f(h.oneMinusBeta2 * g) * g));
    out.m1 = m;
    out.m2 = v;
    const denom = f(f(f(Math.sqrt(v)) / h.bc2Sqrt) + h.eps);
    p = f(p - f(h.stepSize * f(m / denom)));
  }
  out.theta = p;
  return out;
}

/**
 * The verdict of the NaN/Inf guard's check pass (optimizer.wgsl, CHECK): true when the step would
 * make some θ, or a moment the optimizer keeps (SGD momentum buffer, Adam m and v), NaN or ±Inf.
 */
export function updateNonFiniteRef(
  o: KernelOptionsRef,
  h: KernelHyperRef,
  theta: ArrayLike<number>,
  grad: ArrayLike<number>,
  m1: ArrayLike<number> | null,
  m2: ArrayLike<number> | null,
  normSq: number,
): boolean {
  const keepsM1 = o.kind !== 'sgd' || (o.momentum ?? 0) !== 0;
  for (let i = 0; i < theta.length; i++) {
    const u = optimizerElementF32Ref(o, h, theta[i], grad[i], m1?.[i] ?? 0, m2?.[i] ?? 0, normSq);
    if (
      !Number.isFinite(u.theta) ||
      (keepsM1 && !Number.isFinite(u.m1)) ||
      (o.kind !== 'sgd' && !Number.isFinite(u.m2))
    )
      return true;
  }
  return false;
}
