// Host side of shaders/optimizer.wgsl: torch.optim.SGD / Adam / AdamW over ONE flat parameter
// buffer, with clip_grad_value_ and clip_grad_norm_ fused into the update.
//
// Prepared once, at construction (nothing is allocated per step):
//   dispatches() = [grad-norm reduction (reduce_sum.wgsl, Σ g² over the trained ranges; only with
//                   clipNorm or trackGradNorm): 1 dispatch for one range of ≤ 8192 elements,
//                   else one per range + 1]
//                + [one optimizer.wgsl dispatch per trained range]
//   beforeStep(lr) — call once before each submit that contains dispatches(): it counts the step
//                   (t, for the bias corrections and the first SGD momentum step) and writes the
//                   per-step uniform (lr and the scalars derived from it, in float64 → f32).
//
// Clipping order: clip by value FIRST (g ← clamp(g, ±clipValue)), then by norm, with the norm
// taken over the value-clipped gradients — what `clip_grad_value_(ps, v); clip_grad_norm_(ps, n)`
// does in PyTorch. The gradients buffer itself is never modified (clipping happens in registers).
//
// Frozen parameters: `ranges` lists the [offset, length] element ranges to train (default: the
// whole buffer). Elements outside them are neither updated nor counted in the gradient norm.
// Padding elements inside a trained range are safe as long as they have zero gradient and zero
// value: with g = 0 and θ = 0, SGD (any momentum / dampening / nesterov / weight decay), Adam and
// AdamW all leave θ = 0 (the update is 0 − γ·0, or m/(√v + ε) = 0/ε = 0; decay scales 0).
//
// Buffers: params, grads [n] f32 (given); moment buffers [n] f32 owned here (SGD with momentum:
// `momentum`; Adam/AdamW: `m`, `v`), zero-initialised; normSq (1 f32: Σ g² of the last step).
import type { Gpu } from '../gpu/device.js';
import type { Dispatch } from '../gpu/dispatch.js';
import { ShapeError } from '../gpu/errors.js';
import { TENSOR_USAGE, UNIFORM_USAGE } from '../gpu/flags.js';
import { grid2d } from '../kernels/grid.js';
import { reduceSumDispatches, type ElementRange } from '../kernels/reduceSum.js';

const WG = 256;

/**
 * `'sgd'` (torch.optim.SGD, with momentum / Nesterov), `'adam'` (Adam) or `'adamw'` (AdamW,
 * decoupled weight decay).
 */
export type OptimizerKind = 'sgd' | 'adam' | 'adamw';

/** Hyperparameters, with PyTorch's names (camelCase) and defaults. */
export interface OptimizerOptions {
  /** The algorithm. */
  kind: OptimizerKind;
  /** Learning rate (≥ 0); a schedule scales it per step. */
  lr: number;
  /** SGD only. Default 0. */
  momentum?: number;
  /** SGD only. Default 0. */
  dampening?: number;
  /** SGD only: needs momentum > 0 and dampening = 0. Default false. */
  nesterov?: boolean;
  /** Adam/AdamW. Defaults 0.9, 0.999, 1e-8. */
  beta1?: number;
  /** Adam/AdamW: decay of the second moment. Default 0.999. */
  beta2?: number;
  /** Adam/AdamW: added to √v. Default 1e-8. */
  eps?: number;
  /** L2 penalty added to the gradient (SGD, Adam) or decoupled decay (AdamW). Default 0; AdamW 1e-2. */
  weightDecay?: number;
  /** clip_grad_norm_(max_norm = clipNorm), over the trained ranges. */
  clipNorm?: number;
  /** clip_grad_value_(clip_value = clipValue), applied before clipNorm. */
  clipValue?: number;
  /** Element ranges [offset, length] to train; default [[0, n]]. Must not overlap. */
  ranges?: readonly ElementRange[];
  /** Compute the gradient norm every step (for gradNorm()) even without clipNorm. */
  trackGradNorm?: boolean;
}

/** What readState() returns and loadState() takes: the step count and the moment buffers. */
export interface OptimizerState {
  /** Steps taken: the `t` of Adam's bias corrections. */
  step: number;
  /** SGD with momentum: { momentum }; Adam/AdamW: { m, v }; plain SGD: {}. Each [n]. */
  buffers: Record<string, Float32Array>;
  /** The learning rate of the last step ({@link Optimizer.lr}); loadState restores it when given. */
  lr?: number;
}

type Resolved = Required<Omit<OptimizerOptions, 'clipNorm' | 'clipValue' | 'ranges'>> & { clipNorm?: number; clipValue?: number };

/** @internal Checks options (ShapeError naming the bad one) and fills PyTorch's defaults. */
export function resolve(o: OptimizerOptions): Resolved {
  if (!o || typeof o !== 'object') throw new ShapeError("Optimizer: options { kind, lr, ... } are required");
  const kind = o.kind;
  if (kind !== 'sgd' && kind !== 'adam' && kind !== 'adamw') throw new ShapeError(`Optimizer: kind must be 'sgd', 'adam' or 'adamw', got ${String(kind)}`);
  const num = (name: string, v: number | undefined, ok: (x: number) => boolean, want: string) => {
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || !ok(v))) throw new ShapeError(`Optimizer: ${name} must be ${want}, got ${v}`);
  };
  num('lr', o.lr, (x) => x >= 0, 'a finite number ≥ 0');
  if (o.lr === undefined) throw new ShapeError('Optimizer: lr is required');
  const sgdOnly = ['momentum', 'dampening', 'nesterov'] as const;
  const adamOnly = ['beta1', 'beta2', 'eps'] as const;
  for (const k of kind === 'sgd' ? adamOnly : sgdOnly) {
    if (o[k] !== undefined) throw new ShapeError(`Optimizer: '${k}' does not apply to kind '${kind}'`);
  }
  num('momentum', o.momentum, (x) => x >= 0, '≥ 0');
  num('dampening', o.dampening, () => true, 'finite');
  num('weightDecay', o.weightDecay, (x) => x >= 0, '≥ 0');
  num('beta1', o.beta1, (x) => x >= 0 && x < 1, 'in [0, 1)');
  num('beta2', o.beta2, (x) => x >= 0 && x < 1, 'in [0, 1)');
  num('eps', o.eps, (x) => x >= 0, '≥ 0');
  num('clipNorm', o.clipNorm, (x) => x > 0, '> 0');
  num('clipValue', o.clipValue, (x) => x >= 0, '≥ 0');
  const r: Resolved = {
    kind,
    lr: o.lr,
    momentum: o.momentum ?? 0,
    dampening: o.dampening ?? 0,
    nesterov: !!o.nesterov,
    beta1: o.beta1 ?? 0.9,
    beta2: o.beta2 ?? 0.999,
    eps: o.eps ?? 1e-8,
    weightDecay: o.weightDecay ?? (kind === 'adamw' ? 1e-2 : 0),
    clipNorm: o.clipNorm,
    clipValue: o.clipValue,
    trackGradNorm: !!o.trackGradNorm,
  };
  if (r.nesterov && (r.momentum <= 0 || r.dampening !== 0)) throw new ShapeError('Optimizer: nesterov needs momentum > 0 and dampening = 0 (as torch.optim.SGD)');
  return r;
}

function checkRanges(ranges: readonly ElementRange[], n: number): ElementRange[] {
  if (!Array.isArray(ranges) || ranges.length === 0) throw new ShapeError('Optimizer: ranges must be a non-empty list of [offset, length]');
  const sorted = ranges.map((r, i) => {
    const [off, len] = r ?? [];
    if (!Number.isInteger(off) || off < 0 || !Number.isInteger(len) || len <= 0 || off + len > n) {
      throw new ShapeError(`Optimizer: ranges[${i}] = [${off}, ${len}] must be [offset ≥ 0, length ≥ 1] within the ${n} parameters`);
    }
    return [off, len] as const;
  });
  const byStart = [...sorted].sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < byStart.length; i++) {
    const [po, pl] = byStart[i - 1];
    if (byStart[i][0] < po + pl) throw new ShapeError(`Optimizer: ranges [${po}, ${pl}] and [${byStart[i][0]}, ${byStart[i][1]}] overlap`);
  }
  return sorted;
}

/**
 * One optimizer over a flat parameter buffer. Create once per (params, grads); put
 * {@link Optimizer.dispatches} at the end of the recorded training step; call
 * {@link Optimizer.beforeStep} before each submit.
 */
export class Optimizer {
  /** The options with PyTorch's defaults filled in. */
  readonly options: Readonly<Resolved>;
  /** The [offset, length] element ranges it trains. */
  readonly ranges: readonly ElementRange[];
  private _step = 0;
  private _lr: number;
  private readonly list: Dispatch[] = [];
  private readonly owned: GPUBuffer[] = [];
  private readonly moments: Array<{ name: string; buffer: GPUBuffer }> = [];
  private readonly normSq: GPUBuffer;
  private readonly hyper: GPUBuffer;
  private readonly hyperData: ArrayBuffer;
  private readonly normed: boolean;
  private destroyed = false;

  /**
   * Allocates the moment buffers (zeros) and prepares every dispatch of a step.
   * @param gpu - The device.
   * @param options - Algorithm and hyperparameters.
   * @param params - The flat parameter buffer [n] f32, updated in place.
   * @param grads - The flat gradient buffer [n] f32 (read only; a different buffer).
   * @param n - Number of parameters.
   * @throws ShapeError naming the option when one is missing, out of range or does not apply to
   *   `kind`, when `n` is not a positive integer, a buffer is too small, `params` is `grads`, or
   *   `ranges` overlap or leave [0, n).
   * @example
   * ```ts
   * const opt = new Optimizer(gpu, { kind: 'adamw', lr: 1e-3, clipNorm: 1 }, params, grads, n);
   * opt.beforeStep();                                    // counts the step, writes lr
   * gpu.run([...backwardDispatches, ...opt.dispatches()]); // or recorded in a training step
   * console.log(await opt.gradNorm());
   * ```
   */
  constructor(
    private readonly gpu: Gpu,
    options: OptimizerOptions,
    readonly params: GPUBuffer,
    readonly grads: GPUBuffer,
    readonly n: number,
    /**
     * @internal `guard`: the update kernel skips its writes when normSq[1] != 0 — set by the
     * NaN/Inf guard dispatch (src/optim/nanGuard.ts) placed between {@link normDispatchCount}
     * norm dispatches and the update. Implies the norm is computed every step.
     */
    { guard = false }: { guard?: boolean } = {},
  ) {
    const o = resolve(options);
    this.options = o;
    this._lr = o.lr;
    if (!Number.isInteger(n) || n <= 0) throw new ShapeError(`Optimizer: n must be a positive integer, got ${n}`);
    for (const [name, b] of [['params', params], ['grads', grads]] as const) {
      if (!b || b.size < n * 4) throw new ShapeError(`Optimizer: buffer '${name}' holds ${(b?.size ?? 0) / 4} elements, needs n = ${n}`);
    }
    if (params === grads) throw new ShapeError("Optimizer: 'params' and 'grads' must be different buffers");
    this.ranges = checkRanges(options.ranges ?? [[0, n]], n);

    const own = (bytes: number, usage: number, label: string) => {
      const b = gpu.pool.acquire(bytes, usage, label);
      this.owned.push(b);
      return b;
    };
    const adam = o.kind !== 'sgd';
    const moment = (name: string) => {
      const b = own(n * 4, TENSOR_USAGE, `optimizer.${name}`);
      this.moments.push({ name, buffer: b });
      return b;
    };
    const moment1 = adam ? moment('m') : o.momentum !== 0 ? moment('momentum') : own(16, TENSOR_USAGE, 'optimizer.spare1');
    const moment2 = adam ? moment('v') : own(16, TENSOR_USAGE, 'optimizer.spare2');
    this.normSq = own(16, TENSOR_USAGE, 'optimizer.normSq');
    const encoder = gpu.device.createCommandEncoder({ label: 'optimizer.init' });
    for (const b of [moment1, moment2, this.normSq]) encoder.clearBuffer(b);
    gpu.submit(encoder, 0);

    const source = gpu.kernel('optimizer.wgsl').source;
    this.hyperData = new ArrayBuffer(source.uniforms.get('hyper')!.size);
    this.hyper = own(this.hyperData.byteLength, UNIFORM_USAGE, 'optimizer.hyper');
    this.writeHyper();

    this.normed = o.clipNorm !== undefined || o.trackGradNorm || guard;
    if (this.normed) {
      for (const d of reduceSumDispatches(gpu, {
        x: grads, ranges: this.ranges, out: { buffer: this.normSq }, square: true, clampValue: o.clipValue, label: 'optimizer.gradNormSq',
      })) {
        this.owned.push(...(d.transient ?? []));
        this.list.push({ ...d, transient: undefined });
      }
    }
    const pipeline = gpu.pipeline('optimizer.wgsl', {
      WG,
      KIND: adam ? 1 : 0,
      MOMENTUM: !adam && o.momentum !== 0,
      NESTEROV: o.nesterov,
      DECOUPLED: o.kind === 'adamw',
      CLIP_NORM: o.clipNorm !== undefined,
      CLIP_VALUE: o.clipValue !== undefined,
      GUARD: guard,
    });
    this.ranges.forEach(([offset, count], i) => {
      const { gridX, workgroups } = grid2d(gpu, Math.ceil(count / WG), 'optimizer');
      const span = gpu.uniform('optimizer.wgsl', 'span', { offset, count, gridX });
      this.owned.push(span);
      this.list.push({
        label: this.ranges.length > 1 ? `optimizer.${o.kind}.range${i}` : `optimizer.${o.kind}`,
        pipeline,
        bindGroup: gpu.bindGroup('optimizer.wgsl', { theta: params, grad: grads, moment1, moment2, normSq: this.normSq, hyper: this.hyper, span }),
        workgroups,
      });
    });
  }

  /** @internal How many of {@link dispatches} (a prefix) compute the gradient norm; the update(s) follow. */
  get normDispatchCount(): number {
    return this.list.length - this.ranges.length;
  }

  /** @internal The buffer holding Σ g² ([0]) and the guard's skip flag ([1]). */
  get normSqBuffer(): GPUBuffer {
    return this.normSq;
  }

  /**
   * @internal Sets the step count back to `step` (≤ the current one), e.g. after the NaN/Inf
   * guard skipped the updates of the later steps; the next beforeStep continues from it.
   */
  rewindTo(step: number): void {
    this.assertLive();
    if (!Number.isInteger(step) || step < 0 || step > this._step) throw new ShapeError(`Optimizer.rewindTo: step must be an integer in [0, ${this._step}], got ${step}`);
    this._step = step;
    this.writeHyper();
  }

  /**
   * Checks `options` as the constructor does (and `ranges` against `n` elements) without
   * allocating anything, e.g. before replacing a working optimizer.
   * @param options - The options a constructor call would get.
   * @param n - Elements of the parameter buffer (for `ranges`).
   * @throws ShapeError naming the option.
   */
  static checkOptions(options: OptimizerOptions, n: number): void {
    resolve(options);
    if (options.ranges !== undefined) checkRanges(options.ranges, n);
  }

  /** Steps taken (beforeStep calls, plus the step of a loaded state). */
  get step(): number {
    return this._step;
  }

  /** The learning rate of the last beforeStep (initially options.lr). */
  get lr(): number {
    return this._lr;
  }

  /** The prepared dispatches of one step (the same array every call): norm reduction, then the update(s). */
  dispatches(): readonly Dispatch[] {
    this.assertLive();
    return this.list;
  }

  /**
   * Counts a step and writes its uniform (t, lr and the bias corrections). Call before each submit.
   * @param lr - This step's learning rate (a schedule's value); `options.lr` by default.
   * @throws ShapeError when `lr` is not a finite number ≥ 0.
   */
  beforeStep(lr: number = this.options.lr): void {
    this.assertLive();
    if (typeof lr !== 'number' || !Number.isFinite(lr) || lr < 0) throw new ShapeError(`Optimizer.beforeStep: lr must be a finite number ≥ 0, got ${lr}`);
    this._lr = lr;
    this._step++;
    this.writeHyper();
  }

  private writeHyper(): void {
    const o = this.options;
    const t = Math.max(this._step, 1);
    const lr = this._lr;
    const bc1 = 1 - o.beta1 ** t;
    const bc2 = 1 - o.beta2 ** t;
    this.gpu.kernel('optimizer.wgsl').source.packUniform('hyper', {
      lr,
      momentum: o.momentum,
      dampening1: 1 - o.dampening,
      weightDecay: o.weightDecay,
      beta1: o.beta1,
      oneMinusBeta1: 1 - o.beta1,
      beta2: o.beta2,
      oneMinusBeta2: 1 - o.beta2,
      eps: o.eps,
      stepSize: lr / bc1,
      bc2Sqrt: Math.sqrt(bc2),
      decay: 1 - lr * o.weightDecay,
      maxNorm: o.clipNorm ?? 0,
      clipValue: o.clipValue ?? 0,
      first: this._step <= 1 ? 1 : 0,
    }, this.hyperData);
    this.gpu.device.queue.writeBuffer(this.hyper, 0, this.hyperData);
  }

  /** ‖g‖₂ over the trained ranges (after value clipping, before norm clipping) of the last step run. Reads back. */
  async gradNorm(): Promise<number> {
    this.assertLive();
    if (!this.normed) throw new ShapeError('Optimizer.gradNorm: the norm is only computed with clipNorm or trackGradNorm: true');
    return Math.sqrt(new Float32Array(await this.gpu.readBuffer(this.normSq, 0, 4))[0]);
  }

  /** Alias of {@link Optimizer.gradNorm}. */
  lastGradNorm(): Promise<number> {
    return this.gradNorm();
  }

  /** The step count and the moment buffers, read back (for checkpoints). */
  async readState(): Promise<OptimizerState> {
    this.assertLive();
    const buffers: Record<string, Float32Array> = {};
    for (const { name, buffer } of this.moments) buffers[name] = new Float32Array(await this.gpu.readBuffer(buffer, 0, this.n * 4));
    return { step: this._step, buffers, lr: this._lr };
  }

  /**
   * Restores a state from readState() (same kind and n); the next beforeStep continues from its step.
   * @param state - From {@link Optimizer.readState} of an optimizer of the same kind and size.
   * @throws ShapeError when the buffers are not those of this kind, one is not a Float32Array of n
   *   elements, or the step or lr is invalid.
   */
  loadState(state: OptimizerState): void {
    this.assertLive();
    if (!state || !Number.isInteger(state.step) || state.step < 0) throw new ShapeError(`Optimizer.loadState: step must be a non-negative integer, got ${state?.step}`);
    if (state.lr !== undefined && !(typeof state.lr === 'number' && Number.isFinite(state.lr) && state.lr >= 0)) throw new ShapeError(`Optimizer.loadState: lr must be a finite number ≥ 0, got ${state.lr}`);
    const want = this.moments.map((m) => m.name).sort();
    const got = Object.keys(state.buffers ?? {}).sort();
    if (want.join() !== got.join()) throw new ShapeError(`Optimizer.loadState: buffers {${got.join(', ')}} given, expected {${want.join(', ')}} for kind '${this.options.kind}'`);
    // Every buffer is checked before any is written: a bad state leaves the optimizer as it was.
    for (const { name } of this.moments) {
      const data = state.buffers[name];
      if (!(data instanceof Float32Array) || data.length !== this.n) throw new ShapeError(`Optimizer.loadState: buffer '${name}' must be a Float32Array of ${this.n} elements, got ${data?.length}`);
      for (let i = 0; i < data.length; i++) {
        if (!Number.isFinite(data[i]) || (name === 'v' && data[i] < 0)) throw new ShapeError(`Optimizer.loadState: buffer '${name}' holds ${data[i]} at index ${i}: optimizer state must be finite${name === 'v' ? ' (and ≥ 0: a mean of squared gradients)' : ''}`);
      }
    }
    for (const { name, buffer } of this.moments) {
      const data = state.buffers[name];
      this.gpu.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    }
    this._step = state.step;
    if (state.lr !== undefined) this._lr = state.lr;
    this.writeHyper();
  }

  private assertLive(): void {
    if (this.destroyed) throw new ShapeError('Optimizer: this optimizer was destroyed');
  }

  /** Releases every buffer it owns (moments, norm, uniforms, scratch) to the pool. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const b of this.owned.splice(0)) this.gpu.pool.release(b);
  }
}
