"""Corpus benchmark driver; run through benches/corpus.sh."""
import glob
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

ELV, DIR, RUNS = sys.argv[1], sys.argv[2], int(sys.argv[3])
ZIPNN_PY = sys.argv[4] if len(sys.argv) > 4 and sys.argv[4] else None
HERE = os.path.dirname(os.path.abspath(__file__))


def timed(cmd, output):
    """Runs cmd under /usr/bin/time; returns (wall seconds, peak RSS in KiB). Seconds come from
    a monotonic clock around the process (/usr/bin/time's %e has 10 ms steps, too coarse for
    small models). A command that prints a number (the ZipNN driver) reports its own
    in-process seconds. The output a previous run left is removed first, outside the timing:
    replacing an existing file makes the kernel drop the old file's pages inside the timed
    run (a rename or truncation over a 91 MB file alone took 64-125 ms), which measures the
    last run rather than the tool."""
    if output != '/dev/null' and os.path.exists(output):
        os.remove(output)
    # Earlier runs' outputs are flushed first: the kernel writes dirty pages back a few
    # seconds after they were written, on these cores, and that landed on whichever tool ran
    # then (in one rotation the first tool decoded at half the speed of the same tool at -T1).
    os.sync()
    with tempfile.NamedTemporaryFile('r') as t:
        start = time.perf_counter()
        p = subprocess.run(['/usr/bin/time', '-f', '%M', '-o', t.name] + cmd, check=True,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        sec = time.perf_counter() - start
        rss = t.read().split()[-1]
        own = p.stdout.strip()
        return (float(own) if own else sec), int(rss)


def tools(src, work):
    base = os.path.join(work, os.path.basename(src))
    yield ('elv', [ELV, 'compress', '-q', '-f', '-T', '2', src, '-o', base + '.elv'],
           [ELV, 'decompress', '-q', '-f', '-T', '2', base + '.elv', '-o', base + '.elv.out'], base + '.elv', base + '.elv.out')
    yield ('elv --lossless', [ELV, 'compress', '--lossless', '-q', '-f', '-T', '2', src, '-o', base + '.l.elv'],
           [ELV, 'decompress', '-q', '-f', '-T', '2', base + '.l.elv', '-o', base + '.l.out'], base + '.l.elv', base + '.l.out')
    # One thread, for the -T2 / -T1 scaling; and decoding to /dev/null, which leaves out the
    # cost of writing the output file (elv's and zstd's alike).
    yield ('elv -T1', [ELV, 'compress', '-q', '-f', '-T', '1', src, '-o', base + '.t1.elv'],
           [ELV, 'decompress', '-q', '-f', '-T', '1', base + '.t1.elv', '-o', base + '.t1.out'], base + '.t1.elv', base + '.t1.out')
    yield ('elv -> /dev/null', [ELV, 'compress', '-q', '-f', '-T', '2', src, '-o', base + '.n.elv'],
           [ELV, 'decompress', '-q', '-T', '2', base + '.n.elv', '-o', '/dev/null'], base + '.n.elv', '/dev/null')
    yield ('zstd -d -> /dev/null', ['zstd', '-3', '-T2', '-q', '-f', src, '-o', base + '.n.zst'],
           ['zstd', '-d', '-q', '-f', base + '.n.zst', '-o', '/dev/null'], base + '.n.zst', '/dev/null')
    yield ('zstd -3 -T2', ['zstd', '-3', '-T2', '-q', '-f', src, '-o', base + '.zst'],
           ['zstd', '-d', '-q', '-f', base + '.zst', '-o', base + '.zst.out'], base + '.zst', base + '.zst.out')
    # The floor for any tool file to file: the same bytes read and written, nothing computed.
    yield ('cp (file copy)', ['cp', src, base + '.cp'], ['cp', base + '.cp', base + '.cp.out'],
           base + '.cp', base + '.cp.out')
    if ZIPNN_PY:
        drv = os.path.join(HERE, 'zipnn_file.py')
        yield ('ZipNN 0.5.4 (2 threads)', [ZIPNN_PY, drv, 'compress', src, base + '.znn'],
               [ZIPNN_PY, drv, 'decompress', base + '.znn', base + '.znn.out'], base + '.znn', base + '.znn.out')


def main():
    models = sorted(glob.glob(os.path.join(DIR, '*.safetensors')))
    if not models:
        sys.exit(f'no .safetensors in {DIR}')
    rows, failures = [], []
    tot = {}
    with tempfile.TemporaryDirectory(dir=DIR) as work:
        for src in models:
            size = os.path.getsize(src)
            name = os.path.basename(src)[:-len('.safetensors')]
            res = {}
            ts = list(tools(src, work))
            ctimes = {t[0]: [] for t in ts}
            dtimes = {t[0]: [] for t in ts}
            # Each round runs the tools in a new order (shuffled, seeded): with a fixed order
            # (and with rotations of it, which keep neighbours) the first tool listed ran
            # 10-35% slower than the same command later in the list, every model, three runs.
            order_of = random.Random(name)
            def rounds():
                for _ in range(RUNS):
                    yield order_of.sample(ts, len(ts))
            for order in rounds():
                for tool, comp, _, out, _ in order:
                    ctimes[tool].append(timed(comp, out))
            for order in rounds():
                for tool, _, decomp, _, back in order:
                    dtimes[tool].append(timed(decomp, back))
            for tool, _, _, out, back in ts:
                c, d = ctimes[tool], dtimes[tool]
                csize = os.path.getsize(out)
                cs, ds = statistics.median(x[0] for x in c), statistics.median(x[0] for x in d)
                res[tool] = (size / csize, size / 1e6 / max(cs, 1e-3), size / 1e6 / max(ds, 1e-3),
                             max(x[1] for x in c), max(x[1] for x in d))
                t = tot.setdefault(tool, [0, 0, 0.0, 0.0])
                t[0] += size; t[1] += csize; t[2] += cs; t[3] += ds
                if tool.startswith('ZipNN') and open(back, 'rb').read() != open(src, 'rb').read():
                    failures.append(f'{name} {tool}: ZipNN round trip differs')
                if tool.startswith('elv'):
                    v = subprocess.run([ELV, 'verify', '-q', out, '--against', src], capture_output=True, text=True)
                    if v.returncode != 0:
                        failures.append(f'{name} {tool}: verify --against failed: {v.stdout.strip()[-300:]}')
                    if 'lossless' in tool and back != '/dev/null' and open(back, 'rb').read() != open(src, 'rb').read():
                        failures.append(f'{name} {tool}: round trip not byte-identical')
                for p in (out, back):
                    if p != '/dev/null':
                        os.remove(p)
            rows.append((name, size, res))
    peers = [t for t in tot if not t.startswith('elv') and '/dev/null' not in t]
    print(f'runs per measurement: {RUNS} (medians, tools in a shuffled order each round); threads: 2 unless marked; file to file, warm page cache, previous output removed and dirty pages synced before each run; ZipNN timed in-process\n')
    head = '| model | tool | CR | compress MB/s | decompress MB/s | peak RSS c/d MiB |'
    print(head)
    print('|---|---|---|---|---|---|')
    for name, size, res in rows:
        for tool, (cr, cm, dm, rc, rd) in res.items():
            print(f'| {name} | {tool} | {cr:.3f} | {cm:.0f} | {dm:.0f} | {rc/1024:.0f} / {rd/1024:.0f} |')
    print('\noverall (sum of sizes / sum of median times):\n')
    print('| tool | CR | compress MB/s | decompress MB/s |' + ''.join(f' c× {p} | d× {p} |' for p in peers))
    print('|---|---|---|---|' + '---|---|' * len(peers))
    for tool, (orig, comp, cs, ds) in tot.items():
        cm, dm = orig / 1e6 / cs, orig / 1e6 / ds
        rel = ''
        for p in peers:
            po, _, pcs, pds = tot[p]
            rel += f' {cm / (po / 1e6 / pcs):.2f} | {dm / (po / 1e6 / pds):.2f} |'
        print(f'| {tool} | {orig / comp:.3f} | {cm:.0f} | {dm:.0f} |{rel}')
    if failures:
        print('\nFAILURES:\n' + '\n'.join(failures))
        sys.exit(1)
    print('\nall elv files pass `elv verify --against`; all --lossless round trips are byte-identical')


main()
