#!/usr/bin/env python3
"""Delta benchmark driver; run through benches/delta.sh.

For each (base, fine-tune) pair found in the folder (names as make-finetunes.sh writes them),
in one run: elv lossless and default deltas, elv alone (no base), zstd --patch-from and the
BitX method (bitx.py). Ratio = fine-tune size / stored size; speeds are medians of RUNS in
MB/s of the fine-tune; peak RSS from /usr/bin/time. Then a folder round trip: the model folder
the fine-tunes came from, compressed and decompressed, compared with diff -r.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

ELV, DIR, RUNS, PY = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
HERE = os.path.dirname(os.path.abspath(__file__))
PAIRS = [("base", "ft_full", "full fine-tune"), ("base", "ft_lora", "LoRA, merged"),
         ("ckpt_1", "ckpt_2", "checkpoint 1 -> 2 (weights + Adam)"),
         ("ckpt_2", "ckpt_3", "checkpoint 2 -> 3 (weights + Adam)"),
         ("base_bf16", "ft_full_bf16", "full fine-tune, bf16")]


def timed(cmd):
    with tempfile.NamedTemporaryFile("r") as t:
        start = time.perf_counter()
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", t.name] + cmd, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - start, int(t.read().split()[-1])


def median_runs(cmd):
    runs = [timed(cmd) for _ in range(RUNS)]
    return statistics.median(r[0] for r in runs), max(r[1] for r in runs)


def tools(base, ft, work):
    out = os.path.join(work, "x")
    yield ("elv delta, lossless", [ELV, "compress", "-q", "-f", "--lossless", "--base", base, ft, "-o", out + ".l.elv"],
           [ELV, "-d", "-q", "-f", "--base", base, out + ".l.elv", "-o", out + ".l.st"], out + ".l.elv", out + ".l.st", True)
    yield ("elv delta, default", [ELV, "compress", "-q", "-f", "--base", base, ft, "-o", out + ".d.elv"],
           [ELV, "-d", "-q", "-f", "--base", base, out + ".d.elv", "-o", out + ".d.st"], out + ".d.elv", out + ".d.st", False)
    yield ("elv alone, lossless", [ELV, "compress", "-q", "-f", "--lossless", ft, "-o", out + ".a.elv"],
           [ELV, "-d", "-q", "-f", out + ".a.elv", "-o", out + ".a.st"], out + ".a.elv", out + ".a.st", True)
    yield ("elv alone, default", [ELV, "compress", "-q", "-f", ft, "-o", out + ".ad.elv"],
           [ELV, "-d", "-q", "-f", out + ".ad.elv", "-o", out + ".ad.st"], out + ".ad.elv", out + ".ad.st", False)
    yield ("zstd -3 --patch-from", ["zstd", "-3", "-q", "-f", f"--patch-from={base}", ft, "-o", out + ".zst"],
           ["zstd", "-d", "-q", "-f", f"--patch-from={base}", out + ".zst", "-o", out + ".z.st"], out + ".zst", out + ".z.st", True)


def main():
    pairs = [(b, f, what) for b, f, what in PAIRS
             if os.path.exists(os.path.join(DIR, b + ".safetensors"))
             and os.path.exists(os.path.join(DIR, f + ".safetensors"))]
    if not pairs:
        sys.exit(f"no fine-tune pairs in {DIR} (run ../shared/data/make-finetunes.sh {DIR})")
    failures = []
    print(f"| pair | tool | ratio | x BitX | compress MB/s | decompress MB/s | peak RSS c/d MiB |")
    print("|---|---|---|---|---|---|---|")
    for b, f, what in pairs:
        base = os.path.join(DIR, b + ".safetensors")
        ft = os.path.join(DIR, f + ".safetensors")
        size = os.path.getsize(ft)
        start = time.perf_counter()
        bitx = int(subprocess.run([PY, os.path.join(HERE, "bitx.py"), base, ft], check=True,
                                  capture_output=True, text=True).stdout)
        bitx_s = time.perf_counter() - start
        bitx_ratio = size / bitx
        with tempfile.TemporaryDirectory(dir=os.path.dirname(os.path.abspath(DIR))) as work:
            for name, c, d, packed, back, exact in tools(base, ft, work):
                ct, crss = median_runs(c)
                stored = os.path.getsize(packed)
                dt, drss = median_runs(d)
                if exact and subprocess.run(["cmp", "-s", back, ft]).returncode != 0:
                    failures.append(f"{what}: {name} does not round trip")
                ratio = size / stored
                print(f"| {what} | {name} | {ratio:.3f} | {ratio / bitx_ratio:.2f} | "
                      f"{size / ct / 1e6:.0f} | {size / dt / 1e6:.0f} | {crss // 1024} / {drss // 1024} |")
        print(f"| {what} | BitX (XOR, byte split, zstd -3; Python) | {bitx_ratio:.3f} | 1.00 | "
              f"{size / bitx_s / 1e6:.0f} | - | - |")
    model = os.path.join(DIR, ".wheels", "model")
    if os.path.isdir(model):
        with tempfile.TemporaryDirectory(dir=os.path.dirname(os.path.abspath(DIR))) as work:
            packed, back = os.path.join(work, "model.elv"), os.path.join(work, "back")
            for mode in (["--lossless"], []):
                ct, crss = timed([ELV, "compress", "-q", "-f", *mode, model, "-o", packed])
                dt, drss = timed([ELV, "-d", "-q", "-f", packed, "-o", back])
                total = sum(os.path.getsize(os.path.join(r, n)) for r, _, ns in os.walk(model) for n in ns)
                # Lossless: the whole tree; default: every file but the (lossy) weights.
                skip = [] if mode else ["-x", "*.safetensors"]
                same = subprocess.run(["diff", "-r", *skip, model, back], capture_output=True).returncode == 0
                label = "lossless, diff -r" if mode else "default, diff -r of all but *.safetensors"
                files = sum(len(n) for _, _, n in os.walk(model))
                print(f"\nfolder {model} ({total} bytes, {files} files), {label}: "
                      f"{'identical' if same else 'DIFFERS'}; ratio {total / os.path.getsize(packed):.3f}, "
                      f"compress {ct:.2f} s ({crss // 1024} MiB), decompress {dt:.2f} s ({drss // 1024} MiB)")
                if not same:
                    failures.append(f"folder round trip ({label}) differs")
                subprocess.run(["rm", "-rf", back], check=True)
    for f in failures:
        print("FAIL:", f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
