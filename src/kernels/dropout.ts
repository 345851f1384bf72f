// Host side of shaders/dropout.wgsl: inverted dropout, y = x · mask / (1 − p), with the mask
// regenerated from a stateless hash of (seed, counter, salt, element) — never stored.
//
// A Dropout owns one `state` uniform {seed, counter, threshold, scale} (written by the
// constructor and by setStep, once per training step) and one small `shape` uniform per prepared
// dispatch. Forward and backward are the same kernel: forward(x → y) and backward(dY → dX) with
// the same n and salt regenerate the same mask, provided setStep was not called in between.
// Each call to dispatch() is one dispatch.
import type { Gpu } from '../gpu/device.js';
import type { Dispatch } from '../gpu/dispatch.js';
import { DestroyedError, ArgumentError, ShapeError } from '../util/errors.js';
import { UNIFORM_USAGE } from '../gpu/flags.js';
import { Tensor, expectRank } from '../gpu/tensor.js';
import { grid2d } from './grid.js';
import { defineShader } from '../gpu/kernel.js';
import dropoutWgsl from '../../shaders/dropout.wgsl?raw';
import counterHashWgsl from '../../shaders/counter_hash.wgsl?raw';

const DROPOUT_SHADER = /*#__PURE__*/ defineShader('dropout.wgsl', dropoutWgsl, {
  'counter_hash.wgsl': counterHashWgsl,
});

type View = { buffer: GPUBuffer; offset?: number };

const WG = 256;
const U32_MAX = 0xffffffff;

/** Options of a {@link Dropout} layer. */
export interface DropoutOptions {
  /** Probability of zeroing an element, in [0, 1]. p = 0 is the identity. */
  p: number;
  /** u32 seed of the mask stream. Default: 0x5eed + the number of Dropouts created before (distinct per layer). */
  seed?: number;
}

/** Arguments of {@link Dropout.dispatch}, in elements. */
export interface DropoutArgs {
  /** Number of elements. */
  n: number;
  /** Input: x (forward) or dY (backward). */
  x: View;
  /** Output: y (forward) or dX (backward). */
  y: View;
  /** u32 mixed into the hash so that several tensors under one Dropout get independent masks. Default 0. */
  salt?: number;
  /** Names the dispatch in errors and profiles. Default `'dropout'`. */
  label?: string;
}

let created = 0;

/**
 * The keep mask bit of element i, as the shader computes it (for tests and CPU fallbacks).
 * @param seed - The Dropout's seed (u32).
 * @param counter - The step counter the mask was drawn with ({@link Dropout.setStep}).
 * @param salt - The dispatch's salt.
 * @param i - Element index.
 * @param p - Drop probability.
 * @returns True when element i is kept (then scaled by 1/(1 − p)).
 */
export function dropoutKeep(seed: number, counter: number, salt: number, i: number, p: number): boolean {
  const pcg = (v: number): number => {
    const s = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
    const w = Math.imul(((s >>> ((s >>> 28) + 4)) ^ s) >>> 0, 277803737) >>> 0;
    return ((w >>> 22) ^ w) >>> 0;
  };
  let x = (Math.imul(i >>> 0, 1664525) + 1013904223) >>> 0;
  let y = (Math.imul(counter >>> 0, 1664525) + 1013904223) >>> 0;
  let z = (Math.imul((pcg(seed) + salt) >>> 0, 1664525) + 1013904223) >>> 0;
  x = (x + Math.imul(y, z)) >>> 0;
  y = (y + Math.imul(z, x)) >>> 0;
  z = (z + Math.imul(x, y)) >>> 0;
  x = (x ^ (x >>> 16)) >>> 0;
  y = (y ^ (y >>> 16)) >>> 0;
  z = (z ^ (z >>> 16)) >>> 0;
  x = (x + Math.imul(y, z)) >>> 0;
  return x >>> 8 >= dropoutThreshold(p);
}

/**
 * round(p · 2²⁴): elements whose 24-bit hash is below it are dropped.
 * @param p - Drop probability in [0, 1].
 */
export function dropoutThreshold(p: number): number {
  return Math.round(p * 2 ** 24);
}

function checkU32(what: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > U32_MAX)
    throw new ArgumentError(`${what} must be an integer in [0, 2³²), got ${v}`);
}

/** One dropout layer: a seed, a probability and the per-step counter. */
export class Dropout {
  /** Drop probability in [0, 1]. */
  readonly p: number;
  /** u32 seed of the mask stream. */
  readonly seed: number;
  private _counter = 0;
  private training = true;
  private state: GPUBuffer;
  private readonly owned: GPUBuffer[] = [];
  private destroyed = false;

  /**
   * A dropout layer in training mode, its counter at 0.
   * @param gpu - The device; the Dropout takes its uniforms from its pool.
   * @param opts - Probability and seed.
   * @throws ShapeError when `p` is not in [0, 1] or the seed is not a u32.
   */
  constructor(
    private readonly gpu: Gpu,
    opts: DropoutOptions,
  ) {
    const p = opts?.p;
    if (typeof p !== 'number' || !(p >= 0 && p <= 1))
      throw new ArgumentError(`Dropout: p must be a probability in [0, 1], got ${p}`);
    this.p = p;
    this.seed = opts.seed ?? (0x5eed + created) >>> 0;
    checkU32('Dropout: seed', this.seed);
    created++;
    const size = gpu.kernel(DROPOUT_SHADER).source.uniforms.get('state')!.size;
    this.state = gpu.pool.acquire(size, UNIFORM_USAGE, 'dropout.state');
    this.owned.push(this.state);
    this.write();
  }

  /** The counter the masks are drawn with now. */
  get counter(): number {
    return this._counter;
  }

  /**
   * Selects the mask stream for the next submitted work (call once per training step; a u32).
   * @param counter - u32; the same counter regenerates the same masks.
   * @throws ShapeError when `counter` is not a u32 or the Dropout was destroyed.
   */
  setStep(counter: number): void {
    this.assertLive();
    checkU32('Dropout.setStep: counter', counter);
    this._counter = counter;
    this.write();
  }

  /**
   * Training mode (the default) drops with probability p; evaluation mode makes every prepared
   * dispatch the identity (PyTorch's `model.eval()`), without re-recording anything.
   * @param training - True: drop with probability p; false: the identity.
   */
  setTraining(training: boolean): void {
    this.assertLive();
    this.training = training;
    this.write();
  }

  private write(): void {
    const p = this.training ? this.p : 0;
    const data = this.gpu.kernel(DROPOUT_SHADER).source.packUniform('state', {
      seed: this.seed,
      counter: this._counter,
      threshold: dropoutThreshold(p),
      scale: p >= 1 ? 0 : 1 / (1 - p),
    });
    this.gpu.device.queue.writeBuffer(this.state, 0, data);
  }

  private assertLive(): void {
    if (this.destroyed) throw new DestroyedError('Dropout: this Dropout was destroyed');
  }

  /**
   * Prepares y = x ⊙ mask / (1 − p) over n elements. Use it for the forward (x → y) and, with
   * the same n and salt, for the backward (dY → dX). The Dropout owns the dispatch's uniform.
   * @param args - Element count, input and output views (not the same buffer), salt and label.
   * @throws ShapeError when `n` is not a positive integer, a view is too small, `y` aliases `x`,
   *   the salt is not a u32, or the Dropout was destroyed.
   */
  dispatch(args: DropoutArgs): Dispatch {
    this.assertLive();
    const label = args.label ?? 'dropout';
    const { n } = args;
    if (!Number.isInteger(n) || n <= 0) throw new ShapeError(`${label}: n must be a positive integer, got ${n}`);
    for (const [name, v] of [
      ['x', args.x],
      ['y', args.y],
    ] as const) {
      const off = v?.offset ?? 0;
      if (!v?.buffer || !Number.isInteger(off) || off < 0 || (off + n) * 4 > v.buffer.size) {
        throw new ShapeError(
          `${label}: buffer '${name}' needs ${n} elements from offset ${off}; it holds ${(v?.buffer?.size ?? 0) / 4}`,
        );
      }
    }
    if (args.x.buffer === args.y.buffer) throw new ArgumentError(`${label}: 'y' must not share a buffer with 'x'`);
    const salt = args.salt ?? 0;
    checkU32(`${label}: salt`, salt);
    const { gridX, workgroups } = grid2d(this.gpu, Math.ceil(n / WG), label);
    const shape = this.gpu.uniform(DROPOUT_SHADER, 'shape', {
      n,
      offsetX: args.x.offset ?? 0,
      offsetY: args.y.offset ?? 0,
      gridX,
      salt,
    });
    this.owned.push(shape);
    return {
      label,
      pipeline: this.gpu.pipeline(DROPOUT_SHADER, { WG }),
      bindGroup: this.gpu.bindGroup(DROPOUT_SHADER, { x: args.x.buffer, y: args.y.buffer, shape, state: this.state }),
      workgroups,
    };
  }

  /**
   * Forward (alias of {@link Dropout.dispatch}): y = dropout(x).
   * @param args - As {@link Dropout.dispatch}; x is the input, y the output.
   */
  forwardDispatch(args: DropoutArgs): Dispatch {
    return this.dispatch({ label: 'dropout.forward', ...args });
  }

  /**
   * Backward (alias of {@link Dropout.dispatch}): dX = dY ⊙ mask / (1 − p); pass x = dY, y = dX.
   * @param args - As {@link Dropout.dispatch}, with the forward's `n` and `salt`.
   */
  backwardDispatch(args: DropoutArgs): Dispatch {
    return this.dispatch({ label: 'dropout.backward', ...args });
  }

  /**
   * Runs dropout on a tensor now and returns the result (a new tensor).
   * @param x - Any shape of rank 1 to 6.
   * @param salt - u32 salt of the mask.
   * @returns A new tensor of `x`'s shape.
   */
  apply(x: Tensor, salt = 0): Tensor {
    expectRank('dropout', 'x', x, [1, 2, 3, 4, 5, 6], this.gpu);
    const y = Tensor.empty(this.gpu, x.shape, 'dropout.out');
    const d = this.dispatch({ n: x.size, x: { buffer: x.buffer }, y: { buffer: y.buffer }, salt });
    const shape = this.owned.pop()!; // an eager call's uniform goes back to the pool after the submit
    this.gpu.run([{ ...d, transient: [shape] }]);
    return y;
  }

  /**
   * @internal After a device loss (`gpu.recover()`): forgets the uniforms of the old device and
   * its prepared dispatches (rebuild them), and writes the state uniform again on the new one,
   * keeping p, the seed, the counter and the mode.
   */
  rebuild(): void {
    this.assertLive();
    for (const b of this.owned.splice(0)) this.gpu.pool.release(b);
    this.state = this.gpu.pool.acquire(
      this.gpu.kernel(DROPOUT_SHADER).source.uniforms.get('state')!.size,
      UNIFORM_USAGE,
      'dropout.state',
    );
    this.owned.push(this.state);
    this.write();
  }

  /** Releases the uniforms (state and every prepared dispatch's) to the pool. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const b of this.owned.splice(0)) this.gpu.pool.release(b);
  }
}
