"""Time to a loaded dict of NumPy arrays when the model comes through a slow source:
`safetensors.numpy.load` of the original against `elves.numpy.load` of the `.elv`, both
reading through the same rate-limited file object, and both from the page cache as files.
Run through `benches/python_load.sh DIR [RUNS] throttled`.

The slow source is a reader wrapper, not a network: `Throttled` serves `read` from a local
file as a link of RATE bytes/s would, with no per-request latency (each read finishes when
the link has carried its bytes since the previous one finished: a sleep, which releases the
GIL). safetensors has no file-object API, so its route reads the whole file through the
link and parses the bytes (what `safetensors.numpy.load(f.read())` does with an fsspec or
HTTP file); elves reads the ranges its tables and tensors need through the link
(`elves.numpy.load(f)`). Both `.elv` modes are shown: the default lossless file and
`lossy=True` (ELF, |error| <= 2^-24 for f32). Medians of RUNS, routes alternated; seconds."""
import glob
import os
import statistics
import sys
import tempfile
import time

import elves
import elves.numpy
import safetensors.numpy

DIR, RUNS = sys.argv[1], int(sys.argv[2])
RATES = [("1 GB/s", 1e9), ("250 MB/s", 250e6)]


class Throttled:
    """A binary file object over `path` whose reads arrive at `rate` bytes per second."""

    def __init__(self, path, rate):
        self.f = open(path, "rb")
        self.rate = rate
        self.free = time.perf_counter()  # when the link has carried everything asked so far
        self.carried = 0

    def _wait(self, n, asked):
        # The link starts carrying the bytes when they are asked for (or when it is free).
        self.free = max(asked, self.free) + n / self.rate
        self.carried += n
        time.sleep(max(0.0, self.free - time.perf_counter()))

    def read(self, n=-1):
        asked = time.perf_counter()
        b = self.f.read(n)
        self._wait(len(b), asked)
        return b

    def readinto(self, buf):
        asked = time.perf_counter()
        n = self.f.readinto(buf)
        self._wait(n, asked)
        return n

    def seek(self, off, whence=0):
        return self.f.seek(off, whence)

    def tell(self):
        return self.f.tell()

    def close(self):
        self.f.close()


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def safetensors_through(path, rate):
    f = Throttled(path, rate)
    try:
        return safetensors.numpy.load(f.read())
    finally:
        f.close()


def elves_through(path, rate, carried):
    f = Throttled(path, rate)
    try:
        out = elves.numpy.load(f)
        carried.append(f.carried)
        return out
    finally:
        f.close()


def main():
    print(f"runs: {RUNS} (medians, routes alternated); seconds to a dict of NumPy arrays")
    cols = ["page cache"] + [r for r, _ in RATES]
    head = " | ".join(f"{c}: safetensors / elves / elves lossy / ratio" for c in cols)
    print(f"| model | size MB, .elv MB, lossy MB | {head} |")
    print("|---|---|" + "---|" * len(cols))
    with tempfile.TemporaryDirectory(dir=DIR) as work:
        for src in sorted(glob.glob(os.path.join(DIR, "*.safetensors"))):
            name = os.path.basename(src)[: -len(".safetensors")]
            try:
                safetensors.numpy.load_file(src)
            except TypeError:
                print(f"| {name} | NumPy has no bf16: safetensors.numpy cannot load it |")
                continue
            exact = os.path.join(work, name + ".elv")
            lossy = os.path.join(work, name + ".lossy.elv")
            elves.compress_file(src, exact)
            elves.compress_file(src, lossy, lossy=True)
            sizes = [os.path.getsize(p) / 1e6 for p in (src, exact, lossy)]
            cells = []
            carried = []
            for label, rate in [("page cache", None)] + RATES:
                if rate is None:
                    routes = [lambda: safetensors.numpy.load_file(src),
                              lambda: elves.numpy.load_file(exact),
                              lambda: elves.numpy.load_file(lossy)]
                else:
                    routes = [lambda: safetensors_through(src, rate),
                              lambda: elves_through(exact, rate, carried),
                              lambda: elves_through(lossy, rate, [])]
                for r in routes:
                    r()  # warm-up
                t = [[], [], []]
                for _ in range(RUNS):
                    for k, r in enumerate(routes):
                        t[k].append(timed(r))
                s, e, l = (statistics.median(x) for x in t)
                cells.append(f"{s:.3f} / {e:.3f} / {l:.3f} / {e / s:.2f}, {l / s:.2f}")
            print(f"| {name} | {sizes[0]:.1f}, {sizes[1]:.1f}, {sizes[2]:.1f} | "
                  + " | ".join(cells) + " |")
            extra = (max(carried) - os.path.getsize(exact)) / 1e3 if carried else 0
            print(f"|  | elves read {extra:+.1f} kB beyond its file size through the link |")


if __name__ == "__main__":
    main()
