"""Writes the PyTorch fixtures with torch itself (run once; needs torch and safetensors):

    python testdata/pytorch/make.py testdata/pytorch

train.pt      torch.save of a training checkpoint: a small model's state dict, AdamW state
              after two steps, plain values, and tensors of every dtype .elv stores, as
              views (transposed, sliced, expanded, one storage shared by several).
train.safetensors
              what torch.load(weights_only=True) gives for it, flattened the way elves
              names tensors (dict keys and list indices joined with dots), written by
              safetensors: the expected result of reading train.pt without torch.
"""
import os
import sys

import torch
from safetensors.torch import save_file


def checkpoint():
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.LayerNorm(32), torch.nn.Linear(32, 8))
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
    for _ in range(2):
        m(torch.randn(4, 16)).square().mean().backward()
        opt.step()
        opt.zero_grad()
    base = torch.randn(6, 10)
    return {
        "model": m.state_dict(),
        "optimizer": opt.state_dict(),
        "epoch": 3,
        "best": float("nan"),
        "name": "run-7",
        "views": {
            "transposed": base.t(),
            "rows": base[1:4],
            "cols": base[:, 2:5],
            "full": base,
            "tied": base,
            "scalar": torch.tensor(7, dtype=torch.int64),
            "bf16": torch.randn(3, 5).to(torch.bfloat16),
            "f16": torch.randn(5).half(),
            "f64": torch.randn(2, 2, dtype=torch.float64),
            "i8": torch.arange(-4, 4, dtype=torch.int8),
            "u8": torch.arange(0, 8, dtype=torch.uint8),
            "i16": torch.arange(0, 8, dtype=torch.int16),
            "i32": torch.arange(0, 8, dtype=torch.int32),
            "bool": torch.tensor([True, False, True]),
            "f8": torch.randn(4).to(torch.float8_e4m3fn),
            "f8b": torch.randn(4).to(torch.float8_e5m2),
            "empty": torch.zeros(0, 3),
            "expanded": torch.randn(1, 4).expand(3, 4),
            # Since .elv 1.4.
            "c64": torch.randn(2, 3, dtype=torch.complex64),
            "c64_t": torch.randn(2, 3, dtype=torch.complex64).t(),
            "f8fnuz": torch.randn(4).to(torch.float8_e4m3fnuz),
            "f8bfnuz": torch.randn(4).to(torch.float8_e5m2fnuz),
            "e8m0": torch.tensor([1.0, 2.0, 0.5, 1024.0]).to(torch.float8_e8m0fnu),
        },
        "param": torch.nn.Parameter(torch.randn(3)),
    }


def holds_tensor(o):
    if isinstance(o, torch.Tensor):
        return True
    if isinstance(o, dict):
        return any(holds_tensor(v) for v in o.values())
    if isinstance(o, (list, tuple)):
        return any(holds_tensor(v) for v in o)
    return False


def flatten(o, name, out):
    if isinstance(o, torch.Tensor):
        out[name] = o.detach().clone().contiguous()
    elif holds_tensor(o):
        items = o.items() if isinstance(o, dict) else enumerate(o)
        for k, v in items:
            flatten(v, f"{name}.{k}" if name else str(k), out)


def main(folder):
    pt = os.path.join(folder, "train.pt")
    torch.save(checkpoint(), pt)
    out = {}
    flatten(torch.load(pt, weights_only=True), "", out)
    save_file(out, os.path.join(folder, "train.safetensors"))


if __name__ == "__main__":
    main(sys.argv[1])
