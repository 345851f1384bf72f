// Per-adapter reductions of the training step (issue 19, item 7): column_sum.wgsl (bias
// gradients) at every slice count it is built for — 8 (GPU default), 1 (software default, no
// barrier), 2 and 4 — and reduce_sum.wgsl (the gradient norm) at every workgroup width — 256 (GPU
// default), 8 (software default), 2 and 1 — each vs the float64 references at odd shapes: 1 row,
// 1 column, rows that leave 1–3 after the unrolled groups of 4, columns not multiples of 32, row
// strides > cols and offsets. Tolerance: 1e-5 of Σ|terms| (sums). Each comparison has a wrong-
// reference twin that must be rejected; each variant gives the same bits on a second run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArgumentError, Tensor, type Gpu } from '../../src/index.js';
import { columnSumDispatch, columnSumSlices } from '../../src/kernels/columnSum.js';
import { reduceSumDispatches } from '../../src/kernels/reduceSum.js';
import { columnSumRef } from '../../src/reference/columnSum.js';
import { assertClose, CheckFailure, rng, uniform } from '../checks/util.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => {
  gpu.tuning.reductionWidth = 'auto';
  gpu?.destroy();
});

/** [rows, cols, ld, offset] */
const SHAPES: Array<[number, number, number, number]> = [
  [1, 1, 1, 0],
  [1, 33, 40, 5],
  [2, 7, 7, 0],
  [3, 64, 64, 1],
  [5, 31, 33, 0],
  [19, 97, 100, 3],
  [129, 256, 256, 0],
  [258, 65, 70, 7],
];

describe('column_sum: every slice count vs float64', () => {
  it('the default is 1 slice on a software adapter, 8 on a GPU; a forced reductionWidth caps it', () => {
    expect(gpu.software).toBe(true); // CI runs on SwiftShader
    const at = (reductionWidth: 'auto' | number, software: boolean) =>
      columnSumSlices({ tuning: { ...gpu.tuning, reductionWidth }, software });
    expect([at('auto', true), at('auto', false), at(256, true), at(4, false), at(1, false)]).toEqual([1, 8, 8, 4, 1]);
  });

  for (const slices of [8, 1, 2, 4]) {
    it(`${slices} slice(s): ${SHAPES.length} shapes, deterministic`, async () => {
      for (const [rows, cols, ld, offset] of SHAPES) {
        const x = uniform(rng(rows * 31 + cols), offset + (rows - 1) * ld + cols, -2, 2);
        const xt = Tensor.from(gpu, x, [x.length]);
        const y = Tensor.zeros(gpu, [2 * (cols + 3)]);
        const d = (at: number) =>
          columnSumDispatch(gpu, {
            rows,
            cols,
            x: { buffer: xt.buffer, offset, ld },
            y: { buffer: y.buffer, offset: at },
            slices,
          });
        gpu.run([d(3), d(cols + 6)]);
        const all = await y.read();
        const got = all.subarray(3, 3 + cols);
        const want = columnSumRef(x, rows, cols, ld, offset);
        const scale = columnSumRef(Float64Array.from(x, Math.abs), rows, cols, ld, offset);
        const what = `columnSum ${rows}×${cols} ld ${ld} offset ${offset} slices ${slices}`;
        assertClose(what, got, want, { rtol: 1e-5, scale });
        const wrong = Float64Array.from(want, (v, i) => (i === cols - 1 ? v + 1e-3 * (scale[i] + 1) : v));
        expect(() => assertClose(what, got, wrong, { rtol: 1e-5, scale })).toThrow(CheckFailure);
        expect([...all.subarray(cols + 6, 2 * cols + 6)]).toEqual([...got]); // same bits
        expect([all[0], all[1], all[2]]).toEqual([0, 0, 0]); // nothing written before the offset
        xt.destroy();
        y.destroy();
      }
    });
  }

  it('rejects a slice count it is not built for', () => {
    const xt = Tensor.zeros(gpu, [8]);
    const y = Tensor.zeros(gpu, [4]);
    const args = { rows: 2, cols: 4, x: { buffer: xt.buffer, ld: 4 }, y: { buffer: y.buffer } };
    expect(() => columnSumDispatch(gpu, { ...args, slices: 3 })).toThrow(ArgumentError);
    expect(() => columnSumDispatch(gpu, { ...args, slices: 16 })).toThrow(/slices must be 1, 2, 4 or 8, got 16/);
    xt.destroy();
    y.destroy();
  });
});

describe('reduce_sum: every workgroup width vs float64', () => {
  for (const width of [256, 8, 2, 1] as const) {
    it(`width ${width}: Σx, Σclamp(x)² over 1, 3, 8193 and 20011 elements and two ranges`, async () => {
      gpu.tuning.reductionWidth = width;
      try {
        for (const n of [1, 3, 8193, 20011]) {
          const x = uniform(rng(n + width), n + 9, -2, 2);
          const xt = Tensor.from(gpu, x, [x.length]);
          const out = Tensor.zeros(gpu, [4]);
          const ranges: Array<[number, number]> = [
            [9, n],
            [0, 4],
          ];
          gpu.run([
            ...reduceSumDispatches(gpu, { x: xt.buffer, n, offset: 9, out: { buffer: out.buffer, offset: 0 } }),
            ...reduceSumDispatches(gpu, {
              x: xt.buffer,
              ranges,
              out: { buffer: out.buffer, offset: 1 },
              square: true,
              clampValue: 1.5,
            }),
            ...reduceSumDispatches(gpu, { x: xt.buffer, n, offset: 9, out: { buffer: out.buffer, offset: 2 } }),
          ]);
          const got = await out.read();
          let s = 0;
          let abs = 0;
          let s2 = 0;
          for (let i = 9; i < n + 9; i++) {
            s += x[i];
            abs += Math.abs(x[i]);
          }
          for (const [off, len] of ranges)
            for (let i = off; i < off + len; i++) s2 += Math.min(1.5, Math.abs(x[i])) ** 2;
          const what = `reduceSum n ${n} width ${width}`;
          assertClose(`${what} Σx`, [got[0]], [s], { rtol: 1e-5, scale: [abs] });
          assertClose(`${what} Σclamp(x)²`, [got[1]], [s2], { rtol: 1e-5 });
          expect(() => assertClose(`${what} Σx`, [got[0]], [s + 1e-3 * abs], { rtol: 1e-5, scale: [abs] })).toThrow(
            CheckFailure,
          );
          expect(got[2]).toBe(got[0]); // same bits
          xt.destroy();
          out.destroy();
        }
      } finally {
        gpu.tuning.reductionWidth = 'auto';
      }
    });
  }
});
