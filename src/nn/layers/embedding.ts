// nn.Embedding: y[..., :] = W[ids[...], :]; W [numEmbeddings, embeddingDim] ~ N(0, 1), the
// paddingIdx row zero and never updated by its (zero) gradient.
import type { Gpu } from '../../gpu/device.js';
import { ArgumentError } from '../../util/errors.js';
import { embeddingValue } from '../../graph/ops/embedding.js';
import type { Tensor } from '../../gpu/tensor.js';
import { checkOptions } from '../../util/options.js';
import { Module, type LocalParameters } from '../module.js';
import { createParameters, nextSeed, normal } from './leaf.js';

/** Options of {@link Embedding}, PyTorch's names in camelCase. */
export interface EmbeddingOptions {
  /** Vocabulary size V. */
  numEmbeddings: number;
  /** Size E of each vector. */
  embeddingDim: number;
  /** Row that stays zero and gets no gradient (negative counts from V). */
  paddingIdx?: number;
  /** Seed of the N(0, 1) initial weights. */
  seed?: number;
}

/** PyTorch `nn.Embedding`: parameter `weight` [numEmbeddings, embeddingDim]. */
export class Embedding extends Module {
  /** The options; `paddingIdx` normalised to [0, V) (or undefined). */
  readonly options: Readonly<{ numEmbeddings: number; embeddingDim: number; paddingIdx: number | undefined }>;
  private readonly params: LocalParameters;

  /**
   * An embedding table with N(0, 1) rows (the padding row zero).
   * @param gpu - The device.
   * @param options - Sizes and padding row.
   */
  constructor(gpu: Gpu, options: EmbeddingOptions) {
    super(gpu);
    const o = checkOptions<EmbeddingOptions>('Embedding', 'options', options, {
      numEmbeddings: { type: 'int', min: 1, required: true },
      embeddingDim: { type: 'int', min: 1, required: true },
      paddingIdx: { type: 'int' },
      seed: { type: 'number' },
    });
    const V = o.numEmbeddings!;
    if (o.paddingIdx !== undefined && (o.paddingIdx < -V || o.paddingIdx >= V))
      throw new ArgumentError(`Embedding: paddingIdx ${o.paddingIdx} must be in [−${V}, ${V}) (numEmbeddings ${V})`);
    const pad = o.paddingIdx === undefined ? undefined : o.paddingIdx < 0 ? V + o.paddingIdx : o.paddingIdx;
    const E = o.embeddingDim!;
    this.options = Object.freeze({ numEmbeddings: V, embeddingDim: E, paddingIdx: pad });
    this.params = createParameters(
      gpu,
      [
        {
          name: 'weight',
          shape: [V, E],
          init: (rand, size) => {
            const w = normal()(rand, size);
            if (pad !== undefined) w.fill(0, pad * E, (pad + 1) * E);
            return w;
          },
        },
      ],
      o.seed ?? nextSeed(),
    );
  }

  /** @internal */
  override localParameters(): LocalParameters {
    return this.params;
  }

  /**
   * The rows of `ids`.
   * @param ids - i32 token ids, any shape (`Tensor.from(gpu, Int32Array, shape)`), each in [0, numEmbeddings).
   * @returns [...ids.shape, embeddingDim].
   */
  forward(ids: Tensor): Tensor {
    return embeddingValue(this.input('ids', ids), this.param('weight'), this.options.paddingIdx, 'Embedding').tensor;
  }
}
