#!/usr/bin/env python3
"""Export a PyTorch model for seqgpu: its state_dict() as a .safetensors file, unchanged.

    python3 examples/export_pytorch.py [model.safetensors]

Uses safetensors.torch.save_model when the `safetensors` package is installed (it keeps one name of
tied weights), else writes the same bytes by hand (8-byte little-endian header length, a JSON
header of {dtype, shape, data_offsets} sorted by name, the raw float32 data).

Load it in seqgpu into a Module built from the same layers under the same field names (the
names, shapes and LSTM gate order are PyTorch's):

    class Tagger extends Module {
      constructor(gpu) {
        super(gpu);
        this.embed = new Embedding(gpu, { numEmbeddings: 20, embeddingDim: 8, paddingIdx: 0 });
        this.lstm = new LSTM(gpu, { inputSize: 8, hiddenSize: 12, batchFirst: true, bidirectional: true });
        this.drop = new Dropout(gpu, { p: 0.1 });
        this.head = new Linear(gpu, { inFeatures: 24, outFeatures: 5 });
      }
      forward(tokens) {
        return this.head.forward(this.drop.forward(this.lstm.forward(this.embed.forward(tokens)).output));
      }
    }
    const model = new Tagger(gpu);
    model.loadStateDict(new Uint8Array(await (await fetch('model.safetensors')).arrayBuffer()));
    // Node: model.loadStateDict(readFileSync('model.safetensors'))

TransformerEncoder, TransformerLM (tied or not; a sinusoid `pe` buffer is checked, not loaded) and
any tree of seqgpu's layers load the same way; test/node/pytorchInterchange.test.ts shows each.
"""
import json
import struct
import sys

import torch
import torch.nn as nn


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, 8, padding_idx=0)
        self.lstm = nn.LSTM(8, 12, batch_first=True, bidirectional=True)
        self.drop = nn.Dropout(0.1)
        self.head = nn.Linear(24, 5)

    def forward(self, tokens):
        return self.head(self.drop(self.lstm(self.embed(tokens))[0]))


def save_by_hand(model, path):
    """save_file's bytes for float32 tensors; a tied weight is written under each of its names."""
    sd = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    header, blobs, offset = {}, [], 0
    for name in sorted(sd):
        data = sd[name].numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(sd[name].shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "model.safetensors"
    model = Tagger()  # train it here; then:
    try:
        from safetensors.torch import save_model
    except ImportError:
        save_by_hand(model, path)
    else:
        save_model(model, path)
    print(f"wrote {path}: {', '.join(model.state_dict())}")


main()
