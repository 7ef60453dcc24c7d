"""CCC of per-frame predictions, ABAW-style: over all valid frames of a split concatenated, plus per video."""

from __future__ import annotations

from typing import Any

import numpy as np

from tagf.data.feature_store import SplitArrays
from tagf.metrics import ccc

TARGETS = ("valence", "arousal")


def score(
    values: np.ndarray,
    split: SplitArrays,
    targets: list[str],
    labels: np.ndarray | None = None,
    valid: np.ndarray | None = None,
) -> dict[str, Any]:
    """values (N, len(targets)); labels (N, 2) and valid (N,) default to the split's annotations.

    Keys: ccc_<target> for each target, ccc_mean over the targets, frames, per_video {video: {ccc_<target>}}.
    """
    labels = split.labels if labels is None else labels
    valid = split.label_valid if valid is None else valid
    result: dict[str, Any] = {}
    for k, name in enumerate(targets):
        column = TARGETS.index(name)
        result[f"ccc_{name}"] = float(ccc(values[valid, k], labels[valid, column]))
    result["ccc_mean"] = float(np.mean([result[f"ccc_{t}"] for t in targets]))
    result["frames"] = int(valid.sum())
    per_video = {}
    for v, video in enumerate(split.videos):
        rows = split.video_slice(v)
        ok = valid[rows]
        per_video[video] = {
            f"ccc_{name}": float(ccc(values[rows][ok, k], labels[rows][ok, TARGETS.index(name)]))
            for k, name in enumerate(targets)
        }
    result["per_video"] = per_video
    return result
