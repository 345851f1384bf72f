// Embedding (PyTorch nn.functional.embedding): y[n] = W[idx[n]].
//   idx [...] i32, W [V, E], y [..., E]; backward: dW = scatter-add of dy rows (padding row: 0)
import { ShapeError, fmtShape } from '../../util/errors.js';
import { embeddingBackwardDispatch, embeddingDispatch } from '../../kernels/embedding.js';
import type { Value } from '../graph.js';
import { record } from '../record.js';

/**
 * Records the lookup. Ids outside [0, V) read zeros (the kernel's guard): check ids on the host.
 * @param indices - i32 ids, any shape.
 * @param weight - [numEmbeddings, embeddingDim].
 * @param paddingIdx - Row that gets no gradient (PyTorch padding_idx), or undefined.
 */
export function embeddingValue(indices: Value, weight: Value, paddingIdx: number | undefined, op = 'embedding'): Value {
  if (indices.dtype !== 'i32')
    throw new ShapeError(
      `${op}: input ${fmtShape(indices.shape)} is ${indices.dtype}; token ids must be ` +
        `an i32 tensor (Tensor.from(gpu, Int32Array.from(ids), shape))`,
    );
  const [V, E] = weight.shape;
  const tokens = indices.size;
  return record({
    op,
    attrs: { kind: 'embedding' },
    inputs: [indices, weight],
    outputs: [{ shape: [...indices.shape, E] }],
    build: ([iv, wv], [yv], ctx) => [
      embeddingDispatch(ctx.gpu, { tokens, vocab: V, dim: E, indices: iv, weight: wv, y: yv, label: op }),
    ],
    backward: ([dy], needs) => {
      if (!dy || !needs[1]) return [null, null];
      const [dW] = record({
        op: `${op}.dW`,
        inputs: [indices, dy],
        outputs: [{ shape: weight.shape }],
        build: ([iv, gv], [dwv], ctx) => [
          embeddingBackwardDispatch(ctx.gpu, {
            tokens,
            vocab: V,
            dim: E,
            indices: iv,
            dY: gv,
            dW: dwv,
            paddingIdx,
            label: `${op}.dW`,
          }),
        ],
      });
      return [null, dW];
    },
  })[0];
}
