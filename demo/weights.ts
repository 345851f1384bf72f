// Saving and loading a model's weights as a safetensors file under PyTorch's parameter names
// (`embedding.weight`, `rnn.weight_ih_l0`, `head.weight`, … the Transformer's `tok_embed.weight`,
// `layers.0.self_attn.in_proj_weight`, … or the seq2seq names), loadable with
// `safetensors.torch.load_file`. The file's `__metadata__` records the demo parameters that shape
// the model (task, text, cell, sizes, …), so loading it here rebuilds the same model first; a file
// without them (e.g. written by PyTorch) loads into the current model if names and shapes match.
import { parseSafetensors, writeSafetensors, type NamedTensor } from '../src/index.js';
import { MODEL_KEYS, type Params } from './params.js';

export interface WeightFile {
  tensors: Record<string, NamedTensor>;
  /** The model-shaping parameters the file was saved with, when it has them. */
  config: Partial<Params> | null;
  /** The training step it was saved at, when known. */
  step: number | null;
}

export function encodeWeights(tensors: Record<string, NamedTensor>, params: Params, step: number): Uint8Array {
  const config = Object.fromEntries(MODEL_KEYS.map((k) => [k, params[k]]));
  return writeSafetensors(tensors, {
    format: 'pt',
    producer: 'seqgpu demo',
    seqgpu_demo: JSON.stringify(config),
    step: String(step),
  });
}

/** The `__metadata__` of a safetensors file (parseSafetensors returns only the tensors). */
function readMetadata(bytes: Uint8Array): Record<string, string> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + len))) as {
    __metadata__?: Record<string, string>;
  };
  return header.__metadata__ ?? {};
}

export function decodeWeights(file: ArrayBuffer): WeightFile {
  const bytes = new Uint8Array(file);
  const tensors = parseSafetensors(bytes); // throws naming what is malformed
  const meta = readMetadata(bytes);
  let config: Partial<Params> | null = null;
  if (meta.seqgpu_demo) {
    try {
      config = JSON.parse(meta.seqgpu_demo) as Partial<Params>;
      // Files from before the char LM's model selector: the cell was its model.
      if (config.task === 'charLM' && config.lmModel === undefined && config.cell) config.lmModel = config.cell;
    } catch {
      config = null;
    }
  }
  const step = meta.step !== undefined && Number.isFinite(Number(meta.step)) ? Number(meta.step) : null;
  return { tensors, config, step };
}

/** Offers `bytes` as a file download. */
export function download(bytes: Uint8Array, filename: string): void {
  const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type: 'application/octet-stream' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Calls `onFile` with each file chosen in `input` (the page's hidden file input; "load" clicks it). */
export function watchFileInput(input: HTMLInputElement, onFile: (name: string, bytes: ArrayBuffer) => void): void {
  input.addEventListener('change', async () => {
    const f = input.files?.[0];
    if (!f) return;
    const bytes = await f.arrayBuffer();
    input.value = ''; // choosing the same file again fires 'change' again
    onFile(f.name, bytes);
  });
}

export function weightFileName(p: Params, step: number): string {
  const what =
    p.task === 'charLM' ? `charlm-${p.text}` : p.task === 'timeSeries' ? 'timeseries' : `seq2seq-${p.attention}`;
  const model =
    p.task !== 'charLM'
      ? `${p.cell}-${p.numLayers}x${p.hiddenSize}`
      : p.lmModel === 'transformer'
        ? `transformer-${p.numLayers}x${p.dModel}h${p.nhead}`
        : `${p.lmModel}-${p.numLayers}x${p.hiddenSize}`;
  return `seqgpu-${what}-${model}-step${step}.safetensors`;
}
