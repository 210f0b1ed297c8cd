"""`safetensors.numpy`'s four functions for `.elv`: save, save_file, load, load_file."""
from typing import Dict, Optional

import numpy as np

from . import _arrays, _elves, _check_backend, _metadata_pairs, _open_data, _open_reader
from ._dtypes import from_numpy
from ._error import NotAnArray


def _tensors(tensors: Dict[str, np.ndarray]):
    out = []
    # Sorted by name, as safetensors does: the output does not depend on the dict's order.
    for name, a in sorted(tensors.items(), key=lambda kv: kv[0]):
        if not isinstance(a, np.ndarray):
            raise NotAnArray(f"{name!r}: expected a numpy.ndarray, got {type(a).__name__}")
        # Big-endian arrays are converted to the little-endian bytes the format stores;
        # tobytes() is C order whatever the layout.
        little = a.astype(a.dtype.newbyteorder("<"), copy=False)
        out.append((name, from_numpy(little.dtype), list(a.shape), little.tobytes(order="C")))
    return out


def save(tensors: Dict[str, np.ndarray], metadata: Optional[Dict[str, str]] = None, *,
         lossy: bool = False, elf_half: bool = False, threads: Optional[int] = None) -> bytes:
    """The `.elv` bytes of `tensors`, every bit kept. `lossy=True` stores f32/f64 with ELF
    where that is smaller: values in (-1, 1) within 2^-24 (2^-53), every other value exact;
    with it, `elf_half=True` also lets f16/bf16 use ELF (2^-11, 2^-8)."""
    return _elves.serialize(_tensors(tensors), _metadata_pairs(metadata), lossy, elf_half,
                            threads)


def save_file(tensors: Dict[str, np.ndarray], filename, metadata: Optional[Dict[str, str]] = None,
              *, lossy: bool = False, elf_half: bool = False,
              threads: Optional[int] = None) -> None:
    """Writes `tensors` to `filename` (atomically: the file appears whole or not at all),
    every bit kept unless `lossy=True` (see `save`)."""
    _elves.serialize_to_file(_tensors(tensors), _metadata_pairs(metadata), str(filename), lossy,
                             elf_half, threads)


def load(data, *, limits: Optional[Dict[str, int]] = None) -> Dict[str, np.ndarray]:
    """Every tensor of the `.elv` bytes `data`, or of a binary file object (`seek` and
    `read`: an fsspec or HTTP file is read by the ranges the tensors need); `limits` as for
    `elves.safe_open`."""
    return _arrays(_open_data(data, limits).decode())


def load_file(filename, base=None, *,
              limits: Optional[Dict[str, int]] = None,
              backend: str = "mmap") -> Dict[str, np.ndarray]:
    """Every tensor of the `.elv` file `filename`, decoded in parallel; `base` is the base
    model a file of deltas was written against; `limits` as for `elves.safe_open` (by
    default a load larger than the memory available is refused)."""
    _check_backend(backend)
    reader = _open_reader(filename, base, limits)
    return _arrays(reader.decode())
