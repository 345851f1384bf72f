// Cold start for any Module: compile the pipelines of its forward for given arguments before the
// first call. The forward is traced and planned once with pipeline compiles deferred (the plan
// is thrown away: only the pipelines it asked for matter), and those are compiled asynchronously.
// The first real `module.forward(...)` with arguments of the same shapes then compiles nothing.
import type { Graph } from '../graph/graph.js';
import { recordForward } from '../graph/recordStep.js';
import { warmupPipelines, type WarmupOptions, type WarmupResult } from '../gpu/pipelineWarmup.js';
import { ArgumentError } from '../util/errors.js';
import { checkOptions } from '../util/options.js';
import { Module, collectOutputs, mapInputs } from './module.js';

/**
 * Traces `module.forward(...args)` into a plan and destroys it: inside `gpu.deferPipelines` this
 * records the pipelines the forward needs without compiling them.
 * @param module - The module.
 * @param args - forward's arguments (tensors of the shapes to warm up; their values are not read).
 * @param where - The public entry point, for messages.
 */
export function recordForwardPipelines(module: Module, args: readonly unknown[], where: string): void {
  const plan = recordForward(module.gpu, where, (graph: Graph) => {
    const m = mapInputs(graph, args, where);
    const out = collectOutputs(graph, (module.forward as (...a: unknown[]) => unknown)(...m.args), where);
    if (out.length === 0) throw new ArgumentError(`${where}: forward returned no tensor`);
    for (const o of out) o.pinned = true;
  });
  plan.destroy();
}

/**
 * Compiles the pipelines of `module.forward(...args)` (eval mode, as a forward outside a Trainer
 * runs) with createComputePipelineAsync, reporting progress after each; nothing is run.
 * @param module - Any Module.
 * @param args - forward's arguments: tensors of the shapes the calls will have (values unused).
 * @param opts - `onProgress({ done, total, label })`, called after each pipeline compiled.
 * @returns How many pipelines were compiled and how long it took.
 * @throws ArgumentError for a destroyed module, bad arguments or options (before any work).
 * @example
 * ```ts
 * const x = Tensor.empty(gpu, [8, 32], 'tokens', 'i32');
 * await warmupForward(model, [x], { onProgress: (p) => console.log(`${p.done}/${p.total}`) });
 * const y = model.forward(x); // compiles nothing
 * ```
 */
export function warmupForward(
  module: Module,
  args: readonly unknown[],
  opts: WarmupOptions = {},
): Promise<WarmupResult> {
  const where = `${module?.constructor?.name ?? 'Module'}.warmup`;
  try {
    if (!(module instanceof Module)) throw new ArgumentError(`warmupForward: 'module' must be a Module`);
    module.assertModuleAlive('warmup');
    if (!Array.isArray(args))
      throw new ArgumentError(`${where}: 'args' must be an array of forward's arguments, got ${typeof args}`);
    const { onProgress } = checkOptions<WarmupOptions>(where, 'opts', opts, { onProgress: { type: 'function' } });
    module.gpu.assertUsable();
    return warmupPipelines(module.gpu, where, () => recordForwardPipelines(module, args, where), onProgress);
  } catch (e) {
    return Promise.reject(e);
  }
}
