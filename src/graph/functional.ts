// Functional ops for a traced forward (PyTorch's torch.nn.functional / torch.* in spirit):
// `import { F } from 'seqgpu'` then `F.add(a, b)`, `F.relu(x)`, … inside Module.forward.
import { add, gelu, mul, relu, scale, sigmoid, sub, tanh } from './ops/elementwise.js';
import { glu } from './ops/glu.js';
import { bmm, matmul } from './ops/matmul.js';
import { concat, mean, reshape, slice, transpose, view } from './ops/shape.js';
import { softmax } from './ops/softmax.js';

/**
 * Ops usable inside a traced `forward` (each returns a new tensor and has its gradient):
 * `F.add(a, b)`, `F.sub`, `F.mul`, `F.scale(x, α)`, `F.relu`, `F.sigmoid`, `F.tanh`,
 * `F.gelu(x, approximate?)`, `F.glu(x, dim = −1)`, `F.reshape` / `F.view`, `F.slice`, `F.concat`, `F.transpose`,
 * `F.mean`,
 * `F.matmul(a, b, {transposeA?, transposeB?})` / `F.bmm`, `F.softmax(x, dim = −1)`.
 */
export const F = Object.freeze({
  /** a + b (same shapes). */
  add,
  /** a − b (same shapes). */
  sub,
  /** a ⊙ b (same shapes). */
  mul,
  /** α·x. */
  scale,
  /** max(x, 0). */
  relu,
  /** 1 / (1 + e^−x). */
  sigmoid,
  /** tanh(x). */
  tanh,
  /** GELU, exact or `'tanh'`. */
  gelu,
  /** Gated linear unit over the last dimension: a ⊙ σ(b) for x = [a | b]. */
  glu,
  /** A view with another shape (one size may be −1). */
  reshape,
  /** Alias of reshape. */
  view,
  /** x narrowed to [start, end) along dim. */
  slice,
  /** Tensors joined along dim. */
  concat,
  /** Two dimensions swapped. */
  transpose,
  /** Mean over one dimension. */
  mean,
  /** Matrix product of rank 2 or 3 (torch.matmul; a rank-2 `b` is shared by the batch), optional transposes. */
  matmul,
  /** Batched matrix product of two rank-3 tensors (torch.bmm), optional transposes. */
  bmm,
  /** Softmax over the last dimension (torch.softmax(x, -1)). */
  softmax,
});
