"""A trained model on disk: its ModelConfig and weights in one torch file, at any fsspec URL, with its sha256 beside
it (`model.pt.sha256`, tagf.torch_files): a model file that no longer matches is refused, never scored."""

from __future__ import annotations

from typing import Any

import torch

from tagf.errors import ModelFileError
from tagf.models.config import ModelConfig
from tagf.models.fusion_model import FusionModel, build_model
from tagf.torch_files import load_tensors, save_tensors


def save_model(model: FusionModel, url: str, extra: dict[str, Any] | None = None) -> str:
    """Write config + weights (+ JSON-able `extra`, e.g. the training params and data version) atomically, and
    the file's sha256 beside it; returns the sha256."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return save_tensors({"config": model.cfg.model_dump(), "state_dict": state, "extra": extra or {}}, url)


def load_model(url: str, device: str | torch.device = "cpu") -> tuple[FusionModel, dict[str, Any]]:
    """The model in eval mode and the `extra` it was saved with."""
    payload = load_tensors(url, device, what="tagf model file", verify=True)
    try:
        cfg = ModelConfig(**payload["config"])
    except (KeyError, TypeError, ValueError) as err:
        raise ModelFileError(f"{url}: not a tagf model file ({err})") from None
    model = build_model(cfg).to(device)
    model.load_state_dict(payload["state_dict"])
    return model.eval(), payload["extra"]
