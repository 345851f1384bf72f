// RNN, LSTM and GRU layers with PyTorch's constructor options, forward() signature, state
// shapes and state_dict names, running on the fused cell-step kernels via RecurrentPlan.
import type { Gpu } from '../gpu/device.js';
import { ShapeError, fmtShape } from '../gpu/errors.js';
import { TENSOR_USAGE } from '../gpu/flags.js';
import { repackWhh, unpackWhh, defaultStepTile, type StepTile } from '../kernels/cellStep.js';
import { RecurrentPlan, type DirectionParams, type RunStats, type PlanOutputs } from '../plan/recurrentPlan.js';
import { readParameter, type NamedTensor, type StateDict } from '../io/stateDict.js';
import { Tensor, expectRank, expectShape } from '../tensor.js';
import { rng } from '../util/random.js';
import { gateCount, parameterShapes, type CellKind, type RecurrentConfig } from './recurrentConfig.js';

/** Constructor options, named as PyTorch's `nn.RNN/LSTM/GRU` arguments (camelCase). */
export interface RecurrentOptions {
  inputSize: number;
  hiddenSize: number;
  numLayers?: number;
  bias?: boolean;
  batchFirst?: boolean;
  bidirectional?: boolean;
  /** Seed of the initial weights, drawn like PyTorch's: U(−1/√hiddenSize, 1/√hiddenSize). */
  seed?: number;
  /** Thread layout of the cell-step kernels (default: 64 units × min(4, batch) rows per thread). */
  stepTile?: Partial<StepTile>;
}

/** Initial state: h0 (and c0 for LSTM), each [numLayers·numDirections, batch, hiddenSize]. */
export interface RecurrentState {
  h0?: Tensor;
  c0?: Tensor;
}

export type RecurrentOutputs = PlanOutputs;

const MAX_PLANS = 8;

function positiveInt(what: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new ShapeError(`${what} must be a positive integer, got ${String(v)}`);
  return v;
}

/** Shared implementation of {@link RNN}, {@link LSTM} and {@link GRU}. */
export class RecurrentLayer {
  readonly config: Readonly<RecurrentConfig>;
  /** Counts of the last forward (dispatches, submits): deterministic per (seqLen, batch). */
  lastRun: RunStats | null = null;
  private params: DirectionParams[] = [];
  private plans = new Map<string, RecurrentPlan>();
  private readonly tile: Partial<StepTile>;
  private destroyed = false;

  protected constructor(readonly gpu: Gpu, cell: CellKind, opts: RecurrentOptions, nonlinearity?: 'tanh' | 'relu') {
    const name = cell.toUpperCase();
    if (!opts || typeof opts !== 'object') throw new ShapeError(`${name}: options { inputSize, hiddenSize, ... } are required`);
    this.config = Object.freeze({
      cell,
      inputSize: positiveInt(`${name}: inputSize`, opts.inputSize),
      hiddenSize: positiveInt(`${name}: hiddenSize`, opts.hiddenSize),
      numLayers: positiveInt(`${name}: numLayers`, opts.numLayers ?? 1),
      bias: opts.bias ?? true,
      batchFirst: opts.batchFirst ?? false,
      bidirectional: opts.bidirectional ?? false,
      nonlinearity,
    });
    this.tile = opts.stepTile ?? {};
    // PyTorch's init: every parameter U(−k, k), k = 1/√hiddenSize.
    const rand = rng(opts.seed ?? 0);
    const k = 1 / Math.sqrt(this.config.hiddenSize);
    const init: StateDict = {};
    for (const { name: key, shape } of parameterShapes(this.config)) {
      init[key] = { shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (2 * rand() - 1) * k) };
    }
    this.loadStateDict(init);
  }

  get numDirections(): number {
    return this.config.bidirectional ? 2 : 1;
  }

  /** PyTorch state_dict keys and shapes of this layer, in PyTorch's order. */
  parameterShapes(): Array<{ name: string; shape: number[] }> {
    return parameterShapes(this.config);
  }

  /**
   * Loads PyTorch-named parameters (`weight_ih_l0`, `weight_hh_l0_reverse`, `bias_ih_l1`, …).
   * Every key is checked (present, shape, finite values) before anything is uploaded, so a bad
   * dict leaves the layer unchanged. Unknown keys are an error unless `strict` is false.
   */
  loadStateDict(dict: StateDict, { strict = true }: { strict?: boolean } = {}): void {
    this.assertAlive();
    if (!dict || typeof dict !== 'object') throw new ShapeError('loadStateDict: expected an object of named parameters');
    const shapes = this.parameterShapes();
    const values = new Map(shapes.map(({ name, shape }) => [name, readParameter(dict, name, shape)]));
    if (strict) {
      const extra = Object.keys(dict).filter((k) => !values.has(k));
      if (extra.length) throw new ShapeError(`loadStateDict: unexpected key(s) ${extra.map((k) => `'${k}'`).join(', ')}; expected ${shapes.map((s) => s.name).join(', ')}`);
    }
    const { cell, hiddenSize: H, numLayers: L } = this.config;
    const G = gateCount(cell);
    const upload = (data: Float32Array, label: string) => {
      const b = this.gpu.pool.acquire(data.byteLength, TENSOR_USAGE, label);
      this.gpu.device.queue.writeBuffer(b, 0, data);
      return b;
    };
    const next: DirectionParams[] = [];
    for (let l = 0; l < L; l++) {
      for (let d = 0; d < this.numDirections; d++) {
        const sfx = `_l${l}${d === 1 ? '_reverse' : ''}`;
        next.push({
          wih: upload(values.get(`weight_ih${sfx}`)!, `weight_ih${sfx}`),
          wp: upload(repackWhh(cell, values.get(`weight_hh${sfx}`)!, H), `weight_hh${sfx}.packed`),
          bih: this.config.bias ? upload(values.get(`bias_ih${sfx}`)!, `bias_ih${sfx}`) : null,
          bhh: upload(this.config.bias ? values.get(`bias_hh${sfx}`)! : new Float32Array(G * H), `bias_hh${sfx}`),
        });
      }
    }
    this.releaseParams();
    this.dropPlans();
    this.params = next;
  }

  /** The parameters under PyTorch's names and shapes (read back from the GPU). */
  async stateDict(): Promise<Record<string, NamedTensor>> {
    this.assertAlive();
    const { cell, hiddenSize: H } = this.config;
    const out: Record<string, NamedTensor> = {};
    for (const { name, shape } of this.parameterShapes()) {
      const m = /^(weight|bias)_(ih|hh)_l(\d+)(_reverse)?$/.exec(name)!;
      const p = this.params[Number(m[3]) * this.numDirections + (m[4] ? 1 : 0)];
      const size = shape.reduce((a, b) => a * b, 1);
      let data: Float32Array;
      if (m[1] === 'weight' && m[2] === 'hh') {
        data = unpackWhh(cell, new Float32Array(await this.gpu.readBuffer(p.wp, 0, p.wp.size)), H);
      } else {
        const buf = m[1] === 'weight' ? p.wih : m[2] === 'ih' ? p.bih! : p.bhh;
        data = new Float32Array(await this.gpu.readBuffer(buf, 0, size * 4));
      }
      out[name] = { shape, data };
    }
    return out;
  }

  /**
   * Runs the whole stack over `input` ([seqLen, batch, inputSize], or [batch, seqLen, inputSize]
   * with batchFirst) as one recorded command buffer. Returns new tensors: `output`
   * [seqLen, batch, D·hiddenSize] (batch first when batchFirst), `hN` (and `cN` for LSTM)
   * [numLayers·D, batch, hiddenSize].
   */
  forward(input: Tensor, state: RecurrentState = {}): RecurrentOutputs {
    this.assertAlive();
    const op = `${this.config.cell.toUpperCase()}.forward`;
    const { inputSize, hiddenSize: H, numLayers: L, batchFirst } = this.config;
    expectRank(op, 'input', input, [3]);
    const [d0, d1, features] = input.shape;
    const [T, B] = batchFirst ? [d1, d0] : [d0, d1];
    if (features !== inputSize) {
      throw new ShapeError(`${op}: argument 'input' has shape ${fmtShape(input.shape)}: its last dimension must be inputSize=${inputSize} (layout ${batchFirst ? '[batch, seqLen, inputSize]' : '[seqLen, batch, inputSize]'})`);
    }
    const stateShape = [L * this.numDirections, B, H];
    if (state.h0) expectShape(op, 'h0', state.h0, stateShape, '[numLayers·numDirections, batch, hiddenSize]');
    if (state.c0) {
      if (this.config.cell !== 'lstm') throw new ShapeError(`${op}: 'c0' is only for LSTM`);
      expectShape(op, 'c0', state.c0, stateShape, '[numLayers·numDirections, batch, hiddenSize]');
    }
    const plan = this.plan(T, B);
    const outputShape = batchFirst ? [B, T, this.numDirections * H] : [T, B, this.numDirections * H];
    const { stats, ...outputs } = plan.run(input.buffer, state.h0?.buffer ?? null, state.c0?.buffer ?? null, outputShape, stateShape);
    this.lastRun = stats;
    return outputs;
  }

  /**
   * Step-wise inference for generation: a stepper keeps h (and c) on the GPU and runs one
   * timestep per call (one submit). Unidirectional layers only.
   */
  createStepper(batch: number): RecurrentStepper {
    this.assertAlive();
    if (this.config.bidirectional) throw new ShapeError('createStepper: a bidirectional layer needs the whole sequence; use forward()');
    return new RecurrentStepper(this, positiveInt('createStepper: batch', batch));
  }

  /** @internal The cached plan for (seqLen, batch). */
  plan(seqLen: number, batch: number): RecurrentPlan {
    const key = `${seqLen}x${batch}`;
    let plan = this.plans.get(key);
    if (!plan) {
      const tile = { ...defaultStepTile(batch), ...this.tile };
      plan = new RecurrentPlan(this.gpu, this.config, this.params, seqLen, batch, tile);
      if (this.plans.size >= MAX_PLANS) {
        const [oldKey, old] = this.plans.entries().next().value as [string, RecurrentPlan];
        old.destroy();
        this.plans.delete(oldKey);
      }
      this.plans.set(key, plan);
    }
    return plan;
  }

  /** Releases every GPU buffer of the layer (parameters and plans). */
  destroy(): void {
    if (this.destroyed) return;
    this.dropPlans();
    this.releaseParams();
    this.destroyed = true;
  }

  private assertAlive(): void {
    if (this.destroyed) throw new ShapeError(`${this.config.cell.toUpperCase()}: this layer was destroyed`);
  }

  private dropPlans(): void {
    for (const p of this.plans.values()) p.destroy();
    this.plans.clear();
  }

  private releaseParams(): void {
    for (const p of this.params) for (const b of [p.wih, p.wp, p.bih, p.bhh]) if (b) this.gpu.pool.release(b);
    this.params = [];
  }
}

/** One-timestep-at-a-time inference with the state kept on the GPU (see {@link RecurrentLayer.createStepper}). */
export class RecurrentStepper {
  private h: Tensor;
  private c: Tensor | null;

  constructor(private readonly layer: RecurrentLayer, readonly batch: number) {
    const shape = [layer.config.numLayers, batch, layer.config.hiddenSize];
    this.h = Tensor.zeros(layer.gpu, shape, 'stepper.h');
    this.c = layer.config.cell === 'lstm' ? Tensor.zeros(layer.gpu, shape, 'stepper.c') : null;
  }

  /** Feeds x_t ([batch, inputSize]); returns the top layer's h_t ([batch, hiddenSize]). */
  step(x: Tensor): Tensor {
    const { inputSize, hiddenSize } = this.layer.config;
    expectShape('step', 'x', x, [this.batch, inputSize], '[batch, inputSize]');
    const plan = this.layer.plan(1, this.batch);
    const { output, hN, cN } = plan.run(x.buffer, this.h.buffer, this.c?.buffer ?? null, [this.batch, hiddenSize], this.h.shape as number[]);
    this.layer.lastRun = { seqLen: 1, batch: this.batch, dispatches: plan.dispatches.length, submits: 1 };
    this.h.destroy();
    this.h = hN;
    if (this.c) {
      this.c.destroy();
      this.c = cN!;
    }
    return output;
  }

  /** The current state (owned by the stepper; valid until the next step). */
  get state(): { h: Tensor; c?: Tensor } {
    return { h: this.h, c: this.c ?? undefined };
  }

  /** Resets the state to zeros. */
  reset(): void {
    this.h.write(new Float32Array(this.h.size));
    this.c?.write(new Float32Array(this.c.size));
  }

  destroy(): void {
    this.h.destroy();
    this.c?.destroy();
  }
}

/** Elman RNN, `h_t = act(x_t·W_ihᵀ + b_ih + h_{t−1}·W_hhᵀ + b_hh)`, like `torch.nn.RNN`. */
export class RNN extends RecurrentLayer {
  constructor(gpu: Gpu, opts: RecurrentOptions & { nonlinearity?: 'tanh' | 'relu' }) {
    const nl = opts?.nonlinearity ?? 'tanh';
    if (nl !== 'tanh' && nl !== 'relu') throw new ShapeError(`RNN: nonlinearity must be 'tanh' or 'relu', got '${String(nl)}'`);
    super(gpu, 'rnn', opts, nl);
  }
}

/** LSTM with PyTorch's gate order (i, f, g, o) and weight layout, like `torch.nn.LSTM`. */
export class LSTM extends RecurrentLayer {
  constructor(gpu: Gpu, opts: RecurrentOptions) {
    super(gpu, 'lstm', opts);
  }
}

/** GRU with PyTorch's semantics (reset gate applied after the recurrent matmul), like `torch.nn.GRU`. */
export class GRU extends RecurrentLayer {
  constructor(gpu: Gpu, opts: RecurrentOptions) {
    super(gpu, 'gru', opts);
  }
}
