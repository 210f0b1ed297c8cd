"""elves: the `.elv` format for compressed model weights, with safetensors' API.

    import numpy as np, elves.numpy
    elves.numpy.save_file({"w": np.random.rand(64, 64).astype(np.float32)}, "m.elv")
    w = elves.numpy.load_file("m.elv")["w"]          # within 2^-24 of the original
    with elves.safe_open("m.elv", framework="np") as f:
        print(f.keys(), f.info("w"))

`elves.numpy` and `elves.torch` mirror `safetensors.numpy` and `safetensors.torch`;
`safe_open` mirrors `safetensors.safe_open`; `compress_file` and `decompress_file` convert
safetensors files. Importing `elves` never imports torch.
"""
from typing import Dict, List, Optional

from . import _elves
from ._dtypes import to_numpy
from ._error import ElvError

__all__ = ["ElvError", "safe_open", "compress_file", "decompress_file", "__version__"]
__version__ = _elves.__version__

# Metadata given to save_file is kept under this prefix, so that converting the .elv back to
# safetensors (`elv decompress`, `decompress_file`) restores it as `__metadata__`.
_META = "safetensors.metadata."


def _user_metadata(pairs) -> Optional[Dict[str, str]]:
    meta = {k[len(_META):]: v for k, v in pairs if k.startswith(_META)}
    return meta or None


def _as_array(name, dtype, shape, flat):
    """The flat uint8 buffer of a decoded tensor viewed as its dtype and shape (no copy)."""
    try:
        return flat.view(to_numpy(dtype)).reshape(shape)
    except ValueError as e:
        # A valid .elv can hold shapes NumPy cannot make, e.g. [0, 2^40, 2^40].
        raise ValueError(f"tensor {name!r}: shape {shape} cannot be a NumPy array ({e})") from e


def _arrays(rows) -> Dict[str, "object"]:
    """NumPy arrays of decoded rows (no copy). In a collection a name may repeat across
    members: a dict cannot hold both, so that is an error naming the way to read them."""
    out = {}
    for name, dtype, shape, flat in rows:
        if name in out:
            raise ValueError(f"tensor name {name!r} repeats across the members of this "
                             "collection: read them with safe_open(...).members() and "
                             "get_tensor(name, member=...)")
        out[name] = _as_array(name, dtype, shape, flat)
    return out


class safe_open:
    """An open `.elv` file, as `safetensors.safe_open`: `keys()`, `get_tensor(name)` (decodes
    only that tensor's sections), `metadata()`, and `info(name)` (dtype, shape, encoding,
    error bound, stored size). Use it as a context manager. `base` is the base model a
    file of deltas was written against (`elv compress --base`): a safetensors file, an
    `.elv`, or a folder; a wrong base is an ElvError of kind BaseMismatch.
    """

    def __init__(self, filename, framework: str = "np", device: str = "cpu", base=None):
        if framework not in ("np", "numpy", "pt", "torch"):
            raise ValueError(f"framework must be 'np' or 'pt', not {framework!r}")
        if device != "cpu":
            raise ValueError("elves decodes on the CPU; move tensors afterwards")
        self._pt = framework in ("pt", "torch")
        if self._pt:
            from . import torch as _t  # raises ImportError naming torch if it is missing
            self._to_torch = _t._from_numpy
        self._reader = _elves.Reader.open(str(filename), None if base is None else str(base))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._reader = None
        return False

    def keys(self) -> List[str]:
        return self._reader.keys()

    def members(self) -> List[tuple]:
        """For a collection (a model folder in one file): (path, kind, tensor names) per
        member, kind "safetensors" or "file"; empty for a single file."""
        return self._reader.members()

    def metadata(self) -> Optional[Dict[str, str]]:
        """The safetensors `__metadata__` the file carries, as `safe_open` gives it."""
        return _user_metadata(self._reader.metadata())

    def info(self, name: str) -> dict:
        """dtype, shape, encoding, duplicate_of, error_bound (0.0 = exact), sizes."""
        return self._reader.info(name)

    def get_tensor(self, name: str, member: Optional[str] = None):
        """Decodes tensor `name` (in a collection, of the member at path `member` if given:
        names may repeat across members)."""
        rows = self._reader.decode([name], None, member)
        _, dtype, shape, flat = rows[0]
        if self._pt:
            return self._to_torch(flat, dtype, shape)
        return _as_array(name, dtype, shape, flat)


def _path(p):
    return None if p is None else str(p)


def compress_file(src, dst, *, lossless: bool = False, elf_half: bool = False,
                  threads: Optional[int] = None, force: bool = False, base=None) -> None:
    """Compresses the safetensors file `src` into the `.elv` file `dst`, as `elv compress`:
    written atomically, never over `src`, an existing `dst` only with `force`. With `base`
    (a base model), tensors are stored as deltas against their twins in it."""
    _elves.compress_file(str(src), str(dst), lossless, elf_half, threads, force, _path(base))


def decompress_file(src, dst, *, threads: Optional[int] = None, force: bool = False,
                    base=None) -> None:
    """Decompresses the `.elv` file `src` into the safetensors file `dst` (a lossless file
    comes back byte for byte), with the same guarantees as `compress_file`; `base` as the
    file was compressed with."""
    _elves.decompress_file(str(src), str(dst), threads, force, _path(base))
