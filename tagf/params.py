"""The science's settings, and the one route from a params file (and flags, or a trial's values) to a run.

One precedence, for every entry point (`tagf train`, `features`, `robustness`, `predict`, the sweep and ablation
drivers, every Ray trial), written once in `RunParams.setup`:

    profile < the variant's preset < the params file's model: and train: < flags (--set, --profile, --selection,
    a sweep or ablation trial's values)

`RunParams` holds the sections the science reads (profile, reproducible, data, splits, features, model, train,
evaluate); orchestration.params.Params extends it with the platform's (sweep, ablate, mlflow). A params file may be
written as the changes to another (`extends:`, tagf.params_file). This module imports no torch: the command line
reads `reproducible` before torch may be imported (tagf.runtime), strictly (`read_reproducible`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from tagf.data.splits import SELECTABLE
from tagf.data.synth.presets import PRESET_NAMES
from tagf.errors import ParamsError
from tagf.features.config import ExtractorConfig
from tagf.models.config import ModelConfig
from tagf.models.variants import VARIANTS, Variant
from tagf.params_file import invalid, read_params_file
from tagf.profiles import PROFILES, resolve
from tagf.study.conditions import ProtocolSettings
from tagf.training.config import TrainConfig


def known(what: str, names) -> Any:
    """A field validator: the value (or each value of a list) must be one of `names`."""

    def check(value):
        unknown = [v for v in (value if isinstance(value, list) else [value]) if v not in names]
        if unknown:
            raise ValueError(f"unknown {what} {', '.join(map(repr, unknown))}; known: {', '.join(names)}")
        return value

    return check


class DataParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Literal["synthetic", "affwild2"] = "synthetic"
    root: str = Field(
        "data/corpus", description="synthetic: where to write it; affwild2: your tree (path or URL)"
    )
    preset: Literal[PRESET_NAMES] = "default"  # type: ignore[valid-type]
    seed: int = 0
    max_lag_s: float | None = Field(None, ge=0)  # None: the preset's own


# Every ModelConfig field, optional: unset fields take the variant's preset, the profile's value or the default.
_ModelFields = create_model(
    "_ModelFields",
    __config__=ConfigDict(extra="forbid"),
    variant=(str, "tagf"),
    **{name: (Optional[field.annotation], None) for name, field in ModelConfig.model_fields.items()},  # noqa: UP045
)


class ModelParams(_ModelFields):
    _variant = field_validator("variant")(known("variant", VARIANTS))

    def overrides(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump(exclude={"variant"}).items() if v is not None}


# Every TrainConfig field, optional: unset fields take the profile's value or the default.
_TrainFields = create_model(
    "_TrainFields",
    __config__=ConfigDict(extra="forbid"),
    **{name: (Optional[field.annotation], None) for name, field in TrainConfig.model_fields.items()},  # noqa: UP045
)


class TrainParams(_TrainFields):
    def overrides(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class SplitParams(BaseModel):
    """Which split picks models and which one every reported number comes from; never the same one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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


@dataclass(frozen=True)
class Setup:
    """What a run trains, on which splits, and the label that says where its settings came from."""

    variant: Variant
    model: ModelConfig
    train: TrainConfig
    splits: SplitParams
    label: str


class RunParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    profile: str | None = Field(
        "small",
        description="a preset of model and train settings (tagf.profiles); null: the library's defaults",
    )
    reproducible: StrictBool = Field(
        False,
        description="pin the CPU kernels (AVX2 on x86-64) and thread counts (tagf.runtime); off: the fastest "
        "kernels and every core",
    )
    data: DataParams = DataParams()
    splits: SplitParams = SplitParams()
    features: ExtractorConfig = ExtractorConfig()
    model: ModelParams = ModelParams()
    train: TrainParams = TrainParams()
    evaluate: ProtocolSettings = ProtocolSettings()
    _where: str = PrivateAttr("params.yaml")  # the file, named in errors

    @field_validator("profile")
    @classmethod
    def _profile(cls, value: str | None) -> str | None:
        return value if value is None else known("profile", PROFILES)(value)

    @model_validator(mode="after")
    def _labelled_report(self):
        if self.data.source == "affwild2" and "test" in (self.splits.selection, self.splits.report):
            raise ValueError(
                "splits: Aff-Wild2's Test split is unlabelled (it is for `tagf predict`); use "
                "selection: dev (with dev_fraction > 0) and report: validation"
            )
        return self

    def setup(
        self,
        variant: Variant | str | None = None,
        model: Mapping[str, Any] | None = None,
        train: Mapping[str, Any] | None = None,
        profile: str | None = None,
        selection: str | None = None,
    ) -> Setup:
        """The run: profile < `variant`'s preset (default: model.variant) < this file's model:/train: < `model`,
        `train`, `profile`, `selection` (flags, a trial's values). The A/A copy of a variant trains from other
        seeds. A setting that does not validate is a ParamsError naming the file and key."""
        variant = variant if isinstance(variant, Variant) else Variant(variant or self.model.variant)
        train_fields = {**self.train.overrides(), **(train or {})}
        if variant.aa_copy:
            train_fields["seed"] = variant.training_seed(int(train_fields.get("seed", 0)))
        resolved = resolve(
            profile or self.profile,
            variant.name,
            {**self.model.overrides(), **(model or {})},
            train_fields,
            where=self._where,
        )
        splits = self.splits
        if selection is not None:
            try:
                splits = SplitParams(**{**splits.model_dump(), "selection": selection})
            except ValidationError as err:
                raise invalid(err, f"{self._where} with --selection {selection}", "splits.") from None
        return Setup(variant, resolved.model, resolved.train, splits, resolved.label)

    @classmethod
    def validated(cls, raw: Mapping[str, Any], where: str):
        """These params from a file's mapping (or a ParamsError naming `where` and the key); the setup they
        describe is resolved once, so that a bad model or train setting fails here."""
        try:
            params = cls(**(raw or {}))
        except ValidationError as err:
            raise invalid(err, where) from None
        params._where = where
        params.setup()
        return params

    @classmethod
    def read(cls, path: str | Path):
        """The science's sections of a params file; another tool's sections (orchestration's sweep, ablate,
        mlflow, declared as entry points `tagf.params_sections`) are left to it; any other is an error."""
        raw = read_params_file(path)
        theirs = {entry.name for entry in entry_points(group="tagf.params_sections")}
        unknown = sorted(set(raw) - set(cls.model_fields) - theirs)
        if unknown:
            raise ParamsError(
                f"{path}: {unknown[0]}: not a section of params (known: {', '.join([*cls.model_fields, *sorted(theirs)])})"
            )
        return cls.validated({k: v for k, v in raw.items() if k in cls.model_fields}, str(path))
