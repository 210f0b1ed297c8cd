"""The reader's limits from Python: a load larger than the memory available is an ElvError,
not an out-of-memory kill; every limit of the Rust reader can be set; whole-file loads check
the padding as SPEC.md §4.1 asks."""
import pathlib

import pytest

import elves
import elves.numpy as en

DATA = pathlib.Path(__file__).resolve().parents[3] / "testdata"
# 5 KB: a 64 MiB tensor of zeros and 1,023 references to it, 64 GiB decoded.
HUGE = DATA / "sample" / "declares_64gb.elv"
SAMPLE = DATA / "sample" / "minilm_sample.safetensors"


def available_bytes():
    for line in open("/proc/meminfo"):
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return None


def test_a_load_larger_than_the_memory_available_is_refused():
    avail = available_bytes()
    if avail is None or avail > 64 << 30:
        pytest.skip("this machine could hold the 64 GiB")
    with pytest.raises(elves.ElvError) as e:
        en.load_file(HUGE)
    assert e.value.kind == "LimitExceeded"
    assert "68.72 GB" in str(e.value) and "memory available" in str(e.value)
    # One tensor at a time is what it asks for, and works.
    with elves.safe_open(HUGE) as f:
        assert f.get_tensor("t7").nbytes == 64 << 20


def test_every_reader_limit_is_reachable():
    with pytest.raises(elves.ElvError) as e:
        en.load_file(HUGE, limits={"max_decoded_bytes": 1 << 30})
    assert e.value.kind == "LimitExceeded"
    with pytest.raises(elves.ElvError) as e:
        elves.safe_open(HUGE, limits={"max_tensors": 100})
    assert e.value.kind == "LimitExceeded"
    with pytest.raises(elves.ElvError) as e:
        elves.decompress_file(HUGE, "/nonexistent/out", limits={"max_decoded_bytes": 1 << 30})
    assert e.value.kind == "LimitExceeded"
    with pytest.raises(ValueError, match="unknown limit"):
        en.load_file(HUGE, limits={"max_tensor": 1})


def test_max_load_bytes_bounds_one_load(tmp_path):
    z = tmp_path / "m.elv"
    elves.compress_file(SAMPLE, z)
    with pytest.raises(elves.ElvError) as e:
        en.load_file(z, limits={"max_load_bytes": 1000})
    assert e.value.kind == "LimitExceeded" and "max_load_bytes" in str(e.value)
    assert len(en.load_file(z, limits={"max_load_bytes": 1 << 30})) > 0


def test_a_whole_file_load_checks_the_padding():
    bad = DATA / "invalid" / "padding_nonzero.elv"
    with pytest.raises(elves.ElvError) as e:
        en.load_file(bad)
    assert e.value.kind == "ReservedNonZero"
