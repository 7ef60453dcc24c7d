"""The best weights so far, judged on the selection split: of the whole model, or, when each target has its own model
(`separate_targets`, the authors' set-up), of each target's model by its own target's CCC.

Each target's model computes its output alone, so the combined model's selection score for a target is exactly
what that target's model scored at its best epoch: the combined best needs no re-scoring.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from tagf.models import FusionModel
from tagf.score_names import SELECTION_MEAN, ccc_key, val_key


class BestWeights:
    def __init__(self, model: FusionModel, targets: list[str]):
        self.targets = list(targets)
        if model.per_target is None:
            self.parts: list[tuple[nn.Module, str | None]] = [(model, None)]
        else:
            self.parts = list(zip(model.per_target, targets))
        self.scores: list[float | None] = [None] * len(self.parts)
        self.epochs: list[int | None] = [None] * len(self.parts)
        self.states = [_copy(part.state_dict()) for part, _ in self.parts]
        self.metrics: dict[str, Any] | None = None  # joint model: the metrics of its best epoch

    def update(self, metrics: dict[str, Any]) -> bool:
        """Keep every part that scored better this epoch (metrics: val_ccc_<target>, val_ccc_mean); any gain?"""
        improved = False
        for i, (part, target) in enumerate(self.parts):
            value = metrics[SELECTION_MEAN if target is None else val_key(ccc_key(target))]
            if self.scores[i] is None or value > self.scores[i]:
                self.scores[i], self.epochs[i], improved = value, metrics["epoch"], True
                self.states[i] = _copy(part.state_dict())
                if target is None:
                    self.metrics = dict(metrics)
        return improved

    def best(self) -> dict[str, Any]:
        """The selection metrics of the best weights: the best epoch's, or per target its own best."""
        if self.metrics is not None:
            return self.metrics
        best: dict[str, Any] = {"epoch": max(self.epochs)}
        for (_, target), score, epoch in zip(self.parts, self.scores, self.epochs):
            best[val_key(ccc_key(target))], best[f"epoch_{target}"] = score, epoch
        best[SELECTION_MEAN] = sum(self.scores) / len(self.scores)
        return best

    def restore(self, model: FusionModel) -> None:
        """Load the best weights into `model` (the one this was made for, or a model built from its config)."""
        parts = [model] if model.per_target is None else list(model.per_target)
        for part, state in zip(parts, self.states):
            part.load_state_dict(state)

    def state_dict(self) -> dict[str, Any]:
        return {"scores": self.scores, "epochs": self.epochs, "states": self.states, "metrics": self.metrics}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scores, self.epochs = list(state["scores"]), list(state["epochs"])
        self.states, self.metrics = list(state["states"]), state["metrics"]


def _copy(state: dict) -> dict:
    return {k: v.detach().clone() for k, v in state.items()}
