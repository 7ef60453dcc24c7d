"""Loading a user-supplied backbone state dict with a clear error for a file that does not fit."""

from __future__ import annotations

from torch import nn

from tagf.errors import ModelFileError
from tagf.torch_files import load_tensors


def load_weights(model: nn.Module, url: str, ignore_prefixes: tuple[str, ...] = ()) -> None:
    payload = load_tensors(url, what="backbone weights file")
    state = payload.get("state_dict", payload) if isinstance(payload, dict) else payload
    # Checkpoints saved from DataParallel prefix every key with "module.".
    state = {k.removeprefix("module."): v for k, v in state.items() if not k.startswith(ignore_prefixes)}
    ours = model.state_dict()
    missing = sorted(set(ours) - set(state))
    unexpected = sorted(set(state) - set(ours))
    wrong = [k for k in set(ours) & set(state) if tuple(ours[k].shape) != tuple(state[k].shape)]
    if missing or unexpected or wrong:
        raise ModelFileError(
            f"{url}: not {type(model).__name__} weights: missing {missing[:5] or 'none'}, "
            f"unexpected {unexpected[:5] or 'none'}, wrong shape {sorted(wrong)[:5] or 'none'}"
        )
    model.load_state_dict(state)
