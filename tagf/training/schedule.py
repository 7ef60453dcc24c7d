"""The learning-rate schedule: torch.optim's LinearLR warm-up per batch (from lr × warmup_start_factor), then
ReduceLROnPlateau on the selection split's CCC once per epoch, as the authors' GradualWarmupScheduler hands over to
ReduceLROnPlateau(mode="max")."""

from __future__ import annotations

from typing import Any

import torch

from tagf.training.config import TrainConfig


class LearningRateSchedule:
    def __init__(self, optimizer: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int):
        self.warmup_steps = int(round(cfg.warmup_epochs * steps_per_epoch))
        self.steps = 0
        # LinearLR sets lr × start_factor as it is made, so without warm-up there must be none.
        self.warmup = (
            torch.optim.lr_scheduler.LinearLR(
                optimizer, start_factor=cfg.warmup_start_factor, total_iters=self.warmup_steps
            )
            if self.warmup_steps
            else None
        )
        self.plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=cfg.plateau_factor, patience=cfg.plateau_patience
        )

    def after_batch(self) -> None:
        self.steps += 1
        if self.warmup is not None and self.steps <= self.warmup_steps:
            self.warmup.step()

    def after_epoch(self, selection_ccc: float) -> None:
        if self.steps > self.warmup_steps:
            self.plateau.step(selection_ccc)

    def state_dict(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "warmup": None if self.warmup is None else self.warmup.state_dict(),
            "plateau": self.plateau.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps = state["steps"]
        if self.warmup is not None:
            self.warmup.load_state_dict(state["warmup"])
        self.plateau.load_state_dict(state["plateau"])
