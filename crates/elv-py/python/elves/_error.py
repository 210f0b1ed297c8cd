"""The error every malformed input raises."""
from typing import Optional


class ElvError(ValueError):
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
