"""CCC of per-frame predictions, ABAW-style: over all valid frames of a split concatenated, plus per video.

Never a silent number: a split with no labelled frame to score, or a prediction that is NaN or infinite, is an error
that names the split, rather than a CCC of 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tagf.data.feature_store import SplitArrays
from tagf.errors import DataError
from tagf.metrics import ccc
from tagf.score_names import MEAN, TARGETS, ccc_key


class NonFiniteError(DataError):
    """A model produced NaN or infinity (a prediction, or a training loss): there is no honest number to report."""


def score(
    values: np.ndarray,
    split: SplitArrays,
    targets: list[str],
    labels: np.ndarray | None = None,
    valid: np.ndarray | None = None,
    split_name: str | None = None,
) -> dict[str, Any]:
    """values (N, len(targets)); labels (N, 2) and valid (N,) default to the split's annotations.

    Keys: ccc_<target> for each target, ccc_mean over the targets, frames (scored), per_video {video: {ccc_<target>}}.
    A video with no frame to score has None (null in JSON) for each target, not 0: it has no CCC. `split_name` is
    only for the messages (the split itself does not know it).
    """
    labels = split.labels if labels is None else labels
    valid = split.label_valid if valid is None else valid
    where = f"split {split_name!r}" if split_name else "the split"
    bad = ~np.isfinite(values).all(axis=1)  # (N,)
    if bad.any():
        row = int(np.argmax(bad))
        video = split.videos[int(np.searchsorted(split.offsets, row, side="right")) - 1]
        raise NonFiniteError(
            f"{where}: {int(bad.sum())} frame(s) have NaN or infinite predictions "
            f"(first: video {video} frame {int(split.frames[row])})"
        )
    if not valid.any():
        raise DataError(
            f"{where} has no labelled frame to score, so it has no CCC "
            "(Aff-Wild2's test split is unlabelled: use `tagf predict` there)"
        )
    result: dict[str, Any] = {}
    for k, name in enumerate(targets):
        column = TARGETS.index(name)
        result[ccc_key(name)] = float(ccc(values[valid, k], labels[valid, column]))
    result[MEAN] = float(np.mean([result[ccc_key(t)] for t in targets]))
    result["frames"] = int(valid.sum())
    per_video = {}
    for v, video in enumerate(split.videos):
        rows = split.video_slice(v)
        ok = valid[rows]
        per_video[video] = {
            ccc_key(name): float(ccc(values[rows][ok, k], labels[rows][ok, TARGETS.index(name)]))
            if ok.any()
            else None
            for k, name in enumerate(targets)
        }
    result["per_video"] = per_video
    return result
