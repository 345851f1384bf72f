// Validation: the held-out splits tiled into windows (every held-out character after the first
// of its document is a target exactly once), the model's mean cross-entropy over them, and the
// unigram baseline — the cross-entropy of the training split's character frequencies on the
// same targets.

/** Target of a padding row (SequenceModel's default ignoreIndex: not counted). */
const IGNORE = -100;

/**
 * The validation batches, time-major [seqLen·batch]; the last window of each document and the
 * last batch are padded with ignored targets. Each batch carries `count`, its counted targets.
 */
export function validationBatches(valDocs, seqLen, batch) {
  const windows = [];
  for (const v of valDocs) {
    for (let start = 0; start < v.length - 1; start += seqLen)
      windows.push(v.subarray(start, Math.min(v.length, start + seqLen + 1)));
  }
  const batches = [];
  for (let w0 = 0; w0 < windows.length; w0 += batch) {
    const inputs = new Int32Array(seqLen * batch);
    const targets = new Int32Array(seqLen * batch).fill(IGNORE);
    let count = 0;
    for (let b = 0; b < batch && w0 + b < windows.length; b++) {
      const w = windows[w0 + b];
      for (let t = 0; t + 1 < w.length; t++) {
        inputs[t * batch + b] = w[t];
        targets[t * batch + b] = w[t + 1];
        count++;
      }
    }
    batches.push({ inputs, targets, seqLen, batch, count });
  }
  return batches;
}

/** `n` of the batches, evenly spread (all of them when n ≥ their number): a quick estimate. */
export function spread(batches, n) {
  if (n >= batches.length) return batches;
  return Array.from({ length: n }, (_, i) => batches[Math.floor((i * batches.length) / n)]);
}

/**
 * The model's mean loss over `batches` (weighted by counted targets), or null when `stop()`
 * turned true on the way.
 */
export async function validationLoss(model, batches, stop = () => false) {
  let sum = 0;
  let count = 0;
  for (const b of batches) {
    if (stop()) return null;
    sum += (await model.evaluate(b)) * b.count;
    count += b.count;
  }
  return { loss: sum / count, chars: count };
}

/**
 * Cross-entropy (nats per character) of the unigram model of `trainIds` (add-one smoothed over
 * the vocabulary) on the validation targets: the bar a language model has to clear.
 */
export function unigramBaseline(trainIds, valDocs, vocabSize) {
  const counts = new Float64Array(vocabSize).fill(1);
  for (const id of trainIds) counts[id]++;
  const total = trainIds.length + vocabSize;
  let sum = 0;
  let n = 0;
  for (const v of valDocs) {
    for (let i = 1; i < v.length; i++) {
      sum -= Math.log(counts[v[i]] / total);
      n++;
    }
  }
  return sum / n;
}
