// Conv1d (PyTorch nn.functional.conv1d, groups 1): x [N, Cin, L], W [Cout, Cin, K], b [Cout],
//   y[n, o, t] = b[o] + Σ_{c,k} W[o, c, k]·x[n, c, t·stride − padding + k·dilation]
//   backward: dx (gather), dW, db (shaders/conv1d_backward_*.wgsl)
import { ShapeError, fmtShape } from '../../util/errors.js';
import { conv1dBackwardDispatches, conv1dDispatch, conv1dOutputLength } from '../../kernels/conv1d.js';
import type { Value } from '../graph.js';
import { record } from '../record.js';

/** Stride, padding, dilation. */
export interface Conv1dSpacing {
  stride: number;
  padding: number;
  dilation: number;
}

/** Records a 1-D convolution. */
export function conv1dValue(x: Value, weight: Value, bias: Value | null, geo: Conv1dSpacing, op = 'Conv1d'): Value {
  const [Cout, Cin, K] = weight.shape;
  if (x.dtype !== 'f32' || x.shape.length !== 3 || x.shape[1] !== Cin)
    throw new ShapeError(`${op}: input has shape ${fmtShape(x.shape)}, expected [batch, ${Cin} (inChannels), length]`);
  const [N, , L] = x.shape;
  const Lout = conv1dOutputLength(L, K, geo.stride, geo.padding, geo.dilation);
  const dims = { batch: N, inChannels: Cin, outChannels: Cout, length: L, kernelSize: K, ...geo };
  const inputs = bias ? [x, weight, bias] : [x, weight];
  return record({
    op,
    inputs,
    outputs: [{ shape: [N, Cout, Lout] }],
    build: ([xv, wv, bv], [yv], ctx) => [
      conv1dDispatch(ctx.gpu, { ...dims, x: xv, weight: wv, bias: bias ? bv : undefined, y: yv, label: op }),
    ],
    backward: ([dy], needs) => {
      if (!dy) return inputs.map(() => null);
      const wantX = needs[0];
      const wantW = needs[1];
      const wantB = !!bias && needs[2];
      const outs = [
        ...(wantX ? [{ shape: x.shape }] : []),
        ...(wantW ? [{ shape: weight.shape }] : []),
        ...(wantB ? [{ shape: [Cout] }] : []),
      ];
      if (outs.length === 0) return inputs.map(() => null);
      const g = record({
        op: `${op}.backward`,
        inputs: [x, weight, dy],
        outputs: outs,
        build: ([xv, wv, gv], o, ctx) => {
          let k = 0;
          return conv1dBackwardDispatches(ctx.gpu, {
            ...dims,
            x: xv,
            weight: wv,
            dy: gv,
            dx: wantX ? o[k++] : undefined,
            dWeight: wantW ? o[k++] : undefined,
            dBias: wantB ? o[k++] : undefined,
            label: `${op}.backward`,
          });
        },
      });
      let k = 0;
      const res: (Value | null)[] = [wantX ? g[k++] : null, wantW ? g[k++] : null];
      if (bias) res.push(wantB ? g[k++] : null);
      return res;
    },
  })[0];
}
