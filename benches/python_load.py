"""Times loading a model into NumPy arrays, medians of RUNS, alternating the routes in one run.
Run through benches/python_load.sh."""
import glob
import os
import statistics
import sys
import tempfile
import time

import elves
import elves.numpy
import safetensors.numpy

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zipnn_file import dominant  # noqa: E402

DIR, RUNS = sys.argv[1], int(sys.argv[2])


def median_time(fn, runs):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def zipnn_route(path_znn, zpn):
    """ZipNN's route: decompress the .znn in memory, then load the safetensors bytes."""
    with open(path_znn, "rb") as f:
        data = zpn.decompress(f.read())
    return safetensors.numpy.load(bytes(data))


def main():
    try:
        from zipnn import ZipNN
    except Exception as e:  # pragma: no cover
        print(f"ZipNN unavailable: {e}")
        ZipNN = None
    print(f"runs per measurement: {RUNS} (medians), routes alternated; warm page cache")
    print("| model | safetensors load_file s | elves load_file s | elves / safetensors | ZipNN decompress+load s | elves / ZipNN | safe_open get_tensor of the smallest tensor, ms |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(dir=DIR) as work:
        for src in sorted(glob.glob(os.path.join(DIR, "*.safetensors"))):
            name = os.path.basename(src)[: -len(".safetensors")]
            elv = os.path.join(work, name + ".elv")
            elves.compress_file(src, elv)
            znn = zpn = None
            if ZipNN is not None:
                zpn = ZipNN(bytearray_dtype=dominant(src), threads=2)
                znn = os.path.join(work, name + ".znn")
                with open(src, "rb") as f, open(znn, "wb") as g:
                    g.write(zpn.compress(f.read()))
            # Warm-up loads, then alternated timed runs. safetensors.numpy cannot load bf16
            # (NumPy has no such dtype), so that model has no safetensors or ZipNN figure.
            try:
                safetensors.numpy.load_file(src)
                numpy_ok = True
            except TypeError:
                numpy_ok = False
            elves.numpy.load_file(elv)
            st, ev, zn = [], [], []
            for _ in range(RUNS):
                if numpy_ok:
                    st.append(median_time(lambda: safetensors.numpy.load_file(src), 1))
                ev.append(median_time(lambda: elves.numpy.load_file(elv), 1))
                if znn and numpy_ok:
                    zn.append(median_time(lambda: zipnn_route(znn, zpn), 1))
            with elves.safe_open(elv) as f:
                small = min(f.keys(), key=lambda k: f.info(k)["decoded_bytes"] or 1 << 62)
                one = median_time(lambda: f.get_tensor(small), max(RUNS, 21))
                f_size = f.info(small)["decoded_bytes"]
            s = statistics.median(st) if st else float("nan")
            e = statistics.median(ev)
            z = statistics.median(zn) if zn else float("nan")
            size = f_size
            print(f"| {name} | {s:.3f} | {e:.3f} | {e / s:.2f} | {z:.3f} | {e / z:.2f} | {one * 1e3:.3f} ({size} B) |")


if __name__ == "__main__":
    main()
