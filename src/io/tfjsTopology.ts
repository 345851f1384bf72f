// The layer list of a TensorFlow.js / Keras model topology, in the order data flows:
//   Sequential            config {name, layers} (tfjs, Keras 2, Keras 3) or a bare list (old Keras)
//   Model / Functional    config {name, layers: [{…, name, inbound_nodes}], input_layers, output_layers}:
//                         read when the layers form one chain (input → … → output, each layer fed by
//                         exactly the one before it); a branch, a merge or a shared layer is refused.
// inbound_nodes: Keras 2 / tfjs write [[[source, nodeIndex, tensorIndex, kwargs]]]; Keras 3 writes
// [{args: [{class_name: '__keras_tensor__', config: {keras_history: [source, nodeIndex, tensorIndex]}}], kwargs}].
import { ArgumentError, UnsupportedError } from '../util/errors.js';
import { showValue } from '../util/options.js';

const WHERE = 'loadTfjsModel';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Names of the layers whose outputs one inbound node reads (both formats). */
function nodeSources(node: unknown): string[] {
  if (Array.isArray(node))
    return node.map((t) => (Array.isArray(t) && typeof t[0] === 'string' ? t[0] : `${showValue(t)}`));
  const out: string[] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (isObject(v)) {
      const history = isObject(v.config) ? v.config.keras_history : undefined;
      if (v.class_name === '__keras_tensor__' && Array.isArray(history) && typeof history[0] === 'string')
        out.push(history[0]);
      else Object.values(v).forEach(walk);
    }
  };
  walk(node);
  return out;
}

/** The one layer name of `input_layers` / `output_layers` ([[name, 0, 0]], or [name, 0, 0] in Keras 3). */
function endpoint(config: Record<string, unknown>, field: string): string {
  const v = config[field];
  const list = Array.isArray(v) && typeof v[0] === 'string' ? [v] : v;
  if (!Array.isArray(list) || list.length !== 1 || !Array.isArray(list[0]) || typeof list[0][0] !== 'string')
    throw new UnsupportedError(
      `${WHERE}: the functional model's field '${field}' is ${showValue(v)}; supported: one ${field.slice(0, -1)}`,
    );
  return list[0][0];
}

/** A functional model's layers as the chain from its input to its output. */
function chain(config: Record<string, unknown>): unknown[] {
  const layers = config.layers;
  if (!Array.isArray(layers))
    throw new ArgumentError(`${WHERE}: the functional model's config must hold a 'layers' array`);
  const byName = new Map<string, Record<string, unknown>>();
  for (const [i, l] of layers.entries()) {
    if (!isObject(l) || typeof l.name !== 'string')
      throw new ArgumentError(`${WHERE}: layers[${i}] of the functional model must have a 'name', got ${showValue(l)}`);
    byName.set(l.name, l);
  }
  const input = endpoint(config, 'input_layers');
  const order: Record<string, unknown>[] = [];
  for (let name = endpoint(config, 'output_layers'); ;) {
    const layer = byName.get(name);
    if (!layer) throw new ArgumentError(`${WHERE}: the functional model has no layer '${name}'`);
    order.unshift(layer);
    if (name === input) break;
    const nodes = layer.inbound_nodes;
    const sources = Array.isArray(nodes) && nodes.length === 1 ? nodeSources(nodes[0]) : null;
    if (!sources || sources.length !== 1)
      throw new UnsupportedError(
        `${WHERE}: layer ${String(layer.class_name)} '${name}' of the functional model is called ` +
          `${Array.isArray(nodes) ? nodes.length : 0} time(s) on ${sources ? sources.length : 'several'} input(s); ` +
          `supported: a chain, each layer called once on the layer before`,
      );
    if (order.length > byName.size) throw new UnsupportedError(`${WHERE}: the functional model's layers form a cycle`);
    name = sources[0];
  }
  if (order.length !== byName.size) {
    const off = [...byName.keys()].filter((n) => !order.some((l) => l.name === n));
    throw new UnsupportedError(
      `${WHERE}: the functional model has layers off the input → output chain (${off.map((n) => `'${n}'`).join(', ')})`,
    );
  }
  return order;
}

/**
 * The layers of a model topology in data-flow order.
 * @param topology - model.json's `modelTopology` (or the converter's `{model_config, keras_version, …}`).
 * @returns The model's name and its layer entries `{class_name, config}`.
 * @throws UnsupportedError for another model class or a functional model that is not a chain;
 *   ArgumentError for a malformed config.
 */
export function topologyLayers(topology: Record<string, unknown>): { name: string; layers: unknown[] } {
  const model = isObject(topology.model_config) ? topology.model_config : topology;
  const cls = model.class_name;
  const config = model.config;
  const name = isObject(config) && typeof config.name === 'string' ? config.name : 'model';
  if (cls === 'Sequential') {
    if (Array.isArray(config)) return { name: 'sequential', layers: config };
    if (isObject(config) && Array.isArray(config.layers)) return { name, layers: config.layers };
    throw new ArgumentError(`${WHERE}: the Sequential's config must hold a 'layers' array, got ${showValue(config)}`);
  }
  if (cls === 'Model' || cls === 'Functional') {
    if (!isObject(config)) throw new ArgumentError(`${WHERE}: the ${cls}'s config must be an object`);
    return { name, layers: chain(config) };
  }
  throw new UnsupportedError(
    `${WHERE}: modelTopology class_name is ${showValue(cls)}; supported: 'Sequential', and 'Model' / ` +
      `'Functional' whose layers form one chain`,
  );
}
