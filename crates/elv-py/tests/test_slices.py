"""safe_open(...).get_slice(name)[index], as safetensors has it: the same arrays as
safetensors' own get_slice on the original file, reading only the rows asked for."""
import pathlib

import numpy as np
import pytest
from safetensors import safe_open as st_open

import elves
import elves.numpy

SAMPLE = pathlib.Path(__file__).resolve().parents[3] / "testdata" / "sample" / "minilm_sample.safetensors"

INDEXES = [
    slice(2, 5), (slice(None), slice(1, 3)), 3, -1, slice(None, None, 2), slice(5, 1, -1),
    Ellipsis, (slice(2, 5), slice(None, None, 2)), (slice(0, 0),), (slice(1, 4), 7),
    slice(-3, None), (slice(None), Ellipsis),
]


@pytest.fixture(scope="module")
def elv_file(tmp_path_factory):
    z = tmp_path_factory.mktemp("slices") / "m.elv"
    elves.compress_file(SAMPLE, z)  # lossless: every slice must equal the original's
    return z


def test_slices_equal_safetensors_slices(elv_file):
    with st_open(SAMPLE, framework="np") as ref, elves.safe_open(elv_file) as f:
        names = ref.keys()
        assert sorted(names) == sorted(f.keys())
        checked = 0
        for name in names:
            want, got = ref.get_slice(name), f.get_slice(name)
            assert got.get_shape() == want.get_shape()
            assert got.get_dtype() == want.get_dtype()
            rank = len(want.get_shape())
            for index in INDEXES:
                key = index if isinstance(index, tuple) else (index,)
                if rank == 0 or len([k for k in key if k is not Ellipsis]) > rank:
                    continue
                if rank == 1 and isinstance(index, tuple) and len(index) > 1 and index[1] is not Ellipsis:
                    continue
                try:
                    expected = ref.get_tensor(name)[index]
                except IndexError:
                    with pytest.raises(IndexError):
                        got[index]
                    continue
                sliced = got[index]
                assert sliced.dtype == expected.dtype and sliced.shape == expected.shape, (name, index)
                assert np.array_equal(sliced, expected), (name, index)
                checked += 1
        assert checked > 50


def test_a_row_out_of_range_is_an_index_error(elv_file):
    with elves.safe_open(elv_file) as f:
        name = f.keys()[0]
        s = f.get_slice(name)
        with pytest.raises(IndexError):
            s[s.get_shape()[0]]


def test_the_rest_of_safe_opens_surface_matches_safetensors(elv_file, tmp_path):
    with st_open(SAMPLE, framework="np") as ref, elves.safe_open(elv_file) as f:
        assert f.keys() == ref.keys()
        assert f.offset_keys() == ref.offset_keys()
        got, want = f.get_tensors(), ref.get_tensors()
        assert got.keys() == want.keys()
        assert all(np.array_equal(got[k], want[k]) for k in want)
    with pytest.raises(ValueError, match="closed"):
        f.keys()


def test_save_does_not_depend_on_dict_order():
    import elves.numpy as en
    a = {"b": np.arange(6, dtype=np.float32), "a": np.ones((2, 2), np.int64)}
    b = dict(reversed(list(a.items())))
    assert en.save(a) == en.save(b)


def test_safetensors_backend_argument_is_accepted(elv_file):
    import elves.numpy as en
    for backend in ("mmap", "pread"):
        assert en.load_file(elv_file, backend=backend).keys()
        with elves.safe_open(elv_file, backend=backend) as f:
            assert f.keys()
    with pytest.raises(ValueError, match="backend"):
        en.load_file(elv_file, backend="gds")


def test_raw_serialize_and_deserialize_match_safetensors(tmp_path):
    import safetensors
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    b = np.array([1, -2, 3], dtype=np.int64)
    def specs(mod):
        return {"b": mod.TensorSpec(dtype="int64", shape=[3], data_ptr=b.ctypes.data,
                                     data_len=b.nbytes),
                "a": mod.TensorSpec(dtype="float32", shape=[3, 4], data_ptr=a.ctypes.data,
                                    data_len=a.nbytes)}
    want = dict(safetensors.deserialize(safetensors.serialize(specs(safetensors))))
    got = dict(elves.deserialize(elves.serialize(specs(elves), {"k": "v"})))
    assert got == want
    # safetensors' own specs are accepted too.
    assert dict(elves.deserialize(elves.serialize(specs(safetensors)))) == want
    elves.serialize_file(specs(elves), tmp_path / "raw.elv")
    back = elves.numpy.load_file(tmp_path / "raw.elv")
    assert np.array_equal(back["a"], a) and np.array_equal(back["b"], b)
    with pytest.raises(ValueError, match="Unknown dtype"):
        elves.TensorSpec(dtype="F32", shape=[1], data_ptr=a.ctypes.data, data_len=4)
