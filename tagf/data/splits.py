"""The splits a run uses, by role: `train` fits, `selection` picks (best epoch, early stopping, ASHA, the sweep's
winner), `report` is scored for every number we publish. Roles never share a split.

Besides the store's train/validation/test there is `dev`: a fraction of Train's videos held out by seed (whole
videos, so no frame of a dev video is trained on). On Aff-Wild2, whose Test split is unlabelled, that makes
selection on dev and reporting on the official Validation possible.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from tagf.data.feature_store import SplitArrays, read_split
from tagf.data.synth.ground_truth import with_lags
from tagf.errors import ParamsError

SELECTABLE = Literal["dev", "validation", "test"]


def dev_videos(train_videos: list[str], fraction: float, seed: int) -> list[str]:
    """The held-out videos: a seeded draw of round(fraction × n) of them (at least one), in sorted order."""
    ordered = sorted(train_videos)
    count = max(1, round(fraction * len(ordered)))
    if count >= len(ordered):
        raise ParamsError(
            f"splits.dev_fraction {fraction}: holding out {count} of {len(ordered)} training videos leaves none to "
            "train on"
        )
    drawn = np.random.default_rng(seed).permutation(len(ordered))[:count]
    return sorted(ordered[i] for i in drawn)


def load_splits(
    store: str, names: tuple[str, ...], dev_fraction: float = 0.0, dev_seed: int = 0
) -> dict[str, SplitArrays]:
    """The named splits of a feature store, with their ground-truth lags where the corpus has them; with
    dev_fraction > 0, `train` excludes the `dev` videos."""
    loaded: dict[str, SplitArrays] = {}
    if "train" in names or "dev" in names:
        train = read_split(store, "train")
        if dev_fraction > 0:
            held_out = set(dev_videos(train.videos, dev_fraction, dev_seed))
            loaded["dev"] = train.select([v for v in train.videos if v in held_out])
            train = train.select([v for v in train.videos if v not in held_out])
        elif "dev" in names:
            raise ParamsError("split 'dev' needs splits.dev_fraction > 0")
        loaded["train"] = train
    for name in names:
        if name not in loaded:
            loaded[name] = read_split(store, name)
    return {name: with_lags(store, loaded[name]) for name in names}
