"""PyTorch checkpoints compressed without torch: testdata/pytorch/train.pt (written by
torch.save) against train.safetensors (what torch.load(weights_only=True) gives), and a
checkpoint whose pickle would run a command, refused with nothing run."""
import json
import pathlib
import pickle
import struct
import zipfile

import numpy as np
import pytest

import elves

PT = pathlib.Path(__file__).resolve().parents[3] / "testdata" / "pytorch"


def _elv_tensors(path):
    """name -> (shape, raw bytes) of an `.elv`."""
    with elves.safe_open(str(path), "np") as f:
        return {k: (tuple(t.shape), np.ascontiguousarray(t).reshape(-1).view(np.uint8).tobytes())
                for k in f.keys() for t in [f.get_tensor(k)]}


def _safetensors_tensors(path):
    """name -> (shape, raw bytes) of a safetensors file, read from its header (safetensors'
    NumPy loader has no float8 types)."""
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    return {k: (tuple(v["shape"]), raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]])
            for k, v in header.items()}


def test_a_checkpoint_compresses_to_what_torch_loads(tmp_path):
    pytest.importorskip("ml_dtypes")
    out = tmp_path / "train.elv"
    done = elves.compress_file(PT / "train.pt", out)
    assert done["lossless"] and done["input_bytes"] == (PT / "train.pt").stat().st_size
    got = _elv_tensors(out)
    want = _safetensors_tensors(PT / "train.safetensors")
    assert got.keys() == want.keys() and len(got) == 48
    for k in want:
        assert got[k] == want[k], k
    with elves.safe_open(out, "np") as f:
        assert f.metadata()["epoch"] == "3"


class _Pwn:
    def __init__(self, canary):
        self.canary = canary

    def __reduce__(self):
        import os
        return (os.system, (f"touch {self.canary}",))


def test_a_pickle_that_would_run_a_command_is_refused(tmp_path):
    canary = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"w": _Pwn(canary)}, protocol=2))
        z.writestr("archive/version", "3\n")
    with pytest.raises(elves.ElvError, match=r"refused global (os|posix)\.system"):
        elves.compress_file(evil, tmp_path / "evil.elv")
    assert not canary.exists()
    assert not (tmp_path / "evil.elv").exists()
