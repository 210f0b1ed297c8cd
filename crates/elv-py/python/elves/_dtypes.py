"""safetensors dtype names and NumPy dtypes (bf16 and f8 through ml_dtypes, when installed)."""
import numpy as np

_PLAIN = {
    "BOOL": np.bool_, "U8": np.uint8, "I8": np.int8, "U16": np.uint16, "I16": np.int16,
    "U32": np.uint32, "I32": np.int32, "U64": np.uint64, "I64": np.int64,
    "F16": np.float16, "F32": np.float32, "F64": np.float64, "C64": np.complex64,
}
_ML = {"BF16": "bfloat16", "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2",
       "F8_E4M3FNUZ": "float8_e4m3fnuz", "F8_E5M2FNUZ": "float8_e5m2fnuz",
       "F8_E8M0": "float8_e8m0fnu"}
# torch's dtype names (what safetensors' TensorSpec says too) → safetensors' names.
TORCH_NAMES = {
    "bool": "BOOL", "int8": "I8", "uint8": "U8", "int16": "I16", "uint16": "U16",
    "int32": "I32", "uint32": "U32", "int64": "I64", "uint64": "U64", "float16": "F16",
    "float32": "F32", "float64": "F64", "bfloat16": "BF16", "float8_e4m3fn": "F8_E4M3",
    "float8_e5m2": "F8_E5M2", "float8_e4m3fnuz": "F8_E4M3FNUZ",
    "float8_e5m2fnuz": "F8_E5M2FNUZ", "float8_e8m0fnu": "F8_E8M0",
    "float4_e2m1fn_x2": "F4", "complex64": "C64",
}
# Values packed below a byte: NumPy has no such dtype (ml_dtypes' float4 takes a byte each).
SUB_BYTE = {"F4": 4, "F6_E2M3": 6, "F6_E3M2": 6}


def _ml_dtypes():
    try:
        import ml_dtypes  # noqa: F401
    except ImportError:
        return None
    return ml_dtypes


def to_numpy(name: str) -> np.dtype:
    """The NumPy dtype of a safetensors dtype name."""
    if name in _PLAIN:
        return np.dtype(_PLAIN[name]).newbyteorder("<")
    if name in _ML:
        ml = _ml_dtypes()
        if ml is None:
            raise TypeError(
                f"{name} tensors need the ml_dtypes package for NumPy "
                "(pip install ml_dtypes), or use elves.torch"
            )
        return np.dtype(getattr(ml, _ML[name]))
    if name in SUB_BYTE:
        raise TypeError(
            f"{name} values are packed {SUB_BYTE[name]} bits each, and NumPy has no such "
            "dtype: read them with framework=\"pt\" (F4 as torch.float4_e2m1fn_x2)"
        )
    raise TypeError(f"unknown dtype {name!r}")


def from_numpy(dtype: np.dtype) -> str:
    """The safetensors dtype name of a NumPy dtype."""
    dtype = np.dtype(dtype)
    for name, t in _PLAIN.items():
        if dtype == np.dtype(t):
            return name
    ml = _ml_dtypes()
    if ml is not None:
        for name, attr in _ML.items():
            if dtype == np.dtype(getattr(ml, attr)):
                return name
    raise TypeError(f"dtype {dtype} has no safetensors equivalent")
