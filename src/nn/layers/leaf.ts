// Parameters of a leaf layer: one ParameterStore (moved into the model's when a Trainer gathers
// them), filled with PyTorch's default init from the layer's seed.
import type { Gpu } from '../../gpu/device.js';
import { rng } from '../../util/random.js';
import type { LocalParameters } from '../module.js';
import { ParameterStore } from '../../io/parameters.js';

/** One parameter to create: local name, shape and its initial values. */
export interface ParameterInit {
  name: string;
  shape: number[];
  /** Initial values, given the layer's random stream. */
  init: (rand: () => number, size: number) => Float32Array;
}

/** U(−bound, bound), PyTorch's kaiming-uniform(a=√5) for Linear/Conv (bound = 1/√fanIn). */
export const uniform = (bound: number) => (rand: () => number, size: number) =>
  Float32Array.from({ length: size }, () => (2 * rand() - 1) * bound);
/** N(0, 1) (Box–Muller), PyTorch's Embedding init. */
export const normal = () => (rand: () => number, size: number) =>
  Float32Array.from({ length: size }, () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand()));
/** N(0, std²): {@link normal} scaled (GPT-2's embedding init, std 0.02). */
export const scaledNormal = (std: number) => (rand: () => number, size: number) =>
  normal()(rand, size).map((v) => std * v);
/** A constant. */
export const constant = (value: number) => (_rand: () => number, size: number) => new Float32Array(size).fill(value);

/** Allocates and initialises a leaf layer's parameters. */
export function createParameters(gpu: Gpu, specs: readonly ParameterInit[], seed: number): LocalParameters {
  const store = new ParameterStore(gpu);
  for (const s of specs) store.add(s.name, s.shape);
  store.allocate();
  const rand = rng(seed);
  for (const s of specs)
    store.write(
      s.name,
      s.init(
        rand,
        s.shape.reduce((a, b) => a * b, 1),
      ),
    );
  return { store, prefix: '', names: specs.map((s) => ({ name: s.name, shape: s.shape })) };
}

let seeds = 0;
/** A fresh default seed per layer (layers built in the same order get the same weights). */
export function nextSeed(): number {
  return 0x9e3779b9 ^ ++seeds;
}
