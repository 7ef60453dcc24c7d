"""A trained model on disk: its ModelConfig and weights in one torch file, at any fsspec URL."""

from __future__ import annotations

import io
from typing import Any

import torch

from tagf import storage
from tagf.errors import ModelFileError
from tagf.models.config import ModelConfig
from tagf.models.fusion_model import FusionModel
from tagf.models.variants import build_model
from tagf.torch_files import load_tensors


def save_model(model: FusionModel, url: str, extra: dict[str, Any] | None = None) -> None:
    """Write config + weights (+ JSON-able `extra`, e.g. the training params and data version) atomically."""
    buffer = io.BytesIO()
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"config": model.cfg.model_dump(), "state_dict": state, "extra": extra or {}}, buffer)
    storage.write_bytes(url, buffer.getvalue())


def load_model(url: str, device: str | torch.device = "cpu") -> tuple[FusionModel, dict[str, Any]]:
    """The model in eval mode and the `extra` it was saved with."""
    payload = load_tensors(url, device, what="tagf model file")
    try:
        cfg = ModelConfig(**payload["config"])
    except (KeyError, TypeError, ValueError) as err:
        raise ModelFileError(f"{url}: not a tagf model file ({err})") from None
    model = build_model(cfg).to(device)
    model.load_state_dict(payload["state_dict"])
    return model.eval(), payload["extra"]
