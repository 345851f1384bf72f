// Checks a lab run's parameters before anything is allocated: every size field a positive integer,
// and every operand within the device's largest storage binding. A bad value throws a ShapeError
// that names the field (or operand), its value or shape, and what was expected.
import { ShapeError, type Gpu } from '../../src/index.js';
import type { KernelSpec, Operand, Params } from './kernels.js';

const elements = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

export function checkRun(gpu: Gpu, spec: KernelSpec, p: Params): Operand[] {
  for (const f of spec.fields) {
    const v = p[f.key];
    if (f.kind === 'int' && !(typeof v === 'number' && Number.isInteger(v) && v > 0)) {
      throw new ShapeError(`${spec.key}: '${f.key}' must be a positive integer, got ${String(v)}`);
    }
    if (f.kind === 'choice' && !f.options.includes(String(v))) {
      throw new ShapeError(`${spec.key}: '${f.key}' must be one of ${f.options.join(', ')}, got ${String(v)}`);
    }
  }
  const operands = spec.operands(p);
  const limit = gpu.limits.maxStorageBufferBindingSize;
  for (const o of operands) {
    const bytes = 4 * elements(o.shape);
    if (bytes > limit) {
      throw new ShapeError(
        `${spec.key}: operand ${o.name} ${o.dims} = [${o.shape.join(', ')}] ` +
          `needs ${bytes} bytes, more than this device's ` +
          `maxStorageBufferBindingSize (${limit} bytes); make ${o.dims} smaller`,
      );
    }
  }
  return operands;
}
