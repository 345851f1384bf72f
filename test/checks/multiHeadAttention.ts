// Multi-head attention checks, run in Node and in Chromium:
//  - the fused attention kernels on strided views ([batch, seqLen, heads·headDim] rows, packed
//    QKV with offsets, padded rows), forward + backward recorded as raw dispatches in one submit,
//    vs the float64 reference; the gaps between the views must stay untouched;
//  - PyTorch 1.13 fixtures (test/fixtures/attention.json, make_attention_fixtures.py, float64):
//    hand-written softmax(QKᵀ/√d + mask)·V and its autograd dQ/dK/dV vs the fused kernels, and
//    nn.MultiheadAttention(batch_first=True) output + gradients of every input and parameter vs
//    MultiHeadAttention loaded from the fixture's state_dict;
//  - MultiHeadAttention vs the float64 reference on odd shapes (batch 1, seqLen 1, self / cross
//    attention, every way of sharing inputs, masks), dispatch and submit counts, no allocation on
//    a repeated call, and the recordable plan replayed in a caller's own command buffer.
import type { Gpu } from '../../src/gpu/device.js';
import { encodeDispatches } from '../../src/gpu/dispatch.js';
import { Tensor } from '../../src/gpu/tensor.js';
import {
  attentionBackwardDispatches,
  attentionDispatch,
  projectionView,
  scaledDotProductAttention,
  scaledDotProductAttentionBackward,
} from '../../src/kernels/attention.js';
import { MultiHeadAttention } from '../../src/nn/multiHeadAttention.js';
import { ParameterStore } from '../../src/io/parameters.js';
import { attentionRef, attentionBackwardRef } from '../../src/reference/attention.js';
import {
  multiHeadAttentionBackwardRef,
  multiHeadAttentionRef,
  type MultiHeadAttentionParams,
} from '../../src/reference/multiHeadAttention.js';
import fixtures from '../fixtures/attention.json';
import { rng, uniform, assertClose, assert } from './util.js';
import type { Check } from './kernels.js';

type Data = { shape: number[]; data: number[] };

/** Forward: 1e-4 relative plus 1e-4 of the tensor's mean magnitude (for elements near 0). */
function fwdTol(want: ArrayLike<number>): { rtol: number; atol: number } {
  return { rtol: 1e-4, atol: 1e-4 * meanAbs(want) + 1e-7 };
}

/** Logs the largest error as a fraction of its tolerance (forward 1e-4, gradients 1e-3). */
function logWorst(what: string, forward: number, gradients: number): void {
  console.log(
    `${what}: worst error ${(100 * forward).toFixed(1)} % of the forward ` +
      `tolerance, ${(100 * gradients).toFixed(1)} % of the gradient tolerance`,
  );
}

/** Gradients: 1e-3 relative plus 1e-3 of the tensor's mean magnitude. */
function gradTol(want: ArrayLike<number>): { rtol: number; atol: number } {
  return { rtol: 1e-3, atol: 1e-3 * meanAbs(want) + 1e-7 };
}

function meanAbs(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]);
  return s / Math.max(1, a.length);
}

// ---------------------------------------------------------------------------------------------
// Strided fused attention (raw dispatches)

interface StridedCase {
  batch: number;
  heads: number;
  seqLenQ: number;
  seqLenK: number;
  headDim: number;
  causal?: boolean;
  mask?: boolean;
  /** Q, K, V packed side by side in the rows of one buffer (needs seqLenQ = seqLenK). */
  packed?: boolean;
  seed: number;
}

export function stridedName(c: StridedCase): string {
  return (
    `strided attention ${c.packed ? 'packed QKV' : 'Q | KV'} B${c.batch} ` +
    `H${c.heads} Tq${c.seqLenQ} Tk${c.seqLenK} ` +
    `D${c.headDim}${c.causal ? ' causal' : ''}${c.mask ? ' keyMask' : ''}, forward + backward`
  );
}

const SENTINEL = 777;

/**
 * A [batch, seqLen, rowLength] buffer image: `slots` regions of E = heads·headDim per row at
 * `base + s·E` in rows of length `rowLength` (> slots·E: padding), everything else SENTINEL.
 */
class RowLayout {
  readonly size: number;
  constructor(
    readonly batch: number,
    readonly seqLen: number,
    readonly E: number,
    readonly rowLength: number,
    readonly base: number,
  ) {
    this.size = base + batch * seqLen * rowLength + 3;
  }

  /** Element of slot s, (b, h, t, i) with head size d. */
  at(s: number, b: number, h: number, t: number, i: number, d: number): number {
    return this.base + (b * this.seqLen + t) * this.rowLength + s * this.E + h * d + i;
  }

  /** Writes contiguous [B, H, T, d] data into slot s of img. */
  scatter(img: Float32Array, s: number, x: ArrayLike<number>, H: number, d: number): void {
    for (let b = 0; b < this.batch; b++)
      for (let h = 0; h < H; h++)
        for (let t = 0; t < this.seqLen; t++)
          for (let i = 0; i < d; i++) img[this.at(s, b, h, t, i, d)] = x[((b * H + h) * this.seqLen + t) * d + i];
  }

  /** Reads slot s of img as contiguous [B, H, T, d], and marks the elements it read. */
  gather(img: ArrayLike<number>, s: number, H: number, d: number, seen?: Uint8Array): Float64Array {
    const out = new Float64Array(this.batch * H * this.seqLen * d);
    for (let b = 0; b < this.batch; b++)
      for (let h = 0; h < H; h++)
        for (let t = 0; t < this.seqLen; t++)
          for (let i = 0; i < d; i++) {
            const at = this.at(s, b, h, t, i, d);
            out[((b * H + h) * this.seqLen + t) * d + i] = img[at];
            if (seen) seen[at] = 1;
          }
    return out;
  }

  view(buffer: GPUBuffer, s: number, d: number) {
    return projectionView(buffer, this.seqLen, d, this.rowLength, this.base + s * this.E);
  }
}

function assertUntouched(what: string, img: ArrayLike<number>, seen: Uint8Array): void {
  for (let i = 0; i < img.length; i++) {
    if (!seen[i] && img[i] !== SENTINEL)
      throw new Error(`${what}: element ${i} outside the views was overwritten (${img[i]})`);
  }
}

async function checkStrided(gpu: Gpu, c: StridedCase): Promise<void> {
  const rand = rng(c.seed);
  const { batch: B, heads: H, seqLenQ: Tq, seqLenK: Tk, headDim: d } = c;
  const E = H * d;
  const name = stridedName(c);
  const q = uniform(rand, B * H * Tq * d, -2, 2);
  const k = uniform(rand, B * H * Tk * d, -2, 2);
  const v = uniform(rand, B * H * Tk * d, -1, 1);
  const dO = uniform(rand, B * H * Tq * d, -1, 1);
  const mask = c.mask
    ? Float32Array.from({ length: B * Tk }, (_, i) => (i % Tk < 1 + ((i * 5) % Tk) ? 1 : 0))
    : undefined;
  // Inputs: packed [B, T, 3E + 3] at offset 2, or Q [B, Tq, E + 1] at offset 1 and KV [B, Tk, 2E + 5] at offset 3.
  const qL = c.packed ? new RowLayout(B, Tq, E, 3 * E + 3, 2) : new RowLayout(B, Tq, E, E + 1, 1);
  const kvL = c.packed ? qL : new RowLayout(B, Tk, E, 2 * E + 5, 3);
  const [qs, ks, vs] = c.packed ? [0, 1, 2] : [0, 0, 1];
  const qImg = new Float32Array(qL.size).fill(SENTINEL);
  const kvImg = c.packed ? qImg : new Float32Array(kvL.size).fill(SENTINEL);
  qL.scatter(qImg, qs, q, H, d);
  kvL.scatter(kvImg, ks, k, H, d);
  kvL.scatter(kvImg, vs, v, H, d);
  // Output O and dO: rows of E + 2 at offset 5; dQ, dK, dV in one buffer laid out like the inputs (after dQ when not
  // packed).
  const oL = new RowLayout(B, Tq, E, E + 2, 5);
  const dOImg = new Float32Array(oL.size).fill(SENTINEL);
  oL.scatter(dOImg, 0, dO, H, d);
  const gqL = c.packed ? qL : new RowLayout(B, Tq, E, E + 1, 1);
  const gkvL = c.packed ? qL : new RowLayout(B, Tk, E, 2 * E + 5, gqL.size);
  const gradsSize = c.packed ? qL.size : gkvL.size;
  const t = {
    q: Tensor.from(gpu, qImg, [qImg.length]),
    kv: c.packed ? null : Tensor.from(gpu, kvImg, [kvImg.length]),
    o: Tensor.from(gpu, new Float32Array(oL.size).fill(SENTINEL), [oL.size]),
    dO: Tensor.from(gpu, dOImg, [dOImg.length]),
    grads: Tensor.from(gpu, new Float32Array(gradsSize).fill(SENTINEL), [gradsSize]),
    rowStats: Tensor.zeros(gpu, [2 * B * H * Tq]),
    mask: mask && Tensor.from(gpu, mask, [B, Tk]),
  };
  const kvBuf = (t.kv ?? t.q).buffer;
  const dims = { batch: B, heads: H, seqLenQ: Tq, seqLenK: Tk, headDim: d, causal: c.causal, keyMask: t.mask?.buffer };
  const views = {
    q: qL.view(t.q.buffer, qs, d),
    k: kvL.view(kvBuf, ks, d),
    v: kvL.view(kvBuf, vs, d),
    o: oL.view(t.o.buffer, 0, d),
  };
  const fwd = attentionDispatch(gpu, { ...dims, ...views, lse: t.rowStats.buffer });
  const bwd = attentionBackwardDispatches(gpu, {
    ...dims,
    ...views,
    dO: oL.view(t.dO.buffer, 0, d),
    rowStats: t.rowStats.buffer,
    dq: gqL.view(t.grads.buffer, qs, d),
    dk: gkvL.view(t.grads.buffer, ks, d),
    dv: gkvL.view(t.grads.buffer, vs, d),
  });
  assert(bwd.length === 2, `${name}: the backward is ${bwd.length} dispatches, expected 2`);
  const submits = gpu.stats.submits;
  gpu.run([fwd, ...bwd]);
  assert(gpu.stats.submits === submits + 1, `${name}: forward + backward must be one submit`);

  const opts = { causal: c.causal, keyMask: mask };
  const want = attentionRef(q, k, v, c, opts);
  const wantG = attentionBackwardRef(q, k, v, dO, c, opts);
  const oImg = await t.o.read();
  const oSeen = new Uint8Array(oImg.length);
  assertClose(`${name}: output`, oL.gather(oImg, 0, H, d, oSeen), want.output, { rtol: 1e-4, atol: 1e-4 });
  assertUntouched(`${name}: output buffer`, oImg, oSeen);
  const stats = await t.rowStats.read();
  assertClose(`${name}: log-sum-exp`, stats.subarray(0, B * H * Tq), want.lse, { rtol: 1e-5, atol: 1e-4 });
  const gImg = await t.grads.read();
  const gSeen = new Uint8Array(gImg.length);
  assertClose(`${name}: dQ`, gqL.gather(gImg, qs, H, d, gSeen), wantG.dq, gradTol(wantG.dq));
  assertClose(`${name}: dK`, gkvL.gather(gImg, ks, H, d, gSeen), wantG.dk, gradTol(wantG.dk));
  assertClose(`${name}: dV`, gkvL.gather(gImg, vs, H, d, gSeen), wantG.dv, gradTol(wantG.dv));
  assertUntouched(`${name}: gradient buffer`, gImg, gSeen);
  for (const x of Object.values(t)) x?.destroy();
}

export const stridedCases: StridedCase[] = [
  { batch: 2, heads: 3, seqLenQ: 7, seqLenK: 7, headDim: 5, causal: true, packed: true, seed: 1 },
  { batch: 1, heads: 2, seqLenQ: 1, seqLenK: 9, headDim: 8, mask: true, seed: 2 },
  { batch: 3, heads: 1, seqLenQ: 70, seqLenK: 33, headDim: 17, mask: true, seed: 3 },
  { batch: 1, heads: 2, seqLenQ: 1, seqLenK: 1, headDim: 4, packed: true, seed: 4 },
  { batch: 2, heads: 1, seqLenQ: 65, seqLenK: 65, headDim: 128, causal: true, mask: true, packed: true, seed: 5 },
];

// ---------------------------------------------------------------------------------------------
// PyTorch 1.13 fixtures

interface SdpaFixture {
  name: string;
  dims: { batch: number; heads: number; seqLenQ: number; seqLenK: number; headDim: number };
  causal: boolean;
  keyMask: Data | null;
  q: Data;
  k: Data;
  v: Data;
  dO: Data;
  output: Data;
  dq: Data;
  dk: Data;
  dv: Data;
}

interface MhaFixture {
  name: string;
  embedDim: number;
  numHeads: number;
  batch: number;
  seqLenQ: number;
  seqLenK: number;
  same: 'qkv' | 'kv' | '';
  causal: boolean;
  keyMask: Data | null;
  stateDict: Record<string, Data>;
  query: Data;
  key?: Data;
  value?: Data;
  dOutput: Data;
  output: Data;
  dQuery: Data;
  dKey?: Data;
  dValue?: Data;
  grads: Record<string, Data>;
}

async function checkSdpaFixture(gpu: Gpu, c: SdpaFixture): Promise<void> {
  const tq = (x: Data) => Tensor.from(gpu, x.data, x.shape);
  const t = { q: tq(c.q), k: tq(c.k), v: tq(c.v), dO: tq(c.dO), mask: c.keyMask ? tq(c.keyMask) : undefined };
  const opts = { causal: c.causal, keyPaddingMask: t.mask };
  const { output, lse } = scaledDotProductAttention(gpu, t.q, t.k, t.v, opts);
  const g = scaledDotProductAttentionBackward(gpu, t.q, t.k, t.v, output, lse, t.dO, opts);
  const what = `attention vs PyTorch ${c.name}`;
  const fwd = assertClose(`${what}: output`, await output.read(), c.output.data, fwdTol(c.output.data)).worst;
  let bwd = assertClose(`${what}: dQ`, await g.dq.read(), c.dq.data, gradTol(c.dq.data)).worst;
  bwd = Math.max(bwd, assertClose(`${what}: dK`, await g.dk.read(), c.dk.data, gradTol(c.dk.data)).worst);
  bwd = Math.max(bwd, assertClose(`${what}: dV`, await g.dv.read(), c.dv.data, gradTol(c.dv.data)).worst);
  logWorst(what, fwd, bwd);
  for (const x of [...Object.values(t), output, lse, g.dq, g.dk, g.dv]) x?.destroy();
}

/** Number of projection GEMMs for a sharing pattern (runs of consecutive roles on one tensor). */
function projectionGemms(sharing: readonly number[]): number {
  return 1 + (sharing[1] !== sharing[0] ? 1 : 0) + (sharing[2] !== sharing[1] ? 1 : 0);
}

async function checkMhaFixture(gpu: Gpu, c: MhaFixture): Promise<void> {
  const what = `MultiHeadAttention vs PyTorch ${c.name}`;
  const mha = new MultiHeadAttention(gpu, { embedDim: c.embedDim, numHeads: c.numHeads });
  mha.loadStateDict(c.stateDict);
  const query = Tensor.from(gpu, c.query.data, c.query.shape);
  const key = c.same === 'qkv' ? query : Tensor.from(gpu, c.key!.data, c.key!.shape);
  const value = c.same === 'qkv' ? query : c.same === 'kv' ? key : Tensor.from(gpu, c.value!.data, c.value!.shape);
  const mask = c.keyMask ? Tensor.from(gpu, c.keyMask.data, c.keyMask.shape) : undefined;
  const dOut = Tensor.from(gpu, c.dOutput.data, c.dOutput.shape);
  const opts = { keyPaddingMask: mask, causal: c.causal };
  const out = mha.forward(query, key, value, opts);
  const sharing = c.same === 'qkv' ? [0, 0, 0] : c.same === 'kv' ? [0, 1, 1] : [0, 1, 2];
  const gemms = projectionGemms(sharing);
  assert(
    mha.lastRun?.dispatches === gemms + 2 && mha.lastRun.submits === 1,
    `${what}: forward ran ${JSON.stringify(mha.lastRun)}, expected ${gemms + 2} dispatches in 1 submit`,
  );
  assertClose(`${what}: forward output`, await out.read(), c.output.data, fwdTol(c.output.data));
  const g = mha.forwardBackward(query, key, value, dOut, opts);
  assert(
    mha.lastRun?.dispatches === 4 * gemms + 7 && mha.lastRun.submits === 1,
    `${what}: forwardBackward ran ${JSON.stringify(mha.lastRun)}, expected ${4 * gemms + 7} dispatches in 1 submit`,
  );
  const fwd = assertClose(
    `${what}: forwardBackward output`,
    await g.output.read(),
    c.output.data,
    fwdTol(c.output.data),
  ).worst;
  let bwd = assertClose(`${what}: dQuery`, await g.dQuery.read(), c.dQuery.data, gradTol(c.dQuery.data)).worst;
  if (c.same === 'qkv')
    assert(g.dKey === g.dQuery && g.dValue === g.dQuery, `${what}: self-attention must return one summed gradient`);
  else
    bwd = Math.max(bwd, assertClose(`${what}: dKey`, await g.dKey.read(), c.dKey!.data, gradTol(c.dKey!.data)).worst);
  if (c.same === '')
    bwd = Math.max(
      bwd,
      assertClose(`${what}: dValue`, await g.dValue.read(), c.dValue!.data, gradTol(c.dValue!.data)).worst,
    );
  else if (c.same === 'kv') assert(g.dValue === g.dKey, `${what}: key = value must return one summed gradient`);
  const grads = await mha.gradients();
  for (const [name, want] of Object.entries(c.grads))
    bwd = Math.max(bwd, assertClose(`${what}: grad ${name}`, grads[name].data, want.data, gradTol(want.data)).worst);
  logWorst(what, fwd, bwd);
  for (const x of new Set([query, key, value, mask, dOut, out, g.output, g.dQuery, g.dKey, g.dValue])) x?.destroy();
  mha.destroy();
}

// ---------------------------------------------------------------------------------------------
// MultiHeadAttention vs the float64 reference

interface MhaCase {
  batch: number;
  seqLenQ: number;
  seqLenK: number;
  embedDim: number;
  numHeads: number;
  /** Input index of query, key, value. */
  sharing: [number, number, number];
  causal?: boolean;
  mask?: boolean;
  seed: number;
}

function mhaName(c: MhaCase): string {
  const kind = { '000': 'self', '011': 'key=value', '012': 'cross', '001': 'query=key', '010': 'query=value' }[
    c.sharing.join('')
  ];
  return (
    `MultiHeadAttention ${kind} B${c.batch} Tq${c.seqLenQ} Tk${c.seqLenK} ` +
    `E${c.embedDim} ` +
    `H${c.numHeads}${c.causal ? ' causal' : ''}${c.mask ? ' keyMask' : ''} vs float64`
  );
}

async function checkMhaRandom(gpu: Gpu, c: MhaCase): Promise<void> {
  const rand = rng(c.seed);
  const { batch: B, seqLenQ: Tq, seqLenK: Tk, embedDim: E } = c;
  const what = mhaName(c);
  const mha = new MultiHeadAttention(gpu, { embedDim: E, numHeads: c.numHeads, seed: c.seed });
  const sd = await mha.stateDict();
  // Default init has zero biases: load random ones so the bias paths count.
  mha.loadStateDict({
    ...sd,
    in_proj_bias: uniform(rand, 3 * E, -0.5, 0.5),
    'out_proj.bias': uniform(rand, E, -0.5, 0.5),
  });
  const p = await mha.stateDict();
  const params: MultiHeadAttentionParams = {
    inProjWeight: p.in_proj_weight.data,
    inProjBias: p.in_proj_bias.data,
    outProjWeight: p['out_proj.weight'].data,
    outProjBias: p['out_proj.bias'].data,
  };
  const data = [0, 1, 2].map((i) => uniform(rand, B * (c.sharing.indexOf(i) === 0 ? Tq : Tk) * E, -1.5, 1.5));
  const tensors = [0, 1, 2].map((i) =>
    c.sharing.includes(i) ? Tensor.from(gpu, data[i], [B, c.sharing.indexOf(i) === 0 ? Tq : Tk, E]) : null,
  );
  const [query, key, value] = c.sharing.map((i) => tensors[i]!);
  const [xq, xk, xv] = c.sharing.map((i) => data[i]);
  const maskData = c.mask
    ? Float32Array.from({ length: B * Tk }, (_, i) => (i % Tk === 0 || rand() < 0.6 ? 1 : 0))
    : undefined;
  const mask = maskData && Tensor.from(gpu, maskData, [B, Tk]);
  const dOutData = uniform(rand, B * Tq * E, -1, 1);
  const dOut = Tensor.from(gpu, dOutData, [B, Tq, E]);
  const dims = { batch: B, seqLenQ: Tq, seqLenK: Tk, embedDim: E, numHeads: c.numHeads };
  const ref = { causal: c.causal, keyMask: maskData };
  const opts = { causal: c.causal, keyPaddingMask: mask };

  const want = multiHeadAttentionRef(xq, xk, xv, params, dims, ref);
  const out = mha.forward(query, key, value, opts);
  let fwd = assertClose(`${what}: forward`, await out.read(), want, fwdTol(want)).worst;
  const gemms = projectionGemms(c.sharing);
  assert(
    mha.lastRun?.dispatches === gemms + 2 && mha.lastRun.submits === 1,
    `${what}: forward ran ${JSON.stringify(mha.lastRun)}`,
  );

  const wantG = multiHeadAttentionBackwardRef(xq, xk, xv, params, dOutData, dims, ref);
  const g = mha.forwardBackward(query, key, value, dOut, opts);
  assert(
    mha.lastRun?.dispatches === 4 * gemms + 7 && mha.lastRun.submits === 1,
    `${what}: forwardBackward ran ${JSON.stringify(mha.lastRun)}, expected ${4 * gemms + 7} dispatches in 1 submit`,
  );
  fwd = Math.max(fwd, assertClose(`${what}: forwardBackward output`, await g.output.read(), want, fwdTol(want)).worst);
  let bwd = 0;
  // A tensor in several roles gets the sum of their gradients, as one Tensor.
  const dInputs = new Map<Tensor, Float64Array>();
  for (const [t, dx] of [
    [query, wantG.dQuery],
    [key, wantG.dKey],
    [value, wantG.dValue],
  ] as const) {
    const sum = dInputs.get(t);
    if (sum) for (let i = 0; i < sum.length; i++) sum[i] += dx[i];
    else dInputs.set(t, Float64Array.from(dx));
  }
  const got = new Map<Tensor, Tensor>([
    [query, g.dQuery],
    [key, g.dKey],
    [value, g.dValue],
  ]);
  assert(new Set(got.values()).size === dInputs.size, `${what}: expected one gradient tensor per distinct input`);
  for (const [t, wantDx] of dInputs) {
    const role = t === query ? 'dQuery' : t === key ? 'dKey' : 'dValue';
    bwd = Math.max(bwd, assertClose(`${what}: ${role}`, await got.get(t)!.read(), wantDx, gradTol(wantDx)).worst);
  }
  const grads = await mha.gradients();
  for (const [name, want] of [
    ['in_proj_weight', wantG.dInProjWeight],
    ['in_proj_bias', wantG.dInProjBias],
    ['out_proj.weight', wantG.dOutProjWeight],
    ['out_proj.bias', wantG.dOutProjBias],
  ] as const) {
    bwd = Math.max(bwd, assertClose(`${what}: grad ${name}`, grads[name].data, want, gradTol(want)).worst);
  }
  logWorst(what, fwd, bwd);

  // A repeated call reuses the cached plan: no new GPU buffer once the outputs are returned.
  for (const x of new Set([out, g.output, g.dQuery, g.dKey, g.dValue])) x.destroy();
  const created = gpu.pool.stats.created;
  const again = mha.forwardBackward(query, key, value, dOut, opts);
  assert(
    gpu.pool.stats.created === created,
    `${what}: a repeated forwardBackward created ${gpu.pool.stats.created - created} buffers`,
  );
  assertClose(`${what}: repeated output`, await again.output.read(), want, fwdTol(want));
  for (const x of new Set([again.output, again.dQuery, again.dKey, again.dValue, ...tensors, mask, dOut])) x?.destroy();
  mha.destroy();
}

const mhaCases: MhaCase[] = [
  { batch: 1, seqLenQ: 1, seqLenK: 1, embedDim: 4, numHeads: 1, sharing: [0, 0, 0], seed: 31 },
  {
    batch: 2,
    seqLenQ: 13,
    seqLenK: 13,
    embedDim: 20,
    numHeads: 4,
    sharing: [0, 0, 0],
    causal: true,
    mask: true,
    seed: 32,
  },
  { batch: 3, seqLenQ: 5, seqLenK: 11, embedDim: 12, numHeads: 3, sharing: [0, 1, 2], mask: true, seed: 33 },
  { batch: 1, seqLenQ: 9, seqLenK: 9, embedDim: 6, numHeads: 2, sharing: [0, 1, 1], causal: true, seed: 34 },
  { batch: 2, seqLenQ: 6, seqLenK: 6, embedDim: 8, numHeads: 2, sharing: [0, 0, 1], seed: 35 },
  { batch: 2, seqLenQ: 6, seqLenK: 6, embedDim: 9, numHeads: 3, sharing: [0, 1, 0], mask: true, seed: 36 },
  { batch: 1, seqLenQ: 70, seqLenK: 67, embedDim: 10, numHeads: 5, sharing: [0, 1, 2], seed: 37 },
];

/**
 * The recordable plan: two layers in one shared ParameterStore (prefixes), recorded with the
 * plans' own dispatch lists into ONE command buffer by the caller, must give what
 * forwardBackward gives, and leave each layer's gradients under its prefix.
 */
async function checkRecordedPlan(gpu: Gpu): Promise<void> {
  const what = 'MultiHeadAttention plan recorded in a caller-owned command buffer (shared store)';
  const [B, T, E] = [2, 5, 8];
  const store = new ParameterStore(gpu);
  const a = new MultiHeadAttention(gpu, { embedDim: E, numHeads: 2, store, prefix: 'enc.attn.' });
  const b = new MultiHeadAttention(gpu, { embedDim: E, numHeads: 4, store, prefix: 'dec.attn.' });
  store.allocate();
  a.resetParameters(5);
  b.resetParameters(6);
  assert(
    store.names.join() ===
      'enc.attn.in_proj_weight,enc.attn.in_proj_bias,enc.attn.out_proj.weight,enc.attn.out_proj.bias,' +
        'dec.attn.in_proj_weight,dec.attn.in_proj_bias,dec.attn.out_proj.weight,dec.attn.out_proj.bias',
    `${what}: store names ${store.names.join()}`,
  );
  const rand = rng(77);
  const x = Tensor.from(gpu, uniform(rand, B * T * E), [B, T, E]);
  const dOut = Tensor.from(gpu, uniform(rand, B * T * E), [B, T, E]);
  // Reference: layer a alone through forwardBackward.
  const ref = a.forwardBackward(x, x, x, dOut, { causal: true });
  const refOut = await ref.output.read();
  const refDx = await ref.dQuery.read();
  const refGrads = await a.gradients();
  // Record a (self-attention, causal) by hand; b's plan for cross-attention is built alongside.
  const plan = a.plan({
    batch: B,
    seqLenQ: T,
    seqLenK: T,
    keyPaddingMask: false,
    causal: true,
    sharing: [0, 0, 0],
    training: true,
  });
  const bPlan = b.plan({ batch: B, seqLenQ: T, seqLenK: T, keyPaddingMask: false, causal: false, training: true });
  assert(
    plan.inputs.length === 1 && bPlan.inputs.length === 3,
    `${what}: distinct inputs ${plan.inputs.length}, ${bPlan.inputs.length}`,
  );
  assert(
    plan.forward.length === 3 && plan.backward.length === 8,
    `${what}: self-attention plan has ${plan.forward.length} + ${plan.backward.length} dispatches, expected 3 + 8`,
  );
  assert(
    bPlan.forward.length === 5 && bPlan.backward.length === 14,
    `${what}: cross-attention plan has ${bPlan.forward.length} + ${bPlan.backward.length} dispatches, expected 5 + 14`,
  );
  // clear: the recorded run must write them
  gpu.device.queue.writeBuffer(store.grads, 0, new Float32Array(store.length));
  const encoder = gpu.device.createCommandEncoder({ label: 'caller' });
  encoder.copyBufferToBuffer(x.buffer, 0, plan.inputs[0], 0, x.size * 4);
  encoder.copyBufferToBuffer(dOut.buffer, 0, plan.dOutput!, 0, dOut.size * 4);
  const pass = encoder.beginComputePass();
  encodeDispatches(pass, plan.forward);
  encodeDispatches(pass, plan.backward);
  pass.end();
  const outT = Tensor.empty(gpu, [B, T, E]);
  const dxT = Tensor.empty(gpu, [B, T, E]);
  encoder.copyBufferToBuffer(plan.output, 0, outT.buffer, 0, outT.size * 4);
  encoder.copyBufferToBuffer(plan.dInputs[0], 0, dxT.buffer, 0, dxT.size * 4);
  gpu.submit(encoder, plan.forward.length + plan.backward.length);
  assertClose(`${what}: output`, await outT.read(), refOut, { rtol: 1e-6, atol: 1e-7 });
  assertClose(`${what}: dInput`, await dxT.read(), refDx, { rtol: 1e-6, atol: 1e-7 });
  const grads = await a.gradients();
  for (const [name, want] of Object.entries(refGrads))
    assertClose(`${what}: grad ${name}`, grads[name].data, want.data, { rtol: 1e-6, atol: 1e-7 });
  // b's gradients were not touched by a's run.
  const bGrads = await b.gradients();
  for (const [name, g] of Object.entries(bGrads))
    assert(
      g.data.every((v) => v === 0),
      `${what}: dec.attn.${name} gradient changed by enc.attn's run`,
    );
  for (const t of [x, dOut, ref.output, ref.dQuery, outT, dxT]) t.destroy();
  a.destroy();
  b.destroy();
  store.destroy();
}

export const multiHeadAttentionChecks: Check[] = [
  ...stridedCases.map((c) => ({ name: stridedName(c), run: (gpu: Gpu) => checkStrided(gpu, c) })),
  ...(fixtures.sdpa as unknown as SdpaFixture[]).map((c) => ({
    name: `attention vs PyTorch 1.13: ${c.name} (output, dQ, dK, dV)`,
    run: (gpu: Gpu) => checkSdpaFixture(gpu, c),
  })),
  ...(fixtures.mha as unknown as MhaFixture[]).map((c) => ({
    name: `MultiHeadAttention vs PyTorch 1.13 nn.MultiheadAttention: ${c.name}`,
    run: (gpu: Gpu) => checkMhaFixture(gpu, c),
  })),
  ...mhaCases.map((c) => ({ name: mhaName(c), run: (gpu: Gpu) => checkMhaRandom(gpu, c) })),
  { name: 'MultiHeadAttention plan recorded in a caller-owned command buffer (shared store)', run: checkRecordedPlan },
];
