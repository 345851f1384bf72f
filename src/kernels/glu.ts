// Host builder of shaders/glu.wgsl: the gated linear unit over the last dimension and its backward.
//   forward:  y = a ⊙ σ(b)                     x [rows, 2h] = [a | b] → y [rows, h]
//   backward: dx = [dy ⊙ σ(b) | dy ⊙ a ⊙ σ(b)(1 − σ(b))]   (x, dy [rows, h]) → dx [rows, 2h]
import type { Gpu } from '../gpu/device.js';
import type { Dispatch } from '../gpu/dispatch.js';
import { ArgumentError, ShapeError } from '../util/errors.js';
import { defineShader } from '../gpu/kernel.js';
import { grid2d } from './grid.js';
import gluWgsl from '../../shaders/glu.wgsl?raw';
import activationsWgsl from '../../shaders/activations.wgsl?raw';

const GLU_SHADER = /*#__PURE__*/ defineShader('glu.wgsl', gluWgsl, { 'activations.wgsl': activationsWgsl });

const WG = 256;

/** A buffer and an element offset. */
type View = { buffer: GPUBuffer; offset?: number };

/** Arguments of {@link gluDispatch}. */
export interface GluArgs {
  /** Rows (every dimension but the last, multiplied). */
  rows: number;
  /** h: half the input's last dimension (the output's last dimension). */
  half: number;
  /** Input [rows, 2h]. */
  x: View;
  /** Output y [rows, h] (forward) or dx [rows, 2h] (backward), in a buffer of its own. */
  y: View;
  /** Backward only: the gradient of the output, [rows, h]. */
  dy?: View;
  /** The backward pass (writes dx from x and dy). Default false. */
  backward?: boolean;
  /** Names the dispatch in errors and profiles. Default `'glu'` / `'glu.backward'`. */
  label?: string;
}

function checkView(label: string, name: string, v: View, n: number): void {
  const offset = v.offset ?? 0;
  if (!Number.isInteger(offset) || offset < 0)
    throw new ShapeError(`${label}: '${name}.offset' must be a non-negative integer, got ${offset}`);
  if ((offset + n) * 4 > v.buffer.size)
    throw new ShapeError(
      `${label}: buffer '${name}' holds ${Math.floor(v.buffer.size / 4)} elements, ` +
        `fewer than ${n} from its offset ${offset}`,
    );
}

/**
 * Prepares the GLU forward `y = a ⊙ σ(b)` (x = [a | b] along the last dimension) or, with
 * `backward`, its gradient `dx = [dy ⊙ σ(b) | dy ⊙ a ⊙ σ(b)(1 − σ(b))]`.
 * @param gpu - The device.
 * @param args - `rows`, `half` (h), views `x`, `y` and (backward) `dy`, `backward`, `label`.
 * @returns One dispatch (one thread per (row, j < h) pair); its uniform is `transient`.
 * @throws ShapeError for sizes that are not positive integers or a view too small for its
 *   elements; ArgumentError for a backward without `dy` or an output sharing an input's buffer.
 */
export function gluDispatch(gpu: Gpu, args: GluArgs): Dispatch {
  const backward = args.backward ?? false;
  const label = args.label ?? (backward ? 'glu.backward' : 'glu');
  const { rows, half } = args;
  if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(half) || half < 1) {
    throw new ShapeError(`${label}: 'rows' and 'half' must be positive integers, got rows ${rows}, half ${half}`);
  }
  const n = rows * half;
  if (backward && !args.dy) throw new ArgumentError(`${label}: the backward needs 'dy' (the gradient of the output)`);
  checkView(label, 'x', args.x, 2 * n);
  checkView(label, 'y', args.y, backward ? 2 * n : n);
  if (args.dy) checkView(label, 'dy', args.dy, n);
  if (args.y.buffer === args.x.buffer || args.y.buffer === args.dy?.buffer)
    throw new ArgumentError(`${label}: output 'y' must not share a buffer with an input`);
  const { gridX, workgroups } = grid2d(gpu, Math.ceil(n / WG), label);
  const params = gpu.uniform(GLU_SHADER, 'params', {
    n,
    h: half,
    offsetX: args.x.offset ?? 0,
    offsetDy: args.dy?.offset ?? 0,
    offsetY: args.y.offset ?? 0,
    gridX,
  });
  return {
    label,
    pipeline: gpu.pipeline(GLU_SHADER, { OP: backward ? 1 : 0, WG }),
    bindGroup: gpu.bindGroup(GLU_SHADER, {
      x: args.x.buffer,
      dy: args.dy?.buffer ?? gpu.dummyBuffer,
      y: args.y.buffer,
      params,
    }),
    workgroups,
    transient: [params],
  };
}
