// Host side of a GRU step with the reset gate applied before the recurrent matmul (Keras'
// reset_after=False): shaders/gru_reset_before.wgsl twice per timestep, PHASE 0 (the gates) then
// PHASE 1 (n and h_t): n needs r of every unit. Inference only.
import type { Gpu } from '../gpu/device.js';
import type { Dispatch } from '../gpu/dispatch.js';
import { defineShader, type WgslShader } from '../gpu/kernel.js';
import { ArgumentError, ShapeError } from '../util/errors.js';
import {
  checkStepTile,
  gateActCode,
  stepIncludes,
  variantName,
  type CellStepBuffers,
  type CellStepOptions,
  type RecurrentWeights,
} from './cellStep.js';
import resetBeforeWgsl from '../../shaders/gru_reset_before.wgsl?raw';

const shader = (weights: RecurrentWeights): WgslShader =>
  defineShader(variantName('gru_reset_before.wgsl', weights), resetBeforeWgsl, stepIncludes(weights));
const RESET_BEFORE_SHADERS: Record<RecurrentWeights, WgslShader> = /*#__PURE__*/ (() => ({
  f32: shader('f32'),
  f16: shader('f16'),
  int8: shader('int8'),
}))();

/**
 * One GRU timestep with the reset gate before the recurrent matmul, n = tanh(a_n + W_hn (r ⊙ h) + b_hn),
 * over all batch rows and hidden units: the gates r, z (writing r ⊙ h_{t−1} to `rh` and z to
 * `hnext`), then n and h_t.
 * @param gpu - The device.
 * @param opts - Sizes, the gate activation, the tile, a label, `lengths`; no `save` (inference only).
 * @param buffers - A GRU step's buffers, plus `rh` ([L·D, B, H], as the state) for r ⊙ h_{t−1}.
 * @returns Two dispatches of ⌈H / tile.wg⌉ × ⌈batch / tile.bt⌉ workgroups, in order.
 * @throws ArgumentError for `save`, a projection, or a missing lengths buffer.
 */
export function gruResetBeforeDispatches(
  gpu: Gpu,
  opts: Omit<CellStepOptions, 'nonlinearity'>,
  buffers: Omit<CellStepBuffers, 'c' | 'saved'> & { rh: GPUBuffer },
): Dispatch[] {
  const { wg, bt } = checkStepTile(opts);
  if (opts.save) throw new ArgumentError(`${opts.label}: a GRU with resetAfter false runs inference only (no save)`);
  if (opts.proj) throw new ArgumentError(`${opts.label}: a projection (proj) is only for an LSTM step`);
  if (opts.lengths && !buffers.lengths)
    throw new ShapeError(`${opts.label}: a step with per-row lengths needs the lengths buffer`);
  const kernel = RESET_BEFORE_SHADERS[opts.weights ?? 'f32'];
  const base = {
    WG: wg,
    BT: bt,
    VEC_H: opts.hidden % 4 === 0,
    LENGTHS: !!opts.lengths,
    GATE_ACT: gateActCode(opts.gate),
  };
  const resources = {
    xproj: buffers.xproj,
    Wp: buffers.wp,
    bhh: buffers.bhh,
    hnext: buffers.hnext,
    hold: buffers.hprev,
    params: buffers.params,
    // Unread without LENGTHS: bound to a buffer the dispatch already reads.
    lengths: opts.lengths ? buffers.lengths! : buffers.xproj,
  };
  const workgroups: [number, number, number] = [Math.ceil(opts.hidden / wg), Math.ceil(opts.batch / bt), 1];
  return [
    {
      label: `${opts.label}.gates`,
      pipeline: gpu.pipeline(kernel, { ...base, PHASE: 0 }),
      bindGroup: gpu.bindGroup(kernel, { ...resources, hprev: buffers.hprev, out: buffers.rh }),
      workgroups,
    },
    {
      label: opts.label,
      pipeline: gpu.pipeline(kernel, { ...base, PHASE: 1 }),
      bindGroup: gpu.bindGroup(kernel, { ...resources, hprev: buffers.rh, out: buffers.hseq }),
      workgroups,
    },
  ];
}
