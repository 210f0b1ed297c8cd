"""The error every malformed input raises, and the types that make elves' errors what
safetensors' code expects."""
from typing import Optional

try:
    from safetensors import SafetensorError as _SafetensorsBase
except ImportError:  # safetensors is not installed: nothing else can raise its error
    class _SafetensorsBase(Exception):
        """Stands in for `safetensors.SafetensorError` where safetensors is not installed."""


class SafetensorError(_SafetensorsBase):
    """Raised where safetensors raises `SafetensorError`: with safetensors installed it is
    a subclass of `safetensors.SafetensorError`, so code written for safetensors catches
    elves' errors unchanged. Each one is also the built-in error Python code expects
    (`KeyError` for a missing tensor, `IndexError` for a slice out of range, `ValueError`
    for a bad argument or a malformed file)."""


class NoTensor(SafetensorError, KeyError):
    """A tensor the file does not hold."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


class BadArgument(SafetensorError, ValueError):
    """An argument safetensors refuses too (a framework, a device)."""


class BadIndex(SafetensorError, IndexError):
    """A slice of a tensor out of its range, or with too many indices."""


class NotAnArray(TypeError, AttributeError):
    """A value given to `save` that is not an array: safetensors fails on it with an
    `AttributeError`, elves says what it got; both kinds catch it."""


class ElvError(SafetensorError, ValueError):
    """A `.elv` file (or an input to write) breaks the format.

    `kind` is the SPEC.md §2.3 name of the problem (``"ChecksumMismatch"``, ``"Truncated"``,
    ``"LimitExceeded"`` ...; ``"InvalidInput"`` for a request the writer refuses,
    ``"Safetensors"`` for a malformed safetensors input), `offset` the byte offset where one
    is known. I/O problems raise `OSError` instead.
    """

    def __init__(self, message: str, kind: Optional[str] = None, offset: Optional[int] = None):
        super().__init__(message)
        self.kind = kind
        self.offset = offset
