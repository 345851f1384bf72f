// LayerNorm over the last `cols` elements (shaders/layer_norm*.wgsl):
//   y = (x − μ)·rstd·w + b,  rstd = 1/√(σ² + eps)       (μ, rstd saved for the backward)
//   dx = rstd·(g − mean(g) − x̂·mean(g·x̂)), g = dy·w;  dw = Σ_rows dy·x̂;  db = Σ_rows dy
import { ShapeError, fmtShape } from '../../util/errors.js';
import { layerNormBackwardDispatches, layerNormDispatch } from '../../kernels/layerNorm.js';
import type { Value } from '../graph.js';
import { record } from '../record.js';

/** Records LayerNorm over the last `cols` elements of x (weight/bias [cols] or null). */
export function layerNormValue(
  x: Value,
  cols: number,
  eps: number,
  weight: Value | null,
  bias: Value | null,
  op = 'LayerNorm',
): Value {
  if (x.dtype !== 'f32' || x.size % cols !== 0 || x.shape.length < 1)
    throw new ShapeError(`${op}: input ${fmtShape(x.shape)} does not end in the normalized shape (${cols} elements)`);
  const rows = x.size / cols;
  const params = [weight, bias].filter((v): v is Value => v !== null);
  const [y, mean, rstd] = record({
    op,
    attrs: { kind: 'layerNorm', cols, eps, weight: !!weight, bias: !!bias },
    inputs: [x, ...params],
    outputs: [{ shape: x.shape }, { shape: [rows] }, { shape: [rows] }],
    build: ([xv, ...pv], [yv, mv, rv], ctx) => [
      layerNormDispatch(ctx.gpu, {
        rows,
        cols,
        eps,
        x: xv,
        weight: weight ? pv[0] : undefined,
        bias: bias ? pv[weight ? 1 : 0] : undefined,
        y: yv,
        mean: mv,
        rstd: rv,
        label: op,
      }),
    ],
    backward: ([dy], needs, outs) => {
      if (!dy) return [null, ...params.map(() => null)];
      const wantW = !!weight && needs[1];
      const wantB = !!bias && needs[weight ? 2 : 1];
      const shapes = [{ shape: x.shape }, ...(wantW ? [{ shape: [cols] }] : []), ...(wantB ? [{ shape: [cols] }] : [])];
      const grads = record({
        op: `${op}.backward`,
        inputs: [x, dy, outs[1], outs[2], ...(weight ? [weight] : [])],
        outputs: shapes,
        build: ([xv, gv, mv, rv, wv], [dxv, ...pv], ctx) =>
          layerNormBackwardDispatches(ctx.gpu, {
            rows,
            cols,
            x: xv,
            dy: gv,
            weight: weight ? wv : undefined,
            mean: mv,
            rstd: rv,
            dx: dxv,
            dWeight: wantW ? pv[0] : undefined,
            dBias: wantB ? pv[wantW ? 1 : 0] : undefined,
            label: `${op}.backward`,
          }),
      });
      const dx = needs[0] ? grads[0] : null;
      const out: (Value | null)[] = [dx];
      if (weight) out.push(wantW ? grads[1] : null);
      if (bias) out.push(wantB ? grads[wantW ? 2 : 1] : null);
      return out;
    },
  });
  void mean;
  void rstd;
  return y;
}
