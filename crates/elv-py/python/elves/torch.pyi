from os import PathLike
from typing import List, Tuple, Dict, Optional, Union

import torch

def save(tensors: Dict[str, torch.Tensor], metadata: Optional[Dict[str, str]] = ..., *,
         lossy: bool = ..., elf_half: bool = ..., threads: Optional[int] = ...) -> bytes: ...
def save_file(tensors: Dict[str, torch.Tensor], filename: Union[str, PathLike],
              metadata: Optional[Dict[str, str]] = ..., *, lossy: bool = ...,
              elf_half: bool = ..., threads: Optional[int] = ...) -> None: ...
def load(data: bytes, *, limits: Optional[Dict[str, int]] = ...) -> Dict[str, torch.Tensor]: ...
def load_file(filename: Union[str, PathLike], device: str = ...,
              base: Optional[Union[str, PathLike]] = ..., *,
              limits: Optional[Dict[str, int]] = ...,
              backend: str = ...) -> Dict[str, torch.Tensor]: ...
def save_model(model: torch.nn.Module, filename: Union[str, PathLike],
               metadata: Optional[Dict[str, str]] = ..., *, force_contiguous: bool = ...,
               lossy: bool = ...) -> None: ...
def load_model(model: torch.nn.Module, filename: Union[str, PathLike], strict: bool = ...,
               device: str = ...) -> Tuple[List[str], List[str]]: ...
