// The waves of a wavefront forward (shaders/recurrent_wavefront.wgsl): wave w runs every layer l
// with 0 ≤ w − l < seqLen at step t = w − l, so a stack of L layers over T steps records T + L − 1
// dispatches. RecurrentPlan records layer 0's input GEMM before them.
import type { Gpu } from '../gpu/device.js';
import type { Dispatch } from '../gpu/dispatch.js';
import { UNIFORM_USAGE } from '../gpu/flags.js';
import type { StepTile } from '../kernels/cellStep.js';
import { gateCount, type RecurrentConfig } from '../kernels/recurrentConfig.js';
import {
  packWaveParams,
  packWavefrontLayers,
  wavefrontDispatch,
  wavefrontSlotSize,
  type WavefrontBuffers,
  type WavefrontParamViews,
} from '../kernels/recurrentWavefront.js';

/**
 * Every wave of a forward over `seqLen` steps, in order; the uniforms they read are allocated
 * from the pool and handed to `own` (the plan releases them).
 */
export function wavefrontDispatches(
  gpu: Gpu,
  cfg: RecurrentConfig,
  params: readonly WavefrontParamViews[],
  run: { seqLen: number; batch: number; tile: StepTile; lengths: boolean; lengthsBase: number },
  buffers: Omit<WavefrontBuffers, 'params' | 'weights'>,
  own: (buffer: GPUBuffer) => void,
): Dispatch[] {
  const { seqLen: T, batch: B } = run;
  const L = cfg.numLayers;
  const H = cfg.hiddenSize;
  const waves = T + L - 1;
  // The per-layer offsets follow layer 0's input projection in `xproj` (allocated that much larger).
  const layersBase = T * B * gateCount(cfg.cell) * H;
  const table = packWavefrontLayers(
    params.map((p) => ({
      wih: p.wih.offset,
      whh: p.whh.offset,
      bih: p.bih?.offset ?? 0,
      bhh: (p.bhh.offset ?? 0) / 4,
    })),
  );
  gpu.device.queue.writeBuffer(buffers.xproj, layersBase * 4, table);
  const slot = wavefrontSlotSize(gpu);
  const uniforms = gpu.pool.acquire(waves * slot, UNIFORM_USAGE, 'rnn.waves');
  own(uniforms);
  const data = new ArrayBuffer(waves * slot);
  const out: Dispatch[] = [];
  for (let w = 0; w < waves; w++) {
    const layerLo = Math.max(0, w - T + 1);
    const layerHi = Math.min(L - 1, w);
    packWaveParams(
      gpu,
      {
        batch: B,
        hidden: H,
        numLayers: L,
        wave: w,
        layerLo,
        rowStrideT: cfg.batchFirst ? 1 : B,
        rowStrideB: cfg.batchFirst ? T : 1,
        seqSlot: T * B * H,
        lengthsBase: run.lengthsBase,
        layersBase,
      },
      data,
      w * slot,
    );
    out.push(
      wavefrontDispatch(
        gpu,
        cfg.cell,
        {
          hidden: H,
          batch: B,
          layers: layerHi - layerLo + 1,
          tile: run.tile,
          label: `wave${w}`,
          bias: cfg.bias,
          nonlinearity: cfg.nonlinearity,
          gate: cfg.recurrentActivation,
          lengths: run.lengths,
        },
        { ...buffers, weights: params[0].whh.buffer, params: { buffer: uniforms, offset: w * slot, size: slot } },
      ),
    );
  }
  gpu.device.queue.writeBuffer(uniforms, 0, data);
  return out;
}
