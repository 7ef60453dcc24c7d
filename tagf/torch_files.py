"""Reading torch files without running code, and verifying the ones tagf wrote.

Every torch file tagf reads (model files, training checkpoints, backbone weights, checkpoints trained with the
authors' code) holds tensors and plain values only: it is loaded with weights_only, and one that needs more is
refused. A file tagf writes (`save_tensors`) gets a sha256 beside it, `<file>.sha256` in `sha256sum`'s format
(`sha256sum -c` checks it too), and is read back only if it still matches: torch does not check its zip's CRCs, so
a flipped byte in a model file would otherwise load and change the scores.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from typing import Any

import torch

from tagf import storage
from tagf.errors import ModelFileError, StorageError

SHA256_SUFFIX = ".sha256"


def save_tensors(obj: Any, url: str) -> str:
    """torch.save `obj` to `url` and its sha256 to `url`.sha256 (each atomically, the file first); the digest."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    storage.write_bytes(url, data)
    storage.write_bytes(url + SHA256_SUFFIX, f"{digest}  {storage.basename(url)}\n".encode())
    return digest


def recorded_sha256(url: str, what: str) -> str:
    """The digest in `url`.sha256; a ModelFileError naming the file when there is none."""
    sidecar = url + SHA256_SUFFIX
    try:
        line = storage.read_bytes(sidecar).decode("ascii", errors="replace").split()
    except FileNotFoundError:
        raise ModelFileError(
            f"{url}: no {storage.basename(sidecar)} beside this {what}, so it cannot be verified (tagf writes one "
            f"with every file it saves; for a file you trust: sha256sum {storage.basename(url)} > "
            f"{storage.basename(sidecar)})"
        ) from None
    if not line or len(line[0]) != 64:
        raise ModelFileError(f"{sidecar}: not a sha256 line (`<64 hex digits>  <file name>`)")
    return line[0].lower()


def load_tensors(
    url: str, device: str | torch.device = "cpu", what: str = "torch file", verify: bool = False
) -> Any:
    """A torch file of tensors and plain values, loaded without running any code it may hold (weights_only): a file
    that needs more (a pickled class, a `__reduce__` payload) is refused, as is anything that is not a torch file,
    with a ModelFileError naming it. `verify`: the file must match the sha256 recorded beside it."""
    try:
        data = storage.read_bytes(url)
    except FileNotFoundError:
        raise StorageError(f"{url}: no such {what}") from None
    if verify:
        recorded = recorded_sha256(url, what)
        actual = hashlib.sha256(data).hexdigest()
        if actual != recorded:
            raise ModelFileError(
                f"{url}: sha256 {actual[:16]}… differs from the {recorded[:16]}… recorded in "
                f"{storage.basename(url)}{SHA256_SUFFIX}: the {what} changed after it was written"
            )
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
