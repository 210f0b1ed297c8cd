"""Every invalid conformance vector raises ElvError with the manifest's kind; every valid one
loads with the manifest's tensor count."""
import pathlib

import pytest

import elves
import elves.numpy as en

TESTDATA = pathlib.Path(__file__).resolve().parents[3] / "testdata"


def manifest():
    valid, invalid = {}, {}
    for line in (TESTDATA / "manifest.txt").read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        f = line.split("\t")
        if f[0] == "file":
            valid[f[1]] = int(f[2])
        elif f[0] == "invalid":
            invalid[f[1]] = f[2]
    return valid, invalid


VALID, INVALID = manifest()


@pytest.mark.parametrize("path,kind", sorted(INVALID.items()))
def test_invalid_vectors_raise_their_kind(path, kind):
    with pytest.raises(elves.ElvError) as e:
        with elves.safe_open(TESTDATA / path) as f:
            # Opening may pass; decoding every tensor must not.
            for name in f.keys():
                f.get_tensor(name)
            f._reader.verify()
    assert e.value.kind == kind, f"{path}: {e.value}"


@pytest.mark.parametrize("path,count", sorted(VALID.items()))
def test_valid_vectors_load(path, count):
    pytest.importorskip("ml_dtypes")
    tensors = en.load_file(TESTDATA / path)
    assert len(tensors) == count
