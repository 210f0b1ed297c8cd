"""How much of the machine a decompression keeps busy: (user + sys) / wall of `elv -d -T2`,
`elv -d -T1` and single-threaded `zstd -d`, file to file, medians of RUNS, in one run with
the tools alternated (CPU times from the kernel's rusage of each process, in microseconds).
A ratio above 1 means more than one core at work.

    python3 benches/cpu_busy.py MODEL.safetensors [RUNS]

Needs zstd on PATH; builds elv in release mode."""
import os
import statistics
import subprocess
import sys
import tempfile
import time

MODEL = sys.argv[1]
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 7
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def measure(cmd):
    """(user + sys seconds, wall seconds) of `cmd`."""
    os.sync()
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    if status != 0:
        sys.exit(f"failed: {' '.join(cmd)}")
    return ru.ru_utime + ru.ru_stime, wall


def main():
    subprocess.run(["cargo", "build", "-q", "--release", "-p", "elv-cli"], cwd=ROOT, check=True)
    elv = os.path.join(ROOT, "target", "release", "elv")
    with tempfile.TemporaryDirectory() as work:
        z, zst, out = (os.path.join(work, n) for n in ("m.elv", "m.zst", "out"))
        subprocess.run([elv, "compress", "-q", "-f", MODEL, "-o", z], check=True)
        subprocess.run(["zstd", "-q", "-3", "-T2", "-f", MODEL, "-o", zst], check=True)
        cmds = {
            "elv -d -T2": [elv, "decompress", "-q", "-T2", "-f", z, "-o", out],
            "elv -d -T1": [elv, "decompress", "-q", "-T1", "-f", z, "-o", out],
            "zstd -d": ["zstd", "-q", "-d", "-f", zst, "-o", out],
        }
        busy = {k: [] for k in cmds}
        walls = {k: [] for k in cmds}
        for _ in range(RUNS):
            for name, cmd in cmds.items():
                cpu, wall = measure(cmd)
                busy[name].append(cpu / wall)
                walls[name].append(wall)
        z_busy = statistics.median(busy["zstd -d"])
        print(f"model: {os.path.basename(MODEL)}, runs: {RUNS} (medians, tools alternated)")
        print("| command | (user+sys)/wall | vs zstd -d | wall s |")
        print("|---|---|---|---|")
        for name in cmds:
            b = statistics.median(busy[name])
            print(f"| {name} | {b:.2f} | {b / z_busy:.2f} | {statistics.median(walls[name]):.3f} |")


if __name__ == "__main__":
    main()
