"""safetensors' raw calls: `TensorSpec`, `serialize`, `serialize_file`, `deserialize`, for
code that hands tensors over as (dtype, shape, pointer, length)."""
import ctypes
from typing import Dict, List, Optional, Tuple

from . import _elves, _metadata_pairs
from ._dtypes import TORCH_NAMES

# safetensors' TensorSpec dtype names (torch's) → the format's; others are refused.
_SPEC_DTYPES = TORCH_NAMES


class TensorSpec:
    """One tensor handed to `serialize` by address, as safetensors' `TensorSpec`:
    `TensorSpec(dtype="float32", shape=[2, 3], data_ptr=..., data_len=24)`. The memory must
    stay alive until `serialize` returns. An unknown dtype is refused here."""

    __slots__ = ("dtype", "shape", "data_ptr", "data_len")

    def __init__(self, *, dtype: str, shape, data_ptr: int, data_len: int):
        if dtype not in _SPEC_DTYPES:
            raise ValueError(f"Unknown dtype {dtype!r}. Supported dtypes: "
                             f"{', '.join(_SPEC_DTYPES)}")
        self.dtype, self.shape = _SPEC_DTYPES[dtype], [int(d) for d in shape]
        self.data_ptr, self.data_len = int(data_ptr), int(data_len)

    def __repr__(self):
        return (f"TensorSpec(dtype={self.dtype!r}, shape={self.shape}, "
                f"data_ptr={self.data_ptr}, data_len={self.data_len})")


def _rows(tensor_dict: Dict[str, TensorSpec]):
    rows = []
    for name, spec in sorted(tensor_dict.items(), key=lambda kv: kv[0]):
        dtype = _SPEC_DTYPES.get(spec.dtype, spec.dtype)  # safetensors' own specs say "F32"
        data = ctypes.string_at(spec.data_ptr, spec.data_len) if spec.data_len else b""
        rows.append((name, dtype, list(spec.shape), data))
    return rows


def serialize(tensor_dict: Dict[str, TensorSpec], metadata: Optional[Dict[str, str]] = None,
              *, lossy: bool = False) -> bytes:
    """The `.elv` bytes of the tensors described by `tensor_dict`, every bit kept unless
    `lossy=True`."""
    return _elves.serialize(_rows(tensor_dict), _metadata_pairs(metadata), lossy, False, None)


def serialize_file(tensor_dict: Dict[str, TensorSpec], filename,
                   metadata: Optional[Dict[str, str]] = None, *, lossy: bool = False) -> None:
    """Writes `serialize(tensor_dict, metadata)` to `filename` atomically."""
    _elves.serialize_to_file(_rows(tensor_dict), _metadata_pairs(metadata), str(filename),
                             lossy, False, None)


def deserialize(data: bytes) -> List[Tuple[str, dict]]:
    """(name, {"shape", "dtype", "data"}) for every tensor of the `.elv` bytes `data`, as
    safetensors' `deserialize` gives them (`data` a `bytearray`)."""
    rows = _elves.Reader.from_bytes(bytes(data)).decode()
    return [(name, {"shape": list(shape), "dtype": dtype, "data": bytearray(flat.tobytes())})
            for name, dtype, shape, flat in rows]
