// Reverse mode over a traced graph: the recorded nodes in reverse, each appending the nodes of
// its gradient; contributions to one value are summed (a tensor used twice gets the sum of both
// gradients); each parameter's summed gradient is written into its slot of the gradient buffer.
import { ArgumentError } from '../util/errors.js';
import type { Graph, Value } from './graph.js';
import { addValues, copyInto } from './ops/elementwise.js';

/** Sums contributions (in order) into one value; null when there are none. */
function sum(list: readonly Value[]): Value | null {
  if (list.length === 0) return null;
  let acc = list[0];
  for (let i = 1; i < list.length; i++) acc = addValues(acc, list[i], 'grad.sum');
  return acc;
}

/**
 * Appends the backward of `graph` from `loss`, then routes every parameter's gradient into its
 * slot. `seed` is dL/dloss (a value of ones) for a loss built from ops, or the upstream gradient
 * of any value (of its shape) taken as the "loss"; null for a fused loss node, which computes its
 * own gradient.
 * @param wanted - Values (e.g. graph inputs that require a gradient) whose summed gradient the
 *   caller reads after a replay: returned, pinned (null where no gradient reaches them).
 * @returns The gradients of `wanted`, in order.
 */
export function appendBackward(
  graph: Graph,
  loss: Value,
  seed: Value | null = null,
  wanted: readonly Value[] = [],
): (Value | null)[] {
  const forwardCount = graph.nodes.length;
  let wantedGrads: (Value | null)[] = [];
  const grads = new Map<Value, Value[]>();
  const contribute = (v: Value, g: Value) => {
    let list = grads.get(v);
    if (!list) grads.set(v, (list = []));
    list.push(g);
  };
  const sums = new Map<Value, Value | null>();
  const gradOf = (v: Value): Value | null => {
    if (!sums.has(v)) sums.set(v, sum(grads.get(v) ?? []));
    return sums.get(v)!;
  };
  graph.extend(() => {
    for (let i = forwardCount - 1; i >= 0; i--) {
      const node = graph.nodes[i];
      if (!node.backward || !node.outputs.some((o) => o.requiresGrad)) continue;
      const gOut = node.outputs.map((o) => (o === loss ? seed : gradOf(o)));
      if (!node.outputs.includes(loss) && gOut.every((g) => g === null)) continue;
      const needs = node.inputs.map((v) => v.requiresGrad);
      const gIn = node.backward(gOut, needs);
      node.inputs.forEach((v, k) => {
        if (needs[k] && gIn[k]) contribute(v, gIn[k]!);
      });
    }
    // Parameters: bind the summed gradient to the parameter's gradient slot, or copy it there
    // when it already lives elsewhere (a fixed buffer, a view, or shared with another value).
    const bound = new Set<Value>();
    for (const v of graph.values) {
      if (!v.param || !v.requiresGrad) continue;
      const list = grads.get(v) ?? [];
      const g = sum(list);
      if (!g) continue;
      const target = v.param.grad;
      if (g.fixed) {
        // A fused backward (a recurrent layer) wrote straight into the gradient slot: only valid
        // when it is the only contribution.
        if (list.length > 1)
          throw new ArgumentError(
            `${graph.where}: parameter '${v.param.name}' is used by more than one op ` +
              `including a recurrent layer; a recurrent layer's parameters can be used once ` +
              `per forward`,
          );
        continue;
      }
      if (g.alias || bound.has(g) || g.pinned || g.producer === null) copyInto(g, target, `${v.param.name}.grad`);
      else g.fixed = target;
      bound.add(g);
    }
    wantedGrads = wanted.map((w) => {
      const g = gradOf(w);
      if (g) g.pinned = true;
      return g;
    });
  });
  return wantedGrads;
}
