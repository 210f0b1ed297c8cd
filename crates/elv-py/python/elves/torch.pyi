from os import PathLike
from typing import Dict, Optional, Union

import torch

def save(tensors: Dict[str, torch.Tensor], metadata: Optional[Dict[str, str]] = ..., *,
         lossy: bool = ..., elf_half: bool = ..., threads: Optional[int] = ...) -> bytes: ...
def save_file(tensors: Dict[str, torch.Tensor], filename: Union[str, PathLike],
              metadata: Optional[Dict[str, str]] = ..., *, lossy: bool = ...,
              elf_half: bool = ..., threads: Optional[int] = ...) -> None: ...
def load(data: bytes, *, limits: Optional[Dict[str, int]] = ...) -> Dict[str, torch.Tensor]: ...
def load_file(filename: Union[str, PathLike], device: str = ...,
              base: Optional[Union[str, PathLike]] = ..., *,
              limits: Optional[Dict[str, int]] = ...) -> Dict[str, torch.Tensor]: ...
