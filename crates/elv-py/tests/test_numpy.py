"""elves.numpy round trips: every dtype, both modes, metadata, files and bytes."""
import numpy as np
import pytest

import elves
import elves.numpy as en

ml_dtypes = pytest.importorskip("ml_dtypes")

RNG = np.random.default_rng(7)


def weights(dtype, shape=(37, 29)):
    return (RNG.standard_normal(shape) * 0.05).astype(dtype)


ALL = {
    "f32": weights(np.float32),
    "f64": weights(np.float64),
    "f16": weights(np.float16),
    "bf16": weights(np.float32).astype(ml_dtypes.bfloat16),
    "f8e4m3": weights(np.float32).astype(ml_dtypes.float8_e4m3fn),
    "f8e5m2": weights(np.float32).astype(ml_dtypes.float8_e5m2),
    "i8": RNG.integers(-128, 127, 100, dtype=np.int8),
    "u8": RNG.integers(0, 255, 100, dtype=np.uint8),
    "i16": RNG.integers(-999, 999, 100, dtype=np.int16),
    "u16": RNG.integers(0, 999, 100, dtype=np.uint16),
    "i32": RNG.integers(-99999, 99999, 100, dtype=np.int32),
    "u32": RNG.integers(0, 99999, 100, dtype=np.uint32),
    "i64": np.arange(512, dtype=np.int64).reshape(1, 512),
    "u64": RNG.integers(0, 2**40, 100, dtype=np.uint64),
    "bool": RNG.integers(0, 2, 100).astype(np.bool_),
    "scalar": np.array(0.25, dtype=np.float32),
    "empty": np.zeros((3, 0, 2), dtype=np.float32),
}


def bits(a):
    return np.ascontiguousarray(a).view(np.uint8)


def test_the_default_round_trip_of_every_dtype_is_bit_exact(tmp_path):
    # Like safetensors, save_file keeps every bit unless asked otherwise.
    p = tmp_path / "m.elv"
    en.save_file(ALL, p)
    back = en.load_file(p)
    # Stored sorted by name, as safetensors stores them, whatever the dict's order.
    assert list(back) == sorted(ALL)
    for k, a in ALL.items():
        assert back[k].dtype == a.dtype and back[k].shape == a.shape, k
        assert np.array_equal(bits(back[k]), bits(a)), k
    # The same through bytes.
    back = en.load(en.save(ALL))
    assert all(np.array_equal(bits(back[k]), bits(a)) for k, a in ALL.items())


def test_lossy_mode_keeps_the_stated_bound():
    edge = np.array([0.0, -0.0, 1e-45, -1e-40, 2**-24, 2**-25, 0.999_999_94, -1.0, 3.0,
                     np.inf, -np.inf, np.nan, 0.1415926], dtype=np.float32)
    tensors = {"w": weights(np.float32, (256, 64)), "edge": edge, "f64": weights(np.float64)}
    lossy = en.save(tensors, lossy=True)
    # Only an explicit lossy=True changes bits, and it buys a smaller file.
    assert len(lossy) < len(en.save(tensors))
    back = en.load(lossy)
    assert not np.array_equal(bits(back["w"]), bits(tensors["w"]))
    for k, a in tensors.items():
        b = back[k]
        bound = 2.0**-24 if a.dtype == np.float32 else 2.0**-53
        inside = np.abs(a) < 1
        assert np.all(np.abs(b[inside].astype(np.float64) - a[inside].astype(np.float64)) <= bound), k
        # Outside (-1, 1), NaN and ±inf: bit-exact; nothing non-zero becomes zero.
        assert np.array_equal(bits(b[~inside]), bits(a[~inside])), k
        assert not np.any((a != 0) & (b == 0)), k
    tiny = np.abs(edge) <= 2**-24
    assert np.array_equal(bits(back["edge"][tiny]), bits(edge[tiny]))


def test_half_floats_stay_exact_by_default_and_elf_half_bounds_them():
    h = {"h": weights(np.float16, (512,)), "b": weights(np.float32, (512,)).astype(ml_dtypes.bfloat16)}
    back = en.load(en.save(h, lossy=True))
    assert np.array_equal(bits(back["h"]), bits(h["h"])) and np.array_equal(bits(back["b"]), bits(h["b"]))
    with pytest.raises(ValueError, match="lossy=True"):
        en.save(h, elf_half=True)
    back = en.load(en.save(h, lossy=True, elf_half=True))
    assert np.all(np.abs(back["h"].astype(np.float64) - h["h"].astype(np.float64)) <= 2**-11)
    assert np.all(np.abs(back["b"].astype(np.float64) - h["b"].astype(np.float64)) <= 2**-8)


def test_metadata_round_trips_and_safe_open_reads_one_tensor(tmp_path):
    p = tmp_path / "m.elv"
    en.save_file({"a": weights(np.float32), "b": np.arange(10, dtype=np.int64)}, p,
                 metadata={"format": "np", "note": "tab\there"})
    with elves.safe_open(p, framework="np") as f:
        assert f.keys() == ["a", "b"]
        assert f.metadata() == {"format": "np", "note": "tab\there"}
        assert np.array_equal(f.get_tensor("b"), np.arange(10, dtype=np.int64))
        info = f.info("a")
        assert info["dtype"] == "F32" and info["shape"] == [37, 29]
        assert info["encoding"] in ("elf", "planes", "bytes", "raw", "de")
        assert info["decoded_bytes"] == 37 * 29 * 4 and info["stored_bytes"] > 0
        assert info["error_bound"] in (0.0, 2.0**-24)
        assert 1 <= info["chunk_len"] <= 37 * 29
        with pytest.raises(KeyError):
            f.get_tensor("missing")


def test_duplicates_are_stored_once():
    a = weights(np.float32, (128, 128))
    one = len(en.save({"a": a}))
    two = en.save({"a": a, "b": a.copy()})
    assert len(two) < one + 1024
    back = en.load(two)
    assert np.array_equal(bits(back["a"]), bits(back["b"]))


def test_bad_input_is_a_typed_error(tmp_path):
    with pytest.raises(TypeError):
        en.save({"x": [1, 2, 3]})
    p = tmp_path / "junk.elv"
    p.write_bytes(bytes(range(256)) * 3)
    with pytest.raises(elves.ElvError) as e:
        en.load_file(p)
    assert e.value.kind == "BadMagic"
    assert isinstance(e.value, ValueError)
    with pytest.raises(OSError):
        en.load_file(tmp_path / "missing.elv")


def test_big_endian_arrays_are_stored_as_their_values():
    tensors = {"f": weights(np.float32).astype(">f4"), "i": np.arange(-50, 50, dtype=">i8"),
               "h": weights(np.float16).astype(">f2")}
    back = en.load(en.save(tensors))
    for k, a in tensors.items():
        assert back[k].dtype == a.dtype.newbyteorder("<"), k
        assert np.array_equal(back[k], a), k


def test_metadata_must_be_strings():
    with pytest.raises(TypeError, match="str to str"):
        en.save({"a": np.zeros(2, np.float32)}, metadata={"epoch": 3})


def test_wrong_inputs_are_named_as_the_cli_names_them(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    model = tmp_path / "model.safetensors"
    st.save_file({"a": np.zeros(4, np.float32)}, str(model))
    with pytest.raises(elves.ElvError, match="a safetensors file, not .elv") as e:
        en.load_file(model)
    assert e.value.kind == "InvalidInput"
    with pytest.raises(elves.ElvError, match="a folder: compress it as one collection"):
        elves.compress_file(tmp_path, tmp_path / "out.elv")
    ckpt = tmp_path / "pytorch_model.bin"
    ckpt.write_bytes(b"PK\x03\x04" + bytes(60))
    with pytest.raises(elves.ElvError, match="a zip archive, as PyTorch checkpoints"):
        elves.compress_file(ckpt, tmp_path / "out.elv")
    text = tmp_path / "notes.elv"
    text.write_text("hello\n")
    with pytest.raises(elves.ElvError, match="a text file"):
        elves.safe_open(text)
    assert not (tmp_path / "out.elv").exists()
