// The Seq2Seq topology as a Module: encoder (Embedding → packed RNN), bridge (decoder h0/c0 of
// layer l = Σ over directions of the encoder's hN/cN of layer l), decoder (Embedding → RNN over
// every step at once: teacherForcingRatio 1 feeds the gold previous token), Luong / Bahdanau
// attention over the encoder outputs with the padding masked, combine h̃ = tanh(W_c [c; h] + b_c),
// output layer, cross-entropy ignoring the padding. Under Seq2Seq's parameter names it loads
// Seq2Seq's state dict (strict); over 3 Adam steps the Trainer's losses and the parameters after
// them equal Seq2Seq.trainStep's, and a step takes no more dispatches than Seq2Seq's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Embedding,
  F,
  GRU,
  Linear,
  LSTM,
  Module,
  RNN,
  Seq2Seq,
  Tensor,
  Trainer,
  rng,
  type Gpu,
  type RecurrentOutputs,
} from '../../src/index.js';
import { BahdanauAttention, LuongAttention } from '../../src/nn/layers/attention.js';
import type { Seq2SeqOptions } from '../../src/models/seq2seq.js';
import { testGpu } from './gpu.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.destroy());

type Config = Required<
  Pick<
    Seq2SeqOptions,
    | 'cell'
    | 'srcVocab'
    | 'tgtVocab'
    | 'embeddingDim'
    | 'hiddenSize'
    | 'numLayers'
    | 'bidirectional'
    | 'attnDim'
    | 'bosToken'
    | 'eosToken'
    | 'padToken'
    | 'seed'
  >
> & { attention: 'dot' | 'general' | 'additive' };

type Recurrent = RNN | LSTM | GRU;
const recurrent = (gpu: Gpu, c: Config, bidirectional: boolean): Recurrent => {
  const o = {
    inputSize: c.embeddingDim,
    hiddenSize: c.hiddenSize,
    numLayers: c.numLayers,
    bidirectional,
    batchFirst: true,
  };
  return c.cell === 'lstm' ? new LSTM(gpu, o) : c.cell === 'gru' ? new GRU(gpu, o) : new RNN(gpu, o);
};

/** encoder.embedding, encoder.rnn.* */
class Encoder extends Module {
  embedding: Embedding;
  rnn: Recurrent;
  constructor(gpu: Gpu, c: Config) {
    super(gpu);
    this.embedding = new Embedding(gpu, {
      numEmbeddings: c.srcVocab,
      embeddingDim: c.embeddingDim,
      paddingIdx: c.padToken,
    });
    this.rnn = recurrent(gpu, c, c.bidirectional);
  }
  /**
   * Packed by the source lengths: output [B, Ts, D·H] (0 at padding), hN (cN) [L·D, B, H] after each row's last token.
   */
  forward(src: Tensor, lengths: Int32Array): RecurrentOutputs {
    return this.rnn.forward(this.embedding.forward(src), { lengths });
  }
}

/** decoder.embedding, decoder.rnn.*, decoder.combine, decoder.out */
class Decoder extends Module {
  embedding: Embedding;
  rnn: Recurrent;
  combine: Linear;
  out: Linear;
  constructor(gpu: Gpu, c: Config) {
    super(gpu);
    const H = c.hiddenSize,
      DH = (c.bidirectional ? 2 : 1) * H;
    this.embedding = new Embedding(gpu, {
      numEmbeddings: c.tgtVocab,
      embeddingDim: c.embeddingDim,
      paddingIdx: c.padToken,
    });
    this.rnn = recurrent(gpu, c, false);
    this.combine = new Linear(gpu, { inFeatures: DH + H, outFeatures: H }); // W_c [c_t; h_t]
    this.out = new Linear(gpu, { inFeatures: H, outFeatures: c.tgtVocab });
  }
  /** Every step at once (teacher forcing): output [B, Tt, H]. */
  forward(decIn: Tensor, state: { h0: Tensor; c0?: Tensor }): RecurrentOutputs {
    return this.rnn.forward(this.embedding.forward(decIn), state);
  }
  /** logits = W_o·tanh(W_c [c; h] + b_c) + b_o. */
  head(context: Tensor, h: Tensor): Tensor {
    return this.out.forward(F.tanh(this.combine.forward(F.concat([context, h], 2))));
  }
}

/** Seq2Seq's training forward with full teacher forcing, batch first throughout. */
class Seq2SeqModule extends Module {
  encoder: Encoder;
  decoder: Decoder;
  attention: LuongAttention | BahdanauAttention;
  constructor(
    gpu: Gpu,
    readonly c: Config,
  ) {
    super(gpu);
    const H = c.hiddenSize,
      DH = (c.bidirectional ? 2 : 1) * H;
    this.encoder = new Encoder(gpu, c);
    this.decoder = new Decoder(gpu, c);
    this.attention =
      c.attention === 'additive'
        ? new BahdanauAttention(gpu, { hiddenSize: H, keySize: DH, attentionSize: c.attnDim })
        : new LuongAttention(gpu, { hiddenSize: H, keySize: DH, score: c.attention });
  }

  /** Decoder h0 (c0) of layer l = Σ_d encoder hN (cN) of layer l: [L·D, B, H] → [L, B, H]. */
  private bridge(s: Tensor): Tensor {
    if (!this.c.bidirectional) return s;
    const [LD, B, H] = s.shape;
    const L = LD / 2;
    const pairs = F.reshape(s, [L, 2 * B * H]); // row l: [forward | reverse] of layer l
    return F.reshape(F.add(F.slice(pairs, 1, 0, B * H), F.slice(pairs, 1, B * H, 2 * B * H)), [L, B, H]);
  }

  /**
   * @param src - i32 [B, Ts] source ids, padded.
   * @param lengths - Source lengths (host data, one per row).
   * @param keyMask - f32 [B, Ts]: 1 = source token, 0 = padding.
   * @param decIn - i32 [B, Tt] decoder inputs: BOS, target[:-1], padding.
   * @returns Logits [B, Tt, tgtVocab].
   */
  forward(src: Tensor, lengths: Int32Array, keyMask: Tensor, decIn: Tensor): Tensor {
    const enc = this.encoder.forward(src, lengths);
    const h0 = this.bridge(enc.hN);
    const dec = this.decoder.forward(decIn, enc.cN ? { h0, c0: this.bridge(enc.cN) } : { h0 });
    const { context } = this.attention.forward(dec.output, enc.output, { keyMask }); // [B, Tt, D·H]
    return this.decoder.head(context, dec.output);
  }
}

/** A batch the way Seq2Seq.upload builds it (batch first here; Seq2Seq is time-major, the loss is the same mean). */
function makeBatch(rand: () => number, c: Config, srcLens: number[], tgtLens: number[]) {
  const B = srcLens.length;
  const Ts = Math.max(...srcLens),
    Tt = Math.max(...tgtLens) + 1; // + EOS
  // Ids that are none of the special tokens (a pad inside a target would be ignored by one side only).
  const token = (V: number) => {
    for (;;) {
      const t = Math.floor(rand() * V);
      if (t !== c.padToken && t !== c.bosToken && t !== c.eosToken) return t;
    }
  };
  const srcSeqs = srcLens.map((n) => Array.from({ length: n }, () => token(c.srcVocab)));
  const tgtSeqs = tgtLens.map((n) => Array.from({ length: n }, () => token(c.tgtVocab)));
  const src = new Int32Array(B * Ts).fill(c.padToken);
  const mask = new Float32Array(B * Ts);
  const decIn = new Int32Array(B * Tt).fill(c.padToken);
  const targets = new Int32Array(B * Tt).fill(c.padToken);
  for (let b = 0; b < B; b++) {
    srcSeqs[b].forEach((t, i) => {
      src[b * Ts + i] = t;
      mask[b * Ts + i] = 1;
    });
    const y = tgtSeqs[b];
    decIn[b * Tt] = c.bosToken;
    for (let t = 1; t <= y.length; t++) decIn[b * Tt + t] = y[t - 1];
    for (let t = 0; t <= y.length; t++) targets[b * Tt + t] = t < y.length ? y[t] : c.eosToken;
  }
  return {
    pairs: { src: srcSeqs, tgt: tgtSeqs },
    inputs: [
      Tensor.from(gpu, src, [B, Ts]),
      Int32Array.from(srcLens),
      Tensor.from(gpu, mask, [B, Ts]),
      Tensor.from(gpu, decIn, [B, Tt]),
    ] as [Tensor, Int32Array, Tensor, Tensor],
    targets: Tensor.from(gpu, targets, [B, Tt]),
  };
}

const base = { srcVocab: 13, tgtVocab: 11, embeddingDim: 5, hiddenSize: 6, bosToken: 1, eosToken: 2, padToken: 0 };
const configs: Array<[string, Config]> = [
  [
    'GRU, general attention, 2-layer bidirectional encoder',
    { ...base, cell: 'gru', numLayers: 2, bidirectional: true, attention: 'general', attnDim: 6, seed: 3 },
  ],
  [
    'LSTM, additive attention (attnDim 4), 2 layers',
    { ...base, cell: 'lstm', numLayers: 2, bidirectional: false, attention: 'additive', attnDim: 4, seed: 5 },
  ],
  [
    'LSTM, dot attention, 1 layer',
    { ...base, cell: 'lstm', numLayers: 1, bidirectional: false, attention: 'dot', attnDim: 6, seed: 7 },
  ],
];

describe('the Seq2Seq topology as a Module', () => {
  for (const [name, c] of configs) {
    it(`${name}: same losses and parameters as Seq2Seq.trainStep over 3 Adam steps`, async () => {
      const s2s = new Seq2Seq(gpu, c);
      s2s.configureTraining({ optimizer: { kind: 'adam', lr: 0.01 }, teacherForcingRatio: 1 });
      const mine = new Seq2SeqModule(gpu, c);
      const sd = await s2s.stateDict();
      expect(
        mine
          .namedParameters()
          .map((p) => p.name)
          .sort(),
      ).toEqual(Object.keys(sd).sort());
      mine.loadStateDict(sd, { strict: true });
      const trainer = new Trainer(mine, {
        loss: 'crossEntropy',
        optimizer: { kind: 'adam', lr: 0.01 },
        ignoreIndex: c.padToken,
      });
      const rand = rng(100 + c.seed);
      // Fixed padded lengths (one plan each side); the rows' own lengths change per step.
      const lens: Array<[number[], number[]]> = [
        [
          [5, 2, 4],
          [3, 4, 1],
        ],
        [
          [1, 5, 3],
          [4, 2, 4],
        ],
        [
          [5, 5, 2],
          [2, 4, 3],
        ],
      ];
      for (const [s, [srcLens, tgtLens]] of lens.entries()) {
        const batch = makeBatch(rand, c, srcLens, tgtLens);
        const a = (await s2s.trainStep(batch.pairs, { readLoss: true }))!;
        const b = (await trainer.step({ inputs: batch.inputs, targets: batch.targets }, { readLoss: true }))!;
        console.log(`${name} step ${s}: Seq2Seq loss ${a}, Module loss ${b}`);
        expect(Math.abs(a - b), `step ${s}: Seq2Seq ${a} vs Module ${b}`).toBeLessThanOrEqual(1e-5 * Math.abs(a));
        for (const t of [batch.inputs[0], batch.inputs[2], batch.inputs[3], batch.targets]) t.destroy();
      }
      const after = await s2s.stateDict();
      let worst = 0,
        at = '';
      for (const p of mine.namedParameters()) {
        const got = await p.read();
        const want = after[p.name].data as Float32Array;
        for (let i = 0; i < got.length; i++) {
          const d = Math.abs(got[i] - want[i]);
          if (!(d <= worst)) [worst, at] = [d, `${p.name}[${i}]`];
        }
      }
      expect(worst, `parameters after 3 steps: worst difference at ${at}`).toBeLessThan(1e-5);
      const ours = trainer.lastRun!.dispatches,
        theirs = s2s.lastRun!.dispatches;
      console.log(
        `${name}: Seq2Seq.trainStep ${theirs} dispatches; the same model as a ` +
          `Module: ${ours} (${JSON.stringify(trainer.lastRun)}); worst parameter ` +
          `difference ${worst.toExponential(2)} at ${at}`,
      );
      expect(ours).toBeLessThanOrEqual(theirs);
      trainer.destroy();
      mine.destroy();
      s2s.destroy();
    }, 120_000);
  }
});
