"""Compress a tree of models in parallel tasks on a Dask cluster: every `.safetensors` file
that is not part of a model folder becomes `FILE.elv`, and every model folder (a folder
holding `config.json` or several shards) one collection `FOLDER.elv` beside it.

    python compress_tree.py TREE [--workers N] [--scheduler ADDRESS] [--lossy]

Without `--scheduler`, a local cluster of N worker processes (default 2) runs the tasks;
with one, they run wherever that cluster's workers are (the tree must be on a file system
they all see). Each task is one `elves.compress_file` or `elves.compress_folder` call, which
uses the cores of its worker; prints a progress line per finished task and a final table.
"""
import argparse
import os
import sys
import time


def jobs(tree):
    """(kind, source, output) for every model folder and loose safetensors file under `tree`."""
    out = []
    for root, dirs, files in os.walk(tree):
        shards = [f for f in files if f.endswith(".safetensors")]
        if "config.json" in files or len(shards) > 1:
            out.append(("folder", root, root.rstrip(os.sep) + ".elv"))
            dirs[:] = []  # the folder is one collection, subfolders included
            continue
        out.extend(("file", os.path.join(root, f), os.path.join(root, f[:-12] + ".elv"))
                   for f in shards)
    return sorted(out)


def compress(kind, src, dst, lossy):
    """One task: compress `src` into `dst`; gives a row of the final table."""
    import elves
    t = time.perf_counter()
    fn = elves.compress_folder if kind == "folder" else elves.compress_file
    done = fn(src, dst, lossy=lossy, force=True)
    return {"source": src, "input": done["input_bytes"], "stored": done["output_bytes"],
            "seconds": time.perf_counter() - t}


def run(tree, client, lossy=False, out=sys.stdout):
    """Compresses every job of `tree` on `client`; gives the table's rows."""
    from distributed import as_completed
    todo = jobs(tree)
    futures = [client.submit(compress, k, s, d, lossy, pure=False) for k, s, d in todo]
    rows = []
    for i, f in enumerate(as_completed(futures), 1):
        rows.append(f.result())
        print(f"[{i}/{len(todo)}] {rows[-1]['source']}", file=out, flush=True)
    rows.sort(key=lambda r: r["source"])
    print(f"{'source':<60} {'input':>14} {'stored':>14} {'ratio':>7} {'s':>7}", file=out)
    for r in rows:
        ratio = r["input"] / max(r["stored"], 1)
        print(f"{r['source']:<60} {r['input']:>14,} {r['stored']:>14,} {ratio:>7.3f} "
              f"{r['seconds']:>7.2f}", file=out)
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("tree")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--scheduler")
    p.add_argument("--lossy", action="store_true")
    a = p.parse_args()
    from distributed import Client, LocalCluster
    if a.scheduler:
        client = Client(a.scheduler)
    else:
        client = Client(LocalCluster(n_workers=a.workers, threads_per_worker=1))
    with client:
        run(a.tree, client, a.lossy)


if __name__ == "__main__":
    main()
