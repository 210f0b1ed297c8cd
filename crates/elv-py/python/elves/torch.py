"""`safetensors.torch`'s four functions for `.elv`, for torch tensors (bf16 included).
Needs torch; `import elves` alone never imports it."""
from typing import Dict, Optional

try:
    import torch
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "elves.torch needs PyTorch: pip install torch (elves.numpy works without it)"
    ) from e

from . import _elves, _check_backend, _metadata_pairs, _open_data, _open_reader
from ._dtypes import TORCH_NAMES

# Each dtype this torch has (older ones lack the unsigned and float8/float4 types).
_NAMES = {getattr(torch, attr): name for attr, name in TORCH_NAMES.items()
          if hasattr(torch, attr)}
_DTYPES = {v: k for k, v in _NAMES.items()}


def _from_numpy(flat, dtype: str, shape):
    """A torch tensor over a decoded flat uint8 buffer (no copy). F4 values come as torch's
    float4_e2m1fn_x2, two to an element: the last axis halves, as safetensors stores it."""
    if dtype not in _DTYPES:
        raise TypeError(f"this torch has no dtype for {dtype}")
    if dtype == "F4":
        if not shape or shape[-1] % 2:
            raise TypeError(f"an F4 tensor of shape {shape}: torch's float4_e2m1fn_x2 "
                            "needs an even last axis")
        shape = list(shape[:-1]) + [shape[-1] // 2]
    return torch.from_numpy(flat).view(_DTYPES[dtype]).reshape(shape)


def _check_like_safetensors(tensors: Dict[str, "torch.Tensor"]) -> None:
    """safetensors' refusals, with its exception types: a tensor that is not a tensor, not
    dense, or not contiguous is a ValueError; tensors sharing memory are a RuntimeError
    pointing at save_model (which stores a shared tensor under each of its names)."""
    storages = {}
    for name, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"Key `{name}` is invalid, expected torch.Tensor but received "
                             f"{type(t)}")
        if t.layout != torch.strided:
            raise ValueError(f"You are trying to save a sparse tensor: `{name}` which this "
                             "library does not support. You can make it a dense tensor "
                             "before saving with `.to_dense()`")
        if not t.is_contiguous():
            raise ValueError(f"You are trying to save a non contiguous tensor: `{name}` which "
                             "is not allowed. It either means you are trying to save tensors "
                             "which are reference of each other in which case it's "
                             "recommended to save only the full tensors, and reslice at load "
                             "time, or simply call `.contiguous()` on your tensor to pack it "
                             "before saving.")
        if t.device.type != "meta" and t.numel() > 0:
            storages.setdefault((t.device, t.untyped_storage().data_ptr()), []).append(name)
    shared = [sorted(names) for names in storages.values() if len(names) > 1]
    if shared:
        raise RuntimeError(f"Some tensors share memory, this will lead to duplicate memory on "
                           f"disk and potential differences when loading them again: "
                           f"{shared}. Use elves.torch.save_model, which stores each name "
                           "(identical tensors are stored once).")


def _tensors(tensors: Dict[str, "torch.Tensor"]):
    _check_like_safetensors(tensors)
    out = []
    # Sorted by name, as safetensors does: the output does not depend on the dict's order.
    for name, t in sorted(tensors.items(), key=lambda kv: kv[0]):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name!r}: expected a torch.Tensor, got {type(t).__name__}")
        if t.dtype not in _NAMES:
            raise TypeError(f"{name!r}: dtype {t.dtype} has no safetensors equivalent")
        t = t.detach().cpu().contiguous()
        raw = t.reshape(-1).view(torch.uint8).numpy().tobytes()
        shape = list(t.shape)
        if _NAMES[t.dtype] == "F4" and shape:
            shape[-1] *= 2  # two float4 values per float4_e2m1fn_x2 element, as safetensors
        out.append((name, _NAMES[t.dtype], shape, raw))
    return out


def save(tensors, metadata: Optional[Dict[str, str]] = None, *, lossy: bool = False,
         elf_half: bool = False, threads: Optional[int] = None) -> bytes:
    """The `.elv` bytes of `tensors`, every bit kept unless `lossy=True` (as
    `elves.numpy.save`)."""
    return _elves.serialize(_tensors(tensors), _metadata_pairs(metadata), lossy, elf_half,
                            threads)


def save_file(tensors, filename, metadata: Optional[Dict[str, str]] = None, *,
              lossy: bool = False, elf_half: bool = False,
              threads: Optional[int] = None) -> None:
    """Writes `tensors` to `filename` atomically, every bit kept unless `lossy=True`."""
    _elves.serialize_to_file(_tensors(tensors), _metadata_pairs(metadata), str(filename), lossy,
                             elf_half, threads)


def save_model(model: "torch.nn.Module", filename, metadata: Optional[Dict[str, str]] = None,
               *, force_contiguous: bool = False, lossy: bool = False) -> None:
    """Saves `model.state_dict()` to `filename`, as safetensors' `save_model`: tensors that
    share memory (tied weights) are all stored, each under its name, and HD stores their
    bytes once; `force_contiguous` packs non-contiguous ones first."""
    state = {}
    for name, t in model.state_dict().items():
        t = t.detach()
        # Each name gets its own view, so shared storage is not a refusal here.
        state[name] = t.contiguous().clone() if force_contiguous or not t.is_contiguous() \
            else t.clone()
    save_file(state, filename, metadata, lossy=lossy)


def load_model(model: "torch.nn.Module", filename, strict: bool = True,
               device: str = "cpu"):
    """Loads `filename` into `model`, as safetensors' `load_model`: gives (missing keys,
    unexpected keys) of `model.load_state_dict`."""
    state = load_file(filename, device=device)
    result = model.load_state_dict(state, strict=strict)
    return list(result.missing_keys), list(result.unexpected_keys)


def _rows_to_torch(rows):
    return {name: _from_numpy(flat, dtype, shape) for name, dtype, shape, flat in rows}


def load(data, *, limits: Optional[Dict[str, int]] = None) -> Dict[str, "torch.Tensor"]:
    """Every tensor of the `.elv` bytes `data`, or of a binary file object (as
    `elves.numpy.load`)."""
    return _rows_to_torch(_open_data(data, limits).decode())


def load_file(filename, device: str = "cpu", base=None, *,
              limits: Optional[Dict[str, int]] = None,
              backend: str = "mmap") -> Dict[str, "torch.Tensor"]:
    _check_backend(backend)
    reader = _open_reader(filename, base, limits)
    out = _rows_to_torch(reader.decode())
    return out if device == "cpu" else {k: v.to(device) for k, v in out.items()}
