"""Deltas against a base model and collections, through the Python package: a fine-tune
compressed against its base decodes only with that base, bit for bit when lossless."""
import pathlib

import pytest

import elves
import elves.numpy as en

SAMPLE = pathlib.Path(__file__).resolve().parents[3] / "testdata" / "sample"
TESTDATA = SAMPLE.parent


def test_a_lossless_delta_needs_its_base_and_round_trips(tmp_path):
    base, ft = SAMPLE / "finetune_base.safetensors", SAMPLE / "finetune_full.safetensors"
    out = tmp_path / "ft.elv"
    elves.compress_file(ft, out, base=base)
    alone = tmp_path / "alone.elv"
    elves.compress_file(ft, alone)
    assert out.stat().st_size < alone.stat().st_size
    with pytest.raises(elves.ElvError) as e:
        en.load_file(out)
    assert e.value.kind == "BaseMissing"
    with pytest.raises(elves.ElvError) as e:
        en.load_file(out, base=SAMPLE / "finetune_lora.safetensors")
    assert e.value.kind == "BaseMismatch"
    back = tmp_path / "back.safetensors"
    elves.decompress_file(out, back, base=base)
    assert back.read_bytes() == ft.read_bytes()
    with elves.safe_open(out, base=base) as f:
        kinds = {f.info(n)["encoding"] for n in f.keys()}
    assert "delta" in kinds


def test_members_of_a_collection_are_listed_and_read_each_on_its_own():
    path = TESTDATA / "valid" / "collection.elv"
    with elves.safe_open(path) as f:
        members = f.members()
        assert [m[0] for m in members] == ["config.json", "model-00001-of-00002.safetensors",
                                           "model-00002-of-00002.safetensors",
                                           "tokenizer/vocab.txt", "unused"]
        assert [m[1] for m in members] == ["file", "safetensors", "safetensors", "file",
                                           "folder"]
        first = f.get_tensor("w", member="model-00001-of-00002.safetensors")
        second = f.get_tensor("w", member="model-00002-of-00002.safetensors")
        assert first.shape == (4,) and second.shape == (2,)
        config = f.get_tensor("config.json", member="config.json")
        assert bytes(config) == b'{"hidden_size": 8}\n'
        # The model's weights are the safetensors members' tensors; files are read as files.
        assert "config.json" not in f.keys() and "w" in f.keys()
        assert f.read_file("config.json") == b'{"hidden_size": 8}\n'
        assert f.read_file("tokenizer/vocab.txt") == b"a\nb\nc\n"
        with pytest.raises(KeyError):
            f.get_tensor("w", member="no/such/member")


def test_a_collection_decompresses_to_its_folder(tmp_path):
    out = tmp_path / "model"
    elves.decompress_file(TESTDATA / "valid" / "collection.elv", out)
    assert (out / "config.json").read_bytes() == b'{"hidden_size": 8}\n'
    assert (out / "tokenizer" / "vocab.txt").is_file()
    assert (out / "unused").is_dir()
    st = pytest.importorskip("safetensors.numpy")
    first = st.load_file(str(out / "model-00001-of-00002.safetensors"))
    assert first["w"].shape == (4,)
    # An existing folder is written into only with force.
    with pytest.raises(FileExistsError):
        elves.decompress_file(TESTDATA / "valid" / "collection.elv", out)
    elves.decompress_file(TESTDATA / "valid" / "collection.elv", out, force=True)
