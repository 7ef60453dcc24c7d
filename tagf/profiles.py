"""Profiles: named set-ups of the model and training settings, so every number can say what produced it.

- `paper`: the TAGF authors' training set-up (github leeyubin10/9th-ABAW `main.py`, `models/`, and the trainer and
  scheduler of sucv/ABAW3 that it builds on): faithful key, window 300 / hop 200, TCN widths [512, 512, 256, 256] and
  [128] × 4, head 256, τ = 0.1, attention dropout 0.6, one model per target, their initialisation, Adam lr 1e-4,
  weight decay 1e-3, batch 12, 5 warm-up epochs from 20 % of the lr, then ReduceLROnPlateau (max CCC, patience 5,
  factor 0.1), best weights reloaded after every epoch, at most 100 epochs, early stop after 50 without gain.
  Seeds are not part of a profile (their default, 3407, is one seed among others).

  Known deviations from their code:
  - Front ends: they fine-tune the IR-50 output layer and VGGish's last Linear from epoch 0 and release deeper IR-50
    blocks whenever the lr falls below 1e-8 (base/parameter_control.py), with random 40-px crops and horizontal
    flips of 48-px faces; we train on features extracted once by the frozen front ends from centre crops.
  - Warm-up: their base/trainer.py calls `scheduler.warmup_lr(lr, batch, batches × 5)` every batch, but the class
    implementing it is not in their public code; we warm up linearly per batch from 20 % of the lr over 5 epochs
    (the epoch schedule of sucv/ABAW3's GradualWarmupScheduler), then torch's ReduceLROnPlateau, whose 1e-4
    relative threshold and start after the warm-up differ in detail from theirs; their early-stopping counter only
    starts after the warm-up epochs.
  - One model per target: they run each target separately (same seed, so both start from the same weights, as
    ours do); here the two models train side by side, sharing the schedule and early stopping (on the mean CCC of
    the two), while each keeps its own best epoch.
  - Data: they shuffle the windows once, we every epoch; their loss counts padded frames and has no label mask.
  - Unverified: their face resizing to 48 px, their features for frames without a face, and their log-mel
    framing are not public; ours are documented in tagf/features.
- `small`: the same model family shrunk to train in minutes on a laptop CPU (length-agnostic key, window 150, narrow
  TCNs, one joint valence/arousal head, lr 1e-3, 6 epochs). It is not the paper's model.

Settings given explicitly (params.yaml's model/train sections, `--set`, a sweep trial) override the profile's and
the variant's: `resolve()` combines them into the configs of a run, with the run's *set-up label*: the profile and
every setting that differs from it (`paper, modified: train.epochs=2`). It is called by tagf.params.RunParams.setup
alone, which is where the precedence of a run's settings is written. A profile is a name; the label says what a run
really trained with.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import yaml
from pydantic import ValidationError

from tagf.errors import ParamsError, UsageError
from tagf.models.config import ModelConfig
from tagf.models.variants import model_config
from tagf.params_file import invalid
from tagf.training.config import TrainConfig

NO_PROFILE = "none (library defaults)"

PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    "paper": {
        "model": dict(
            key_mode="faithful",
            window=300,
            visual_channels=(512, 512, 256, 256),
            audio_channels=(128, 128, 128, 128),
            head_hidden=256,
            temperature=0.1,
            attention_dropout=0.6,
            separate_targets=True,
            init="authors",
        ),
        "train": dict(
            optimizer="adam",
            lr=1e-4,
            weight_decay=1e-3,
            batch_size=12,
            window=300,
            hop=200,
            epochs=100,
            warmup_epochs=5.0,
            warmup_start_factor=0.2,
            plateau_patience=5,
            plateau_factor=0.1,
            early_stop_patience=50,
            reload_best_each_epoch=True,
            target="both",
            precision="fp32",  # they train in fp32; bf16 moves the near-uniform gate weights by half their spread
        ),
    },
    "small": {
        "model": dict(
            key_mode="length_agnostic",
            window=150,
            visual_channels=(128, 128, 64),
            audio_channels=(64, 64, 64),
            head_hidden=64,
        ),
        "train": dict(
            lr=1e-3,
            window=150,
            hop=75,
            epochs=6,
            warmup_epochs=0.5,
            plateau_patience=1,
            early_stop_patience=3,
            target="both",
        ),
    },
}


def profile_settings(name: str, section: str) -> dict[str, Any]:
    """The profile's settings of one section ("model" or "train")."""
    if name not in PROFILES:
        raise ParamsError(f"unknown profile {name!r}; known: {', '.join(PROFILES)}")
    return dict(PROFILES[name][section])


class Resolved(NamedTuple):
    """A run's model and training configs, and the label that says where they came from."""

    model: ModelConfig
    train: TrainConfig
    label: str


def resolve(
    profile: str | None,
    variant: str = "tagf",
    model: Mapping[str, Any] | None = None,
    train: Mapping[str, Any] | None = None,
    where: str = "settings",
) -> Resolved:
    """profile < the variant's preset < `model`/`train` (params.yaml's sections, `--set`, a trial's values).

    Invalid settings are a ParamsError naming `where` and the key (`params.yaml: model.steps: ...`).
    """
    model_fields = {**(profile_settings(profile, "model") if profile else {}), **(model or {})}
    train_fields = {**(profile_settings(profile, "train") if profile else {}), **(train or {})}
    try:
        model_cfg = model_config(variant, **model_fields)
    except ValidationError as err:
        raise invalid(err, where, "model.") from None
    try:
        train_cfg = TrainConfig(**train_fields)
    except ValidationError as err:
        raise invalid(err, where, "train.") from None
    return Resolved(model_cfg, train_cfg, label(profile, model_cfg, train_cfg))


def label(profile: str | None, model_cfg: ModelConfig, train_cfg: TrainConfig) -> str:
    """`paper`, or `paper, modified: train.epochs=2, ...` when settings differ from the profile's."""
    if profile is None:
        return NO_PROFILE
    changed = []
    for section, cfg in (("model", model_cfg), ("train", train_cfg)):
        for field, value in profile_settings(profile, section).items():
            actual = getattr(cfg, field)
            if (tuple(actual) if isinstance(actual, list | tuple) else actual) != (
                tuple(value) if isinstance(value, list | tuple) else value
            ):
                changed.append(f"{section}.{field}={actual}")
    return profile + (f", modified: {', '.join(changed)}" if changed else "")


def parse_settings(pairs: list[str]) -> dict[str, dict[str, Any]]:
    """`--set model.steps=3 --set train.lr=1e-3` → {"model": {"steps": 3}, "train": {"lr": 0.001}} (YAML values)."""
    sections: dict[str, dict[str, Any]] = {"model": {}, "train": {}}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        section, dot, field = key.partition(".")
        if not sep or not dot or section not in sections:
            raise UsageError(f"--set {pair}: expected model.<field>=<value> or train.<field>=<value>")
        sections[section][field] = yaml.safe_load(value)
    return sections
