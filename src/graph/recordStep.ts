// Recording a whole step: trace the forward and the loss into a new graph, append the backward of
// the loss (training), and plan it — one GraphPlan to replay. The Trainer records any Module's
// steps this way, SequenceModel its network's. A failure anywhere releases what was allocated.
import type { Gpu } from '../gpu/device.js';
import { appendBackward } from './autodiff.js';
import { Graph, type Value } from './graph.js';
import { GraphPlan } from './plan.js';

/** What a traced step body returns: the loss and, for a traced loss, the seed dL/dL. */
export interface StepBody {
  /** The scalar loss value. */
  loss: Value;
  /**
   * The gradient seed: of a loss traced from ops (a [1] value holding 1), or the upstream gradient
   * of a non-scalar "loss" (a graph input of its shape); null for fused losses.
   */
  seed?: Value | null;
  /** Values whose gradient the caller reads (returned by {@link recordStep}, pinned). */
  wanted?: readonly Value[];
}

/**
 * Traces `body` into a new graph, appends the backward of its loss when `training`, and plans
 * the graph.
 * @param gpu - The device.
 * @param where - The public entry point, for messages.
 * @param training - Record the backward (and run dropout).
 * @param body - Records the forward and the loss (ops record into the graph it gets).
 * @returns The plan, the loss value and the gradients of `wanted` (null where none reaches).
 */
export function recordStep(
  gpu: Gpu,
  where: string,
  training: boolean,
  body: (graph: Graph) => StepBody,
): { plan: GraphPlan; loss: Value; gradients: (Value | null)[] } {
  const graph = new Graph(gpu, training, where);
  let loss: Value;
  let gradients: (Value | null)[] = [];
  try {
    const r = graph.trace(() => body(graph));
    loss = r.loss;
    if (training) gradients = appendBackward(graph, loss, r.seed ?? null, r.wanted ?? []);
  } catch (e) {
    graph.dispose();
    throw e;
  }
  return { plan: new GraphPlan(gpu, graph), loss, gradients };
}

/**
 * Traces `body` (forward only: no loss, no backward, dropout off) into a new graph and plans it.
 * @param gpu - The device.
 * @param where - The public entry point, for messages.
 * @param body - Records the forward (ops record into the graph it gets).
 * @returns The plan.
 */
export function recordForward(gpu: Gpu, where: string, body: (graph: Graph) => void): GraphPlan {
  const graph = new Graph(gpu, false, where);
  try {
    graph.trace(() => body(graph));
  } catch (e) {
    graph.dispose();
    throw e;
  }
  return new GraphPlan(gpu, graph);
}
