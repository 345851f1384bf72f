// The float64 whole-model reference (src/reference/sequenceModel.ts) against central finite
// differences of its own loss: every parameter tensor, a spread of its elements, < 1e-6.
import { describe, expect, it } from 'vitest';
import { sequenceModelRef } from '../../src/reference/sequenceModel.js';
import { parameterShapes } from '../../src/kernels/recurrentConfig.js';
import { modelCases, modelCaseData } from '../checks/modelGrad.js';

/** Shapes of a model's parameters, named as SequenceModel names them. */
function shapesOf(c: (typeof modelCases)[number]): Record<string, number[]> {
  const { cfg } = c;
  const E = cfg.vocabSize ? cfg.embeddingDim! : cfg.inputSize!;
  const out: Record<string, number[]> = {};
  if (cfg.vocabSize) out['embedding.weight'] = [cfg.vocabSize, E];
  const rnn = {
    cell: cfg.cell,
    inputSize: E,
    hiddenSize: cfg.hiddenSize,
    numLayers: cfg.numLayers ?? 1,
    bias: true,
    batchFirst: false,
    bidirectional: !!cfg.bidirectional,
  };
  for (const { name, shape } of parameterShapes(rnn)) out[`rnn.${name}`] = shape;
  out['head.weight'] = [cfg.outputSize, (cfg.bidirectional ? 2 : 1) * cfg.hiddenSize];
  out['head.bias'] = [cfg.outputSize];
  return out;
}

describe('whole-model float64 reference vs finite differences', () => {
  for (const c of modelCases) {
    it(c.name, () => {
      const { params, inputs, targets } = modelCaseData(c, shapesOf(c));
      const p64: Record<string, Float64Array> = Object.fromEntries(
        Object.entries(params).map(([k, v]) => [k, Float64Array.from(v)]),
      );
      const { grads } = sequenceModelRef(c.cfg, p64, inputs, targets, c.T, c.B);
      const loss = () => sequenceModelRef(c.cfg, p64, inputs, targets, c.T, c.B).loss;
      const h = 1e-4;
      let worst = 0;
      for (const [name, w] of Object.entries(p64)) {
        const step = Math.max(1, Math.floor(w.length / 7));
        for (let i = 0; i < w.length; i += step) {
          // PyTorch's padding_idx: that embedding row gets no gradient by definition (not by calculus).
          if (
            name === 'embedding.weight' &&
            c.cfg.paddingIdx !== undefined &&
            Math.floor(i / c.cfg.embeddingDim!) === c.cfg.paddingIdx
          ) {
            expect(grads[name][i]).toBe(0);
            continue;
          }
          const at = (delta: number) => {
            const keep = w[i];
            w[i] = keep + delta;
            const v = loss();
            w[i] = keep;
            return v;
          };
          // 5-point central stencil: O(h⁴) truncation, so rounding (not truncation) dominates.
          const fd = (8 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12 * h);
          const g = grads[name][i];
          const rel = Math.abs(fd - g) / Math.max(1e-8, Math.abs(fd) + Math.abs(g));
          expect(rel, `${name}[${i}]: finite difference ${fd}, backward ${g}`).toBeLessThan(1e-6);
          worst = Math.max(worst, rel);
        }
      }
      expect(Object.keys(grads).sort()).toEqual(Object.keys(p64).sort());
      console.log(`${c.name}: worst relative error ${worst.toExponential(2)}`);
    });
  }
});
