"""Gate analysis: does a gated model's α move toward the un-fused step (step 0) where the modalities disagree?

`gate_means` gives, per video and frame category (tagf.study.frame_categories), the mean α of each recursion step
(M = S+1) of one gate; a category a video has no frame of is None, not 0. `gate_summary`: per gated variant and
condition, mean α per step and frame category with intervals over runs, and `tagf` against `mean_gate` paired per
video on α of step 0 in desynchronised minus synchronised frames.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tagf.study.frame_categories import CATEGORIES, NO_MASKS, FrameCategories
from tagf.study.statistics import mean_interval
from tagf.study.summary import CONDITION, compare, condition_of, holm_family, per_video_means

GATES = ("visual", "audio")


def gate_means(gate: np.ndarray, categories: FrameCategories) -> dict[str, dict[str, list[float] | None]]:
    """{video: {category: mean α per step (M,) or None}} of one gate's weights.

    `gate`: (N, M), or (N, targets, M) with one model per target, whose gates are averaged over the targets.
    """
    alpha = gate.mean(axis=1) if gate.ndim == 3 else gate  # (N, M)
    if len(alpha) != len(categories.category):
        raise ValueError(
            f"gate_means: {len(alpha)} gate rows for {len(categories.category)} categorised frames"
        )
    means: dict[str, dict[str, list[float] | None]] = {}
    for v, video in enumerate(categories.videos):
        rows = slice(int(categories.offsets[v]), int(categories.offsets[v + 1]))
        own, kinds = alpha[rows], categories.category[rows]
        means[video] = {
            name: own[kinds == k].mean(axis=0).tolist() if (kinds == k).any() else None
            for k, name in enumerate(CATEGORIES)
        }
    return means


def step0_contrast(means: dict[str, dict[str, list[float] | None]]) -> dict[str, float]:
    """{video: α of step 0 in desynchronised minus in synchronised frames}, for videos that have both."""
    return {
        video: row["desynchronised"][0] - row["synchronised"][0]
        for video, row in means.items()
        if row["desynchronised"] is not None and row["synchronised"] is not None
    }


def _step_intervals(runs: list[dict[str, Any]], gate: str, category: str) -> list[dict[str, Any]] | None:
    """Per step, the interval over runs of each run's mean over videos of its per-video mean α; None without
    frames of the category."""
    per_run = []
    for run in runs:
        videos = [means[category] for means in run["gates"][gate].values() if means[category] is not None]
        if not videos:
            return None
        per_run.append(np.mean(videos, axis=0))  # (M,)
    steps = np.stack(per_run)  # (runs, M)
    return [{"step": m, **mean_interval(steps[:, m]).as_dict()} for m in range(steps.shape[1])]


def gate_summary(
    trials: list[dict[str, Any]], gated: str = "tagf", baseline: str = "mean_gate"
) -> dict[str, Any]:
    """The content of gates.json: intervals of α per gated variant, step and category; `gated` vs `baseline`."""
    with_gates = [t for t in trials if t.get("gates") is not None]
    if not with_gates:
        masks = any(t.get("by_category") is not None for t in trials)
        return {
            "skipped": "gate analysis skipped: no variant of the ablation has a gate" if masks else NO_MASKS
        }
    rows, comparisons = [], []
    for condition in sorted({condition_of(t) for t in with_gates}):
        here = [t for t in with_gates if condition_of(t) == condition]
        for variant in dict.fromkeys(t["variant"] for t in here):
            runs = [t for t in here if t["variant"] == variant]
            rows.append(
                {
                    "variant": variant,
                    **dict(zip(CONDITION, condition)),
                    "n": len(runs),
                    **{gate: {c: _step_intervals(runs, gate, c) for c in CATEGORIES} for gate in GATES},
                }
            )
        pair = {v: [t for t in here if t["variant"] == v] for v in (gated, baseline)}
        if all(pair.values()):
            comparison = {"model": gated, "baseline": baseline, **dict(zip(CONDITION, condition))}
            for gate in GATES:
                own, theirs = (
                    per_video_means([step0_contrast(t["gates"][gate]) for t in pair[v]])
                    for v in (gated, baseline)
                )
                comparison[gate] = compare(own, theirs)
            comparisons.append(comparison)
    holm_family([c[gate] for c in comparisons for gate in GATES])
    return {
        "measure": "mean gate weight α per recursion step (step 0: the un-fused features), per frame category",
        "categories": list(CATEGORIES),
        "rows": rows,
        "step0_desync_minus_sync": comparisons,
    }
