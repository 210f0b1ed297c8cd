"""elves: the `.elv` format for compressed model weights, with safetensors' API.

    import numpy as np, elves.numpy
    elves.numpy.save_file({"w": np.random.rand(64, 64).astype(np.float32)}, "m.elv")
    w = elves.numpy.load_file("m.elv")["w"]          # bit for bit the original
    elves.numpy.save_file({"w": w}, "s.elv", lossy=True)  # smaller: |error| <= 2^-24
    with elves.safe_open("m.elv", framework="np") as f:
        print(f.keys(), f.info("w"))

Every function keeps every bit unless it is given `lossy=True` (ELF on f32/f64: values in
(-1, 1) within 2^-24 / 2^-53, every other value exact; add `elf_half=True` for f16/bf16).

`elves.numpy` and `elves.torch` mirror `safetensors.numpy` and `safetensors.torch`;
`safe_open` mirrors `safetensors.safe_open`; `compress_file` and `decompress_file` convert
safetensors files. Importing `elves` never imports torch.
"""
from typing import Dict, List, Optional

from . import _elves
from ._dtypes import to_numpy
from ._error import BadArgument, BadIndex, ElvError, NoTensor, SafetensorError

__all__ = ["ElvError", "SafetensorError", "safe_open", "compress_file", "compress_folder", "decompress_file",
           "TensorSpec", "serialize", "serialize_file", "deserialize", "__version__"]
__version__ = _elves.__version__


def _metadata_pairs(metadata: Optional[Dict[str, str]]) -> List[tuple]:
    """safetensors' `__metadata__` as the pairs the native writer stores (it keeps them so that
    `safe_open(...).metadata()`, `elv decompress` and `decompress_file` give them back)."""
    if metadata is None:
        return []
    if not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict of str to str, not {type(metadata).__name__}")
    for k, v in metadata.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError(f"metadata must map str to str: {k!r}: {v!r}")
    return list(metadata.items())


def _check_backend(backend: str) -> None:
    """safetensors' `backend=`: "mmap" or "pread". elves always reads by positioned reads
    (what "pread" names; a compressed file has nothing to map), so both are accepted."""
    if backend not in ("mmap", "pread"):
        raise ValueError(f"backend must be 'mmap' or 'pread', not {backend!r}")


def _open_reader(source, base=None, limits=None):
    """The native reader of `source`: a path, `bytes`, a binary file-like object (`seek` and
    `read`: `io.BytesIO`, an open file, an fsspec file), or a URL (`https://`, `s3://`,
    `hf://`, ... through fsspec, read by range, never downloaded whole)."""
    b = None if base is None else str(base)
    if isinstance(source, (bytes, bytearray, memoryview)):
        if b is None:
            return _elves.Reader.from_bytes(bytes(source), limits)
        import io
        source = io.BytesIO(bytes(source))
    if hasattr(source, "read") and hasattr(source, "seek"):
        return _elves.Reader.from_file(source, b, limits)
    import os
    path = os.fspath(source)
    if isinstance(path, str) and "://" in path:
        try:
            import fsspec
        except ImportError as e:
            raise ImportError(f"reading {path!r} needs fsspec (pip install fsspec)") from e
        # No read-ahead cache: each read the reader makes is one range request.
        return _elves.Reader.from_file(fsspec.open(path, "rb", cache_type="none").open(), b,
                                       limits)
    return _elves.Reader.open(str(path), b, limits)


def _open_data(data, limits=None):
    """The native reader of `load`'s argument: `.elv` bytes or a binary file object, never a
    path (as safetensors' `load`, which takes bytes: a str is a TypeError)."""
    if not isinstance(data, (bytes, bytearray, memoryview)) and not hasattr(data, "read"):
        raise TypeError(f"load takes the .elv bytes or a binary file object, not "
                        f"{type(data).__name__} (load_file takes a path)")
    return _open_reader(data, None, limits)


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


def _framework(module: str, call: str):
    """The converter from a NumPy array to `module`'s arrays (`module.call`), imported when
    a file is opened for it; ImportError naming the module if it is missing."""
    def load():
        import importlib
        try:
            mod = importlib.import_module(module)
        except ImportError as e:
            raise ImportError(f"framework needs {module.split('.')[0]} installed") from e
        return getattr(mod, call)
    return load


# safetensors' framework names; NumPy and torch arrays are made directly, the others from
# the NumPy array as safetensors' own loaders for them do.
_FRAMEWORKS = {
    "np": lambda: None, "numpy": lambda: None,
    "pt": lambda: None, "torch": lambda: None, "pytorch": lambda: None,
    "tf": _framework("tensorflow", "convert_to_tensor"),
    "tensorflow": _framework("tensorflow", "convert_to_tensor"),
    "flax": _framework("jax.numpy", "asarray"), "jax": _framework("jax.numpy", "asarray"),
    "mlx": _framework("mlx.core", "array"),
    "paddle": _framework("paddle", "to_tensor"),
}


class safe_open:
    """An open `.elv` file (a path, `bytes`, a binary file-like object, or a URL read by range
    through fsspec), as `safetensors.safe_open`: `keys()`, `get_tensor(name)` (decodes
    only that tensor's sections), `metadata()`, and `info(name)` (dtype, shape, encoding,
    error bound, stored size). Use it as a context manager. `base` is the base model a
    file of deltas was written against (`elv compress --base`): a safetensors file, an
    `.elv`, or a folder; a wrong base is an ElvError of kind BaseMismatch. `get_slice(name)`
    reads part of a tensor, decoding only the chunks that hold the rows asked for (a rank's
    shard in tensor-parallel loading).

    `limits` bounds what the file may declare: a dict of any of `elv::Limits`' fields
    (`max_decoded_bytes`, `max_tensors`, `max_tensor_bytes`, ...), `verify_checksums`, and
    `max_load_bytes`: the most one load may decode into memory (default: the memory available
    at the time; more is an ElvError of kind LimitExceeded, not an out-of-memory kill).
    """

    def __init__(self, filename, framework: str = "np", device: str = "cpu", base=None,
                 limits: Optional[Dict[str, int]] = None, backend: str = "mmap"):
        _check_backend(backend)
        if framework not in _FRAMEWORKS:
            raise BadArgument(f"framework {framework} is invalid: elves reads "
                              + ", ".join(sorted(_FRAMEWORKS)))
        self._pt = framework in ("pt", "torch", "pytorch")
        # Other frameworks get the NumPy array converted as safetensors does for them.
        self._convert = None if self._pt else _FRAMEWORKS[framework]()
        if device != "cpu" and not self._pt:
            raise BadArgument(f"Device {device} is not supported for framework numpy "
                              "(NumPy arrays live on the CPU; device= is for framework='pt')")
        if self._pt:
            from . import torch as _t  # raises ImportError naming torch if it is missing
            # Decoded on the CPU, then moved to `device` (as safetensors' "cuda:0", ...).
            self._to_torch = (_t._from_numpy if device == "cpu" else
                              lambda flat, dtype, shape: _t._from_numpy(flat, dtype, shape)
                              .to(device))
        self._handle = _open_reader(filename, base, limits)
        self._info_cache = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._handle = None
        return False

    @property
    def _reader(self):
        if self._handle is None:
            raise ValueError("this safe_open is closed (used after its with block)")
        return self._handle

    def keys(self) -> List[str]:
        """The tensor names, sorted, as safetensors gives them."""
        return sorted(self._reader.keys())

    def offset_keys(self) -> List[str]:
        """The tensor names in the order they are stored."""
        return self._reader.keys()

    def get_tensors(self) -> Dict[str, "object"]:
        """Every tensor, decoded in parallel, keyed by name (as safetensors' `get_tensors`)."""
        rows = self._reader.decode()
        if self._pt:
            return {name: self._to_torch(flat, dtype, shape) for name, dtype, shape, flat in rows}
        arrays = _arrays(rows)
        return {k: self._convert(v) for k, v in arrays.items()} if self._convert else arrays

    def read_file(self, path: str) -> bytes:
        """The bytes of member `path` of a collection, as the file it was (`config.json`, a
        tokenizer file; a safetensors shard as safetensors bytes)."""
        return self._reader.read_member(path)

    def members(self) -> List[tuple]:
        """For a collection (a model folder in one file): (path, kind, tensor names) per
        member, kind "safetensors" or "file"; empty for a single file."""
        return self._reader.members()

    def metadata(self) -> Optional[Dict[str, str]]:
        """The safetensors `__metadata__` the file carries (what `save_file` was given, or
        what the compressed safetensors file had), as `safetensors.safe_open` gives it."""
        return dict(self._reader.metadata()) or None

    def info(self, name: str) -> dict:
        """dtype, shape, encoding, duplicate_of, error_bound (0.0 = exact), sizes."""
        return self._reader.info(name)

    def _to_torch_view(self, a, dtype: str):
        """`a` (a NumPy array of `dtype`, a safetensors name) in the framework the file was
        opened for."""
        if not self._pt:
            return self._convert(a) if self._convert else a
        import numpy as np
        a = np.ascontiguousarray(a)
        return self._to_torch(a.reshape(-1).view(np.uint8), dtype, list(a.shape))

    def get_tensor(self, name: str, member: Optional[str] = None):
        """Decodes tensor `name` (in a collection, of the member at path `member` if given:
        names may repeat across members)."""
        try:
            rows = self._reader.decode([name], None, member)
        except KeyError:
            raise NoTensor(f"File does not contain tensor {name}") from None
        _, dtype, shape, flat = rows[0]
        if self._pt:
            return self._to_torch(flat, dtype, shape)
        a = _as_array(name, dtype, shape, flat)
        return self._convert(a) if self._convert else a


    def get_slice(self, name: str, member: Optional[str] = None) -> "_Slice":
        """Tensor `name` to be read in part, as `safetensors`' `get_slice`: `get_shape()`,
        `get_dtype()`, and indexing (`[rows]`, `[a:b, :]`, `[:, c:d]`, `[i]`, `[...]`) that
        decodes only the chunks holding the rows of the first dimension asked for."""
        if name not in self._info_cache:
            try:
                self._info_cache[name] = self._reader.info(name)
            except KeyError:
                raise NoTensor(f"File does not contain tensor {name}") from None
        return _Slice(self, name, member, self._info_cache[name])


class _Slice:
    """A tensor of an open file, read in part (`safe_open.get_slice`)."""

    def __init__(self, f: "safe_open", name: str, member: Optional[str], info: dict):
        self._f, self._name, self._member = f, name, member
        self._dtype, self._shape = info["dtype"], list(info["shape"])

    def get_shape(self) -> List[int]:
        return list(self._shape)

    def get_dtype(self) -> str:
        return self._dtype

    def __len__(self) -> int:
        if not self._shape:
            raise TypeError("len() of a 0-d tensor")
        return self._shape[0]

    def __getitem__(self, index):
        try:
            return self._get(index)
        except BadIndex:
            raise
        except IndexError as e:
            raise BadIndex(f"Error during slicing {index!r} with shape {self._shape}: {e}") \
                from None

    def _get(self, index):
        from ._dtypes import SUB_BYTE
        if self._dtype in SUB_BYTE:
            raise TypeError(f"{self._dtype} values are packed below a byte, so a slice of "
                            "them is not a byte range: read the tensor with get_tensor")
        key = index if isinstance(index, tuple) else (index,)
        rows = self._shape[0] if self._shape else 0
        first = key[0] if key else slice(None)
        if not self._shape or first is Ellipsis or first is None:
            # No first-dimension rows to narrow to: the whole tensor, then the index.
            whole = self._f._reader.decode([self._name], None, self._member)[0][3]
            out = _as_array(self._name, self._dtype, self._shape, whole)[index]
            return self._f._to_torch_view(out, self._dtype)
        if isinstance(first, slice):
            start, stop, step = first.indices(rows)
            picked = range(start, stop, step)
            lo, hi = (min(picked), max(picked) + 1) if len(picked) else (0, 0)
            # Step 1 stays a view; another step picks its rows from those read.
            at = slice(0, hi - lo) if step == 1 else [r - lo for r in picked]
            rest = (at,) + key[1:]
        else:
            i = int(first)
            i = i + rows if i < 0 else i
            if not 0 <= i < rows:
                raise BadIndex(f"index {first} is out of bounds for dimension 0 of size {rows}")
            lo, hi = i, i + 1
            rest = (0,) + key[1:]
        flat = self._f._reader.read_rows(self._name, lo, hi, self._member)
        part = _as_array(self._name, self._dtype, [hi - lo] + self._shape[1:], flat)
        return self._f._to_torch_view(part[rest], self._dtype)


def _path(p):
    return None if p is None else str(p)


def compress_file(src, dst, *, lossy: bool = False, elf_half: bool = False,
                  threads: Optional[int] = None, force: bool = False, base=None) -> dict:
    """Compresses the safetensors file or PyTorch checkpoint `src` (`torch.save`'s zip format:
    `.bin`, `.pt`, `.pth`; read without torch, its pickle never run: any global other than
    the few a tensor checkpoint names is refused) into the `.elv` file `dst`: written atomically,
    never over `src`, an existing `dst` only with `force`. Every bit is kept unless
    `lossy=True` (then as `elv compress`: ELF where smaller, |error| <= 2^-24 for f32 values
    in (-1, 1), every other value exact). With `base` (a base model), tensors are stored as
    deltas against their twins in it.

    Returns what it did: `input_bytes`, `output_bytes`, `tensors`, `error_bound` (the largest
    of any tensor; 0.0 when every value is bit-exact) and `lossless`."""
    return _elves.compress_file(str(src), str(dst), lossy, elf_half, threads, force,
                                _path(base))


def compress_folder(src, dst, *, lossy: bool = False, elf_half: bool = False,
                    threads: Optional[int] = None, force: bool = False, base=None) -> dict:
    """Compresses the model folder `src` (shards, index, config, tokenizer: every file, byte
    for byte, with each file's modification time) into the one `.elv` collection `dst`, as
    `elv compress DIR`; tensors repeated across files are stored once. Lossless unless
    `lossy=True`; written atomically, never over a file of `src`, an existing `dst` only with
    `force`. Returns what it did, as `compress_file`. Read it back with `safe_open(dst)`,
    whose `members()` lists the files."""
    return _elves.compress_folder(str(src), str(dst), lossy, elf_half, threads, force,
                                  _path(base))


def decompress_file(src, dst, *, threads: Optional[int] = None, force: bool = False,
                    base=None, limits: Optional[Dict[str, int]] = None) -> None:
    """Decompresses the `.elv` file `src` into the safetensors file `dst` (a lossless file
    comes back byte for byte), with the same guarantees as `compress_file`; `base` as the
    file was compressed with. A collection (a model folder, `compress_folder`) is written
    back as the folder `dst`, every file with its modification time; an existing folder is
    written into only with `force`. `limits` as for `safe_open` (decompressing streams, so
    `max_load_bytes` does not apply)."""
    _elves.decompress_file(str(src), str(dst), threads, force, _path(base), limits)


from ._raw import TensorSpec, deserialize, serialize, serialize_file  # noqa: E402
