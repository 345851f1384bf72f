// The text a run trains on: the bundled public-domain corpus (demo/data/, see its README) or the
// user's --corpus file, as documents. The last VAL_FRACTION of each document is held out for
// validation, so every text of a mixed corpus is in both splits.
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { CharVocab } from '../../dist/index.js';
import { UsageError } from './args.mjs';

/** Held-out share of each document (its end). */
export const VAL_FRACTION = 0.1;

/** The bundled corpus, in demo/data/ (Shakespeare's sonnet 18 alone is left out: sonnets.txt has it). */
const BUNDLED = [
  'kjv-genesis.txt',
  'kjv-ruth.txt',
  'kjv-psalms.txt',
  'kjv-proverbs.txt',
  'kjv-ecclesiastes.txt',
  'kjv-song.txt',
  'sonnets.txt',
  'lusiadas.txt',
  'casmurro.txt',
];
const BUNDLED_PROMPT = 'And God said, ';

/**
 * Loads the documents, builds the vocabulary over all of them and splits each into its training
 * part (the first 90 %) and its validation part (the rest), as token ids.
 * @param file - The user's text file, or undefined for the bundled corpus.
 * @returns { name, documents, vocab, train (Int32Array, the training parts joined),
 *   val (Int32Array[] per document), chars, sha256, prompt }
 * @throws UsageError when the file cannot be read or is too short.
 */
export function loadCorpus(file) {
  const docs =
    file === undefined
      ? BUNDLED.map((name) => ({
          name,
          text: readText(new URL(`../data/${name}`, import.meta.url), `demo/data/${name}`),
        }))
      : [{ name: file, text: readText(file, file, '--corpus') }];
  const all = docs.map((d) => d.text).join('');
  const vocab = new CharVocab(all);
  const parts = docs.map((d) => {
    const ids = vocab.encode(d.text);
    const cut = Math.max(1, Math.floor(ids.length * (1 - VAL_FRACTION)));
    return { train: ids.subarray(0, cut), val: ids.subarray(cut) };
  });
  const train = new Int32Array(parts.reduce((n, p) => n + p.train.length, 0));
  let at = 0;
  for (const p of parts) {
    train.set(p.train, at);
    at += p.train.length;
  }
  const sha256 = createHash('sha256');
  for (const d of docs) sha256.update(`${d.name}\0${d.text}\0`);
  return {
    name: file === undefined ? `bundled corpus (${docs.length} public-domain texts, demo/data/)` : file,
    documents: docs.map((d) => d.name),
    vocab,
    train,
    val: parts.map((p) => p.val).filter((v) => v.length >= 2),
    chars: train.length + parts.reduce((n, p) => n + p.val.length, 0),
    sha256: sha256.digest('hex'),
    prompt: file === undefined ? BUNDLED_PROMPT : firstWords(all),
  };
}

/** Throws a UsageError unless the splits can feed windows of `seqLen`. */
export function checkCorpusSize(corpus, seqLen) {
  const where = corpus.documents.length === 1 ? `--corpus '${corpus.name}'` : 'the corpus';
  if (corpus.train.length < seqLen + 1) {
    throw new UsageError(
      `${where} has ${corpus.train.length} training characters (90 % ` +
        `of ${corpus.chars}); --seq-len ${seqLen} needs at least ${seqLen + 1}: give a ` +
        `longer text or a smaller --seq-len`,
    );
  }
  if (corpus.val.length === 0)
    throw new UsageError(`${where} is too short to hold out a validation split (${corpus.chars} characters)`);
}

function readText(path, shown, flag) {
  let text;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`${flag ?? 'the bundled corpus'}: cannot read '${shown}' (${e.code ?? e.message})`);
  }
  text = text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
  if (text.length === 0) throw new UsageError(`${flag ?? 'the bundled corpus'}: '${shown}' is empty`);
  return text;
}

/** The first words of a text (up to 16 characters, cut after a space): the default prompt. */
function firstWords(text) {
  const head = [...text].slice(0, 16).join('');
  const space = head.lastIndexOf(' ');
  return space > 0 ? head.slice(0, space + 1) : head;
}
