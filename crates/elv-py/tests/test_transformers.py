"""elves.transformers: a tiny BERT saved by transformers, compressed as a folder, loaded back
in one call; its weights and outputs equal the original's (skipped without torch and
transformers)."""
import pytest


def test_a_model_folder_loads_from_its_collection(tmp_path):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    import elves
    import elves.transformers as et

    config = transformers.BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=37)
    torch.manual_seed(0)
    model = transformers.BertModel(config).eval()
    folder = tmp_path / "bert"
    model.save_pretrained(folder, safe_serialization=True)
    (folder / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n")
    z = tmp_path / "bert.elv"
    elves.compress_folder(folder, z)  # lossless
    back = et.from_pretrained(transformers.AutoModel, z).eval()
    assert type(back) is type(model)
    want, got = model.state_dict(), back.state_dict()
    assert want.keys() == got.keys()
    assert all(torch.equal(want[k], got[k]) for k in want)
    ids = torch.tensor([[2, 4, 4, 3]])
    with torch.no_grad():
        assert torch.equal(model(ids).last_hidden_state, back(ids).last_hidden_state)
    files = tmp_path / "files"
    et.extract_files(z, files)
    assert (files / "config.json").is_file() and (files / "vocab.txt").is_file()
    assert not list(files.glob("*.safetensors"))
