"""The schema of params.yaml: every knob of the pipeline, validated before any stage does work.

Errors name the key (`model.steps: Input should be greater than or equal to 1`), on one line.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from tagf.data.splits import SELECTABLE
from tagf.data.synth.presets import PRESET_NAMES
from tagf.features.extract import ExtractorConfig
from tagf.models import VARIANTS, ModelConfig
from tagf.models.config import KeyMode
from tagf.params_file import invalid, read_params_file
from tagf.profiles import PROFILES, Setup, resolve
from tagf.study.conditions import ProtocolSettings, distinct_non_negative
from tagf.training.config import TrainConfig


class DataParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Literal["synthetic", "affwild2"] = "synthetic"
    root: str = Field(
        "data/corpus", description="synthetic: where to write it; affwild2: your tree (path or URL)"
    )
    preset: Literal[PRESET_NAMES] = "default"  # type: ignore[valid-type]
    seed: int = 0
    max_lag_s: float | None = Field(None, ge=0)  # None: the preset's own


# Every ModelConfig field, optional: unset fields take the variant's preset or the default.
_ModelFields = create_model(
    "_ModelFields",
    __config__=ConfigDict(extra="forbid"),
    variant=(str, "tagf"),
    **{name: (Optional[field.annotation], None) for name, field in ModelConfig.model_fields.items()},  # noqa: UP045
)


def _known(what: str, names) -> Callable[[Any], Any]:
    """A field validator: the value (or each value of a list) must be one of `names`."""

    def check(value):
        unknown = [v for v in (value if isinstance(value, list) else [value]) if v not in names]
        if unknown:
            raise ValueError(f"unknown {what} {', '.join(map(repr, unknown))}; known: {', '.join(names)}")
        return value

    return check


class ModelParams(_ModelFields):
    _variant = field_validator("variant")(_known("variant", VARIANTS))

    def overrides(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump(exclude={"variant"}).items() if v is not None}


# Every TrainConfig field, optional: unset fields take the profile's value or the default.
TrainParams = create_model(
    "TrainParams",
    __config__=ConfigDict(extra="forbid"),
    **{name: (Optional[field.annotation], None) for name, field in TrainConfig.model_fields.items()},  # noqa: UP045
)


class SplitParams(BaseModel):
    """Which split picks models and which one every reported number comes from; never the same one."""

    model_config = ConfigDict(extra="forbid")

    selection: SELECTABLE = Field(
        "validation", description="best epoch, early stopping, ASHA and the sweep's winner are chosen on it"
    )
    report: SELECTABLE = Field("test", description="every reported number is scored on it")
    dev_fraction: float = Field(
        0.0, ge=0, lt=1, description="> 0: hold out this fraction of Train's videos (by seed) as split 'dev'"
    )
    dev_seed: int = Field(0, description="seed of the dev hold-out")

    @model_validator(mode="after")
    def _distinct(self):
        if self.selection == self.report:
            raise ValueError(
                f"selection and report are both {self.report!r}: a split that picks the model cannot report it"
            )
        if "dev" in (self.selection, self.report) and self.dev_fraction == 0:
            raise ValueError("the 'dev' split needs dev_fraction > 0")
        return self


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

    num_samples: int = Field(8, gt=0, description="trials Optuna proposes")
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

    trials: int = Field(gt=0, description="Optuna trials per variant")


AA_SUFFIX = "_aa"  # the reference trained again from other seeds: the A/A check


def preset_of(variant: str) -> str:
    """The registered variant a grid's variant trains: itself, or for the A/A copy `<reference>_aa`, the reference."""
    return variant.removesuffix(AA_SUFFIX) if variant.endswith(AA_SUFFIX) else variant


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
        description="also train the reference again with other training seeds (variant <reference>_aa), a control "
        "whose verdict must not be better or worse",
    )

    def aa_variant(self) -> str:
        return f"{self.reference}{AA_SUFFIX}"

    def variants_run(self) -> list[str]:
        """The variants of the grid: `variants`, and the A/A copy of the reference when asked for."""
        return [*self.variants, *([self.aa_variant()] if self.aa_check else [])]

    def controls_run(self) -> list[str]:
        return [*self.controls, *([self.aa_variant()] if self.aa_check else [])]

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

    _variants = field_validator("variants")(_known("variant(s)", VARIANTS))


class MlflowParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tracking_uri: str = Field("sqlite:///mlflow.db", description="MLFLOW_TRACKING_URI overrides it")
    experiment: str = "tagf"
    registered_model: str = Field("tagf", description="registry name of the best gated-fusion model")


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")

    profile: str = Field("small", description="a preset of model and train settings (tagf.profiles)")
    reproducible: bool = Field(
        False,
        description="pin the CPU kernels (AVX2 on x86-64) and thread counts so results are the same on any such "
        "machine (tagf.runtime); off: the fastest kernels and every core",
    )
    data: DataParams = DataParams()
    splits: SplitParams = SplitParams()
    features: ExtractorConfig = ExtractorConfig()
    model: ModelParams = ModelParams()
    train: TrainParams = TrainParams()
    sweep: SweepParams = SweepParams()
    ablate: AblateParams = AblateParams()
    evaluate: ProtocolSettings = ProtocolSettings()
    mlflow: MlflowParams = MlflowParams()
    _where: str = PrivateAttr("params.yaml")  # the file, named in errors

    _profile = field_validator("profile")(_known("profile", PROFILES))

    @model_validator(mode="after")
    def _labelled_report(self):
        if self.data.source == "affwild2" and "test" in (self.splits.selection, self.splits.report):
            raise ValueError(
                "splits: Aff-Wild2's Test split is unlabelled (it is for `tagf predict`); use "
                "selection: dev (with dev_fraction > 0) and report: validation"
            )
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
        return self

    def corpus_seeds(self) -> list[int]:
        """The corpora the ablation runs on, by seed: ablate.corpus_seeds, else the one of data.seed."""
        return self.ablate.corpus_seeds or [self.data.seed]

    def train_overrides(self) -> dict[str, Any]:
        """params.yaml's train section: the settings given there (null: the profile's)."""
        return {k: v for k, v in self.train.model_dump().items() if v is not None}

    def setup(
        self,
        variant: str | None = None,
        model: dict[str, Any] | None = None,
        train: dict[str, Any] | None = None,
    ) -> Setup:
        """The run's configs and label: profile < params.yaml's model/train sections < `model`/`train` (a sweep
        trial's values); `variant` (default: model.variant) picks the preset."""
        return resolve(
            self.profile,
            variant or self.model.variant,
            {**self.model.overrides(), **(model or {})},
            {**self.train_overrides(), **(train or {})},
            where=self._where,
        )


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
    try:
        params = Params(**(raw or {}))
    except ValidationError as err:
        raise invalid(err, where) from None
    params._where = where
    params.setup()  # the profile and the variant's preset combined with the overrides: a bad key fails here
    return params


def load_params(path: str | Path = "params.yaml") -> Params:
    return validate(read_params_file(path), str(path))
