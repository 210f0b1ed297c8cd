"""The scale-out example: a tree of models compressed in parallel on a local Dask cluster of
two workers (skipped without dask.distributed)."""
import importlib.util
import pathlib
import shutil

import pytest

import elves
import elves.numpy as en

HERE = pathlib.Path(__file__).resolve().parent
SAMPLE = HERE.parents[2] / "testdata" / "sample"


def test_a_tree_compresses_on_a_local_cluster(tmp_path):
    distributed = pytest.importorskip("distributed")
    spec = importlib.util.spec_from_file_location("compress_tree",
                                                  HERE.parent / "examples" / "compress_tree.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    tree = tmp_path / "tree"
    (tree / "loose").mkdir(parents=True)
    shutil.copy(SAMPLE / "minilm_sample.safetensors", tree / "loose" / "a.safetensors")
    model = tree / "org" / "model"
    model.mkdir(parents=True)
    shutil.copy(SAMPLE / "finetune_base.safetensors", model / "model.safetensors")
    (model / "config.json").write_text("{}\n")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    with distributed.Client(cluster) as client:
        log = tmp_path / "log.txt"
        with open(log, "w") as out:
            rows = example.run(str(tree), client, out=out)
    cluster.close()
    assert [pathlib.Path(r["source"]).name for r in rows] == ["a.safetensors", "model"]
    assert all(r["stored"] < r["input"] for r in rows)
    assert "[2/2]" in log.read_text() and "ratio" in log.read_text()
    st = pytest.importorskip("safetensors.numpy")
    want = st.load_file(str(SAMPLE / "minilm_sample.safetensors"))
    back = en.load_file(tree / "loose" / "a.elv")  # lossless by default: bit for bit
    assert back.keys() == want.keys()
    assert all((back[k] == want[k]).all() for k in want)
    with elves.safe_open(tree / "org" / "model.elv") as f:
        assert [m[0] for m in f.members()] == ["config.json", "model.safetensors"]
