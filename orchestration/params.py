"""The schema of params.yaml: the science's sections (tagf.params.RunParams, with the one resolver of a run) and the
platform's: sweep, ablate, mlflow. Validated before any stage does work; errors name the key
(`model.steps: Input should be greater than or equal to 1`), on one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from tagf.limits import bounded
from tagf.models import VARIANTS
from tagf.models.config import KeyMode, ModelConfig
from tagf.models.variants import Variant
from tagf.params import RunParams, known
from tagf.params_file import read_params_file
from tagf.study.conditions import distinct_non_negative
from tagf.training.config import TrainConfig


class Distribution(BaseModel):
    """One search dimension: exactly one of these keys."""

    model_config = ConfigDict(extra="forbid")

    uniform: tuple[float, float] | None = None
    loguniform: tuple[float, float] | None = None
    randint: tuple[int, int] | None = Field(None, description="[low, high)")
    choice: list[Any] | None = None

    @field_validator("choice")
    @classmethod
    def _non_empty(cls, value):
        if value is not None and not value:
            raise ValueError("choice needs at least one value")
        return value

    def kind(self) -> tuple[str, Any]:
        set_ = [(k, v) for k, v in self.model_dump().items() if v is not None]
        if len(set_) != 1:
            raise ValueError("give exactly one of uniform, loguniform, randint, choice")
        return set_[0]


class SweepParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    num_samples: Annotated[int, bounded(100_000, "trials")] = Field(
        8, gt=0, description="trials Optuna proposes"
    )
    max_concurrent: int = Field(2, gt=0, description="trials running at once")
    cpus_per_trial: float = Field(1, gt=0)
    gpus_per_trial: float = Field(0, ge=0, description="fractions share a card, e.g. 0.25")
    seed: int = Field(0, description="Optuna TPE seed")
    grace_period: int = Field(1, gt=0, description="ASHA: epochs every trial gets")
    reduction_factor: int = Field(2, gt=1, description="ASHA: keep the top 1/factor at each rung")
    max_failures: int = Field(1, ge=0, description="retries of a failed trial (from its last checkpoint)")
    storage: str = Field("ray_results", description="Ray results: local path or URL (s3://, gs://...)")
    name: str = Field("tagf-sweep", description="experiment name under storage")
    address: str | None = Field(None, description="Ray cluster; RAY_ADDRESS or --address override it")
    space: dict[str, Distribution] = Field(
        default_factory=dict, description="'model.x' / 'train.x' -> distribution"
    )

    @field_validator("space")
    @classmethod
    def _keys(cls, value: dict[str, Distribution]) -> dict[str, Distribution]:
        for key, dist in value.items():
            section, _, field = key.partition(".")
            known = ModelConfig.model_fields if section == "model" else TrainConfig.model_fields
            if section not in ("model", "train") or (field not in known and key != "model.variant"):
                raise ValueError(f"{key}: not a model.* or train.* setting")
            dist.kind()
        return value


class TuningParams(BaseModel):
    """Each variant's own search: an Optuna study of `trials` over sweep.space on the selection split."""

    model_config = ConfigDict(extra="forbid")

    trials: Annotated[int, bounded(100_000, "trials")] = Field(gt=0, description="Optuna trials per variant")


class AblateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    variants: list[str] = Field(
        default_factory=lambda: [v for v in VARIANTS if v != "oracle_align"],
        description="every registered variant but the oracle control (it needs a synthetic corpus's ground truth)",
    )
    seeds: list[int] = Field(default_factory=lambda: [0, 1], description="training seeds; each is one run")
    corpus_seeds: list[int] | None = Field(
        None,
        min_length=1,
        description="synthetic corpus seeds, each a corpus of its own (`tagf replicas`); every training seed runs "
        "on each; null: data.seed only",
    )
    reference: str = Field("tagf", description="the variant every other one is compared with, per video")
    augment_shift_s: list[float] = Field(
        default_factory=lambda: [0.0],
        min_length=1,
        description="training audio-shift augmentation within ±seconds; each value is a level of the grid",
    )
    key_modes: list[KeyMode] | None = Field(
        None, description="co-attention key modes as a level of the grid; null: the model section's"
    )
    max_concurrent: int | None = Field(
        None, gt=0, description="grid trials at once (they are independent); null: sweep.max_concurrent"
    )
    tuning: Literal["none"] | TuningParams = Field(
        "none",
        description="none: every variant trains with the model/train sections as they are; "
        "{trials: N}: each variant's own Optuna study first (equal budget)",
    )
    primary: str = Field(
        "clean",
        description="the one endpoint the verdicts test, declared before the run: clean, lag>=X, lag<X (seconds, "
        "an edge of evaluate.lag_bins_s), a lag bin, shift_s=S, outage, no_face",
    )
    equivalence_margin: float = Field(
        0.02,
        gt=0,
        description="±CCC within which a difference counts as none (TOST); 'no difference' needs it",
    )
    controls: list[str] = Field(
        default_factory=list,
        description="variants that check the study (positive control, A/A): tested alone, outside the Holm family",
    )
    aa_check: bool = Field(
        False,
        description="also train the reference again with other training seeds (labelled <reference>_aa), a control "
        "whose verdict must not be better or worse",
    )

    def arms(self) -> list[Variant]:
        """What the grid trains: each variant, and the A/A copy of the reference when asked for."""
        return [Variant(v) for v in self.variants] + (
            [Variant(self.reference, aa_copy=True)] if self.aa_check else []
        )

    def controls_run(self) -> list[str]:
        """The labels of the controls (tested outside the Holm family)."""
        return [*self.controls, *([Variant(self.reference, aa_copy=True).label] if self.aa_check else [])]

    @model_validator(mode="after")
    def _reference_is_run(self):
        if self.reference not in self.variants:
            raise ValueError(f"reference {self.reference!r} is not among the variants {self.variants}")
        strays = [c for c in self.controls if c not in self.variants or c == self.reference]
        if strays:
            raise ValueError(
                f"controls {strays}: a control must be one of the variants, and not the reference"
            )
        return self

    @field_validator("augment_shift_s")
    @classmethod
    def _shifts(cls, value: list[float]) -> list[float]:
        return distinct_non_negative(value)

    @field_validator("corpus_seeds")
    @classmethod
    def _distinct_corpora(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and len(set(value)) < len(value):
            raise ValueError(f"{value}: a corpus seed given twice would count its runs twice")
        return value

    @field_validator("key_modes")
    @classmethod
    def _modes(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and (not value or len(set(value)) < len(value)):
            raise ValueError("give each key mode once, at least one")
        return value

    _variants = field_validator("variants")(known("variant(s)", VARIANTS))


class MlflowParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tracking_uri: str = Field("sqlite:///mlflow.db", description="MLFLOW_TRACKING_URI overrides it")
    experiment: str = "tagf"
    registered_model: str = Field("tagf", description="registry name of the best gated-fusion model")


class Params(RunParams):
    """The whole of params.yaml: the science's sections (tagf.params.RunParams: `setup()` resolves a run) and the
    platform's."""

    sweep: SweepParams = SweepParams()
    ablate: AblateParams = AblateParams()
    mlflow: MlflowParams = MlflowParams()

    @model_validator(mode="after")
    def _platform(self):
        corpus_seeds = self.ablate.corpus_seeds
        if self.data.source != "synthetic" and corpus_seeds is not None:
            raise ValueError(
                "ablate.corpus_seeds: only the synthetic corpus has seeds (Aff-Wild2 is one corpus); set it to null"
            )
        _check_primary(self)
        if corpus_seeds is not None and self.data.seed not in corpus_seeds:
            raise ValueError(
                f"ablate.corpus_seeds: {corpus_seeds} leave out data.seed ({self.data.seed}), whose corpus the sweep "
                "and the tuning studies train on; add it"
            )
        fixed = sorted(set(self.model.overrides()) & {k for v in self.ablate.variants for k in VARIANTS[v]})
        if fixed:
            raise ValueError(
                f"model.{fixed[0]}: set in the model section, but it is what the ablation's variants differ in (each "
                "variant's preset sets it; params would override them all): remove it, or choose the variant that "
                "has it"
            )
        return self

    def corpus_seeds(self) -> list[int]:
        """The corpora the ablation runs on, by seed: ablate.corpus_seeds, else the one of data.seed."""
        return self.ablate.corpus_seeds or [self.data.seed]


def _check_primary(params: Params) -> None:
    """The primary endpoint must be one the protocol scores: known by name, its lag an edge of the bins, its
    perturbation level one of the levels, and a lag endpoint needs a corpus with ground-truth lags."""
    from tagf.errors import DataError
    from tagf.study.cells import endpoint
    from tagf.study.conditions import lag_bin_labels

    settings, name = params.evaluate, params.ablate.primary
    try:
        picked = endpoint(name, lag_bin_labels(settings.lag_bins_s))
    except DataError as err:
        raise ValueError(f"ablate.primary: {err}") from None
    if picked.level is not None and picked.level != 0:
        levels = {"shift_s": [s for k in settings.shifts_s for s in (-k, k)], "audio_noise": settings.snr_db}
        levels |= {
            "visual_noise": settings.snr_db,
            "audio_dropout": settings.dropout,
            "visual_dropout": settings.dropout,
        }
        if picked.level not in levels.get(picked.perturbation, []):
            raise ValueError(f"ablate.primary: {name!r} is not a condition of evaluate: (its levels)")
    if name.startswith("lag") and params.data.source != "synthetic":
        raise ValueError(
            f"ablate.primary: {name!r} needs ground-truth audio lags, which only the synthetic corpus has"
        )
    oracles = [v for v in params.ablate.variants if VARIANTS[v].get("audio_alignment") == "oracle"]
    oracles += ["model.variant"] if VARIANTS[params.model.variant].get("audio_alignment") == "oracle" else []
    if oracles and params.data.source != "synthetic":
        raise ValueError(
            f"{', '.join(oracles)}: oracle alignment needs each frame's ground-truth lag, which only the synthetic "
            "corpus has; leave it out on Aff-Wild2"
        )


def validate(raw: dict[str, Any], where: str = "params.yaml") -> Params:
    return Params.validated(raw, where)


def load_params(path: str | Path = "params.yaml") -> Params:
    return validate(read_params_file(path), str(path))
