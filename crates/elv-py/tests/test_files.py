"""compress_file / decompress_file with the CLI's guarantees, on the real sample model."""
import os
import pathlib

import numpy as np
import pytest

import elves
import elves.numpy as en

SAMPLE = pathlib.Path(__file__).resolve().parents[3] / "testdata" / "sample" / "minilm_sample.safetensors"


def test_lossless_file_round_trip_is_byte_identical(tmp_path):
    z, back = tmp_path / "m.elv", tmp_path / "back.safetensors"
    done = elves.compress_file(SAMPLE, z)
    assert z.stat().st_size < SAMPLE.stat().st_size
    # The default keeps every bit, and says so.
    assert done["lossless"] and done["error_bound"] == 0.0
    assert done["output_bytes"] == z.stat().st_size
    assert done["input_bytes"] == SAMPLE.stat().st_size
    elves.decompress_file(z, back)
    assert back.read_bytes() == SAMPLE.read_bytes()


def test_existing_outputs_and_the_input_are_protected(tmp_path):
    z = tmp_path / "m.elv"
    z.write_bytes(b"keep")
    with pytest.raises(FileExistsError):
        elves.compress_file(SAMPLE, z)
    assert z.read_bytes() == b"keep"
    elves.compress_file(SAMPLE, z, force=True)
    copy = tmp_path / "in.safetensors"
    copy.write_bytes(SAMPLE.read_bytes())
    with pytest.raises(ValueError):
        elves.compress_file(copy, copy, force=True)
    assert copy.read_bytes() == SAMPLE.read_bytes()


def test_default_mode_on_real_weights_keeps_the_bound(tmp_path):
    safetensors = pytest.importorskip("safetensors.numpy")
    z = tmp_path / "m.elv"
    done = elves.compress_file(SAMPLE, z, lossy=True)
    assert not done["lossless"] and done["error_bound"] == 2.0**-24
    orig = safetensors.load_file(str(SAMPLE))
    back = en.load_file(z)
    assert list(back) == list(orig)
    for k, a in orig.items():
        if a.dtype == np.float32:
            assert np.max(np.abs(back[k].astype(np.float64) - a.astype(np.float64))) <= 2**-24, k
        else:
            assert np.array_equal(back[k], a), k


def test_safe_open_reads_only_what_it_needs(tmp_path):
    z = tmp_path / "m.elv"
    elves.compress_file(SAMPLE, z)
    with elves.safe_open(z, framework="np") as f:
        name = "encoder.layer.0.attention.self.query.bias"
        assert name in f.keys()
        t = f.get_tensor(name)
        assert t.shape == (384,) and t.dtype == np.float32
        # The sample's safetensors __metadata__, carried through the .elv.
        assert "MiniLM" in f.metadata()["source"]


def test_metadata_survives_save_file_and_decompress_file(tmp_path):
    safetensors = pytest.importorskip("safetensors")
    z, back = tmp_path / "m.elv", tmp_path / "back.safetensors"
    en.save_file({"w": np.ones((4, 4), np.float32)}, z, metadata={"format": "np", "step": "7"})
    elves.decompress_file(z, back)
    with safetensors.safe_open(str(back), framework="np") as f:
        assert f.metadata() == {"format": "np", "step": "7"}


def test_a_folder_is_compressed_as_one_collection(tmp_path):
    folder = tmp_path / "model"
    (folder / "tokenizer").mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(SAMPLE.read_bytes())
    (folder / "config.json").write_text('{"hidden_size": 384}\n')
    (folder / "tokenizer" / "vocab.txt").write_text("[PAD]\n[UNK]\n")
    out = tmp_path / "model.elv"
    # compress_file names the function to call instead.
    with pytest.raises(elves.ElvError, match="compress_folder"):
        elves.compress_file(folder, out)
    done = elves.compress_folder(folder, out)
    assert done["lossless"] and done["output_bytes"] == out.stat().st_size
    with elves.safe_open(out) as f:
        assert [m[0] for m in f.members()] == ["config.json", "model.safetensors",
                                               "tokenizer/vocab.txt"]
        assert bytes(f.get_tensor("config.json", member="config.json")) == \
            b'{"hidden_size": 384}\n'
    # Never over a file of the folder, even with force.
    with pytest.raises(ValueError, match="is the input"):
        elves.compress_folder(folder, folder / "config.json", force=True)
    assert (folder / "config.json").read_text() == '{"hidden_size": 384}\n'


def test_one_thread_is_enough(tmp_path):
    # threads=1 runs the work in a one-thread pool whose only worker is the caller: the
    # pipelined writer must run its items itself rather than wait for them.
    z = tmp_path / "m.elv"
    elves.compress_file(SAMPLE, z, threads=1)
    w = np.arange(4096, dtype=np.float32) / 4096
    assert np.array_equal(en.load(en.save({"w": w}, threads=1))["w"], w)
    back = tmp_path / "back.safetensors"
    elves.decompress_file(z, back, threads=1)
    assert back.read_bytes() == SAMPLE.read_bytes()
