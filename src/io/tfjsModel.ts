// A TensorFlow.js / Keras layers-format model (`model.json` as tfjs's `model.save()` and the tfjs
// converter write it: {format: 'layers-model', modelTopology, weightsManifest}) read into a
// checked, GPU-free description whose weights are already in PyTorch's layout:
//   Dense / TimeDistributed(Dense)  kernel [in, out] → weight = kernelᵀ [out, in], bias
//   Embedding                       embeddings [V, E] → weight
//   LSTM      kernel [in, 4H], recurrent_kernel [H, 4H] (gates i, f, c, o = PyTorch's i, f, g, o)
//             → weight_ih_l0 = kernelᵀ, weight_hh_l0 = recurrent_kernelᵀ, bias_ih_l0 = bias, bias_hh_l0 = 0
//   GRU       gates z, r, h → PyTorch r, z, n (blocks reordered, then transposed); reset_after=true:
//             bias [2, 3H] = (bias_ih, bias_hh); reset_after=false: bias [3H] → bias_ih, bias_hh = 0
//   SimpleRNN kernel [in, H], recurrent_kernel [H, H], bias [H] as LSTM with one gate
//   Bidirectional(layer): forward_… weights → `_l0`, backward_… → `_l0_reverse`
// An absent recurrent_activation / reset_after means tfjs's defaults (hard_sigmoid, false); Keras 2
// writes both (sigmoid, true by default there). Keras 3's hard_sigmoid (relu6(x + 3)/6) is refused.
// Everything (classes, options, shapes, byte counts, dtypes, finiteness) is checked here, so a bad
// file throws before a single GPU buffer exists. src/models/tfjs.ts builds the layers.
import { ArgumentError, ShapeError, UnsupportedError, fmtShape } from '../util/errors.js';
import { showValue } from '../util/options.js';
import type { NamedTensor } from './stateDict.js';
import { topologyLayers } from './tfjsTopology.js';
import {
  expectWeightShape,
  readTfjsWeights,
  reorderGates,
  transposed,
  weightBytes,
  type TfjsWeight,
} from './tfjsWeights.js';

const WHERE = 'loadTfjsModel';

/** Activations of Dense / Activation layers seqgpu runs. */
export type TfjsActivation = 'linear' | 'relu' | 'sigmoid' | 'tanh' | 'softmax';
const ACTIVATIONS: readonly TfjsActivation[] = ['linear', 'relu', 'sigmoid', 'tanh', 'softmax'];
/** How a Bidirectional layer joins its two directions. */
export type TfjsMergeMode = 'concat' | 'sum' | 'mul' | 'ave';
const MERGE_MODES: readonly TfjsMergeMode[] = ['concat', 'sum', 'mul', 'ave'];
/** The layer classes read (Keras names). */
export const TFJS_LAYER_CLASSES = Object.freeze([
  'InputLayer',
  'Embedding',
  'LSTM',
  'GRU',
  'SimpleRNN',
  'Bidirectional',
  'Dense',
  'TimeDistributed',
  'Dropout',
  'Activation',
]);

/** One layer of a read model; `state` holds its parameters under PyTorch's names and layout. */
export type TfjsLayer =
  | {
      kind: 'embedding';
      className: string;
      name: string;
      numEmbeddings: number;
      embeddingDim: number;
      state: Record<string, NamedTensor>;
    }
  | {
      kind: 'recurrent';
      className: string;
      name: string;
      cell: 'lstm' | 'gru' | 'rnn';
      inputSize: number;
      hiddenSize: number;
      bias: boolean;
      /** SimpleRNN's activation (LSTM and GRU: tanh). */
      nonlinearity: 'tanh' | 'relu';
      recurrentActivation: 'sigmoid' | 'hard_sigmoid';
      /** GRU only: Keras's reset_after (true = PyTorch's GRU). */
      resetAfter: boolean;
      returnSequences: boolean;
      goBackwards: boolean;
      /** null: one direction; else the Bidirectional wrapper's merge_mode. */
      mergeMode: TfjsMergeMode | null;
      state: Record<string, NamedTensor>;
    }
  | {
      kind: 'dense';
      className: string;
      name: string;
      inFeatures: number;
      outFeatures: number;
      bias: boolean;
      activation: TfjsActivation;
      state: Record<string, NamedTensor>;
    }
  | { kind: 'dropout'; className: string; name: string; rate: number }
  | { kind: 'activation'; className: string; name: string; activation: TfjsActivation };

/** A read model: its layers in order and the input they expect. */
export interface TfjsModel {
  /** The model's name from its config. */
  name: string;
  /** `keras_version` of the topology (e.g. `tfjs-layers 4.22.0`, `2.15.0`), or null. */
  kerasVersion: string | null;
  /** The layers that compute something (InputLayer dropped). */
  layers: TfjsLayer[];
  /** 'ids' when the first layer is an Embedding (i32 [batch, seqLen]), else 'features' (f32 [batch, …, F]). */
  input: 'ids' | 'features';
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads config fields of one layer with messages naming the layer, the field, the value and what is allowed. */
class Fields {
  constructor(
    readonly where: string,
    readonly config: Record<string, unknown>,
  ) {}
  private bad(field: string, allowed: string, cls: typeof ArgumentError = ArgumentError): never {
    throw new cls(`${this.where}: field '${field}' is ${showValue(this.config[field])}; allowed: ${allowed}`);
  }
  bool(field: string, dflt: boolean): boolean {
    const v = this.config[field];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'boolean') this.bad(field, 'true or false');
    return v;
  }
  int(field: string): number {
    const v = this.config[field];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) this.bad(field, 'a positive integer');
    return v;
  }
  /** A field that must keep its default (`allowed`): anything else is unsupported. */
  fixed(field: string, allowed: unknown, why: string): void {
    const v = this.config[field];
    if (v !== undefined && v !== null && v !== allowed)
      this.bad(field, `${showValue(allowed)} (${why})`, UnsupportedError);
  }
  /** One of `values`; absent means `dflt` (null is a value: Keras's merge_mode=None returns a list). */
  oneOf<T extends string>(field: string, values: readonly T[], dflt: T | undefined, cls = UnsupportedError): T {
    const v = field in this.config ? this.config[field] : dflt;
    if (typeof v !== 'string' || !values.includes(v as T)) this.bad(field, values.map((s) => `'${s}'`).join(', '), cls);
    return v as T;
  }
  rate(field: string): number {
    const v = this.config[field] ?? 0;
    if (typeof v !== 'number' || !(v >= 0 && v < 1)) this.bad(field, 'a number in [0, 1)');
    return v;
  }
  /** A Keras activation given as a string (or {class_name} in some exports). */
  activation(field: string, values: readonly string[], dflt: string): string {
    let v = this.config[field] ?? dflt;
    if (isObject(v) && typeof v.class_name === 'string') v = v.class_name;
    if (typeof v !== 'string' || !values.includes(v))
      throw new UnsupportedError(
        `${this.where}: field '${field}' is ${showValue(this.config[field])}; supported: ` +
          values.map((s) => `'${s}'`).join(', '),
      );
    return v;
  }
}

/** `Class 'name'` of a layer, for messages. */
const layerWhere = (cls: string, name: string) => `${WHERE}: layer ${cls} '${name}'`;

/** Weights grouped by the layer name that starts their path. */
class WeightIndex {
  private readonly byLayer = new Map<string, TfjsWeight[]>();
  private readonly used = new Set<TfjsWeight>();
  constructor(
    readonly all: TfjsWeight[],
    layerNames: readonly string[],
  ) {
    const names = new Set(layerNames);
    for (const w of all) {
      const owner = w.name.split('/').find((part) => names.has(part));
      if (owner === undefined)
        throw new ArgumentError(
          `${WHERE}: weight '${w.name}' belongs to no layer of the model (its path names none of ` +
            `${layerNames.map((n) => `'${n}'`).join(', ')})`,
        );
      if (!this.byLayer.has(owner)) this.byLayer.set(owner, []);
      this.byLayer.get(owner)!.push(w);
    }
  }
  /** The layer's weight whose last path part is `role` (and that includes `part`, when given). */
  take(where: string, layer: string, role: string, part?: string): TfjsWeight {
    const found = (this.byLayer.get(layer) ?? []).filter((w) => {
      const parts = w.name.split('/');
      return parts[parts.length - 1] === role && (part === undefined || parts.some((p) => p.startsWith(part)));
    });
    if (found.length !== 1)
      throw new ArgumentError(
        `${where}: expected one weight '${layer}/…${part ? `${part}…/` : ''}${role}' in the manifest, found ` +
          `${found.length ? found.map((w) => `'${w.name}'`).join(', ') : 'none'}`,
      );
    this.used.add(found[0]);
    return found[0];
  }
  /** Throws for a manifest weight no layer used. */
  checkAllUsed(): void {
    const left = this.all.filter((w) => !this.used.has(w));
    if (left.length)
      throw new ArgumentError(
        `${WHERE}: the manifest has weights no layer uses: ${left.map((w) => `'${w.name}'`).join(', ')}`,
      );
  }
}

/** The running shape between layers: rank and last size (null when not known yet). */
interface Flow {
  rank: number | null;
  features: number | null;
}

function expectFeatures(where: string, flow: Flow, rank: number | null, features: number, what: string): void {
  if (rank !== null && flow.rank !== null && flow.rank !== rank)
    throw new ShapeError(
      `${where}: needs a rank-${rank} input (${what}), but the layer before gives rank ${flow.rank}`,
    );
  if (flow.features !== null && flow.features !== features)
    throw new ShapeError(
      `${where}: its weights take ${features} input features, but the layer before gives ${flow.features}`,
    );
}

const tensor = (shape: number[], data: Float32Array): NamedTensor => ({ shape, data });

/** A recurrent layer (LSTM / GRU / SimpleRNN, maybe inside Bidirectional): config and weights. */
function readRecurrent(
  cls: string,
  name: string,
  f: Fields,
  weights: WeightIndex,
  flow: Flow,
  kerasVersion: string | null,
  bidir: { mergeMode: TfjsMergeMode; outer: string } | null,
): TfjsLayer {
  const where = layerWhere(cls, name);
  const cell = cls === 'LSTM' ? 'lstm' : cls === 'GRU' ? 'gru' : 'rnn';
  const H = f.int('units');
  f.fixed('return_state', false, 'a Sequential layer returns one tensor');
  f.fixed('stateful', false, 'state carried between calls is not loaded; pass h0 / c0 to the layer instead');
  f.fixed('time_major', false, 'Keras batch-first input');
  const nonlinearity = f.activation('activation', cell === 'rnn' ? ['tanh', 'relu'] : ['tanh'], 'tanh') as
    'tanh' | 'relu';
  let recurrentActivation: 'sigmoid' | 'hard_sigmoid' = 'sigmoid';
  if (cell !== 'rnn') {
    recurrentActivation = f.activation('recurrent_activation', ['sigmoid', 'hard_sigmoid'], 'hard_sigmoid') as
      'sigmoid' | 'hard_sigmoid';
    if (recurrentActivation === 'hard_sigmoid' && kerasVersion !== null && /^3\./.test(kerasVersion))
      throw new UnsupportedError(
        `${where}: field 'recurrent_activation' is 'hard_sigmoid' in a Keras ${kerasVersion} model: Keras 3's ` +
          `hard_sigmoid is relu6(x + 3)/6, not tfjs's / Keras 2's clip(0.2·x + 0.5, 0, 1); supported: 'sigmoid', ` +
          `and 'hard_sigmoid' from tfjs or Keras 2`,
      );
  }
  const resetAfter = cell === 'gru' ? f.bool('reset_after', false) : true;
  const useBias = f.bool('use_bias', true);
  const returnSequences = f.bool('return_sequences', false);
  const goBackwards = f.bool('go_backwards', false);
  if (bidir && goBackwards)
    throw new UnsupportedError(
      `${layerWhere('Bidirectional', bidir.outer)}: its inner ${cls} '${name}' has field 'go_backwards' true; ` +
        `allowed: false (the Bidirectional runs both directions)`,
    );
  f.rate('dropout');
  f.rate('recurrent_dropout');
  const G = cell === 'lstm' ? 4 : cell === 'gru' ? 3 : 1;
  const owner = bidir ? bidir.outer : name;
  const dirs = bidir ? (['forward', 'backward'] as const) : [undefined];
  const kernel0 = weights.take(where, owner, 'kernel', dirs[0]);
  if (kernel0.shape.length !== 2 || kernel0.shape[1] !== G * H)
    throw new ShapeError(
      `${where}: weight '${kernel0.name}' has shape ${fmtShape(kernel0.shape)}, expected [inputSize, ${G * H}] ` +
        `(${G > 1 ? `${G}·units` : 'units'} = ${G * H})`,
    );
  const I = kernel0.shape[0];
  expectFeatures(where, flow, 3, I, '[batch, seqLen, features]');
  const order = cell === 'gru' ? [1, 0, 2] : Array.from({ length: G }, (_, k) => k);
  const state: Record<string, NamedTensor> = {};
  dirs.forEach((dir, d) => {
    const sfx = d === 1 ? '_l0_reverse' : '_l0';
    const k = d === 0 ? kernel0 : weights.take(where, owner, 'kernel', dir);
    expectWeightShape(where, k, [I, G * H]);
    const rk = weights.take(where, owner, 'recurrent_kernel', dir);
    expectWeightShape(where, rk, [H, G * H]);
    state[`weight_ih${sfx}`] = tensor([G * H, I], transposed(reorderGates(k.data, I, H, order), I, G * H));
    state[`weight_hh${sfx}`] = tensor([G * H, H], transposed(reorderGates(rk.data, H, H, order), H, G * H));
    if (!useBias) return;
    const b = weights.take(where, owner, 'bias', dir);
    if (cell === 'gru' && resetAfter) {
      expectWeightShape(where, b, [2, G * H]);
      const both = reorderGates(b.data, 2, H, order);
      state[`bias_ih${sfx}`] = tensor([G * H], both.slice(0, G * H));
      state[`bias_hh${sfx}`] = tensor([G * H], both.slice(G * H));
    } else {
      expectWeightShape(where, b, [G * H]);
      state[`bias_ih${sfx}`] = tensor([G * H], reorderGates(b.data, 1, H, order));
      state[`bias_hh${sfx}`] = tensor([G * H], new Float32Array(G * H));
    }
  });
  const D = bidir && bidir.mergeMode === 'concat' ? 2 : 1;
  flow.rank = returnSequences ? 3 : 2;
  flow.features = D * H;
  return {
    kind: 'recurrent',
    className: bidir ? `Bidirectional(${cls})` : cls,
    name: owner,
    cell,
    inputSize: I,
    hiddenSize: H,
    bias: useBias,
    nonlinearity,
    recurrentActivation,
    resetAfter,
    returnSequences,
    goBackwards,
    mergeMode: bidir ? bidir.mergeMode : null,
    state,
  };
}

/** A Dense layer (or the Dense inside TimeDistributed, which Keras's Dense already is on rank 3). */
function readDense(cls: string, name: string, f: Fields, weights: WeightIndex, flow: Flow, owner: string): TfjsLayer {
  const where = layerWhere(cls, name);
  const units = f.int('units');
  const activation = f.activation('activation', ACTIVATIONS, 'linear') as TfjsActivation;
  const useBias = f.bool('use_bias', true);
  const k = weights.take(where, owner, 'kernel');
  if (k.shape.length !== 2 || k.shape[1] !== units)
    throw new ShapeError(
      `${where}: weight '${k.name}' has shape ${fmtShape(k.shape)}, expected [inFeatures, ${units}] (units ${units})`,
    );
  const I = k.shape[0];
  expectFeatures(where, flow, null, I, '[…, features]');
  const state: Record<string, NamedTensor> = { weight: tensor([units, I], transposed(k.data, I, units)) };
  if (useBias) {
    const b = weights.take(where, owner, 'bias');
    expectWeightShape(where, b, [units]);
    state.bias = tensor([units], b.data.slice());
  }
  flow.features = units;
  return {
    kind: 'dense',
    className: cls,
    name: owner,
    inFeatures: I,
    outFeatures: units,
    bias: useBias,
    activation,
    state,
  };
}

/** One entry of the model's layer list (data-flow order). */
function readLayer(
  raw: unknown,
  index: number,
  weights: WeightIndex,
  flow: Flow,
  kerasVersion: string | null,
  first: boolean,
): TfjsLayer | null {
  if (!isObject(raw) || typeof raw.class_name !== 'string' || !isObject(raw.config))
    throw new ArgumentError(`${WHERE}: layers[${index}] must be {class_name, config}, got ${showValue(raw)}`);
  const cls = raw.class_name;
  const config = raw.config;
  const name = typeof config.name === 'string' ? config.name : `layers[${index}]`;
  const where = layerWhere(cls, name);
  const f = new Fields(where, config);
  if (!TFJS_LAYER_CLASSES.includes(cls))
    throw new UnsupportedError(
      `${where} (layers[${index}]): class '${cls}' is not supported; supported: ${TFJS_LAYER_CLASSES.join(', ')}`,
    );
  const batchShape = config.batch_input_shape ?? config.batch_shape;
  if (batchShape !== undefined && batchShape !== null) {
    if (!Array.isArray(batchShape) || !batchShape.every((d) => d === null || (Number.isInteger(d) && d > 0)))
      throw new ShapeError(
        `${where}: field 'batch_input_shape' must list sizes or nulls, got ${showValue(batchShape)}`,
      );
    flow.rank = batchShape.length;
    flow.features = batchShape.length > 2 ? batchShape[batchShape.length - 1] : null;
  }
  switch (cls) {
    case 'InputLayer':
      if (index !== 0) throw new UnsupportedError(`${where}: an InputLayer must come first (it is layers[${index}])`);
      return null;
    case 'Embedding': {
      if (!first || (flow.rank !== null && flow.rank !== 2))
        throw new UnsupportedError(`${where}: an Embedding must be the first layer, reading [batch, seqLen] token ids`);
      f.fixed(
        'mask_zero',
        false,
        'masks are not carried through seqgpu layers; pad with any id and read the real steps',
      );
      const V = f.int('input_dim');
      const E = f.int('output_dim');
      const w = weights.take(where, name, 'embeddings');
      expectWeightShape(where, w, [V, E]);
      flow.rank = 3;
      flow.features = E;
      return {
        kind: 'embedding',
        className: cls,
        name,
        numEmbeddings: V,
        embeddingDim: E,
        state: { weight: tensor([V, E], w.data.slice()) },
      };
    }
    case 'LSTM':
    case 'GRU':
    case 'SimpleRNN':
      return readRecurrent(cls, name, f, weights, flow, kerasVersion, null);
    case 'Bidirectional': {
      const inner = config.layer;
      if (!isObject(inner) || typeof inner.class_name !== 'string' || !isObject(inner.config))
        throw new ArgumentError(`${where}: field 'layer' must be {class_name, config}, got ${showValue(inner)}`);
      if (!['LSTM', 'GRU', 'SimpleRNN'].includes(inner.class_name))
        throw new UnsupportedError(
          `${where}: field 'layer' is a ${inner.class_name}; supported inside Bidirectional: LSTM, GRU, SimpleRNN`,
        );
      if (config.backward_layer !== undefined && config.backward_layer !== null)
        throw new UnsupportedError(
          `${where}: field 'backward_layer' is set; supported: absent (a mirrored copy of 'layer')`,
        );
      const mergeMode = f.oneOf('merge_mode', MERGE_MODES, 'concat');
      const innerName = typeof inner.config.name === 'string' ? inner.config.name : name;
      const innerFields = new Fields(layerWhere(inner.class_name, innerName), inner.config);
      return readRecurrent(inner.class_name, innerName, innerFields, weights, flow, kerasVersion, {
        mergeMode,
        outer: name,
      });
    }
    case 'Dense':
      return readDense(cls, name, f, weights, flow, name);
    case 'TimeDistributed': {
      const inner = config.layer;
      if (!isObject(inner) || inner.class_name !== 'Dense' || !isObject(inner.config))
        throw new UnsupportedError(
          `${where}: field 'layer' is ${showValue(isObject(inner) ? inner.class_name : inner)}; supported: Dense`,
        );
      if (flow.rank !== null && flow.rank !== 3)
        throw new ShapeError(
          `${where}: needs [batch, seqLen, features] input, the layer before gives rank ${flow.rank}`,
        );
      return readDense('TimeDistributed(Dense)', name, new Fields(where, inner.config), weights, flow, name);
    }
    case 'Dropout':
      return { kind: 'dropout', className: cls, name, rate: f.rate('rate') };
    default: // 'Activation'
      return {
        kind: 'activation',
        className: cls,
        name,
        activation: f.activation('activation', ACTIVATIONS, 'linear') as TfjsActivation,
      };
  }
}

/**
 * Reads and checks a TensorFlow.js layers-format model without touching a GPU: the topology's
 * layers, every option seqgpu must honour, and every weight (byte length vs the manifest, dtype,
 * shape, finiteness), converted to PyTorch's layout (see the file header).
 * @param modelJson - The parsed `model.json` (or its JSON text):
 *   `{format: 'layers-model', modelTopology, weightsManifest}`.
 * @param weightData - The weight files concatenated in manifest order (ArrayBuffer, typed array or
 *   ArrayBuffer[]).
 * @returns The layers with their PyTorch-named parameters.
 * @throws UnsupportedError naming the layer (class and name), the field, the value and what is
 *   supported; ShapeError for byte counts and shapes that disagree; ArgumentError for malformed JSON.
 */
export function readTfjsModel(modelJson: unknown, weightData: unknown): TfjsModel {
  let json = modelJson;
  if (typeof json === 'string') {
    try {
      json = JSON.parse(json);
    } catch (e) {
      throw new ArgumentError(`${WHERE}: 'modelJson' is a string but not JSON (${(e as Error).message})`);
    }
  }
  if (!isObject(json))
    throw new ArgumentError(
      `${WHERE}: 'modelJson' must be the parsed model.json object or its text, got ${showValue(json)}`,
    );
  if (json.format !== undefined && json.format !== 'layers-model')
    throw new UnsupportedError(
      `${WHERE}: field 'format' is ${showValue(json.format)}; supported: 'layers-model' (a graph model from ` +
        `tf.saved_model has no layers to map)`,
    );
  const topology = json.modelTopology;
  if (!isObject(topology))
    throw new ArgumentError(`${WHERE}: field 'modelTopology' must be an object, got ${showValue(topology)}`);
  const bytes = weightBytes(weightData);
  const all = readTfjsWeights(json.weightsManifest, bytes);
  const kerasVersion = typeof topology.keras_version === 'string' ? topology.keras_version : null;
  const { name, layers: raw } = topologyLayers(topology);
  if (raw.length === 0) throw new ArgumentError(`${WHERE}: the model has no layers`);
  const layerNames = raw.map((l, i) =>
    isObject(l) && isObject(l.config) && typeof l.config.name === 'string' ? l.config.name : `layers[${i}]`,
  );
  const weights = new WeightIndex(all, layerNames);
  const flow: Flow = { rank: null, features: null };
  const layers: TfjsLayer[] = [];
  raw.forEach((l, i) => {
    const layer = readLayer(l, i, weights, flow, kerasVersion, layers.length === 0);
    if (layer) layers.push(layer);
  });
  weights.checkAllUsed();
  if (layers.length === 0) throw new ArgumentError(`${WHERE}: the model has only an InputLayer`);
  return { name, kerasVersion, layers, input: layers[0].kind === 'embedding' ? 'ids' : 'features' };
}
