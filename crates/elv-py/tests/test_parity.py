"""Code written for safetensors' Python API, run unchanged against elves (the import
swapped), call by call: the same results, and errors of the same types (every elves error
is an instance of the class safetensors raises there)."""

import numpy as np
import pytest

import elves
import elves.numpy as en

safetensors = pytest.importorskip("safetensors")
import safetensors.numpy as sn  # noqa: E402

TENSORS = {
    "a": np.arange(24, dtype=np.float32).reshape(4, 6) / 7,
    "b": np.ones((2,), dtype=np.int64),
    "c": np.array(3.5, dtype=np.float64),
    "d": np.arange(10, dtype=np.uint8),
    "e": np.zeros((0, 3), dtype=np.float16),
}
META = {"format": "np", "k": "v"}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("parity")
    st = d / "m.safetensors"
    sn.save_file(TENSORS, str(st), metadata=META)
    elv = d / "m.elv"
    elves.compress_file(st, elv)
    return {"st": (st, safetensors.safe_open, sn), "elv": (elv, elves.safe_open, en)}


def _same(got, want):
    if isinstance(want, np.ndarray):
        assert isinstance(got, np.ndarray)
        assert (got.dtype, got.shape) == (want.dtype, want.shape)
        assert got.tobytes() == want.tobytes()
    elif isinstance(want, dict):
        assert sorted(got) == sorted(want)
        for k in want:
            _same(got[k], want[k])
    else:
        assert got == want


def _both(files, call):
    """`call(path, safe_open, numpy_module)` with safetensors and with elves: equal results,
    or an elves error that is an instance of safetensors' error type."""
    out = {}
    for name, (path, opener, mod) in files.items():
        try:
            out[name] = ("ok", call(str(path), opener, mod))
        except Exception as e:  # noqa: BLE001 - the type is what is compared
            out[name] = ("err", e)
    (kind_st, st), (kind_elv, elv) = out["st"], out["elv"]
    assert kind_elv == kind_st, (st, elv)
    if kind_st == "ok":
        _same(elv, st)
    else:
        assert isinstance(elv, type(st)), (type(st), type(elv), elv)
    return out


CALLS = {
    "keys": lambda p, so, m: so(p, "np").__enter__().keys(),
    "offset_keys": lambda p, so, m: so(p, "np").__enter__().offset_keys(),
    "metadata": lambda p, so, m: so(p, "np").__enter__().metadata(),
    "get_tensor": lambda p, so, m: so(p, "np").__enter__().get_tensor("a"),
    "get_tensor scalar": lambda p, so, m: so(p, "np").__enter__().get_tensor("c"),
    "get_tensor empty": lambda p, so, m: so(p, "np").__enter__().get_tensor("e"),
    "get_tensors": lambda p, so, m: so(p, "np").__enter__().get_tensors()
    if hasattr(so(p, "np"), "get_tensors") else {k: so(p, "np").__enter__().get_tensor(k)
                                                  for k in TENSORS},
    "get_tensor missing": lambda p, so, m: so(p, "np").__enter__().get_tensor("zz"),
    "get_slice missing": lambda p, so, m: so(p, "np").__enter__().get_slice("zz"),
    "get_shape": lambda p, so, m: so(p, "np").__enter__().get_slice("a").get_shape(),
    "get_dtype": lambda p, so, m: so(p, "np").__enter__().get_slice("b").get_dtype(),
    "slice rows": lambda p, so, m: so(p, "np").__enter__().get_slice("a")[1:3],
    "slice step": lambda p, so, m: so(p, "np").__enter__().get_slice("a")[::2],
    "slice negative": lambda p, so, m: so(p, "np").__enter__().get_slice("a")[-1],
    "slice columns": lambda p, so, m: so(p, "np").__enter__().get_slice("a")[:, 2:5],
    "slice ellipsis": lambda p, so, m: so(p, "np").__enter__().get_slice("a")[..., 1],
    "slice both": lambda p, so, m: so(p, "np").__enter__().get_slice("a")[1:4, ::2],
    "slice out of range": lambda p, so, m: so(p, "np").__enter__().get_slice("a")[9],
    "slice too many indices": lambda p, so, m: so(p, "np").__enter__().get_slice("a")[1, 2, 3],
    "framework invalid": lambda p, so, m: so(p, "nope"),
    "device for numpy": lambda p, so, m: so(p, "np", device="cuda:0"),
    "missing file": lambda p, so, m: so(p + ".missing", "np"),
    "load_file": lambda p, so, m: m.load_file(p),
    "load bytes": lambda p, so, m: m.load(open(p, "rb").read()),
    "load garbage": lambda p, so, m: m.load(b"garbage!" * 4),
    "save not an array": lambda p, so, m: m.save({"a": [1, 2]}),
    "save metadata not str": lambda p, so, m: m.save({"a": np.ones(2)}, metadata={"k": 1}),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_call_matches_safetensors(files, name):
    _both(files, CALLS[name])


def test_save_then_load_matches(files, tmp_path):
    """save / save_file write different formats; what each loads back is the same."""
    for mod in (sn, en):
        path = tmp_path / f"out.{mod.__name__}"
        mod.save_file(TENSORS, str(path), metadata=META)
        _same(mod.load_file(str(path)), TENSORS)
        _same(mod.load(mod.save(TENSORS)), TENSORS)


def test_errors_are_caught_by_safetensors_own_type(files):
    """`except safetensors.SafetensorError` catches elves' errors unchanged."""
    path = str(files["elv"][0])
    for call in (lambda: elves.safe_open(path, "np").__enter__().get_tensor("zz"),
                 lambda: en.load(b"garbage!" * 4),
                 lambda: elves.safe_open(path, "np").__enter__().get_slice("a")[9]):
        with pytest.raises(safetensors.SafetensorError):
            call()
    # ...and the built-in types Python code expects still apply.
    with pytest.raises(KeyError):
        elves.safe_open(path, "np").__enter__().get_tensor("zz")
    with pytest.raises(IndexError):
        elves.safe_open(path, "np").__enter__().get_slice("a")[9]


@pytest.mark.parametrize("framework,module,call", [
    ("mlx", "mlx.core", "array"), ("flax", "jax.numpy", "asarray"),
    ("tf", "tensorflow", "convert_to_tensor"), ("paddle", "paddle", "to_tensor")])
def test_other_frameworks_get_the_array_converted(files, monkeypatch, framework, module, call):
    """safetensors' other framework names: the NumPy array handed to that framework's own
    constructor (a stand-in module here: these frameworks are not installed for the tests)."""
    import sys
    import types

    seen = []
    fake = types.ModuleType(module)
    setattr(fake, call, lambda a: seen.append(a) or ("converted", a.shape))
    parts = module.split(".")
    for i in range(1, len(parts) + 1):
        monkeypatch.setitem(sys.modules, ".".join(parts[:i]),
                            fake if i == len(parts) else types.ModuleType(parts[0]))
    with elves.safe_open(files["elv"][0], framework) as f:
        assert f.get_tensor("a") == ("converted", (4, 6))
        assert f.get_slice("a")[1:3] == ("converted", (2, 6))
    _same(seen[0], TENSORS["a"])
    _same(seen[1], TENSORS["a"][1:3])


def test_a_framework_not_installed_names_it(files, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "mlx", None)
    with pytest.raises(ImportError, match="mlx"):
        elves.safe_open(files["elv"][0], "mlx")
