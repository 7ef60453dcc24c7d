"""Optimisation and data settings of one training run (the model has its own ModelConfig)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from tagf.limits import bounded
from tagf.score_names import TARGETS

Precision = Literal["auto", "fp32", "bf16"]  # tagf.training.precision
Target = Literal["both", "valence", "arousal"]


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    optimizer: Literal["adam", "adamw"] = Field("adam", description="the authors use Adam")
    lr: float = Field(1e-4, gt=0, description="peak learning rate (authors: 1e-4)")
    weight_decay: float = Field(1e-3, ge=0, description="authors: 1e-3")
    batch_size: Annotated[int, bounded(65_536, "windows")] = Field(12, gt=0, description="windows per batch")
    window: Annotated[int, bounded(9_000, "frames")] = Field(
        300, gt=0, description="window length L in frames (faithful TAGF: must equal the model's)"
    )
    hop: Annotated[int, bounded(9_000, "frames")] = Field(
        200, gt=0, description="window hop for training and evaluation"
    )
    epochs: Annotated[int, bounded(10_000, "epochs")] = Field(
        30, gt=0, description="upper bound; early stopping usually ends sooner"
    )
    warmup_epochs: float = Field(1.0, ge=0, description="linear learning-rate warm-up, in epochs (per batch)")
    warmup_start_factor: float = Field(0.1, gt=0, le=1, description="the warm-up starts at lr × this")
    plateau_patience: int = Field(2, ge=0, description="epochs without validation gain before lr ← lr·factor")
    plateau_factor: float = Field(0.5, gt=0, lt=1)
    early_stop_patience: int = Field(6, gt=0, description="epochs without validation gain before stopping")
    reload_best_each_epoch: bool = Field(
        False,
        description="continue each epoch from the best weights so far (the authors' load_best_at_each_epoch)",
    )
    max_audio_shift: Annotated[int, bounded(9_000, "frames")] = Field(
        0, ge=0, description="augmentation: random audio shift in ±frames per window"
    )
    target: Target = Field("both", description="both in one model, or one model per target as the authors do")
    seed: int = Field(0)
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: the GPU when there is one")
    precision: Precision = Field(
        "auto",
        description="fp32; bf16: bf16 autocast (on a CPU only with native bf16, else an error); auto: bf16 on a "
        "GPU, fp32 on a CPU",
    )

    @property
    def targets(self) -> list[str]:
        """What the model predicts, in output order."""
        return list(TARGETS) if self.target == "both" else [self.target]

    @property
    def target_columns(self) -> list[int]:
        """The label columns of `targets`."""
        return [TARGETS.index(target) for target in self.targets]
