"""Every invalid conformance vector raises ElvError with the manifest's kind; every valid one
loads with the manifest's tensor count."""
import pathlib

import pytest

import elves
import elves.numpy as en
from elves._dtypes import SUB_BYTE

TESTDATA = pathlib.Path(__file__).resolve().parents[3] / "testdata"


def manifest():
    valid, invalid, bases = {}, {}, {}
    for line in (TESTDATA / "manifest.txt").read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        f = line.split("\t")
        if f[0] == "file":
            valid[f[1]] = int(f[2])
        elif f[0] == "invalid":
            invalid[f[1]] = f[2]
        elif f[0] == "base":
            bases[f[1]] = TESTDATA / f[2]
    return valid, invalid, bases


VALID, INVALID, BASES = manifest()


@pytest.mark.parametrize("path,kind", sorted(INVALID.items()))
def test_invalid_vectors_raise_their_kind(path, kind):
    with pytest.raises(elves.ElvError) as e:
        with elves.safe_open(TESTDATA / path, base=BASES.get(path)) as f:
            # Opening may pass; decoding every tensor must not.
            for name in f.keys():
                f.get_tensor(name)
            f._reader.verify()
    assert e.value.kind == kind, f"{path}: {e.value}"


# Valid files whose shapes NumPy cannot represent (it rejects [0, 2^40, 2^40] as too big).
NOT_NUMPY = {"valid/shape_zero_first.elv"}


@pytest.mark.parametrize("path,count", sorted(VALID.items()))
def test_valid_vectors_load(path, count):
    pytest.importorskip("ml_dtypes")
    if path in NOT_NUMPY:
        with pytest.raises(ValueError, match="cannot be a NumPy array"):
            en.load_file(TESTDATA / path)
        with elves.safe_open(TESTDATA / path) as f:
            assert len(f.keys()) == count and f.info(f.keys()[0])["decoded_bytes"] == 0
        return
    with elves.safe_open(TESTDATA / path, base=BASES.get(path)) as f:
        names = f.keys()
        members = f.members()
        if members:
            # A collection's model is its safetensors members' tensors; files are files.
            count = sum(len(n) for _, kind, n in members if kind == "safetensors")
        assert len(names) == count
    if len(set(names)) < len(names):
        # A collection whose members repeat a name: a dict cannot hold both.
        with pytest.raises(ValueError, match="repeats across the members"):
            en.load_file(TESTDATA / path)
        return
    with elves.safe_open(TESTDATA / path, base=BASES.get(path)) as f:
        packed = [n for n in names if f.get_slice(n).get_dtype() in SUB_BYTE]
        if packed:
            # NumPy has no sub-byte dtype: the tensors decode to their packed bytes.
            rows = f._reader.decode(packed)
            assert [len(flat) for *_, flat in rows] == [
                f.info(n)["decoded_bytes"] for n in packed]
            with pytest.raises(TypeError, match="packed"):
                f.get_tensor(packed[0])
            return
    tensors = en.load_file(TESTDATA / path, base=BASES.get(path))
    assert len(tensors) == count
