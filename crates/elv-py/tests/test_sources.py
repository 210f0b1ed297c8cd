"""Sources other than a path: bytes, and any binary file-like object (what fsspec gives for a
URL), read by the ranges a tensor needs, never whole."""
import io
import pathlib

import numpy as np
import pytest

import elves
import elves.numpy as en

SAMPLE = pathlib.Path(__file__).resolve().parents[3] / "testdata" / "sample" / "minilm_sample.safetensors"


class Counting(io.BytesIO):
    """A file object that counts the bytes read from it."""

    def __init__(self, data):
        super().__init__(data)
        self.read_bytes = 0

    def read(self, n=-1):
        b = super().read(n)
        self.read_bytes += len(b)
        return b


@pytest.fixture(scope="module")
def elv_bytes(tmp_path_factory):
    z = tmp_path_factory.mktemp("sources") / "m.elv"
    elves.compress_file(SAMPLE, z)
    return z.read_bytes()


def test_bytes_file_objects_and_paths_read_the_same(elv_bytes, tmp_path):
    p = tmp_path / "m.elv"
    p.write_bytes(elv_bytes)
    want = en.load_file(p)
    for source in (elv_bytes, io.BytesIO(elv_bytes), open(p, "rb")):
        got = en.load_file(source)
        assert got.keys() == want.keys()
        assert all(np.array_equal(got[k], want[k]) for k in want)
    with elves.safe_open(io.BytesIO(elv_bytes)) as f:
        name = f.keys()[0]
        assert np.array_equal(f.get_tensor(name), want[name])


def test_one_tensor_reads_its_own_bytes_and_the_tables_only(elv_bytes):
    src = Counting(elv_bytes)
    with elves.safe_open(src) as f:
        opened = src.read_bytes
        name = max(f.keys(), key=lambda k: f.info(k)["stored_bytes"])
        small = min(f.keys(), key=lambda k: f.info(k)["stored_bytes"])
        before = src.read_bytes
        f.get_tensor(small)
        one = src.read_bytes - before
        assert one <= f.info(small)["stored_bytes"] + 64 * 1024, (one, f.info(small))
        before = src.read_bytes
        f.get_slice(name)[0:1]
        assert src.read_bytes - before <= f.info(name)["stored_bytes"] + 64 * 1024
    # The tables are what opening costs: far less than the file.
    assert opened < len(elv_bytes) // 4, (opened, len(elv_bytes))


def test_a_url_without_fsspec_names_what_is_missing(monkeypatch):
    import builtins
    real = builtins.__import__

    def no_fsspec(name, *a, **k):
        if name == "fsspec":
            raise ImportError("no fsspec")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_fsspec)
    with pytest.raises(ImportError, match="fsspec"):
        elves.safe_open("https://example.invalid/m.elv")
