from os import PathLike
from typing import Dict, Optional, Union

import numpy as np

def save(tensors: Dict[str, np.ndarray], metadata: Optional[Dict[str, str]] = ..., *,
         lossy: bool = ..., elf_half: bool = ..., threads: Optional[int] = ...) -> bytes: ...
def save_file(tensors: Dict[str, np.ndarray], filename: Union[str, PathLike],
              metadata: Optional[Dict[str, str]] = ..., *, lossy: bool = ...,
              elf_half: bool = ..., threads: Optional[int] = ...) -> None: ...
def load(data: bytes, *, limits: Optional[Dict[str, int]] = ...) -> Dict[str, np.ndarray]: ...
def load_file(filename: Union[str, PathLike],
              base: Optional[Union[str, PathLike]] = ..., *,
              limits: Optional[Dict[str, int]] = ...,
              backend: str = ...) -> Dict[str, np.ndarray]: ...
