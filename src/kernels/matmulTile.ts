// Which GEMM kernel and workgroup shape a product runs with (issue 19, "choose per adapter").
//
// Three kernels compute the same product and epilogue (shaders/matmul_common.wgsl):
//   'workgroup'  shaders/matmul.wgsl: op(A) and op(B) slabs staged in workgroup memory between
//                two barriers per TILE_K, 4×4 outputs per thread (real GPUs: 16×16 threads).
//   'registers'  shaders/matmul_registers.wgsl: no workgroup memory and no barrier, operands read
//                from the buffers in vec4 runs, 4×4 outputs per thread.
//   'subgroups'  shaders/matmul_subgroups.wgsl: as 'registers' with 8×16 outputs per thread, the
//                4 threads of a subgroup sharing op(B)'s loads by broadcast; needs subgroups of
//                exactly 4 invocations (SwiftShader's SIMD width).
// A software adapter (SwiftShader, llvmpipe, WARP) runs a workgroup's invocations as coroutines
// on one CPU core and every barrier switches through all of them; there the barrier-free kernels
// are faster at every shape measured (bench/RESULTS.md, 2026-12-06), 'subgroups' 1.9–2.9× faster
// than 'registers' on the engine's products (2026-12-07), and 'auto' takes it unless its 4× taller tile
// wastes more rows than that gains ({@link SUBGROUPS_GAIN}). `gpu.tuning.gemmVariant` forces a
// kernel for all products built afterwards; `GemmArgs.tile` forces one per product.
import type { Gpu } from '../gpu/device.js';
import type { GpuTuning } from '../gpu/tuning.js';
import { ShapeError } from '../util/errors.js';

/** The GEMM kernels: staged workgroup-memory tiles, registers only, or registers with subgroup-shared loads. */
export type GemmVariant = 'workgroup' | 'registers' | 'subgroups';

/** A GEMM's kernel and workgroup shape; unset fields take the adapter's choice. */
export interface GemmTile {
  /** Which kernel ({@link GemmVariant}). */
  variant?: GemmVariant;
  /** Threads along N (each computes 4 columns; 'subgroups': a multiple of 4, each quad 16 columns). */
  wgX?: number;
  /** Threads along M (each computes 4 rows; 'subgroups': each 32, 8 per thread of its quad). */
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
/** Software adapters with 4-wide subgroups: 8×4 threads, a 128×32 tile. */
const SUBGROUPS_TILE: ResolvedGemmTile = { variant: 'subgroups', wgX: 8, wgY: 4, tileK: 16 };

/**
 * How much faster 'subgroups' runs than 'registers' per output computed, as 'auto' assumes: below
 * the lowest measured on SwiftShader (1.9–2.9× by median on the engine's products, 1.6× in some
 * probe runs; bench/RESULTS.md 2026-12-07). 'auto' takes 'subgroups' when its padded tiles cost
 * less after that gain.
 */
export const SUBGROUPS_GAIN = 1.6;

/** The rows × columns of C one workgroup computes. */
export function gemmTileSize(tile: ResolvedGemmTile): { rows: number; cols: number } {
  return tile.variant === 'subgroups'
    ? { rows: 32 * tile.wgY, cols: 4 * tile.wgX }
    : { rows: 4 * tile.wgY, cols: 4 * tile.wgX };
}

/** The GPU as {@link gemmTile} reads it. */
export interface GemmTileGpu {
  limits: Gpu['limits'];
  software: boolean;
  tuning: Pick<GpuTuning, 'gemmVariant'>;
  features: Pick<Gpu['features'], 'subgroups'>;
  adapterInfo: Pick<Gpu['adapterInfo'], 'subgroupMinSize' | 'subgroupMaxSize'>;
}

/** Whether the 'subgroups' kernel can run: the subgroups feature, every subgroup 4 invocations wide. */
export function subgroupsGemmAvailable(gpu: Pick<GemmTileGpu, 'features' | 'adapterInfo'>): boolean {
  return gpu.features.subgroups && gpu.adapterInfo.subgroupMinSize === 4 && gpu.adapterInfo.subgroupMaxSize === 4;
}

function subgroupSizes(gpu: Pick<GemmTileGpu, 'features' | 'adapterInfo'>): string {
  const { subgroupMinSize: lo, subgroupMaxSize: hi } = gpu.adapterInfo;
  return gpu.features.subgroups ? `subgroups of ${lo === hi ? lo : `${lo}–${hi}`} invocations` : 'no subgroups';
}

/** 'auto' on a software adapter: 'subgroups' where it can run and its padding costs less than it gains. */
function softwareChoice(gpu: GemmTileGpu, shape: { M: number; N: number } | undefined): ResolvedGemmTile {
  if (!subgroupsGemmAvailable(gpu)) return SOFTWARE_TILE;
  if (!shape) return SUBGROUPS_TILE;
  const padded = (t: ResolvedGemmTile) => {
    const { rows, cols } = gemmTileSize(t);
    return Math.ceil(shape.M / rows) * rows * Math.ceil(shape.N / cols) * cols;
  };
  return padded(SUBGROUPS_TILE) / SUBGROUPS_GAIN < padded(SOFTWARE_TILE) ? SUBGROUPS_TILE : SOFTWARE_TILE;
}

/**
 * The kernel and workgroup shape of a product: `wanted`'s fields, the rest from the adapter
 * (`gpu.tuning.gemmVariant`, then software or not, then for software adapters the product's shape;
 * `wgX` / `wgY` forced without a variant keep the 4×4-per-thread kernels), checked against the
 * device's limits.
 * @param gpu - Its limits, tuning, subgroups and whether the adapter is software.
 * @param wanted - Fields the caller forces (any may be unset).
 * @param label - Names the product in errors.
 * @param shape - The product's M and N, for 'auto' on a software adapter; unset: a large product.
 * @returns The tile to build the dispatches with.
 * @throws ShapeError when the variant is unknown or cannot run on this adapter ('subgroups'
 *   without 4-wide subgroups), a size is not a positive integer, TILE_K is not a multiple of 4,
 *   'subgroups' has wgX not a multiple of 4, or the workgroup exceeds the device's invocation,
 *   size or storage limits.
 */
export function gemmTile(
  gpu: GemmTileGpu,
  wanted: GemmTile | undefined,
  label: string,
  shape?: { M: number; N: number },
): ResolvedGemmTile {
  const forced = gpu.tuning.gemmVariant ?? 'auto';
  // A thread shape forced without a kernel keeps the 4×4-outputs-per-thread kernels (wgX / wgY
  // mean another tile in 'subgroups').
  const threadsForced = wanted?.wgX !== undefined || wanted?.wgY !== undefined;
  const auto = gpu.software ? (threadsForced ? SOFTWARE_TILE : softwareChoice(gpu, shape)) : GPU_TILE;
  const variant = wanted?.variant ?? (forced === 'auto' ? auto.variant : forced);
  if (variant !== 'workgroup' && variant !== 'registers' && variant !== 'subgroups')
    throw new ShapeError(
      `${label}: unknown GEMM variant '${String(variant)}'; use 'workgroup', 'registers' or 'subgroups'`,
    );
  if (variant === 'subgroups' && !subgroupsGemmAvailable(gpu))
    throw new ShapeError(
      `${label}: the 'subgroups' GEMM needs the 'subgroups' feature with subgroups of exactly 4 ` +
        `invocations; this device has ${subgroupSizes(gpu)} (use 'registers' or 'workgroup')`,
    );
  const base = variant === 'subgroups' ? SUBGROUPS_TILE : variant === 'registers' ? SOFTWARE_TILE : GPU_TILE;
  const wgX = wanted?.wgX ?? base.wgX;
  const wgY = wanted?.wgY ?? base.wgY;
  const tileK = wanted?.tileK ?? base.tileK;
  const lim = gpu.limits;
  if (
    ![wgX, wgY, tileK].every((v) => Number.isInteger(v) && v > 0) ||
    tileK % 4 !== 0 ||
    (variant === 'subgroups' && wgX % 4 !== 0) ||
    wgX * wgY > lim.maxComputeInvocationsPerWorkgroup
  ) {
    throw new ShapeError(
      `${label}: tile ${wgX}×${wgY} threads, TILE_K ${tileK} is invalid (positive integers, TILE_K ` +
        `a multiple of 4, ${variant === 'subgroups' ? 'wgX a multiple of 4, ' : ''}` +
        `≤ ${lim.maxComputeInvocationsPerWorkgroup} threads)`,
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
