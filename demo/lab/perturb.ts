// A test hook: `lab.html?perturb=tfjs` hands the row functions a TensorFlow.js whose tf.softmax,
// tf.matMul and tf.fused.matMul add 0.5 to every output element. The bench's own comparison
// (tfjs vs seqgpu on the same inputs) then finds the output wrong, deterministically, and the lab
// must show "wrong output" with the error instead of a ratio (test/browser/labShare.test.ts).
// Nothing else changes; without the parameter the real module is used.
import type { Tf } from '../../bench/tf.js';

/** The peer the page's URL asks to perturb (`?perturb=tfjs`), or null. */
export function perturbedPeer(search: string): 'tfjs' | null {
  return new URLSearchParams(search).get('perturb') === 'tfjs' ? 'tfjs' : null;
}

/** `tf` with its softmax and matMul outputs shifted by +0.5 (see the file's header). */
export function perturbTf(tf: Tf): Tf {
  const shift =
    <A extends unknown[]>(f: (...args: A) => ReturnType<Tf['add']>) =>
    (...args: A) =>
      tf.tidy(() => tf.add(f(...args), 0.5));
  const fused = { ...tf.fused, matMul: shift(tf.fused.matMul) };
  const replaced: Record<string, unknown> = {
    softmax: shift(tf.softmax),
    matMul: shift(tf.matMul),
    fused,
  };
  return new Proxy({} as Tf, {
    get: (_, key) => (typeof key === 'string' && key in replaced ? replaced[key] : Reflect.get(tf, key)),
    has: (_, key) => Reflect.has(tf, key),
  });
}
