#!/usr/bin/env python3
"""Cuts the small real fine-tune slice in this folder from the output of
../shared/data/make-finetunes.sh (all-MiniLM-L6-v2 trained here with AdamW):

  make_finetune_slice.py FINETUNES_DIR OUT_DIR

writes finetune_{base,full,lora}.safetensors: the same rows of the same tensors of the base
model, the full fine-tune and the merged LoRA fine-tune (rows 0..32 of two attention weights
and of the position embeddings, a LayerNorm weight and bias whole). Needs numpy only.
"""
import json
import struct
import sys

import numpy as np

PICK = [("encoder.layer.0.attention.self.query.weight", 32),
        ("encoder.layer.3.attention.self.key.weight", 32),
        ("embeddings.position_embeddings.weight", 32),
        ("encoder.layer.5.output.LayerNorm.weight", None),
        ("encoder.layer.5.output.LayerNorm.bias", None)]


def load(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    return header, data


def cut(src, dst):
    header, data = load(src)
    out_header, blobs, at = {}, [], 0
    for name, rows in PICK:
        e = header[name]
        a = np.frombuffer(data[e["data_offsets"][0]:e["data_offsets"][1]], dtype="<f4")
        a = a.reshape(e["shape"])
        if rows is not None:
            a = a[:rows]
        b = a.astype("<f4").tobytes()
        out_header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    h = json.dumps(out_header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


if __name__ == "__main__":
    src, out = sys.argv[1], sys.argv[2]
    for a, b in [("base", "base"), ("ft_full", "full"), ("ft_lora", "lora")]:
        cut(f"{src}/{a}.safetensors", f"{out}/finetune_{b}.safetensors")
