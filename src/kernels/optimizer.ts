// Host side of shaders/optimizer.wgsl: torch.optim.SGD / Adam / AdamW over ONE flat parameter
// buffer, with clip_grad_value_ and clip_grad_norm_ fused into the update.
//
// Prepared once, at construction (nothing is allocated per step):
//   dispatches() = [grad-norm reduction (reduce_sum.wgsl, Σ g² over the trained ranges; only with
//                   clipNorm, trackGradNorm or the guard): 1 dispatch for one range of ≤ 8192
//                   elements, else one per range + 1]
//                + [guard only: one optimizer.wgsl CHECK dispatch per trained range — the update
//                   computed without writing; raises updateFlag when a new value is NaN/±Inf]
//                + [one optimizer.wgsl dispatch per trained range]
//   (the NaN/Inf guard's own dispatch goes between the check and the update: guardIndex)
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
// `momentum`; Adam/AdamW: `m`, `v`), zero-initialised; normSq (4 f32: [0] Σ g² of the last step,
// [1] the guard's skip flag); updateFlag (4 u32: [0] raised by the guard's check pass).
//
// Options are checked by one declarative table (OPTION_RULES): unknown keys (with the nearest
// valid key), wrong types, values that cannot give finite updates (eps ≤ 0, lr outside [0, 1e6],
// betas outside [0, 1), …) and options that do not apply to the kind are ArgumentErrors naming
// the entry point, the option, the value and what is allowed.
import type { Gpu } from '../gpu/device.js';
import type { Dispatch } from '../gpu/dispatch.js';
import { ArgumentError, DestroyedError, ShapeError } from '../util/errors.js';
import { TENSOR_USAGE, UNIFORM_USAGE } from '../gpu/flags.js';
import { grid2d } from './grid.js';
import { reduceSumDispatches, type ElementRange } from './reduceSum.js';
import { defineShader } from '../gpu/kernel.js';
import optimizerWgsl from '../../shaders/optimizer.wgsl?raw';
import { nearestName, show } from '../util/options.js';

const OPTIMIZER_SHADER = /*#__PURE__*/ defineShader('optimizer.wgsl', optimizerWgsl);

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

type Resolved = Required<Omit<OptimizerOptions, 'clipNorm' | 'clipValue' | 'ranges'>> & {
  clipNorm?: number;
  clipValue?: number;
};

/** The largest learning rate accepted (larger ones are typos or overflow f32 updates). */
export const MAX_LR = 1e6;

const KINDS: readonly OptimizerKind[] = ['sgd', 'adam', 'adamw'];

/** What one option may hold: its type, the kinds it applies to, and the allowed values. */
interface OptionRule {
  type: 'number' | 'boolean' | 'kind' | 'ranges';
  /** The kinds it applies to (default: all). */
  kinds?: readonly OptimizerKind[];
  /** For numbers: the allowed (finite) values. */
  ok?: (x: number) => boolean;
  /** What is allowed, for messages ("a finite number > 0"). */
  want: string;
}

const SGD_ONLY: readonly OptimizerKind[] = ['sgd'];
const ADAM_ONLY: readonly OptimizerKind[] = ['adam', 'adamw'];

/** Every key of OptimizerOptions and what it may hold: the one place options are checked. */
const OPTION_RULES: Record<keyof OptimizerOptions, OptionRule> = {
  kind: { type: 'kind', want: "'sgd', 'adam' or 'adamw'" },
  lr: {
    type: 'number',
    ok: (x) => x >= 0 && x <= MAX_LR,
    want: `a finite number in [0, ${MAX_LR.toExponential().replace('+', '')}]`,
  },
  momentum: { type: 'number', kinds: SGD_ONLY, ok: (x) => x >= 0, want: 'a finite number ≥ 0' },
  dampening: { type: 'number', kinds: SGD_ONLY, ok: (x) => x >= 0, want: 'a finite number ≥ 0' },
  nesterov: { type: 'boolean', kinds: SGD_ONLY, want: 'true or false' },
  beta1: { type: 'number', kinds: ADAM_ONLY, ok: (x) => x >= 0 && x < 1, want: 'in [0, 1)' },
  beta2: { type: 'number', kinds: ADAM_ONLY, ok: (x) => x >= 0 && x < 1, want: 'in [0, 1)' },
  eps: { type: 'number', kinds: ADAM_ONLY, ok: (x) => x > 0, want: 'a finite number > 0' },
  weightDecay: { type: 'number', ok: (x) => x >= 0, want: 'a finite number ≥ 0' },
  clipNorm: { type: 'number', ok: (x) => x > 0, want: 'a finite number > 0' },
  clipValue: { type: 'number', ok: (x) => x > 0, want: 'a finite number > 0' },
  ranges: { type: 'ranges', want: 'a list of [offset, length]' },
  trackGradNorm: { type: 'boolean', want: 'true or false' },
};

/**
 * @internal Checks a learning rate (a finite number in [0, {@link MAX_LR}]).
 * @param where - The entry point for the message.
 * @param lr - The value.
 * @param context - Appended to the message (e.g. which step, where the value came from).
 * @throws ArgumentError naming `where`, the value and the allowed range.
 */
export function checkLr(where: string, lr: unknown, context = ''): asserts lr is number {
  if (typeof lr !== 'number') throw new ArgumentError(`${where}: lr must be a number, got ${show(lr)}${context}`);
  const rule = OPTION_RULES.lr;
  if (!Number.isFinite(lr) || !rule.ok!(lr))
    throw new ArgumentError(`${where}: lr must be ${rule.want}, got ${lr}${context}`);
}

/**
 * @internal Checks options against {@link OPTION_RULES} (ArgumentError naming the entry point, the
 * option, the value and what is allowed) and fills PyTorch's defaults. `ranges` is only checked to
 * be an array here (against n in the constructor / checkOptions).
 * @param o - The options.
 * @param where - The entry point named in messages. Default `'Optimizer'`.
 */
export function resolve(o: OptimizerOptions, where = 'Optimizer'): Resolved {
  if (!o || typeof o !== 'object' || Array.isArray(o))
    throw new ArgumentError(`${where}: options { kind, lr, ... } are required, got ${show(o)}`);
  const keys = Object.keys(OPTION_RULES);
  for (const key of Object.keys(o)) {
    if (Object.hasOwn(OPTION_RULES, key)) continue;
    const near = nearestName(key, keys);
    throw new ArgumentError(
      `${where}: unknown option '${key}'${near ? ` (did you mean '${near}'?)` : ''}; ` +
        `the options are ${keys.join(', ')}`,
    );
  }
  const kind = o.kind;
  if (!KINDS.includes(kind))
    throw new ArgumentError(
      `${where}: kind must be ${OPTION_RULES.kind.want}, got ${typeof kind === 'string' ? kind : show(kind)}`,
    );
  if (o.lr === undefined) throw new ArgumentError(`${where}: lr is required (${OPTION_RULES.lr.want})`);
  for (const [key, rule] of Object.entries(OPTION_RULES) as Array<[keyof OptimizerOptions, OptionRule]>) {
    const v: unknown = o[key];
    if (v === undefined || rule.type === 'kind') continue;
    if (rule.kinds && !rule.kinds.includes(kind))
      throw new ArgumentError(
        `${where}: '${key}' does not apply to kind '${kind}' (only to ${rule.kinds.map((k) => `'${k}'`).join(', ')})`,
      );
    if (rule.type === 'boolean' && typeof v !== 'boolean')
      throw new ArgumentError(`${where}: ${key} must be a boolean (${rule.want}), got ${show(v)}`);
    if (rule.type === 'ranges' && !Array.isArray(v))
      throw new ArgumentError(`${where}: ranges must be ${rule.want}, got ${show(v)}`);
    if (rule.type === 'number') {
      if (typeof v !== 'number')
        throw new ArgumentError(`${where}: ${key} must be a number (${rule.want}), got ${show(v)}`);
      if (!Number.isFinite(v) || !rule.ok!(v))
        throw new ArgumentError(`${where}: ${key} must be ${rule.want}, got ${v}`);
    }
  }
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
  if (r.nesterov && (r.momentum <= 0 || r.dampening !== 0))
    throw new ArgumentError(
      `${where}: nesterov needs momentum > 0 and dampening = 0 (as torch.optim.SGD), ` +
        `got momentum ${r.momentum}, dampening ${r.dampening}`,
    );
  return r;
}

function checkRanges(ranges: readonly ElementRange[], n: number, where: string): ElementRange[] {
  if (!Array.isArray(ranges) || ranges.length === 0)
    throw new ShapeError(`${where}: ranges must be a non-empty list of [offset, length]`);
  const sorted = ranges.map((r, i) => {
    const [off, len] = r ?? [];
    if (!Number.isInteger(off) || off < 0 || !Number.isInteger(len) || len <= 0 || off + len > n) {
      throw new ShapeError(
        `${where}: ranges[${i}] = [${off}, ${len}] must be [offset ≥ 0, length ≥ 1] within the ${n} parameters`,
      );
    }
    return [off, len] as const;
  });
  const byStart = [...sorted].sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < byStart.length; i++) {
    const [po, pl] = byStart[i - 1];
    if (byStart[i][0] < po + pl)
      throw new ShapeError(`${where}: ranges [${po}, ${pl}] and [${byStart[i][0]}, ${byStart[i][1]}] overlap`);
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
  private readonly updateFlag: GPUBuffer;
  private readonly hyper: GPUBuffer;
  private readonly hyperData: ArrayBuffer;
  private readonly normed: boolean;
  private readonly normCount: number;
  private readonly checkCount: number;
  private destroyed = false;

  /**
   * Allocates the moment buffers (zeros) and prepares every dispatch of a step.
   * @param gpu - The device.
   * @param options - Algorithm and hyperparameters.
   * @param params - The flat parameter buffer [n] f32, updated in place.
   * @param grads - The flat gradient buffer [n] f32 (read only; a different buffer).
   * @param n - Number of parameters.
   * @throws ArgumentError naming the option when one is unknown (with the nearest valid key), has
   *   the wrong type, is missing, cannot give finite updates (e.g. eps ≤ 0, lr outside [0, 1e6],
   *   beta1 ≥ 1) or does not apply to `kind`; ShapeError when `n` is not a positive integer, a
   *   buffer is too small, `params` is `grads`, or `ranges` overlap or leave [0, n). Nothing is
   *   allocated when it throws.
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
     * @internal `guard`: adds the check pass (optimizer.wgsl with CHECK: the update computed
     * without writing; raises {@link updateFlagBuffer} when a new weight or moment is NaN/±Inf)
     * after the norm, and the update kernel skips its writes when normSq[1] != 0 — set by the
     * NaN/Inf guard dispatch (src/train/nanGuard.ts) placed at {@link guardIndex}. Implies the
     * norm is computed every step. `where`: the entry point named in errors (default 'Optimizer').
     */
    { guard = false, where = 'Optimizer' }: { guard?: boolean; where?: string } = {},
  ) {
    const o = resolve(options, where);
    this.options = o;
    this._lr = o.lr;
    if (!Number.isInteger(n) || n <= 0) throw new ShapeError(`${where}: n must be a positive integer, got ${n}`);
    for (const [name, b] of [
      ['params', params],
      ['grads', grads],
    ] as const) {
      if (!b || b.size < n * 4)
        throw new ShapeError(`${where}: buffer '${name}' holds ${(b?.size ?? 0) / 4} elements, needs n = ${n}`);
    }
    if (params === grads) throw new ShapeError(`${where}: 'params' and 'grads' must be different buffers`);
    this.ranges = checkRanges(options.ranges ?? [[0, n]], n, where);

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
    const moment1 = adam
      ? moment('m')
      : o.momentum !== 0
        ? moment('momentum')
        : own(16, TENSOR_USAGE, 'optimizer.spare1');
    const moment2 = adam ? moment('v') : own(16, TENSOR_USAGE, 'optimizer.spare2');
    this.normSq = own(16, TENSOR_USAGE, 'optimizer.normSq');
    this.updateFlag = own(16, TENSOR_USAGE, 'optimizer.updateFlag');
    const encoder = gpu.device.createCommandEncoder({ label: 'optimizer.init' });
    for (const b of [moment1, moment2, this.normSq, this.updateFlag]) encoder.clearBuffer(b);
    gpu.submit(encoder, 0);

    const source = gpu.kernel(OPTIMIZER_SHADER).source;
    this.hyperData = new ArrayBuffer(source.uniforms.get('hyper')!.size);
    this.hyper = own(this.hyperData.byteLength, UNIFORM_USAGE, 'optimizer.hyper');
    this.writeHyper();

    this.normed = o.clipNorm !== undefined || o.trackGradNorm || guard;
    if (this.normed) {
      for (const d of reduceSumDispatches(gpu, {
        x: grads,
        ranges: this.ranges,
        out: { buffer: this.normSq },
        square: true,
        clampValue: o.clipValue,
        label: 'optimizer.gradNormSq',
      })) {
        this.owned.push(...(d.transient ?? []));
        this.list.push({ ...d, transient: undefined });
      }
    }
    this.normCount = this.list.length;
    const constants = {
      WG,
      KIND: adam ? 1 : 0,
      MOMENTUM: !adam && o.momentum !== 0,
      NESTEROV: o.nesterov,
      DECOUPLED: o.kind === 'adamw',
      CLIP_NORM: o.clipNorm !== undefined,
      CLIP_VALUE: o.clipValue !== undefined,
      GUARD: guard,
    };
    const spans = this.ranges.map(([offset, count]) => {
      const { gridX, workgroups } = grid2d(gpu, Math.ceil(count / WG), 'optimizer');
      const span = gpu.uniform(OPTIMIZER_SHADER, 'span', { offset, count, gridX });
      this.owned.push(span);
      const bindGroup = gpu.bindGroup(OPTIMIZER_SHADER, {
        theta: params,
        grad: grads,
        moment1,
        moment2,
        normSq: this.normSq,
        hyper: this.hyper,
        span,
        updateFlag: this.updateFlag,
      });
      return { bindGroup, workgroups };
    });
    const passes: Array<[string, boolean]> = guard
      ? [
          ['check', true],
          ['', false],
        ]
      : [['', false]];
    for (const [name, check] of passes) {
      const pipeline = gpu.pipeline(OPTIMIZER_SHADER, { ...constants, CHECK: check });
      spans.forEach(({ bindGroup, workgroups }, i) => {
        const label = `optimizer.${o.kind}${name ? `.${name}` : ''}${this.ranges.length > 1 ? `.range${i}` : ''}`;
        this.list.push({ label, pipeline, bindGroup, workgroups });
      });
    }
    this.checkCount = guard ? this.ranges.length : 0;
  }

  /** @internal How many of {@link dispatches} (a prefix) compute the gradient norm. */
  get normDispatchCount(): number {
    return this.normCount;
  }

  /**
   * @internal Where the NaN/Inf guard's dispatch goes in {@link dispatches}: after the norm and
   * the check pass, before the update(s).
   */
  get guardIndex(): number {
    return this.normCount + this.checkCount;
  }

  /** @internal The buffer holding Σ g² ([0]) and the guard's skip flag ([1]). */
  get normSqBuffer(): GPUBuffer {
    return this.normSq;
  }

  /** @internal The check pass's flag ([0] ≠ 0: the update would be non-finite); the guard clears it. */
  get updateFlagBuffer(): GPUBuffer {
    return this.updateFlag;
  }

  /**
   * @internal Sets the step count back to `step` (≤ the current one), e.g. after the NaN/Inf
   * guard skipped the updates of the later steps; the next beforeStep continues from it.
   */
  rewindTo(step: number): void {
    this.assertLive('Optimizer.rewindTo');
    if (!Number.isInteger(step) || step < 0 || step > this._step)
      throw new ArgumentError(`Optimizer.rewindTo: step must be an integer in [0, ${this._step}], got ${step}`);
    this._step = step;
    this.writeHyper();
  }

  /**
   * Checks `options` as the constructor does (and `ranges` against `n` elements) without
   * allocating anything, e.g. before replacing a working optimizer.
   * @param options - The options a constructor call would get.
   * @param n - Elements of the parameter buffer (for `ranges`).
   * @param where - The entry point named in messages (e.g. `'SequenceModel.configureTraining'`).
   *   Default `'Optimizer'`.
   * @throws ArgumentError naming the option (see the constructor); ShapeError for bad `ranges`.
   */
  static checkOptions(options: OptimizerOptions, n: number, where = 'Optimizer'): void {
    resolve(options, where);
    if (options.ranges !== undefined) checkRanges(options.ranges, n, where);
  }

  /** Steps taken (beforeStep calls, plus the step of a loaded state). */
  get step(): number {
    return this._step;
  }

  /** The learning rate of the last beforeStep (initially options.lr). */
  get lr(): number {
    return this._lr;
  }

  /**
   * The prepared dispatches of one step (the same array every call): norm reduction, the guard's
   * check pass (with the guard), then the update(s).
   */
  dispatches(): readonly Dispatch[] {
    this.assertLive('Optimizer.dispatches');
    return this.list;
  }

  /**
   * Counts a step and writes its uniform (t, lr and the bias corrections). Call before each submit.
   * @param lr - This step's learning rate (a schedule's value); `options.lr` by default.
   * @param where - The entry point named in errors (e.g. `'SequenceModel.trainStep'`). Default
   *   `'Optimizer.beforeStep'`.
   * @throws ArgumentError naming the step when `lr` is not a finite number in [0, 1e6] (e.g. a
   *   schedule returned NaN); nothing changes.
   */
  beforeStep(lr: number = this.options.lr, where = 'Optimizer.beforeStep'): void {
    this.assertLive(where);
    const base = this.options.lr;
    checkLr(
      where,
      lr,
      ` for step ${this._step + 1}${lr !== base ? ` (options.lr is ${base}: check the learning-rate schedule)` : ''}`,
    );
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
    this.gpu.kernel(OPTIMIZER_SHADER).source.packUniform(
      'hyper',
      {
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
      },
      this.hyperData,
    );
    this.gpu.device.queue.writeBuffer(this.hyper, 0, this.hyperData);
  }

  /** ‖g‖₂ over the trained ranges (after value clipping, before norm clipping) of the last step run. Reads back. */
  async gradNorm(): Promise<number> {
    this.assertLive('Optimizer.gradNorm');
    if (!this.normed)
      throw new ArgumentError(
        'Optimizer.gradNorm: the norm is only computed with clipNorm or trackGradNorm: true (or the NaN/Inf guard)',
      );
    return Math.sqrt(new Float32Array(await this.gpu.readBuffer(this.normSq, 0, 4))[0]);
  }

  /** Alias of {@link Optimizer.gradNorm}. */
  lastGradNorm(): Promise<number> {
    return this.gradNorm();
  }

  /** The step count and the moment buffers, read back (for checkpoints). */
  async readState(): Promise<OptimizerState> {
    this.assertLive('Optimizer.readState');
    const buffers: Record<string, Float32Array> = {};
    for (const { name, buffer } of this.moments)
      buffers[name] = new Float32Array(await this.gpu.readBuffer(buffer, 0, this.n * 4));
    return { step: this._step, buffers, lr: this._lr };
  }

  /**
   * Restores a state from readState() (same kind and n); the next beforeStep continues from its step.
   * Everything is checked before anything is written: a bad state leaves the optimizer as it was.
   * @param state - From {@link Optimizer.readState} of an optimizer of the same kind and size.
   * @throws ArgumentError when the step or lr is invalid (lr: a finite number in [0, 1e6]), the
   *   buffers are not those of this kind, or a value is not finite (or negative in `v`);
   *   ShapeError when a buffer is not a Float32Array of n elements.
   */
  loadState(state: OptimizerState): void {
    const where = 'Optimizer.loadState';
    this.assertLive(where);
    if (!state || typeof state !== 'object')
      throw new ArgumentError(`${where}: expected { step, buffers, lr? }, got ${show(state)}`);
    if (!Number.isInteger(state.step) || state.step < 0)
      throw new ArgumentError(`${where}: step must be a non-negative integer, got ${show(state.step)}`);
    if (state.lr !== undefined) checkLr(where, state.lr);
    const want = this.moments.map((m) => m.name).sort();
    const got = Object.keys(state.buffers ?? {}).sort();
    if (want.join() !== got.join())
      throw new ArgumentError(
        `${where}: buffers {${got.join(', ')}} given, expected {${want.join(', ')}} for kind '${this.options.kind}'`,
      );
    for (const { name } of this.moments) {
      const data = state.buffers[name];
      if (!(data instanceof Float32Array) || data.length !== this.n)
        throw new ShapeError(
          `${where}: buffer '${name}' must be a Float32Array of ${this.n} elements, ` +
            `got ${data instanceof Float32Array ? data.length : show(data)}`,
        );
      for (let i = 0; i < data.length; i++) {
        if (!Number.isFinite(data[i]) || (name === 'v' && data[i] < 0))
          throw new ArgumentError(
            `${where}: buffer '${name}' holds ${data[i]} at index ${i}: optimizer state ` +
              `must be finite${name === 'v' ? ' (and ≥ 0: a mean of squared gradients)' : ''}`,
          );
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

  private assertLive(where: string): void {
    if (this.destroyed) throw new DestroyedError(`${where}: this optimizer was destroyed`);
  }

  /** Releases every buffer it owns (moments, norm, flags, uniforms, scratch) to the pool. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const b of this.owned.splice(0)) this.gpu.pool.release(b);
  }
}
