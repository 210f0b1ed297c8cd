"""elves.torch, where torch is installed (it is optional: `import elves` never imports it)."""
import subprocess
import sys

import pytest


def test_importing_elves_does_not_import_torch():
    code = "import sys, elves, elves.numpy; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_torch_round_trip_including_bf16(tmp_path):
    torch = pytest.importorskip("torch")
    import elves
    import elves.torch as et

    ts = {
        "w": torch.randn(64, 32) * 0.05,
        "h": (torch.randn(100) * 0.05).to(torch.bfloat16),
        "i": torch.arange(10),
    }
    p = tmp_path / "t.elv"
    et.save_file(ts, p)
    back = et.load_file(p)
    for k, t in ts.items():
        assert back[k].dtype == t.dtype and torch.equal(back[k], t), k
    back = et.load(et.save(ts, lossy=True))
    assert torch.max(torch.abs(back["w"] - ts["w"])) <= 2**-24
    with elves.safe_open(p, framework="pt") as f:
        assert torch.equal(f.get_tensor("h"), ts["h"])


def test_torch_slices_equal_the_whole_tensors_rows(tmp_path):
    torch = pytest.importorskip("torch")
    import elves
    import elves.torch as et
    t = {"w": torch.arange(60, dtype=torch.bfloat16).reshape(10, 6),
         "v": torch.arange(7, dtype=torch.float32)}
    z = tmp_path / "m.elv"
    et.save_file(t, z)
    with elves.safe_open(z, framework="pt") as f:
        for index in [slice(2, 5), 3, (slice(None), slice(1, 3)), slice(None, None, 3), ...]:
            got = f.get_slice("w")[index]
            assert isinstance(got, torch.Tensor) and got.dtype == torch.bfloat16
            assert torch.equal(got, t["w"][index]), index
        assert torch.equal(f.get_slice("v")[2:5], t["v"][2:5])


def test_refusals_are_safetensors_own(tmp_path):
    torch = pytest.importorskip("torch")
    import elves.torch as et
    st = pytest.importorskip("safetensors.torch")
    base = torch.arange(12.0).reshape(3, 4)
    cases = [
        ({"t": base.t()}, ValueError),                                  # not contiguous
        ({"a": base, "b": base[0]}, RuntimeError),                      # shared memory
        ({"s": torch.eye(3).to_sparse()}, ValueError),                  # sparse
        ({"x": [1, 2]}, ValueError),                                    # not a tensor
    ]
    for tensors, kind in cases:
        with pytest.raises(kind):
            st.save_file(tensors, str(tmp_path / "ref.safetensors"))
        with pytest.raises(kind):
            et.save_file(tensors, tmp_path / "m.elv")


def test_save_model_keeps_tied_weights_and_load_model_reports_keys(tmp_path):
    torch = pytest.importorskip("torch")
    import elves.torch as et

    class Tied(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(10, 4)
            self.head = torch.nn.Linear(4, 10, bias=False)
            self.head.weight = self.emb.weight

    torch.manual_seed(0)
    m = Tied()
    p = tmp_path / "m.elv"
    et.save_model(m, p)
    fresh = Tied()
    missing, unexpected = et.load_model(fresh, p)
    assert (missing, unexpected) == ([], [])
    assert torch.equal(fresh.emb.weight, m.emb.weight)
    assert fresh.head.weight.data_ptr() == fresh.emb.weight.data_ptr()


def test_safe_open_moves_tensors_to_the_device_asked_for(tmp_path):
    torch = pytest.importorskip("torch")
    import elves
    import elves.torch as et
    p = tmp_path / "m.elv"
    et.save_file({"w": torch.arange(6.0).reshape(2, 3)}, p)
    with elves.safe_open(p, framework="pt", device="meta") as f:
        assert f.get_tensor("w").device.type == "meta"
        assert f.get_slice("w")[0:1].device.type == "meta"
    with pytest.raises(ValueError, match="framework='pt'"):
        elves.safe_open(p, framework="np", device="cuda")
