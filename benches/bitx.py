#!/usr/bin/env python3
"""The BitX method of ZipLLM, as a peer for elv's deltas (benches/delta.py).

For every tensor of FT with a same-name, same-dtype, same-shape tensor in BASE: XOR the bit
patterns, split each value into its exponent byte and its sign+mantissa byte(s) (for f32: 8
exponent bits, then the sign and 23 mantissa bits as 3 bytes; bf16: 8 + 8; f16: the 5
exponent bits as a byte, then sign and mantissa as 2 bytes), and compress each stream with
zstd -3. Other tensors are compressed whole with zstd -3. Prints the total stored bytes.

  bitx.py BASE.safetensors FT.safetensors        (needs numpy and the zstd command)
"""
import json
import struct
import subprocess
import sys

import numpy as np

DTYPES = {"F32": np.uint32, "BF16": np.uint16, "F16": np.uint16, "F64": np.uint64,
          "I64": np.uint64, "I32": np.uint32, "U8": np.uint8, "I8": np.uint8,
          "BOOL": np.uint8, "I16": np.uint16, "U16": np.uint16}


def tensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    header.pop("__metadata__", None)
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        out[name] = (e["dtype"], tuple(e["shape"]), data[b:end])
    return out


def zstd3(b):
    if not b:
        return 0
    return len(subprocess.run(["zstd", "-3", "-c", "-q"], input=b, capture_output=True,
                              check=True).stdout)


def streams(dtype, x):
    """Exponent stream and sign+mantissa byte streams of the XOR `x` (unsigned ints)."""
    if dtype == "F32":
        exp = ((x >> 23) & 0xFF).astype(np.uint8)
        sm = ((x >> 31) << 23 | (x & 0x7FFFFF)).astype(np.uint32)
        return [exp.tobytes(), sm.astype("<u4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes()]
    if dtype == "BF16":
        exp = ((x >> 7) & 0xFF).astype(np.uint8)
        sm = ((x >> 15) << 7 | (x & 0x7F)).astype(np.uint8)
        return [exp.tobytes(), sm.tobytes()]
    if dtype == "F16":
        exp = ((x >> 10) & 0x1F).astype(np.uint8)
        sm = ((x >> 15) << 10 | (x & 0x3FF)).astype("<u2")
        return [exp.tobytes(), sm.tobytes()]
    return [x.tobytes()]


def bitx_bytes(base_path, ft_path):
    base, ft = tensors(base_path), tensors(ft_path)
    total = 0
    for name, (dtype, shape, data) in ft.items():
        twin = base.get(name)
        if twin is None or twin[0] != dtype or twin[1] != shape or dtype not in DTYPES:
            total += zstd3(data)
            continue
        t = DTYPES[dtype]
        x = np.frombuffer(data, dtype=t) ^ np.frombuffer(twin[2], dtype=t)
        total += sum(zstd3(s) for s in streams(dtype, x))
    return total


if __name__ == "__main__":
    print(bitx_bytes(sys.argv[1], sys.argv[2]))
