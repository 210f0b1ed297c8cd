"""Tensor-parallel loading: `get_slice(name)[rows]` against `get_tensor(name)`, in one run.
Run through `benches/python_load.sh DIR [RUNS] slices`.

For each model in DIR: its largest tensor cut into 8 row shards (rank k takes rows
k*R/8 .. (k+1)*R/8 of the first axis, as vLLM's and TGI's loaders do), each shard read with
elves' get_slice, against the whole tensor with get_tensor; the chunks a shard decodes, against
the tensor's; then a whole rank: rank 0's shard of every tensor of two or more axes with at
least 8 rows, every other tensor whole, against loading every tensor. safetensors' own
get_slice and get_tensor of the original run beside them. Medians of RUNS, routes alternated,
warm page cache; times in ms."""
import glob
import math
import os
import statistics
import sys
import tempfile
import time

import elves
import safetensors

DIR, RUNS = sys.argv[1], int(sys.argv[2])
SHARDS = 8


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def shard(rows, k):
    return rows * k // SHARDS, rows * (k + 1) // SHARDS


def chunks_of(info, a, b):
    """Chunks holding rows a..b, and the tensor's chunk count."""
    values = math.prod(info["shape"])
    row = values // info["shape"][0]
    c = max(info["chunk_len"], 1)
    total = math.ceil(values / c)
    if b <= a:
        return 0, total
    return (b * row - 1) // c - (a * row) // c + 1, total


def rank_load(f, k):
    out = {}
    for name in f.keys():
        s = f.get_slice(name)
        shape = s.get_shape()
        if len(shape) >= 2 and shape[0] >= SHARDS:
            a, b = shard(shape[0], k)
            out[name] = s[a:b]
        else:
            out[name] = f.get_tensor(name)
    return out


def all_tensors(f):
    return {name: f.get_tensor(name) for name in f.keys()}


def model(src, elv):
    with elves.safe_open(elv, "np") as e, safetensors.safe_open(src, "np") as s:
        name = max(e.keys(), key=lambda n: e.info(n)["decoded_bytes"])
        info = e.info(name)
        rows = info["shape"][0]
        # NumPy has no bf16: safetensors.numpy cannot give that model's tensors.
        st = info["dtype"] != "BF16"
        # Warm-up, and a check that both give the same rows.
        for k in range(SHARDS):
            a, b = shard(rows, k)
            got = e.get_slice(name)[a:b]
            if st and info["error_bound"] == 0.0:
                assert (got == s.get_slice(name)[a:b]).all()
        t = {key: [] for key in ("elv_full", "elv_slice", "st_full", "st_slice", "elv_rank", "elv_all")}
        for _ in range(RUNS):
            t["elv_full"].append(timed(lambda: e.get_tensor(name)))
            t["st_full"].append(timed(lambda: s.get_tensor(name)) if st else math.nan)
            for k in range(SHARDS):
                a, b = shard(rows, k)
                t["elv_slice"].append(timed(lambda: e.get_slice(name)[a:b]))
                t["st_slice"].append(timed(lambda: s.get_slice(name)[a:b]) if st else math.nan)
            t["elv_rank"].append(timed(lambda: rank_load(e, 0)))
            t["elv_all"].append(timed(lambda: all_tensors(e)))
        m = {key: statistics.median(v) * 1e3 for key, v in t.items()}
        decoded = [chunks_of(info, *shard(rows, k))[0] for k in range(SHARDS)]
        total = chunks_of(info, 0, rows)[1]
        print(f"| {os.path.basename(src)[:-12]} | {name} {info['shape']} {info['encoding']} "
              f"| {max(decoded)} of {total} | {m['elv_slice']:.2f} | {m['elv_full']:.2f} "
              f"| {m['elv_slice'] / m['elv_full']:.2f} | {m['st_slice']:.2f} | {m['st_full']:.2f} "
              f"| {m['elv_rank']:.1f} | {m['elv_all']:.1f} | {m['elv_rank'] / m['elv_all']:.2f} |")


def main():
    print(f"runs: {RUNS} (medians; a shard's time is the median over runs and the 8 shards)")
    print("| model | largest tensor | chunks a shard decodes (most) | elves get_slice ms | "
          "elves get_tensor ms | slice / tensor | safetensors get_slice ms | safetensors "
          "get_tensor ms | elves rank-0 load ms | elves every tensor ms | rank / all |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(dir=DIR) as work:
        for src in sorted(glob.glob(os.path.join(DIR, "*.safetensors"))):
            elv = os.path.join(work, os.path.basename(src)[:-12] + ".elv")
            elves.compress_file(src, elv)
            model(src, elv)


if __name__ == "__main__":
    main()
