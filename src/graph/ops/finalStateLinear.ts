// A linear layer on a recurrent stack's final state (a many-to-one head), read in place from
// hN [L·D, B, H]: the top layer's block of each direction d is [B, H] at row (L−1)·D + d, and
// multiplies the columns d·H … (d+1)·H of W [out, D·H] — no concatenation copy.
//   forward:  y = Σ_d hN[top, d]·W[:, d]ᵀ (+ b with d = 0)              D GEMMs, the second accumulating
//   backward: dW[:, d] = dyᵀ·hN[top, d]                                 D GEMMs
//             db = Σ_rows dy                                            1 column sum
//             dhN[top, d] = dy·W[:, d]; the lower layers' blocks are 0  D GEMMs
// The gradient of hN must go straight into the recurrent backward's dhN buffer (cleared before
// each replay), so hN may have no other reader.
import { ArgumentError, ShapeError, fmtShape } from '../../util/errors.js';
import { gemmDispatches } from '../../kernels/matmul.js';
import type { Value } from '../graph.js';
import { record } from '../record.js';
import { columnSum } from './linear.js';

/**
 * Records y = [hN of the top layer, directions side by side]·Wᵀ + b.
 * @param hN - Final hidden state [numLayers·numDirections, batch, hidden].
 * @param weight - [outFeatures, numDirections·hidden].
 * @param bias - [outFeatures] or null.
 * @param numDirections - 2 for a bidirectional stack, else 1.
 * @param op - Name for labels and errors.
 * @returns [batch, outFeatures].
 */
export function finalStateLinearValue(
  hN: Value,
  weight: Value,
  bias: Value | null,
  numDirections: number,
  op = 'finalStateLinear',
): Value {
  const D = numDirections;
  const [LD, B, H] = hN.shape;
  const [out, inF] = weight.shape;
  if (hN.shape.length !== 3 || LD % D !== 0 || inF !== D * H)
    throw new ShapeError(
      `${op}: final state ${fmtShape(hN.shape)} and weight ${fmtShape(weight.shape)} do not fit ` +
        `([L·D, batch, hidden] and [out, D·hidden] with D = ${D})`,
    );
  const top = (d: number) => (LD - D + d) * B * H;
  const inputs = bias ? [hN, weight, bias] : [hN, weight];
  return record({
    op,
    attrs: { kind: 'finalStateLinear', numDirections: D, bias: !!bias },
    inputs,
    outputs: [{ shape: [B, out] }],
    build: ([hv, wv, bv], [yv], ctx) =>
      Array.from({ length: D }, (_, d) =>
        gemmDispatches(ctx.gpu, {
          M: B,
          N: out,
          K: H,
          transposeB: true,
          a: { buffer: hv.buffer, offset: hv.offset + top(d), ld: H },
          b: { buffer: wv.buffer, offset: wv.offset + d * H, ld: D * H },
          c: { ...yv, ld: out },
          bias: d === 0 && bias ? bv : undefined,
          beta: d === 0 ? undefined : 1,
          label: op,
        }),
      ).flat(),
    backward: ([dy], needs) => {
      if (!dy) return inputs.map(() => null);
      const dW = needs[1]
        ? record({
            op: `${op}.dW`,
            inputs: [dy, hN],
            outputs: [{ shape: weight.shape }],
            build: ([gv, hv], [dwv], ctx) =>
              Array.from({ length: D }, (_, d) =>
                gemmDispatches(ctx.gpu, {
                  M: out,
                  N: H,
                  K: B,
                  transposeA: true,
                  a: { ...gv, ld: out },
                  b: { buffer: hv.buffer, offset: hv.offset + top(d), ld: H },
                  c: { buffer: dwv.buffer, offset: dwv.offset + d * H, ld: D * H },
                  label: `${op}.dW`,
                }),
              ).flat(),
          })[0]
        : null;
      const db = bias && needs[2] ? columnSum(dy, out, `${op}.db`) : null;
      const dhN = needs[0] ? stateGradient(dy, weight, hN, D, top, op) : null;
      return bias ? [dhN, dW, db] : [dhN, dW];
    },
  })[0];
}

/** dhN: the top layer's blocks dy·W[:, d]; the rest 0 (cleared before the pass). */
function stateGradient(dy: Value, weight: Value, hN: Value, D: number, top: (d: number) => number, op: string): Value {
  const [LD, B, H] = hN.shape;
  const out = weight.shape[0];
  const [dhN] = record({
    op: `${op}.dhN`,
    inputs: [dy, weight],
    outputs: [{ shape: hN.shape }],
    build: ([gv, wv], [dv], ctx) => {
      if (!dhN.fixed)
        throw new ArgumentError(
          `${op}: the final state's gradient must flow only into its recurrent layer ` +
            `(the final state may have no other reader)`,
        );
      return Array.from({ length: D }, (_, d) =>
        gemmDispatches(ctx.gpu, {
          M: B,
          N: H,
          K: out,
          a: { ...gv, ld: out },
          b: { buffer: wv.buffer, offset: wv.offset + d * H, ld: D * H },
          c: { buffer: dv.buffer, offset: dv.offset + top(d), ld: H },
          label: `${op}.dhN`,
        }),
      ).flat();
    },
    hooks: {
      // The lower layers' blocks: 0 (the recurrent backward's dhN buffer is also cleared by it).
      encodeBefore: (encoder, ctx) => {
        const v = ctx.view(dhN);
        if (LD > D) encoder.clearBuffer(v.buffer, v.offset * 4, (LD - D) * B * H * 4);
      },
    },
  });
  return dhN;
}
