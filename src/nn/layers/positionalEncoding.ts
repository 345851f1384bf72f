// Position information added to token embeddings:
//   y[b, t, :] = x[b, t, :] + pe[pos_t, :]        pos_t = t (default) or the given position ids
//   sinusoidal (Vaswani et al. 2017, §3.5): pe[p, 2i] = sin(p / 10000^(2i/d)),
//                                           pe[p, 2i+1] = cos(p / 10000^(2i/d))   (a constant table)
//   learned (GPT): pe = `weight` [maxLen, dModel], a parameter ~ N(0, 0.02²)
// The rows pe[pos] are gathered with the embedding kernel (so any positions work: a KV-cache
// decoder passes the one position of its token) and added to every batch row with one broadcast
// add; the learned table's gradient is the column sum scattered back to its rows.
import type { Gpu } from '../../gpu/device.js';
import { TENSOR_USAGE } from '../../gpu/flags.js';
import type { Tensor } from '../../gpu/tensor.js';
import { activeGraph, type Value } from '../../graph/graph.js';
import { addBroadcastValue } from '../../graph/ops/addBroadcast.js';
import { embeddingValue } from '../../graph/ops/embedding.js';
import { transpose } from '../../graph/ops/shape.js';
import { ArgumentError, ShapeError, fmtShape } from '../../util/errors.js';
import { checkOptions } from '../../util/options.js';
import { Module, type LocalParameters } from '../module.js';
import type { ComputedBuffer } from '../../io/torchStateDict.js';
import { createParameters, nextSeed, scaledNormal } from './leaf.js';

/** Options of {@link PositionalEncoding}. */
export interface PositionalEncodingOptions {
  /** Features of each position vector (the model width). */
  dModel: number;
  /** Positions 0 … maxLen − 1 have a vector. */
  maxLen: number;
  /** `'sinusoidal'` (a fixed table, no parameters; default) or `'learned'` (parameter `weight`). */
  kind?: 'sinusoidal' | 'learned';
  /** Inputs [batch, seq, dModel] (default true) or [seq, batch, dModel]. */
  batchFirst?: boolean;
  /** Seed of the learned table's N(0, 0.02²) initial values. */
  seed?: number;
}

/** Options of {@link PositionalEncoding.forward}. */
export interface PositionalEncodingForwardOptions {
  /** i32 [seq]: the position of each step (default 0 … seq − 1), each in [0, maxLen). */
  positions?: Tensor;
}

/**
 * The sinusoid table [maxLen, d], computed in float64 and rounded once to f32.
 * @param maxLen - Positions (rows).
 * @param d - Features (columns).
 */
export function sinusoidTable(maxLen: number, d: number): Float32Array {
  const pe = new Float32Array(maxLen * d);
  for (let p = 0; p < maxLen; p++)
    for (let c = 0; c < d; c++) {
      const angle = p / Math.pow(10000, (2 * Math.floor(c / 2)) / d);
      pe[p * d + c] = c % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
    }
  return pe;
}

/**
 * Adds a position vector to each step of a sequence of embeddings: a fixed sinusoid table or a
 * learned one (`weight` [maxLen, dModel], e.g. `pos_embed.weight` in {@link TransformerLM}).
 * @example
 * ```ts
 * const pos = new PositionalEncoding(gpu, { dModel: 64, maxLen: 256, kind: 'learned' });
 * const h = pos.forward(tokEmbed.forward(tokens)); // [batch, T, 64] + pe[0 … T − 1]
 * ```
 */
export class PositionalEncoding extends Module {
  /** The options with defaults filled in. */
  readonly options: Readonly<Required<Omit<PositionalEncodingOptions, 'seed'>>>;
  private readonly params: LocalParameters | null;
  /** i32 0 … maxLen − 1 (the default positions), and the sinusoid table. */
  private readonly arange: GPUBuffer;
  private readonly table: GPUBuffer | null;

  /**
   * A positional encoding for up to `maxLen` positions.
   * @param gpu - The device.
   * @param options - dModel, maxLen, kind, batchFirst, seed.
   * @throws ArgumentError naming an unknown or invalid option.
   */
  constructor(gpu: Gpu, options: PositionalEncodingOptions) {
    super(gpu);
    const o = checkOptions<PositionalEncodingOptions>('PositionalEncoding', 'options', options, {
      dModel: { type: 'int', min: 1, required: true },
      maxLen: { type: 'int', min: 1, required: true },
      kind: { type: 'enum', values: ['sinusoidal', 'learned'] },
      batchFirst: { type: 'boolean' },
      seed: { type: 'number' },
    });
    const [L, d] = [o.maxLen!, o.dModel!];
    this.options = Object.freeze({
      dModel: d,
      maxLen: L,
      kind: o.kind ?? 'sinusoidal',
      batchFirst: o.batchFirst ?? true,
    });
    this.params =
      this.options.kind === 'learned'
        ? createParameters(gpu, [{ name: 'weight', shape: [L, d], init: scaledNormal(0.02) }], o.seed ?? nextSeed())
        : null;
    const upload = (data: Int32Array | Float32Array, label: string) => {
      const b = gpu.pool.acquire(data.byteLength, TENSOR_USAGE, label);
      gpu.device.queue.writeBuffer(b, 0, data);
      return b;
    };
    this.arange = upload(
      Int32Array.from({ length: L }, (_, i) => i),
      'PositionalEncoding.positions',
    );
    this.table = this.params ? null : upload(sinusoidTable(L, d), 'PositionalEncoding.table');
  }

  /** @internal */
  override localParameters(): LocalParameters | null {
    return this.params;
  }

  /**
   * @internal The sinusoid table is PyTorch's registered buffer `pe` [maxLen, dModel] (persistent
   * in the PyTorch tutorial): a state_dict holding it is checked against this table, within
   * PyTorch's float32 rounding of the angle (|Δ| ≤ 1e-6 + 2⁻²¹·(1 + position)).
   */
  override localBuffers(): ReadonlyArray<ComputedBuffer> {
    const { kind, maxLen, dModel } = this.options;
    if (kind !== 'sinusoidal') return [];
    return [
      {
        name: 'pe',
        shape: [maxLen, dModel],
        values: () => sinusoidTable(maxLen, dModel),
        tolerance: (i) => 1e-6 + 2 ** -21 * (1 + Math.floor(i / dModel)),
        describe: 'pe[p, 2i] = sin(p / 10000^(2i/d)), pe[p, 2i+1] = cos(p / 10000^(2i/d))',
      },
    ];
  }

  /**
   * `x + pe[positions]`, the position vectors broadcast over the batch (ids outside [0, maxLen)
   * read zeros: the embedding kernel's guard).
   * @param x - f32 [batch, seq, dModel] ([seq, batch, dModel] without batchFirst).
   * @param opts - `positions`: i32 [seq] (default 0 … seq − 1).
   * @returns x's shape.
   * @throws ShapeError for an x of another shape or a seq longer than maxLen, or positions of the
   *   wrong shape or dtype.
   */
  forward(x: Tensor, opts: PositionalEncodingForwardOptions = {}): Tensor {
    const where = 'PositionalEncoding.forward';
    const o = checkOptions<PositionalEncodingForwardOptions>(where, 'opts', opts, { positions: { type: 'object' } });
    const { dModel: d, maxLen: L, batchFirst } = this.options;
    const xv = this.input('x', x);
    const T = xv.shape[batchFirst ? 1 : 0];
    if (xv.dtype !== 'f32' || xv.shape.length !== 3 || xv.shape[2] !== d)
      throw new ShapeError(
        `${where}: argument 'x' has shape ${fmtShape(xv.shape)} (${xv.dtype}), expected f32 ` +
          `${batchFirst ? '[batch, seq' : '[seq, batch'}, ${d}] (dModel ${d})`,
      );
    let positions: Value;
    if (o.positions !== undefined) {
      positions = this.input('positions', o.positions);
      if (positions.dtype !== 'i32' || positions.shape.length !== 1 || positions.shape[0] !== T)
        throw new ShapeError(
          `${where}: option 'positions' has shape ${fmtShape(positions.shape)} (${positions.dtype}), ` +
            `expected i32 [${T}] (one id in [0, ${L}) per step of x)`,
        );
    } else {
      if (T > L) throw new ShapeError(`${where}: x has ${T} steps, more than maxLen ${L} positions (option 'maxLen')`);
      positions = this.graph(where).constant('positions', [T], 'i32', () => ({ buffer: this.arange, offset: 0 }));
    }
    const table = this.params
      ? this.param('weight')
      : this.graph(where).constant('sinusoid', [L, d], 'f32', () => ({ buffer: this.table!, offset: 0 }));
    const pe = embeddingValue(positions, table, undefined, 'PositionalEncoding');
    if (batchFirst) return addBroadcastValue(xv, pe, 'PositionalEncoding.add').tensor;
    const bt = transpose(x, 0, 1);
    return transpose(addBroadcastValue(this.input('x', bt), pe, 'PositionalEncoding.add').tensor, 0, 1);
  }

  private graph(where: string) {
    const g = activeGraph();
    if (!g) throw new ArgumentError(`${where}: called outside a trace`);
    return g;
  }

  /** @internal */
  protected override destroyOwn(): void {
    super.destroyOwn();
    if (this.released) return;
    this.released = true;
    this.gpu.pool.release(this.arange);
    if (this.table) this.gpu.pool.release(this.table);
  }
  private released = false;
}
