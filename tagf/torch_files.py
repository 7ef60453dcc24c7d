"""Reading torch files without running code: every torch file tagf reads (model files, training checkpoints,
backbone weights, checkpoints trained with the authors' code) holds tensors and plain values only."""

from __future__ import annotations

import io
import pickle
from typing import Any

import torch

from tagf import storage
from tagf.errors import ModelFileError, StorageError


def load_tensors(url: str, device: str | torch.device = "cpu", what: str = "torch file") -> Any:
    """A torch file of tensors and plain values, loaded without running any code it may hold (weights_only): a file
    that needs more (a pickled class, a `__reduce__` payload) is refused, as is anything that is not a torch file,
    with a ModelFileError naming it."""
    try:
        data = storage.read_bytes(url)
    except FileNotFoundError:
        raise StorageError(f"{url}: no such {what}") from None
    if not data.startswith(b"PK"):  # torch.save writes a zip archive
        raise ModelFileError(f"{url}: not a {what} (not a torch file)")
    try:
        return torch.load(io.BytesIO(data), map_location=device, weights_only=True)
    except pickle.UnpicklingError:  # torch's message is about its own options, not the file
        raise ModelFileError(
            f"{url}: refused: the {what} holds objects other than tensors and plain values, which could run code"
        ) from None
    except (RuntimeError, EOFError, KeyError, ValueError, TypeError):
        raise ModelFileError(f"{url}: not a {what} (not a torch file of tensors)") from None
