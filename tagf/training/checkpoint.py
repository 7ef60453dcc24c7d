"""A training run's checkpoint: everything needed to continue it exactly, written atomically after every epoch.

    <out_dir>/checkpoint/state.pt   model, optimiser, lr schedule, best weights, history, epoch counters,
                                    and the RNG states (numpy's batch order, torch's CPU and CUDA generators)

It holds tensors and plain values only, and is read without running code (tagf.torch_files): a planted
checkpoint whose pickle carries a payload is refused, never run; it is resumed from only if it matches the sha256
written beside it (state.pt.sha256).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from tagf import storage
from tagf.errors import StorageError
from tagf.models import FusionModel, ModelConfig, build_model
from tagf.torch_files import load_tensors, save_tensors
from tagf.training.best_weights import BestWeights

CHECKPOINT_DIR = "checkpoint"
CHECKPOINT_FILE = "state.pt"


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    return {
        "numpy": rng.bit_generator.state,
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng(rng: np.random.Generator, state: dict[str, Any]) -> None:
    rng.bit_generator.state = state["numpy"]
    torch.set_rng_state(state["torch"])
    if state["cuda"]:
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(directory: str, state: dict[str, Any]) -> None:
    save_tensors(state, storage.join(directory, CHECKPOINT_FILE))


def load_checkpoint(directory: str) -> dict[str, Any] | None:
    url = storage.join(directory, CHECKPOINT_FILE)
    if not storage.exists(url):
        return None
    return load_tensors(url, what="training checkpoint", verify=True)


def best_model_from_checkpoint(directory: str) -> tuple[FusionModel, dict[str, Any]]:
    """The best weights so far of the run whose checkpoint directory this is, with its configs and best metrics."""
    saved = load_checkpoint(directory)
    if saved is None:
        raise StorageError(f"{directory}: no training checkpoint ({CHECKPOINT_FILE})")
    model = build_model(ModelConfig(**saved["model_config"]))
    best = BestWeights(model, saved["targets"])
    best.load_state_dict(saved["best_weights"])
    best.restore(model)
    extra = {
        "train": saved["train_config"],
        "best": saved["best"],
        "history": saved["history"],
        "setup": saved["setup"],
    }
    return model.eval(), extra
