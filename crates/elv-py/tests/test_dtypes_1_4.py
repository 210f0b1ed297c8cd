"""The dtypes .elv 1.4 adds (C64, F8_E8M0, the FNUZ float8s, F4, F6): stored and read back as
safetensors stores them, against safetensors' own files where it reads them."""
import numpy as np
import pytest

import elves
import elves.numpy as en

ml_dtypes = pytest.importorskip("ml_dtypes")


def test_numpy_round_trip_of_c64_e8m0_and_fnuz(tmp_path):
    rng = np.random.default_rng(0)
    ts = {
        "c": (rng.standard_normal((4, 6)) + 1j * rng.standard_normal((4, 6))).astype(np.complex64),
        "s": np.array([1.0, 2.0, 0.5, 2.0**100], dtype=ml_dtypes.float8_e8m0fnu),
        "a": rng.standard_normal(16).astype(ml_dtypes.float8_e4m3fnuz),
        "b": rng.standard_normal(16).astype(ml_dtypes.float8_e5m2fnuz),
    }
    for lossy in (False, True):  # none is a float dtype ELF applies to: exact either way
        back = en.load(en.save(ts, lossy=lossy))
        for k, t in ts.items():
            assert back[k].dtype == t.dtype and back[k].shape == t.shape, k
            assert back[k].tobytes() == t.tobytes(), k
    with elves.safe_open(en.save(ts), "np") as f:
        assert {k: f.get_slice(k).get_dtype() for k in ts} == {
            "c": "C64", "s": "F8_E8M0", "a": "F8_E4M3FNUZ", "b": "F8_E5M2FNUZ"}
        assert np.array_equal(f.get_slice("c")[1:3, 2:], ts["c"][1:3, 2:])


def test_safetensors_files_with_the_new_dtypes_compress_and_read_back(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    c = np.arange(12, dtype=np.complex64).reshape(3, 4) * (1 - 2j)
    src = tmp_path / "c.safetensors"
    safetensors_numpy.save_file({"c": c}, src)
    elves.compress_file(src, tmp_path / "c.elv")
    assert np.array_equal(en.load_file(tmp_path / "c.elv")["c"], c)
    elves.decompress_file(tmp_path / "c.elv", tmp_path / "back.safetensors")
    assert (tmp_path / "back.safetensors").read_bytes() == src.read_bytes()


def packed_f4_file(tmp_path, shape, nbytes):
    """A safetensors file of one F4 tensor, written byte by byte as safetensors lays it out."""
    import json
    import struct
    header = json.dumps({"q": {"dtype": "F4", "shape": shape, "data_offsets": [0, nbytes]}})
    header += " " * (-len(header) % 8)
    p = tmp_path / "q.safetensors"
    p.write_bytes(struct.pack("<Q", len(header)) + header.encode() + bytes(range(nbytes)))
    return p


def test_f4_is_stored_as_its_packed_bytes_and_numpy_refuses_it_clearly(tmp_path):
    src = packed_f4_file(tmp_path, [3, 4], 6)
    elves.compress_file(src, tmp_path / "q.elv")
    with elves.safe_open(tmp_path / "q.elv", "np") as f:
        assert f.get_slice("q").get_shape() == [3, 4]
        assert f.get_slice("q").get_dtype() == "F4"
        assert f.info("q")["decoded_bytes"] == 6
        with pytest.raises(TypeError, match="packed 4 bits"):
            f.get_tensor("q")
        with pytest.raises(TypeError, match="below a byte"):
            f.get_slice("q")[1:2]
    elves.decompress_file(tmp_path / "q.elv", tmp_path / "back.safetensors")
    assert (tmp_path / "back.safetensors").read_bytes() == src.read_bytes()


def test_f4_values_that_do_not_fill_whole_bytes_are_refused(tmp_path):
    src = packed_f4_file(tmp_path, [3], 2)  # 12 bits
    with pytest.raises(elves.ElvError):
        elves.compress_file(src, tmp_path / "q.elv")


def test_torch_new_dtypes_round_trip_as_safetensors_writes_them(tmp_path):
    torch = pytest.importorskip("torch")
    import elves.torch as et
    ts = {"c": torch.randn(3, 4, dtype=torch.complex64)}
    for name, attr in [("a", "float8_e4m3fnuz"), ("b", "float8_e5m2fnuz"),
                       ("s", "float8_e8m0fnu")]:
        if hasattr(torch, attr):
            ts[name] = torch.rand(8).add(0.5).to(getattr(torch, attr))
    if hasattr(torch, "float4_e2m1fn_x2"):
        ts["q"] = torch.arange(8, dtype=torch.uint8).reshape(2, 4).view(torch.float4_e2m1fn_x2)
    back = et.load(et.save(ts))
    for k, t in ts.items():
        assert back[k].dtype == t.dtype and back[k].shape == t.shape, k
        assert torch.equal(back[k].view(torch.uint8), t.view(torch.uint8)), k
    st = pytest.importorskip("safetensors.torch")
    p = tmp_path / "t.safetensors"
    st.save_file(ts, p)
    elves.compress_file(p, tmp_path / "t.elv")
    with elves.safe_open(tmp_path / "t.elv", "pt") as f:
        for k, t in ts.items():
            assert torch.equal(f.get_tensor(k).view(torch.uint8), t.view(torch.uint8)), k
        if "q" in ts:
            assert f.get_slice("q").get_shape() == [2, 8]  # F4 values, as safetensors says
