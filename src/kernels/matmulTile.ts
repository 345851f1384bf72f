// Which GEMM kernel and workgroup shape a product runs with (issue 19, "choose per adapter").
//
// Two kernels compute the same product and epilogue (shaders/matmul_common.wgsl):
//   'workgroup'  shaders/matmul.wgsl: op(A) and op(B) slabs staged in workgroup memory between
//                two barriers per TILE_K, 4×4 outputs per thread (real GPUs: 16×16 threads).
//   'registers'  shaders/matmul_registers.wgsl: no workgroup memory and no barrier, operands read
//                from the buffers in vec4 runs, 4×4 outputs per thread.
// A software adapter (SwiftShader, llvmpipe, WARP) runs a workgroup's invocations as coroutines
// on one CPU core and every barrier switches through all of them; there the barrier-free kernel
// is faster at every shape measured (bench/RESULTS.md, 2026-12-06). `gpu.tuning.gemmVariant`
// forces a kernel for all products built afterwards; `GemmArgs.tile` forces one per product.
import type { Gpu } from '../gpu/device.js';
import type { GpuTuning } from '../gpu/tuning.js';
import { ShapeError } from '../util/errors.js';

/** The GEMM kernels: staged workgroup-memory tiles, or registers only. */
export type GemmVariant = 'workgroup' | 'registers';

/** A GEMM's kernel and workgroup shape; unset fields take the adapter's choice. */
export interface GemmTile {
  /** Which kernel ({@link GemmVariant}). */
  variant?: GemmVariant;
  /** Threads along N (each computes 4 columns). */
  wgX?: number;
  /** Threads along M (each computes 4 rows). */
  wgY?: number;
  /** K per workgroup-memory slab, a multiple of 4 ('workgroup' kernel only). */
  tileK?: number;
}

/** Every field of a {@link GemmTile}, as a product runs. */
export type ResolvedGemmTile = Required<GemmTile>;

/** Real GPUs: 16×16 threads, a 64×64 tile, K slabs of 16 (8 KiB of workgroup memory). */
const GPU_TILE: ResolvedGemmTile = { variant: 'workgroup', wgX: 16, wgY: 16, tileK: 16 };
/** Software adapters: 8×8 threads, a 32×32 tile, no workgroup memory. */
const SOFTWARE_TILE: ResolvedGemmTile = { variant: 'registers', wgX: 8, wgY: 8, tileK: 16 };

/**
 * The kernel and workgroup shape of a product: `wanted`'s fields, the rest from the adapter
 * (`gpu.tuning.gemmVariant`, then software or not), checked against the device's limits.
 * @param gpu - Its limits, tuning and whether the adapter is software.
 * @param wanted - Fields the caller forces (any may be unset).
 * @param label - Names the product in errors.
 * @returns The tile to build the dispatches with.
 * @throws ShapeError when the variant is unknown, a size is not a positive integer, TILE_K is not
 *   a multiple of 4, or the workgroup exceeds the device's invocation, size or storage limits.
 */
export function gemmTile(
  gpu: { limits: Gpu['limits']; software: boolean; tuning: Pick<GpuTuning, 'gemmVariant'> },
  wanted: GemmTile | undefined,
  label: string,
): ResolvedGemmTile {
  const forced = gpu.tuning.gemmVariant ?? 'auto';
  const variant = wanted?.variant ?? (forced === 'auto' ? (gpu.software ? 'registers' : 'workgroup') : forced);
  if (variant !== 'workgroup' && variant !== 'registers')
    throw new ShapeError(`${label}: unknown GEMM variant '${String(variant)}'; use 'workgroup' or 'registers'`);
  const base = variant === 'registers' ? SOFTWARE_TILE : GPU_TILE;
  const wgX = wanted?.wgX ?? base.wgX;
  const wgY = wanted?.wgY ?? base.wgY;
  const tileK = wanted?.tileK ?? base.tileK;
  const lim = gpu.limits;
  if (
    ![wgX, wgY, tileK].every((v) => Number.isInteger(v) && v > 0) ||
    tileK % 4 !== 0 ||
    wgX * wgY > lim.maxComputeInvocationsPerWorkgroup
  ) {
    throw new ShapeError(
      `${label}: tile ${wgX}×${wgY} threads, TILE_K ${tileK} is invalid (positive integers, TILE_K ` +
        `a multiple of 4, ≤ ${lim.maxComputeInvocationsPerWorkgroup} threads)`,
    );
  }
  const tileBytes = variant === 'workgroup' ? 4 * (wgX + wgY) * tileK * 4 : 0;
  if (
    tileBytes > lim.maxComputeWorkgroupStorageSize ||
    wgX > lim.maxComputeWorkgroupSizeX ||
    wgY > lim.maxComputeWorkgroupSizeY
  ) {
    throw new ShapeError(
      `${label}: tile ${wgX}×${wgY} threads, TILE_K ${tileK} needs ${tileBytes} bytes ` +
        `of workgroup storage ` +
        `(maxComputeWorkgroupStorageSize ${lim.maxComputeWorkgroupStorageSize}) ` +
        `and ${wgX}×${wgY} ≤ maxComputeWorkgroupSizeX×Y ` +
        `(${lim.maxComputeWorkgroupSizeX}×${lim.maxComputeWorkgroupSizeY})`,
    );
  }
  return { variant, wgX, wgY, tileK };
}
