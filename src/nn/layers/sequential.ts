// nn.Sequential: children named 0, 1, …; forward feeds each one's output to the next.
import type { Gpu } from '../../gpu/device.js';
import { ArgumentError } from '../../util/errors.js';
import type { Tensor } from '../../gpu/tensor.js';
import { Module } from '../module.js';

/** A module whose forward takes and returns one tensor. */
export interface TensorModule extends Module {
  /** One tensor in, one tensor out. */
  forward(x: Tensor): Tensor;
}

/** PyTorch `nn.Sequential`: parameter names `0.weight`, `2.bias`, … . */
export class Sequential extends Module {
  /** The layers, in order (named by their index). */
  readonly layers: TensorModule[];

  /**
   * A container running `layers` in order.
   * @param gpu - The device.
   * @param layers - Modules whose forward maps one tensor to one tensor.
   */
  constructor(gpu: Gpu, layers: TensorModule[]) {
    super(gpu);
    if (!Array.isArray(layers) || layers.length === 0)
      throw new ArgumentError('Sequential: layers must be a non-empty array of modules');
    layers.forEach((m, i) => {
      if (!(m instanceof Module))
        throw new ArgumentError(`Sequential: layers[${i}] is not a Module (got ${m === null ? 'null' : typeof m})`);
      if (m.gpu !== gpu) throw new ArgumentError(`Sequential: layers[${i}] was built on another Gpu`);
    });
    this.layers = [...layers];
  }

  /** Children named `0`, `1`, … as PyTorch's Sequential names them. */
  override namedChildren(): Array<[string, Module]> {
    return this.layers.map((m, i) => [String(i), m]);
  }

  /**
   * Runs the layers in order.
   * @param x - The first layer's input.
   * @returns The last layer's output.
   */
  forward(x: Tensor): Tensor {
    let y = x;
    for (const m of this.layers) y = m.forward(y);
    return y;
  }
}
